// The passphrase-protected identity file (docs/formats.md §1.2): round trip,
// wrong or missing passphrase, every flipped bit and every truncation, hostile
// Argon2id limits, file modes, and where passphrases come from. Real files,
// real libsodium; Argon2id at its cheapest (MinimalPwhashLimits) except where
// a test is about the default.
#include <sys/stat.h>

#include <chrono>
#include <cstdlib>
#include <cstring>

#include "core/base/file_util.h"
#include "core/identity/identity.h"
#include "core/identity/passphrase_prompt.h"
#include "core/identity/protected_identity.h"
#include "tests/testing/status_matchers.h"

namespace kp {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

using ::kp::testing::IsOk;
using ::kp::testing::StatusIs;
using ::kp::testing::TempDir;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr int64_t kCreated = 1795357974123;
constexpr std::string_view kPass = "paard batterij nietje correct";

SecretBytes Secret(std::string_view s) {
  SecretBytes b(s.size());
  if (!s.empty()) std::memcpy(b.mutable_data(), s.data(), s.size());
  return b;
}

// A provider that hands out `pass` and counts its calls.
struct CountingProvider {
  std::string pass;
  int calls = 0;
  PassphraseProvider Get() {
    return [this](const std::string&) -> Result<SecretBytes> {
      ++calls;
      return Secret(pass);
    };
  }
};

class ProtectedIdentityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::chmod(dir_.path().c_str(), 0700);
    auto id = Identity::Generate("vt-regisseur-1", ParticipantKind::kCoordinator, "veiligheidsteam", kCreated);
    ASSERT_THAT(id, IsOk());
    SecretBytes pass = Secret(kPass);
    IdentityProtection protection{&pass, MinimalPwhashLimits()};
    ASSERT_OK(WriteIdentityFiles(dir_.path(), *id, &protection));
    path_ = IdentityFilePath(dir_.path(), "vt-regisseur-1");
    text_ = *ReadFileBounded(path_, 10000);
    card_ = *PublicCard::LoadFile(CardFilePath(dir_.path(), "vt-regisseur-1"));
    plain_text_ = std::string(id->ToFileText().view());
  }

  Status LoadText(std::string_view text, const PassphraseProvider& provider) {
    return Identity::FromFileText(Secret(text), "edited.secret", provider).status();
  }

  std::string WriteText(const std::string& name, const std::string& text, mode_t mode = 0600) {
    std::string p = dir_.File(name);
    ::unlink(p.c_str());
    EXPECT_THAT(WriteFileDurable(p, text, mode, WriteMode::kCreateExclusive), IsOk());
    return p;
  }

  TempDir dir_;
  std::string path_, text_, plain_text_;
  PublicCard card_;
  CountingProvider right_{std::string(kPass)};
};

TEST_F(ProtectedIdentityTest, RoundTripWithThePassphrase) {
  ASSERT_OK_AND_ASSIGN(Identity loaded, Identity::LoadFile(path_, right_.Get()));
  EXPECT_THAT(loaded.MatchesCard(card_), IsOk());
  EXPECT_EQ(loaded.kind(), ParticipantKind::kCoordinator);
  EXPECT_EQ(right_.calls, 1);
}

TEST_F(ProtectedIdentityTest, APersonRecognisesTheFileAndNoSecretIsInTheClear) {
  EXPECT_THAT(text_, StartsWith("# Ketenpoort secret identity, encrypted with a passphrase."));
  EXPECT_THAT(text_, HasSubstr("\nketenpoort-identity-protected v1\nkdf: argon2id13\nopslimit: 1\nmemlimit: 8192\n"));
  for (const char* key : {"signing-secret", "sealing-secret", "transport-secret", "vt-regisseur-1"}) {
    EXPECT_THAT(text_, Not(HasSubstr(key))) << key;
  }
  size_t secret_line = plain_text_.find("sealing-secret: ");
  std::string sealing_b64 = plain_text_.substr(secret_line + 16, 44);
  EXPECT_THAT(text_, Not(HasSubstr(sealing_b64)));
}

TEST_F(ProtectedIdentityTest, SecretFileIsMode0600AndLooseModesAreRefused) {
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ::chmod(path_.c_str(), 0640);
  EXPECT_THAT(Identity::LoadFile(path_, right_.Get()), StatusIs(StatusCode::kFailedPrecondition, "chmod 600"));
  EXPECT_EQ(right_.calls, 0);
}

