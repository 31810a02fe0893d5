// `ketenpoort audit subject` (AVG art. 15) as a privacy officer runs it, in
// process, over logs built with the real LogWriter: a gateway log and an
// agent's own log, records carrying AuditRecord.subjects computed with
// case/pseudonym.h for two people. The person's records are found across
// both logs by BSN and by name and date of birth; the draft holds none of
// the other person's data and neither BSN nor name; an unknown person and a
// wrong key fail with the message that says they cannot be told apart and
// write no file; a damaged or foreign log copy is refused, naming it (every
// byte of a small log's records file flipped, every length cut).
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "case/pseudonym.h"
#include "cli/cli_context.h"
#include "core/audit/log_format.h"
#include "core/audit/log_writer.h"
#include "core/audit/subject_report.h"
#include "core/base/encoding.h"
#include "core/base/file_util.h"
#include "tests/audit/audit_test_util.h"
#include "tests/testing/cli_run.h"
#include "tests/testing/status_matchers.h"

namespace kp::cli {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

namespace v1 = ketenpoort::v1;
using ::kp::audit::testing::TestSigner;
using ::kp::testing::IsOk;
using ::testing::HasSubstr;
using ::testing::Not;

// The person asking (canaries: must never appear in the draft).
constexpr char kBsn[] = "111222333";
constexpr char kName[] = "Annabel Canarie-Jansen";
constexpr char kBirth[] = "1987-03-14";
// Another person, in a shared case and in one of their own.
constexpr char kOtherBsn[] = "123456782";
constexpr char kOtherName[] = "Bartholomeus Anderpersoon";
constexpr char kOtherBirth[] = "1979-11-02";
constexpr char kRef[] = "ref-anna-7731";
constexpr char kOtherRef[] = "ref-bart-9924";

using testing::CliRun;
using testing::RunCli;

v1::Subject Person(const std::string& ref, const std::string& bsn, const std::string& name, const std::string& dob) {
  v1::Subject s;
  s.set_ref(ref);
  s.set_bsn(bsn);
  s.set_name(name);
  s.set_date_of_birth(dob);
  return s;
}

// One exchange as the gateway logs it: request, decision, forward,
// delivery (or refusal), and a receipt that carries no subjects.
struct Exchange {
  std::string case_id;
  std::string source;
  std::string recipient = "veiligheidshuis";
  std::string category;
  std::string purpose = "veiligheidsplan";
  std::string basis = "convenant-vt-art-5";
  bool refused = false;
  std::vector<v1::Subject> subjects;
  std::string message_id;
};

v1::AuditRecord Base(v1::AuditEvent ev, const Exchange& x, const cases::PseudonymKey& key, bool with_subjects) {
  v1::AuditRecord r;
  r.set_event(ev);
  r.mutable_actor()->set_participant_id("vt-casusregisseur-07");
  r.mutable_actor()->set_partner("veiligheidshuis");
  r.set_case_id(x.case_id);
  r.set_message_id(x.message_id);
  r.set_source_partner(x.source);
  r.set_recipient_partner(x.recipient);
  auto* c = r.add_categories();
  c->set_name(x.category);
  c->set_data_class(v1::DATA_CLASS_SPECIAL_ART9);
  c->set_regime(v1::DATA_REGIME_AVG);
  r.set_purpose(x.purpose);
  r.set_legal_basis(x.basis);
  r.set_phase("analyse");
  if (with_subjects) {
    google::protobuf::RepeatedPtrField<v1::SubjectRef> refs;
    for (const auto& s : x.subjects) refs.Add()->set_ref(s.ref());
    cases::AddPseudonyms(key, x.subjects, &refs);
    cases::CopySubjects(refs, &r);
  }
  return r;
}

std::vector<v1::AuditRecord> GatewayRecords(const Exchange& x, const cases::PseudonymKey& key) {
  std::vector<v1::AuditRecord> out;
  out.push_back(Base(v1::AUDIT_EVENT_REQUEST, x, key, true));
  v1::AuditRecord d = Base(v1::AUDIT_EVENT_DECISION, x, key, true);
  d.mutable_decision()->set_verdict(x.refused ? v1::AUDIT_VERDICT_DENY : v1::AUDIT_VERDICT_PERMIT);
  d.mutable_decision()->add_rule_ids("R-VT-01");
  d.mutable_decision()->set_reason(std::string("subject ") + kOtherRef + " has no consent");
  d.mutable_decision()->mutable_obligations()->set_retention_days(90);
  d.mutable_decision()->mutable_obligations()->set_retention_from_closure(true);
  out.push_back(d);
  if (x.refused) {
    v1::AuditRecord r = Base(v1::AUDIT_EVENT_REFUSED, x, key, true);
    r.set_reason(std::string("refused: ") + kOtherRef);
    out.push_back(r);
    return out;
  }
  out.push_back(Base(v1::AUDIT_EVENT_FORWARDED, x, key, true));
  // An older delivery without purpose and basis: joined to its exchange.
  v1::AuditRecord del = Base(v1::AUDIT_EVENT_DELIVERED, x, key, true);
  del.clear_purpose();
  del.clear_legal_basis();
  out.push_back(del);
  v1::AuditRecord receipt = Base(v1::AUDIT_EVENT_RECEIPT, x, key, false);
  out.push_back(receipt);
  return out;
}

class SubjectTest : public ::testing::Test {
 protected:
  void SetUp() override {
    key_ = std::move(cases::GeneratePseudonymKey("hvb-2026-1", 1'790'000'000'000)).value();
    ASSERT_THAT(cases::WritePseudonymKeyFile(key_, KeyFile()), IsOk());
    auto other = std::move(cases::GeneratePseudonymKey("hvb-2025-1", 1'760'000'000'000)).value();
    ASSERT_THAT(cases::WritePseudonymKeyFile(other, tmp_.File("old.key")), IsOk());

    const v1::Subject anna = Person(kRef, kBsn, kName, kBirth);
    const v1::Subject bart = Person(kOtherRef, kOtherBsn, kOtherName, kOtherBirth);
    v1::Subject anna_by_name = Person(kRef, "", kName, kBirth);  // a client that had no BSN
    std::vector<Exchange> xs = {
        {.case_id = "VT-2026-0042", .source = "politie", .category = "politie-incidenten", .subjects = {anna}},
        {.case_id = "VT-2026-0042", .source = "ggz-breburg", .category = "ggz-behandeling", .subjects = {anna, bart}},
        {.case_id = "VT-2026-0042", .source = "reclassering", .category = "reclassering-toezicht", .refused = true,
         .subjects = {anna}},
        // Long names, as the demo's, for the page's width in the browser test.
        {.case_id = "VT-2026-0077", .source = "gemeente-tilburg", .recipient = "veiligheidsteam-hartvanbrabant",
         .category = "veilig-thuis-veiligheidsbeoordeling", .purpose = "veiligheidstaxatie-en-plan",
         .basis = "uitdrukkelijke-toestemming", .subjects = {anna_by_name}},
        {.case_id = "VT-2026-9999", .source = "alleen-bart-partner", .recipient = "bart-ontvanger",
         .category = "bart-categorie", .purpose = "bart-doel", .basis = "bart-grondslag", .subjects = {bart}},
    };
    ManualClock clock(1'790'000'000'000);
    audit::LogWriterOptions opts;
    opts.clock = &clock;
    opts.checkpoint_every_records = 8;
    opts.checkpoint_every_millis = INT64_MAX / 2;
    auto gw = audit::LogWriter::Open(GatewayLog(), TestSigner(), opts);
    ASSERT_THAT(gw, IsOk());
    auto agent = audit::LogWriter::Open(AgentLog(), TestSigner(9, "ggz-breburg.example/agent"), opts);
    ASSERT_THAT(agent, IsOk());
    int n = 0;
    for (Exchange& x : xs) {
      x.message_id = std::string(16, static_cast<char>('a' + n++));
      for (const auto& r : GatewayRecords(x, key_)) {
        ASSERT_THAT((*gw)->Append(r), IsOk());
        clock.Advance(60'000);
      }
      if (x.source == "ggz-breburg") {
        // The agent's own record of its disclosure.
        ASSERT_THAT((*agent)->Append(Base(v1::AUDIT_EVENT_DELIVERED, x, key_, true)), IsOk());
      }
      clock.Advance(86'400'000);
    }
    ASSERT_THAT((*gw)->Close(), IsOk());
    ASSERT_THAT((*agent)->Close(), IsOk());
    for (const auto& s : {anna, bart}) {
      for (const auto& p : cases::SubjectPseudonyms(key_, s)) {
        pseudonym_texts_.push_back(HexEncode(p.value()));
        pseudonym_texts_.push_back(Base64Encode(p.value()));
      }
    }
  }

  std::string GatewayLog() const { return tmp_.path() + "/gateway-log"; }
  std::string AgentLog() const { return tmp_.path() + "/ggz-log"; }
  std::string KeyFile() const { return tmp_.File("region.key"); }
  std::string Out() const { return tmp_.File("inzage.html"); }
  std::string Read(const std::string& path) const { return std::move(ReadFileBounded(path, 1 << 22)).value(); }

  void ExpectNoOtherPersonData(const std::string& html) {
    for (const char* canary : {kBsn, kName, kRef, kOtherBsn, kOtherName, kOtherRef, "Canarie", "Anderpersoon",
                               "VT-2026-9999", "alleen-bart-partner", "bart-", "vt-casusregisseur-07", "no consent"}) {
      EXPECT_THAT(html, Not(HasSubstr(canary)));
    }
    for (const auto& p : pseudonym_texts_) EXPECT_THAT(html, Not(HasSubstr(p)));
  }

  ::kp::testing::TempDir tmp_;
  cases::PseudonymKey key_;
  std::vector<std::string> pseudonym_texts_;
};

TEST_F(SubjectTest, LookupKeyAgreesWithCase) {
  for (const auto& p : cases::SubjectPseudonyms(key_, Person("s", kBsn, kName, kBirth))) {
    std::string k;
    audit::AppendPseudonymLookupKey(p, &k);
    EXPECT_EQ(k, cases::PseudonymLookupKey(p));
  }
}

TEST_F(SubjectTest, ByBsnAcrossGatewayAndAgentLogs) {
  CliRun r = RunCli({"audit", "subject", "--bsn", kBsn, "--pseudonym-key", KeyFile(), "--out", Out(),
                        GatewayLog(), AgentLog()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Politie: 4 + receipt; GGz: 4 + receipt; reclassering: 3 refused; the
  // agent's delivery: 1. The name-only exchange is not found by BSN.
  EXPECT_THAT(r.out, HasSubstr("14 record(s) about the person in 2 verified log(s)"));
  EXPECT_THAT(r.out, HasSubstr("1 of 1 records"));
  EXPECT_THAT(r.out + r.err, Not(HasSubstr(kBsn)));
  struct stat st {};
  ASSERT_EQ(::stat(Out().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::string html = Read(Out());
  for (const char* want :
       {"Antwoord op het verzoek om inzage (artikel 15 AVG)", "a. Doeleinden", "b. Categorieën", "c. Ontvangers",
        "d. Bewaartermijn", "e. Rechten", "rectificatie", "wissen", "beperking", "bezwaar",
        "f. Klacht bij de Autoriteit Persoonsgegevens", "g. Bron", "h. Geautomatiseerde besluitvorming", "politie",
        "ggz-breburg", "politie-incidenten", "ggz-behandeling", "veiligheidsplan", "convenant-vt-art-5",
        "90 dagen na het sluiten van de casus", "VT-2026-0042", "ggz-breburg.example/agent", "de persoon",
        "Informatie verstrekt", "Geweigerd", "CONCEPT"}) {
    EXPECT_THAT(html, HasSubstr(want));
  }
  // Two disclosures (the GGz one is in both logs, counted once), one refused.
  EXPECT_THAT(html, HasSubstr("<strong>2</strong> verstrekkingen"));
  EXPECT_THAT(html, HasSubstr("<strong>1</strong> geweigerde"));
  EXPECT_THAT(html, Not(HasSubstr("veilig-thuis-veiligheidsbeoordeling")));
  ExpectNoOtherPersonData(html);
  // subject_browser_test.py renders this draft in chromium.
  if (const char* dir = std::getenv("KP_SUBJECT_SAMPLE_DIR"); dir != nullptr && *dir != '\0') {
    ASSERT_THAT(WriteFileDurable(std::string(dir) + "/inzage-bsn.html", html, 0600, WriteMode::kReplace), IsOk());
  }
}

TEST_F(SubjectTest, ByNameAndBirthDateFindsWhatTheClientSentWithoutBsn) {
  CliRun r = RunCli({"audit", "subject", "--name", "  annabel   CANARIE-jansen ", "--birth-date", kBirth,
                        "--pseudonym-key", KeyFile(), "--out", Out(), GatewayLog()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("18 record(s)"));
  std::string html = Read(Out());
  EXPECT_THAT(html, HasSubstr("veilig-thuis-veiligheidsbeoordeling"));
  EXPECT_THAT(html, HasSubstr("gemeente-tilburg"));
  ExpectNoOtherPersonData(html);
  if (const char* dir = std::getenv("KP_SUBJECT_SAMPLE_DIR"); dir != nullptr && *dir != '\0') {
    ASSERT_THAT(WriteFileDurable(std::string(dir) + "/inzage-naam.html", html, 0600, WriteMode::kReplace), IsOk());
  }
}

TEST_F(SubjectTest, BsnFromStandardInput) {
  std::istringstream in(std::string(kBsn) + "\n");
  std::streambuf* saved = std::cin.rdbuf(in.rdbuf());
  CliRun r = RunCli({"audit", "subject", "--bsn", "-", "--pseudonym-key", KeyFile(), "--out", Out(), GatewayLog()});
  std::cin.rdbuf(saved);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("13 record(s) about the person in 1 verified log(s)"));
}

TEST_F(SubjectTest, UnknownPersonWritesNothing) {
  CliRun r = RunCli({"audit", "subject", "--bsn", "100000009", "--pseudonym-key", KeyFile(), "--out", Out(),
                        GatewayLog(), AgentLog()});
  EXPECT_EQ(r.exit_code, kExitError);
  EXPECT_THAT(r.err, HasSubstr("no record under key(s) hvb-2026-1"));
  EXPECT_THAT(r.err, HasSubstr("is this the right key?"));
  EXPECT_THAT(r.err, Not(HasSubstr("100000009")));
  EXPECT_FALSE(std::filesystem::exists(Out()));
}

TEST_F(SubjectTest, WrongKeyCannotBeToldApartAndSaysSo) {
  CliRun r = RunCli({"audit", "subject", "--bsn", kBsn, "--pseudonym-key", tmp_.File("old.key"), "--out", Out(),
                        GatewayLog()});
  EXPECT_EQ(r.exit_code, kExitError);
  EXPECT_THAT(r.err, HasSubstr("no record under key(s) hvb-2025-1"));
  EXPECT_THAT(r.err, HasSubstr("is this the right key?"));
  EXPECT_THAT(r.err, HasSubstr("pseudonyms under key(s) hvb-2026-1 that were not given"));
  EXPECT_FALSE(std::filesystem::exists(Out()));
  // Both keys: found, the old one simply matches nothing.
  r = RunCli({"audit", "subject", "--bsn", kBsn, "--pseudonym-key", tmp_.File("old.key"), "--pseudonym-key",
              KeyFile(), "--out", Out(), GatewayLog()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(SubjectTest, BadInputIsRefused) {
  for (std::vector<std::string> args : {
           std::vector<std::string>{"--name", kName},                         // no date of birth
           std::vector<std::string>{"--bsn", "111222334"},                    // fails the elfproef
           std::vector<std::string>{"--name", kName, "--birth-date", "14-03-1987"},
           std::vector<std::string>{},                                        // nobody
       }) {
    std::vector<std::string> cmd = {"audit", "subject"};
    cmd.insert(cmd.end(), args.begin(), args.end());
    for (const std::string& a : std::vector<std::string>{"--pseudonym-key", KeyFile(), "--out", Out(), GatewayLog()}) {
      cmd.push_back(a);
    }
    CliRun r = RunCli(cmd);
    EXPECT_NE(r.exit_code, 0) << args.size();
    EXPECT_THAT(r.err, Not(HasSubstr("111222334")));
    EXPECT_FALSE(std::filesystem::exists(Out()));
  }
  // A key file that is not one.
  ASSERT_THAT(WriteFileDurable(tmp_.File("junk.key"), "kind: something-else\n", 0600, WriteMode::kReplace), IsOk());
  CliRun r = RunCli({"audit", "subject", "--bsn", kBsn, "--pseudonym-key", tmp_.File("junk.key"), "--out", Out(),
                        GatewayLog()});
  EXPECT_EQ(r.exit_code, kExitError);
  EXPECT_THAT(r.err, HasSubstr("not a Ketenpoort pseudonym key file"));
  // A folder that is no audit log, named.
  std::filesystem::create_directories(tmp_.File("not-a-log"));
  r = RunCli({"audit", "subject", "--bsn", kBsn, "--pseudonym-key", KeyFile(), "--out", Out(), GatewayLog(),
              tmp_.File("not-a-log")});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr(tmp_.File("not-a-log")));
  EXPECT_FALSE(std::filesystem::exists(Out()));
}

TEST_F(SubjectTest, PinnedLogKeyAndAForeignKey) {
  const std::string agent_key = audit::FormatVerifierKey(TestSigner(9, "ggz-breburg.example/agent").verifier_key());
  CliRun r = RunCli({"audit", "subject", "--bsn", kBsn, "--pseudonym-key", KeyFile(), "--out", Out(),
                        "--log-key", AgentLog() + "=" + agent_key, GatewayLog(), AgentLog()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, Not(HasSubstr(AgentLog() + " was verified with its own log.vkey")));
  EXPECT_THAT(r.err, HasSubstr(GatewayLog() + " was verified with its own log.vkey"));
  std::filesystem::remove(Out());
  // The gateway's key pinned for the agent's log: a foreign log, refused.
  r = RunCli({"audit", "subject", "--bsn", kBsn, "--pseudonym-key", KeyFile(), "--out", Out(), "--log-key",
              AgentLog() + "=" + audit::FormatVerifierKey(TestSigner().verifier_key()), GatewayLog(), AgentLog()});
  EXPECT_EQ(r.exit_code, kExitVerification);
  EXPECT_THAT(r.err, HasSubstr(AgentLog() + " does not verify"));
  EXPECT_FALSE(std::filesystem::exists(Out()));
}

TEST_F(SubjectTest, DamagedCopyIsRefusedNamingIt) {
  const std::string records = AgentLog() + "/" + std::string(audit::kRecordsFileName);
  std::string bytes = Read(records);
  bytes[bytes.size() / 2] ^= 0x20;
  ASSERT_THAT(WriteFileDurable(records, bytes, 0600, WriteMode::kReplace), IsOk());
  CliRun r = RunCli({"audit", "subject", "--bsn", kBsn, "--pseudonym-key", KeyFile(), "--out", Out(),
                        GatewayLog(), AgentLog()});
  EXPECT_EQ(r.exit_code, kExitVerification);
  EXPECT_THAT(r.err, HasSubstr("audit log " + AgentLog() + " does not verify"));
  EXPECT_THAT(r.err, HasSubstr("nothing was listed"));
  EXPECT_FALSE(std::filesystem::exists(Out()));
}

// Every byte of a small log's records file flipped (one bit each, bits in
// turn), and the file cut at every length: the lookup never lists anything
// from a log that is not exactly what its tree and checkpoints commit to.
TEST_F(SubjectTest, EveryFlipAndEveryCutOfTheRecordsFileIsRefused) {
  const std::string records = AgentLog() + "/" + std::string(audit::kRecordsFileName);
  const std::string good = Read(records);
  audit::SubjectQuery q;
  q.key_ids = {key_.id};
  for (const auto& p : cases::SubjectPseudonyms(key_, Person("s", kBsn, kName, kBirth))) {
    q.lookup_keys.insert(cases::PseudonymLookupKey(p));
  }
  const std::vector<audit::SubjectLog> logs = {{AgentLog(), {}}};
  ASSERT_THAT(audit::FindSubjectRecords(logs, q), IsOk());
  size_t accepted = 0;
  for (size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ (1 << (i % 8)));
    std::ofstream(records, std::ios::binary | std::ios::trunc) << bad;
    if (audit::FindSubjectRecords(logs, q).ok()) ++accepted;
  }
  EXPECT_EQ(accepted, 0u);
  for (size_t n = 0; n < good.size(); ++n) {
    std::ofstream(records, std::ios::binary | std::ios::trunc) << good.substr(0, n);
    auto found = audit::FindSubjectRecords(logs, q);
    EXPECT_FALSE(found.ok()) << "cut at " << n;
  }
  std::ofstream(records, std::ios::binary | std::ios::trunc) << good;
  EXPECT_THAT(audit::FindSubjectRecords(logs, q), IsOk());
}

// A coordinator's read log (NEN 7513): a showing of a fragment about the
// person is listed as such, without who looked.
TEST_F(SubjectTest, ReadLogShowingsAreListed) {
  const std::string read_log = tmp_.path() + "/read-log";
  {
    auto w = audit::LogWriter::Open(read_log, TestSigner(11, "ketenpoort.veiligheidshuis/read-log/vt-casusregisseur-07"));
    ASSERT_THAT(w, IsOk());
    Exchange x{.case_id = "VT-2026-0042", .source = "politie", .category = "politie-incidenten",
               .subjects = {Person(kRef, kBsn, kName, kBirth)}, .message_id = std::string(16, 'a')};
    v1::AuditRecord shown = Base(v1::AUDIT_EVENT_FRAGMENT_SHOWN, x, key_, true);
    ASSERT_THAT((*w)->Append(shown), IsOk());
    ASSERT_THAT((*w)->Close(), IsOk());
  }
  CliRun r = RunCli({"audit", "subject", "--bsn", kBsn, "--pseudonym-key", KeyFile(), "--out", Out(),
                        GatewayLog(), read_log});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr(read_log + " (ketenpoort.veiligheidshuis/read-log/vt-casusregisseur-07): 1 of 1 records"));
  std::string html = Read(Out());
  EXPECT_THAT(html, HasSubstr("Ingezien door een professional"));
  EXPECT_THAT(html, HasSubstr("ketenpoort.veiligheidshuis/read-log<"));
  EXPECT_THAT(html, Not(HasSubstr("vt-casusregisseur-07")));
  EXPECT_THAT(html, Not(HasSubstr(tmp_.path())));
}

// A copy of a log in use: records after its latest signed checkpoint are
// listed, and the draft says that no signature covers them yet.
TEST_F(SubjectTest, RecordsAfterTheLatestCheckpointAreNamed) {
  audit::SubjectFindings f;
  f.logs.push_back({.dir = "d", .origin = "o", .records = 40, .latest_checkpoint_size = 32});
  f.logs.push_back({.dir = "e", .origin = "p", .records = 9, .latest_checkpoint_size = 9});
  audit::SubjectHit hit;
  hit.record.set_event(v1::AUDIT_EVENT_REQUEST);
  f.hits.push_back(hit);
  std::string html = audit::RenderSubjectAnswer(f, {});
  EXPECT_THAT(html, HasSubstr("de laatste 8 vastleggingen van logboek 1 vallen nog niet onder een ondertekend"));
  EXPECT_THAT(html, Not(HasSubstr("van logboek 2 vallen")));
}

TEST_F(SubjectTest, StringsFromTheLogAreEscaped) {
  audit::SubjectFindings f;
  f.logs.push_back({.dir = "<dir>", .origin = "o<rigin>"});
  audit::SubjectHit hit;
  hit.record.set_event(v1::AUDIT_EVENT_DELIVERED);
  hit.record.set_purpose("<script>alert(1)</script>");
  hit.record.set_source_partner("a&b");
  hit.record.set_recipient_partner("\"q\"");
  hit.record.add_categories()->set_name("<img src=x>");
  f.hits.push_back(hit);
  std::string html = audit::RenderSubjectAnswer(f, {.generated_at_millis = 1'790'000'000'000, .controller = "<c>"});
  EXPECT_THAT(html, Not(HasSubstr("<script>")));
  EXPECT_THAT(html, Not(HasSubstr("<img")));
  EXPECT_THAT(html, Not(HasSubstr("<c>")));
  EXPECT_THAT(html, HasSubstr("&lt;script&gt;"));
  EXPECT_THAT(html, HasSubstr("a&amp;b"));
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp::cli
