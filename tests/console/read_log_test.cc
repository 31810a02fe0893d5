// The read log (NEN 7513, issue 17 §4): every showing of a fragment's
// content — on the console's case page, by `ketenpoort request`, `inbox`
// and `case show --content` — is one FRAGMENT_SHOWN record in the
// coordinator's own log STORE/read-log before anything is shown; the folder
// verifies with `ketenpoort audit verify`, a changed byte in it does not, it
// holds no BSN, name or content; and a showing the log cannot record shows
// nothing (fail closed). Over HTTP and the CLI in process, against a real
// region: the gateway and the police's agent on loopback.
#include "client/read_log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "case/pseudonym.h"
#include "cli/cli_context.h"
#include "client/coordinator.h"
#include "core/audit/log_reader.h"
#include "core/audit/log_verifier.h"
#include "core/audit/log_writer.h"
#include "core/base/encoding.h"
#include "core/sqlite/sqlite_db.h"
#include "tests/console/console_fixture.h"
#include "tests/testing/cli_run.h"
#include "tests/testing/region.h"
#include "tests/testing/status_matchers.h"

namespace kp::console {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

namespace v1 = ketenpoort::v1;
namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::Region;

constexpr char kPurpose[] = "veiligheidstaxatie";
constexpr char kCanaryName[] = "CANARY-NAAM-Inzage";
constexpr int kWaitMs = 15000;

using testing::CliRun;
using testing::RunCli;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteAll(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

class ReadLogTest : public ConsoleFixture {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(StartRegion(spdlog::level::debug));
    ASSERT_OK(region_->StartAgent("politie"));
    ASSERT_OK_AND_ASSIGN(auto c, region_->Coordinator(0));
    ASSERT_OK_AND_ASSIGN(case_id_, OpenCaseWith(*c, kPurpose, kCanaryName, "politie"));
    config_ = ConfigFile();
  }

  // The coordinator's client configuration as a file, for the CLI.
  std::string ConfigFile() const {
    const client::ClientConfig c = region_->CoordinatorConfig(0);
    const std::string path = dir_.path() + "/client.yaml";
    std::ofstream(path) << "gateway:\n  endpoint: " << c.gateway_endpoint << "\n  card: " << c.gateway_card
                        << "\nidentity: " << c.identity << "\nenrolment_card: " << c.enrolment_card
                        << "\nregistry: " << c.registry << "\nstore: " << c.store
                        << "\npseudonym_key: " << c.pseudonym_key << "\n";
    return path;
  }

  std::string ReadLogDir() const { return client::ReadLogDir(region_->CoordinatorConfig(0).store); }

  // The read log's records, in order (none when it does not exist yet).
  std::vector<v1::AuditRecord> Shown() const {
    std::vector<v1::AuditRecord> out;
    if (!fs::exists(ReadLogDir() + "/log.vkey")) return out;
    auto reader = audit::LogReader::Open(ReadLogDir());
    EXPECT_THAT(reader, testing::IsOk());
    if (!reader.ok()) return out;
    EXPECT_OK((*reader)->ForEachEntry([&](const audit::LogEntry& e) {
      out.push_back(e.record);
      return OkStatus();
    }));
    return out;
  }

  // `ketenpoort request` for the police's incidents, answered.
  std::string RequestByCli() {
    CliRun asked = RunCli({"request", case_id_, "--config", config_, "--from", "politie", "--category",
                           "politie-incidenten", "--purpose", kPurpose});
    EXPECT_EQ(asked.exit_code, cli::kExitOk) << asked.err << asked.out;
    EXPECT_THAT(asked.out, HasSubstr(std::string(":") + Region::kBsn)) << "the fragment's content is printed";
    return asked.out;
  }

  // Every record of the read log is a FRAGMENT_SHOWN of this case by
  // regisseur-01 about its victim, with the victim's keyed pseudonyms.
  void ExpectWellFormed(const std::vector<v1::AuditRecord>& records) {
    ASSERT_OK_AND_ASSIGN(std::string bsn, cases::CanonicalBsn(Region::kBsn));
    const v1::SubjectPseudonym by_bsn =
        cases::Pseudonym(region_->pseudonym_key(), v1::PSEUDONYM_BASIS_BSN, bsn);
    for (const auto& r : records) {
      EXPECT_EQ(r.event(), v1::AUDIT_EVENT_FRAGMENT_SHOWN);
      EXPECT_EQ(r.actor().participant_id(), Region::kCoordinator);
      EXPECT_EQ(r.actor().partner(), "veiligheidsteam");
      EXPECT_FALSE(r.actor().role().empty());
      EXPECT_EQ(r.case_id(), case_id_);
      EXPECT_EQ(r.message_id().size(), 16u);
      EXPECT_EQ(r.source_partner(), "politie");
      EXPECT_EQ(r.purpose(), kPurpose);
      ASSERT_EQ(r.categories_size(), 1);
      EXPECT_EQ(r.categories(0).name(), "politie-incidenten");
      EXPECT_GT(r.time_unix_millis(), 0);
      EXPECT_GT(r.retention_until_unix_millis(), r.time_unix_millis());
      ASSERT_EQ(r.subjects_size(), 1);
      EXPECT_EQ(r.subjects(0).ref(), "S1");
      bool found = false;
      for (const auto& p : r.subjects(0).pseudonyms()) {
        EXPECT_EQ(p.key_id(), Region::kPseudonymKeyId);
        if (p.basis() == v1::PSEUDONYM_BASIS_BSN) found = p.value() == by_bsn.value();
      }
      EXPECT_TRUE(found) << "the victim's BSN pseudonym, as a privacy officer computes it";
    }
  }

  // No BSN, name or date of birth in the read log's files, nor in the log.
  void ExpectNoPersonalData() {
    const std::string bytes = testing::AllBytesUnder(ReadLogDir());
    for (const std::string& canary :
         {std::string(Region::kBsn), std::string(kCanaryName), std::string("1990-01-01")}) {
      EXPECT_THAT(bytes, Not(HasSubstr(canary))) << canary << " in the read log";
      EXPECT_THAT(sink_->Text(), Not(HasSubstr(canary))) << canary << " in the log";
    }
  }

  std::string case_id_;
  std::string config_;
};

// Of the checkpoints a read log signs (one per showing) the latest and
// about one per kReadLogCheckpointStride records stay.
TEST(ReadLogCheckpointsTest, TheLatestAndOnePerStrideStay) {
  testing::TempDir dir;
  fs::create_directories(dir.path() + "/checkpoints");
  auto name = [](uint64_t size) {
    std::string digits = std::to_string(size);
    return std::string(20 - digits.size(), '0') + digits;
  };
  for (uint64_t size = 1; size <= 1000; size += 3)
    WriteAll(dir.path() + "/checkpoints/" + name(size), "note");
  WriteAll(dir.path() + "/checkpoints/not-a-checkpoint", "x");
  client::ThinReadLogCheckpoints(dir.path());
  std::vector<std::string> left;
  for (const auto& e : fs::directory_iterator(dir.path() + "/checkpoints"))
    left.push_back(e.path().filename());
  std::sort(left.begin(), left.end());
  EXPECT_EQ(left, (std::vector<std::string>{name(1), name(256), name(514), name(769), name(1000),
                                            "not-a-checkpoint"}));
  client::ThinReadLogCheckpoints(dir.path());
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path() + "/checkpoints"), fs::directory_iterator{}), 6)
      << "thinning again removes nothing";
}