TEST_F(ProtectedIdentityTest, WithoutAProviderTheErrorSaysItIsProtected) {
  EXPECT_THAT(Identity::LoadFile(path_),
              StatusIs(StatusCode::kFailedPrecondition, "is protected with a passphrase; "));
  EXPECT_THAT(Identity::LoadFile(path_), StatusIs(StatusCode::kFailedPrecondition, path_));
}

TEST_F(ProtectedIdentityTest, AWrongPassphraseIsRefusedInWordsWithoutDetail) {
  CountingProvider wrong{"paard batterij nietje correcT"};
  auto r = Identity::LoadFile(path_, wrong.Get());
  EXPECT_THAT(r, StatusIs(StatusCode::kUnauthenticated, "the passphrase is wrong, or the file was changed"));
  EXPECT_THAT(r.status().message(), HasSubstr(path_));
  EXPECT_THAT(r.status().message(), Not(HasSubstr("byte")));
  EXPECT_EQ(wrong.calls, 1);
}

TEST_F(ProtectedIdentityTest, AProviderErrorIsReturnedAsItIs) {
  PassphraseProvider none = [](const std::string&) -> Result<SecretBytes> {
    return Status(StatusCode::kCancelled, "no passphrase was typed");
  };
  EXPECT_THAT(Identity::LoadFile(path_, none), StatusIs(StatusCode::kCancelled, "no passphrase was typed"));
}

TEST_F(ProtectedIdentityTest, AnUnprotectedFileNeverAsksForAPassphrase) {
  std::string p = WriteText("plain.secret", plain_text_);
  ASSERT_OK_AND_ASSIGN(Identity loaded, Identity::LoadFile(p, right_.Get()));
  EXPECT_THAT(loaded.MatchesCard(card_), IsOk());
  EXPECT_EQ(right_.calls, 0);
}

TEST_F(ProtectedIdentityTest, EveryFlippedBitIsRefused) {
  ASSERT_THAT(LoadText(text_, right_.Get()), IsOk());
  for (size_t i = 0; i < text_.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string bad = text_;
      bad[i] = static_cast<char>(bad[i] ^ (1 << bit));
      Status s = LoadText(bad, right_.Get());
      ASSERT_FALSE(s.ok()) << i << ":" << bit;
      EXPECT_THAT(s.message(), HasSubstr("edited.secret")) << s;
    }
  }
}

TEST_F(ProtectedIdentityTest, EveryTruncationIsRefused) {
  for (size_t len = 0; len < text_.size(); ++len) {
    Status s = LoadText(text_.substr(0, len), right_.Get());
    ASSERT_FALSE(s.ok()) << len;
    EXPECT_THAT(s.message(), HasSubstr("edited.secret")) << s;
  }
  EXPECT_FALSE(LoadText(text_ + "x\n", right_.Get()).ok());
}

// Limits outside the bounds are refused before the passphrase is asked or
// any memory is taken, so a hostile file costs nothing.
TEST_F(ProtectedIdentityTest, HostileLimitsAreRefusedBeforeAnyWork) {
  const std::pair<const char*, const char*> edits[] = {
      {"opslimit: 1\n", "opslimit: 4294967295\n"},  {"opslimit: 1\n", "opslimit: 11\n"},
      {"opslimit: 1\n", "opslimit: 0\n"},           {"memlimit: 8192\n", "memlimit: 4398046511104\n"},
      {"memlimit: 8192\n", "memlimit: 1073742848\n"}, {"memlimit: 8192\n", "memlimit: 4096\n"},
      {"memlimit: 8192\n", "memlimit: 8193\n"},     {"memlimit: 8192\n", "memlimit: 99999999999999999999999\n"},
      {"memlimit: 8192\n", "memlimit: -8192\n"},    {"memlimit: 8192\n", "memlimit: 08192\n"},
  };
  for (const auto& [from, to] : edits) {
    std::string bad = text_;
    size_t at = bad.find(from);
    ASSERT_NE(at, std::string::npos);
    bad.replace(at, std::strlen(from), to);
    const auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(LoadText(bad, right_.Get()).ok()) << to;
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1)) << to;
  }
  EXPECT_EQ(right_.calls, 0);
}

TEST_F(ProtectedIdentityTest, TheBoundsThemselvesAreAccepted) {
  EXPECT_THAT(CheckPwhashLimits({10, uint64_t{1} << 30}), IsOk());
  EXPECT_THAT(CheckPwhashLimits({1, 8192}), IsOk());
  EXPECT_THAT(CheckPwhashLimits(DefaultPwhashLimits()), IsOk());
}

