// A region's years on one machine (issue 19, "Scale"): a program, not a test
// (built with -DKP_BENCH=ON; `./run bench` runs it).
//
// Builds, without the network, the state of a gateway that has run a year:
// 10,000 open cases in its case database — each opened by the casusregisseur
// with 1-3 subjects committed (and their pseudonyms) and 1-3 partners
// admitted, every command a signed envelope stored by the gateway's own
// CaseStore as the gateway stores it (checked with the case library's
// Apply) — and an audit log of 1,000,000 records (tests/audit/bench_log.h:
// the same 10,000 cases and their exchanges), handed over to the gateway's
// own key. Then, with the real ketenpoort-gateway and ketenpoort-agent
// processes (tests/testing/region_processes.h), it measures:
//
//  * the gateway's start-up time on that state: until its port accepts, and
//    until its management /status answers;
//  * the gateway's resident memory (VmRSS, VmHWM from /proc) after start-up
//    and after a burst of exchanges through six agents, and the agents';
//  * what the privacy officer's commands call on that log: full
//    verification (records/s), a case report, a partner report over the
//    year, and an art. 15 subject lookup.
//
// Goals (issue 19): gateway RSS < 100 MB, agent < 20 MB, start-up < 1 s,
// verification >= 1,000,000 records/s. One line per goal, in exchange_bench's
// form: "target NAME: VALUE (BOUND) met|NOT met".
//
// The log is kept between runs in KP_BENCH_STATE_DIR (default: built in a
// temporary folder each run, about 20 s); KP_BENCH_RECORDS and
// KP_BENCH_CASES change the sizes, KP_BENCH_BURST the exchanges of the
// burst (default 2000). Google Benchmark flags (`./run bench` passes them)
// are accepted and ignored: every figure here is measured once.
#include <httplib.h>
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "case/case_chain.h"
#include "case/case_facts.h"
#include "case/commitment.h"
#include "case/pseudonym.h"
#include "core/audit/log_reader.h"
#include "core/audit/log_verifier.h"
#include "core/audit/log_writer.h"
#include "core/audit/report.h"
#include "core/audit/subject_report.h"
#include "core/base/clock.h"
#include "core/base/encoding.h"
#include "core/base/file_util.h"
#include "core/crypto/sha256.h"
#include "core/envelope/envelope.h"
#include "core/identity/registry.h"
#include "gateway/case_store.h"
#include "gateway/startup.h"
#include "policy/policy_loader.h"
#include "tests/audit/audit_test_util.h"
#include "tests/audit/bench_log.h"
#include "tests/testing/region.h"
#include "tests/testing/region_processes.h"
#include "tests/testing/status_matchers.h"

namespace kp {
namespace {

namespace v1 = ketenpoort::v1;
using SteadyClock = std::chrono::steady_clock;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "scale_bench: %s\n", what.c_str());
  testing::RegionProcesses::KillAllNow();
  std::exit(1);
}

template <typename T>
T Must(Result<T> r, const std::string& what) {
  if (!r.ok()) Die(what + ": " + r.status().ToString());
  return std::move(r).value();
}

void Must(const Status& s, const std::string& what) {
  if (!s.ok()) Die(what + ": " + s.ToString());
}

double Seconds(SteadyClock::time_point since) {
  return std::chrono::duration<double>(SteadyClock::now() - since).count();
}

uint64_t EnvNumber(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::strtoull(v, nullptr, 10) : fallback;
}

double Mb(int64_t kb) { return static_cast<double>(kb) / 1024.0; }

void Goal(const char* name, double value, const char* op, double goal) {
  const bool met = std::string(op) == "<" ? value < goal : value >= goal;
  std::printf("target %s: %.2f (%s %.2f) %s\n", name, value, op, goal, met ? "met" : "NOT met");
}

// The log of `records` records, kept in `cache` (built there when missing),
// signed with the fixed test key under the region's log origin.
std::string CachedLog(const std::string& cache, const std::string& origin,
                      const std::vector<testing::BenchCase>& cases, uint64_t records) {
  const std::string dir = cache + "/log-" + std::to_string(cases.size()) + "-" + std::to_string(records);
  const std::string marker = dir + ".built";
  if (std::filesystem::exists(marker)) {
    std::printf("log: reusing %s\n", dir.c_str());
    return dir;
  }
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(cache);
  const auto t0 = SteadyClock::now();
  const uint64_t n = Must(testing::BuildBenchLog(dir, audit::testing::TestSigner(7, origin), cases, records),
                          "building the log");
  std::printf("log: built %llu records in %s in %.1f s\n", static_cast<unsigned long long>(n), dir.c_str(),
              Seconds(t0));
  Must(WriteFileDurable(marker, std::to_string(n), 0600, WriteMode::kReplace), "marker");
  return dir;
}

