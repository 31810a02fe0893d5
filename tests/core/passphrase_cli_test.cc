// `ketenpoort keygen --passphrase-file` and `identity protect|unprotect` in
// process, and a command that then loads the protected identity through
// KETENPOORT_PASSPHRASE_FILE (envelope sign; the coordinator's commands and
// audit pull load theirs through the same provider). Real files, real
// Argon2id at the default limits (about 0.7 s per derivation).
#include <sys/stat.h>

#include <sstream>

#include "cli/cli_context.h"
#include "core/base/file_util.h"
#include "core/identity/identity.h"
#include "core/identity/passphrase_prompt.h"
#include "tests/testing/cli_run.h"
#include "tests/testing/status_matchers.h"

namespace kp::cli {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

using ::kp::testing::IsOk;
using ::kp::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

using testing::CliRun;
using testing::RunCli;

class PassphraseCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::unsetenv(kPassphraseFileEnv);
    ::chmod(dir_.path().c_str(), 0700);
    pass_ = Write("pass", "paard batterij nietje correct\n");
    wrong_ = Write("wrong", "paard batterij nietje verkeerd\n");
    body_ = Write("hb.json", "{}", 0644);
    keys_ = dir_.File("keys");
    secret_ = keys_ + "/vt-regisseur-1.secret";
  }
  void TearDown() override { ::unsetenv(kPassphraseFileEnv); }

  std::string Write(const std::string& name, const std::string& text, mode_t mode = 0600) {
    std::string p = dir_.File(name);
    EXPECT_THAT(WriteFileDurable(p, text, mode, WriteMode::kReplace), IsOk());
    return p;
  }
  CliRun Keygen(const std::string& kind, const std::string& pass_file) {
    return RunCli({"keygen", "--id", "vt-regisseur-1", "--kind", kind, "--partner", "veiligheidsteam", "--out",
                   keys_, "--passphrase-file", pass_file});
  }
  CliRun Sign() {
    return RunCli({"envelope", "sign", "--identity", secret_, "--kind", "heartbeat", "--in", body_, "--out",
                   dir_.File("hb.env")});
  }

  ::kp::testing::TempDir dir_;
  std::string pass_, wrong_, body_, keys_, secret_;
};

TEST_F(PassphraseCliTest, KeygenWritesAProtectedFileThatCommandsThenUse) {
  CliRun k = Keygen("coordinator", pass_);
  ASSERT_EQ(k.exit_code, 0) << k.err;
  EXPECT_THAT(k.out, HasSubstr("protected with your passphrase"));
  std::string text = *ReadFileBounded(secret_, 10000);
  EXPECT_THAT(text, HasSubstr("\nketenpoort-identity-protected v1\n"));
  EXPECT_THAT(Identity::LoadFile(secret_), StatusIs(StatusCode::kFailedPrecondition, "protected with a passphrase"));

  ::setenv(kPassphraseFileEnv, pass_.c_str(), 1);
  CliRun s = Sign();
  EXPECT_EQ(s.exit_code, 0) << s.err;
  CliRun v = RunCli({"envelope", "verify", "--from", keys_ + "/vt-regisseur-1.card", "--in", dir_.File("hb.env")});
  EXPECT_EQ(v.exit_code, 0) << v.err;

  ::setenv(kPassphraseFileEnv, wrong_.c_str(), 1);
  CliRun bad = Sign();
  EXPECT_EQ(bad.exit_code, kExitVerification);
  EXPECT_THAT(bad.err, HasSubstr("the passphrase is wrong"));
  EXPECT_THAT(bad.err, Not(HasSubstr("verkeerd")));
}

TEST_F(PassphraseCliTest, AShortPassphraseLeavesNoFiles) {
  CliRun k = Keygen("coordinator", Write("short", "te kort\n"));
  EXPECT_EQ(k.exit_code, kExitError);
  EXPECT_THAT(k.err, HasSubstr("at least 12 characters"));
  struct stat st {};
  EXPECT_NE(::stat(keys_.c_str(), &st), 0);
}

TEST_F(PassphraseCliTest, APassphraseFileOthersCanReadIsRefused) {
  CliRun k = Keygen("coordinator", Write("open", "paard batterij nietje correct\n", 0644));
  EXPECT_EQ(k.exit_code, kExitError);
  EXPECT_THAT(k.err, HasSubstr("chmod 600"));
}

TEST_F(PassphraseCliTest, UnattendedKindsAreNotProtected) {
  CliRun k = Keygen("agent", pass_);
  EXPECT_EQ(k.exit_code, kExitError);
  EXPECT_THAT(k.err, HasSubstr("unattended"));
}

TEST_F(PassphraseCliTest, UnprotectAndProtectAgain) {
  ASSERT_EQ(Keygen("coordinator", pass_).exit_code, 0);
  ::setenv(kPassphraseFileEnv, pass_.c_str(), 1);
  CliRun u = RunCli({"identity", "unprotect", secret_});
  ASSERT_EQ(u.exit_code, 0) << u.err;
  EXPECT_THAT(Identity::LoadFile(secret_), IsOk());
  struct stat st {};
  ASSERT_EQ(::stat(secret_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  ::unsetenv(kPassphraseFileEnv);
  CliRun p = RunCli({"identity", "protect", secret_, "--passphrase-file", wrong_});
  ASSERT_EQ(p.exit_code, 0) << p.err;
  EXPECT_THAT(Identity::LoadFile(secret_), StatusIs(StatusCode::kFailedPrecondition));
  CliRun twice = RunCli({"identity", "protect", secret_, "--passphrase-file", pass_});
  EXPECT_EQ(twice.exit_code, kExitError);
  EXPECT_THAT(twice.err, HasSubstr("already protected"));

  ::setenv(kPassphraseFileEnv, wrong_.c_str(), 1);
  EXPECT_EQ(Sign().exit_code, 0);
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp::cli
