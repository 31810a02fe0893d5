// reliability_harness: issue 12's fault and load test of a whole region, as a
// program (`./run bench --reliability`), never a timed unit test.
//
// It builds a region on 127.0.0.1 (keys, signed registry, fictional data:
// tests/testing/region.h), runs the real ketenpoort-gateway and six real
// ketenpoort-agent processes (tests/testing/region_processes.h), keeps load
// on them from several coordinators (each in its own thread with its own
// client::Coordinator and its own case; about --rate requests/s in total,
// spread over six partners) and reports ONE LINE PER EXPERIMENT:
//
//   kills    kill -9 of the gateway and of the police agent at random moments
//            under load, each restarted at once; the gateway's audit log is
//            verified (core/audit, against the gateway's key) after each kill
//            of the gateway; afterwards every request must have one outcome.
//   hostile  garbage, an oversized frame, a multi-frame message, truncated
//            envelopes and an envelope signed by another participant, all
//            from an enrolled key (the privacy officer's): the gateway stays
//            up, its memory stays bounded, a normal request is still answered.
//   disk     the gateway's data folder on a small tmpfs, filled up: the
//            gateway fails closed (the coordinators hear about it; nothing is
//            lost) and serves again by itself once space is freed.
//   soak     a warm-up (the replay window and half a minute), then
//            --soak-seconds of load: resident memory of the gateway and of
//            the police agent at start, half-way and end; growth within
//            --max-growth-mb and --max-growth-percent.
//
// Counting, per experiment, over the requests sent in it (the coordinators'
// own stores are the truth, read after the load stops, a final inbox fetch
// and a grace period longer than the gateway's request expiry):
//   answered  a fragment stored;           refused  a refusal (policy, agent);
//   expired   the gateway's expiry notice; failed   the gateway's error;
//   lost      accepted by the gateway (ACCEPTED) and still without any
//             outcome (must be 0);
//   unaccepted still waiting, never acknowledged although the harness sent
//             it again every 2 s (ResendUnacknowledged) (must be 0);
//   duplicates           more than one fragment for one request (must be 0);
//   disclosed_but_expired an agent's own audit log has DELIVERED for a request
//                        whose outcome was an expiry notice (must be 0).
// These four musts hold for the load of every experiment.
// Every line is "reliability <experiment>: key=value ... result=PASS|FAIL";
// the last line is "reliability: PASS" or "reliability: FAIL <what>", and the
// exit status is 0 only when every "must" held (1 otherwise, 2 when the
// region could not be built). Logs and output carry ids and counts only.
//
// Runs as root for the tmpfs (mount(2)); every child is killed and the tmpfs
// unmounted on every exit, also on failure, on SIGINT/SIGTERM and on a crash.
//
// Usage: reliability_harness [--quick] [--soak-seconds N] [--kills N]
//          [--rate R] [--coordinators N] [--expiry-seconds S] [--seed N]
//          [--only kills,hostile,disk,soak] [--max-growth-mb M] [--keep]
// (from the source tree, or with KP_SOURCE_DIR set).
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>
#include <zmq.hpp>

#include "client/coordinator.h"
#include "core/audit/checkpoint.h"
#include "core/audit/log_reader.h"
#include "core/audit/log_verifier.h"
#include "core/crypto/random.h"
#include "core/envelope/envelope.h"
#include "core/envelope/wire_format.h"
#include "gateway/gateway.h"
#include "tests/testing/region.h"
#include "tests/testing/region_processes.h"

