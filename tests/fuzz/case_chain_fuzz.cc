// libFuzzer target: a case's history as an untrusted party shows it — the
// agent checking the chain a gateway sent (ChainChecker), the client
// checking one it fetched (VerifyChain, no policy), and the gateway folding
// what its own database holds (FoldVerified). The input is a serialized
// CaseChain (or, when it is not one, one command). Keys and participants
// are fixed so that the seed corpus reaches the fold (referrals, handovers
// and acute cases too), and the input is also read as a REFERRAL envelope.
// Nothing here may crash.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "case/case_chain.h"
#include "case/referral.h"
#include "core/base/encoding.h"
#include "core/crypto/sha256.h"
#include "ketenpoort/v1/messages.pb.h"
#include "policy/policy_loader.h"
#include "tests/fuzz/case_chain_fuzz_seeds.h"

namespace {

const kp::policy::Policy* ExamplePolicy() {
  static const std::shared_ptr<const kp::policy::Policy> policy = [] {
    auto p = kp::policy::LoadPolicyFile(KP_EXAMPLE_POLICY,
                                        [](std::string_view t) { return kp::HexEncode(kp::Sha256String(t)); });
    return p.ok() ? *p : nullptr;
  }();
  return policy.get();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> chain;
  ketenpoort::v1::CaseChain parsed;
  if (parsed.ParseFromString(input)) {
    chain.assign(parsed.commands().begin(), parsed.commands().end());
  } else {
    chain.push_back(input);
  }
  const kp::fuzz::FuzzKeys& keys = kp::fuzz::GetFuzzKeys();
  kp::cases::FoldContext with_policy{ExamplePolicy(), kp::fuzz::FuzzParticipant};
  kp::cases::FoldContext without_policy{nullptr, kp::fuzz::FuzzParticipant};
  const std::string head = chain.empty() ? std::string(32, '\0') : kp::cases::CommandHash(chain.back());
  kp::cases::ChainChecker checker(keys.resolver, with_policy);
  auto agent = checker.Check(chain, {kp::fuzz::kFuzzCase, head, chain.size()});
  std::vector<std::string_view> views(chain.begin(), chain.end());
  (void)kp::cases::VerifyChain(keys.resolver, without_policy, views, kp::fuzz::kFuzzCase);
  auto stored = kp::cases::FoldVerified(with_policy, chain, kp::fuzz::kFuzzCase);
  // Every chain the agent accepts is one the gateway's own fold accepts too.
  if (agent.ok() && (!stored.ok() || stored->head != agent->head)) __builtin_trap();
  // The input as a referral, as the gateway reads one that arrives.
  (void)kp::cases::VerifyReferral(input, with_policy);
  return 0;
}
