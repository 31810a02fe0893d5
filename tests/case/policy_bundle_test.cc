// The signed policy bundle (case/policy_bundle.h, docs/formats.md §5): who
// may sign it, every bit and every length of the manifest tampered with, the
// files checked against it, serials, regions, and which policy is in force
// when (effective-from).
#include "case/policy_bundle.h"

#include <sys/stat.h>

#include "case/config_update.h"
#include "core/base/file_util.h"
#include "core/identity/identity.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_time.h"

namespace kp::cases {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

using ::kp::testing::StatusIs;

using test::kNow;
using test::kHour;

std::string ExamplePolicy() {
  return ReadFileBounded(testing::SourceDir() + "/policy/examples/veiligheidsteam-hvb.yaml", 1 << 20).value();
}

// The example policy as version `version` (its text differs, so its hash).
std::string PolicyVersion(const std::string& version) {
  std::string text = ExamplePolicy();
  const std::string from = "version: \"2026.1-example\"";
  size_t p = text.find(from);
  KP_CHECK(p != std::string::npos);
  text.replace(p, from.size(), "version: \"" + version + "\"");
  return text;
}

class PolicyBundleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::chmod(bundle_.path().c_str(), 0700);
    ::chmod(reg_.path().c_str(), 0700);
    enrolment_ = Identity::Generate("enrolment-hvb", ParticipantKind::kEnrolment, "", kNow).value();
    signer_ = Identity::Generate("fg-hvb", ParticipantKind::kCoordinator, "veiligheidsteam", kNow).value();
    plain_ =
        Identity::Generate("regisseur-01", ParticipantKind::kCoordinator, "veiligheidsteam", kNow).value();
    gateway_ = Identity::Generate("gateway-hvb", ParticipantKind::kGateway, "", kNow).value();
    for (const Identity* i : {&signer_, &plain_, &gateway_}) {
      ASSERT_OK(WriteFileDurable(CardFilePath(reg_.path(), i->id()), i->MakeCard().ToYaml(), 0644,
                                 WriteMode::kReplace));
    }
    ASSERT_OK(Registry::Sign(reg_.path(), enrolment_.signing().secret_key,
                             {{"fg-hvb", kPolicySignerRole}, {"gateway-hvb", kPolicySignerRole}},
                             "hart-van-brabant", kNow));
    registry_ = std::make_unique<Registry>(
        Registry::Load(reg_.path(), enrolment_.signing().public_key, 0, kNow).value());
    Write("hvb-2026.1.yaml", PolicyVersion("2026.1"));
    Write("hvb-2026.2.yaml", PolicyVersion("2026.2"));
  }

  void Write(const std::string& name, const std::string& text) {
    ASSERT_OK(WriteFileDurable(bundle_.File(name), text, 0644, WriteMode::kReplace));
  }

  Status SignBoth(const Identity& key, const std::string& signer,
                  const std::string& region = "hart-van-brabant") {
    return SignPolicyBundle(bundle_.path(), key.signing().secret_key, signer, region,
                            {{"hvb-2026.1.yaml", kNow - kHour}, {"hvb-2026.2.yaml", kNow + kHour}}, kNow);
  }

  PolicySet::Expect Expect(uint64_t min_serial = 0) const {
    return {enrolment_.signing().public_key, registry_.get(), min_serial, "hart-van-brabant"};
  }

  std::string Manifest() const {
    return ReadFileBounded(bundle_.File(kPolicyManifestName), kMaxPolicyManifestBytes).value();
  }

  testing::TempDir bundle_, reg_;
  Identity enrolment_ = Identity::Generate("x", ParticipantKind::kEnrolment, "", kNow).value();
  Identity signer_ = Identity::Generate("x", ParticipantKind::kEnrolment, "", kNow).value();
  Identity plain_ = Identity::Generate("x", ParticipantKind::kEnrolment, "", kNow).value();
  Identity gateway_ = Identity::Generate("x", ParticipantKind::kEnrolment, "", kNow).value();
  std::unique_ptr<Registry> registry_;
};

