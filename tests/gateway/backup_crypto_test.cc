// Encrypted backups (gateway/backup_crypto.h; docs/formats.md §6;
// docs/operations.md, "Backup and restore"):
//  * the key files: the secret one 0600 and refused when others can read it;
//  * a folder encrypted and decrypted comes back byte for byte; every
//    flipped bit and every cut of the encrypted file is refused (DataLoss or
//    Unauthenticated), never a crash; another key is refused by name;
//  * with the real ketenpoort-gateway binary: backup-keygen, an encrypted
//    backup (and a plain one warns), a tampered or cut encrypted backup is
//    not restored and leaves the data folder as it was, the intact one is
//    restored with --decrypt-with and the gateway starts on it.
#include "gateway/backup_crypto.h"

#include <signal.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "core/base/file_util.h"
#include "core/crypto/random.h"
#include "gateway/gateway_config.h"
#include "tests/testing/region_processes.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_time.h"

namespace kp {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

namespace fs = std::filesystem;
using ::kp::testing::IsOk;
using ::kp::testing::Region;
using ::kp::testing::RegionProcesses;
using ::kp::testing::StatusIs;

using test::kProcessDeadlineMs;

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 0777;
}

// Every regular file under `dir`, by relative path, with its bytes.
std::map<std::string, std::string> Tree(const std::string& dir) {
  std::map<std::string, std::string> out;
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(dir, ec)) {
    if (!e.is_regular_file()) continue;
    auto text = ReadFileBounded(e.path().string(), size_t{1} << 28);
    out[fs::relative(e.path(), dir).string()] = text.ok() ? *text : "<unreadable>";
  }
  return out;
}

class BackupCryptoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(keys_, gateway::MakeBackupKey(dir_.File("backup-key")));
    ASSERT_OK_AND_ASSIGN(pair_, gateway::ReadBackupSecretKey(keys_.secret_path));
    plain_ = dir_.File("plain");
    ::mkdir(plain_.c_str(), 0700);
    ::mkdir((plain_ + "/audit").c_str(), 0700);
    ::mkdir((plain_ + "/audit/checkpoints").c_str(), 0700);
    ASSERT_OK(
        WriteFileDurable(plain_ + "/backup.manifest", "a manifest\n", 0600, WriteMode::kCreateExclusive));
    ASSERT_OK(WriteFileDurable(plain_ + "/cases.db", RandomBytes(100), 0600, WriteMode::kCreateExclusive));
    ASSERT_OK(
        WriteFileDurable(plain_ + "/audit/records", RandomBytes(60), 0600, WriteMode::kCreateExclusive));
    ASSERT_OK(WriteFileDurable(plain_ + "/audit/checkpoints/00000000000000000007", "", 0600,
                               WriteMode::kCreateExclusive));
  }

  // Decrypts `file` into a fresh folder; the folder is removed again.
  Status DecryptInto(const std::string& file, std::map<std::string, std::string>* tree = nullptr) {
    const std::string out = dir_.File("out-" + std::to_string(++outs_));
    ::mkdir(out.c_str(), 0700);
    Status s = gateway::DecryptBackupFile(file, pair_, out);
    if (tree != nullptr) *tree = Tree(out);
    std::error_code ec;
    fs::remove_all(out, ec);
    return s;
  }

  // Decrypts `bytes` in memory (the tamper loops: no files).
  Status DecryptBytes(const std::string& bytes) {
    struct Collect : gateway::BackupFileSink {
      std::map<std::string, std::string> files;
      std::string* current = nullptr;
      Status Begin(const std::string& path) override {
        if (files.count(path) != 0) return AlreadyExistsError(path);
        current = &files[path];
        return OkStatus();
      }
      Status Data(std::string_view b) override {
        current->append(b);
        return OkStatus();
      }
      Status End() override { return OkStatus(); }
    } sink;
    std::istringstream in(bytes);
    return gateway::DecryptBackupStream(in, "backup.sealed", pair_, sink);
  }

  testing::TempDir dir_;
  gateway::BackupKeyFiles keys_;
  X25519KeyPair pair_;
  std::string plain_;
  int outs_ = 0;
};

