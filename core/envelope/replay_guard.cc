#include "core/envelope/replay_guard.h"

#include <algorithm>

namespace kp {

ReplayGuard::ReplayGuard(const Clock& clock, Options options) : clock_(clock), options_(options) {
  KP_CHECK(options_.window_ms > 0 && options_.max_entries > 0);
}

std::string ReplayGuard::Key(std::string_view sender, std::string_view message_id) {
  std::string key;
  key.reserve(sender.size() + 1 + message_id.size());
  key.append(sender);
  key.push_back('\0');
  key.append(message_id);
  return key;
}

void ReplayGuard::ExpireLocked(int64_t now_ms) {
  const int64_t oldest_acceptable = now_ms - options_.window_ms;
  while (!by_time_.empty() && by_time_.begin()->first < oldest_acceptable) {
    auto oldest = by_time_.begin();
    seen_.erase(seen_.find(*oldest->second));
    by_time_.erase(oldest);
  }
}

void ReplayGuard::InsertLocked(std::string key, int64_t at_ms) {
  if (seen_.size() >= options_.max_entries) {
    auto oldest = by_time_.begin();
    floor_ms_ = std::max(floor_ms_, oldest->first);
    seen_.erase(seen_.find(*oldest->second));
    by_time_.erase(oldest);
  }
  // Node-based map: the key's address stays valid until its node is erased.
  auto [it, inserted] = seen_.emplace(std::move(key), at_ms);
  KP_CHECK(inserted);
  by_time_.emplace(at_ms, &it->first);
}

Status ReplayGuard::Check(std::string_view sender, std::string_view message_id, int64_t sent_at_ms) {
  const int64_t now = clock_.NowMillis();
  if (sent_at_ms < now - options_.window_ms || sent_at_ms > now + options_.window_ms) {
    return UnauthenticatedError("message timestamp is " + std::to_string((sent_at_ms - now) / 1000) +
                                " s from this machine's clock, outside the allowed ±" +
                                std::to_string(options_.window_ms / 1000) +
                                " s; check the clocks (NTP) of both machines");
  }
  std::string key = Key(sender, message_id);

  std::lock_guard<std::mutex> lock(mu_);
  ExpireLocked(now);
  if (sent_at_ms <= floor_ms_) {
    return UnauthenticatedError("message is older than the replay memory can vouch for (it was under load); "
                                "send it again");
  }
  if (seen_.count(key) != 0) return UnauthenticatedError("message was already received (replay)");
  if (seen_.size() >= options_.max_entries) {
    // Evicting the oldest raises the floor; this message may be at or below it.
    const int64_t new_floor = std::max(floor_ms_, by_time_.begin()->first);
    if (sent_at_ms <= new_floor) {
      auto oldest = by_time_.begin();
      floor_ms_ = new_floor;
      seen_.erase(seen_.find(*oldest->second));
      by_time_.erase(oldest);
      return UnauthenticatedError("message is older than the replay memory can vouch for (it was under load); "
                                  "send it again");
    }
  }
  InsertLocked(std::move(key), sent_at_ms);
  return OkStatus();
}

void ReplayGuard::Forget(std::string_view sender, std::string_view message_id) {
  const std::string key = Key(sender, message_id);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = seen_.find(key);
  if (it == seen_.end()) return;
  for (auto t = by_time_.lower_bound(it->second); t != by_time_.end() && t->first == it->second; ++t) {
    if (t->second == &it->first) {
      by_time_.erase(t);
      break;
    }
  }
  seen_.erase(it);
}

bool ReplayGuard::Seen(std::string_view sender, std::string_view message_id) const {
  const std::string key = Key(sender, message_id);
  std::lock_guard<std::mutex> lock(mu_);
  return seen_.count(key) != 0;
}

void ReplayGuard::Remember(std::string_view sender, std::string_view message_id, int64_t at_ms) {
  std::string key = Key(sender, message_id);
  std::lock_guard<std::mutex> lock(mu_);
  ExpireLocked(clock_.NowMillis());
  auto it = seen_.find(key);
  if (it != seen_.end()) return;  // already remembered
  InsertLocked(std::move(key), at_ms);
}

void ReplayGuard::Prune() {
  const int64_t now = clock_.NowMillis();
  std::lock_guard<std::mutex> lock(mu_);
  ExpireLocked(now);
}

size_t ReplayGuard::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return seen_.size();
}

int64_t ReplayGuard::floor_ms() const {
  std::lock_guard<std::mutex> lock(mu_);
  return floor_ms_;
}

}  // namespace kp
