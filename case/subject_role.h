// The protocol's subject roles (ketenpoort.v1.SubjectRole) and their ids
// ("victim", "child", "suspected-perpetrator", "housemate", "parent"): the one
// place that maps one to the other, for the policy (its `subject_roles:`),
// connectors (SubjectQuery.role), CLIs and forms. The ids themselves are
// policy::kSubjectRoleIds; SubjectRole i + 1 is id i. Pure functions;
// thread-safe.
#ifndef KETENPOORT_CASE_SUBJECT_ROLE_H_
#define KETENPOORT_CASE_SUBJECT_ROLE_H_

#include <array>
#include <string_view>

#include "ketenpoort/v1/messages.pb.h"
#include "policy/policy_engine.h"

namespace kp::cases {

// The id of `role`; empty for SUBJECT_ROLE_UNSPECIFIED or a value this build
// does not know.
std::string_view SubjectRoleId(ketenpoort::v1::SubjectRole role);

// The role whose id is `id`; SUBJECT_ROLE_UNSPECIFIED when `id` is none.
ketenpoort::v1::SubjectRole SubjectRoleFromId(std::string_view id);

// Every known role, in the protocol's order (for a form's choices).
std::array<ketenpoort::v1::SubjectRole, policy::kSubjectRoleCount> SubjectRoles();

}  // namespace kp::cases

#endif  // KETENPOORT_CASE_SUBJECT_ROLE_H_
