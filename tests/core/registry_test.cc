#include "core/identity/registry.h"

#include <sys/stat.h>

#include "core/base/clock.h"
#include "core/base/file_util.h"
#include "core/identity/identity.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_time.h"

namespace kp {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

using ::kp::testing::IsOk;
using ::kp::testing::StatusIs;

using test::kNow;

class RegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::chmod(dir_.path().c_str(), 0700);
    ::chmod(keys_.path().c_str(), 0700);
    enrolment_ =
        std::move(Identity::Generate("enrolment-hvb", ParticipantKind::kEnrolment, "", kNow)).value();
    Add("regisseur-01", ParticipantKind::kCoordinator, "veiligheidsteam");
    Add("politie-agent", ParticipantKind::kAgent, "politie");
    ASSERT_OK(Sign());
  }

  void Add(const std::string& id, ParticipantKind kind, const std::string& partner) {
    auto idn = Identity::Generate(id, kind, partner, kNow);
    ASSERT_OK(
        WriteFileDurable(CardFilePath(dir_.path(), id), idn->MakeCard().ToYaml(), 0644, WriteMode::kReplace));
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

// Keys that expire and rotate (docs/formats.md §2.4, §3).
class RotationTest : public RegistryTest {
 protected:
  // Writes a version-2 card of `id` to DIR/ID.SLOT.card (or ID.card), made at
  // `created` and expiring at `expires`; returns its identity.
  Identity AddV2(const std::string& id, std::string_view slot, int64_t created, int64_t expires) {
    auto idn = Identity::Generate(id, ParticipantKind::kAgent, "politie", created);
    EXPECT_OK(WriteFileDurable(CardFilePath(dir_.path(), id, slot), idn->MakeCard(expires).ToYaml(), 0644,
                               WriteMode::kReplace));
    return std::move(idn).value();
  }
  Result<Registry> LoadAt(int64_t now) {
    return Registry::Load(dir_.path(), enrolment_.signing().public_key, 0, now);
  }
  Status SignAt(int64_t now) {
    return Registry::Sign(dir_.path(), enrolment_.signing().secret_key, {{"regisseur-01", "casusregisseur"}},
                          "hart-van-brabant", now);
  }
  static constexpr int64_t kDay = kMillisPerDay;
};

TEST_F(RotationTest, BothCardsOfARotatingIdVerifyAndTheNewestIsSealedTo) {
  Identity old_keys = AddV2("politie-agent", "", kNow, kNow + 400 * kDay);
  Identity new_keys = AddV2("politie-agent", "next", kNow + kDay, kNow + 800 * kDay);
  ASSERT_OK(SignAt(kNow + kDay));
  ASSERT_OK_AND_ASSIGN(std::string text, ReadFileBounded(Manifest(), 1 << 20));
  size_t first = text.find("participant: politie-agent ");
  ASSERT_NE(first, std::string::npos);
  EXPECT_NE(text.find("participant: politie-agent ", first + 1), std::string::npos) << text;

  ASSERT_OK_AND_ASSIGN(Registry reg, LoadAt(kNow + 2 * kDay));
  ASSERT_OK_AND_ASSIGN(const RegistryEntry* e, reg.Find("politie-agent"));
  ASSERT_EQ(e->cards.size(), 2u);
  EXPECT_EQ(e->card.sealing_key, new_keys.sealing().public_key);
  EXPECT_EQ(e->SigningKeys(),
            (std::vector<std::string>{new_keys.signing().public_key, old_keys.signing().public_key}));
  EXPECT_EQ(e->ExpiresMs(), kNow + 800 * kDay);
  // A version-1 registry entry still has its one card.
  ASSERT_OK_AND_ASSIGN(const RegistryEntry* c, reg.Find("regisseur-01"));
  EXPECT_EQ(c->cards.size(), 1u);
  EXPECT_EQ(c->ExpiresMs(), 0);
}

TEST_F(RotationTest, AnExpiredCardIsDroppedAndAnIdWithOnlyExpiredCardsIsRefused) {
  AddV2("politie-agent", "", kNow, kNow + 10 * kDay);
  Identity new_keys = AddV2("politie-agent", "next", kNow + kDay, kNow + 800 * kDay);
  ASSERT_OK(SignAt(kNow + kDay));
  ASSERT_OK_AND_ASSIGN(Registry reg, LoadAt(kNow + 10 * kDay));
  ASSERT_OK_AND_ASSIGN(const RegistryEntry* e, reg.Find("politie-agent"));
  ASSERT_EQ(e->cards.size(), 1u);
  EXPECT_EQ(e->SigningKeys(), std::vector<std::string>{new_keys.signing().public_key});

  ASSERT_OK_AND_ASSIGN(Registry later, LoadAt(kNow + 800 * kDay));
  EXPECT_THAT(later.Find("politie-agent"), StatusIs(StatusCode::kNotFound, "expired on 2029-"));
  EXPECT_EQ(later.expired().count("politie-agent"), 1u);
  EXPECT_THAT(later.Find("regisseur-01"), IsOk());  // version 1: never expires
}

TEST_F(RotationTest, SigningRefusesAnExpiredCardAndAForeignFileName) {
  AddV2("politie-agent", "", kNow, kNow + 10 * kDay);
  EXPECT_THAT(SignAt(kNow + 10 * kDay), StatusIs(StatusCode::kFailedPrecondition, "expired on"));
  ASSERT_OK(SignAt(kNow + 9 * kDay));
  // A card may sit beside its id's (ID.SLOT.card), not under another name.
  auto other = Identity::Generate("om-agent", ParticipantKind::kAgent, "om", kNow);
  ASSERT_OK(WriteFileDurable(dir_.File("politie-agent.next.card"), other->MakeCard().ToYaml(), 0644,
                             WriteMode::kReplace));
  EXPECT_THAT(SignAt(kNow), StatusIs(StatusCode::kInvalidArgument, "holds participant om-agent"));
}

TEST_F(RotationTest, AMissingOrReplacedSecondCardIsRefused) {
  AddV2("politie-agent", "", kNow, kNow + 400 * kDay);
  AddV2("politie-agent", "next", kNow + kDay, kNow + 800 * kDay);
  ASSERT_OK(SignAt(kNow + kDay));
  ASSERT_OK(LoadAt(kNow + kDay).status());
  AddV2("politie-agent", "next", kNow + kDay, kNow + 800 * kDay);  // other keys, same name
  EXPECT_THAT(LoadAt(kNow + kDay),
              StatusIs(StatusCode::kUnauthenticated, "not the one the enrolment key signed"));
  ASSERT_EQ(::unlink(dir_.File("politie-agent.next.card").c_str()), 0);
  EXPECT_THAT(LoadAt(kNow + kDay), StatusIs(StatusCode::kUnauthenticated, "missing"));
}

TEST_F(RotationTest, EveryFlippedBitAndTruncationOfATwoCardManifestIsRefused) {
  AddV2("politie-agent", "", kNow, kNow + 400 * kDay);
  AddV2("politie-agent", "next", kNow + kDay, kNow + 800 * kDay);
  ASSERT_OK(SignAt(kNow + kDay));
  ASSERT_OK_AND_ASSIGN(std::string text, ReadFileBounded(Manifest(), 1 << 20));
  auto load_with = [&](const std::string& bytes) {
    return Registry::FromManifest(bytes, dir_.path(), enrolment_.signing().public_key, 0, kNow + kDay)
        .status();
  };
  for (size_t i = 0; i < text.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string bad = text;
      bad[i] = static_cast<char>(bad[i] ^ (1 << bit));
      EXPECT_FALSE(load_with(bad).ok()) << i << ":" << bit;
    }
  }
  for (size_t len = 0; len < text.size(); ++len) EXPECT_FALSE(load_with(text.substr(0, len)).ok()) << len;
  EXPECT_THAT(load_with(text), IsOk());
}

