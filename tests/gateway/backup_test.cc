// Backup and restore of the gateway (gateway/backup.h; docs/operations.md,
// "Backup and restore"):
//  * the signed manifest and the restore point line (untrusted bytes): every
//    bit flipped and every length cut is refused, never a crash;
//  * a backup whose files were changed does not verify, and is not restored;
//  * with real processes — the ketenpoort-gateway and ketenpoort-agent
//    binaries, the coordinator client on loopback: a backup while requests
//    flow (online, through the management address), more requests, kill -9,
//    restore, start again: the police agent, which saw checkpoints of the
//    lost history, records LOG_RESTORED once and raises no fork alarm; a
//    request the gateway had accepted after the backup and lost is sent
//    again by the coordinator's client by itself (with a notice) and
//    answered once; the restored log verifies.
#include "gateway/backup.h"

#include <signal.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <future>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/audit/log_format.h"
#include "core/audit/log_reader.h"
#include "core/audit/log_verifier.h"
#include "core/audit/restore_point.h"
#include "core/base/encoding.h"
#include "core/base/file_util.h"
#include "core/crypto/random.h"
#include "gateway/gateway.h"
#include "tests/testing/region_processes.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_time.h"

namespace kp {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

using ::kp::testing::IsOk;
using ::kp::testing::Region;
using ::kp::testing::RegionProcesses;
namespace v1 = ketenpoort::v1;

using test::kProcessDeadlineMs;

// ---- the manifest and the restore point (no processes)

class ManifestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto id = Identity::Generate("gateway", ParticipantKind::kGateway, "zvh", 1'790'000'000'000);
    ASSERT_THAT(id, IsOk());
    auto signer = audit::LogSigner::Create("zvh.example/audit", id->signing().public_key,
                                           id->signing().secret_key.Clone());
    ASSERT_THAT(signer, IsOk());
    signer_ = std::make_unique<audit::LogSigner>(std::move(signer).value());
    manifest_.backup_id = HexEncode(RandomBytes(16));
    manifest_.made_unix_millis = 1'790'000'000'000;
    manifest_.online = true;
    manifest_.checkpoint = {"zvh.example/audit", 1234, std::string(32, '\x5a'), {}};
    manifest_.files = {{"cases.db", 4096, std::string(32, '\x01')},
                       {"audit/records", 99999, std::string(32, '\x02')},
                       {"audit/tree", 78912, std::string(32, '\x03')}};
    note_ = signer_->Sign(gateway::ManifestToCheckpoint(manifest_));
  }
  std::unique_ptr<audit::LogSigner> signer_;
  gateway::BackupManifest manifest_;
  std::string note_;
};

TEST_F(ManifestTest, RoundTrips) {
  auto m = gateway::OpenManifest(note_, signer_->verifier_key());
  ASSERT_THAT(m, IsOk());
  EXPECT_EQ(m->backup_id, manifest_.backup_id);
  EXPECT_EQ(m->made_unix_millis, manifest_.made_unix_millis);
  EXPECT_TRUE(m->online);
  EXPECT_EQ(m->checkpoint.size, 1234u);
  EXPECT_EQ(m->checkpoint.root, manifest_.checkpoint.root);
  ASSERT_EQ(m->files.size(), 3u);
  EXPECT_EQ(m->files[1].path, "audit/records");
  EXPECT_EQ(m->files[1].bytes, 99999u);
}

TEST_F(ManifestTest, EveryFlippedBitIsRefused) {
  for (size_t i = 0; i < note_.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string t = note_;
      t[i] = static_cast<char>(t[i] ^ (1 << bit));
      EXPECT_FALSE(gateway::OpenManifest(t, signer_->verifier_key()).ok()) << "byte " << i << " bit " << bit;
    }
  }
}

TEST_F(ManifestTest, EveryTruncationIsRefused) {
  for (size_t n = 0; n < note_.size(); ++n) {
    EXPECT_FALSE(gateway::OpenManifest(note_.substr(0, n), signer_->verifier_key()).ok()) << n;
  }
}

TEST_F(ManifestTest, UnsafePathsAndMissingFilesAreRefusedEvenWhenSigned) {
  for (const char* path : {"../cases.db", "/etc/passwd", "audit/../../x", "audit//tree", "a b"}) {
    gateway::BackupManifest m = manifest_;
    m.files.push_back({path, 1, std::string(32, '\x04')});
    EXPECT_FALSE(
        gateway::OpenManifest(signer_->Sign(gateway::ManifestToCheckpoint(m)), signer_->verifier_key()).ok())
        << path;
  }
  gateway::BackupManifest m = manifest_;
  m.files.pop_back();  // no audit/tree
  EXPECT_FALSE(
      gateway::OpenManifest(signer_->Sign(gateway::ManifestToCheckpoint(m)), signer_->verifier_key()).ok());
}

