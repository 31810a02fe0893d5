#include "case/policy_category.h"

namespace kp::cases {

namespace v1 = ketenpoort::v1;

void AddPolicyCategory(const policy::Policy& policy, const std::string& category, v1::AuditRecord* record) {
  auto* ac = record->add_categories();
  ac->set_name(category);
  int idx = policy.CategoryIndex(category);
  if (idx < 0) return;
  const auto& pc = policy.categories()[static_cast<size_t>(idx)];
  ac->set_data_class(pc.art9    ? v1::DATA_CLASS_SPECIAL_ART9
                     : pc.art10 ? v1::DATA_CLASS_CRIMINAL_ART10
                                : v1::DATA_CLASS_ORDINARY);
  ac->set_regime(pc.regime == policy::Policy::Regime::kAvg ? v1::DATA_REGIME_AVG
                                                           : v1::DATA_REGIME_POLICE_JUSTICE);
}

}  // namespace kp::cases