TEST_F(RotationTest, CardExpiriesWarnThirtyDaysAhead) {
  AddV2("politie-agent", "", kNow, kNow + 100 * kDay);
  ASSERT_OK(SignAt(kNow));
  ASSERT_OK_AND_ASSIGN(Registry reg, LoadAt(kNow));
  auto at = [&](int64_t now) {
    for (const auto& x : CardExpiries(reg, now)) {
      if (x.id == "politie-agent") return x;
    }
    return CardExpiry{};
  };
  EXPECT_FALSE(at(kNow).warn);
  EXPECT_EQ(at(kNow).seconds_left, 100 * 86400);
  EXPECT_FALSE(at(kNow + 70 * kDay).warn);
  EXPECT_TRUE(at(kNow + 70 * kDay + 1).warn);
  EXPECT_EQ(at(kNow + 200 * kDay).seconds_left, 0);
  for (const auto& x : CardExpiries(reg, kNow)) {
    if (x.id == "regisseur-01") {
      EXPECT_EQ(x.expires_ms, 0);
    }
  }
}

// The pinned enrolment card's expiry is enforced (docs/formats.md §2.4):
// refused from its `expires` moment on, with a message naming the card and
// the date; `check` warns in the 30 days before.
TEST_F(RegistryTest, AnExpiredPinnedEnrolmentCardIsRefusedAndWarnedOfAhead) {
  const std::string path = keys_.File("enrolment-hvb.card");
  ASSERT_OK(WriteFileDurable(path, enrolment_.MakeCard(kNow + 100 * kMillisPerDay).ToYaml(), 0644,
                             WriteMode::kReplace));
  ASSERT_OK_AND_ASSIGN(PublicCard card, LoadPinnedEnrolmentCard(path, kNow));
  EXPECT_EQ(PinnedEnrolmentCardWarning(card, path, kNow), "");
  EXPECT_EQ(PinnedEnrolmentCardWarning(card, path, kNow + 70 * kMillisPerDay), "");
  EXPECT_THAT(PinnedEnrolmentCardWarning(card, path, kNow + 80 * kMillisPerDay),
              ::testing::AllOf(::testing::HasSubstr("enrolment-hvb"), ::testing::HasSubstr("in 20 day(s)")));
  ASSERT_OK(LoadPinnedEnrolmentCard(path, kNow + 100 * kMillisPerDay - 1).status());
  EXPECT_THAT(LoadPinnedEnrolmentCard(path, kNow + 100 * kMillisPerDay),
              StatusIs(StatusCode::kFailedPrecondition, "pinned enrolment card enrolment-hvb"));
  EXPECT_THAT(LoadPinnedEnrolmentCard(path, kNow + 100 * kMillisPerDay).status().message(),
              ::testing::HasSubstr("expired on " + FormatRfc3339Millis(kNow + 100 * kMillisPerDay)));
  // A version-1 card never expires; another kind is not an enrolment card.
  ASSERT_OK(WriteFileDurable(path, enrolment_.MakeCard().ToYaml(), 0644, WriteMode::kReplace));
  EXPECT_THAT(LoadPinnedEnrolmentCard(path, kNow + 10000 * kMillisPerDay), IsOk());
  auto agent = Identity::Generate("politie-agent", ParticipantKind::kAgent, "politie", kNow);
  ASSERT_OK(WriteFileDurable(path, agent->MakeCard().ToYaml(), 0644, WriteMode::kReplace));
  EXPECT_THAT(LoadPinnedEnrolmentCard(path, kNow),
              StatusIs(StatusCode::kInvalidArgument, "not an enrolment card"));
}

