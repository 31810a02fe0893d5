// Audit log benchmarks (a program, not a test; built with -DKP_BENCH=ON):
//
//  * BM_AppendSync/threads:N       N appenders, each waiting for its own
//    durable append (the latency-bound case: one fdatasync per group).
//  * BM_AppendPipelined/threads:N  N appenders, each keeping up to 256
//    appends in flight (AppendAsync), as a gateway serving many requests
//    does; group commit shares each fdatasync among all of them.
//  * BM_VerifyLog                  full verification of a 200,000-record log
//    (records/s), as `ketenpoort audit verify` runs it.
//  * BM_OpenLog                    opening that log for writing (no tree
//    recomputation at start-up).
//  * BM_Sha256/bytes               the SHA-256 the log uses (OpenSSL, SHA-NI).
//
// Run: build-audit/tests/audit/audit_bench --benchmark_repetitions=3
//        --benchmark_report_aggregates_only=true
// The log lives under $TMPDIR (same disk as the repository here).
#include <benchmark/benchmark.h>

#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>

#include "core/audit/log_verifier.h"
#include "core/audit/log_writer.h"
#include "core/audit/record_wire.h"
#include "core/crypto/sha256.h"
#include "tests/audit/audit_test_util.h"

namespace kp::audit {
namespace {

using ::kp::audit::testing::SampleRecord;
using ::kp::audit::testing::TestSigner;

std::string MakeTempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "kp-audit-bench-XXXXXX").string();
  KP_CHECK(::mkdtemp(tmpl.data()) != nullptr);
  return tmpl;
}

std::unique_ptr<LogWriter> g_writer;
std::string g_dir;

void OpenFresh(const benchmark::State&) {
  g_dir = MakeTempDir();
  g_writer = std::move(LogWriter::Open(g_dir + "/log", TestSigner(), LogWriterOptions{})).value();
}

void CloseAndRemove(const benchmark::State&) {
  KP_CHECK(g_writer->Close().ok());
  g_writer.reset();
  std::filesystem::remove_all(g_dir);
}

const ketenpoort::v1::AuditRecord& Record() {
  static const ketenpoort::v1::AuditRecord r = SampleRecord(3);
  return r;
}

void BM_AppendSync(benchmark::State& state) {
  for (auto _ : state) {
    auto r = g_writer->Append(Record());
    if (!r.ok()) state.SkipWithError("append failed");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AppendSync)
    ->Setup(OpenFresh)
    ->Teardown(CloseAndRemove)
    ->Threads(1)
    ->Threads(4)
    ->Threads(16)
    ->UseRealTime();

// Keeps up to `window` appends in flight; waits for all at the end.
class InFlight {
 public:
  explicit InFlight(int window) : window_(window) {}
  void Acquire() {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [this] { return in_flight_ < window_; });
    ++in_flight_;
  }
  void Release(bool ok) {
    std::lock_guard<std::mutex> l(mu_);
    --in_flight_;
    if (!ok) failed_ = true;
    cv_.notify_all();
  }
  bool Drain() {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [this] { return in_flight_ == 0; });
    return !failed_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int window_;
  int in_flight_ = 0;
  bool failed_ = false;
};

void BM_AppendPipelined(benchmark::State& state) {
  InFlight inflight(256);
  for (auto _ : state) {
    inflight.Acquire();
    g_writer->AppendAsync(Record(), [&inflight](Result<AppendReceipt> r) { inflight.Release(r.ok()); });
  }
  if (!inflight.Drain()) state.SkipWithError("append failed");
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AppendPipelined)
    ->Setup(OpenFresh)
    ->Teardown(CloseAndRemove)
    ->Threads(1)
    ->Threads(4)
    ->Threads(16)
    ->UseRealTime();

constexpr int kVerifyRecords = 200'000;
std::string g_big_dir;

const std::string& BigLog() {
  if (!g_big_dir.empty()) return g_big_dir;
  g_big_dir = MakeTempDir();
  auto w = std::move(LogWriter::Open(g_big_dir + "/log", TestSigner(), LogWriterOptions{})).value();
  InFlight inflight(4096);
  for (int i = 0; i < kVerifyRecords; ++i) {
    inflight.Acquire();
    w->AppendAsync(SampleRecord(i), [&inflight](Result<AppendReceipt> r) { inflight.Release(r.ok()); });
  }
  KP_CHECK(inflight.Drain());
  KP_CHECK(w->Close().ok());
  return g_big_dir;
}

void BM_VerifyLog(benchmark::State& state) {
  const std::string dir = BigLog() + "/log";
  VerifyOptions opts;
  opts.key = TestSigner().verifier_key();
  for (auto _ : state) {
    VerifyReport rep = VerifyLog(dir, opts);
    if (!rep.status.ok() || rep.records != kVerifyRecords) state.SkipWithError("verify failed");
  }
  state.SetItemsProcessed(state.iterations() * kVerifyRecords);
}
BENCHMARK(BM_VerifyLog)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_OpenLog(benchmark::State& state) {
  const std::string dir = BigLog() + "/log";
  for (auto _ : state) {
    auto w = LogWriter::Open(dir, TestSigner(), LogWriterOptions{});
    if (!w.ok() || (*w)->size() != kVerifyRecords) state.SkipWithError("open failed");
    state.PauseTiming();
    w->reset();
    state.ResumeTiming();
  }
}
BENCHMARK(BM_OpenLog)->Unit(benchmark::kMillisecond)->UseRealTime();

// What the verifier does per record to know it parses and read its index
// and event: protobuf's full parse (into a reused message) or the quick wire
// check (record_wire.h).
void BM_RecordParse(benchmark::State& state) {
  const std::string bytes = SampleRecord(3).SerializeAsString();
  ketenpoort::v1::AuditRecord rec;
  for (auto _ : state) {
    rec.Clear();
    benchmark::DoNotOptimize(rec.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())));
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(bytes.size()));
}
BENCHMARK(BM_RecordParse);

void BM_RecordWireCheck(benchmark::State& state) {
  const std::string bytes = SampleRecord(3).SerializeAsString();
  uint64_t index = 0;
  int32_t event = 0;
  for (auto _ : state) benchmark::DoNotOptimize(CheckAuditRecordWire(bytes, &index, &event));
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(bytes.size()));
}
BENCHMARK(BM_RecordWireCheck);

void BM_Sha256(benchmark::State& state) {
  std::string data(static_cast<size_t>(state.range(0)), 'x');
  for (auto _ : state) benchmark::DoNotOptimize(Sha256(data));
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Sha256)->Arg(65)->Arg(300)->Arg(1 << 16);

// The incremental hasher with a reused context, as the log hashes nodes.
void BM_Sha256Reused(benchmark::State& state) {
  std::string data(static_cast<size_t>(state.range(0)), 'x');
  Sha256Hasher h;
  for (auto _ : state) {
    h.Update(data);
    benchmark::DoNotOptimize(h.Finish());
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Sha256Reused)->Arg(65)->Arg(300)->Arg(1 << 16);

}  // namespace
}  // namespace kp::audit

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  if (!kp::audit::g_big_dir.empty()) std::filesystem::remove_all(kp::audit::g_big_dir);
  return 0;
}