TEST_F(PolicyBundleTest, EffectiveFromSwitchesAtItsMoment) {
  ASSERT_OK(SignBoth(enrolment_, kEnrolmentSigner));
  ASSERT_OK_AND_ASSIGN(PolicySet set, PolicySet::LoadDir(bundle_.path(), Expect()));
  EXPECT_EQ(set.serial(), 1u);
  ASSERT_EQ(set.policies().size(), 2u);
  const auto& old_policy = set.policies()[0].second;
  const auto& new_policy = set.policies()[1].second;
  EXPECT_EQ(PolicyVersionId(*old_policy), "veiligheidsteam-hvb@2026.1");
  EXPECT_EQ(set.manifest().policies[1].version, "veiligheidsteam-hvb@2026.2");
  // Until the new one's time the old one, from then the new one.
  EXPECT_EQ(set.InForceAt(kNow - 10 * kHour), old_policy);
  EXPECT_EQ(set.InForceAt(kNow + kHour - 1), old_policy);
  EXPECT_EQ(set.InForceAt(kNow + kHour), new_policy);
  EXPECT_EQ(set.NextSwitchAfter(kNow), kNow + kHour);
  EXPECT_EQ(set.NextSwitchAfter(kNow + kHour), 0);
  EXPECT_EQ(set.BySha(new_policy->sha256_hex()), new_policy);
  EXPECT_EQ(set.BySha(std::string(64, '0')), nullptr);
  // A decision made just before the switch rests on the old policy; one
  // made an hour after it cannot.
  EXPECT_TRUE(set.InForceDuring(old_policy->sha256_hex(), kNow + kHour - 5, kNow + kHour + 5));
  EXPECT_FALSE(set.InForceDuring(old_policy->sha256_hex(), kNow + 2 * kHour, kNow + 3 * kHour));
  EXPECT_FALSE(set.InForceDuring(new_policy->sha256_hex(), kNow, kNow + 5));
  EXPECT_TRUE(set.InForceDuring(new_policy->sha256_hex(), kNow, kNow + kHour));
}

TEST_F(PolicyBundleTest, SerialGoesUpAndAnOlderOneIsRefused) {
  ASSERT_OK(SignBoth(enrolment_, kEnrolmentSigner));
  const std::string first = Manifest();
  ASSERT_OK(SignBoth(enrolment_, kEnrolmentSigner));
  ASSERT_OK_AND_ASSIGN(PolicySet second, PolicySet::LoadDir(bundle_.path(), Expect(2)));
  EXPECT_EQ(second.serial(), 2u);
  Write(kPolicyManifestName, first);
  EXPECT_THAT(PolicySet::LoadDir(bundle_.path(), Expect(2)), StatusIs(StatusCode::kFailedPrecondition));
}

TEST_F(PolicyBundleTest, OnlyTheEnrolmentKeyOrANamedPolicySignerMaySign) {
  ASSERT_OK(SignBoth(signer_, "fg-hvb"));
  ASSERT_OK_AND_ASSIGN(PolicySet set, PolicySet::LoadDir(bundle_.path(), Expect()));
  EXPECT_EQ(set.manifest().signer, "fg-hvb");
  // Without a registry only the enrolment key counts.
  PolicySet::Expect no_registry = Expect();
  no_registry.registry = nullptr;
  EXPECT_THAT(PolicySet::LoadDir(bundle_.path(), no_registry), StatusIs(StatusCode::kUnauthenticated));
  // A coordinator without the role; the gateway even with it; another key
  // claiming to be the enrolment key.
  ASSERT_OK(SignBoth(plain_, "regisseur-01"));
  EXPECT_THAT(PolicySet::LoadDir(bundle_.path(), Expect()), StatusIs(StatusCode::kUnauthenticated));
  ASSERT_OK(SignBoth(gateway_, "gateway-hvb"));
  EXPECT_THAT(PolicySet::LoadDir(bundle_.path(), Expect()), StatusIs(StatusCode::kUnauthenticated));
  ASSERT_OK(SignBoth(signer_, kEnrolmentSigner));
  EXPECT_THAT(PolicySet::LoadDir(bundle_.path(), Expect()), StatusIs(StatusCode::kUnauthenticated));
  ASSERT_OK(SignBoth(enrolment_, "fg-hvb"));  // the enrolment key, claiming to be the signer
  EXPECT_THAT(PolicySet::LoadDir(bundle_.path(), Expect()), StatusIs(StatusCode::kUnauthenticated));
}