// The CLI: `request` and `case show --content` each add one record (a
// `case show` without content adds none), `inbox` one per answer shown; the
// folder verifies with `ketenpoort audit verify`.
TEST_F(ReadLogTest, EveryCliShowingIsRecordedAndTheFolderVerifies) {
  EXPECT_TRUE(Shown().empty());
  RequestByCli();
  auto records = Shown();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].reason(), "cli: ketenpoort request");

  CliRun plain = RunCli({"case", "show", case_id_, "--config", config_});
  EXPECT_EQ(plain.exit_code, cli::kExitOk) << plain.err;
  EXPECT_THAT(plain.out, Not(HasSubstr(std::string(":") + Region::kBsn)));
  EXPECT_EQ(Shown().size(), 1u) << "no content shown, nothing recorded";

  CliRun content = RunCli({"case", "show", case_id_, "--config", config_, "--content"});
  EXPECT_EQ(content.exit_code, cli::kExitOk) << content.err;
  EXPECT_THAT(content.out, HasSubstr(std::string(":") + Region::kBsn));
  records = Shown();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[1].reason(), "cli: ketenpoort case show --content");
  EXPECT_EQ(records[1].message_id(), records[0].message_id()) << "the same fragment shown again";

  // Asked without waiting, fetched by `inbox`.
  CliRun sent = RunCli({"request", case_id_, "--config", config_, "--from", "politie", "--category",
                        "politie-incidenten", "--purpose", kPurpose, "--wait", "0"});
  ASSERT_EQ(sent.exit_code, cli::kExitOk) << sent.err;
  const std::string request_id = sent.out.substr(0, 32);
  EXPECT_EQ(Shown().size(), 2u) << "nothing shown yet";
  bool fetched = false;
  for (auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kWaitMs);
       !fetched && std::chrono::steady_clock::now() < deadline;) {
    CliRun inbox = RunCli({"inbox", "--config", config_});
    EXPECT_EQ(inbox.exit_code, cli::kExitOk) << inbox.err;
    fetched = inbox.out.find(request_id) != std::string::npos;
    if (!fetched) std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the agent answers meanwhile
  }
  ASSERT_TRUE(fetched) << "the answer came to the inbox";
  records = Shown();
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[2].reason(), "cli: ketenpoort inbox");
  EXPECT_EQ(HexEncode(records[2].message_id()), request_id);
  ExpectWellFormed(records);

  // One checkpoint signed per showing; the first and the latest are kept
  // (one per kReadLogCheckpointStride records, and the latest).
  size_t checkpoints = 0;
  for (const auto& e : fs::directory_iterator(ReadLogDir() + "/checkpoints"))
    checkpoints += e.is_regular_file();
  EXPECT_EQ(checkpoints, 2u);
  EXPECT_TRUE(fs::exists(ReadLogDir() + "/checkpoints/00000000000000000003"));

  CliRun verified = RunCli({"audit", "verify", ReadLogDir()});
  EXPECT_EQ(verified.exit_code, cli::kExitOk) << verified.err;
  EXPECT_THAT(verified.out, HasSubstr("OK"));
  EXPECT_THAT(verified.out, HasSubstr("ketenpoort.veiligheidsteam/read-log/regisseur-01"));
  EXPECT_THAT(verified.out, HasSubstr("records:     3"));
  ExpectNoPersonalData();
}

