#include <sys/stat.h>

#include "core/base/file_util.h"
#include "core/identity/identity.h"
#include "tests/testing/status_matchers.h"

namespace kp {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

using ::kp::testing::IsOk;
using ::kp::testing::StatusIs;
using ::kp::testing::TempDir;

constexpr int64_t kCreated = 1795357974123;

class IdentityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::chmod(dir_.path().c_str(), 0700);
    auto id = Identity::Generate("politie-agent", ParticipantKind::kAgent, "politie", kCreated);
    ASSERT_THAT(id, IsOk());
    ASSERT_OK(WriteIdentityFiles(dir_.path(), *id));
    secret_path_ = IdentityFilePath(dir_.path(), "politie-agent");
    card_path_ = CardFilePath(dir_.path(), "politie-agent");
    secret_text_ = *ReadFileBounded(secret_path_, 10000);
    card_text_ = *ReadFileBounded(card_path_, 10000);
  }

  Status LoadWithText(const std::string& text) {
    std::string p = dir_.File("edited.secret");
    ::unlink(p.c_str());
    KP_RETURN_IF_ERROR(WriteFileDurable(p, text, 0600, WriteMode::kCreateExclusive));
    return Identity::LoadFile(p).status();
  }

  TempDir dir_;
  std::string secret_path_, card_path_, secret_text_, card_text_;
};

TEST_F(IdentityTest, RoundTripThroughFiles) {
  ASSERT_OK_AND_ASSIGN(Identity loaded, Identity::LoadFile(secret_path_));
  ASSERT_OK_AND_ASSIGN(PublicCard card, PublicCard::LoadFile(card_path_));
  EXPECT_THAT(loaded.MatchesCard(card), IsOk());
  EXPECT_EQ(card.id, "politie-agent");
  EXPECT_EQ(card.partner, "politie");
  EXPECT_EQ(card.created_ms, kCreated);
  EXPECT_EQ(card.kind, ParticipantKind::kAgent);
  EXPECT_EQ(card.Fingerprint().size(), 19u);
  EXPECT_EQ(card.TransportKeyZ85().size(), 40u);
}

TEST_F(IdentityTest, ThreeDistinctKeyPairs) {
  ASSERT_OK_AND_ASSIGN(PublicCard card, PublicCard::LoadFile(card_path_));
  EXPECT_NE(card.signing_key, card.sealing_key);
  EXPECT_NE(card.sealing_key, card.transport_key);
  EXPECT_NE(card.signing_key, card.transport_key);
}

