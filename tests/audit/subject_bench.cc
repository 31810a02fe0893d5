// The privacy officer's lookups on a log of 1,000,000 records (issue 17): a
// program, not a test (built with -DKP_BENCH=ON; `./run bench` runs it).
//
// Builds, without network, a gateway audit log with the real LogWriter
// (tests/audit/bench_log.h, shared with tests/e2e/scale_bench): 10,000 cases
// and their exchanges among 14 partners until the log holds
// KP_BENCH_RECORDS records (default 1,000,000), spread over a year. One
// person is in three cases. Then measures what the CLI calls:
//
//  * BM_AuditSubject         `audit subject --bsn`: FindSubjectRecords
//                            (verify the log, then scan it) and
//                            RenderSubjectAnswer.
//  * BM_AuditReportPartner   `audit report --partner politie`: VerifyLog,
//                            LogReader::Open and RenderHtmlReport.
//  * BM_VerifyLog            verification alone, the part both share.
//  * BM_ReportPartnerRender  the report without its verification.
//
// Run (about 16 s to build the log, then a few seconds per repetition):
//   build/tests/audit/subject_bench --benchmark_repetitions=5
//     --benchmark_report_aggregates_only=true
// KP_BENCH_LOG_DIR=DIR keeps the log there and reuses it on the next run
// (else it lives under $TMPDIR and is removed at the end).
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "case/pseudonym.h"
#include "core/audit/log_reader.h"
#include "core/audit/log_verifier.h"
#include "core/audit/report.h"
#include "core/audit/subject_report.h"
#include "core/base/file_util.h"
#include "tests/audit/audit_test_util.h"
#include "tests/audit/bench_log.h"

namespace kp::audit {
namespace {

namespace v1 = ketenpoort::v1;

constexpr int kCases = 10'000;
constexpr char kReportPartner[] = "politie";

std::string g_dir;
bool g_remove = false;
SubjectQuery g_query;
uint64_t g_records = 0;

void MakeQuery() {
  const cases::PseudonymKey key = ::kp::testing::BenchPseudonymKey();
  v1::Subject s;
  s.set_bsn(::kp::testing::kBenchPersonBsn);
  for (const auto& p : cases::SubjectPseudonyms(key, s))
    g_query.lookup_keys.insert(cases::PseudonymLookupKey(p));
  g_query.key_ids = {key.id};
}

Status BuildLog(const std::string& dir, uint64_t target) {
  KP_ASSIGN_OR_RETURN(g_records, ::kp::testing::BuildBenchLog(dir, testing::TestSigner(),
                                                              ::kp::testing::MakeBenchCases(kCases), target));
  return OkStatus();
}

void BM_AuditSubject(benchmark::State& state) {
  size_t hits = 0;
  for (auto _ : state) {
    auto found = FindSubjectRecords({{g_dir, {}}}, g_query);
    if (!found.ok()) {
      state.SkipWithError(found.status().ToString().c_str());
      return;
    }
    std::string html = RenderSubjectAnswer(*found, {.generated_at_millis = 1'790'000'000'000});
    hits = found->hits.size();
    benchmark::DoNotOptimize(html);
  }
  state.counters["records"] = static_cast<double>(g_records);
  state.counters["hits"] = static_cast<double>(hits);
}
BENCHMARK(BM_AuditSubject)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1)
    ->MeasureProcessCPUTime()
    ->UseRealTime();

void BM_AuditReportPartner(benchmark::State& state) {
  size_t bytes = 0;
  for (auto _ : state) {
    VerifyReport rep = VerifyLog(g_dir, {});
    if (!rep.status.ok()) {
      state.SkipWithError(rep.status.ToString().c_str());
      return;
    }
    auto reader = LogReader::Open(g_dir);
    if (!reader.ok()) {
      state.SkipWithError(reader.status().ToString().c_str());
      return;
    }
    ReportOptions o;
    o.partner = kReportPartner;
    o.generated_at_millis = 1'790'000'000'000;
    auto html = RenderHtmlReport(**reader, rep, o);
    if (!html.ok()) {
      state.SkipWithError(html.status().ToString().c_str());
      return;
    }
    bytes = html->size();
  }
  state.counters["records"] = static_cast<double>(g_records);
  state.counters["html_bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_AuditReportPartner)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1)
    ->MeasureProcessCPUTime()
    ->UseRealTime();

void BM_VerifyLog(benchmark::State& state) {
  for (auto _ : state) {
    VerifyReport rep = VerifyLog(g_dir, {});
    if (!rep.status.ok()) state.SkipWithError(rep.status.ToString().c_str());
  }
  state.counters["records"] = static_cast<double>(g_records);
}
BENCHMARK(BM_VerifyLog)->Unit(benchmark::kMillisecond)->Iterations(1)->UseRealTime();

void BM_ReportPartnerRender(benchmark::State& state) {
  VerifyReport rep = VerifyLog(g_dir, {});
  auto reader = LogReader::Open(g_dir);
  if (!reader.ok()) {
    state.SkipWithError(reader.status().ToString().c_str());
    return;
  }
  for (auto _ : state) {
    ReportOptions o;
    o.partner = kReportPartner;
    auto html = RenderHtmlReport(**reader, rep, o);
    if (!html.ok()) state.SkipWithError(html.status().ToString().c_str());
  }
}
BENCHMARK(BM_ReportPartnerRender)->Unit(benchmark::kMillisecond)->Iterations(1)->UseRealTime();

}  // namespace
}  // namespace kp::audit

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  uint64_t target = 1'000'000;
  if (const char* n = std::getenv("KP_BENCH_RECORDS"); n != nullptr) target = std::strtoull(n, nullptr, 10);
  if (const char* d = std::getenv("KP_BENCH_LOG_DIR"); d != nullptr && *d != '\0') {
    kp::audit::g_dir = d;
  } else {
    std::string tmpl = (std::filesystem::temp_directory_path() / "kp-subject-bench-XXXXXX").string();
    KP_CHECK(::mkdtemp(tmpl.data()) != nullptr);
    kp::audit::g_dir = tmpl + "/log";
    kp::audit::g_remove = true;
  }
  kp::audit::MakeQuery();
  // A kept log is reused when it was finished for the same target (the
  // marker file next to it holds the record count).
  const std::string marker = kp::audit::g_dir + ".built-" + std::to_string(target);
  if (auto kept = kp::ReadFileBounded(marker, 64); kept.ok()) {
    kp::audit::g_records = std::strtoull(kept->c_str(), nullptr, 10);
    std::fprintf(stderr, "reusing %llu records in %s\n",
                 static_cast<unsigned long long>(kp::audit::g_records), kp::audit::g_dir.c_str());
  } else {
    std::filesystem::remove_all(kp::audit::g_dir);
    auto t0 = std::chrono::steady_clock::now();
    kp::Status s = kp::audit::BuildLog(kp::audit::g_dir, target);
    if (!s.ok()) {
      std::fprintf(stderr, "building the log failed: %s\n", s.ToString().c_str());
      return 1;
    }
    std::fprintf(stderr, "built %llu records in %s in %.1f s\n",
                 static_cast<unsigned long long>(kp::audit::g_records), kp::audit::g_dir.c_str(),
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    if (!kp::audit::g_remove) {
      KP_CHECK(
          kp::WriteFileDurable(marker, std::to_string(kp::audit::g_records), 0600, kp::WriteMode::kReplace)
              .ok());
    }
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  if (kp::audit::g_remove) std::filesystem::remove_all(std::filesystem::path(kp::audit::g_dir).parent_path());
  return 0;
}
