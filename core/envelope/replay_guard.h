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
// Expired ids are forgotten on every Check and on Prune(): a process that
// has gone idle calls Prune() from its idle timer, so what a burst of load
// left behind does not stay until the next message. Each id is stored once
// (about 120 bytes per remembered id on 64-bit Linux with short ids).
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

  // The same memory in two steps, for a caller that decides between the
  // look-up and the record (the agent remembers a request as answered only
  // once it has answered it). Neither checks the window; Remember evicts the
  // oldest entry when full and raises the floor, which the caller must then
  // apply to what it admits (floor_ms()).
  bool Seen(std::string_view sender, std::string_view message_id) const;
  void Remember(std::string_view sender, std::string_view message_id, int64_t at_ms);
  // Forgets one id that was accepted but whose message had no effect after
  // all (the gateway could not save it and told the sender "send it again"),
  // so the same bytes are taken when they come again.
  void Forget(std::string_view sender, std::string_view message_id);

  // Forgets every id whose time has left the window (now - window_ms).
  void Prune();

  size_t size() const;
  int64_t floor_ms() const;

 private:
  static std::string Key(std::string_view sender, std::string_view message_id);
  void ExpireLocked(int64_t now_ms);
  void InsertLocked(std::string key, int64_t at_ms);

  const Clock& clock_;
  const Options options_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, int64_t> seen_;         // key -> time
  std::multimap<int64_t, const std::string*> by_time_;    // time -> key (owned by its seen_ node)
  int64_t floor_ms_ = INT64_MIN;
};

}  // namespace kp

#endif  // KETENPOORT_CORE_ENVELOPE_REPLAY_GUARD_H_
