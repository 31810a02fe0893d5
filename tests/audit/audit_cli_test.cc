// `ketenpoort audit ...` as a privacy officer runs it, in process: exit codes,
// the first bad index in verify's message, proofs that round-trip through
// verify-proof, filters of show, the report, and erase-expired.
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli/cli_context.h"
#include "core/audit/checkpoint.h"
#include "core/audit/log_writer.h"
#include "core/base/file_util.h"
#include "tests/audit/audit_test_util.h"
#include "tests/testing/cli_run.h"
#include "tests/testing/status_matchers.h"

namespace kp::cli {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

using ::kp::audit::testing::SampleRecord;
using ::kp::audit::testing::TestSigner;
using ::testing::HasSubstr;
using ::testing::Not;

using testing::CliRun;
using testing::RunCli;

class AuditCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ManualClock clock(1'790'000'000'000);  // 2026-09-21
    audit::LogWriterOptions opts;
    opts.clock = &clock;
    opts.checkpoint_every_records = 8;
    opts.checkpoint_every_millis = INT64_MAX / 2;
    auto w = audit::LogWriter::Open(dir(), TestSigner(), opts);
    ASSERT_THAT(w, ::kp::testing::IsOk());
    for (int i = 0; i < 20; ++i) {
      ASSERT_THAT((*w)->Append(SampleRecord(i, i < 4 ? clock.NowMillis() + 1000 : 0)), ::kp::testing::IsOk());
      clock.Advance(60'000);
    }
    ASSERT_THAT((*w)->Close(), ::kp::testing::IsOk());
  }
  std::string dir() const { return tmp_.path() + "/log"; }
  std::string File(const std::string& name) const { return tmp_.File(name); }
  void Write(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

  ::kp::testing::TempDir tmp_;
};

TEST_F(AuditCliTest, VerifyOkAndPinnedKey) {
  CliRun r = RunCli({"audit", "verify", dir()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("records:     20"));
  EXPECT_THAT(r.err, HasSubstr("folder's own key"));
  std::string key = audit::FormatVerifierKey(TestSigner().verifier_key());
  r = RunCli({"audit", "verify", dir(), "--key", key});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("pinned key"));
  r = RunCli({"audit", "verify", dir(), "--key", audit::FormatVerifierKey(TestSigner(9).verifier_key())});
  EXPECT_EQ(r.exit_code, kExitVerification);
}

TEST_F(AuditCliTest, VerifyNamesTheFirstBadIndex) {
  std::string path = dir() + "/records";
  auto data = ReadFileBounded(path, 1 << 20);
  ASSERT_TRUE(data.ok());
  std::string bad = *data;
  bad[bad.size() - 3] ^= 1;  // inside the last record (index 19)
  Write(path, bad);
  CliRun r = RunCli({"audit", "verify", dir()});
  EXPECT_EQ(r.exit_code, kExitVerification);
  EXPECT_THAT(r.err, HasSubstr("record 19"));
  EXPECT_THAT(r.err, HasSubstr("first bad index 19"));
}

TEST_F(AuditCliTest, VerifyAgainstAKeptCheckpoint) {
  std::string kept = File("kept.checkpoint");
  std::filesystem::copy_file(dir() + "/checkpoint", kept);
  CliRun r = RunCli({"audit", "verify", dir(), "--checkpoint", kept});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("1 witnessed checkpoint"));
}