// The console's case page: one record per answer each time it is shown.
TEST_F(ReadLogTest, TheCasePageRecordsEachShowing) {
  RequestByCli();
  ASSERT_EQ(Shown().size(), 1u);
  ASSERT_OK_AND_ASSIGN(auto c, region_->Coordinator(0));
  ASSERT_NO_FATAL_FAILURE(StartConsole(std::move(c)));
  const std::string page = GetPage("/casus/" + case_id_);
  EXPECT_THAT(page, HasSubstr(std::string(":") + Region::kBsn)) << "the content is on the page";
  auto records = Shown();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[1].reason(), "console: casuspagina");
  EXPECT_EQ(records[1].message_id(), records[0].message_id());
  GetPage("/casus/" + case_id_);
  EXPECT_EQ(Shown().size(), 3u) << "shown again, recorded again";
  GetPage("/");
  EXPECT_EQ(Shown().size(), 3u) << "the case list shows no content";
  ExpectWellFormed(Shown());

  // The CLI while the console runs: they share the folder.
  CliRun content = RunCli({"case", "show", case_id_, "--config", config_, "--content"});
  EXPECT_EQ(content.exit_code, cli::kExitOk) << content.err;
  EXPECT_EQ(Shown().size(), 4u);
  EXPECT_TRUE(audit::VerifyLog(ReadLogDir(), {}).status.ok());
  ExpectNoPersonalData();
}