TEST_F(PolicyBundleTest, AForeignRegionIsRefused) {
  ASSERT_OK(SignBoth(enrolment_, kEnrolmentSigner, "west-brabant"));
  EXPECT_THAT(PolicySet::LoadDir(bundle_.path(), Expect()), StatusIs(StatusCode::kPermissionDenied));
}

TEST_F(PolicyBundleTest, AChangedOrMissingPolicyFileIsRefused) {
  ASSERT_OK(SignBoth(enrolment_, kEnrolmentSigner));
  std::string text = PolicyVersion("2026.2");
  text += "\n# one more line\n";
  Write("hvb-2026.2.yaml", text);
  EXPECT_THAT(PolicySet::LoadDir(bundle_.path(), Expect()), StatusIs(StatusCode::kUnauthenticated));
  std::map<std::string, std::string> files{{"hvb-2026.1.yaml", PolicyVersion("2026.1")}};
  EXPECT_THAT(PolicySet::FromBundle(Manifest(), files, Expect()), StatusIs(StatusCode::kNotFound));
}

TEST_F(PolicyBundleTest, SigningRefusesABundleWithNothingInForceNow) {
  EXPECT_THAT(SignPolicyBundle(bundle_.path(), enrolment_.signing().secret_key, kEnrolmentSigner,
                               "hart-van-brabant", {{"hvb-2026.2.yaml", kNow + kHour}}, kNow),
              StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_THAT(SignPolicyBundle(bundle_.path(), enrolment_.signing().secret_key, kEnrolmentSigner,
                               "hart-van-brabant", {{"../hvb-2026.2.yaml", kNow}}, kNow),
              StatusIs(StatusCode::kInvalidArgument));
  Write("broken.yaml", "policy: [");
  EXPECT_THAT(SignPolicyBundle(bundle_.path(), enrolment_.signing().secret_key, kEnrolmentSigner,
                               "hart-van-brabant", {{"broken.yaml", kNow}}, kNow),
              StatusIs(StatusCode::kInvalidArgument));
}

// Every bit of the manifest flipped, and every shorter length: each is
// refused, and nothing of it is used.
TEST_F(PolicyBundleTest, EveryFlippedBitAndEveryTruncationIsRefused) {
  ASSERT_OK(SignBoth(enrolment_, kEnrolmentSigner));
  const std::string good = Manifest();
  std::map<std::string, std::string> files{{"hvb-2026.1.yaml", PolicyVersion("2026.1")},
                                           {"hvb-2026.2.yaml", PolicyVersion("2026.2")}};
  ASSERT_OK(PolicySet::FromBundle(good, files, Expect()).status());
  for (size_t i = 0; i < good.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string bad = good;
      bad[i] = static_cast<char>(bad[i] ^ (1 << bit));
      auto m = VerifyPolicyManifest(bad, enrolment_.signing().public_key, registry_.get());
      ASSERT_FALSE(m.ok()) << "byte " << i << " bit " << bit;
    }
  }
  for (size_t n = 0; n < good.size(); ++n) {
    ASSERT_FALSE(
        VerifyPolicyManifest(good.substr(0, n), enrolment_.signing().public_key, registry_.get()).ok())
        << "length " << n;
  }
}