// The cached log copied into the gateway's data folder and handed over from
// the test key to the gateway's own key (a key handover the verifier checks).
void InstallLog(const std::string& from, const std::string& audit_dir, const Identity& gateway,
                const std::string& origin) {
  std::filesystem::copy(from, audit_dir, std::filesystem::copy_options::recursive);
  auto signer = Must(
      audit::LogSigner::Create(origin, gateway.signing().public_key, gateway.signing().secret_key.Clone()),
      "gateway log signer");
  audit::LogWriterOptions opts;
  opts.previous_signers.push_back(
      std::make_shared<const audit::LogSigner>(audit::testing::TestSigner(7, origin)));
  auto w = Must(audit::LogWriter::Open(audit_dir, std::move(signer), opts), "handing the log over");
  Must(w->Close(), "closing the log");
}

// The cases as the gateway stores them: every command a signed envelope of
// the coordinator, applied with the case library, then OpenCase /
// AppendCommand in the case store, in one batch.
void WriteCases(const testing::Region& region, const std::string& db_path,
                const std::vector<testing::BenchCase>& cases) {
  const auto policy =
      Must(policy::LoadPolicyFile(testing::Region::PolicyPath(),
                                  [](std::string_view t) { return HexEncode(Sha256String(t)); }),
           "policy");
  const Identity& enrolment = region.identity("enrolment-hvb");
  const Registry registry =
      Must(Registry::Load(region.registry_dir(), enrolment.signing().public_key), "registry");
  const cases::FoldContext ctx = cases::FoldContext::Of(policy.get(), registry);
  const Identity& me = region.identity(testing::Region::kCoordinator);
  const SystemClock& clock = SystemClock::Get();
  EnvelopeSigner signer(me.id(), me.signing().secret_key, clock);
  auto store = Must(gateway::CaseStore::Open(db_path), "case store");
  const std::vector<std::pair<std::string, std::string>>& partners = testing::LoadPartners();
  Must(store->BeginBatch(), "batch");
  for (size_t i = 0; i < cases.size(); ++i) {
    const testing::BenchCase& bc = cases[i];
    cases::CaseFacts facts;
    std::string case_id;
    auto apply = [&](v1::CaseCommand cmd) {
      cmd.set_sequence(facts.length);
      cmd.set_previous(facts.head);
      SignedMessage m =
          Must(signer.Sign(v1::MESSAGE_KIND_CASE_COMMAND, "", "", cmd.SerializeAsString()), "sign");
      cases::ChainCommand c = Must(cases::ParseVerifiedCommand(m.bytes), "parse");
      Must(cases::Apply(ctx, c, case_id, &facts), "apply");
      if (cmd.has_open()) {
        auto opened = Must(store->OpenCase(cmd.open().purpose(), me.id(), facts.phase,
                                           std::stoi(bc.id.substr(3, 4)), clock.NowMillis()),
                           "open case");
        case_id = opened.id;
        facts.case_id = case_id;
      }
      Must(store->AppendCommand(case_id, cmd.sequence(), c.hash, m.bytes), "append command");
    };
    v1::CaseCommand open;
    open.mutable_open()->set_purpose(testing::kLoadPurpose);
    for (int s = 0; s < bc.refs.size(); ++s) {
      v1::Subject subject = bc.subjects[static_cast<size_t>(s)];
      subject.set_salt(cases::NewSubjectSalt());
      v1::SubjectRef* ref = open.mutable_open()->add_subjects();
      *ref = bc.refs[s];
      ref->set_commitment(Must(cases::SubjectCommitment(subject), "commitment"));
    }
    apply(open);
    if (case_id != bc.id) Die("the case store numbered " + case_id + ", the log says " + bc.id);
    for (size_t k = 0; k < 1 + i % 3; ++k) {
      v1::CaseCommand admit;
      admit.set_case_id(case_id);
      admit.mutable_admit()->set_partner(partners[(i + k) % partners.size()].first);
      apply(admit);
    }
  }
  Must(store->CommitBatch(), "commit");
}

