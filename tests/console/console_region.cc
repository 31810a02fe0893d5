// console_region: a whole region on this machine with the coordinator's
// console in front of it, for the browser test (browser_test.py), the
// console's screenshots in docs/console.md, and for looking at the console
// by hand. Gateway and the eleven agents run in this process on loopback
// (tests/testing/region.h); the console serves regisseur-01.
//
//   console_region --dir DIR [--port N] [--info FILE] [--html-values]
//                  [--referral] [--offer] [--refuse] [--watch]
//
// --html-values  the police's incident records hold HTML and a script, to
//                see that the console shows them as text
// --referral     Veilig Thuis refers a family to the Veiligheidsteam first
// --offer        regisseur-02 opens a case and offers it to regisseur-01
// --refuse       Veilig Thuis' agent answers no request for its reports (a
//                partner's own restriction on top of the policy): a refusal
// --watch        regisseur-01 has a case whose police incidents are watched,
//                and the police's new record about S1 gave a signal
// --answered     regisseur-01 has a case whose police incidents were asked
//                and answered, not yet shown (the read log's browser test)
// Writes {"address": ..., "port": ...} to FILE (and stdout) once it serves;
// runs until SIGINT or SIGTERM.
#include <signal.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "console/console.h"
#include "core/base/clock.h"
#include "core/base/encoding.h"
#include "core/crypto/sha256.h"
#include "policy/policy_loader.h"
#include "tests/testing/region.h"

