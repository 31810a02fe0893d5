#include "core/observe/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/base/status.h"

namespace kp::observe {
namespace {

Labels Sorted(Labels labels) {
  std::sort(labels.begin(), labels.end());
  return labels;
}

std::string RenderLabels(const Labels& sorted, std::string_view extra_name = {}, std::string_view extra_value = {}) {
  if (sorted.empty() && extra_name.empty()) return "";
  std::string out = "{";
  bool first = true;
  for (const auto& [k, v] : sorted) {
    if (!first) out += ",";
    first = false;
    out += k + "=\"" + EscapeLabelValue(v) + "\"";
  }
  if (!extra_name.empty()) {
    if (!first) out += ",";
    out += std::string(extra_name) + "=\"" + EscapeLabelValue(extra_value) + "\"";
  }
  out += "}";
  return out;
}

const char* TypeName(int type) {
  switch (type) {
    case 0:
      return "counter";
    case 1:
      return "gauge";
    default:
      return "histogram";
  }
}

}  // namespace

void Counter::Inc(double by) {
  KP_CHECK(by >= 0);
  value_.fetch_add(by, std::memory_order_relaxed);
}

Histogram::Histogram(std::vector<double> upper_bounds) : bounds_(std::move(upper_bounds)), counts_(bounds_.size() + 1) {
  KP_CHECK(std::is_sorted(bounds_.begin(), bounds_.end()));
  KP_CHECK(std::adjacent_find(bounds_.begin(), bounds_.end()) == bounds_.end());
}

void Histogram::Observe(double v) {
  const size_t i = static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
  std::lock_guard<std::mutex> lock(mu_);
  ++counts_[i];  // bucket i holds bounds_[i-1] < v <= bounds_[i] ("le")
  sum_ += v;
  ++count_;
}

Histogram::Snapshot Histogram::Take() const {
  Snapshot s;
  s.upper_bounds = bounds_;
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t running = 0;
  for (uint64_t c : counts_) {
    running += c;
    s.cumulative.push_back(running);
  }
  s.sum = sum_;
  s.count = count_;
  return s;
}

std::vector<double> LatencyBuckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}

std::vector<double> SyncBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10};
}

bool ValidMetricName(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!letter && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

bool ValidLabelName(std::string_view name) {
  if (name.empty() || name.starts_with("__") || name == "le") return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!letter && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string EscapeHelp(std::string_view help) {
  std::string out;
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.0f", v);
    return buf;
  }
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

Registry::Family& Registry::FamilyOf(Type type, std::string_view name, std::string_view help,
                                     const std::vector<std::string>& label_names, const std::vector<double>* bounds) {
  KP_CHECK(ValidMetricName(name));
  for (const auto& l : label_names) KP_CHECK(ValidLabelName(l));
  auto it = families_.find(name);
  if (it == families_.end()) {
    Family f{type, std::string(help), label_names, bounds != nullptr ? *bounds : std::vector<double>{}, {}};
    it = families_.emplace(std::string(name), std::move(f)).first;
  }
  Family& f = it->second;
  // One name, one meaning: a second use must agree with the first.
  KP_CHECK(f.type == type);
  KP_CHECK(f.label_names == label_names);
  KP_CHECK(bounds == nullptr || f.bounds == *bounds);
  return f;
}

Registry::Series& Registry::Find(Type type, std::string_view name, std::string_view help, const Labels& labels,
                                 const std::vector<double>* bounds) {
  Labels sorted = Sorted(labels);
  std::vector<std::string> label_names;
  for (const auto& [k, v] : sorted) label_names.push_back(k);
  KP_CHECK(std::adjacent_find(label_names.begin(), label_names.end()) == label_names.end());
  std::lock_guard<std::mutex> lock(mu_);
  Family& f = FamilyOf(type, name, help, label_names, bounds);
  const std::string key = RenderLabels(sorted);
  auto it = f.series.find(key);
  if (it == f.series.end()) {
    Series s;
    s.labels = std::move(sorted);
    if (type == Type::kCounter) s.counter = std::make_unique<Counter>();
    if (type == Type::kGauge) s.gauge = std::make_unique<Gauge>();
    if (type == Type::kHistogram) s.histogram = std::make_unique<Histogram>(f.bounds);
    it = f.series.emplace(key, std::move(s)).first;
  }
  return it->second;
}

Counter& Registry::GetCounter(std::string_view name, std::string_view help, const Labels& labels) {
  // Prometheus conventions: a counter's name ends in _total.
  KP_CHECK(name.ends_with("_total"));
  return *Find(Type::kCounter, name, help, labels, nullptr).counter;
}

Gauge& Registry::GetGauge(std::string_view name, std::string_view help, const Labels& labels) {
  return *Find(Type::kGauge, name, help, labels, nullptr).gauge;
}

Histogram& Registry::GetHistogram(std::string_view name, std::string_view help, const std::vector<double>& upper_bounds,
                                  const Labels& labels) {
  return *Find(Type::kHistogram, name, help, labels, &upper_bounds).histogram;
}

void Registry::ReplaceGauges(std::string_view name, std::string_view help,
                             const std::vector<std::pair<Labels, double>>& series) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = families_.find(name);
  if (it != families_.end()) {
    KP_CHECK(it->second.type == Type::kGauge);
    it->second.series.clear();
  }
  for (const auto& [labels, value] : series) {
    Labels sorted = Sorted(labels);
    std::vector<std::string> label_names;
    for (const auto& [k, v] : sorted) label_names.push_back(k);
    Family& f = FamilyOf(Type::kGauge, name, help, label_names, nullptr);
    Series s;
    s.labels = sorted;
    s.gauge = std::make_unique<Gauge>();
    s.gauge->Set(value);
    f.series[RenderLabels(sorted)] = std::move(s);
  }
  // An empty set makes no family: its label names come with its first series.
}

std::string Registry::Render() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  for (const auto& [name, f] : families_) {
    out += "# HELP " + name + " " + EscapeHelp(f.help) + "\n";
    out += "# TYPE " + name + " " + TypeName(static_cast<int>(f.type)) + "\n";
    for (const auto& [key, s] : f.series) {
      if (f.type == Type::kCounter) {
        out += name + key + " " + FormatValue(s.counter->Value()) + "\n";
      } else if (f.type == Type::kGauge) {
        out += name + key + " " + FormatValue(s.gauge->Value()) + "\n";
      } else {
        const Histogram::Snapshot snap = s.histogram->Take();
        for (size_t i = 0; i < snap.cumulative.size(); ++i) {
          const std::string le = i < snap.upper_bounds.size() ? FormatValue(snap.upper_bounds[i]) : "+Inf";
          out += name + "_bucket" + RenderLabels(s.labels, "le", le) + " " +
                 FormatValue(static_cast<double>(snap.cumulative[i])) + "\n";
        }
        out += name + "_sum" + key + " " + FormatValue(snap.sum) + "\n";
        out += name + "_count" + key + " " + FormatValue(static_cast<double>(snap.count)) + "\n";
      }
    }
  }
  return out;
}

