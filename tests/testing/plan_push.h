// The push the end-to-end tests send: the veiligheidsplan about S1 (one
// field, "veiligheidsafspraken"), for plan-van-aanpak, kept `keep_days`.
// Header-only, so a test that uses it relinks nothing else.
#ifndef KETENPOORT_TESTS_TESTING_PLAN_PUSH_H_
#define KETENPOORT_TESTS_TESTING_PLAN_PUSH_H_

#include <string>

#include "client/coordinator.h"

namespace kp::testing {

inline client::PushSpec PlanPush(const std::string& case_id, const std::string& to_partner, int keep_days = 30) {
  client::PushSpec spec;
  spec.case_id = case_id;
  spec.to_partner = to_partner;
  spec.purpose = "plan-van-aanpak";
  auto* cat = spec.content.add_categories();
  cat->set_category("veiligheidsplan");
  auto* rec = cat->add_records();
  rec->set_subject_ref("S1");
  auto* fv = rec->add_values();
  fv->set_field("veiligheidsafspraken");
  fv->set_value("geen contact zonder begeleiding");
  spec.keep_days = keep_days;
  return spec;
}

}  // namespace kp::testing

#endif  // KETENPOORT_TESTS_TESTING_PLAN_PUSH_H_