namespace kp {
namespace {

namespace v1 = ketenpoort::v1;
namespace fs = std::filesystem;
using client::Outcome;
using client::RequestState;
using testing::LoadPartners;
using testing::ProcessStatusKb;
using testing::Region;
using testing::RegionProcesses;
using Steady = std::chrono::steady_clock;

constexpr char kPolice[] = "politie";
constexpr char kExpiryPrefix[] = "request expired";  // the gateway's expiry notice (gateway.cc)

double Seconds(Steady::duration d) { return std::chrono::duration<double>(d).count(); }
double Mb(int64_t kb) { return kb < 0 ? -1 : static_cast<double>(kb) / 1024.0; }
void SleepMs(int64_t ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

// ------------------------------------------------------------------ flags

struct Flags {
  bool quick = false;
  int soak_seconds = 600;
  int kills = 20;     // of the gateway, and as many of the police agent
  double rate = 100;  // requests/s, all coordinators together
  int coordinators = 5;
  int expiry_seconds = 20;         // the gateway's request_expiry
  uint64_t seed = 0;               // 0: from the clock
  std::set<std::string> only;      // empty: every experiment
  double max_growth_mb = 16;       // soak: allowed growth of each process
  double max_growth_percent = 10;  // soak: and in percent of its start (issue 19)
  // soak: load before "start" is sampled; -1: the gateway's replay window
  // and half a minute (the ids it remembers fill it once, by design).
  int warmup_seconds = -1;
  double max_rss_peak_mb = 100;  // hostile: the gateway's VmHWM (issue 12: under 100 MB)
  bool keep = false;             // keep the work folder
  // Derived from --quick.
  int multi_frames = 64;
  int full_seconds = 10;  // disk: how long the load runs on a full disk
  int recovery_timeout_s = 60;

  bool Runs(const std::string& experiment) const { return only.empty() || only.count(experiment) > 0; }
};

[[noreturn]] void Usage(const std::string& problem) {
  std::fprintf(
      stderr,
      "reliability_harness: %s\nusage: reliability_harness [--quick] [--soak-seconds N] [--kills N] "
      "[--rate R] [--coordinators N] [--expiry-seconds S] [--seed N] [--only kills,hostile,disk,soak] "
      "[--max-growth-mb M] [--max-growth-percent P] [--warmup-seconds W] [--keep]\n",
      problem.c_str());
  std::exit(2);
}

Flags ParseFlags(int argc, char** argv) {
  Flags f;
  std::map<std::string, std::string> given;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick" || a == "--keep") {
      given[a] = "1";
    } else if (a.rfind("--", 0) == 0 && i + 1 < argc) {
      given[a] = argv[++i];
    } else {
      Usage("unknown or incomplete option " + a);
    }
  }
  auto num = [&](const std::string& name, double lo, double hi) -> std::optional<double> {
    auto it = given.find(name);
    if (it == given.end()) return std::nullopt;
    char* end = nullptr;
    const double v = std::strtod(it->second.c_str(), &end);
    if (end == it->second.c_str() || *end != '\0' || v < lo || v > hi) Usage("bad value for " + name);
    given.erase(it);
    return v;
  };
  if (given.erase("--quick") > 0) {
    f.quick = true;
    f.soak_seconds = 20;
    f.warmup_seconds = 5;
    f.kills = 3;
    f.expiry_seconds = 8;
    f.multi_frames = 16;
    f.full_seconds = 4;
    f.recovery_timeout_s = 12;
  }
  f.keep = given.erase("--keep") > 0;
  if (auto v = num("--soak-seconds", 5, 86400)) f.soak_seconds = static_cast<int>(*v);
  if (auto v = num("--kills", 0, 1000)) f.kills = static_cast<int>(*v);
  if (auto v = num("--rate", 1, 5000)) f.rate = *v;
  if (auto v = num("--coordinators", 1, 50)) f.coordinators = static_cast<int>(*v);
  if (auto v = num("--expiry-seconds", 2, 3600)) f.expiry_seconds = static_cast<int>(*v);
  if (auto v = num("--seed", 0, 1e15)) f.seed = static_cast<uint64_t>(*v);
  if (auto v = num("--max-growth-mb", 0, 1e6)) f.max_growth_mb = *v;
  if (auto v = num("--max-growth-percent", 0, 1e6)) f.max_growth_percent = *v;
  if (auto v = num("--warmup-seconds", 0, 86400)) f.warmup_seconds = static_cast<int>(*v);
  if (auto it = given.find("--only"); it != given.end()) {
    std::stringstream list(it->second);
    std::string e;
    while (std::getline(list, e, ',')) {
      if (e != "kills" && e != "hostile" && e != "disk" && e != "soak") Usage("unknown experiment " + e);
      f.only.insert(e);
    }
    given.erase(it);
  }
  if (!given.empty()) Usage("unknown option " + given.begin()->first);
  return f;
}

// ---------------------------------------------------- clean-up on any exit

// The tmpfs mounted by the disk experiment, for the exit and signal handlers.
char g_mount_point[512];
std::atomic<bool> g_mounted{false};

void CleanUpNow() {
  RegionProcesses::KillAllNow();
  if (g_mounted.exchange(false)) ::umount2(g_mount_point, MNT_DETACH);
}

void OnFatalSignal(int sig) {
  CleanUpNow();
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

void InstallCleanUp() {
  std::atexit(CleanUpNow);
  struct sigaction sa {};
  sa.sa_handler = OnFatalSignal;
  sigemptyset(&sa.sa_mask);
  // Also on a crash or an abort (an uncaught exception, a failed check).
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGABRT, SIGSEGV, SIGBUS}) ::sigaction(sig, &sa, nullptr);
}

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "reliability_harness: %s\n", what.c_str());
  std::fflush(stdout);
  std::exit(2);  // the atexit handler kills the children and unmounts
}

// ------------------------------------------------ accepted / resend (lead)

// The accepted/resend logic, in one place (issue 12, "accepted means
// accepted"; client/coordinator.h). `outstanding` holds this coordinator's
// requests that had no answer or refusal when last seen. This drops those
// that have an outcome by now, and sends again (Coordinator::Resend, byte for
// byte; the gateway deduplicates) every one that is still waiting, that the
// gateway has not acknowledged (ACCEPTED, RequestInfo::accepted) and that was
// first sent at least `unacked_after_ms` ago: lost in a crash before it was
// durable, or refused for now while the gateway could not write. At most
// kMaxResends per call. Returns how many it sent again. Called by every load
// thread every 2 s and during the final drain.
constexpr size_t kMaxResends = 512;
size_t ResendUnacknowledged(client::Coordinator& coordinator, std::set<std::string>* outstanding,
                            int64_t unacked_after_ms) {
  const int64_t now = SystemClock::Get().NowMillis();
  size_t resent = 0;
  for (auto it = outstanding->begin(); it != outstanding->end();) {
    auto r = coordinator.store().GetRequest(*it);
    if (!r.ok() || !r->has_value() || (*r)->state != RequestState::kPending) {
      it = outstanding->erase(it);
      continue;
    }
    const client::RequestInfo& info = **r;
    if (!info.accepted && now - info.sent_ms >= unacked_after_ms && resent < kMaxResends &&
        coordinator.Resend(info.request_id).ok()) {
      ++resent;
    }
    ++it;
  }
  return resent;
}

// ------------------------------------------------------------------- load

// What the sinks saw while the load ran (all threads); for the disk
// experiment, which must see errors while the disk is full and deliveries
// again after.
struct LiveCounts {
  std::atomic<int64_t> delivered{0}, refused{0}, expired{0}, failed{0};
  std::atomic<int64_t> send_errors{0}, poll_errors{0}, reconnects{0}, resent{0};
  std::atomic<int64_t> last_delivered_ns{0};  // steady clock
  void Count(const Outcome& o) {
    switch (o.kind) {
      case Outcome::Kind::kDelivered:
        ++delivered;
        last_delivered_ns = Steady::now().time_since_epoch().count();
        break;
      case Outcome::Kind::kRefused:
        ++(o.refusal.reason().rfind(kExpiryPrefix, 0) == 0 ? expired : refused);
        break;
      case Outcome::Kind::kError:
        ++failed;
        break;
    }
  }
};

