// ReplayGuard: refuses a message seen before, or one whose timestamp is
// outside ±window of now (docs/protocol.md §4).
//
// Memory is bounded: at most `max_entries` ids are remembered. An id is
// forgotten once its timestamp has left the window (it would be refused as
// stale anyway). When the table is full, the oldest entry is evicted and the
// "floor" rises to its timestamp: from then on every message with a
// timestamp at or below the floor is refused. So a flood can make the guard
// stricter, never let a replay through.
//
// Thread-safe.
#ifndef KETENPOORT_CORE_ENVELOPE_REPLAY_GUARD_H_
#define KETENPOORT_CORE_ENVELOPE_REPLAY_GUARD_H_

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/base/clock.h"
#include "core/base/status.h"

namespace kp {

class ReplayGuard {
 public:
  struct Options {
    int64_t window_ms = 5 * 60 * 1000;  // ±5 minutes
    size_t max_entries = 1'000'000;
  };

  // `clock` must outlive the guard.
  ReplayGuard(const Clock& clock, Options options);

  // Records (sender, message_id) and returns OK the first time; returns
  // Unauthenticated for a replay or a timestamp outside the window. Call
  // only after the signature has verified, so forged messages cannot fill
  // the table.
  Status Check(std::string_view sender, std::string_view message_id, int64_t sent_at_ms);

  size_t size() const;
  int64_t floor_ms() const;

 private:
  void ExpireLocked(int64_t now_ms);

  const Clock& clock_;
  const Options options_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, int64_t> seen_;    // key -> sent_at_ms
  std::multimap<int64_t, std::string> by_time_;      // sent_at_ms -> key
  int64_t floor_ms_ = INT64_MIN;
};

}  // namespace kp

#endif  // KETENPOORT_CORE_ENVELOPE_REPLAY_GUARD_H_
