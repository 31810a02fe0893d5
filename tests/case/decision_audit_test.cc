// What a permit rested on, in the log (issue 17 §1): ToAudit(policy, ...)
// and WireToAudit fill AuditDecision.justification from the permitting
// rules' conditions (the `justification` condition: TEXT; `weighing`, also
// through the legal basis's `requires`: WEIGHING) and policy_version from the
// deciding policy; a delivery's record from the wire decision says the same
// as the decision's record, and nothing of the kind when another policy
// (another hash) decided.
#include "case/decision.h"

#include "core/base/encoding.h"
#include "core/crypto/sha256.h"
#include "policy/policy_loader.h"
#include "tests/testing/status_matchers.h"

namespace kp::cases {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

namespace v1 = ketenpoort::v1;
using ::kp::testing::IsOk;

class DecisionAuditTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto p = policy::LoadPolicyFile(::kp::testing::SourceDir() + "/policy/examples/veiligheidsteam-hvb.yaml",
                                    [](std::string_view t) { return HexEncode(Sha256String(t)); });
    ASSERT_THAT(p, IsOk());
    policy_ = *p;
  }

  policy::Decision Permit(std::vector<std::string_view> rules) const {
    policy::Decision d;
    d.effect = policy::Effect::kPermit;
    d.rule_ids = std::move(rules);
    d.policy_sha256 = policy_->sha256_hex();
    d.obligations.retention_days = 90;
    d.obligations.notify_privacy_officer = true;
    return d;
  }

  v1::AuditRecord Audited(const policy::Decision& d) const {
    v1::AuditRecord r;
    ToAudit(*policy_, d, &r);
    return r;
  }

  std::shared_ptr<const policy::Policy> policy_;
};

TEST_F(DecisionAuditTest, JustificationFromThePermittingRulesConditions) {
  EXPECT_EQ(Audited(Permit({"R-POL-01"})).decision().justification(), v1::AUDIT_JUSTIFICATION_NONE);  // member
  EXPECT_EQ(Audited(Permit({"R-POL-02"})).decision().justification(), v1::AUDIT_JUSTIFICATION_TEXT);  // justification
  // conflict-van-plichten requires the weighing: a rule on that basis rests on it.
  EXPECT_EQ(Audited(Permit({"R-GGZ-02"})).decision().justification(), v1::AUDIT_JUSTIFICATION_WEIGHING);
  EXPECT_EQ(Audited(Permit({"R-GGZ-02", "R-POL-01", "R-POL-02"})).decision().justification(),
            v1::AUDIT_JUSTIFICATION_WEIGHING);
  policy::Decision deny = Permit({"R-POL-02"});
  deny.effect = policy::Effect::kDeny;
  EXPECT_EQ(Audited(deny).decision().justification(), v1::AUDIT_JUSTIFICATION_NONE);  // a deny rests on nothing
  EXPECT_EQ(Audited(Permit({"R-NO-SUCH-RULE"})).decision().justification(), v1::AUDIT_JUSTIFICATION_NONE);
  EXPECT_EQ(Audited(deny).decision().policy_version(), "veiligheidsteam-hvb 2026.1-example");
}

TEST_F(DecisionAuditTest, TheDeliverysRecordSaysWhatTheDecisionsRecordSaid) {
  policy::Decision d = Permit({"R-GGZ-02"});
  const v1::AuditRecord decided = Audited(d);
  v1::Decision wire;
  ToWire(d, &wire);
  v1::AuditRecord delivered;
  WireToAudit(*policy_, wire, &delivered);
  EXPECT_EQ(delivered.decision().SerializeAsString(), decided.decision().SerializeAsString());
  EXPECT_EQ(delivered.legal_basis(), decided.legal_basis());

  // Decided under another policy text: rules and obligations as sent, but
  // no version or justification read from rules that may have changed.
  wire.set_policy_sha256(std::string(32, '\x01'));
  v1::AuditRecord other;
  WireToAudit(*policy_, wire, &other);
  EXPECT_EQ(other.decision().rule_ids(0), "R-GGZ-02");
  EXPECT_EQ(other.decision().obligations().retention_days(), 90u);
  EXPECT_TRUE(other.decision().obligations().notify_privacy_officer());
  EXPECT_EQ(other.decision().policy_version(), "");
  EXPECT_EQ(other.decision().justification(), v1::AUDIT_JUSTIFICATION_NONE);
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp::cases
