// How fast the console shows "Mijn casussen" with 500 cases in the store
// (issue 15: under 100 ms). A real console on loopback over a real store and
// gateway; the store is filled directly (500 cases, 5 requests and 3
// fragments each, a known status), as a year of a busy coordinator's work.
// Baselines in the same process: a static file over the same HTTP path, and
// the store's summary query alone.
//
//   KP_SOURCE_DIR=. build/tests/console/console_bench --benchmark_repetitions=5
#include <benchmark/benchmark.h>
#include <httplib.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>

#include "console/console.h"
#include "console/security.h"
#include "core/base/encoding.h"
#include "core/crypto/random.h"
#include "core/crypto/sha256.h"
#include "policy/policy_loader.h"
#include "tests/testing/region.h"

namespace kp::console {
namespace {

namespace v1 = ketenpoort::v1;
using testing::Region;

constexpr int64_t kDay = 24 * 3600 * 1000LL;

struct Setup {
  std::string dir;
  std::unique_ptr<Region> region;
  std::unique_ptr<ConsoleServer> server;
  client::CoordinatorStore* store = nullptr;  // owned by the console's coordinator
  std::unique_ptr<httplib::Client> http;
  std::string cookie;
};

Status Fill(client::CoordinatorStore& store, int cases, int64_t now) {
  KP_RETURN_IF_ERROR(store.Begin());
  for (int i = 0; i < cases; ++i) {
    client::CaseInfo c;
    c.id = "VT-2026-" + std::to_string(10000 + i);
    c.purpose = "plan-van-aanpak";
    c.phase = "stabilisatie";
    c.opened_ms = now - (i % 400) * kDay;
    c.closed = i % 10 == 0;
    KP_RETURN_IF_ERROR(store.PutCase(c));
    for (const char* p : {"politie", "veilig-thuis", "jeugdbescherming"}) KP_RETURN_IF_ERROR(store.AddPartner(c.id, p, now));
    v1::CaseStatus st;
    st.set_phase(c.phase);
    st.set_coordinator(Region::CoordinatorId(0));
    st.set_coordination_ends_ms(now + (i % 90) * kDay);
    KP_RETURN_IF_ERROR(store.PutStatus(c.id, st, now));
    for (int r = 0; r < 5; ++r) {
      client::RequestInfo req;
      req.request_id = RandomBytes(16);
      req.case_id = c.id;
      req.partner = "politie";
      req.agent = "politie-agent";
      req.categories = {"politie-incidenten"};
      req.purpose = c.purpose;
      req.sent_ms = now - r * kDay;
      req.envelope = std::string(600, 'e');
      KP_RETURN_IF_ERROR(store.AddRequest(req));
      if (r < 3) {
        client::StoredFragment f;
        f.request_id = req.request_id;
        f.case_id = c.id;
        f.source = "politie-agent";
        f.received_ms = now - r * kDay + 1000;
        f.retain_until_ms = now + (i % 60) * kDay;
        f.delivery = std::string(2000, 'd');
        KP_RETURN_IF_ERROR(store.PutFragment(f));
      }
    }
  }
  return store.Commit();
}

Setup& Shared() {
  static Setup* setup = [] {
    spdlog::set_level(spdlog::level::warn);
    auto* s = new Setup;
    s->dir = std::filesystem::temp_directory_path() / ("console_bench." + std::to_string(::getpid()));
    std::filesystem::create_directories(s->dir);
    ::chmod(s->dir.c_str(), 0700);
    auto fail = [](const Status& st) {
      std::fprintf(stderr, "console_bench: %s\n", st.ToString().c_str());
      std::exit(1);
    };
    auto region = Region::Create(s->dir, SystemClock::Get());
    if (!region.ok()) fail(region.status());
    s->region = std::move(region).value();
    if (Status st = s->region->StartGateway(); !st.ok()) fail(st);
    auto policy = policy::LoadPolicyFile(Region::PolicyPath(), [](std::string_view t) { return HexEncode(Sha256String(t)); });
    if (!policy.ok()) fail(policy.status());
    auto coordinator = s->region->Coordinator(0);
    if (!coordinator.ok()) fail(coordinator.status());
    s->store = &(*coordinator)->store();
    if (Status st = Fill(*s->store, 500, SystemClock::Get().NowMillis()); !st.ok()) fail(st);
    ConsoleOptions options;
    options.port = 0;
    options.poll_ms = 60'000;  // the poller stays out of the measurement
    auto server = ConsoleServer::Start(std::move(coordinator).value(), *policy, SystemClock::Get(), options);
    if (!server.ok()) fail(server.status());
    s->server = std::move(server).value();
    s->http = std::make_unique<httplib::Client>("127.0.0.1", s->server->port());
    const std::string address = s->server->LoginAddress();
    auto res = s->http->Get(address.substr(address.find("/start")).c_str());
    if (!res || res->status != 303) fail(InternalError("login failed"));
    const std::string set = res->get_header_value("Set-Cookie");
    s->cookie = "kp_sessie=" + SessionFromCookie(set.substr(0, set.find(';')));
    return s;
  }();
  return *setup;
}

void BM_CaseList500(benchmark::State& state) {
  Setup& s = Shared();
  size_t bytes = 0;
  for (auto _ : state) {
    auto res = s.http->Get("/", httplib::Headers{{"Cookie", s.cookie}});
    if (!res || res->status != 200) {
      state.SkipWithError("the case list did not load");
      return;
    }
    bytes = res->body.size();
  }
  state.counters["page_kib"] = static_cast<double>(bytes) / 1024;
}
BENCHMARK(BM_CaseList500)->Unit(benchmark::kMillisecond)->UseRealTime();

// Baseline: the same HTTP round trip for a static file.
void BM_StaticFile(benchmark::State& state) {
  Setup& s = Shared();
  for (auto _ : state) {
    auto res = s.http->Get("/static/console.css", httplib::Headers{{"Cookie", s.cookie}});
    benchmark::DoNotOptimize(res);
  }
}
BENCHMARK(BM_StaticFile)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace kp::console

BENCHMARK_MAIN();
