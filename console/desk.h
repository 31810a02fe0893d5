// What the console's pages share (private to console/): the coordinator
// under its lock, the policy, the clock, the sessions, what came in, and
// rendering a page in the layout. Each page file registers its routes with
// Desk::Get / Desk::Post, which check the session (and for a post the CSRF
// token and the one-time form id) before the page's handler runs.
#ifndef KETENPOORT_CONSOLE_DESK_H_
#define KETENPOORT_CONSOLE_DESK_H_

#include <httplib.h>

#include <kainjow/mustache.hpp>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "client/coordinator.h"
#include "console/console.h"
#include "console/security.h"
#include "core/base/clock.h"
#include "policy/policy_engine.h"

namespace kp::console {

namespace mu = kainjow::mustache;

// One request to a page, with its checked session.
struct Page {
  const httplib::Request& http;
  httplib::Response& res;
  Session session;

  // A form or query value ("" when absent), and every value of a repeated one.
  std::string Value(const std::string& name) const;
  std::vector<std::string> Values(const std::string& name) const;
  // The path parameter `i` of the route's pattern (e.g. the case id).
  std::string PathPart(size_t i) const;
};

// Something that came in besides answers: a notice in words, kept for the pages.
struct Notice {
  int64_t at_ms = 0;
  std::string case_id;
  std::string text;        // Dutch
  bool offer_to_me = false;  // a case offered to this coordinator: it can take it over
};

class Desk {
 public:
  using Handler = std::function<void(Desk&, Page&)>;

  Desk(std::unique_ptr<client::Coordinator> coordinator, std::shared_ptr<const policy::Policy> policy,
       const Clock& clock, ConsoleOptions options);

  const policy::Policy& policy() const { return *policy_; }
  const Clock& clock() const { return clock_; }
  const ConsoleOptions& options() const { return options_; }
  Sessions& sessions() { return sessions_; }
  const std::string& me() const { return me_; }

  // Runs `fn` with the coordinator, alone. News that the call brought in
  // (notices, referrals) is taken into the notices afterwards.
  template <typename F>
  auto With(F&& fn) -> decltype(fn(std::declval<client::Coordinator&>())) {
    std::lock_guard<std::mutex> lock(coordinator_mu_);
    struct TakeNewsAfter {
      Desk* desk;
      ~TakeNewsAfter() { desk->TakeNewsLocked(); }
    } after{this};
    return fn(*coordinator_);
  }

  // Routes. The handler runs only for a valid session; a post's handler only
  // with a valid CSRF token and a form id not yet used.
  void Get(const std::string& pattern, Handler handler);
  void Post(const std::string& pattern, Handler handler);

  // Renders `tmpl` with `data` inside the layout (title, navigation, the
  // connection state, a flash message) as the answer.
  void Show(Page& page, const std::string& title, std::string_view tmpl, mu::data data, std::string_view nav = "");
  // A page with a message and a link onward.
  void ShowMessage(Page& page, int status, const std::string& title, const std::string& text,
                   const std::string& link = "/", const std::string& link_text = "Naar mijn casussen");
  // 303 to `to`, with `flash` shown once on the next page.
  void Redirect(Page& page, const std::string& to, const std::string& flash = "");
  // Fields every form needs: csrf and a fresh one-time form id.
  void AddFormFields(const Page& page, mu::data& data);

  // Notices (newest first), and a counter that changes when anything came in.
  std::vector<Notice> Notices() const;
  uint64_t version() const;
  // Waits until version() differs from `seen` or `timeout_ms` passed.
  uint64_t AwaitChange(uint64_t seen, int timeout_ms) const;
  void Changed();
  // The gateway connection as the pages show it.
  bool connected() const;
  std::string connection_problem() const;

  // The poller's one step: connect when not connected, take in what arrived.
  void PollOnce();
  // A login address with a fresh one-time start token.
  std::string LoginAddress();
  // Ends the live-update streams (the server is stopping).
  void Stop();
  bool stopping() const;

  int port = 0;  // the port listened on, set once before serving
  std::function<void(const std::string&)> on_new_address;  // prints a new login address

  httplib::Server& server() { return server_; }

 private:
  void Route(bool post, const std::string& pattern, Handler handler);
  void TakeNewsLocked();
  void SetConnection(bool connected, const std::string& problem);
  std::string TakeFlash(const std::string& session_id);

  std::unique_ptr<client::Coordinator> coordinator_;
  std::shared_ptr<const policy::Policy> policy_;
  const Clock& clock_;
  const ConsoleOptions options_;
  const std::string me_;
  Sessions sessions_;
  const bool may_refer_;  // the navigation shows Aanmelden (page_referrals.h ReferralPartners)
  httplib::Server server_;

  mutable std::mutex coordinator_mu_;
  mutable std::mutex state_mu_;  // below
  mutable std::condition_variable changed_cv_;
  uint64_t version_ = 0;
  bool connected_ = false;
  bool stopping_ = false;
  bool inbox_fetched_ = false;
  std::chrono::steady_clock::time_point next_connect_{};  // poller only
  int64_t retry_ms_ = 0;                                   // poller only
  std::string connection_problem_;
  std::deque<Notice> notices_;
  std::map<std::string, std::string> flash_;  // session id -> message
};

// Each page file's routes.
void RegisterCasesPages(Desk& desk);     // page_cases.cc: Mijn casussen, meldingen, live updates
void RegisterReferralPages(Desk& desk);  // page_referrals.cc: Aanmelding, nieuwe casus
void RegisterCasePages(Desk& desk);      // page_case.cc: Casus and its actions
void RegisterAskPages(Desk& desk);       // page_ask.cc: Informatie opvragen
void RegisterPushPages(Desk& desk);      // page_push.cc: Versturen naar partner
// What the case page shows of the pushes of `case_id` (page_push.cc):
// "verstuurd" rows and "heeft_verstuurd".
void AddPushes(Desk& desk, const std::string& case_id, mu::data& data);

}  // namespace kp::console

#endif  // KETENPOORT_CONSOLE_DESK_H_