TEST_F(AuditCliTest, ProveAndVerifyProofRoundTrip) {
  CliRun r = RunCli({"audit", "prove", dir(), "--index", "7"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("\"leafIdx\": 7"));
  EXPECT_THAT(r.out, HasSubstr("\"treeSize\": 20"));
  Write(File("incl.json"), r.out);
  EXPECT_EQ(RunCli({"audit", "verify-proof", File("incl.json")}).exit_code, 0);

  r = RunCli({"audit", "prove", dir(), "--consistency", "5", "20"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Write(File("cons.json"), r.out);
  EXPECT_EQ(RunCli({"audit", "verify-proof", File("cons.json")}).exit_code, 0);

  std::string tampered = r.out;
  tampered.replace(tampered.find("\"size1\": 5"), 10, "\"size1\": 6");
  Write(File("bad.json"), tampered);
  EXPECT_EQ(RunCli({"audit", "verify-proof", File("bad.json")}).exit_code, 1);
  Write(File("garbage.json"), "not json at all");
  EXPECT_EQ(RunCli({"audit", "verify-proof", File("garbage.json")}).exit_code, 2);
  EXPECT_EQ(RunCli({"audit", "verify-proof", File("missing.json")}).exit_code, 2);
  EXPECT_EQ(RunCli({"audit", "prove", dir(), "--index", "20", "--size", "20"}).exit_code, kExitError);
}

TEST_F(AuditCliTest, ShowFilters) {
  CliRun all = RunCli({"audit", "show", dir(), "--json"});
  ASSERT_EQ(all.exit_code, 0) << all.err;
  EXPECT_EQ(std::count(all.out.begin(), all.out.end(), '\n'), 20);
  CliRun deny = RunCli({"audit", "show", dir(), "--decision", "deny"});
  ASSERT_EQ(deny.exit_code, 0) << deny.err;
  EXPECT_THAT(deny.out, HasSubstr("no consent recorded"));
  EXPECT_THAT(deny.err, HasSubstr("4 record(s)"));  // indexes 0, 6, 12, 18
  CliRun c = RunCli({"audit", "show", dir(), "--case", "VT-2026-0042", "--json"});
  EXPECT_THAT(c.out, Not(HasSubstr("VT-2026-0041")));
  EXPECT_THAT(c.out, HasSubstr("VT-2026-0042"));
  CliRun t = RunCli({"audit", "show", dir(), "--since", "2026-09-21T12:20:00.000Z", "--event", "delivered"});
  ASSERT_EQ(t.exit_code, 0) << t.err;
  EXPECT_THAT(t.out, Not(HasSubstr("decision ")));
  EXPECT_EQ(RunCli({"audit", "show", dir(), "--event", "nonsense"}).exit_code, kExitError);
}

TEST_F(AuditCliTest, ReportIsOneSelfContainedHtmlFile) {
  std::string out = File("report.html");
  CliRun r = RunCli({"audit", "report", dir(), "--out", out, "--case", "VT-2026-0042"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto html = ReadFileBounded(out, 1 << 22);
  ASSERT_TRUE(html.ok());
  EXPECT_THAT(*html, HasSubstr("<svg"));
  EXPECT_THAT(*html, HasSubstr("Verified."));
  EXPECT_THAT(*html, HasSubstr("VT-2026-0042"));
  EXPECT_THAT(*html, HasSubstr("class=\"refused\""));
  EXPECT_THAT(*html, Not(HasSubstr("src=")));
  EXPECT_THAT(*html, Not(HasSubstr("href=\"http")));
  EXPECT_THAT(*html, Not(HasSubstr("<script")));
}

TEST_F(AuditCliTest, ReportPerPartnerAndPeriodOrAClearNoWithoutAFile) {
  std::string out = File("partner.html");
  CliRun r = RunCli({"audit", "report", dir(), "--out", out, "--partner", "politie", "--from", "2026-09-21",
                        "--to", "2026-09-21T16:30:00+02:00"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto html = ReadFileBounded(out, 1 << 22);
  ASSERT_TRUE(html.ok());
  EXPECT_THAT(*html, HasSubstr("<h2>Totals for partner politie</h2>"));
  EXPECT_THAT(*html, HasSubstr("<h2>Totals per case</h2>"));
  EXPECT_THAT(*html, Not(HasSubstr("ggz-behandeling")));  // the other partner's exchanges
  for (const std::vector<std::string>& bad :
       {std::vector<std::string>{"--partner", "nobody"}, {"--from", "2027-01-01"}, {"--case", "VT-2099-0001"},
        {"--from", "2026-09-22", "--to", "2026-09-21"}, {"--from", "21-09-2026"}, {"--to", "2026-09-21T14:00:00"}}) {
    std::string none = File("none.html");
    std::vector<std::string> args = {"audit", "report", dir(), "--out", none};
    args.insert(args.end(), bad.begin(), bad.end());
    r = RunCli(args);
    EXPECT_EQ(r.exit_code, kExitError) << bad[1];
    EXPECT_FALSE(std::filesystem::exists(none)) << bad[1] << ": a file was written";
    EXPECT_THAT(r.err, HasSubstr("error: ")) << bad[1];
  }
  r = RunCli({"audit", "report", dir(), "--out", File("x.html"), "--partner", "nobody"});
  EXPECT_THAT(r.err, HasSubstr("no records involving partner nobody"));
  EXPECT_THAT(r.err, HasSubstr("partners in it: ggz-breburg, politie, veiligheidshuis"));
  r = RunCli({"audit", "report", dir(), "--out", File("x.html"), "--from", "21-09-2026"});
  EXPECT_THAT(r.err, HasSubstr("--from: '21-09-2026' is not a date (2026-11-22)"));
}

TEST_F(AuditCliTest, EraseExpiredLeavesAVerifiableLog) {
  CliRun r = RunCli({"audit", "erase-expired", dir(), "--now", "2026-09-21"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("no record"));
  r = RunCli({"audit", "erase-expired", dir(), "--now", "2027-01-01"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("erased 4 record(s) between index 0 and 3"));
  r = RunCli({"audit", "verify", dir()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("4 erased"));
  r = RunCli({"audit", "show", dir()});
  EXPECT_THAT(r.out, HasSubstr("(erased: retention ended)"));
}

// verify-proof agrees with every published vector (read in place).
TEST_F(AuditCliTest, VerifyProofAgreesWithSharedVectors) {
  std::filesystem::path root =
      std::filesystem::path(::kp::testing::SourceDir()) / ".." / "shared" / "testdata" / "merkle";
  if (!std::filesystem::is_directory(root)) GTEST_SKIP() << "no shared test data";
  int n = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(root)) {
    if (e.path().extension() != ".json") continue;
    auto text = ReadFileBounded(e.path().string(), 1 << 20);
    ASSERT_TRUE(text.ok());
    bool want_err = text->find("\"wantErr\": true") != std::string::npos;
    EXPECT_EQ(RunCli({"audit", "verify-proof", e.path().string()}).exit_code, want_err ? 1 : 0) << e.path();
    ++n;
  }
  EXPECT_GT(n, 100);
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp::cli