// One coordinator: its client, its case, and (while load runs) its thread.
// Only one thread uses `client` at a time: the load thread between Start and
// Stop, the main thread otherwise.
struct LoadCoordinator {
  int index = 0;
  std::unique_ptr<client::Coordinator> client;
  std::string case_id;
  std::vector<std::string> sent;      // request ids sent in the current experiment
  std::set<std::string> outstanding;  // sent, and no answer or refusal seen yet
  std::thread thread;
};

class Load {
 public:
  Load(std::vector<LoadCoordinator>& coordinators, double rate) : coordinators_(coordinators), rate_(rate) {}
  ~Load() { Stop(); }

  void Start(LiveCounts* live) {
    stop_ = false;
    for (auto& c : coordinators_) {
      c.thread = std::thread([this, &c, live] { Run(c, *live); });
    }
  }
  void Stop() {
    stop_ = true;
    for (auto& c : coordinators_) {
      if (c.thread.joinable()) c.thread.join();
    }
  }

 private:
  void Run(LoadCoordinator& c, LiveCounts& live) {
    const double my_rate = rate_ / static_cast<double>(coordinators_.size());
    const auto start = Steady::now();
    auto last_resend = start;
    int64_t due_done = 0;
    size_t next_partner = static_cast<size_t>(c.index);
    auto sink = [&live, &c](const Outcome& o) {
      live.Count(o);
      if (o.kind != Outcome::Kind::kError) c.outstanding.erase(o.request_id);
    };
    // Bounded: the main thread stops it; a tick is 50 ms.
    while (!stop_) {
      const auto tick_end = Steady::now() + std::chrono::milliseconds(50);
      const int64_t due = static_cast<int64_t>(Seconds(Steady::now() - start) * my_rate);
      std::vector<client::RequestSpec> batch;
      for (; due_done < due && batch.size() < 32; ++due_done) {
        const auto& [partner, category] = LoadPartners()[next_partner++ % LoadPartners().size()];
        batch.push_back({c.case_id, partner, {category}, testing::kLoadPurpose, {}, ""});
      }
      due_done = std::max(due_done, due - 32);  // after a stall, do not burst without bound
      if (!batch.empty()) {
        auto ids = c.client->SendRequests(batch);
        if (ids.ok()) {
          c.sent.insert(c.sent.end(), ids->begin(), ids->end());
          c.outstanding.insert(ids->begin(), ids->end());
        } else {
          ++live.send_errors;
        }
      }
      if (Steady::now() - last_resend > std::chrono::seconds(2)) {
        last_resend = Steady::now();
        live.resent += static_cast<int64_t>(ResendUnacknowledged(*c.client, &c.outstanding, 2000));
      }
      while (!stop_ && Steady::now() < tick_end) {
        const int left = static_cast<int>(
            std::chrono::duration_cast<std::chrono::milliseconds>(tick_end - Steady::now()).count());
        auto n = c.client->Poll(std::max(left, 1), sink);
        if (!n.ok()) {
          // A refused or broken connection (e.g. during a gateway restart):
          // connect afresh.
          ++live.poll_errors;
          SleepMs(50);
          if (c.client->Connect(500).ok()) ++live.reconnects;
        }
      }
    }
  }

  std::vector<LoadCoordinator>& coordinators_;
  const double rate_;
  std::atomic<bool> stop_{false};
};

// ------------------------------------------------------------------ tally

struct Tally {
  int64_t sent = 0, answered = 0, refused = 0, expired = 0, failed = 0, lost = 0, unaccepted = 0;
  int64_t duplicates = 0, disclosed_but_expired = 0;
  std::string Line() const {
    std::ostringstream o;
    o << "sent=" << sent << " answered=" << answered << " refused=" << refused << " expired=" << expired
      << " failed=" << failed << " lost=" << lost << " unaccepted=" << unaccepted
      << " duplicates=" << duplicates << " disclosed_but_expired=" << disclosed_but_expired;
    return o.str();
  }
};

// The request ids with a DELIVERED record in the agents' own audit logs.
std::set<std::string> DisclosedByAgents(const Region& region) {
  std::set<std::string> disclosed;
  for (const auto& [partner, category] : LoadPartners()) {
    const std::string dir = agent::Agent::AuditDir(region.AgentConfigFor(partner));
    auto reader = audit::LogReader::Open(dir);
    if (!reader.ok()) {
      std::fprintf(stderr, "reliability_harness: cannot read the audit log of the %s agent: %s\n",
                   partner.c_str(), reader.status().ToString().c_str());
      continue;
    }
    Status s = (*reader)->ForEachEntry([&](const audit::LogEntry& e) {
      if (!e.erased && e.record.event() == v1::AUDIT_EVENT_DELIVERED) disclosed.insert(e.record.message_id());
      return OkStatus();
    });
    // A torn tail of a killed agent's log ends the walk; what came before counts.
    if (!s.ok())
      std::fprintf(stderr, "reliability_harness: %s agent log: %s\n", partner.c_str(), s.ToString().c_str());
  }
  return disclosed;
}

