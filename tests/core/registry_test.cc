#include "core/identity/registry.h"

#include <sys/stat.h>

#include "core/base/file_util.h"
#include "core/identity/identity.h"
#include "tests/testing/status_matchers.h"

namespace kp {
namespace {

using ::kp::testing::IsOk;
using ::kp::testing::StatusIs;

constexpr int64_t kNow = 1795357974123;

class RegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::chmod(dir_.path().c_str(), 0700);
    ::chmod(keys_.path().c_str(), 0700);
    enrolment_ = std::move(Identity::Generate("enrolment-hvb", ParticipantKind::kEnrolment, "", kNow)).value();
    Add("regisseur-01", ParticipantKind::kCoordinator, "veiligheidsteam");
    Add("politie-agent", ParticipantKind::kAgent, "politie");
    ASSERT_OK(Sign());
  }

  void Add(const std::string& id, ParticipantKind kind, const std::string& partner) {
    auto idn = Identity::Generate(id, kind, partner, kNow);
    ASSERT_OK(WriteFileDurable(CardFilePath(dir_.path(), id), idn->MakeCard().ToYaml(), 0644, WriteMode::kReplace));
  }

  Status Sign() {
    return Registry::Sign(dir_.path(), enrolment_.signing().secret_key, {{"regisseur-01", "casusregisseur"}},
                          "hart-van-brabant", kNow);
  }

  Result<Registry> Load(uint64_t min_serial = 0) {
    return Registry::Load(dir_.path(), enrolment_.signing().public_key, min_serial);
  }

  std::string Manifest() { return dir_.File(kRegistryManifestName); }

  testing::TempDir dir_, keys_;
  Identity enrolment_ = std::move(Identity::Generate("x", ParticipantKind::kEnrolment, "", kNow)).value();
};

TEST_F(RegistryTest, SignedRegistryLoadsWithRoles) {
  ASSERT_OK_AND_ASSIGN(Registry reg, Load());
  EXPECT_EQ(reg.serial(), 1u);
  EXPECT_EQ(reg.region(), "hart-van-brabant");
  EXPECT_EQ(reg.entries().size(), 2u);
  ASSERT_OK_AND_ASSIGN(const RegistryEntry* c, reg.Find("regisseur-01"));
  EXPECT_EQ(c->role, "casusregisseur");
  EXPECT_EQ(c->card.kind, ParticipantKind::kCoordinator);
  EXPECT_THAT(reg.Find("om-agent"), StatusIs(StatusCode::kNotFound));
}

TEST_F(RegistryTest, ACardAddedWithoutReSigningIsNotTrusted) {
  Add("om-agent", ParticipantKind::kAgent, "om");
  ASSERT_OK_AND_ASSIGN(Registry reg, Load());
  EXPECT_THAT(reg.Find("om-agent"), StatusIs(StatusCode::kNotFound));
  ASSERT_OK(Sign());
  ASSERT_OK_AND_ASSIGN(Registry again, Load());
  EXPECT_EQ(again.serial(), 2u);
  EXPECT_THAT(again.Find("om-agent"), IsOk());
}

TEST_F(RegistryTest, AReplacedCardIsRefused) {
  // Someone with write access to the folder (the gateway's operator, say)
  // swaps in a card with the same id and their own keys.
  Add("regisseur-01", ParticipantKind::kCoordinator, "veiligheidsteam");
  EXPECT_THAT(Load(), StatusIs(StatusCode::kUnauthenticated, "replaced"));
}

TEST_F(RegistryTest, AnotherEnrolmentKeyIsRefused) {
  auto other = Identity::Generate("enrolment-x", ParticipantKind::kEnrolment, "", kNow);
  EXPECT_THAT(Registry::Load(dir_.path(), other->signing().public_key),
              StatusIs(StatusCode::kUnauthenticated, "enrolment key"));
}

TEST_F(RegistryTest, RollbackToAnOlderSerialIsRefused) {
  EXPECT_THAT(Load(/*min_serial=*/2), StatusIs(StatusCode::kFailedPrecondition, "rolled-back"));
  EXPECT_THAT(Load(/*min_serial=*/1), IsOk());
}

TEST_F(RegistryTest, EveryFlippedBitAndTruncationOfTheManifestIsRefused) {
  ASSERT_OK_AND_ASSIGN(std::string text, ReadFileBounded(Manifest(), 1 << 20));
  auto load_with = [&](const std::string& bytes) {
    return Registry::FromManifest(bytes, dir_.path(), enrolment_.signing().public_key).status();
  };
  for (size_t i = 0; i < text.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string bad = text;
      bad[i] = static_cast<char>(bad[i] ^ (1 << bit));
      Status s = load_with(bad);
      EXPECT_FALSE(s.ok()) << i << ":" << bit;
    }
  }
  for (size_t len = 0; len < text.size(); ++len) EXPECT_FALSE(load_with(text.substr(0, len)).ok()) << len;
  EXPECT_THAT(load_with(text), IsOk());
}

TEST_F(RegistryTest, RoleForAMissingCardIsAnError) {
  EXPECT_THAT(Registry::Sign(dir_.path(), enrolment_.signing().secret_key, {{"nobody", "casusregisseur"}},
                             "hart-van-brabant", kNow),
              StatusIs(StatusCode::kNotFound));
}

}  // namespace
}  // namespace kp
