// Figures for retention without downtime (issue 17 §6; docs/operations.md,
// "Retention"): a log of N records (default 1,000,000; every other one
// expired) is erased with LogWriter::EraseExpiredBodies on one thread while
// another appends durably without pause, as the gateway does. Prints how
// long the erasure took, how many appends went through meanwhile, and their
// latency (median, p99, max): the max is what the writer's short hold
// (copying the tail, sync, rename) cost an append. A program, not a test:
//   build/tests/audit/audit_erase_live_figures [N] [folder]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "core/audit/log_writer.h"
#include "tests/audit/audit_test_util.h"

namespace {

using Clock = std::chrono::steady_clock;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

}  // namespace

int main(int argc, char** argv) {
  using namespace kp::audit;
  const long n = argc > 1 ? std::atol(argv[1]) : 1'000'000;
  const std::string dir =
      argc > 2 ? argv[2] : std::filesystem::temp_directory_path().string() + "/kp-erase-figures";
  std::filesystem::remove_all(dir);
  kp::ManualClock clock(1795357974123);
  LogWriterOptions options;
  options.clock = &clock;
  auto opened = LogWriter::Open(dir, testing::TestSigner(), options);
  if (!opened.ok()) {
    std::fprintf(stderr, "cannot open %s: %s\n", dir.c_str(), opened.status().ToString().c_str());
    return 1;
  }
  std::unique_ptr<LogWriter> w = std::move(opened).value();
  const int64_t now = clock.NowMillis();
  const auto fill_start = Clock::now();
  for (long i = 0; i < n; ++i) {
    if (!w->AppendBuffered(testing::SampleRecord(static_cast<int>(i), i % 2 == 0 ? now : 0)).ok()) return 1;
    if (i % 10000 == 9999 && !w->Sync().ok()) return 1;
  }
  if (!w->Sync().ok() || !w->Checkpoint().ok()) return 1;
  const uintmax_t bytes = std::filesystem::file_size(dir + "/records");
  std::printf("log of %ld records, records file %.1f MB, written in %.1f s\n", n, bytes / 1e6,
              Ms(Clock::now() - fill_start) / 1000);

  // The baseline: the same appends for as long, without an erasure.
  std::vector<double> alone;
  auto summary = [](std::vector<double>& v, const char* what) {
    std::sort(v.begin(), v.end());
    auto at = [&](double q) { return v.empty() ? 0.0 : v[static_cast<size_t>(q * (v.size() - 1))]; };
    std::printf("%zu durable appends %s: latency median %.2f ms, p99 %.2f ms, max %.2f ms\n", v.size(), what,
                at(0.5), at(0.99), v.empty() ? 0.0 : v.back());
  };
  const auto base_start = Clock::now();
  while (Ms(Clock::now() - base_start) < 2000) {
    const auto t0 = Clock::now();
    if (!w->Append(testing::SampleRecord(static_cast<int>(alone.size()))).ok()) return 1;
    alone.push_back(Ms(Clock::now() - t0));
  }
  summary(alone, "alone for 2 s");

  std::atomic<bool> done{false};
  std::vector<double> latencies;
  std::thread appender([&] {
    int i = 0;
    while (!done.load()) {
      const auto t0 = Clock::now();
      if (!w->Append(testing::SampleRecord(i++)).ok()) std::abort();
      latencies.push_back(Ms(Clock::now() - t0));
    }
  });
  const auto t0 = Clock::now();
  auto erased = w->EraseExpiredBodies(now);
  const double erase_ms = Ms(Clock::now() - t0);
  done = true;
  appender.join();
  if (!erased.ok()) {
    std::fprintf(stderr, "erasure failed: %s\n", erased.status().ToString().c_str());
    return 1;
  }
  std::printf("erased %llu record bodies in %.0f ms beside the writer; records file now %.1f MB\n",
              static_cast<unsigned long long>(erased->erased), erase_ms,
              std::filesystem::file_size(dir + "/records") / 1e6);
  summary(latencies, "during the erasure");
  // The next sweep finds nothing new to erase: it reads the file and stops.
  const auto t1 = Clock::now();
  auto again = w->EraseExpiredBodies(now);
  if (!again.ok()) return 1;
  std::printf("a sweep with nothing new to erase: %.0f ms (%llu erased)\n", Ms(Clock::now() - t1),
              static_cast<unsigned long long>(again->erased));
  if (!w->Close().ok()) return 1;
  std::filesystem::remove_all(dir);
  return 0;
}