// The archive of retired cards (docs/formats.md §3, `retired:`): a card moved
// to ID.retired*.card is listed as retired, its key vouched for only for
// signatures made before its retirement (old case history), never enrolled;
// the retirement moment survives a later signing; a replaced retired card is
// refused like any other.
TEST_F(RotationTest, ARetiredCardStaysInTheArchiveForOldSignaturesOnly) {
  Identity old_keys = AddV2("politie-agent", "retired-1", kNow, kNow + 400 * kDay);
  Identity new_keys = AddV2("politie-agent", "", kNow + kDay, kNow + 800 * kDay);
  AddV2("om-agent", "retired-1", kNow, kNow + 5 * kDay);  // expired before it was archived: allowed
  ASSERT_OK(SignAt(kNow + 10 * kDay));
  ASSERT_OK(SignAt(kNow + 30 * kDay));  // later signings keep the retirement moment
  ASSERT_OK_AND_ASSIGN(std::string text, ReadFileBounded(Manifest(), 1 << 20));
  EXPECT_THAT(text, ::testing::HasSubstr(" " + FormatRfc3339Millis(kNow + 10 * kDay) + "\n"));
  ASSERT_OK_AND_ASSIGN(Registry reg, LoadAt(kNow + 40 * kDay));
  ASSERT_OK_AND_ASSIGN(const RegistryEntry* e, reg.Find("politie-agent"));
  ASSERT_EQ(e->cards.size(), 1u);
  EXPECT_EQ(e->card.signing_key, new_keys.signing().public_key);
  EXPECT_FALSE(reg.Find("om-agent").ok());  // retired only: not enrolled
  ASSERT_EQ(reg.retired().size(), 2u);
  std::map<std::string, int64_t> keys;
  ForEachSigningKey(reg,
                    [&](const std::string&, const std::string& key, int64_t before) { keys[key] = before; });
  EXPECT_EQ(keys[old_keys.signing().public_key], kNow + 10 * kDay);  // signed before the retirement only
  EXPECT_EQ(keys[new_keys.signing().public_key], kNow + 800 * kDay);
  // A retired card replaced by another with the same name is refused.
  AddV2("politie-agent", "retired-1", kNow, kNow + 400 * kDay);
  EXPECT_THAT(LoadAt(kNow + 40 * kDay),
              StatusIs(StatusCode::kUnauthenticated, "retired card of politie-agent"));
  // The same card both listed and retired is refused at signing.
  ASSERT_OK(WriteFileDurable(CardFilePath(dir_.path(), "politie-agent", "retired-1"),
                             new_keys.MakeCard(kNow + 800 * kDay).ToYaml(), 0644, WriteMode::kReplace));
  EXPECT_THAT(SignAt(kNow + 41 * kDay), StatusIs(StatusCode::kInvalidArgument, "both listed and retired"));
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp
