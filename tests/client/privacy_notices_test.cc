// The privacy officer's check of a held notice (client/privacy_notices.h),
// the Tink treatment: a genuine notice passes; every flipped bit, every
// truncation, another signer, another recipient, another kind of message or
// notice, and a body with a field this version does not know are refused.
#include "client/privacy_notices.h"

#include "core/base/clock.h"
#include "core/envelope/envelope.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_time.h"

namespace kp::client {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

namespace v1 = ketenpoort::v1;
using ::kp::testing::IsOk;
using ::kp::testing::StatusIs;

using test::kNow;

class PrivacyNoticeCheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto g = Identity::Generate("gateway", ParticipantKind::kGateway, "", kNow);
    ASSERT_THAT(g, IsOk());
    gateway_ = std::make_unique<Identity>(std::move(g).value());
    auto o = Identity::Generate("other-gateway", ParticipantKind::kGateway, "", kNow);
    ASSERT_THAT(o, IsOk());
    other_ = std::make_unique<Identity>(std::move(o).value());
    notice_.set_kind(v1::NOTICE_KIND_PRIVACY_OFFICER);
    notice_.set_case_id("VT-2026-0001");
    notice_.set_by("regisseur-01");
    notice_.set_phase("acute-veiligheid");
    notice_.set_at_ms(kNow);
    notice_.set_reason_code("request");
    notice_.set_audit_index(7);
    notice_.set_request_id(std::string(16, 'r'));
    notice_.set_source_partner("politie");
    notice_.set_recipient_partner("veiligheidsteam");
    notice_.add_categories("politie-incidenten");
    notice_.set_purpose("acuut-gevaar-afwenden");
    notice_.set_legal_basis("wpg-art-20");
    notice_.add_rule_ids("R-POL-02");
    notice_.set_justification(true);
  }

  std::string Signed(const Identity& by, v1::MessageKind kind, const std::string& to, const std::string& body) {
    EnvelopeSigner signer(by.id(), by.signing().secret_key, clock_);
    auto m = signer.Sign(kind, to, "", body);
    EXPECT_THAT(m, IsOk());
    return m.ok() ? m->bytes : "";
  }
  std::string Genuine() { return Signed(*gateway_, v1::MESSAGE_KIND_CASE_NOTICE, "fg-01", notice_.SerializeAsString()); }
  Result<PrivacyNotice> Check(const std::string& bytes) {
    return VerifyPrivacyNotice(bytes, gateway_->MakeCard(), "fg-01");
  }

  ManualClock clock_{kNow};
  std::unique_ptr<Identity> gateway_, other_;
  v1::CaseNotice notice_;
};

TEST_F(PrivacyNoticeCheckTest, AGenuineNoticeIsTakenWithItsId) {
  const std::string bytes = Genuine();
  ASSERT_OK_AND_ASSIGN(PrivacyNotice n, Check(bytes));
  EXPECT_EQ(n.notice.SerializeAsString(), notice_.SerializeAsString());
  EXPECT_EQ(n.notice_id.size(), 16u);
  EXPECT_EQ(n.signed_ms, kNow);
  // A held notice is days old by the time it is fetched: still taken.
  clock_.Advance(7LL * 24 * 3600 * 1000);
  EXPECT_THAT(Check(bytes), IsOk());
}

TEST_F(PrivacyNoticeCheckTest, EveryFlippedBitOrTruncationIsRefused) {
  const std::string bytes = Genuine();
  for (size_t bit = 0; bit < bytes.size() * 8; ++bit) {
    std::string bad = bytes;
    bad[bit / 8] = static_cast<char>(bad[bit / 8] ^ (1 << (bit % 8)));
    ASSERT_FALSE(Check(bad).ok()) << "bit " << bit;
  }
  for (size_t len = 0; len < bytes.size(); ++len) {
    ASSERT_FALSE(Check(bytes.substr(0, len)).ok()) << "cut at " << len;
  }
  EXPECT_THAT(Check(bytes), IsOk());
}

TEST_F(PrivacyNoticeCheckTest, AnotherSignerRecipientOrKindIsRefused) {
  const std::string body = notice_.SerializeAsString();
  EXPECT_THAT(Check(Signed(*other_, v1::MESSAGE_KIND_CASE_NOTICE, "fg-01", body)),
              StatusIs(StatusCode::kUnauthenticated));
  EXPECT_FALSE(Check(Signed(*gateway_, v1::MESSAGE_KIND_CASE_NOTICE, "fg-02", body)).ok());
  EXPECT_THAT(Check(Signed(*gateway_, v1::MESSAGE_KIND_HEARTBEAT, "fg-01", v1::Heartbeat().SerializeAsString())),
              StatusIs(StatusCode::kInvalidArgument, "not a notice"));
  v1::CaseNotice handover = notice_;
  handover.set_kind(v1::NOTICE_KIND_HANDOVER_OFFERED);
  EXPECT_THAT(Check(Signed(*gateway_, v1::MESSAGE_KIND_CASE_NOTICE, "fg-01", handover.SerializeAsString())),
              StatusIs(StatusCode::kInvalidArgument, "not one for a privacy officer"));
  // A field this version does not know (number 99, varint 1): refused, not skipped.
  EXPECT_THAT(Check(Signed(*gateway_, v1::MESSAGE_KIND_CASE_NOTICE, "fg-01", body + std::string("\x98\x06\x01", 3))),
              StatusIs(StatusCode::kInvalidArgument));
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp::client