TEST_F(PolicyBundleTest, AWrittenBundleLoadsAgain) {
  ASSERT_OK(SignBoth(enrolment_, kEnrolmentSigner));
  ASSERT_OK_AND_ASSIGN(PolicySet set, PolicySet::LoadDir(bundle_.path(), Expect()));
  testing::TempDir out;
  ASSERT_OK(WritePolicyBundle(out.path() + "/policy", set));
  ASSERT_OK_AND_ASSIGN(PolicySet again, PolicySet::LoadDir(out.path() + "/policy", Expect(1)));
  EXPECT_EQ(again.manifest().sha256_hex, set.manifest().sha256_hex);
}

// What a receiver does with a CONFIG_BUNDLE (case/config_update.h): takes a
// newer one and keeps its serial on disk; refuses a tampered, older or
// foreign one and keeps what is in force.
class AcceptConfigBundleTest : public PolicyBundleTest {
 protected:
  ketenpoort::v1::ConfigBundle Bundle() const {
    ketenpoort::v1::ConfigBundle b;
    b.set_registry_manifest(ReadFileBounded(reg_.File(kRegistryManifestName), 1 << 20).value());
    for (const char* id : {"fg-hvb", "regisseur-01", "gateway-hvb"}) {
      auto* c = b.add_cards();
      c->set_name(std::string(id) + ".card");
      c->set_content(ReadFileBounded(CardFilePath(reg_.path(), id), 1 << 16).value());
    }
    b.set_policy_manifest(Manifest());
    for (const char* f : {"hvb-2026.1.yaml", "hvb-2026.2.yaml"}) {
      auto* p = b.add_policies();
      p->set_name(f);
      p->set_content(ReadFileBounded(bundle_.File(f), 1 << 20).value());
    }
    return b;
  }
  ConfigUpdate Accept(const ketenpoort::v1::ConfigBundle& b, ConfigSerials* serials) {
    return AcceptConfigBundle(b, data_.path(), enrolment_.signing().public_key, *registry_, serials->policy,
                              serials, kNow);
  }
  testing::TempDir data_;
};

TEST_F(AcceptConfigBundleTest, ANewerBundleIsTakenAndItsSerialKept) {
  ASSERT_OK(SignBoth(enrolment_, kEnrolmentSigner));
  ConfigSerials serials;
  ConfigUpdate up = Accept(Bundle(), &serials);
  EXPECT_OK(up.policy_refused);
  EXPECT_OK(up.registry_refused);
  ASSERT_TRUE(up.policies.has_value());
  EXPECT_FALSE(up.registry.has_value());  // serial 1: the one in force
  EXPECT_EQ(up.policies->serial(), 1u);
  ASSERT_OK_AND_ASSIGN(ConfigSerials kept, LoadConfigSerials(data_.path()));
  EXPECT_EQ(kept.policy, 1u);
  ASSERT_OK(PolicySet::LoadDir(FetchedPolicyDir(data_.path()), Expect(1)).status());
  // The same again: nothing new, nothing refused.
  up = Accept(Bundle(), &serials);
  EXPECT_FALSE(up.policies.has_value());
  EXPECT_OK(up.policy_refused);
}

