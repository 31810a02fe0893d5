// How a policy category is described in an audit record: its name, its
// art. 9 / art. 10 class and its regime. Used wherever a record names the
// categories of a decision or a disclosure (gateway and agents).
// Pure function; thread-safe.
#ifndef KETENPOORT_CASE_POLICY_CATEGORY_H_
#define KETENPOORT_CASE_POLICY_CATEGORY_H_

#include <string>

#include "ketenpoort/v1/audit.pb.h"
#include "policy/policy_engine.h"

namespace kp::cases {

// Adds `category` to `record`, with its class and regime when the policy
// defines it (only the name otherwise).
void AddPolicyCategory(const policy::Policy& policy, const std::string& category,
                       ketenpoort::v1::AuditRecord* record);

}  // namespace kp::cases

#endif  // KETENPOORT_CASE_POLICY_CATEGORY_H_
