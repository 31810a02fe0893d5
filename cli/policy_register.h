// The register of processing activities (AVG art. 30; for Wpg and Wjsg data
// richtlijn (EU) 2016/680 art. 24) that a sharing policy describes:
// `ketenpoort policy register POLICY --out FILE.html` (docs/cli.md).
//
// One self-contained HTML page in Dutch (inline CSS, no scripts, no external
// assets), made from the policy alone: the controllers and their data
// protection officers per partner (the partners' `controller:` and `dpo:`),
// per purpose every disclosure the policy permits (categories with their
// fields, art. 9/10 and regime flags, the subjects, source, recipients, legal
// basis with its citation, phases, conditions, retention, the rule), the
// categories of personal data, what is never shared, the forbidden
// disclosures, the legal bases, transfers outside the EEA and the security
// measures. It says what the policy allows, not what was shared (that is
// `ketenpoort audit report`). Every string from the policy is HTML-escaped.
//
// Pure functions of their arguments; thread-safe.
#ifndef KETENPOORT_CLI_POLICY_REGISTER_H_
#define KETENPOORT_CLI_POLICY_REGISTER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "core/base/status.h"
#include "policy/policy_engine.h"

namespace kp::cli {

struct RegisterOptions {
  // Shown as the moment the register was drawn up (ms since the epoch).
  int64_t generated_at_millis = 0;
  // Only this partner's part: the disclosures it makes or receives, the
  // categories it holds or receives ("" = the whole policy). It must be a
  // partner of the policy.
  std::string partner;
  // Write the register even when a partner has no `controller:`; the page
  // then says on top that it is an incomplete draft (CONCEPT).
  bool draft = false;
};

// The ids of the partners without a `controller:` (in the policy's order);
// with `only_partner` set, only the partners that page would show.
std::vector<std::string> PartnersWithoutController(const policy::Policy& policy, const std::string& only_partner);

// The page. InvalidArgument for an unknown `options.partner`;
// FailedPrecondition, naming the partners, when a partner shown lacks its
// controller and `options.draft` is false (a register without the
// controllers is not complete, so it is not made as if it were).
Result<std::string> RenderPolicyRegister(const policy::Policy& policy, const RegisterOptions& options);

}  // namespace kp::cli

#endif  // KETENPOORT_CLI_POLICY_REGISTER_H_