// A fragment handed over by a former coordinator has no request in the new
// coordinator's store: its showing names the source partner from the
// registry and the subjects of the records shown, with their pseudonyms.
TEST_F(ReadLogTest, AHandedOverFragmentIsRecordedWithItsSubjects) {
  ASSERT_OK(region_->StartAgent("jeugdbescherming"));
  ASSERT_OK_AND_ASSIGN(auto reg, region_->Coordinator(0));
  ASSERT_OK(reg->Admit(case_id_, "jeugdbescherming").status());
  ASSERT_OK(reg->ChangePhase(case_id_, "risicogestuurde-zorg").status());
  ASSERT_OK_AND_ASSIGN(
      std::string request_id,
      reg->SendRequest(
          {case_id_, "jeugdbescherming", {"jeugdbescherming-maatregelen"}, "plan-van-aanpak", {"S1"}, ""}));
  ASSERT_OK_AND_ASSIGN(client::Outcome answer, reg->AwaitOutcome(request_id, kWaitMs));
  ASSERT_EQ(answer.kind, client::Outcome::Kind::kDelivered)
      << answer.refusal.reason() << answer.error.ToString();
  ASSERT_OK(reg->OfferHandover(case_id_, Region::kWijkteamCoordinator, "naar-wijkteam",
                               SystemClock::Get().NowMillis() + 7 * 24 * 3600 * 1000LL, 0)
                .status());
  {
    ASSERT_OK_AND_ASSIGN(auto wijk, region_->ConnectAs(Region::kWijkteamCoordinator));
    ASSERT_OK_AND_ASSIGN(client::HandoverTaken taken, wijk->AcceptHandover(case_id_));
    ASSERT_EQ(taken.fragments, 1u);
  }
  const client::ClientConfig wc = region_->ClientConfigFor(Region::kWijkteamCoordinator);
  const std::string config = dir_.path() + "/wijkteam.yaml";
  std::ofstream(config) << "gateway:\n  endpoint: " << wc.gateway_endpoint << "\n  card: " << wc.gateway_card
                        << "\nidentity: " << wc.identity << "\nenrolment_card: " << wc.enrolment_card
                        << "\nregistry: " << wc.registry << "\nstore: " << wc.store
                        << "\npseudonym_key: " << wc.pseudonym_key << "\n";
  CliRun content = RunCli({"case", "show", case_id_, "--config", config, "--content"});
  EXPECT_EQ(content.exit_code, cli::kExitOk) << content.err;
  EXPECT_THAT(content.out, HasSubstr("handed over"));
  EXPECT_THAT(content.out, HasSubstr(std::string(":") + Region::kBsn));

  const std::string read_log = client::ReadLogDir(wc.store);
  ASSERT_OK_AND_ASSIGN(auto reader, audit::LogReader::Open(read_log));
  std::vector<v1::AuditRecord> records;
  ASSERT_OK(reader->ForEachEntry([&](const audit::LogEntry& e) {
    records.push_back(e.record);
    return OkStatus();
  }));
  ASSERT_EQ(records.size(), 1u);
  const v1::AuditRecord& r = records[0];
  EXPECT_EQ(r.event(), v1::AUDIT_EVENT_FRAGMENT_SHOWN);
  EXPECT_EQ(r.actor().participant_id(), Region::kWijkteamCoordinator);
  EXPECT_EQ(r.actor().role(), Region::kWijkteamRole);
  EXPECT_EQ(r.message_id(), request_id);
  EXPECT_EQ(r.source_partner(), "jeugdbescherming");
  ASSERT_EQ(r.subjects_size(), 1);
  EXPECT_EQ(r.subjects(0).ref(), "S1");
  ASSERT_OK_AND_ASSIGN(std::string bsn, cases::CanonicalBsn(Region::kBsn));
  bool found = false;
  for (const auto& p : r.subjects(0).pseudonyms()) {
    found = found ||
            p.value() == cases::Pseudonym(region_->pseudonym_key(), v1::PSEUDONYM_BASIS_BSN, bsn).value();
  }
  EXPECT_TRUE(found) << "the pseudonym under the new coordinator's key";
  EXPECT_TRUE(audit::VerifyLog(read_log, {}).status.ok());
  EXPECT_THAT(testing::AllBytesUnder(read_log), Not(HasSubstr(Region::kBsn)));
}

// Another process holding the read log (the console in the middle of a
// showing) makes a showing wait for it, not fail.
TEST_F(ReadLogTest, AShowingWaitsWhileAnotherHoldsTheReadLog) {
  RequestByCli();
  ASSERT_EQ(Shown().size(), 1u);
  const Identity& me = region_->identity(Region::kCoordinator);
  ASSERT_OK_AND_ASSIGN(audit::LogSigner signer,
                       audit::LogSigner::Create(client::ReadLogOrigin(me), me.signing().public_key,
                                                me.signing().secret_key.Clone()));
  ASSERT_OK_AND_ASSIGN(auto holder, audit::LogWriter::Open(ReadLogDir(), std::move(signer)));
  CliRun content;
  std::thread showing([&] {
    content = RunCli({"case", "show", case_id_, "--config", config_, "--content"});
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // hold the lock a while
  EXPECT_EQ(Shown().size(), 1u) << "nothing recorded while the lock is held";
  ASSERT_OK(holder->Close());
  showing.join();
  EXPECT_EQ(content.exit_code, cli::kExitOk) << content.err;
  EXPECT_THAT(content.out, HasSubstr(std::string(":") + Region::kBsn));
  EXPECT_EQ(Shown().size(), 2u);
}

// The subjects come from the request as this coordinator signed it: a
// stored request changed behind the client's back is not believed, and
// nothing is shown.
TEST_F(ReadLogTest, AChangedStoredRequestIsNotBelieved) {
  RequestByCli();
  ASSERT_EQ(Shown().size(), 1u);
  {
    ASSERT_OK_AND_ASSIGN(
        auto db,
        sqlite::Database::Open(client::CoordinatorStore::DatabasePath(region_->CoordinatorConfig(0).store),
                               "coordinator store"));
    // Another signature: the envelope's last 64 bytes.
    ASSERT_OK(
        db->Exec("UPDATE requests SET envelope = substr(envelope, 1, length(envelope) - 64) || "
                 "randomblob(64)"));
  }
  CliRun content = RunCli({"case", "show", case_id_, "--config", config_, "--content"});
  EXPECT_EQ(content.exit_code, cli::kExitVerification) << content.err;
  EXPECT_THAT(content.err, HasSubstr("does not verify against this coordinator's key"));
  EXPECT_THAT(content.out, Not(HasSubstr(std::string(":") + Region::kBsn)));
  EXPECT_EQ(Shown().size(), 1u);
}

// A changed bit in the records (at every third byte), or a cut, and the folder no
// longer verifies; `ketenpoort audit verify` says so with exit code 5.
TEST_F(ReadLogTest, AChangedOrCutReadLogDoesNotVerify) {
  RequestByCli();
  ASSERT_EQ(RunCli({"case", "show", case_id_, "--config", config_, "--content"}).exit_code, cli::kExitOk);
  const std::string copy = dir_.path() + "/read-log-copy";
  fs::copy(ReadLogDir(), copy, fs::copy_options::recursive);
  ASSERT_TRUE(audit::VerifyLog(copy, {}).status.ok()) << "a copy of the folder verifies";
  // The key the privacy officer pins: the coordinator's own, from its card.
  audit::VerifyOptions pinned;
  ASSERT_OK_AND_ASSIGN(pinned.key,
                       audit::MakeVerifierKey(client::ReadLogOrigin(region_->identity(Region::kCoordinator)),
                                              region_->identity(Region::kCoordinator).signing().public_key));
  ASSERT_TRUE(audit::VerifyLog(copy, pinned).status.ok());
  // The same key as the privacy officer gets it from the signed registry.
  const client::ClientConfig cc = region_->CoordinatorConfig(0);
  CliRun key = RunCli({"audit", "read-log-key", Region::kCoordinator, "--registry", cc.registry,
                       "--enrolment-card", cc.enrolment_card});
  ASSERT_EQ(key.exit_code, cli::kExitOk) << key.err;
  EXPECT_EQ(key.out, audit::FormatVerifierKey(*pinned.key) + "\n");
  CliRun pinned_verify = RunCli({"audit", "verify", copy, "--key", key.out.substr(0, key.out.size() - 1)});
  EXPECT_EQ(pinned_verify.exit_code, cli::kExitOk) << pinned_verify.err;
  EXPECT_THAT(pinned_verify.out, HasSubstr("(pinned key)"));
  CliRun agent = RunCli({"audit", "read-log-key", "politie-agent", "--registry", cc.registry,
                         "--enrolment-card", cc.enrolment_card});
  EXPECT_NE(agent.exit_code, cli::kExitOk);
  EXPECT_THAT(agent.err, HasSubstr("not a coordinator"));
  CliRun unknown = RunCli({"audit", "read-log-key", "niemand-01", "--registry", cc.registry,
                           "--enrolment-card", cc.enrolment_card});
  EXPECT_NE(unknown.exit_code, cli::kExitOk);
  EXPECT_THAT(unknown.err, HasSubstr("not enrolled"));
  // Another coordinator's key does not verify this read log.
  CliRun second = RunCli({"audit", "read-log-key", Region::kWijkteamCoordinator, "--registry", cc.registry,
                          "--enrolment-card", cc.enrolment_card});
  ASSERT_EQ(second.exit_code, cli::kExitOk) << second.err;
  CliRun wrong = RunCli({"audit", "verify", copy, "--key", second.out.substr(0, second.out.size() - 1)});
  EXPECT_EQ(wrong.exit_code, cli::kExitVerification) << wrong.out;

  const std::string records = copy + "/records";
  ASSERT_TRUE(fs::exists(records)) << "the records file's name";
  const std::string good = ReadAll(records);
  ASSERT_GT(good.size(), 16u);
  // Flips at every third byte and cuts at every eighth length (and the last
  // few): the log's own tests (tests/audit) flip every bit of its frames;
  // here it is the read log's records file as the client wrote it.
  for (size_t i = 0; i < good.size(); i += 3) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ (1 << (i % 8)));
    WriteAll(records, bad);
    EXPECT_FALSE(audit::VerifyLog(copy, pinned).status.ok()) << "a bit flipped in byte " << i;
  }
  for (size_t n = 0; n < good.size(); n += (n + 8 >= good.size() ? 1 : 8)) {
    WriteAll(records, good.substr(0, n));
    EXPECT_FALSE(audit::VerifyLog(copy, pinned).status.ok()) << "cut at " << n;
  }
  std::string bad = good;
  bad[good.size() / 2] = static_cast<char>(bad[good.size() / 2] ^ 0x80);
  WriteAll(records, bad);
  CliRun verified = RunCli({"audit", "verify", copy});
  EXPECT_EQ(verified.exit_code, cli::kExitVerification) << verified.out;
  EXPECT_THAT(verified.err, HasSubstr("does not verify"));
  WriteAll(records, good);
  EXPECT_TRUE(audit::VerifyLog(copy, pinned).status.ok());
}

