// Prometheus metrics of a service (docs/operations.md "Monitoring").
//
// FOR OTHER PARTS (H3, H4, ...): count through the process-wide registry
// `kp::observe::Metrics()`, or — for the facts below — through the small
// functions at the end of this header, which keep one name per fact:
//   observe::CountConfigRefused("policy" | "registry", "older" | "tampered" |
//                               "unsigned" | "foreign-region" | "wrong-signer" | ...)
//       -> ketenpoort_config_refused_total{kind, reason}
//   observe::SetConfigInForce({.kind = "policy", .serial = ..., .sha256_hex = ...,
//                              .effective_from_ms = ..., .id = ...})
//       -> ketenpoort_config_serial{kind}, ketenpoort_config_effective_from_seconds{kind},
//          and the "in_force" part of GET /status
//   observe::SetCardExpiries({{participant_id, expires_at_ms}, ...}, now_ms)
//       -> ketenpoort_card_expiry_seconds{participant} (seconds until; negative: expired)
// Label values are ids, kinds and reason codes only: never a name, a BSN or
// anything a message carries. Keep their number small (no message ids).
//
// What it is: counters, gauges and histograms with labels, and their text
// exposition (format 0.0.4: # HELP, # TYPE, label values escaped). A series
// is found (or made) by name and labels; the reference it returns stays
// valid for the registry's life, so hot paths look it up once and keep it.
// Exception: the series of a family set with ReplaceGauges() are replaced
// wholesale — never keep references to those.
//
// Thread-safe: every method may be called from any thread; a series'
// updates are atomic (histograms take a small lock of their own). A
// metric's name, type, help and label names are fixed by its first use; a
// later use that disagrees is a programming error (KP_CHECK), as is an
// invalid name.
//
// In one process there is one registry (Metrics()): tests that run two
// gateways in one process see their counts added up.
#ifndef KETENPOORT_CORE_OBSERVE_METRICS_H_
#define KETENPOORT_CORE_OBSERVE_METRICS_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kp::observe {

// Label name -> value, e.g. {{"outcome", "delivered"}}. Order does not matter.
using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void Inc(double by = 1);  // by >= 0
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double by) { value_.fetch_add(by, std::memory_order_relaxed); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void Observe(double v);
  struct Snapshot {
    std::vector<double> upper_bounds;
    std::vector<uint64_t> cumulative;  // one per bound, then +Inf
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot Take() const;

 private:
  const std::vector<double> bounds_;
  mutable std::mutex mu_;
  std::vector<uint64_t> counts_;  // per bucket (not cumulative), then +Inf
  double sum_ = 0;
  uint64_t count_ = 0;
};

// Bucket bounds in seconds: 1 ms to 60 s (latencies of exchanges).
std::vector<double> LatencyBuckets();
// 100 µs to 10 s (fsync, local work).
std::vector<double> SyncBuckets();

class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  Counter& GetCounter(std::string_view name, std::string_view help, const Labels& labels = {});
  Gauge& GetGauge(std::string_view name, std::string_view help, const Labels& labels = {});
  Histogram& GetHistogram(std::string_view name, std::string_view help, const std::vector<double>& upper_bounds,
                          const Labels& labels = {});
  // Replaces every series of a gauge family (e.g. one per participant, when
  // the registry changes). References to the old series become invalid.
  void ReplaceGauges(std::string_view name, std::string_view help, const std::vector<std::pair<Labels, double>>& series);

  // The text exposition format 0.0.4, families sorted by name.
  std::string Render() const;
  // Content-Type of Render()'s output.
  static constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

 private:
  enum class Type { kCounter, kGauge, kHistogram };
  struct Series {
    Labels labels;  // sorted by name
    std::unique_ptr<Counter> counter;
    std::unique_ptr<Gauge> gauge;
    std::unique_ptr<Histogram> histogram;
  };
  struct Family {
    Type type;
    std::string help;
    std::vector<std::string> label_names;  // sorted
    std::vector<double> bounds;            // histograms
    std::map<std::string, Series> series;  // key: the rendered label set
  };
  Series& Find(Type type, std::string_view name, std::string_view help, const Labels& labels,
               const std::vector<double>* bounds);
  Family& FamilyOf(Type type, std::string_view name, std::string_view help, const std::vector<std::string>& label_names,
                   const std::vector<double>* bounds);

  mutable std::mutex mu_;
  std::map<std::string, Family, std::less<>> families_;
};

// The process-wide registry the services expose on /metrics.
Registry& Metrics();

// Label value escaping of the exposition format: \ -> \\, " -> \", newline -> \n.
std::string EscapeLabelValue(std::string_view value);
// HELP text escaping: \ -> \\, newline -> \n.
std::string EscapeHelp(std::string_view help);
// A sample value: integers without a fraction, "+Inf", "-Inf", "NaN".
std::string FormatValue(double v);
bool ValidMetricName(std::string_view name);
bool ValidLabelName(std::string_view name);

// ---- facts several parts report (see the top of this header)

// A registry or policy bundle that was refused (ketenpoort_config_refused_total).
void CountConfigRefused(std::string_view kind, std::string_view reason);

struct ConfigInForce {
  std::string kind;        // "policy", "registry"
  std::string id;          // the policy's id / version id; "" for a registry
  uint64_t serial = 0;
  std::string sha256_hex;  // of the policy file / the registry manifest
  int64_t effective_from_ms = 0;  // 0: in force since it was loaded
  int64_t loaded_ms = 0;
};
void SetConfigInForce(const ConfigInForce& config);
// What SetConfigInForce last said, by kind (for GET /status).
std::vector<ConfigInForce> ConfigsInForce();

// ketenpoort_card_expiry_seconds{participant}: seconds from `now_ms` until
// each card expires (negative once expired). Replaces the previous set.
void SetCardExpiries(const std::vector<std::pair<std::string, int64_t>>& expires_at_ms, int64_t now_ms);

}  // namespace kp::observe

#endif  // KETENPOORT_CORE_OBSERVE_METRICS_H_