// After the load stopped: waits (bounded by `grace_ms`) until every request
// sent in this experiment has an outcome, fetching the inbox at the start and
// the end, then counts from the coordinators' stores.
Tally DrainAndCount(std::vector<LoadCoordinator>& coordinators, const Region& region, int64_t grace_ms,
                    LiveCounts& live) {
  auto sink = [&live](const Outcome& o) { live.Count(o); };
  for (auto& c : coordinators) (void)c.client->FetchInbox("");
  const auto deadline = Steady::now() + std::chrono::milliseconds(grace_ms);
  auto last_check = Steady::now() - std::chrono::seconds(10);
  while (Steady::now() < deadline) {
    for (auto& c : coordinators) {
      if (!c.client->Poll(100, sink).ok()) (void)c.client->Connect(500);
    }
    if (Steady::now() - last_check < std::chrono::seconds(2)) continue;
    last_check = Steady::now();
    size_t left = 0;
    for (auto& c : coordinators) {
      live.resent += static_cast<int64_t>(ResendUnacknowledged(*c.client, &c.outstanding, 2000));
      left += c.outstanding.size();
    }
    if (left == 0) break;
  }
  for (auto& c : coordinators) {
    (void)c.client->FetchInbox("");
    (void)c.client->Poll(300, sink);
  }

  Tally t;
  const std::set<std::string> disclosed = DisclosedByAgents(region);
  for (auto& c : coordinators) {
    std::map<std::string, int> fragments;
    if (auto f = c.client->store().Fragments(c.case_id); f.ok()) {
      for (const auto& x : *f) ++fragments[x.request_id];
    }
    for (const auto& id : c.sent) {
      ++t.sent;
      auto r = c.client->store().GetRequest(id);
      if (!r.ok() || !r->has_value()) {
        ++t.lost;  // sent, yet the store no longer knows it
        continue;
      }
      const client::RequestInfo& info = **r;
      switch (info.state) {
        case RequestState::kDelivered:
          ++t.answered;
          break;
        case RequestState::kRefused:
          if (info.refusal.rfind(kExpiryPrefix, 0) == 0) {
            ++t.expired;
            if (disclosed.count(id) > 0) ++t.disclosed_but_expired;
          } else {
            ++t.refused;
          }
          break;
        case RequestState::kFailed:
          ++t.failed;
          break;
        case RequestState::kPending:
          ++(info.accepted ? t.lost : t.unaccepted);
          break;
      }
      if (auto it = fragments.find(id); it != fragments.end() && it->second > 1) ++t.duplicates;
    }
    c.sent.clear();
    c.outstanding.clear();
  }
  return t;
}

// --------------------------------------------------------------- the region

class Harness {
 public:
  explicit Harness(const Flags& flags) : flags_(flags), rng_(flags.seed) {}
  ~Harness() {
    load_.reset();
    coordinators_.clear();
    if (processes_) processes_->StopAll(SIGKILL);
    UnmountTmpfs();
    if (!flags_.keep && !work_.empty()) {
      std::error_code ec;
      fs::remove_all(work_, ec);
    }
  }