TEST_F(IdentityTest, SecretFileIsMode0600AndNeverOverwritten) {
  struct stat st {};
  ASSERT_EQ(::stat(secret_path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto again = Identity::Generate("politie-agent", ParticipantKind::kAgent, "politie", kCreated);
  EXPECT_THAT(WriteIdentityFiles(dir_.path(), *again), StatusIs(StatusCode::kAlreadyExists));
  EXPECT_EQ(*ReadFileBounded(secret_path_, 10000), secret_text_);
}

TEST_F(IdentityTest, RefusesAFolderOthersCanWrite) {
  TempDir open_dir;
  ::chmod(open_dir.path().c_str(), 0777);
  auto id = Identity::Generate("om-agent", ParticipantKind::kAgent, "om", kCreated);
  EXPECT_THAT(WriteIdentityFiles(open_dir.path(), *id), StatusIs(StatusCode::kFailedPrecondition));
}

TEST_F(IdentityTest, LoosePermissionsAreRefusedNamingTheFile) {
  ::chmod(secret_path_.c_str(), 0640);
  EXPECT_THAT(Identity::LoadFile(secret_path_), StatusIs(StatusCode::kFailedPrecondition, secret_path_));
}

TEST_F(IdentityTest, EveryTruncationIsRefused) {
  for (size_t len = 0; len < secret_text_.size(); ++len) {
    Status s = LoadWithText(secret_text_.substr(0, len));
    EXPECT_FALSE(s.ok()) << len;
    EXPECT_NE(s.message().find("edited.secret"), std::string::npos) << s;
  }
}

TEST_F(IdentityTest, EveryEditedByteIsRefused) {
  for (size_t i = 0; i < secret_text_.size(); ++i) {
    std::string bad = secret_text_;
    bad[i] = static_cast<char>(bad[i] ^ 0x04);
    EXPECT_FALSE(LoadWithText(bad).ok()) << i;
  }
}

TEST_F(IdentityTest, AgentNeedsAPartnerAndIdsAreChecked) {
  EXPECT_THAT(Identity::Generate("x", ParticipantKind::kAgent, "", kCreated),
              StatusIs(StatusCode::kInvalidArgument, "--partner"));
  EXPECT_THAT(Identity::Generate("Jan Jansen", ParticipantKind::kGateway, "", kCreated),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(Identity::Generate("-x", ParticipantKind::kGateway, "", kCreated),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(Identity::Generate(std::string(65, 'a'), ParticipantKind::kGateway, "", kCreated),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(Identity::Generate("gateway", ParticipantKind::kGateway, "", kCreated), IsOk());
}

TEST_F(IdentityTest, EditedCardFailsItsSelfSignature) {
  std::string edited = card_text_;
  size_t p = edited.find("partner: 'politie'");
  ASSERT_NE(p, std::string::npos);
  edited.replace(p, 18, "partner: 'om'");
  EXPECT_THAT(PublicCard::Parse(edited, "x.card"), StatusIs(StatusCode::kUnauthenticated, "x.card"));
}

TEST_F(IdentityTest, EveryTruncatedOrFlippedCardIsRefused) {
  for (size_t len = 0; len < card_text_.size(); ++len) {
    // Only cutting the final newline leaves the same, valid card.
    if (PublicCard::Parse(card_text_.substr(0, len), "x.card").ok()) {
      EXPECT_EQ(len, card_text_.size() - 1);
    }
  }
  ASSERT_OK_AND_ASSIGN(PublicCard good, PublicCard::Parse(card_text_, "x.card"));
  for (size_t i = 0; i < card_text_.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string bad = card_text_;
      bad[i] = static_cast<char>(bad[i] ^ (1 << bit));
      auto r = PublicCard::Parse(bad, "x.card");
      if (r.ok()) {
        // A flip inside a comment changes nothing that is signed.
        EXPECT_EQ(r->CanonicalBytes(), good.CanonicalBytes()) << i << ":" << bit;
        EXPECT_EQ(r->self_signature, good.self_signature);
      }
    }
  }
}

TEST_F(IdentityTest, CardOfAnotherIdentityDoesNotMatch) {
  ASSERT_OK_AND_ASSIGN(Identity loaded, Identity::LoadFile(secret_path_));
  auto other = Identity::Generate("politie-agent", ParticipantKind::kAgent, "politie", kCreated);
  EXPECT_THAT(loaded.MatchesCard(other->MakeCard()), StatusIs(StatusCode::kFailedPrecondition));
}

// Version-2 cards (docs/formats.md §2): `expires` is signed and fingerprinted.
constexpr int64_t kExpires = kCreated + 730 * kMillisPerDay;

class CardV2Test : public IdentityTest {
 protected:
  void SetUp() override {
    IdentityTest::SetUp();
    ::chmod(v2_dir_.path().c_str(), 0700);
    auto id = Identity::Generate("politie-agent", ParticipantKind::kAgent, "politie", kCreated);
    ASSERT_OK(WriteIdentityFiles(v2_dir_.path(), *id, nullptr, kExpires));
    v2_text_ = *ReadFileBounded(CardFilePath(v2_dir_.path(), "politie-agent"), 10000);
  }
  TempDir v2_dir_;
  std::string v2_text_;
};

TEST_F(CardV2Test, AVersionTwoCardCarriesItsExpiry) {
  EXPECT_NE(v2_text_.find("ketenpoort-card: 2\n"), std::string::npos);
  EXPECT_NE(v2_text_.find("expires: 2028-"), std::string::npos) << v2_text_;
  ASSERT_OK_AND_ASSIGN(PublicCard card, PublicCard::Parse(v2_text_, "x.card"));
  EXPECT_EQ(card.version, 2);
  EXPECT_EQ(card.expires_ms, kExpires);
  EXPECT_FALSE(card.ExpiredAt(kExpires - 1));
  EXPECT_TRUE(card.ExpiredAt(kExpires));
  EXPECT_EQ(card.ToYaml(), v2_text_);
  // A version-1 card never expires.
  ASSERT_OK_AND_ASSIGN(PublicCard v1, PublicCard::Parse(card_text_, "x.card"));
  EXPECT_EQ(v1.version, 1);
  EXPECT_FALSE(v1.ExpiredAt(INT64_MAX));
  EXPECT_EQ(card_text_.find("expires"), std::string::npos);
}

TEST_F(CardV2Test, TheExpiryIsSigned) {
  // A later expiry written in by hand breaks the self-signature.
  std::string edited = v2_text_;
  size_t p = edited.find("expires: 2028");
  ASSERT_NE(p, std::string::npos);
  edited.replace(p, 13, "expires: 2039");
  EXPECT_THAT(PublicCard::Parse(edited, "x.card"), StatusIs(StatusCode::kUnauthenticated, "self-signature"));
  // Nor can it be dropped by calling the card version 1 (another domain).
  std::string as_v1 = v2_text_;
  as_v1.replace(as_v1.find("ketenpoort-card: 2"), 18, "ketenpoort-card: 1");
  as_v1.erase(as_v1.find("expires: "), as_v1.find('\n', as_v1.find("expires: ")) - as_v1.find("expires: ") + 1);
  EXPECT_THAT(PublicCard::Parse(as_v1, "x.card"), StatusIs(StatusCode::kUnauthenticated));
}

TEST_F(CardV2Test, MalformedExpiriesAreRefused) {
  auto with = [&](const std::string& from, const std::string& to) {
    std::string t = v2_text_;
    size_t p = t.find(from);
    EXPECT_NE(p, std::string::npos) << from;
    t.replace(p, from.size(), to);
    return PublicCard::Parse(t, "x.card").status();
  };
  const std::string line = v2_text_.substr(v2_text_.find("expires: "),
                                           v2_text_.find('\n', v2_text_.find("expires: ")) - v2_text_.find("expires: ") + 1);
  EXPECT_THAT(with(line, ""), StatusIs(StatusCode::kInvalidArgument, "missing entry 'expires'"));
  EXPECT_THAT(with(line, "expires: soon\n"), StatusIs(StatusCode::kInvalidArgument, "expires"));
  EXPECT_THAT(with(line, "expires: 2020-01-01T00:00:00.000Z\n"),
              StatusIs(StatusCode::kInvalidArgument, "after created"));
  EXPECT_THAT(with("ketenpoort-card: 2", "ketenpoort-card: 3"),
              StatusIs(StatusCode::kInvalidArgument, "unsupported card version"));
  // A version-1 card may not carry an expiry.
  std::string v1 = card_text_;
  v1.insert(v1.find("signing-key"), "expires: 2029-01-01T00:00:00.000Z\n");
  EXPECT_THAT(PublicCard::Parse(v1, "x.card"), StatusIs(StatusCode::kInvalidArgument, "unknown entry 'expires'"));
}

TEST_F(CardV2Test, EveryTruncatedOrFlippedVersionTwoCardIsRefused) {
  for (size_t len = 0; len < v2_text_.size(); ++len) {
    if (PublicCard::Parse(v2_text_.substr(0, len), "x.card").ok()) {
      EXPECT_EQ(len, v2_text_.size() - 1);
    }
  }
  ASSERT_OK_AND_ASSIGN(PublicCard good, PublicCard::Parse(v2_text_, "x.card"));
  for (size_t i = 0; i < v2_text_.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string bad = v2_text_;
      bad[i] = static_cast<char>(bad[i] ^ (1 << bit));
      auto r = PublicCard::Parse(bad, "x.card");
      if (r.ok()) {
        EXPECT_EQ(r->CanonicalBytes(), good.CanonicalBytes()) << i << ":" << bit;
        EXPECT_EQ(r->expires_ms, good.expires_ms);
      }
    }
  }
}

TEST_F(CardV2Test, RotationFilesLieBesideTheActiveOnes) {
  auto next = Identity::Generate("politie-agent", ParticipantKind::kAgent, "politie", kCreated + 1000);
  ASSERT_OK(WriteIdentityFiles(v2_dir_.path(), *next, nullptr, kExpires + 1000, "next"));
  EXPECT_EQ(IdentityFilePath(v2_dir_.path(), "politie-agent", "next"), v2_dir_.File("politie-agent.next.secret"));
  ASSERT_OK_AND_ASSIGN(Identity loaded, Identity::LoadFile(v2_dir_.File("politie-agent.next.secret")));
  ASSERT_OK_AND_ASSIGN(PublicCard card, PublicCard::LoadFile(v2_dir_.File("politie-agent.next.card")));
  EXPECT_OK(loaded.MatchesCard(card));
  // The active files are untouched, and never overwritten.
  EXPECT_EQ(*ReadFileBounded(CardFilePath(v2_dir_.path(), "politie-agent"), 10000), v2_text_);
  EXPECT_THAT(WriteIdentityFiles(v2_dir_.path(), *next, nullptr, kExpires, "next"),
              StatusIs(StatusCode::kAlreadyExists));
}

TEST_F(CardV2Test, TheKeyRingOpensWhatWasSealedToTheNextAndThePreviousKeySet) {
  const std::string active = IdentityFilePath(v2_dir_.path(), "politie-agent");
  auto next = Identity::Generate("politie-agent", ParticipantKind::kAgent, "politie", kCreated + 1000);
  ASSERT_OK(WriteIdentityFiles(v2_dir_.path(), *next, nullptr, kExpires + 1000, "next"));
  ASSERT_OK_AND_ASSIGN(Identity me, Identity::LoadFile(active));
  EXPECT_EQ(me.SealingRing().size(), 1u);
  ASSERT_OK_AND_ASSIGN(int added, me.LoadKeyRing(active));
  EXPECT_EQ(added, 1);
  ASSERT_EQ(me.SealingRing().size(), 2u);
  EXPECT_EQ(me.SealingRing()[0]->public_key, me.sealing().public_key);
  EXPECT_EQ(me.SealingRing()[1]->public_key, next->sealing().public_key);
  // Its signing key too: what an audit log is handed over from.
  ASSERT_EQ(me.OtherSigningKeys().size(), 1u);
  EXPECT_EQ(me.OtherSigningKeys()[0]->public_key, next->signing().public_key);
  // Another participant's key set under the name is refused.
  auto other = Identity::Generate("om-agent", ParticipantKind::kAgent, "om", kCreated);
  ASSERT_OK(WriteIdentityFiles(v2_dir_.path(), *other, nullptr, kExpires));
  ASSERT_EQ(::rename(IdentityFilePath(v2_dir_.path(), "om-agent").c_str(),
                     IdentityFilePath(v2_dir_.path(), "politie-agent", "previous").c_str()), 0);
  ASSERT_OK_AND_ASSIGN(Identity again, Identity::LoadFile(active));
  EXPECT_THAT(again.LoadKeyRing(active), StatusIs(StatusCode::kFailedPrecondition, "not another key set"));
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp
