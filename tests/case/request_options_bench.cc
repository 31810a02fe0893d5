// WhatMayBeAsked on the example policy, for a case of 5 subjects: the work
// behind one view of the console's "Informatie opvragen" screen. A program,
// not a test (DESIGN.md §6). Run from the source root:
//   build/tests/case/request_options_bench --benchmark_repetitions=5
//       --benchmark_report_aggregates_only=true
// The facts are built by hand (a CaseFacts is a value): the fold is not what
// is measured here.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>

#include "case/request_options.h"
#include "policy/policy_loader.h"

namespace {

namespace v1 = ketenpoort::v1;
constexpr int64_t kNow = 1795357974123;
constexpr int64_t kDay = 86'400'000;
constexpr std::string_view kSha = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

std::shared_ptr<const kp::policy::Policy> ExamplePolicy() {
  static std::shared_ptr<const kp::policy::Policy> policy = [] {
    const char* root = std::getenv("KP_SOURCE_DIR");
    auto loaded = kp::policy::LoadPolicyFile(
        std::string(root ? root : ".") + "/policy/examples/veiligheidsteam-hvb.yaml",
        [](std::string_view) { return std::string(kSha); });
    if (!loaded.ok()) {
      std::fprintf(stderr, "%s\n(run from the source root or set KP_SOURCE_DIR)\n",
                   loaded.status().ToString().c_str());
      std::exit(1);
    }
    return *loaded;
  }();
  return policy;
}

// A case of regisseur-01 in `phase` with 5 subjects, `partners` admitted,
// consent of the first subject for plan-van-aanpak.
kp::cases::CaseFacts Case(const std::string& phase, const std::vector<std::string>& partners) {
  kp::cases::CaseFacts f;
  f.case_id = "VT-2026-0042";
  f.purpose = "plan-van-aanpak";
  f.coordinator = "regisseur-01";
  f.phase = phase;
  f.opened_ms = kNow - kDay;
  for (const auto& p : partners) f.members[p] = kNow - kDay;
  const v1::SubjectRole roles[] = {v1::SUBJECT_ROLE_VICTIM, v1::SUBJECT_ROLE_CHILD, v1::SUBJECT_ROLE_CHILD,
                                   v1::SUBJECT_ROLE_SUSPECTED_PERPETRATOR, v1::SUBJECT_ROLE_HOUSEMATE};
  for (int i = 0; i < 5; ++i)
    f.subjects.push_back({"S" + std::to_string(i + 1), roles[i], std::string(32, 'c')});
  f.consents[{"S1", "plan-van-aanpak"}].valid_until_ms = kNow + 30 * kDay;
  return f;
}

kp::RegistryEntry Regisseur() {
  kp::RegistryEntry e;
  e.card.id = "regisseur-01";
  e.card.kind = kp::ParticipantKind::kCoordinator;
  e.card.partner = "veiligheidsteam";
  e.role = "casusregisseur";
  return e;
}

void Run(benchmark::State& state, const std::string& phase, const std::vector<std::string>& partners,
         const std::string& purpose) {
  auto policy = ExamplePolicy();
  const kp::cases::CaseFacts facts = Case(phase, partners);
  const kp::RegistryEntry asker = Regisseur();
  size_t options = 0;
  for (auto _ : state) {
    auto r = kp::cases::WhatMayBeAsked(*policy, facts, "regisseur-01", asker, purpose, {}, false, kNow);
    if (!r.ok()) {
      state.SkipWithError(r.status().ToString().c_str());
      return;
    }
    options = r->size();
    benchmark::DoNotOptimize(r);
  }
  state.counters["options"] = static_cast<double>(options);
}

const std::vector<std::string> kThree = {"politie", "ggz", "veilig-thuis"};
const std::vector<std::string> kAll = {"politie",  "om",      "rvdk",          "reclassering",
                                       "ggz",      "novadic", "veilig-thuis",  "jeugdbescherming",
                                       "gemeente", "cit",     "spoedplein-etz"};

void BM_ThreePartnersStable(benchmark::State& s) { Run(s, "stabiele-veiligheid", kThree, "plan-van-aanpak"); }
void BM_AllPartnersStable(benchmark::State& s) { Run(s, "stabiele-veiligheid", kAll, "plan-van-aanpak"); }
void BM_AllPartnersAcute(benchmark::State& s) { Run(s, "acute-veiligheid", kAll, "acuut-gevaar-afwenden"); }

BENCHMARK(BM_ThreePartnersStable)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_AllPartnersStable)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_AllPartnersAcute)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
