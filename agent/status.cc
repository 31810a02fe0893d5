// The agent's part of the management address (docs/operations.md,
// "Monitoring"): GET /status and the gauges of /metrics, made on the
// agent's loop thread once a second (Agent::Step), and its counters.
// Ids and counts only.
#include "agent/status.h"

#include <unistd.h>

#include <filesystem>

#include "agent/agent.h"
#include "core/observe/metrics.h"
#include "core/observe/service_monitor.h"

namespace kp::agent {
namespace {

uint64_t FolderBytes(const std::string& dir) {
  std::error_code ec;
  uint64_t total = 0;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code size_ec;
    if (it->is_regular_file(size_ec)) {
      const auto size = it->file_size(size_ec);
      if (!size_ec) total += size;
    }
  }
  return total;
}

void SetGauge(std::string_view name, std::string_view help, double value) {
  observe::Metrics().GetGauge(name, help).Set(value);
}

constexpr char kRequestsHelp[] =
    "Requests the agent finished, by outcome: answered (a disclosure sent) or refused (checked and refused)";

}  // namespace

void CountRefusal(const Status& why) {
  observe::Metrics()
      .GetCounter(
          "ketenpoort_agent_refusals_total",
          "Messages from the gateway the agent refused or dropped, by reason code (canonical status code)",
          {{"code", std::string(StatusCodeName(why.code()))}})
      .Inc();
}

void ObserveLogSync(std::chrono::steady_clock::duration took) {
  observe::Metrics()
      .GetHistogram(
          "ketenpoort_audit_append_seconds",
          "Seconds to make one burst's records durable in the service's own log, with its one fsync",
          observe::SyncBuckets())
      .Observe(std::chrono::duration<double>(took).count());
}

void Agent::AttachMonitor(observe::ServiceMonitor* monitor, std::string version) {
  monitor_ = monitor;
  version_ = std::move(version);
  started_ms_ = clock_.NowMillis();
  SetGauge("ketenpoort_agent_start_time_seconds", "Unix time the agent started", started_ms_ / 1000.0);
  auto& m = observe::Metrics();
  for (const char* outcome : {"answered", "refused"}) {
    m.GetCounter("ketenpoort_agent_requests_total", kRequestsHelp, {{"outcome", outcome}});  // exposed at 0
  }
  // What is in force: at the start, what was loaded; from then on the
  // config-update code reports each switch (observe::SetConfigInForce).
  bool have_policy = false, have_registry = false;
  for (const auto& c : observe::ConfigsInForce()) {
    have_policy = have_policy || c.kind == "policy";
    have_registry = have_registry || c.kind == "registry";
  }
  if (!have_policy && parts_.policy != nullptr) {
    observe::SetConfigInForce({.kind = "policy",
                               .id = parts_.policy->id(),
                               .serial = 0,
                               .sha256_hex = parts_.policy->sha256_hex(),
                               .effective_from_ms = 0,
                               .loaded_ms = started_ms_});
  }
  if (!have_registry) {
    observe::SetConfigInForce({.kind = "registry",
                               .id = "",
                               .serial = registry_serial_at_start_,
                               .sha256_hex = "",
                               .effective_from_ms = 0,
                               .loaded_ms = started_ms_});
  }
  if (monitor_ != nullptr) PublishStatus();
}

void Agent::PublishStatus() {
  const int64_t now = clock_.NowMillis();
  // What every report of this agent says about itself, serving or not.
  const auto report_head = [&] {
    observe::StatusReport r;
    r.service = "agent";
    r.participant_id = parts_.identity->id();
    r.data_dir = config_.data_dir;
    r.version = version_;
    r.pid = static_cast<int64_t>(::getpid());
    r.started_ms = started_ms_;
    r.now_ms = now;
    return r;
  };
  if (responder_ == nullptr) {
    // First start from the gateway alone (config_updates.cc): nothing is
    // answered yet, and the report says why.
    observe::StatusReport r = report_head();
    const bool connected = dealer_->state() == ConnectionState::kConnected;
    if (connected) {
      r.connected.push_back({parts_.gateway->id, "gateway", now});
    } else {
      r.warnings.push_back("not connected to the gateway at " + config_.gateway_endpoint);
    }
    SetGauge("ketenpoort_agent_gateway_connected", "1 while the agent is connected to its gateway",
             connected ? 1 : 0);
    r.warnings.push_back("waiting for " + parts_.waiting_for +
                         " from the gateway: no request is answered until they came and verified");
    r.audit_log.records = log_->size();
    r.audit_log.bytes = FolderBytes(AuditDir(config_));
    r.in_force = observe::ConfigsInForce();
    monitor_->Publish(r);
    return;
  }
  auto& m = observe::Metrics();
  // Counters follow the responder's totals.
  const uint64_t answered = responder_->answered(), refused = responder_->refused();
  m.GetCounter("ketenpoort_agent_requests_total", kRequestsHelp, {{"outcome", "answered"}})
      .Inc(static_cast<double>(answered - counted_answered_));
  m.GetCounter("ketenpoort_agent_requests_total", kRequestsHelp, {{"outcome", "refused"}})
      .Inc(static_cast<double>(refused - counted_refused_));
  counted_answered_ = answered;
  counted_refused_ = refused;

  observe::StatusReport r = report_head();
  const bool connected = dealer_->state() == ConnectionState::kConnected;
  if (connected) {
    const auto silent =
        std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - last_received_).count();
    r.connected.push_back({responder_->gateway_id(), "gateway", now - silent});
  } else {
    r.warnings.push_back("not connected to the gateway at " + config_.gateway_endpoint);
  }
  SetGauge("ketenpoort_agent_gateway_connected", "1 while the agent is connected to its gateway",
           connected ? 1 : 0);

  int64_t kept = 0;
  if (auto n = kept_->Count(); n.ok()) kept = *n;
  r.queues.push_back({"answers waiting for the gateway's receipt", kept});
  r.held.push_back({"gateway (answers not yet confirmed)", kept});
  SetGauge("ketenpoort_agent_answers_awaiting_receipt", "Answers sent and kept until the gateway's receipt",
           static_cast<double>(kept));
  int64_t waiting_approvals = 0;
  if (auto pending = approvals_->List(/*all=*/false); pending.ok()) {
    waiting_approvals = static_cast<int64_t>(pending->size());
  }
  r.queues.push_back({"requests waiting for a professional's approval", waiting_approvals});
  SetGauge("ketenpoort_agent_approvals_waiting", "Requests held for a professional's approval",
           static_cast<double>(waiting_approvals));

  const Responder::LastReceipt& last = responder_->last_receipt();
  if (last.at_ms != 0) {
    r.last_receipt = observe::StatusReport::Receipt{
        "receipt (gateway log #" + std::to_string(last.gateway_log_index) + ")", last.request_id_hex,
        responder_->gateway_id(), last.at_ms};
  }

  r.audit_log.records = log_->size();
  r.audit_log.bytes = FolderBytes(AuditDir(config_));
  SetGauge("ketenpoort_audit_log_records", "Records in the service's own audit log",
           static_cast<double>(r.audit_log.records));
  SetGauge("ketenpoort_audit_log_size_bytes", "Bytes of the service's own audit log folder",
           static_cast<double>(r.audit_log.bytes));

  r.in_force = observe::ConfigsInForce();
  monitor_->Publish(r);
}

}  // namespace kp::agent
