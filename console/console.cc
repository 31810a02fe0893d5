#include "console/console.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "console/assets.h"
#include "console/desk.h"
#include "console/page_referrals.h"
#include "console/page_watch.h"
#include "console/view.h"

namespace kp::console {
namespace {

constexpr size_t kMaxNotices = 200;
constexpr size_t kMaxFormBytes = 256 * 1024;  // a form with a case's subjects is a few KiB
constexpr int kServerThreads = 12;            // pages, and one per open live-update stream

// The navigation bar: (path, label, key).
struct NavItem {
  const char* path;
  const char* label;
  const char* key;
  bool referrers_only = false;  // shown only to a role that refers families (refers_to)
};
constexpr NavItem kNav[] = {
    {"/", "Mijn casussen", "casussen"},
    {"/aanmeldingen", "Aanmeldingen", "aanmeldingen"},
    {"/casus/nieuw", "Nieuwe casus", "nieuw"},
    {"/aanmelden", "Aanmelden", "aanmelden", true},
};

std::string RenderAsset(std::string_view name, const mu::data& data) {
  auto it = Assets().find(name);
  if (it == Assets().end()) return "<p>Onderdeel " + std::string(name) + " ontbreekt in deze console.</p>";
  mu::mustache tmpl{std::string(it->second)};
  if (!tmpl.is_valid()) return "<p>Onderdeel " + std::string(name) + " is beschadigd: " + tmpl.error_message() + "</p>";
  return tmpl.render(data);
}

void SetSecurityHeaders(httplib::Response& res) {
  res.set_header("Content-Security-Policy", kContentSecurityPolicy);
  res.set_header("Cache-Control", "no-store");
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("Referrer-Policy", "same-origin");  // no-referrer makes Chromium post "Origin: null"
  res.set_header("X-Frame-Options", "DENY");
  res.set_header("Cross-Origin-Opener-Policy", "same-origin");
  res.set_header("Cross-Origin-Resource-Policy", "same-origin");
}

std::string PlainPage(const std::string& title, const std::string& text) {
  mu::data d;
  d.set("title", title);
  d.set("text", text);
  return RenderAsset("plain.mustache", d);
}

}  // namespace

// --- Page

std::string Page::Value(const std::string& name) const {
  return http.has_param(name.c_str()) ? http.get_param_value(name.c_str()) : std::string();
}

std::vector<std::string> Page::Values(const std::string& name) const {
  std::vector<std::string> out;
  const size_t n = http.get_param_value_count(name.c_str());
  for (size_t i = 0; i < n; ++i) out.push_back(http.get_param_value(name.c_str(), i));
  return out;
}

std::string Page::PathPart(size_t i) const { return i + 1 < http.matches.size() ? std::string(http.matches[i + 1]) : ""; }

// --- Desk

Desk::Desk(std::unique_ptr<client::Coordinator> coordinator, std::shared_ptr<const policy::Policy> policy,
           const Clock& clock, ConsoleOptions options)
    : coordinator_(std::move(coordinator)),
      policy_(std::move(policy)),
      clock_(clock),
      options_(options),
      me_(coordinator_->identity().id()),
      sessions_(clock, options.idle_ms),
      may_refer_(!ReferralPartners(*coordinator_, *policy_).empty()) {}

void Desk::Get(const std::string& pattern, Handler handler) { Route(false, pattern, std::move(handler)); }
void Desk::Post(const std::string& pattern, Handler handler) { Route(true, pattern, std::move(handler)); }

void Desk::Route(bool post, const std::string& pattern, Handler handler) {
  auto wrapped = [this, post, handler = std::move(handler)](const httplib::Request& req, httplib::Response& res) {
    Page page{req, res, {}};
    const std::string id = SessionFromCookie(req.get_header_value("Cookie"));
    auto session = id.empty() ? std::nullopt : sessions_.Touch(id);
    if (!session.has_value()) {
      if (!sessions_.HasStartToken() && on_new_address) on_new_address(LoginAddress());
      res.status = 401;
      res.set_content(PlainPage("Niet aangemeld",
                                "U bent niet (meer) aangemeld: een sessie eindigt na " +
                                    std::to_string(options_.idle_ms / 60000) +
                                    " minuten zonder gebruik. Open het nieuwe adres dat de console in het venster "
                                    "toont waarin u haar startte."),
                      "text/html; charset=utf-8");
      return;
    }
    page.session = *session;
    if (post) {
      if (!OriginAllowed(req.get_header_value("Origin"), port)) {
        spdlog::warn("console: a form post from another origin was refused");
        ShowMessage(page, 403, "Geweigerd", "Dit formulier kwam niet van deze console. Er is niets gedaan.");
        return;
      }
      if (!sessions_.CsrfValid(id, page.Value("csrf"))) {
        spdlog::warn("console: a form post without a valid CSRF token was refused");
        ShowMessage(page, 403, "Geweigerd",
                    "Dit formulier is niet door deze sessie van de console gemaakt. Er is niets gedaan. Open de "
                    "pagina opnieuw en probeer het nog eens.");
        return;
      }
      if (!sessions_.TakeForm(id, page.Value("formulier"))) {
        ShowMessage(page, 409, "Al verstuurd",
                    "Dit formulier is al verstuurd (bijvoorbeeld twee keer geklikt, of teruggegaan in de browser). "
                    "Er is niets opnieuw gedaan.");
        return;
      }
    }
    handler(*this, page);
  };
  if (post) {
    server_.Post(pattern, std::move(wrapped));
  } else {
    server_.Get(pattern, std::move(wrapped));
  }
}

void Desk::AddFormFields(const Page& page, mu::data& data) {
  data.set("csrf", page.session.csrf);
  data.set("formulier", sessions_.NewForm(page.session.id));
}

void Desk::Show(Page& page, const std::string& title, std::string_view tmpl, mu::data data, std::string_view nav) {
  AddFormFields(page, data);
  mu::data layout;
  layout.set("title", title);
  layout.set("body", RenderAsset(tmpl, data));
  mu::data items = mu::data::type::list;
  for (const auto& n : kNav) {
    if (n.referrers_only && !may_refer_) continue;
    mu::data item;
    item.set("path", n.path);
    item.set("label", n.label);
    item.set("active", mu::data(nav == n.key));
    items.push_back(item);
  }
  layout.set("nav", items);
  layout.set("me", me_);
  layout.set("csrf", page.session.csrf);
  layout.set("formulier", sessions_.NewForm(page.session.id));
  {
    std::lock_guard<std::mutex> lock(state_mu_);
    layout.set("offline", mu::data(!connected_));
    if (!connection_problem_.empty()) layout.set("problem", connection_problem_);  // a section over "" renders
    layout.set("version", std::to_string(version_));
  }
  // The answer to a form post: reloading it would send the form again (and
  // be refused as sent twice), so live updates only show their notice here.
  layout.set("na_versturen", mu::data(page.http.method == "POST"));
  const std::string flash = TakeFlash(page.session.id);
  if (!flash.empty()) layout.set("flash", flash);
  if (page.res.status == -1) page.res.status = 200;
  page.res.set_content(RenderAsset("layout.mustache", layout), "text/html; charset=utf-8");
}

void Desk::ShowMessage(Page& page, int status, const std::string& title, const std::string& text,
                       const std::string& link, const std::string& link_text) {
  mu::data d;
  d.set("text", text);
  d.set("link", link);
  d.set("link_text", link_text);
  page.res.status = status;
  Show(page, title, "message.mustache", d);
}

void Desk::Redirect(Page& page, const std::string& to, const std::string& flash) {
  if (!flash.empty()) {
    std::lock_guard<std::mutex> lock(state_mu_);
    flash_[page.session.id] = flash;
  }
  page.res.status = 303;
  page.res.set_header("Location", to);
}

std::string Desk::TakeFlash(const std::string& session_id) {
  std::lock_guard<std::mutex> lock(state_mu_);
  auto it = flash_.find(session_id);
  if (it == flash_.end()) return "";
  std::string text = std::move(it->second);
  flash_.erase(it);
  return text;
}

std::vector<Notice> Desk::Notices() const {
  std::lock_guard<std::mutex> lock(state_mu_);
  return {notices_.begin(), notices_.end()};
}

uint64_t Desk::version() const {
  std::lock_guard<std::mutex> lock(state_mu_);
  return version_;
}

uint64_t Desk::AwaitChange(uint64_t seen, int timeout_ms) const {
  std::unique_lock<std::mutex> lock(state_mu_);
  changed_cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return version_ != seen || stopping_; });
  return version_;
}