bool StatusAnswers(const std::string& endpoint) {
  const size_t colon = endpoint.rfind(':');
  httplib::Client cli(endpoint.substr(0, colon), std::stoi(endpoint.substr(colon + 1)));
  cli.set_connection_timeout(0, 200'000);
  auto res = cli.Get("/status");
  return res && res->status == 200;
}

// RssAnon is the process's own memory (heap, stacks); the rest of VmRSS is
// mapped files, mostly the shared libraries' pages.
struct Memory {
  int64_t rss_kb = 0, hwm_kb = 0, anon_kb = 0;
};
Memory MemoryOf(pid_t pid) {
  return {testing::ProcessStatusKb(pid, "VmRSS"), testing::ProcessStatusKb(pid, "VmHWM"),
          testing::ProcessStatusKb(pid, "RssAnon")};
}

int Main() {
  const int n_cases = static_cast<int>(EnvNumber("KP_BENCH_CASES", 10'000));
  const uint64_t n_records = EnvNumber("KP_BENCH_RECORDS", 1'000'000);
  const int burst = static_cast<int>(EnvNumber("KP_BENCH_BURST", 2000));
  testing::TempDir work;
  std::string cache = work.path() + "/cache";
  if (const char* d = std::getenv("KP_BENCH_STATE_DIR"); d != nullptr && *d != '\0') cache = d;

  auto region = Must(testing::Region::Create(work.path() + "/region", SystemClock::Get()), "region");
  const std::string origin = region->gateway_config().log_origin;
  const std::vector<testing::BenchCase> cases = testing::MakeBenchCases(n_cases);
  const std::string kept_log = CachedLog(cache, origin, cases, n_records);

  testing::RegionProcesses::Options options;
  options.work_dir = work.path();
  options.management = true;
  testing::RegionProcesses processes(*region, options);
  std::vector<std::string> partners;
  for (const auto& [p, c] : testing::LoadPartners()) partners.push_back(p);
  Must(processes.WriteConfigs(partners), "configs");

  // The gateway's data folder: the log and the case database.
  const std::string data = processes.gateway_data_dir();
  const std::string audit_dir = data + "/audit";
  std::filesystem::create_directories(data);
  ::chmod(data.c_str(), 0700);
  auto t0 = SteadyClock::now();
  InstallLog(kept_log, audit_dir, region->identity("gateway"), origin);
  std::printf("state: log copied and handed over to the gateway's key in %.1f s\n", Seconds(t0));
  t0 = SteadyClock::now();
  WriteCases(*region, data + "/cases.db", cases);
  std::printf("state: %d cases written (signed, applied, stored) in %.1f s; cases.db %.1f MB\n", n_cases,
              Seconds(t0), static_cast<double>(std::filesystem::file_size(data + "/cases.db")) / 1e6);

  // Start-up.
  const std::string management = processes.ManagementEndpoint("gateway");
  t0 = SteadyClock::now();
  Must(processes.StartGateway(), "start the gateway");
  if (!processes.WaitForGatewayPort(60'000))
    Die("the gateway's port did not open:\n" + processes.ReadLog("gateway"));
  const double port_s = Seconds(t0);
  while (!StatusAnswers(management)) {
    if (!processes.GatewayAlive()) Die("the gateway ended:\n" + processes.ReadLog("gateway"));
    if (Seconds(t0) > 60) Die("no /status from the gateway within 60 s");
  }
  const double status_s = Seconds(t0);
  const pid_t gw = processes.gateway_pid();
  const Memory gw_start = MemoryOf(gw);
  std::printf("gateway start-up: port accepts after %.3f s, /status answers after %.3f s\n", port_s,
              status_s);
  std::printf("gateway memory after start-up: VmRSS %.1f MB (RssAnon %.1f MB), VmHWM %.1f MB\n",
              Mb(gw_start.rss_kb), Mb(gw_start.anon_kb), Mb(gw_start.hwm_kb));

  // Under load: six agents, a burst of exchanges, 64 in flight.
  for (const auto& p : partners) Must(processes.StartAgent(p), "start agent " + p);
  auto coordinator = Must(processes.ConnectCoordinator(0, 30'000), "coordinator");
  const std::string case_id = Must(testing::OpenLoadCase(*coordinator), "open the load case");
  t0 = SteadyClock::now();
  int sent = 0, done = 0, failed = 0;
  std::map<std::string, bool> waiting;
  auto on_outcome = [&](const client::Outcome& o) {
    if (waiting.erase(o.request_id) == 0) return;
    ++done;
    if (o.kind != client::Outcome::Kind::kDelivered) ++failed;
  };
  while (done < burst) {
    std::vector<client::RequestSpec> batch;
    while (static_cast<int>(waiting.size() + batch.size()) < 64 && sent < burst) {
      const auto& [p, category] = testing::LoadPartners()[static_cast<size_t>(sent) % partners.size()];
      batch.push_back({case_id, p, {category}, testing::kLoadPurpose, {}, ""});
      ++sent;
    }
    if (!batch.empty()) {
      for (const auto& id : Must(coordinator->SendRequests(batch), "requests")) waiting[id] = true;
    }
    const int n = Must(coordinator->Poll(5000, on_outcome, true), "poll");
    if (n == 0) Die("no answer within 5 s (" + std::to_string(waiting.size()) + " waiting)");
  }
  const double burst_s = Seconds(t0);
  const Memory gw_load = MemoryOf(gw);
  Memory agent_max;
  std::string agent_max_name;
  for (const auto& p : partners) {
    const Memory m = MemoryOf(processes.agent_pid(p));
    if (m.hwm_kb > agent_max.hwm_kb) agent_max = m, agent_max_name = p;
  }
  std::printf("burst: %d exchanges (64 in flight) in %.1f s, %d not delivered\n", burst, burst_s, failed);
  std::printf("gateway memory after the burst: VmRSS %.1f MB (RssAnon %.1f MB), VmHWM %.1f MB\n",
              Mb(gw_load.rss_kb), Mb(gw_load.anon_kb), Mb(gw_load.hwm_kb));
  std::printf("largest agent (%s) after the burst: VmRSS %.1f MB (RssAnon %.1f MB), VmHWM %.1f MB\n",
              agent_max_name.c_str(), Mb(agent_max.rss_kb), Mb(agent_max.anon_kb), Mb(agent_max.hwm_kb));
  coordinator.reset();
  processes.StopAll(SIGTERM);

  // The privacy officer's commands on the gateway's log (library calls).
  t0 = SteadyClock::now();
  audit::VerifyReport rep = audit::VerifyLog(audit_dir, {});
  const double verify_s = Seconds(t0);
  if (!rep.status.ok()) Die("verification: " + rep.status.ToString());
  const double per_s = static_cast<double>(rep.records) / verify_s;
  std::printf("audit verify: %llu records (%llu key handover) in %.2f s: %.0f records/s\n",
              static_cast<unsigned long long>(rep.records),
              static_cast<unsigned long long>(rep.key_handovers), verify_s, per_s);
  auto reader = Must(audit::LogReader::Open(audit_dir), "reader");
  audit::ReportOptions o;
  o.case_id = cases[cases.size() / 2].id;
  o.generated_at_millis = testing::kBenchLogStartMs;
  t0 = SteadyClock::now();
  const size_t case_html = Must(audit::RenderHtmlReport(*reader, rep, o), "case report").size();
  std::printf("audit report --case %s (after verify): %.2f s, %zu bytes of HTML\n", o.case_id.c_str(),
              Seconds(t0), case_html);
  o.case_id.clear();
  o.partner = testing::kBenchReportPartner;
  o.from_millis = testing::kBenchLogStartMs;
  o.to_millis = testing::kBenchLogStartMs + 365LL * 86'400'000;
  t0 = SteadyClock::now();
  const size_t partner_html = Must(audit::RenderHtmlReport(*reader, rep, o), "partner report").size();
  std::printf(
      "audit report --partner %s --from 2026-01-01 --to 2026-12-31 (after verify): %.2f s, %zu bytes\n",
      o.partner.c_str(), Seconds(t0), partner_html);
  audit::SubjectQuery q;
  const cases::PseudonymKey key = testing::BenchPseudonymKey();
  v1::Subject person;
  person.set_bsn(testing::kBenchPersonBsn);
  for (const auto& p : cases::SubjectPseudonyms(key, person))
    q.lookup_keys.insert(cases::PseudonymLookupKey(p));
  q.key_ids = {key.id};
  t0 = SteadyClock::now();
  auto found = Must(audit::FindSubjectRecords({{audit_dir, {}}}, q), "subject lookup");
  const size_t answer =
      audit::RenderSubjectAnswer(found, {.generated_at_millis = testing::kBenchLogStartMs}).size();
  std::printf("audit subject --bsn (verify and scan, draft): %.2f s, %zu records found, %zu bytes\n",
              Seconds(t0), found.hits.size(), answer);

  std::printf("\n");
  Goal("gateway-start-up-s", status_s, "<", 1.0);
  Goal("gateway-rss-after-burst-mb", Mb(gw_load.hwm_kb), "<", 100);
  Goal("agent-rss-after-burst-mb", Mb(agent_max.hwm_kb), "<", 20);
  Goal("audit-verify-million-records-per-s", per_s / 1e6, ">=", 1.0);
  return 0;
}

}  // namespace
}  // namespace kp

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--benchmark_", 0) != 0) {
      std::fprintf(stderr,
                   "scale_bench: unknown option %s (environment: KP_BENCH_STATE_DIR, KP_BENCH_RECORDS, "
                   "KP_BENCH_CASES, KP_BENCH_BURST)\n",
                   a.c_str());
      return 2;
    }
  }
  return kp::Main();
}