// A showing the read log cannot record (here: its folder was made with
// another key) shows nothing: the CLI prints no content and fails, the
// case page says why instead of the content.
TEST_F(ReadLogTest, NothingIsShownWhenTheReadLogCannotRecord) {
  RequestByCli();
  ASSERT_EQ(Shown().size(), 1u);
  const std::string vkey = ReadLogDir() + "/log.vkey";
  const std::string genuine = ReadAll(vkey);
  WriteAll(vkey, "ketenpoort.elders/read-log/iemand+01020304+AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=\n");

  CliRun content = RunCli({"case", "show", case_id_, "--config", config_, "--content"});
  EXPECT_NE(content.exit_code, cli::kExitOk);
  EXPECT_THAT(content.out, Not(HasSubstr(std::string(":") + Region::kBsn))) << "no content without a record";
  EXPECT_THAT(content.err, HasSubstr("not shown: the read log"));

  CliRun asked = RunCli({"request", case_id_, "--config", config_, "--from", "politie", "--category",
                         "politie-incidenten", "--purpose", kPurpose});
  EXPECT_NE(asked.exit_code, cli::kExitOk);
  EXPECT_THAT(asked.out, Not(HasSubstr(std::string(":") + Region::kBsn)));
  EXPECT_THAT(asked.err, HasSubstr("the answer is kept in your store"));

  // `inbox`: the answer is taken in and kept, its content not shown.
  CliRun sent = RunCli({"request", case_id_, "--config", config_, "--from", "politie", "--category",
                        "politie-incidenten", "--purpose", kPurpose, "--wait", "0"});
  ASSERT_EQ(sent.exit_code, cli::kExitOk) << sent.err;
  const std::string request_id = sent.out.substr(0, 32);
  CliRun inbox;
  for (auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kWaitMs);
       std::chrono::steady_clock::now() < deadline;) {
    inbox = RunCli({"inbox", "--config", config_});
    if (inbox.out.find(request_id) != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the agent answers meanwhile
  }
  EXPECT_THAT(inbox.out, HasSubstr(request_id + ": answered; content not shown"));
  EXPECT_THAT(inbox.out, Not(HasSubstr(std::string(":") + Region::kBsn)));
  EXPECT_NE(inbox.exit_code, cli::kExitOk);
  EXPECT_THAT(inbox.err, HasSubstr("not shown: the read log"));

  ASSERT_OK_AND_ASSIGN(auto c, region_->Coordinator(0));
  ASSERT_NO_FATAL_FAILURE(StartConsole(std::move(c)));
  const std::string page = GetPage("/casus/" + case_id_);
  EXPECT_THAT(page, Not(HasSubstr(std::string(":") + Region::kBsn)));
  EXPECT_THAT(page, HasSubstr("De inhoud wordt niet getoond"));

  WriteAll(vkey, genuine);
  EXPECT_THAT(GetPage("/casus/" + case_id_), HasSubstr(std::string(":") + Region::kBsn))
      << "shown once recorded";
  EXPECT_EQ(Shown().size(), 4u) << "the page's three answers; the showings that failed left no record";
  ExpectNoPersonalData();
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp::console
