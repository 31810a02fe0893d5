// The bridge from the sharing policy to audit records: how a policy category
// is described in the log (its name, art. 9 / art. 10 class and regime).
// Its own small library (kp_audit_policy), so that kp_audit stays free of the
// policy and kp_policy free of the log; the gateway and the agents both use it.
// Pure function; thread-safe.
#ifndef KETENPOORT_CORE_AUDIT_POLICY_CATEGORY_H_
#define KETENPOORT_CORE_AUDIT_POLICY_CATEGORY_H_

#include <string>

#include "ketenpoort/v1/audit.pb.h"
#include "policy/policy_engine.h"

namespace kp::audit {

// Adds `category` to `record`, with its class and regime when the policy
// defines it (only the name otherwise).
void AddPolicyCategory(const policy::Policy& policy, const std::string& category,
                       ketenpoort::v1::AuditRecord* record);

}  // namespace kp::audit

#endif  // KETENPOORT_CORE_AUDIT_POLICY_CATEGORY_H_
