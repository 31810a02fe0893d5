#include "case/subject_role.h"

namespace kp::cases {

namespace v1 = ketenpoort::v1;

std::string_view SubjectRoleId(v1::SubjectRole role) {
  const int i = static_cast<int>(role) - 1;
  if (i < 0 || i >= policy::kSubjectRoleCount) return {};
  return policy::kSubjectRoleIds[i];
}

v1::SubjectRole SubjectRoleFromId(std::string_view id) {
  const int i = policy::SubjectRoleIndex(id);
  if (i < 0) return v1::SUBJECT_ROLE_UNSPECIFIED;
  return static_cast<v1::SubjectRole>(i + 1);
}

std::array<v1::SubjectRole, policy::kSubjectRoleCount> SubjectRoles() {
  std::array<v1::SubjectRole, policy::kSubjectRoleCount> roles{};
  for (int i = 0; i < policy::kSubjectRoleCount; ++i) roles[i] = static_cast<v1::SubjectRole>(i + 1);
  return roles;
}

}  // namespace kp::cases