TEST_F(AcceptConfigBundleTest, TamperedOlderAndForeignBundlesAreRefusedAndTheOneInForceStays) {
  ASSERT_OK(SignBoth(enrolment_, kEnrolmentSigner));
  const auto first = Bundle();
  ASSERT_OK(SignBoth(enrolment_, kEnrolmentSigner));
  ConfigSerials serials;
  ASSERT_TRUE(Accept(Bundle(), &serials).policies.has_value());
  EXPECT_EQ(serials.policy, 2u);
  // Older.
  ConfigUpdate up = Accept(first, &serials);
  EXPECT_FALSE(up.policies.has_value());
  EXPECT_EQ(ConfigRefusalReason(up.policy_refused), "older");
  // Tampered: a policy file changed after signing (serial 3).
  ASSERT_OK(SignBoth(enrolment_, kEnrolmentSigner));
  auto tampered = Bundle();
  tampered.mutable_policies(1)->mutable_content()->append("\n# changed\n");
  up = Accept(tampered, &serials);
  EXPECT_FALSE(up.policies.has_value());
  EXPECT_EQ(ConfigRefusalReason(up.policy_refused), "tampered");
  // Signed by a participant that may not sign, and for another region.
  ASSERT_OK(SignBoth(plain_, "regisseur-01"));
  up = Accept(Bundle(), &serials);
  EXPECT_EQ(ConfigRefusalReason(up.policy_refused), "tampered");
  ASSERT_OK(SignBoth(enrolment_, kEnrolmentSigner, "west-brabant"));
  up = Accept(Bundle(), &serials);
  EXPECT_EQ(ConfigRefusalReason(up.policy_refused), "foreign-region");
  // Nothing of it reached the disk: serial 2 is what is kept.
  ASSERT_OK_AND_ASSIGN(ConfigSerials kept, LoadConfigSerials(data_.path()));
  EXPECT_EQ(kept.policy, 2u);
  ASSERT_OK_AND_ASSIGN(PolicySet in_force, PolicySet::LoadDir(FetchedPolicyDir(data_.path()), Expect(2)));
  EXPECT_EQ(in_force.serial(), 2u);
  // A registry manifest whose serial was raised by hand is refused too; the
  // registry in force stays. (One that states the serial in force is
  // nothing new and is not looked at.)
  auto bad_registry = Bundle();
  std::string manifest = bad_registry.registry_manifest();
  manifest.replace(manifest.find("serial: 1\n"), 10, "serial: 5\n");
  bad_registry.set_registry_manifest(manifest);
  up = Accept(bad_registry, &serials);
  EXPECT_FALSE(up.registry.has_value());
  EXPECT_EQ(ConfigRefusalReason(up.registry_refused), "tampered");
}

// A receiver with no registry yet (an agent's first start, current null):
// the registry the enrolment key signed is taken whatever its region, and
// the policy bundle is checked against it; a tampered registry is refused and
// then the policy bundle cannot be checked ("incomplete"); nothing is kept.
TEST_F(AcceptConfigBundleTest, AFirstStartTakesTheEnrolmentSignedRegistryAndThePolicyWithIt) {
  ASSERT_OK(SignBoth(enrolment_, kEnrolmentSigner));
  auto tampered = Bundle();
  std::string manifest = tampered.registry_manifest();
  manifest.replace(manifest.find("serial: 1\n"), 10, "serial: 5\n");
  tampered.set_registry_manifest(manifest);
  ConfigSerials serials;
  ConfigUpdate up =
      AcceptConfigBundle(tampered, data_.path(), enrolment_.signing().public_key, nullptr, 0, &serials, kNow);
  EXPECT_EQ(ConfigRefusalReason(up.registry_refused), "tampered");
  EXPECT_EQ(ConfigRefusalReason(up.policy_refused), "incomplete");
  EXPECT_FALSE(up.registry.has_value() || up.policies.has_value());
  EXPECT_EQ(LoadConfigSerials(data_.path())->registry, 0u);

  up =
      AcceptConfigBundle(Bundle(), data_.path(), enrolment_.signing().public_key, nullptr, 0, &serials, kNow);
  EXPECT_OK(up.registry_refused);
  EXPECT_OK(up.policy_refused);
  ASSERT_TRUE(up.registry.has_value());
  ASSERT_TRUE(up.policies.has_value());
  EXPECT_EQ(up.registry->region(), registry_->region());
  ASSERT_OK_AND_ASSIGN(ConfigSerials kept, LoadConfigSerials(data_.path()));
  EXPECT_EQ(kept.registry, 1u);
  EXPECT_EQ(kept.policy, 1u);
  ASSERT_OK(Registry::Load(FetchedRegistryDir(data_.path()), enrolment_.signing().public_key).status());
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp::cases
