// libFuzzer target: the policy bundle manifest (case/policy_bundle.h,
// docs/formats.md §5), untrusted bytes from the gateway. The input is tried
// twice: as it is (only the signature check can pass it: it must refuse),
// and as a manifest body signed here with the fuzzer's own enrolment key, so
// that the line parser behind the signature is reached. Neither may crash;
// an accepted manifest holds what the format promises (a region, a serial
// from 1, one to eight policies with strictly ascending effective-from).
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "case/policy_bundle.h"
#include "core/identity/identity.h"

namespace {

const kp::Identity& Key() {
  static const kp::Identity* id = new kp::Identity(
      kp::Identity::Generate("enrolment-fuzz", kp::ParticipantKind::kEnrolment, "", 1795357974123).value());
  return *id;
}

void Check(const kp::Result<kp::cases::PolicyManifest>& m) {
  if (!m.ok()) return;
  if (m->region.empty() || m->serial == 0 || m->policies.empty() || m->policies.size() > kp::cases::kMaxBundledPolicies) {
    __builtin_trap();
  }
  for (size_t i = 1; i < m->policies.size(); ++i) {
    if (m->policies[i - 1].effective_from_ms >= m->policies[i].effective_from_ms) __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const std::string& key = Key().signing().public_key;
  auto raw = kp::cases::VerifyPolicyManifest(text, key, nullptr);
  Check(raw);
  const std::string signed_text = kp::cases::SignPolicyManifestBody(text, Key().signing().secret_key);
  auto parsed = kp::cases::VerifyPolicyManifest(signed_text, key, nullptr);
  Check(parsed);
  if (parsed.ok()) {
    // The files it names, missing or empty: refused, never a crash.
    std::map<std::string, std::string> files;
    for (const auto& p : parsed->policies) files.emplace(p.file, "policy: {}");
    (void)kp::cases::PolicySet::FromBundle(signed_text, files, {key, nullptr, 0, ""});
  }
  return 0;
}
