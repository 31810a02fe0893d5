// Clock: the one source of "now" for code that checks timestamps, expiry and
// retention, so that tests can move time by hand (ManualClock).
//
// Times are milliseconds since the Unix epoch (UTC) in an int64_t: the unit
// used on the wire (docs/protocol.md). SystemClock is thread-safe;
// ManualClock is thread-safe too (an atomic).
#ifndef KETENPOORT_CORE_BASE_CLOCK_H_
#define KETENPOORT_CORE_BASE_CLOCK_H_

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/base/status.h"

namespace kp {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t NowMillis() const = 0;
};

class SystemClock final : public Clock {
 public:
  int64_t NowMillis() const override;
  // A process-wide instance; never destroyed.
  static const SystemClock& Get();
};

class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t start_millis) : now_(start_millis) {}
  int64_t NowMillis() const override { return now_.load(); }
  void Advance(int64_t millis) { now_ += millis; }
  void Set(int64_t millis) { now_ = millis; }

 private:
  std::atomic<int64_t> now_;
};

// "2026-11-22T14:32:54.123Z" (UTC, RFC 3339 with milliseconds).
std::string FormatRfc3339Millis(int64_t unix_millis);
// Parses exactly the form FormatRfc3339Millis writes, or a date "2026-11-22"
// (midnight UTC). InvalidArgument on anything else.
Result<int64_t> ParseRfc3339Millis(std::string_view text);

}  // namespace kp

#endif  // KETENPOORT_CORE_BASE_CLOCK_H_