void Desk::Changed() {
  {
    std::lock_guard<std::mutex> lock(state_mu_);
    ++version_;
  }
  changed_cv_.notify_all();
}

bool Desk::connected() const {
  std::lock_guard<std::mutex> lock(state_mu_);
  return connected_;
}

std::string Desk::connection_problem() const {
  std::lock_guard<std::mutex> lock(state_mu_);
  return connection_problem_;
}

void Desk::SetConnection(bool connected, const std::string& problem) {
  bool changed = false;
  {
    std::lock_guard<std::mutex> lock(state_mu_);
    changed = connected_ != connected || connection_problem_ != problem;
    connected_ = connected;
    connection_problem_ = problem;
  }
  if (changed) Changed();
}

void Desk::PollOnce() {
  // While the gateway is away, a connection attempt holds the coordinator
  // (and so every page) for up to kHandshakeMs: try again less and less
  // often, up to once per kMaxRetryMs.
  constexpr int kHandshakeMs = 500;
  constexpr int64_t kMaxRetryMs = 30'000;
  const auto now = std::chrono::steady_clock::now();
  if (!connected() && now < next_connect_) return;
  With([&](client::Coordinator& c) {
    if (!connected()) {
      Status s = c.Connect(kHandshakeMs);
      if (!s.ok()) {
        retry_ms_ = std::min<int64_t>(retry_ms_ == 0 ? 1000 : retry_ms_ * 2, kMaxRetryMs);
        next_connect_ = now + std::chrono::milliseconds(retry_ms_);
        SetConnection(false, "de gateway is niet bereikbaar: " + s.message());
        return;
      }
      retry_ms_ = 0;
      SetConnection(true, "");
    }
    if (!inbox_fetched_) {
      auto fetched = c.FetchInbox("");
      if (!fetched.ok()) {
        SetConnection(false, "de gateway gaf de berichten niet: " + fetched.status().message());
        return;
      }
      inbox_fetched_ = true;
      if (!fetched->empty()) Changed();
    }
    // Only answers (and, through TakeNewsLocked, notices and referrals)
    // change what a page shows; acknowledgements of the console's own
    // messages do not.
    size_t answers = 0;
    auto n = c.Poll(20, [&answers](const client::Outcome&) { ++answers; });
    if (!n.ok()) {
      SetConnection(false, "ontvangen lukte niet: " + n.status().message());
      return;
    }
    if (answers > 0) Changed();
  });
}