Registry& Metrics() {
  static Registry* registry = new Registry();  // never destroyed: used until the process ends
  return *registry;
}

// ---- facts several parts report

void CountConfigRefused(std::string_view kind, std::string_view reason) {
  Metrics()
      .GetCounter("ketenpoort_config_refused_total",
                  "Registries and policy bundles refused (tampered, unsigned, older serial, foreign region, wrong "
                  "signer), by kind and reason",
                  {{"kind", std::string(kind)}, {"reason", std::string(reason)}})
      .Inc();
}

namespace {
std::mutex configs_mu;
std::map<std::string, ConfigInForce>& Configs() {
  static auto* configs = new std::map<std::string, ConfigInForce>();
  return *configs;
}
}  // namespace

void SetConfigInForce(const ConfigInForce& config) {
  {
    std::lock_guard<std::mutex> lock(configs_mu);
    Configs()[config.kind] = config;
  }
  Metrics()
      .GetGauge("ketenpoort_config_serial", "Serial of the registry / policy bundle in force, by kind",
                {{"kind", config.kind}})
      .Set(static_cast<double>(config.serial));
  Metrics()
      .GetGauge("ketenpoort_config_effective_from_seconds",
                "Unix time from which the registry / policy in force applies (0: since it was loaded), by kind",
                {{"kind", config.kind}})
      .Set(static_cast<double>(config.effective_from_ms) / 1000.0);
}

std::vector<ConfigInForce> ConfigsInForce() {
  std::lock_guard<std::mutex> lock(configs_mu);
  std::vector<ConfigInForce> out;
  for (const auto& [kind, c] : Configs()) out.push_back(c);
  return out;
}

void SetCardExpiries(const std::vector<std::pair<std::string, int64_t>>& expires_at_ms, int64_t now_ms) {
  std::vector<std::pair<Labels, double>> series;
  for (const auto& [id, at] : expires_at_ms) {
    series.push_back({{{"participant", id}}, static_cast<double>(at - now_ms) / 1000.0});
  }
  Metrics().ReplaceGauges("ketenpoort_card_expiry_seconds",
                          "Seconds until each enrolled participant's card expires (negative: expired), by participant id",
                          series);
}

}  // namespace kp::observe
