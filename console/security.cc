#include "console/security.h"

#include <algorithm>

#include "core/base/encoding.h"
#include "core/crypto/random.h"
#include "core/crypto/secret_bytes.h"

namespace kp::console {
namespace {

constexpr size_t kMaxOpenForms = 256;  // a session that renders forms for days keeps the newest

std::string RandomHex() { return HexEncode(RandomBytes(32)); }

}  // namespace

bool HostAllowed(std::string_view host, int port) { return host == "127.0.0.1:" + std::to_string(port); }

bool OriginAllowed(std::string_view origin, int port) {
  return origin.empty() || origin == "http://127.0.0.1:" + std::to_string(port);
}

std::string SessionFromCookie(std::string_view header) {
  const std::string_view name = kSessionCookie;
  size_t pos = 0;
  while (pos < header.size()) {
    size_t end = header.find(';', pos);
    if (end == std::string_view::npos) end = header.size();
    std::string_view part = header.substr(pos, end - pos);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    if (part.size() > name.size() && part.substr(0, name.size()) == name && part[name.size()] == '=') {
      return std::string(part.substr(name.size() + 1));
    }
    pos = end + 1;
  }
  return "";
}

std::string SessionCookie(const std::string& session_id) {
  return std::string(kSessionCookie) + "=" + session_id + "; HttpOnly; SameSite=Strict; Path=/";
}

std::string Sessions::IssueStartToken() {
  std::lock_guard<std::mutex> lock(mu_);
  start_token_ = RandomHex();
  return start_token_;
}

bool Sessions::HasStartToken() const {
  std::lock_guard<std::mutex> lock(mu_);
  return !start_token_.empty();
}

std::optional<std::string> Sessions::Redeem(std::string_view token) {
  std::lock_guard<std::mutex> lock(mu_);
  if (start_token_.empty() || !ConstantTimeEquals(token, start_token_)) return std::nullopt;
  start_token_.clear();
  Session s;
  s.id = RandomHex();
  s.csrf = RandomHex();
  s.last_ms = clock_.NowMillis();
  std::string id = s.id;
  sessions_.emplace(id, std::move(s));
  return id;
}

std::optional<Session> Sessions::Touch(std::string_view id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return std::nullopt;
  const int64_t now = clock_.NowMillis();
  if (now - it->second.last_ms > idle_ms_) {
    sessions_.erase(it);
    return std::nullopt;
  }
  it->second.last_ms = now;
  return it->second;
}

void Sessions::End(std::string_view id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = sessions_.find(id);
  if (it != sessions_.end()) sessions_.erase(it);
}

bool Sessions::CsrfValid(std::string_view session_id, std::string_view csrf) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = sessions_.find(session_id);
  return it != sessions_.end() && !csrf.empty() && ConstantTimeEquals(csrf, it->second.csrf);
}

std::string Sessions::NewForm(std::string_view session_id) {
  std::string form = HexEncode(RandomBytes(16));
  std::lock_guard<std::mutex> lock(mu_);
  auto it = sessions_.find(session_id);
  if (it == sessions_.end()) return form;
  auto& forms = it->second.open_forms;
  if (forms.size() >= kMaxOpenForms) forms.pop_front();
  forms.push_back(form);
  return form;
}

bool Sessions::TakeForm(std::string_view session_id, std::string_view form_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = sessions_.find(session_id);
  if (it == sessions_.end()) return false;
  auto& forms = it->second.open_forms;
  auto f = std::find(forms.begin(), forms.end(), form_id);
  if (f == forms.end()) return false;
  forms.erase(f);
  return true;
}

size_t Sessions::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return sessions_.size();
}

}  // namespace kp::console