void Desk::TakeNewsLocked() {
  client::News news = coordinator_->TakeNews();
  std::vector<Notice> fresh;
  const int64_t now = clock_.NowMillis();
  for (const auto& n : news.notices) {
    fresh.push_back({n.at_ms() > 0 ? n.at_ms() : now, n.case_id(), NoticeTekst(*policy_, n, me_),
                     n.kind() == ketenpoort::v1::NOTICE_KIND_HANDOVER_OFFERED});
  }
  if (!news.referrals.empty()) {
    fresh.push_back({now, "", news.referrals.size() == 1 ? std::string("een nieuwe aanmelding ontvangen")
                                                         : std::to_string(news.referrals.size()) + " nieuwe aanmeldingen ontvangen",
                     false});
  }
  for (const auto& s : news.referral_statuses) {
    fresh.push_back({now, s.case_id(), "uw aanmelding " + s.reference() + ": " +
                                           std::string(ReferralStateText(s.state())), false});
  }
  for (const auto& h : news.handovers) fresh.push_back({now, "", "overdrachtsgegevens ontvangen: " + h, false});
  for (const auto& id : news.forgotten) {
    fresh.push_back({now, id, "de gegevens van casus " + id + " zijn na de overdracht van deze computer verwijderd",
                     false});
  }
  // A gateway restored from a backup had lost these requests (client/resend_waiting.cc).
  for (const auto& r : news.resent_after_restore) {
    fresh.push_back({now, r.case_id, "verzoek opnieuw verstuurd na herstel van de gateway", false});
  }
  for (const auto& r : news.expired_after_restore) {
    fresh.push_back({now, r.case_id, "verzoek verlopen na herstel van de gateway — opnieuw indienen", false});
  }
  for (const auto& p : news.problems) {
    spdlog::warn("console: a message was not taken in: {}", p.message());
    fresh.push_back({now, "", "een bericht is niet aangenomen: " + p.message(), false});
  }
  if (fresh.empty()) return;
  {
    std::lock_guard<std::mutex> lock(state_mu_);
    for (auto& f : fresh) notices_.push_front(std::move(f));
    while (notices_.size() > kMaxNotices) notices_.pop_back();
  }
  Changed();
}

std::string Desk::LoginAddress() {
  return "http://127.0.0.1:" + std::to_string(port) + "/start?token=" + sessions_.IssueStartToken();
}

void Desk::Stop() {
  {
    std::lock_guard<std::mutex> lock(state_mu_);
    stopping_ = true;
  }
  changed_cv_.notify_all();
}

bool Desk::stopping() const {
  std::lock_guard<std::mutex> lock(state_mu_);
  return stopping_;
}

// --- the server

class ConsoleServer::Impl {
 public:
  Impl(std::unique_ptr<client::Coordinator> c, std::shared_ptr<const policy::Policy> p, const Clock& clock,
       ConsoleOptions o)
      : desk(std::move(c), std::move(p), clock, o) {}
  Desk desk;
  std::thread listener, poller;
  std::atomic<bool> listener_done{false};
  std::mutex stop_mu;
  std::condition_variable stop_cv;
  bool stopped = false;
};

ConsoleServer::ConsoleServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ConsoleServer::~ConsoleServer() { Stop(); }

Result<std::unique_ptr<ConsoleServer>> ConsoleServer::Start(std::unique_ptr<client::Coordinator> coordinator,
                                                            std::shared_ptr<const policy::Policy> policy,
                                                            const Clock& clock, ConsoleOptions options) {
  if (coordinator == nullptr || policy == nullptr) return InvalidArgumentError("the console needs a coordinator and a policy");
  auto impl = std::make_unique<Impl>(std::move(coordinator), std::move(policy), clock, options);
  Desk& desk = impl->desk;
  httplib::Server& http = desk.server();
  http.new_task_queue = [] { return new httplib::ThreadPool(kServerThreads); };
  http.set_payload_max_length(kMaxFormBytes);
  http.set_pre_routing_handler([&desk](const httplib::Request& req, httplib::Response& res) {
    if (HostAllowed(req.get_header_value("Host"), desk.port)) return httplib::Server::HandlerResponse::Unhandled;
    spdlog::warn("console: a request naming another host was refused (DNS rebinding guard)");
    res.status = 421;
    res.set_content("Deze console antwoordt alleen op http://127.0.0.1:" + std::to_string(desk.port) + "/\n",
                    "text/plain; charset=utf-8");
    return httplib::Server::HandlerResponse::Handled;
  });
  http.set_post_routing_handler([](const httplib::Request&, httplib::Response& res) { SetSecurityHeaders(res); });
  http.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.status == 404 && res.body.empty()) {
      res.set_content(PlainPage("Niet gevonden", "Deze pagina bestaat niet in de console."), "text/html; charset=utf-8");
    }
  });
  http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    spdlog::error("console: a page failed with an exception");
    res.status = 500;
    res.set_content(PlainPage("Fout", "Deze pagina kon niet worden gemaakt. Er is niets veranderd."),
                    "text/html; charset=utf-8");
  });

  http.Get("/start", [&desk](const httplib::Request& req, httplib::Response& res) {
    auto session = desk.sessions().Redeem(req.has_param("token") ? req.get_param_value("token") : "");
    if (!session.has_value()) {
      res.status = 403;
      res.set_content(PlainPage("Adres al gebruikt",
                                "Dit inlogadres is al gebruikt of vervangen. Open het nieuwste adres dat de console "
                                "in haar venster toont."),
                      "text/html; charset=utf-8");
      return;
    }
    spdlog::info("console: a session started");
    res.set_header("Set-Cookie", SessionCookie(*session));
    res.status = 303;
    res.set_header("Location", "/");
  });
  http.Get(R"(/static/([a-z]+\.(css|js)))", [](const httplib::Request& req, httplib::Response& res) {
    const std::string name = req.matches[1];
    auto it = Assets().find(name);
    if (it == Assets().end()) {
      res.status = 404;
      return;
    }
    res.set_content(std::string(it->second),
                    name.ends_with(".css") ? "text/css; charset=utf-8" : "text/javascript; charset=utf-8");
  });
  desk.Post("/afmelden", [](Desk& d, Page& page) {
    d.sessions().End(page.session.id);
    page.res.set_header("Set-Cookie", std::string(kSessionCookie) + "=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    page.res.set_content(PlainPage("Afgemeld", "U bent afgemeld. Sluit dit venster."), "text/html; charset=utf-8");
  });
  RegisterCasesPages(desk);
  RegisterReferralPages(desk);
  RegisterCasePages(desk);
  RegisterAskPages(desk);
  RegisterWatchPages(desk);  // page_watch.cc: Laten volgen
  RegisterPushPages(desk);

  if (options.port == 0) {
    desk.port = http.bind_to_any_port("127.0.0.1");
    if (desk.port < 0) return UnavailableError("the console could not listen on 127.0.0.1 (any port)");
  } else {
    if (!http.bind_to_port("127.0.0.1", options.port)) {
      return UnavailableError("the console could not listen on 127.0.0.1:" + std::to_string(options.port) +
                              " (in use? choose another with --port)");
    }
    desk.port = options.port;
  }
  Impl* raw = impl.get();
  raw->listener = std::thread([raw] {
    raw->desk.server().listen_after_bind();
    raw->listener_done = true;
  });
  // cpp-httplib's stop() does nothing until the listener's loop has begun
  // (is_running): a Stop() in that window would leave the loop running and
  // Stop() waiting for it for ever. So Start returns once it has begun.
  while (!raw->desk.server().is_running()) {
    if (raw->listener_done) {
      raw->listener.join();
      return UnavailableError("the console could not accept connections on 127.0.0.1:" + std::to_string(desk.port));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  raw->poller = std::thread([raw] {
    while (!raw->desk.stopping()) {
      raw->desk.PollOnce();
      std::unique_lock<std::mutex> lock(raw->stop_mu);
      raw->stop_cv.wait_for(lock, std::chrono::milliseconds(raw->desk.options().poll_ms), [raw] { return raw->stopped; });
    }
  });
  spdlog::info("console: listening on 127.0.0.1:{}", desk.port);
  return std::unique_ptr<ConsoleServer>(new ConsoleServer(std::move(impl)));
}

int ConsoleServer::port() const { return impl_->desk.port; }

std::string ConsoleServer::LoginAddress() { return impl_->desk.LoginAddress(); }

void ConsoleServer::OnNewLoginAddress(std::function<void(const std::string&)> print) {
  impl_->desk.on_new_address = std::move(print);
}

void ConsoleServer::Wait() {
  std::unique_lock<std::mutex> lock(impl_->stop_mu);
  impl_->stop_cv.wait(lock, [this] { return impl_->stopped; });
}

void ConsoleServer::Stop() {
  {
    std::lock_guard<std::mutex> lock(impl_->stop_mu);
    if (impl_->stopped && !impl_->listener.joinable()) return;
    impl_->stopped = true;
  }
  impl_->stop_cv.notify_all();
  impl_->desk.Stop();
  impl_->desk.server().stop();
  if (impl_->listener.joinable()) impl_->listener.join();
  if (impl_->poller.joinable()) impl_->poller.join();
}

}  // namespace kp::console