namespace kp {
namespace {

namespace v1 = ketenpoort::v1;
using testing::Region;

constexpr int64_t kDayMs = 24 * 3600 * 1000LL;
// What the police's records hold with --html-values: markup, a script and
// quotes, which the console must show as text.
constexpr char kHtmlValue[] = "<script>document.title='GEHACKT'</script><b>vet</b> & \"aanhalingstekens\" <img src=x>";

struct Args {
  std::string dir, info;
  int port = 0;
  bool html_values = false, referral = false, offer = false, refuse = false, watch = false;
  bool answered = false;
};

v1::Subject Person(v1::SubjectRole role, const std::string& bsn, const std::string& name, const std::string& born) {
  v1::Subject s;
  s.set_role(role);
  s.set_bsn(bsn);
  s.set_name(name);
  s.set_date_of_birth(born);
  return s;
}

std::vector<v1::Subject> Family() {
  return {Person(v1::SUBJECT_ROLE_VICTIM, Region::kBsn, "Sanne de Vries", "1988-04-12"),
          Person(v1::SUBJECT_ROLE_CHILD, "999990020", "Mila de Vries", "2015-09-03")};
}

Status WriteHtmlValues(const std::string& dir, Region& region) {
  for (const auto& category : region.categories("politie")) {
    const std::string path = dir + "/data/" + category + "/" + Region::kBsn + ".json";
    std::ifstream in(path);
    if (!in) return NotFoundError("no data file " + path);
    nlohmann::json records = nlohmann::json::parse(in);
    for (auto& record : records) {
      for (auto& [field, value] : record.items()) {
        if (field != "interne-notitie") value = kHtmlValue;
      }
    }
    std::ofstream(path) << records.dump();
  }
  return OkStatus();
}

// A case of regisseur-01 whose police incidents are watched, and the
// signal of a new police record about S1 (its file changed).
Status WatchedCase(const std::string& dir, client::Coordinator& c) {
  KP_ASSIGN_OR_RETURN(v1::CaseResult opened, c.OpenCase("veiligheidstaxatie", Family()));
  const std::string id = opened.case_id();
  KP_RETURN_IF_ERROR(c.Admit(id, "politie").status());
  client::RequestSpec spec{id, "politie", {"politie-incidenten"}, "veiligheidstaxatie", {"S1"}, "", {}};
  spec.watch_until_ms = SystemClock::Get().NowMillis() + 30 * kDayMs;
  KP_ASSIGN_OR_RETURN(std::string watch_id, c.Watch(spec));
  KP_ASSIGN_OR_RETURN(client::Outcome started, c.AwaitOutcome(watch_id, 10'000));
  if (!started.watch_started) return InternalError("the police did not keep the watch");
  const std::string file = dir + "/data/politie-incidenten/" + Region::kBsn + ".json";
  std::filesystem::last_write_time(file, std::filesystem::file_time_type::clock::now() + std::chrono::seconds(2));
  for (int i = 0; i < 100; ++i) {
    KP_RETURN_IF_ERROR(c.Poll(100, nullptr).status());
    KP_ASSIGN_OR_RETURN(auto signals, c.store().Signals(id));
    if (!signals.empty()) return OkStatus();
  }
  return DeadlineExceededError("no signal came");
}

// A case of regisseur-01 whose police incidents were asked and answered
// (kept in the store; nothing shown yet).
Status AnsweredCase(client::Coordinator& c) {
  KP_ASSIGN_OR_RETURN(v1::CaseResult opened, c.OpenCase("veiligheidstaxatie", Family()));
  const std::string id = opened.case_id();
  KP_RETURN_IF_ERROR(c.Admit(id, "politie").status());
  KP_ASSIGN_OR_RETURN(std::string request_id,
                      c.SendRequest({id, "politie", {"politie-incidenten"}, "veiligheidstaxatie", {"S1"}, "", {}}));
  KP_ASSIGN_OR_RETURN(client::Outcome answer, c.AwaitOutcome(request_id, 10'000));
  if (answer.kind != client::Outcome::Kind::kDelivered) return InternalError("the police did not answer");
  return OkStatus();
}

Status Run(const Args& a) {
  std::filesystem::create_directories(a.dir);
  ::chmod(a.dir.c_str(), 0700);
  KP_ASSIGN_OR_RETURN(auto region, Region::Create(a.dir, SystemClock::Get(), 2));
  if (a.html_values) KP_RETURN_IF_ERROR(WriteHtmlValues(a.dir, *region));
  if (a.refuse) {
    region->SetAgentConfigHook([](const std::string& partner, agent::AgentConfig& config) {
      if (partner == "veilig-thuis") config.disabled_categories.insert("veilig-thuis-meldingen");
    });
  }
  if (a.watch) {
    region->SetAgentConfigHook([refuse = a.refuse](const std::string& partner, agent::AgentConfig& config) {
      config.watch_interval_ms = 200;
      if (refuse && partner == "veilig-thuis") config.disabled_categories.insert("veilig-thuis-meldingen");
    });
  }
  KP_RETURN_IF_ERROR(region->StartGateway());
  KP_RETURN_IF_ERROR(region->StartAllAgents());
  if (a.referral) {
    KP_ASSIGN_OR_RETURN(auto vt, region->ConnectAs(Region::kVeiligThuisCoordinator));
    KP_RETURN_IF_ERROR(vt->SendReferral({"VT-2026-0042", "veiligheidsteam", "plan-van-aanpak",
                                         {"herhaald-geweld", "kinderen-betrokken"}},
                                        Family())
                           .status());
  }
  if (a.offer) {
    KP_ASSIGN_OR_RETURN(auto other, region->Coordinator(1));
    KP_ASSIGN_OR_RETURN(v1::CaseResult opened, other->OpenCase("veiligheidstaxatie", Family()));
    KP_RETURN_IF_ERROR(other->Admit(opened.case_id(), "politie").status());
    const int64_t now = SystemClock::Get().NowMillis();
    KP_RETURN_IF_ERROR(other->OfferHandover(opened.case_id(), Region::CoordinatorId(0), "waarneming-afwezigheid",
                                            now + 7 * kDayMs, 0)
                           .status());
  }
  KP_ASSIGN_OR_RETURN(auto policy, policy::LoadPolicyFile(Region::PolicyPath(), [](std::string_view text) {
                        return HexEncode(Sha256String(text));
                      }));
  KP_ASSIGN_OR_RETURN(auto coordinator, region->Coordinator(0));
  if (a.watch) KP_RETURN_IF_ERROR(WatchedCase(a.dir, *coordinator));
  if (a.answered) KP_RETURN_IF_ERROR(AnsweredCase(*coordinator));
  console::ConsoleOptions options;
  options.port = a.port;
  options.poll_ms = 500;
  KP_ASSIGN_OR_RETURN(auto server,
                      console::ConsoleServer::Start(std::move(coordinator), policy, SystemClock::Get(), options));
  server->OnNewLoginAddress([](const std::string& address) { std::cout << "login " << address << std::endl; });
  nlohmann::json info = {{"address", server->LoginAddress()}, {"port", server->port()}, {"dir", a.dir}};
  if (!a.info.empty()) {
    std::ofstream(a.info + ".tmp") << info.dump() << "\n";
    std::filesystem::rename(a.info + ".tmp", a.info);
  }
  std::cout << info.dump() << "\n\nDe console van " << Region::CoordinatorId(0)
            << " draait. Open dit adres in uw browser (het werkt een keer):\n  " << info["address"].get<std::string>()
            << "\nStoppen: Ctrl+C." << std::endl;

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  int sig = 0;
  sigwait(&set, &sig);
  server->Stop();
  return OkStatus();
}

}  // namespace
}  // namespace kp

int main(int argc, char** argv) {
  // Block the stop signals in every thread; main waits for them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  kp::Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (arg == "--dir") a.dir = next();
    else if (arg == "--info") a.info = next();
    else if (arg == "--port") a.port = std::atoi(next().c_str());
    else if (arg == "--html-values") a.html_values = true;
    else if (arg == "--referral") a.referral = true;
    else if (arg == "--offer") a.offer = true;
    else if (arg == "--refuse") a.refuse = true;
    else if (arg == "--watch") a.watch = true;
    else if (arg == "--answered") a.answered = true;
    else {
      std::cerr << "usage: console_region --dir DIR [--port N] [--info FILE] [--html-values] [--referral] [--offer] [--refuse] [--watch] [--answered]\n";
      return arg == "--help" ? 0 : 2;
    }
  }
  if (a.dir.empty()) {
    std::cerr << "console_region: --dir DIR is required\n";
    return 2;
  }
  kp::Status s = kp::Run(a);
  if (!s.ok()) {
    std::cerr << "console_region: " << s.ToString() << "\n";
    return 1;
  }
  return 0;
}