TEST(RestorePointTest, RoundTripsAndRefusesEveryDamagedLine) {
  const audit::RestorePoint p{4711, std::string(32, '\x7f'), HexEncode(RandomBytes(16))};
  const std::string line = audit::FormatRestorePoint(p);
  auto back = audit::ParseRestorePoint(line);
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(back->size, p.size);
  EXPECT_EQ(back->root, p.root);
  EXPECT_EQ(back->backup_id, p.backup_id);
  for (size_t n = 0; n < line.size(); ++n)
    EXPECT_FALSE(audit::ParseRestorePoint(line.substr(0, n)).ok()) << n;
  for (size_t i = 0; i < line.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string t = line;
      t[i] = static_cast<char>(t[i] ^ (1 << bit));
      auto r = audit::ParseRestorePoint(t);  // never a crash; never the same point from other bytes
      if (r.ok()) {
        EXPECT_TRUE(r->size != p.size || r->root != p.root || r->backup_id != p.backup_id) << i;
      }
    }
  }
  // A checkpoint may name one restore point, below its own size.
  audit::Checkpoint cp{"o", 4712, std::string(32, '\0'), {line}};
  auto found = audit::FindRestorePoint(cp);
  ASSERT_THAT(found, IsOk());
  ASSERT_TRUE(found->has_value());
  cp.size = 4711;
  EXPECT_FALSE(audit::FindRestorePoint(cp).ok());
  cp.size = 5000;
  cp.extensions.push_back(line);
  EXPECT_FALSE(audit::FindRestorePoint(cp).ok());
}

// ---- real processes

std::map<v1::AuditEvent, std::vector<v1::AuditRecord>> RecordsByEvent(const std::string& dir) {
  std::map<v1::AuditEvent, std::vector<v1::AuditRecord>> out;
  auto reader = audit::LogReader::Open(dir);
  EXPECT_THAT(reader, IsOk());
  if (!reader.ok()) return out;
  EXPECT_OK((*reader)->ForEachEntry([&](const audit::LogEntry& e) {
    if (!e.erased) out[e.record.event()].push_back(e.record);
    return OkStatus();
  }));
  return out;
}

class BackupProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto r = Region::Create(dir_.path(), SystemClock::Get());
    ASSERT_THAT(r, IsOk());
    region_ = std::move(r).value();
    ::mkdir(dir_.File("run").c_str(), 0700);
    // Port 0: the gateway names the port it bound in data_dir/management.token.
    processes_ = std::make_unique<RegionProcesses>(
        *region_, RegionProcesses::Options{dir_.File("run"), "info", "management: 127.0.0.1:0\n"});
    ASSERT_OK(processes_->WriteConfigs({"politie", testing::LoadPartners()[1].first}));
    auto config = gateway::LoadGatewayConfig(processes_->gateway_config_path());
    ASSERT_THAT(config, IsOk());
    config_ = *config;
  }

  void TearDown() override {
    coordinator_.reset();
    processes_->StopAll(SIGTERM);
    if (HasFailure()) {
      std::cerr << "gateway log:\n"
                << processes_->ReadLog("gateway") << "\nagent log:\n"
                << processes_->ReadLog("politie");
    }
  }

  void Connect() {
    auto c = processes_->ConnectCoordinator(0, kProcessDeadlineMs);
    ASSERT_THAT(c, IsOk());
    coordinator_ = std::move(c).value();
  }

  // One request to the police, answered.
  std::string AskAndAwait() {
    auto id = coordinator_->SendRequest({case_id_, "politie", {category_}, testing::kLoadPurpose, {}, ""});
    EXPECT_THAT(id, IsOk());
    if (!id.ok()) return "";
    auto outcome = coordinator_->AwaitOutcome(*id, kProcessDeadlineMs);
    EXPECT_THAT(outcome, IsOk());
    auto r = coordinator_->store().GetRequest(*id);
    EXPECT_TRUE(r.ok() && r->has_value() && (*r)->state == client::RequestState::kDelivered);
    return *id;
  }

  gateway::GatewayConfig config_;
  testing::TempDir dir_;
  std::unique_ptr<Region> region_;
  std::unique_ptr<RegionProcesses> processes_;
  std::unique_ptr<client::Coordinator> coordinator_;
  std::string case_id_;
  std::string category_;
};

