// The console's guards (docs/console.md, "Veiligheid"): the console shows
// BSNs and case fragments, so only the coordinator at this machine, in the
// browser they opened the printed address in, may reach it.
//
//   - Host: a request must name exactly the loopback address the console
//     printed (127.0.0.1:PORT). A page of another site that a DNS name
//     rebound to 127.0.0.1 sends its own name, and is refused.
//   - A one-time start token, printed in the address, is exchanged once for a
//     session; the session id travels only in an HttpOnly, SameSite=Strict
//     cookie. Each session has its own CSRF token, which every form carries.
//   - Each form also carries a one-time form id, so a second submit of the
//     same form (a double click, the back button) changes nothing.
//   - A session ends after `idle` without a request, and when the console
//     stops; the sessions live only in memory.
//
// Thread-safe: the HTTP server's worker threads share one Sessions.
#ifndef KETENPOORT_CONSOLE_SECURITY_H_
#define KETENPOORT_CONSOLE_SECURITY_H_

#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "core/base/clock.h"

namespace kp::console {

inline constexpr char kSessionCookie[] = "kp_sessie";

// The headers every answer carries. The policy allows only the console's
// own style sheet and script, no inline code, no frames, no other origin.
inline constexpr char kContentSecurityPolicy[] =
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

// Whether `host` (the Host header) is exactly "127.0.0.1:<port>".
bool HostAllowed(std::string_view host, int port);

// Whether `origin` (the Origin header of a form post) is absent or exactly
// "http://127.0.0.1:<port>". Browsers send it with every POST.
bool OriginAllowed(std::string_view origin, int port);

// The session id in a Cookie header ("" when none).
std::string SessionFromCookie(std::string_view cookie_header);

// "kp_sessie=ID; HttpOnly; SameSite=Strict; Path=/".
std::string SessionCookie(const std::string& session_id);

struct Session {
  std::string id;    // 32 random bytes, hex
  std::string csrf;  // 32 random bytes, hex
  int64_t last_ms = 0;
  std::deque<std::string> open_forms;  // form ids rendered and not yet submitted, oldest first
};

class Sessions {
 public:
  Sessions(const Clock& clock, int64_t idle_ms) : clock_(clock), idle_ms_(idle_ms) {}

  // A new one-time start token (hex); the previous one stops working.
  std::string IssueStartToken();
  // Whether a start token is waiting to be used.
  bool HasStartToken() const;
  // Exchanges the start token for a new session: the session id, or nothing
  // when `token` is not the waiting token (compared in constant time).
  std::optional<std::string> Redeem(std::string_view token);

  // The session `id` when it exists and was used within the idle time; the
  // use counts as activity. An idle session is ended.
  std::optional<Session> Touch(std::string_view id);
  void End(std::string_view id);

  // Whether `csrf` is the session's CSRF token (constant time).
  bool CsrfValid(std::string_view session_id, std::string_view csrf) const;

  // A fresh form id for a form rendered in this session.
  std::string NewForm(std::string_view session_id);
  // Takes a submitted form id: true the first time, false for an unknown or
  // already submitted one.
  bool TakeForm(std::string_view session_id, std::string_view form_id);

  size_t size() const;

 private:
  const Clock& clock_;
  const int64_t idle_ms_;
  mutable std::mutex mu_;
  std::string start_token_;
  std::map<std::string, Session, std::less<>> sessions_;
};

}  // namespace kp::console

#endif  // KETENPOORT_CONSOLE_SECURITY_H_
