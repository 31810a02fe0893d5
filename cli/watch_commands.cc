// The coordinator's watch commands (docs/cli.md, "Watches and signals";
// docs/protocol.md §3.8):
//   ketenpoort watch CASE --from PARTNER --category C ... --purpose P
//                         [--subject S ...] (--until YYYY-MM-DD | --days N)
//   ketenpoort signals [--case CASE] [--no-fetch] [--json]
// A watch is a request like any other (the policy decides, the gateway
// records it); the partner's agent then sends a content-free signal when its
// source has something new about a watched subject, and the coordinator
// asks for the data as usual (`ketenpoort request`). Exit codes as in
// cli_context.h: 3 when the policy refused the watch, 4 when the gateway
// could not be reached or did not answer in time.
#include <algorithm>
#include <nlohmann/json.hpp>

#include "cli/cli_context.h"
#include "client/client_config.h"
#include "client/coordinator.h"
#include "core/base/encoding.h"
#include "core/base/time_format.h"
#include "core/identity/passphrase_prompt.h"

namespace kp::cli {
namespace {

namespace v1 = ketenpoort::v1;
using client::Coordinator;
using client::Outcome;

constexpr int64_t kDayMs = 24LL * 3600 * 1000;

// The first 12 hex characters: enough to tell watches apart in a listing.
std::string ShortId(const std::string& id) { return HexEncode(id).substr(0, 12); }

struct WatchArgs {
  std::string config;
  std::string case_id;
  std::string from;
  std::vector<std::string> categories;
  std::string purpose;
  std::vector<std::string> subjects;
  std::string until;
  int days = 0;
  int wait_s = 30;
};

// --until YYYY-MM-DD (the end of that day, UTC) or --days N (from now).
Result<int64_t> WatchEnd(const WatchArgs& a, int64_t now_ms) {
  if (!a.until.empty() && a.days > 0) return InvalidArgumentError("give --until or --days, not both");
  if (!a.until.empty()) {
    auto end = ParseDateEndOfDayUtc(a.until);
    if (!end.ok()) return InvalidArgumentError("--until takes a date, YYYY-MM-DD (not '" + a.until.substr(0, 32) + "')");
    return *end;
  }
  if (a.days > 0) return now_ms + a.days * kDayMs;
  return InvalidArgumentError("a watch needs an end: --until YYYY-MM-DD or --days N (at most 365, and not past the "
                              "case's coordination)");
}

void RegisterWatch(CLI::App& app, CliContext& ctx) {
  auto a = std::make_shared<WatchArgs>();
  CLI::App* cmd = app.add_subcommand(
      "watch", "Ask a partner to signal when its source has something new about subjects of a case (no content)");
  AddConfig(cmd, a->config);
  cmd->add_option("case", a->case_id, "Case id")->required();
  cmd->add_option("--from,--partner", a->from, "Partner asked to watch, e.g. politie")->required();
  cmd->add_option("--category", a->categories, "Data category to watch (repeat)")->required();
  cmd->add_option("--purpose", a->purpose, "Purpose id")->required();
  cmd->add_option("--subject", a->subjects, "Subject reference (repeat; default: every subject of the case)");
  cmd->add_option("--until", a->until, "Last day of the watch (YYYY-MM-DD)");
  cmd->add_option("--days", a->days, "Or: how many days from now");
  cmd->add_option("--wait", a->wait_s, "Seconds to wait for the partner's agent to confirm (default 30)");
  cmd->callback(Guard(ctx, [a, &ctx]() -> Status {
    KP_ASSIGN_OR_RETURN(int64_t until, WatchEnd(*a, SystemClock::Get().NowMillis()));
    KP_ASSIGN_OR_RETURN(auto c, OpenCoordinator(a->config, true));
    client::RequestSpec spec{a->case_id, a->from, a->categories, a->purpose, a->subjects, "", {}};
    spec.watch_until_ms = until;
    KP_ASSIGN_OR_RETURN(std::string id, c->Watch(spec));
    ctx.err << "watch " << HexEncode(id) << " sent to " << a->from << "\n";
    auto o = c->AwaitOutcome(id, std::max(a->wait_s, 1) * 1000);
    if (!o.ok()) {
      if (o.status().code() != StatusCode::kDeadlineExceeded) return o.status();
      ctx.err << "watch " << HexEncode(id) << ": no confirmation within " << a->wait_s
              << " s; the partner's answer comes to your inbox (`ketenpoort signals` fetches it)\n";
      ctx.exit_code = kExitUnavailable;
      return OkStatus();
    }
    switch (o->kind) {
      case Outcome::Kind::kDelivered:
        ctx.out << "watch " << HexEncode(id) << " kept by " << a->from << " (" << o->signer << ") until "
                << FormatUtcMillis(until) << ": " << CommaList(a->categories) << "\n"
                << "signals arrive in your inbox: `ketenpoort signals --case " << a->case_id << "`\n";
        return OkStatus();
      case Outcome::Kind::kRefused:
        ctx.out << "watch refused by " << (o->refusal.refused_by() == v1::REFUSED_BY_AGENT ? "the partner's agent " : "")
                << o->signer << ": " << o->refusal.reason();
        if (!o->refusal.rule_ids().empty()) {
          ctx.out << " (rules:";
          for (const auto& r : o->refusal.rule_ids()) ctx.out << " " << r;
          ctx.out << ")";
        }
        ctx.out << "\n";
        ctx.exit_code = kExitRefused;
        return OkStatus();
      default:
        return o->error.ok() ? InternalError("the watch got no clear answer") : o->error;
    }
  }));
}

struct SignalsArgs {
  std::string config;
  std::string case_id;
  bool no_fetch = false;
  bool json = false;
};

void RegisterSignals(CLI::App& app, CliContext& ctx) {
  auto a = std::make_shared<SignalsArgs>();
  CLI::App* cmd = app.add_subcommand("signals", "List your watches with their state, and the signals they gave");
  AddConfig(cmd, a->config);
  cmd->add_option("--case", a->case_id, "Only this case");
  cmd->add_flag("--no-fetch", a->no_fetch, "Do not fetch the inbox first: list what this machine holds");
  cmd->add_flag("--json", a->json, "Print as JSON");
  cmd->callback(Guard(ctx, [a, &ctx]() -> Status {
    KP_ASSIGN_OR_RETURN(auto c, OpenCoordinator(a->config, false));
    if (!a->no_fetch) {
      // New signals wait in the inbox; other answers fetched here stay in
      // the store (`ketenpoort case show`).
      Status connected = c->Connect();
      auto fetched = connected.ok() ? c->FetchInbox(a->case_id) : Result<std::vector<Outcome>>(connected);
      if (!fetched.ok()) {
        ctx.err << "warning: the inbox was not fetched (" << fetched.status().message()
                << "); listing what this machine holds\n";
      } else if (!fetched->empty() && !a->json) {
        ctx.err << fetched->size() << " other answer(s) arrived too: see `ketenpoort case show`\n";
      }
    }
    const int64_t now = SystemClock::Get().NowMillis();
    KP_ASSIGN_OR_RETURN(auto watches, c->store().Watches(a->case_id, now));
    KP_ASSIGN_OR_RETURN(auto signals, c->store().Signals(a->case_id));
    if (a->json) {
      nlohmann::json out{{"watches", nlohmann::json::array()}, {"signals", nlohmann::json::array()}};
      for (const auto& w : watches) {
        out["watches"].push_back({{"watch_id", HexEncode(w.watch_id)},
                                  {"case_id", w.case_id},
                                  {"partner", w.partner},
                                  {"categories", w.categories},
                                  {"subjects", w.subject_refs},
                                  {"sent", FormatUtcMillis(w.sent_ms)},
                                  {"until", FormatUtcMillis(w.until_ms)},
                                  {"state", std::string(client::WatchStateName(w.state))},
                                  {"reason", w.reason}});
      }
      for (const auto& s : signals) {
        out["signals"].push_back({{"signal_id", HexEncode(s.signal_id)},
                                  {"watch_id", HexEncode(s.watch_id)},
                                  {"case_id", s.case_id},
                                  {"partner", s.partner},
                                  {"subject", s.subject_ref},
                                  {"category", s.category},
                                  {"changed_at", FormatUtcMillis(s.changed_at_ms)},
                                  {"received", FormatUtcMillis(s.received_ms)}});
      }
      ctx.out << out.dump(2) << "\n";
      return OkStatus();
    }
    if (watches.empty()) {
      ctx.out << "no watches" << (a->case_id.empty() ? "" : " in case " + a->case_id) << "\n";
      return OkStatus();
    }
    ctx.out << "watches:\n";
    for (const auto& w : watches) {
      ctx.out << "  " << ShortId(w.watch_id) << "  case " << w.case_id << "  " << w.partner << "  "
              << CommaList(w.categories) << "  subjects " << CommaList(w.subject_refs) << "  "
              << client::WatchStateName(w.state);
      if (w.state == client::WatchState::kActive || w.state == client::WatchState::kWaiting) {
        ctx.out << " until " << FormatUtcDate(w.until_ms);
      } else if (!w.reason.empty()) {
        ctx.out << " (" << w.reason << ")";
      }
      ctx.out << "\n";
    }
    ctx.out << "signals:" << (signals.empty() ? " none yet\n" : "\n");
    for (const auto& s : signals) {
      ctx.out << "  " << FormatUtcMillis(s.changed_at_ms) << "  case " << s.case_id << "  subject " << s.subject_ref
              << ": new at " << s.partner << " in " << s.category << "  (watch " << ShortId(s.watch_id) << ")\n";
    }
    if (!signals.empty()) {
      ctx.out << "a signal carries no content: ask for the data with `ketenpoort request CASE --from PARTNER "
                 "--category C --purpose P --subject S`\n";
    }
    return OkStatus();
  }));
}

}  // namespace

void RegisterWatchCommands(CLI::App& app, CliContext& ctx) {
  RegisterWatch(app, ctx);
  RegisterSignals(app, ctx);
}

}  // namespace kp::cli