TEST_F(BackupProcessTest, BackupUnderLoadKillRestoreAndTheAgentSeesARestoreNotAFork) {
  ASSERT_OK(processes_->StartGateway());
  ASSERT_OK(processes_->StartAgent("politie"));
  Connect();
  auto case_id = testing::OpenLoadCase(*coordinator_);
  ASSERT_THAT(case_id, IsOk());
  case_id_ = *case_id;
  category_ = testing::LoadPartners().front().second;
  AskAndAwait();

  // The backup, online, while requests flow.
  const std::string out = dir_.File("backup-1");
  std::future<Result<gateway::BackupResult>> backup =
      std::async(std::launch::async, [&] { return gateway::MakeBackup(config_, out); });
  while (backup.wait_for(std::chrono::milliseconds(0)) != std::future_status::ready) AskAndAwait();
  Result<gateway::BackupResult> made = backup.get();
  ASSERT_THAT(made, IsOk());
  EXPECT_TRUE(made->manifest.online);
  const uint64_t backup_size = made->manifest.checkpoint.size;
  EXPECT_GT(backup_size, 0u);
  struct stat st {};
  ASSERT_EQ(::stat(out.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);

  // After the backup: answers whose receipts carry checkpoints the restored
  // gateway will not have.
  for (int i = 0; i < 3; ++i) AskAndAwait();
  // One more, accepted and held for a partner whose agent is not running:
  // in flight when the gateway dies.
  const auto& [other_partner, other_category] = testing::LoadPartners()[1];
  auto in_flight =
      coordinator_->SendRequest({case_id_, other_partner, {other_category}, testing::kLoadPurpose, {}, ""});
  ASSERT_THAT(in_flight, IsOk());
  {  // The gateway's ACCEPTED came: it held the request when it died.
    const auto accepted_by = std::chrono::steady_clock::now() + std::chrono::milliseconds(kProcessDeadlineMs);
    for (;;) {
      auto r = coordinator_->store().GetRequest(*in_flight);
      ASSERT_THAT(r, IsOk());
      if ((*r)->accepted) break;
      ASSERT_LT(std::chrono::steady_clock::now(), accepted_by) << "the gateway never accepted the request";
      ASSERT_THAT(coordinator_->Poll(200, nullptr), IsOk());
    }
  }
  // The newest checkpoint the agent was given before the gateway died: of
  // the history the restore will lose (what a privacy officer may keep too).
  std::string lost_history_note;
  uint64_t lost_history_size = 0;
  {
    std::ifstream receipts(region_->AgentConfigFor("politie").data_dir + "/receipts.jsonl");
    for (std::string line; std::getline(receipts, line);) {
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_object() && j["checkpoint_size"].get<uint64_t>() > lost_history_size) {
        lost_history_size = j["checkpoint_size"].get<uint64_t>();
        lost_history_note = j["checkpoint"].get<std::string>();
      }
    }
  }
  ASSERT_GT(lost_history_size, backup_size);
  EXPECT_EQ(processes_->StopGateway(SIGKILL), -SIGKILL);

  // A restore over a live data folder needs --force; a tampered backup is refused.
  EXPECT_FALSE(gateway::RestoreBackup(config_, out, /*force=*/false).ok());
  auto restored = gateway::RestoreBackup(config_, out, /*force=*/true);
  ASSERT_THAT(restored, IsOk());
  EXPECT_TRUE(restored->lost_known);
  EXPECT_GT(restored->lost_records, 0u);
  EXPECT_FALSE(restored->moved_aside.empty());
  EXPECT_EQ(restored->restored_record_index, backup_size);

  ASSERT_OK(processes_->StartGateway());
  ASSERT_TRUE(processes_->WaitForGatewayPort(kProcessDeadlineMs));
  ASSERT_OK(processes_->StartAgent(other_partner));
  // The in-flight request: the coordinator's client, reconnected by
  // itself, sends it again unasked (client/resend_waiting.cc; the restored
  // gateway never heard of it, so it takes it as new), says so, and the
  // answer arrives — once.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kProcessDeadlineMs);
  std::vector<client::News::RequestNote> resent;
  for (;;) {
    auto r = coordinator_->store().GetRequest(*in_flight);
    ASSERT_THAT(r, IsOk());
    if ((*r)->state != client::RequestState::kPending) {
      EXPECT_EQ((*r)->state, client::RequestState::kDelivered) << (*r)->refusal;
      break;
    }
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the in-flight request was never answered";
    ASSERT_THAT(coordinator_->Poll(1000, nullptr), IsOk());
  }
  {
    client::News news = coordinator_->TakeNews();
    ASSERT_EQ(news.resent_after_restore.size(), 1u);
    EXPECT_EQ(news.resent_after_restore[0].request_id, *in_flight);
    EXPECT_TRUE(news.expired_after_restore.empty());
  }
  // Nothing lost, nothing twice: every request of the case answered, one
  // fragment each.
  {
    auto requests = coordinator_->store().Requests(case_id_);
    auto fragments = coordinator_->store().Fragments(case_id_);
    ASSERT_THAT(requests, IsOk());
    ASSERT_THAT(fragments, IsOk());
    for (const auto& r : *requests) EXPECT_EQ(r.state, client::RequestState::kDelivered) << r.refusal;
    EXPECT_EQ(fragments->size(), requests->size());
  }
  // And new requests work, their receipts accepted by the same agent.
  for (int i = 0; i < 2; ++i) AskAndAwait();

  EXPECT_EQ(processes_->StopGateway(SIGTERM), 0);
  EXPECT_EQ(processes_->StopAgent("politie", SIGTERM), 0);
  EXPECT_EQ(processes_->StopAgent(other_partner, SIGTERM), 0);

  // The gateway's log verifies, with the backup's checkpoint pinned; it
  // records BACKUP_MADE (in the replaced log) and LOG_RESTORED (at the
  // backup's size), and its checkpoints name the restore point.
  const std::string gateway_log = gateway::Gateway::AuditDir(config_);
  auto key = audit::MakeVerifierKey(config_.log_origin, region_->identity("gateway").signing().public_key);
  ASSERT_THAT(key, IsOk());
  audit::VerifyOptions verify;
  verify.key = *key;
  auto note = ReadFileBounded(out + "/audit/checkpoint", audit::kMaxNoteBytes);
  ASSERT_THAT(note, IsOk());
  verify.pinned_checkpoints.push_back(*note);
  audit::VerifyReport report = audit::VerifyLog(gateway_log, verify);
  ASSERT_THAT(report.status, IsOk());
  ASSERT_TRUE(report.latest.has_value());
  auto point = audit::FindRestorePoint(*report.latest);
  ASSERT_THAT(point, IsOk());
  ASSERT_TRUE(point->has_value());
  EXPECT_EQ((*point)->size, backup_size);
  // A privacy officer who kept a checkpoint of the lost history: a warning
  // that names the restore, not a fork.
  audit::VerifyOptions officer = verify;
  officer.pinned_checkpoints.push_back(lost_history_note);
  audit::VerifyReport officer_report = audit::VerifyLog(gateway_log, officer);
  ASSERT_THAT(officer_report.status, IsOk());
  bool warned = false;
  for (const auto& w : officer_report.warnings)
    warned |= w.find("signed before the log was restored") != std::string::npos;
  EXPECT_TRUE(warned);
  // A checkpoint that names the same restore point but disagrees is a fork.
  {
    auto gateway_id = &region_->identity("gateway");
    auto signer = audit::LogSigner::Create(config_.log_origin, gateway_id->signing().public_key,
                                           gateway_id->signing().secret_key.Clone());
    ASSERT_THAT(signer, IsOk());
    audit::Checkpoint forked = *report.latest;
    forked.root[0] = static_cast<char>(forked.root[0] ^ 1);
    audit::VerifyOptions fork = verify;
    fork.pinned_checkpoints.push_back(signer->Sign(forked));
    EXPECT_FALSE(audit::VerifyLog(gateway_log, fork).status.ok());
  }
  auto gateway_events = RecordsByEvent(gateway_log);
  ASSERT_EQ(gateway_events[v1::AUDIT_EVENT_LOG_RESTORED].size(), 1u);
  EXPECT_EQ(gateway_events[v1::AUDIT_EVENT_LOG_RESTORED][0].index(), backup_size);
  EXPECT_EQ(gateway_events[v1::AUDIT_EVENT_LOG_RESTORED][0].restore().backup_id(), made->manifest.backup_id);
  auto old_events = RecordsByEvent(restored->moved_aside + "/audit");
  ASSERT_EQ(old_events[v1::AUDIT_EVENT_BACKUP_MADE].size(), 1u);
  EXPECT_EQ(old_events[v1::AUDIT_EVENT_BACKUP_MADE][0].restore().checkpoint_size(), backup_size);

  // The agent: one LOG_RESTORED naming the backup, no receipt refused, no alarm.
  auto agent_events = RecordsByEvent(agent::Agent::AuditDir(region_->AgentConfigFor("politie")));
  ASSERT_EQ(agent_events[v1::AUDIT_EVENT_LOG_RESTORED].size(), 1u);
  const v1::AuditRecord& seen = agent_events[v1::AUDIT_EVENT_LOG_RESTORED][0];
  EXPECT_EQ(seen.restore().checkpoint_size(), backup_size);
  EXPECT_EQ(seen.restore().backup_id(), made->manifest.backup_id);
  EXPECT_GT(seen.restore().lost_records(), 0u);  // it had seen the lost history
  for (const auto& r : agent_events[v1::AUDIT_EVENT_REFUSED]) {
    EXPECT_EQ(r.reason().find("gateway receipt refused"), std::string::npos) << r.reason();
  }
  const std::string agent_log = processes_->ReadLog("politie");
  EXPECT_EQ(agent_log.find("forked"), std::string::npos);
  EXPECT_EQ(agent_log.find("shrank"), std::string::npos);
  // A request the backup held as waiting and the agent answered after it
  // (receipted by the lost history): asked again by the restored gateway,
  // the kept answer goes again instead of a refusal (agent/kept_answers.h).
  EXPECT_EQ(agent_log.find("was already answered"), std::string::npos);
}