TEST_F(BackupCryptoTest, KeyFilesAreWrittenOnceAndTheSecretOneIsPrivate) {
  EXPECT_EQ(ModeOf(keys_.secret_path), 0600u);
  EXPECT_EQ(ModeOf(keys_.public_path), 0644u);
  ASSERT_OK_AND_ASSIGN(std::string pub, gateway::ReadBackupPublicKey(keys_.public_path));
  EXPECT_EQ(pub, keys_.public_key);
  EXPECT_EQ(pair_.public_key, keys_.public_key);
  // Never overwritten.
  EXPECT_THAT(gateway::MakeBackupKey(dir_.File("backup-key")), StatusIs(StatusCode::kAlreadyExists));
  // A secret file others can read is refused.
  ASSERT_EQ(::chmod(keys_.secret_path.c_str(), 0644), 0);
  EXPECT_THAT(gateway::ReadBackupSecretKey(keys_.secret_path), StatusIs(StatusCode::kFailedPrecondition));
  // The halves are not interchangeable.
  ASSERT_EQ(::chmod(keys_.public_path.c_str(), 0600), 0);
  EXPECT_FALSE(gateway::ReadBackupSecretKey(keys_.public_path).ok());
  EXPECT_FALSE(gateway::ReadBackupPublicKey(keys_.secret_path).ok());
}

TEST_F(BackupCryptoTest, RoundTripsEveryFileByteForByte) {
  const std::string sealed = dir_.File("backup.sealed");
  ASSERT_OK(gateway::EncryptBackupFolder(plain_, keys_.public_key, sealed));
  EXPECT_EQ(ModeOf(sealed), 0600u);
  std::map<std::string, std::string> back;
  ASSERT_OK(DecryptInto(sealed, &back));
  EXPECT_EQ(back, Tree(plain_));
  EXPECT_EQ(back.size(), 4u);
  // Nothing of the plain bytes is in the file.
  auto bytes = ReadFileBounded(sealed, 1 << 20);
  ASSERT_THAT(bytes, IsOk());
  EXPECT_EQ(bytes->find("a manifest"), std::string::npos);
  EXPECT_EQ(bytes->find("audit/records"), std::string::npos);
}

TEST_F(BackupCryptoTest, EveryFlippedBitAndEveryCutIsRefused) {
  const std::string sealed = dir_.File("backup.sealed");
  ASSERT_OK(gateway::EncryptBackupFolder(plain_, keys_.public_key, sealed));
  ASSERT_OK_AND_ASSIGN(const std::string good, ReadFileBounded(sealed, 1 << 20));
  ASSERT_OK(DecryptBytes(good));
  for (size_t i = 0; i < good.size() * 8; ++i) {
    std::string b = good;
    b[i / 8] = static_cast<char>(b[i / 8] ^ (1 << (i % 8)));
    Status s = DecryptBytes(b);
    ASSERT_FALSE(s.ok()) << "bit " << i;
    ASSERT_TRUE(s.code() == StatusCode::kDataLoss || s.code() == StatusCode::kUnauthenticated) << s;
  }
  for (size_t n = 0; n < good.size(); ++n) {
    ASSERT_THAT(DecryptBytes(good.substr(0, n)), StatusIs(StatusCode::kDataLoss)) << "cut at " << n;
  }
  // Bytes after the end.
  EXPECT_THAT(DecryptBytes(good + "x"), StatusIs(StatusCode::kDataLoss));
  // The file itself, changed on disk: refused the same way.
  const std::string bad = dir_.File("bad.sealed");
  std::string b = good;
  b[b.size() - 30] = static_cast<char>(b[b.size() - 30] ^ 1);
  ASSERT_OK(WriteFileDurable(bad, b, 0600, WriteMode::kCreateExclusive));
  EXPECT_THAT(DecryptInto(bad), StatusIs(StatusCode::kDataLoss));
}

TEST_F(BackupCryptoTest, AnotherKeyIsRefusedByItsFingerprint) {
  const std::string sealed = dir_.File("backup.sealed");
  ASSERT_OK(gateway::EncryptBackupFolder(plain_, keys_.public_key, sealed));
  ASSERT_OK_AND_ASSIGN(auto other, gateway::MakeBackupKey(dir_.File("other")));
  ASSERT_OK_AND_ASSIGN(pair_, gateway::ReadBackupSecretKey(other.secret_path));
  Status s = DecryptInto(sealed);
  EXPECT_THAT(s, StatusIs(StatusCode::kUnauthenticated));
  EXPECT_NE(s.message().find(gateway::BackupKeyFingerprint(keys_.public_key)), std::string::npos) << s;
}

// ---- with the real gateway binary

class EncryptedBackupProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto r = Region::Create(dir_.path(), SystemClock::Get());
    ASSERT_THAT(r, IsOk());
    region_ = std::move(r).value();
    ::mkdir(dir_.File("run").c_str(), 0700);
    processes_ = std::make_unique<RegionProcesses>(
        *region_, RegionProcesses::Options{dir_.File("run"), "info", "management: 127.0.0.1:0\n"});
    ASSERT_OK(processes_->WriteConfigs({"politie"}));
    auto config = gateway::LoadGatewayConfig(processes_->gateway_config_path());
    ASSERT_THAT(config, IsOk());
    config_ = *config;
    binary_ = dir_.File("run") + "/bin/ketenpoort-gateway";
  }
  void TearDown() override {
    processes_->StopAll(SIGTERM);
    if (HasFailure()) std::cerr << "gateway log:\n" << processes_->ReadLog("gateway");
  }
  // Runs the binary with `args`; its exit code, and what it printed in `out`.
  int Gateway(const std::string& args, std::string* out) {
    const std::string printed = dir_.File("printed.txt");
    const int rc = std::system((binary_ + " " + args + " > " + printed + " 2>&1").c_str());
    auto text = ReadFileBounded(printed, 1 << 16);
    *out = text.ok() ? *text : "";
    return rc;
  }
  std::map<std::string, std::string> DataFolder() {
    auto tree = Tree(config_.data_dir);
    tree.erase("management.token");  // rewritten by every start
    return tree;
  }

  testing::TempDir dir_;
  std::unique_ptr<Region> region_;
  std::unique_ptr<RegionProcesses> processes_;
  gateway::GatewayConfig config_;
  std::string binary_;
};

TEST_F(EncryptedBackupProcessTest, TamperedEncryptedBackupWritesNothingTheIntactOneRestores) {
  ASSERT_OK(processes_->StartGateway());
  ASSERT_TRUE(processes_->WaitForGatewayPort(kProcessDeadlineMs));
  EXPECT_EQ(processes_->StopGateway(SIGTERM), 0);
  const std::string cfg = " --config " + processes_->gateway_config_path();
  std::string out;
  ASSERT_EQ(Gateway("backup-keygen --out " + dir_.File("bk"), &out), 0) << out;
  EXPECT_EQ(ModeOf(dir_.File("bk.secret")), 0600u);

  // A plain backup warns; an encrypted one does not.
  ASSERT_EQ(Gateway("backup" + cfg + " --out " + dir_.File("plain"), &out), 0) << out;
  EXPECT_NE(out.find("NOT encrypted"), std::string::npos) << out;
  const std::string enc = dir_.File("encrypted");
  ASSERT_EQ(Gateway("backup" + cfg + " --out " + enc + " --encrypt-to " + dir_.File("bk.public"), &out), 0)
      << out;
  EXPECT_EQ(out.find("NOT encrypted"), std::string::npos) << out;
  EXPECT_EQ(ModeOf(enc), 0700u);
  ASSERT_EQ(Tree(enc).size(), 1u);
  // No plain copy stays behind in the data folder.
  EXPECT_FALSE(fs::exists(config_.data_dir + "/" + std::string(gateway::kBackupStagingDir) + "/plain"));
  for (const auto& [name, bytes] : Tree(config_.data_dir))
    EXPECT_EQ(name.find("backup-staging"), std::string::npos);

  // Without the secret key: told to pass it.
  EXPECT_NE(Gateway("restore" + cfg + " --force --from " + enc, &out), 0);
  EXPECT_NE(out.find("--decrypt-with"), std::string::npos) << out;

  const auto before = DataFolder();
  const std::string sealed = enc + "/" + std::string(gateway::kEncryptedBackupName);
  ASSERT_OK_AND_ASSIGN(const std::string good, ReadFileBounded(sealed, size_t{1} << 28));
  const std::string restore =
      "restore" + cfg + " --force --from " + enc + " --decrypt-with " + dir_.File("bk.secret");
  // A flipped bit in the middle, and the last chunk cut off: refused, the
  // data folder as it was.
  for (int damage = 0; damage < 2; ++damage) {
    std::string bad = good;
    if (damage == 0) {
      bad[bad.size() / 2] = static_cast<char>(bad[bad.size() / 2] ^ 0x10);
    } else {
      bad.resize(bad.size() - 10);
    }
    ASSERT_OK(WriteFileDurable(sealed, bad, 0600, WriteMode::kReplace));
    EXPECT_EQ(Gateway(restore, &out), 256) << out;
    EXPECT_NE(out.find("damaged or cut short"), std::string::npos) << out;
    EXPECT_NE(out.find("nothing was restored"), std::string::npos) << out;
    EXPECT_EQ(DataFolder(), before) << "damage " << damage;
  }
  ASSERT_OK(WriteFileDurable(sealed, good, 0600, WriteMode::kReplace));
  ASSERT_EQ(Gateway(restore, &out), 0) << out;
  EXPECT_NE(DataFolder(), before);
  for (const auto& [name, bytes] : Tree(config_.data_dir))
    EXPECT_EQ(name.find("backup-staging"), std::string::npos);
  ASSERT_OK(processes_->StartGateway());
  ASSERT_TRUE(processes_->WaitForGatewayPort(kProcessDeadlineMs));
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp
