// The gateway's part of the management address (docs/operations.md,
// "Monitoring"): what GET /status reports and the gauges of /metrics, made
// on the gateway's loop thread once a second (Gateway::RunTimers), and the
// exchange counters. Ids and counts only.
#include <unistd.h>

#include <filesystem>

#include "core/identity/participant.h"
#include "core/observe/metrics.h"
#include "core/observe/service_monitor.h"
#include "gateway/gateway.h"
#include "gateway/gateway_core_internal.h"

namespace kp::gateway {
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

}  // namespace

void Gateway::AttachMonitor(observe::ServiceMonitor* monitor, std::string version) {
  monitor_ = monitor;
  version_ = std::move(version);
  started_ms_ = clock_.NowMillis();
  SetGauge("ketenpoort_gateway_start_time_seconds", "Unix time the gateway started", started_ms_ / 1000.0);
  if (monitor_ != nullptr) PublishStatus(started_ms_);
}

void Gateway::CountStats(const GatewayCore::Stats& s) {
  static constexpr char kHelp[] =
      "Exchanges the gateway finished, by outcome: permitted (a request or push the policy allowed), "
      "refused_by_policy, refused_by_agent, delivered (an answer or push handed on), expired";
  auto& m = observe::Metrics();
  const std::pair<const char*, uint64_t> outcomes[] = {{"permitted", s.permitted},
                                                       {"refused_by_policy", s.refused},
                                                       {"refused_by_agent", s.refused_by_agents},
                                                       {"delivered", s.delivered},
                                                       {"expired", s.expired}};
  for (const auto& [outcome, n] : outcomes) {
    // Every outcome is exposed from the first second on, also at 0.
    m.GetCounter("ketenpoort_gateway_exchanges_total", kHelp, {{"outcome", outcome}}).Inc(static_cast<double>(n));
  }
}

void Gateway::PublishStatus(int64_t now) {
  observe::StatusReport r;
  r.service = "gateway";
  r.participant_id = core_->identity().id();
  r.data_dir = config_.data_dir;
  r.version = version_;
  r.pid = static_cast<int64_t>(::getpid());
  r.started_ms = started_ms_;
  r.now_ms = now;

  std::map<std::string, int64_t> connected_by_kind;
  for (const auto& [id, peer] : peers_) {
    const RegistryEntry* e = core_->Enrolled(id);
    const std::string kind = e != nullptr ? std::string(ParticipantKindName(e->card.kind)) : "unknown";
    r.connected.push_back({id, kind, peer.last_seen_ms});
    ++connected_by_kind[kind];
  }
  auto& m = observe::Metrics();
  std::vector<std::pair<observe::Labels, double>> peers;
  for (const char* kind : {"agent", "coordinator", "privacy-officer"}) connected_by_kind.try_emplace(kind, 0);
  for (const auto& [kind, n] : connected_by_kind) peers.push_back({{{"kind", kind}}, static_cast<double>(n)});
  m.ReplaceGauges("ketenpoort_gateway_connected_peers", "Participants connected now, by kind", peers);

  // Queues: requests in flight per source partner; held messages per recipient.
  std::vector<std::pair<observe::Labels, double>> queue_series, held_series;
  if (auto q = core_->store().CountRequestsByPartner(); q.ok()) {
    for (const auto& [partner, n] : *q) {
      r.queues.push_back({"requests in flight for " + partner, n});
      queue_series.push_back({{{"partner", partner}}, static_cast<double>(n)});
    }
  } else {
    r.warnings.push_back("the case database could not be read for the queue depths: " + q.status().message());
  }
  if (auto h = core_->store().CountInboxByRecipient(); h.ok()) {
    for (const auto& [recipient, n] : *h) {
      r.held.push_back({recipient, n});
      held_series.push_back({{{"participant", recipient}}, static_cast<double>(n)});
    }
  }
  r.queues.push_back({"answers waiting for the audit log", static_cast<int64_t>(waiting_for_log_.size())});
  m.ReplaceGauges("ketenpoort_gateway_requests_in_flight",
                  "Requests authorised and not yet answered, by source partner", queue_series);
  m.ReplaceGauges("ketenpoort_gateway_held_messages",
                  "Messages held in the inbox for a participant that has not fetched them, by participant id",
                  held_series);
  SetGauge("ketenpoort_gateway_answers_waiting_for_log", "Answers held back until the audit log is writable again",
           static_cast<double>(waiting_for_log_.size()));

  const GatewayCore::LastReceipt& last = core_->last_receipt();
  if (last.at_ms != 0) r.last_receipt = observe::StatusReport::Receipt{"delivery", last.request_id_hex, last.from, last.at_ms};

  // The audit log.
  r.audit_log.records = core_->audit_trail().size();
  r.audit_log.bytes = FolderBytes(AuditDir(config_));
  r.audit_log.writable = audit_ok_;
  if (!audit_ok_) r.warnings.push_back("the audit log cannot be written: " + audit_error_ + " (nothing is forwarded)");
  SetGauge("ketenpoort_audit_log_records", "Records in the audit log", static_cast<double>(r.audit_log.records));
  SetGauge("ketenpoort_audit_log_size_bytes", "Bytes of the audit log folder", static_cast<double>(r.audit_log.bytes));
  SetGauge("ketenpoort_audit_log_writable", "1 while the audit log can be written, 0 while it cannot",
           audit_ok_ ? 1 : 0);

  // What is in force. The policy and registry parts (H3) report richer
  // facts (effective-from, bundle serial) with observe::SetConfigInForce;
  // this only fills in when what is loaded differs from what was reported.
  const policy::Policy& policy = core_->policy();
  const uint64_t registry_serial = core_->registry_serial();
  bool have_policy = false, have_registry = false;
  for (const auto& c : observe::ConfigsInForce()) {
    if (c.kind == "policy" && c.sha256_hex == policy.sha256_hex()) have_policy = true;
    if (c.kind == "registry" && c.serial == registry_serial) have_registry = true;
  }
  if (!have_policy) {
    observe::SetConfigInForce({.kind = "policy", .id = policy.id(), .serial = 0, .sha256_hex = policy.sha256_hex(),
                               .effective_from_ms = 0, .loaded_ms = now});
  }
  if (!have_registry) {
    observe::SetConfigInForce({.kind = "registry", .id = core_->registry().region(), .serial = registry_serial,
                               .sha256_hex = "", .effective_from_ms = 0, .loaded_ms = now});
  }
  r.in_force = observe::ConfigsInForce();

  // Card expiry, per participant (warn 30 days ahead).
  std::vector<std::pair<std::string, int64_t>> expiries;
  for (const auto& [id, e] : core_->registry().entries()) {
    const int64_t at = e.ExpiresMs();
    if (at == 0) continue;  // a card that never expires (version 1)
    expiries.push_back({id, at});
    if (at - now < kCardExpiryWarnDays * 24 * 3600 * 1000) {
      r.warnings.push_back("the card of " + id + " expires in " + std::to_string((at - now) / (24 * 3600 * 1000)) +
                           " day(s): rotate its keys (ketenpoort keygen --rotate)");
    }
  }
  observe::SetCardExpiries(expiries, now);

  monitor_->Publish(r);
}

}  // namespace kp::gateway