TEST_F(BackupProcessTest, OfflineBackupAndATamperedBackupIsNotRestored) {
  ASSERT_OK(processes_->StartGateway());
  ASSERT_OK(processes_->StartAgent("politie"));
  Connect();
  auto case_id = testing::OpenLoadCase(*coordinator_);
  ASSERT_THAT(case_id, IsOk());
  case_id_ = *case_id;
  category_ = testing::LoadPartners().front().second;
  AskAndAwait();
  coordinator_.reset();
  EXPECT_EQ(processes_->StopGateway(SIGTERM), 0);

  const std::string out = dir_.File("offline");
  auto made = gateway::MakeBackup(config_, out);
  ASSERT_THAT(made, IsOk());
  EXPECT_FALSE(made->manifest.online);
  // Not into a folder that holds something.
  EXPECT_FALSE(gateway::MakeBackup(config_, out).ok());
  // The command itself, as an operator runs it.
  const std::string binary = dir_.File("run") + "/bin/ketenpoort-gateway";
  const std::string cli_out = dir_.File("offline-cli");
  const std::string printed = dir_.File("backup-cli.txt");
  EXPECT_EQ(std::system((binary + " backup --config " + processes_->gateway_config_path() + " --out " +
                         cli_out + " > " + printed + " 2>&1")
                            .c_str()),
            0);
  auto text = ReadFileBounded(printed, 1 << 16);
  ASSERT_THAT(text, IsOk());
  EXPECT_NE(text->find("(offline)"), std::string::npos) << *text;
  EXPECT_NE(std::system((binary + " restore --config " + processes_->gateway_config_path() + " --from " +
                         cli_out + " > " + printed + " 2>&1")
                            .c_str()),
            0);  // the data folder holds data: refused without --force
  text = ReadFileBounded(printed, 1 << 16);
  ASSERT_THAT(text, IsOk());
  EXPECT_NE(text->find("--force"), std::string::npos) << *text;

  auto key = audit::MakeVerifierKey(config_.log_origin, region_->identity("gateway").signing().public_key);
  ASSERT_THAT(key, IsOk());
  ASSERT_THAT(gateway::VerifyBackup(out, *key, config_.log_origin), IsOk());
  // A changed byte in the database or the log: refused, nothing restored.
  for (const char* file : {"cases.db", "audit/records"}) {
    const std::string path = out + "/" + file;
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(100);
    char c = 0;
    f.read(&c, 1);
    c = static_cast<char>(c ^ 0x01);
    f.seekp(100);
    f.write(&c, 1);
    f.close();
    EXPECT_FALSE(gateway::VerifyBackup(out, *key, config_.log_origin).ok()) << file;
    EXPECT_FALSE(gateway::RestoreBackup(config_, out, /*force=*/true).ok()) << file;
    c = static_cast<char>(c ^ 0x01);
    std::fstream g(path, std::ios::in | std::ios::out | std::ios::binary);
    g.seekp(100);
    g.write(&c, 1);
  }
  // The live folder is untouched by the refused restores: the gateway starts.
  ASSERT_OK(processes_->StartGateway());
  ASSERT_TRUE(processes_->WaitForGatewayPort(kProcessDeadlineMs));
  // A running gateway's folder is never restored over, not even with --force.
  auto refused = gateway::RestoreBackup(config_, out, /*force=*/true);
  EXPECT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("running gateway"), std::string::npos) << refused.status();
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp
