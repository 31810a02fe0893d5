#include "core/envelope/replay_guard.h"

namespace kp {

ReplayGuard::ReplayGuard(const Clock& clock, Options options) : clock_(clock), options_(options) {
  KP_CHECK(options_.window_ms > 0 && options_.max_entries > 0);
}

void ReplayGuard::ExpireLocked(int64_t now_ms) {
  const int64_t oldest_acceptable = now_ms - options_.window_ms;
  while (!by_time_.empty() && by_time_.begin()->first < oldest_acceptable) {
    seen_.erase(by_time_.begin()->second);
    by_time_.erase(by_time_.begin());
  }
}

Status ReplayGuard::Check(std::string_view sender, std::string_view message_id, int64_t sent_at_ms) {
  const int64_t now = clock_.NowMillis();
  if (sent_at_ms < now - options_.window_ms || sent_at_ms > now + options_.window_ms) {
    return UnauthenticatedError("message timestamp is " + std::to_string((sent_at_ms - now) / 1000) +
                                " s from this machine's clock, outside the allowed ±" +
                                std::to_string(options_.window_ms / 1000) +
                                " s; check the clocks (NTP) of both machines");
  }
  std::string key;
  key.reserve(sender.size() + 1 + message_id.size());
  key.append(sender);
  key.push_back('\0');
  key.append(message_id);

  std::lock_guard<std::mutex> lock(mu_);
  ExpireLocked(now);
  if (sent_at_ms <= floor_ms_) {
    return UnauthenticatedError("message is older than the replay memory can vouch for (it was under load); "
                                "send it again");
  }
  if (seen_.count(key) != 0) return UnauthenticatedError("message was already received (replay)");
  if (seen_.size() >= options_.max_entries) {
    auto oldest = by_time_.begin();
    floor_ms_ = std::max(floor_ms_, oldest->first);
    seen_.erase(oldest->second);
    by_time_.erase(oldest);
    if (sent_at_ms <= floor_ms_) {
      return UnauthenticatedError("message is older than the replay memory can vouch for (it was under load); "
                                  "send it again");
    }
  }
  seen_.emplace(key, sent_at_ms);
  by_time_.emplace(sent_at_ms, std::move(key));
  return OkStatus();
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
