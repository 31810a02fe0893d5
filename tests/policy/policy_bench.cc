// Decision evaluation on the example policy of the Veiligheidsteam Hart van
// Brabant. A program, not a test (DESIGN.md §6). Run from the source root:
//   build/tests/policy/policy_bench --benchmark_repetitions=5
//       --benchmark_report_aggregates_only=true
// items_per_second is decisions per second on one core.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>

#include "policy/policy_loader.h"

namespace {

constexpr std::string_view kSha = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

std::shared_ptr<const kp::policy::Policy> ExamplePolicy() {
  static std::shared_ptr<const kp::policy::Policy> policy = [] {
    const char* root = std::getenv("KP_SOURCE_DIR");
    std::ifstream in(std::string(root ? root : ".") + "/policy/examples/veiligheidsteam-hvb.yaml");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto loaded = kp::policy::LoadPolicy(text, "veiligheidsteam-hvb.yaml", kSha);
    if (!loaded.ok()) {
      std::fprintf(stderr, "%s\n(run from the source root or set KP_SOURCE_DIR)\n",
                   loaded.status().ToString().c_str());
      std::exit(1);
    }
    return *loaded;
  }();
  return policy;
}

kp::policy::Request Base() {
  kp::policy::Request r;
  r.to = "veiligheidsteam";
  r.to_role = "casusregisseur";
  r.requester_is_member = true;
  r.phase = "stabiele-veiligheid";
  r.purpose = "plan-van-aanpak";
  return r;
}

void Run(benchmark::State& state, const kp::policy::Request& request, kp::policy::Effect expected) {
  auto policy = ExamplePolicy();
  if (policy->Decide(request).effect != expected) {
    state.SkipWithError("unexpected decision");
    return;
  }
  for (auto _ : state) {
    kp::policy::Decision d = policy->Decide(request);
    benchmark::DoNotOptimize(d);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_PermitOneCategory(benchmark::State& state) {
  auto r = Base();
  r.from = "politie";
  r.categories = {"politie-incidenten"};
  Run(state, r, kp::policy::Effect::kPermit);
}
BENCHMARK(BM_PermitOneCategory);

void BM_PermitTwoCategories(benchmark::State& state) {
  auto r = Base();
  r.from = "om";
  r.categories = {"om-vervolgingsbeslissingen", "om-voorwaarden"};
  Run(state, r, kp::policy::Effect::kPermit);
}
BENCHMARK(BM_PermitTwoCategories);

void BM_DenyNoConsent(benchmark::State& state) {
  auto r = Base();
  r.from = "ggz";
  r.categories = {"ggz-in-zorg"};
  Run(state, r, kp::policy::Effect::kDeny);
}
BENCHMARK(BM_DenyNoConsent);

void BM_DenyForbidden(benchmark::State& state) {
  auto r = Base();
  r.from = "ggz";
  r.categories = {"ggz-behandeldossier"};
  Run(state, r, kp::policy::Effect::kDeny);
}
BENCHMARK(BM_DenyForbidden);

void BM_DenyNoRule(benchmark::State& state) {
  auto r = Base();
  r.from = "gemeente";
  r.phase = "acute-veiligheid";
  r.categories = {"gemeente-ondersteuning"};
  Run(state, r, kp::policy::Effect::kDeny);
}
BENCHMARK(BM_DenyNoRule);

}  // namespace

BENCHMARK_MAIN();
