// Fuzz target for the policy loader and the test-table parser: any bytes must
// give diagnostics or a policy, never a crash, hang or leak. When a policy
// loads, a few decisions are made on it too. Seed corpus: fuzz_corpus/.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "policy/policy_loader.h"
#include "policy/policy_test_table.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  constexpr std::string_view kSha = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
  kp::policy::CompileOutput out = kp::policy::CompilePolicy(text, "fuzz.yaml", kSha);
  if (out.policy != nullptr) {
    const kp::policy::Policy& p = *out.policy;
    kp::policy::Request r;
    for (const auto& from : p.partners()) {
      for (const auto& to : p.partners()) {
        r.from = from.id;
        r.to = to.id;
        r.to_role = p.roles().empty() ? "" : std::string_view(p.roles().front().id);
        r.categories.clear();
        for (const auto& c : p.categories()) r.categories.push_back(c.id);
        r.purpose = p.purposes().empty() ? "" : std::string_view(p.purposes().front().id);
        r.phase = p.phases().empty() ? "" : std::string_view(p.phases().front().id);
        r.requester_is_member = true;
        (void)p.Decide(r);
      }
    }
    auto table = kp::policy::ParseTestTable(text, "fuzz.tests.yaml");
    if (table.ok()) (void)kp::policy::RunTestTable(p, *table);
  } else {
    (void)kp::policy::ParseTestTable(text, "fuzz.tests.yaml");
  }
  return 0;
}