  void Setup() {
    const char* tmp = std::getenv("TMPDIR");
    std::string templ = std::string(tmp != nullptr ? tmp : "/tmp") + "/kp-reliability-XXXXXX";
    if (::mkdtemp(templ.data()) == nullptr) Die("cannot make a work folder");
    work_ = templ;
    if (flags_.keep) std::printf("work folder (kept): %s\n", work_.c_str());
    auto r = Region::Create(work_, SystemClock::Get(), flags_.coordinators);
    if (!r.ok()) Die("cannot build the region: " + r.status().ToString());
    region_ = std::move(r).value();
    RegionProcesses::Options options;
    options.work_dir = work_;
    options.gateway_extra_yaml = "request_expiry: " + std::to_string(flags_.expiry_seconds) + "s\n";
    processes_ = std::make_unique<RegionProcesses>(*region_, options);
    std::vector<std::string> partners;
    for (const auto& [p, c] : LoadPartners()) partners.push_back(p);
    if (Status s = processes_->WriteConfigs(partners); !s.ok()) Die(s.ToString());
    disk_data_dir_ = processes_->gateway_data_dir();
    if (Status s = processes_->StartGateway(); !s.ok()) Die(s.ToString());
    for (const auto& p : partners) {
      if (Status s = processes_->StartAgent(p); !s.ok()) Die(s.ToString());
    }
    for (int i = 0; i < flags_.coordinators; ++i) {
      LoadCoordinator c;
      c.index = i;
      auto client = processes_->ConnectCoordinator(i, 30'000);
      if (!client.ok()) {
        Die("coordinator " + Region::CoordinatorId(i) + " cannot connect: " + client.status().ToString() +
            "\ngateway log:\n" + processes_->ReadLog("gateway"));
      }
      c.client = std::move(client).value();
      auto opened = testing::OpenLoadCase(*c.client);
      if (!opened.ok()) Die("cannot open a case: " + opened.status().ToString());
      c.case_id = *opened;
      coordinators_.push_back(std::move(c));
    }
    // Warm up: every agent connected and answering.
    for (const auto& [partner, category] : LoadPartners()) {
      auto o = AskOnce(partner, 20'000);
      if (!o.ok() || o->kind != Outcome::Kind::kDelivered) {
        Die("warm-up: the " + partner + " agent did not answer: " +
            (o.ok() ? o->error.ToString() + o->refusal.reason() : o.status().ToString()));
      }
    }
    load_ = std::make_unique<Load>(coordinators_, flags_.rate);
  }

  // Each experiment prints its line and adds what failed to `failures_`.
  void Kills();
  void Hostile();
  void Disk();
  void Soak();

  int Finish() {
    if (failures_.empty()) {
      std::printf("reliability: PASS\n");
      return 0;
    }
    std::string all;
    for (const auto& f : failures_) all += (all.empty() ? "" : "; ") + f;
    std::printf("reliability: FAIL %s\n", all.c_str());
    return 1;
  }

 private:
  // One request from coordinator 0 to `partner`, awaited (main thread only,
  // load stopped).
  Result<Outcome> AskOnce(const std::string& partner, int timeout_ms) {
    LoadCoordinator& c = coordinators_[0];
    std::string category;
    for (const auto& [p, cat] : LoadPartners()) {
      if (p == partner) category = cat;
    }
    KP_ASSIGN_OR_RETURN(std::string id, c.client->SendRequest(
                                            {c.case_id, partner, {category}, testing::kLoadPurpose, {}, ""}));
    return c.client->AwaitOutcome(id, timeout_ms);
  }

  int64_t GraceMs() const { return (flags_.expiry_seconds + 10) * 1000LL; }

  void Must(bool ok, const std::string& experiment, const std::string& what, bool* all_ok) {
    if (ok) return;
    failures_.push_back(experiment + ": " + what);
    *all_ok = false;
  }
  // What must hold for the load of every experiment: nothing lost or left
  // unaccepted, nothing twice, nothing disclosed and then reported expired.
  void MustLoseNothing(const Tally& t, const std::string& experiment, bool* all_ok) {
    Must(t.lost == 0, experiment, "lost=" + std::to_string(t.lost) + " (must be 0)", all_ok);
    Must(t.unaccepted == 0, experiment, "unaccepted=" + std::to_string(t.unaccepted) + " (must be 0)",
         all_ok);
    Must(t.duplicates == 0, experiment, "duplicates=" + std::to_string(t.duplicates) + " (must be 0)",
         all_ok);
    Must(t.disclosed_but_expired == 0, experiment,
         "disclosed_but_expired=" + std::to_string(t.disclosed_but_expired) + " (must be 0)", all_ok);
  }

  std::string GatewayAuditDir() const {
    gateway::GatewayConfig g = region_->gateway_config();
    g.data_dir = processes_->gateway_data_dir();
    return gateway::Gateway::AuditDir(g);
  }

  // core/audit's full verification of the gateway's log, against the
  // gateway's own signing key (pinned here, not the folder's log.vkey).
  Status VerifyGatewayLog() const {
    audit::VerifyOptions options;
    KP_ASSIGN_OR_RETURN(options.key,
                        audit::MakeVerifierKey(region_->gateway_config().log_origin,
                                               region_->identity("gateway").signing().public_key));
    audit::VerifyReport report = audit::VerifyLog(GatewayAuditDir(), options);
    return report.status;
  }

  Status RestartGateway() {
    KP_RETURN_IF_ERROR(processes_->StartGateway());
    if (!processes_->WaitForGatewayPort(20'000))
      return UnavailableError("the gateway did not listen again within 20 s");
    return OkStatus();
  }

  Status MountTmpfs(const std::string& dir, int64_t size_mb) {
    ::mkdir(dir.c_str(), 0700);
    const std::string data = "size=" + std::to_string(size_mb) + "m,mode=0700";
    if (::mount("tmpfs", dir.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, data.c_str()) != 0) {
      return PermissionDeniedError("cannot mount a tmpfs on the gateway's data folder (root needed): " +
                                   std::string(std::strerror(errno)));
    }
    std::snprintf(g_mount_point, sizeof g_mount_point, "%s", dir.c_str());
    g_mounted = true;
    return OkStatus();
  }

  void UnmountTmpfs() {
    if (!g_mounted.exchange(false)) return;
    if (::umount2(g_mount_point, 0) != 0) ::umount2(g_mount_point, MNT_DETACH);
  }

  const Flags flags_;
  std::mt19937_64 rng_;
  std::string work_;
  std::string disk_data_dir_;
  std::unique_ptr<Region> region_;
  std::unique_ptr<RegionProcesses> processes_;
  std::vector<LoadCoordinator> coordinators_;
  std::unique_ptr<Load> load_;
  std::vector<std::string> failures_;
};

// ----------------------------------------------------------- 1. kills

void Harness::Kills() {
  const auto t0 = Steady::now();
  std::vector<char> events;  // 'g' gateway, 'a' police agent
  for (int i = 0; i < flags_.kills; ++i) {
    events.push_back('g');
    events.push_back('a');
  }
  std::shuffle(events.begin(), events.end(), rng_);
  std::uniform_int_distribution<int> gap_ms(flags_.quick ? 800 : 1500, flags_.quick ? 2000 : 4000);
  LiveCounts live;
  int gateway_kills = 0, agent_kills = 0, verified = 0;
  std::string first_verify_problem;
  load_->Start(&live);
  SleepMs(1000);
  for (char e : events) {
    SleepMs(gap_ms(rng_));
    if (e == 'g') {
      processes_->StopGateway(SIGKILL);
      ++gateway_kills;
      if (Status v = VerifyGatewayLog(); v.ok()) {
        ++verified;
      } else if (first_verify_problem.empty()) {
        first_verify_problem = v.ToString();
      }
      if (Status s = RestartGateway(); !s.ok()) {
        load_->Stop();
        Die("kills: " + s.ToString() + "\ngateway log:\n" + processes_->ReadLog("gateway"));
      }
    } else {
      processes_->StopAgent(kPolice, SIGKILL);
      ++agent_kills;
      if (Status s = processes_->StartAgent(kPolice); !s.ok()) Die("kills: " + s.ToString());
    }
  }
  SleepMs(1000);
  load_->Stop();
  const Tally t = DrainAndCount(coordinators_, *region_, GraceMs(), live);
  bool ok = true;
  MustLoseNothing(t, "kills", &ok);
  Must(verified == gateway_kills, "kills",
       "log verified " + std::to_string(verified) + "/" + std::to_string(gateway_kills) + ": " +
           first_verify_problem,
       &ok);
  std::printf(
      "reliability kills: gateway_kills=%d agent_kills=%d %s log_verified=%d/%d resent=%lld send_errors=%lld "
      "reconnects=%lld seconds=%.0f result=%s\n",
      gateway_kills, agent_kills, t.Line().c_str(), verified, gateway_kills,
      static_cast<long long>(live.resent), static_cast<long long>(live.send_errors),
      static_cast<long long>(live.reconnects), Seconds(Steady::now() - t0), ok ? "PASS" : "FAIL");
  std::fflush(stdout);
}

// ----------------------------------------------------------- 2. hostile

// A raw DEALER with an enrolled participant's CURVE keys, to say what the
// client library never would. One context per use; closing waits (bounded)
// until what was queued has left.
class HostilePeer {
 public:
  HostilePeer(const Identity& me, const Identity& gateway, const std::string& endpoint) {
    socket_.set(zmq::sockopt::curve_serverkey, gateway.transport().public_key);
    socket_.set(zmq::sockopt::curve_publickey, me.transport().public_key);
    socket_.set(zmq::sockopt::curve_secretkey, me.transport().secret_key.view());
    socket_.set(zmq::sockopt::linger, 30'000);
    socket_.set(zmq::sockopt::sndtimeo, 30'000);
    socket_.set(zmq::sockopt::sndhwm, 100'000);
    socket_.connect(endpoint);
  }
  // Returns false when ZeroMQ would not take it within the send timeout.
  bool Send(std::string_view bytes) {
    return socket_.send(zmq::const_buffer(bytes.data(), bytes.size()), zmq::send_flags::none).has_value();
  }
  // `frames` frames of `chunk`, as one message, zero-copy (every frame
  // points at the same buffer, which must outlive this peer).
  bool SendMultiFrame(const std::string& chunk, int frames) {
    for (int i = 0; i < frames; ++i) {
      zmq::message_t part(const_cast<char*>(chunk.data()), chunk.size(), nullptr, nullptr);
      if (!socket_.send(part, i + 1 < frames ? zmq::send_flags::sndmore : zmq::send_flags::none))
        return false;
    }
    return true;
  }

 private:
  zmq::context_t context_{1};
  zmq::socket_t socket_{context_, zmq::socket_type::dealer};
};

void Harness::Hostile() {
  const auto t0 = Steady::now();
  const Identity& officer = region_->identity(Region::kPrivacyOfficer);  // enrolled, not under load
  const Identity& gateway = region_->identity("gateway");
  const pid_t gw = processes_->gateway_pid();
  const int64_t rss_before = ProcessStatusKb(gw, "VmRSS");
  LiveCounts live;
  load_->Start(&live);
  int sent = 0;
  const std::string chunk(wire::kMaxEnvelopeBytes, 'x');  // kept until every peer is closed
  {
    HostilePeer peer(officer, gateway, processes_->endpoint());
    for (int i = 0; i < 200; ++i) sent += peer.Send(RandomBytes(1 + i * 300));  // garbage
  }
  {
    // Truncated envelopes: every prefix length of a validly signed one, in
    // 64 steps.
    EnvelopeSigner signer(officer.id(), officer.signing().secret_key, SystemClock::Get());
    v1::Heartbeat hb;
    hb.set_sequence(1);
    auto env = signer.Sign(v1::MESSAGE_KIND_HEARTBEAT, "", "", hb.SerializeAsString());
    if (!env.ok()) Die("hostile: " + env.status().ToString());
    HostilePeer peer(officer, gateway, processes_->endpoint());
    const size_t step = std::max<size_t>(1, env->bytes.size() / 64);
    for (size_t n = 0; n < env->bytes.size(); n += step)
      sent += peer.Send(std::string_view(env->bytes).substr(0, n));
    // Forged sender: signed by a coordinator, sent on the officer's connection.
    const Identity& other = region_->identity(Region::kCoordinator);
    EnvelopeSigner forger(other.id(), other.signing().secret_key, SystemClock::Get());
    auto forged = forger.Sign(v1::MESSAGE_KIND_HEARTBEAT, "", "", hb.SerializeAsString());
    if (!forged.ok()) Die("hostile: " + forged.status().ToString());
    for (int i = 0; i < 10; ++i) sent += peer.Send(forged->bytes);
  }
  {
    HostilePeer peer(officer, gateway, processes_->endpoint());
    sent += peer.SendMultiFrame(chunk, flags_.multi_frames);  // 64 x 4 MiB (16 in --quick)
  }
  {
    HostilePeer peer(officer, gateway, processes_->endpoint());
    const std::string oversized(2 * wire::kMaxEnvelopeBytes, 'o');
    sent += peer.Send(oversized);
  }
  SleepMs(2000);  // let the gateway take in the last of it
  load_->Stop();
  const bool alive = processes_->GatewayAlive() && processes_->gateway_pid() == gw;
  const int64_t peak = ProcessStatusKb(gw, "VmHWM");
  const int64_t rss_after = ProcessStatusKb(gw, "VmRSS");
  bool answered = false;
  if (alive) {
    auto o = AskOnce(kPolice, 20'000);
    answered = o.ok() && o->kind == Outcome::Kind::kDelivered;
  }
  const Tally t = DrainAndCount(coordinators_, *region_, alive ? GraceMs() : 0, live);
  bool ok = true;
  MustLoseNothing(t, "hostile", &ok);
  Must(alive, "hostile", "the gateway died", &ok);
  Must(answered, "hostile", "a normal request was not answered afterwards", &ok);
  Must(peak >= 0 && Mb(peak) <= flags_.max_rss_peak_mb, "hostile",
       "rss_peak_mb=" + std::to_string(static_cast<int>(Mb(peak))) +
           " (must be <= " + std::to_string(static_cast<int>(flags_.max_rss_peak_mb)) + ")",
       &ok);
  std::printf(
      "reliability hostile: messages=%d multi_frame=%dx4MiB gateway_alive=%s rss_before_mb=%.1f "
      "rss_peak_mb=%.1f "
      "rss_after_mb=%.1f normal_request=%s %s seconds=%.0f result=%s\n",
      sent, flags_.multi_frames, alive ? "yes" : "no", Mb(rss_before), Mb(peak), Mb(rss_after),
      answered ? "answered" : "NOT-answered", t.Line().c_str(), Seconds(Steady::now() - t0),
      ok ? "PASS" : "FAIL");
  std::fflush(stdout);
  if (!alive) {
    // Go on with a gateway for the next experiments.
    processes_->StopGateway(SIGKILL);
    if (Status s = RestartGateway(); !s.ok()) Die("hostile: " + s.ToString());
  }
}

// -------------------------------------------------------------- 3. disk

int64_t BytesUnder(const std::string& dir) {
  int64_t total = 0;
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(dir, ec)) {
    if (e.is_regular_file(ec)) total += static_cast<int64_t>(e.file_size(ec));
  }
  return total;
}

// Fills `path`'s file system: 1 MiB writes, then 4 KiB ones, until ENOSPC
// (bounded by `max_bytes`). Returns the bytes written.
int64_t FillWithBallast(const std::string& path, int64_t max_bytes) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return 0;
  std::setvbuf(f, nullptr, _IONBF, 0);
  int64_t written = 0;
  const std::string mib(1 << 20, 'b');
  for (size_t size : {mib.size(), size_t{4096}}) {
    while (written < max_bytes) {
      const size_t n = std::fwrite(mib.data(), 1, size, f);
      written += static_cast<int64_t>(n);
      if (n < size) break;
    }
    std::clearerr(f);
  }
  std::fclose(f);
  return written;
}

void Harness::Disk() {
  const auto t0 = Steady::now();
  const std::string tmpfs_dir = work_ + "/gateway-data-tmpfs";
  // The gateway moves onto a tmpfs a little larger than its data folder.
  processes_->StopGateway(SIGKILL);
  const int64_t used_mb = BytesUnder(disk_data_dir_) / (1 << 20);
  const int64_t size_mb = used_mb + (flags_.quick ? 16 : 32);
  if (Status s = MountTmpfs(tmpfs_dir, size_mb); !s.ok()) {
    failures_.push_back("disk: not run: " + s.message());
    std::printf("reliability disk: result=FAIL not-run (%s)\n", s.message().c_str());
    if (Status r = RestartGateway(); !r.ok()) Die("disk: " + r.ToString());
    return;
  }
  std::error_code ec;
  fs::copy(disk_data_dir_, tmpfs_dir, fs::copy_options::recursive, ec);
  if (ec) Die("disk: cannot copy the gateway's data to the tmpfs: " + ec.message());
  if (Status s = processes_->SetGatewayDataDir(tmpfs_dir); !s.ok()) Die(s.ToString());
  if (Status s = RestartGateway(); !s.ok()) Die("disk: " + s.ToString());
  const pid_t gw = processes_->gateway_pid();

  LiveCounts live;
  load_->Start(&live);
  SleepMs(2000);
  const std::string ballast = tmpfs_dir + "/ballast";
  const int64_t ballast_bytes = FillWithBallast(ballast, (size_mb + 1) << 20);
  const int64_t failed_before = live.failed + live.refused, delivered_before = live.delivered;
  SleepMs(flags_.full_seconds * 1000LL);
  const int64_t errors_while_full = live.failed + live.refused - failed_before;
  const int64_t delivered_while_full = live.delivered - delivered_before;
  const bool alive_while_full = processes_->GatewayAlive();
  std::error_code rm;
  fs::remove(ballast, rm);
  const auto freed = Steady::now();
  double recovery_s = -1;
  const auto give_up = freed + std::chrono::seconds(flags_.recovery_timeout_s);
  while (Steady::now() < give_up) {
    const auto last = Steady::time_point(Steady::duration(live.last_delivered_ns.load()));
    if (last > freed) {
      recovery_s = Seconds(last - freed);
      break;
    }
    SleepMs(100);
  }
  const bool restarted = !processes_->GatewayAlive() || processes_->gateway_pid() != gw;
  load_->Stop();
  const Tally t = DrainAndCount(coordinators_, *region_, GraceMs(), live);

  // Back onto the disk for what follows: the state moves back, the tmpfs goes.
  processes_->StopGateway(SIGKILL);
  fs::remove_all(disk_data_dir_, ec);
  fs::copy(tmpfs_dir, disk_data_dir_, fs::copy_options::recursive, ec);
  UnmountTmpfs();
  if (ec) Die("disk: cannot copy the gateway's data back: " + ec.message());
  if (Status s = processes_->SetGatewayDataDir(disk_data_dir_); !s.ok()) Die(s.ToString());
  if (Status s = RestartGateway(); !s.ok()) Die("disk: " + s.ToString());

  const bool failed_closed = alive_while_full && errors_while_full > 0;
  bool ok = true;
  Must(failed_closed, "disk", "did not fail closed (no error reached a coordinator while the disk was full)",
       &ok);
  MustLoseNothing(t, "disk", &ok);
  Must(recovery_s >= 0 && !restarted, "disk",
       restarted ? std::string("the gateway restarted")
                 : "no recovery within " + std::to_string(flags_.recovery_timeout_s) + " s",
       &ok);
  std::printf(
      "reliability disk: tmpfs_mb=%lld ballast_mb=%lld full_seconds=%d errors_while_full=%lld "
      "delivered_while_full=%lld failed_closed=%s %s recovered=%s recovery_seconds=%.1f restarted=%s "
      "seconds=%.0f "
      "result=%s\n",
      static_cast<long long>(size_mb), static_cast<long long>(ballast_bytes >> 20), flags_.full_seconds,
      static_cast<long long>(errors_while_full), static_cast<long long>(delivered_while_full),
      failed_closed ? "yes" : "no", t.Line().c_str(), recovery_s >= 0 ? "yes" : "no", recovery_s,
      restarted ? "yes" : "no", Seconds(Steady::now() - t0), ok ? "PASS" : "FAIL");
  std::fflush(stdout);
}

// -------------------------------------------------------------- 4. soak

void Harness::Soak() {
  const pid_t gw = processes_->gateway_pid();
  const pid_t police = processes_->agent_pid(kPolice);
  LiveCounts live;
  load_->Start(&live);
  // "Start" is sampled after a warm-up, so that what fills once under load
  // does not count as growth: by default the gateway's replay window and
  // half a minute, since the gateway and the agents remember every message
  // id for that window (core/envelope/replay_guard.h) and their memory
  // rises until the first ids leave it. Then --soak-seconds are measured.
  const int warm_s = flags_.warmup_seconds >= 0
                         ? flags_.warmup_seconds
                         : static_cast<int>(region_->gateway_config().replay_window_ms / 1000) + 30;
  SleepMs(warm_s * 1000LL);
  const int64_t gw_start = ProcessStatusKb(gw, "VmRSS"), ag_start = ProcessStatusKb(police, "VmRSS");
  const int64_t delivered_start = live.delivered;
  // A sample half-way between start and end tells a plateau from a steady
  // climb: compare the growth of the second half with the whole.
  const auto measured_from = Steady::now();
  const auto until = measured_from + std::chrono::seconds(flags_.soak_seconds);
  const auto half = measured_from + (until - measured_from) / 2;
  while (Steady::now() < half) SleepMs(200);
  const int64_t gw_mid = ProcessStatusKb(gw, "VmRSS"), ag_mid = ProcessStatusKb(police, "VmRSS");
  while (Steady::now() < until) SleepMs(200);
  const int64_t gw_end = ProcessStatusKb(gw, "VmRSS"), ag_end = ProcessStatusKb(police, "VmRSS");
  const int64_t delivered_measured = live.delivered - delivered_start;
  load_->Stop();
  const Tally t = DrainAndCount(coordinators_, *region_, GraceMs(), live);
  const double gw_growth = Mb(gw_end) - Mb(gw_start), ag_growth = Mb(ag_end) - Mb(ag_start);
  const double gw_percent = 100 * gw_growth / Mb(gw_start), ag_percent = 100 * ag_growth / Mb(ag_start);
  bool ok = true;
  Must(gw_end > 0 && ag_end > 0, "soak", "the gateway or the police agent died", &ok);
  MustLoseNothing(t, "soak", &ok);
  Must(gw_growth <= flags_.max_growth_mb && ag_growth <= flags_.max_growth_mb, "soak",
       "memory grew more than " + std::to_string(static_cast<int>(flags_.max_growth_mb)) + " MB", &ok);
  Must(gw_percent <= flags_.max_growth_percent && ag_percent <= flags_.max_growth_percent, "soak",
       "memory grew more than " + std::to_string(static_cast<int>(flags_.max_growth_percent)) + " %", &ok);
  std::printf(
      "reliability soak: warmup_seconds=%d seconds=%d rate=%.0f %s gateway_rss_mb=%.1f->%.1f->%.1f "
      "growth_mb=%+.1f "
      "growth_percent=%+.1f second_half_mb=%+.1f agent_rss_mb=%.1f->%.1f->%.1f growth_mb=%+.1f "
      "growth_percent=%+.1f "
      "second_half_mb=%+.1f answered_while_measured=%lld result=%s\n",
      warm_s, flags_.soak_seconds, flags_.rate, t.Line().c_str(), Mb(gw_start), Mb(gw_mid), Mb(gw_end),
      gw_growth, gw_percent, Mb(gw_end) - Mb(gw_mid), Mb(ag_start), Mb(ag_mid), Mb(ag_end), ag_growth,
      ag_percent, Mb(ag_end) - Mb(ag_mid), static_cast<long long>(delivered_measured), ok ? "PASS" : "FAIL");
  std::fflush(stdout);
}

int Main(int argc, char** argv) {
  Flags flags = ParseFlags(argc, argv);
  if (flags.seed == 0) flags.seed = static_cast<uint64_t>(Steady::now().time_since_epoch().count());
  InstallCleanUp();
  InitCrypto();
  spdlog::set_level(spdlog::level::err);  // the client's own lines; ids only, but not needed here
  std::printf(
      "Ketenpoort reliability harness: %d coordinators, %.0f requests/s, request_expiry %d s, %d+%d kills, "
      "soak %d s, "
      "seed %llu%s\n",
      flags.coordinators, flags.rate, flags.expiry_seconds, flags.kills, flags.kills, flags.soak_seconds,
      static_cast<unsigned long long>(flags.seed), flags.quick ? " (quick)" : "");
  std::fflush(stdout);
  int rc = 0;
  {
    Harness h(flags);
    h.Setup();
    if (flags.Runs("kills")) h.Kills();
    if (flags.Runs("hostile")) h.Hostile();
    if (flags.Runs("disk")) h.Disk();
    if (flags.Runs("soak")) h.Soak();
    rc = h.Finish();
  }
  return rc;
}

}  // namespace
}  // namespace kp

int main(int argc, char** argv) { return kp::Main(argc, argv); }