TEST_F(ProtectedIdentityTest, DefaultLimitsAreModerateAndRoundTrip) {
  EXPECT_EQ(DefaultPwhashLimits().opslimit, 3u);
  EXPECT_EQ(DefaultPwhashLimits().memlimit_bytes, 256u << 20);
  ASSERT_OK_AND_ASSIGN(Identity id, Identity::FromFileText(Secret(plain_text_), "plain", nullptr));
  ASSERT_OK_AND_ASSIGN(std::string text, id.ToProtectedFileText(Secret(kPass), DefaultPwhashLimits()));
  EXPECT_THAT(text, HasSubstr("\nopslimit: 3\nmemlimit: 268435456\n"));
  EXPECT_THAT(LoadText(text, right_.Get()), IsOk());
}

TEST_F(ProtectedIdentityTest, EachProtectionHasItsOwnSaltAndNonce) {
  ASSERT_OK_AND_ASSIGN(Identity id, Identity::FromFileText(Secret(plain_text_), "plain", nullptr));
  ASSERT_OK_AND_ASSIGN(std::string a, id.ToProtectedFileText(Secret(kPass), MinimalPwhashLimits()));
  ASSERT_OK_AND_ASSIGN(std::string b, id.ToProtectedFileText(Secret(kPass), MinimalPwhashLimits()));
  EXPECT_NE(a, b);
  ASSERT_OK_AND_ASSIGN(ProtectedIdentity pa, ParseProtectedIdentity(a));
  ASSERT_OK_AND_ASSIGN(ProtectedIdentity pb, ParseProtectedIdentity(b));
  EXPECT_NE(pa.salt, pb.salt);
  EXPECT_NE(pa.sealed.substr(0, 24), pb.sealed.substr(0, 24));
}

TEST_F(ProtectedIdentityTest, ShortOrOddPassphrasesAreRefusedForANewFile) {
  ASSERT_OK_AND_ASSIGN(Identity id, Identity::FromFileText(Secret(plain_text_), "plain", nullptr));
  EXPECT_THAT(id.ToProtectedFileText(Secret("elf tekens!"), MinimalPwhashLimits()),
              StatusIs(StatusCode::kInvalidArgument, "at least 12 characters"));
  EXPECT_THAT(CheckNewPassphrase(Secret("twaalf tekns")), IsOk());
  // Characters, not bytes: eleven letters with accents are still too short.
  EXPECT_THAT(CheckNewPassphrase(Secret("\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9"
                                        "\xC3\xA9\xC3\xA9\xC3\xA9")),
              StatusIs(StatusCode::kInvalidArgument, "too short"));
  EXPECT_THAT(CheckNewPassphrase(Secret("twaalf tekens\nen meer")), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(CheckNewPassphrase(Secret(std::string(1025, 'x'))), StatusIs(StatusCode::kInvalidArgument));
}

TEST_F(ProtectedIdentityTest, PassphraseFileMustBePrivateAndLosesItsLineBreak) {
  std::string p = WriteText("pass", std::string(kPass) + "\n");
  ASSERT_OK_AND_ASSIGN(SecretBytes got, PassphraseFromFile(p));
  EXPECT_EQ(got.view(), kPass);
  std::string open = WriteText("pass-open", std::string(kPass), 0644);
  EXPECT_THAT(PassphraseFromFile(open), StatusIs(StatusCode::kFailedPrecondition, "chmod 600"));
  EXPECT_THAT(PassphraseFromFile(WriteText("empty", "\n")), StatusIs(StatusCode::kInvalidArgument, "empty"));
  EXPECT_THAT(PassphraseFromFile(dir_.File("missing")), StatusIs(StatusCode::kNotFound, "passphrase file"));
}

TEST_F(ProtectedIdentityTest, TheEnvironmentVariableNamesThePassphraseFile) {
  std::string p = WriteText("pass", std::string(kPass) + "\n");
  ::setenv(kPassphraseFileEnv, p.c_str(), 1);
  auto loaded = Identity::LoadFile(path_, TerminalOrEnvPassphraseProvider());
  ::unsetenv(kPassphraseFileEnv);
  ASSERT_THAT(loaded, IsOk());
  EXPECT_THAT(loaded->MatchesCard(card_), IsOk());
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp
