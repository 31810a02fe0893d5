#include "core/observe/service_monitor.h"

#include <spdlog/spdlog.h>

#include <mutex>

#include "core/base/operation_counts.h"
#include "core/observe/metrics.h"

namespace kp::observe {
namespace {

// The process's public-key operations (core/base/operation_counts.h, counted
// by core/crypto) brought into the registry just before it is rendered.
void CopyPublicKeyOperations() {
  static std::mutex mu;  // two scrapes at once must not both add the same difference
  std::lock_guard<std::mutex> lock(mu);
  for (PublicKeyOperation op : kPublicKeyOperations) {
    Counter& c = Metrics().GetCounter("ketenpoort_public_key_operations_total",
                                      "Public-key operations this process did: Ed25519 signatures made and "
                                      "verified, sealed boxes made and opened",
                                      {{"operation", std::string(PublicKeyOperationName(op))}});
    const double total = static_cast<double>(PublicKeyOperationCount(op));
    if (total > c.Value()) c.Inc(total - c.Value());
  }
}

}  // namespace

Result<std::unique_ptr<ServiceMonitor>> ServiceMonitor::Start(const ManagementAddress& address, bool named,
                                                              const std::string& service) {
  if (!address.enabled) {
    spdlog::info("{}: management address off (no /status, no /metrics)", service);
    return std::unique_ptr<ServiceMonitor>();
  }
  std::unique_ptr<ServiceMonitor> monitor(new ServiceMonitor());
  ManagementOptions options;
  options.address = address;
  options.service = service;
  KP_ASSIGN_OR_RETURN(monitor->server_, ManagementServer::Create(options));
  ServiceMonitor* raw = monitor.get();
  monitor->server_->AddGet("/status", [raw](const ManagementRequest&, ManagementResponse& res) {
    std::lock_guard<std::mutex> lock(raw->mu_);
    if (raw->status_json_.empty()) {
      res.status = 503;
      res.body = "starting\n";
      return;
    }
    res.content_type = "application/json";
    res.body = raw->status_json_;
  });
  monitor->server_->AddGet(
      "/metrics",
      [](const ManagementRequest&, ManagementResponse& res) {
        res.content_type = Registry::kContentType;
        CopyPublicKeyOperations();
        res.body = Metrics().Render();
      },
      Access::kAnyPeer);
  if (Status s = monitor->server_->Start(); !s.ok()) {
    if (named) return s;
    spdlog::warn(
        "{}: {}; running without a management address (set `management:` to another address, or off)",
        service, s.message());
    return std::unique_ptr<ServiceMonitor>();
  }
  return monitor;
}

ServiceMonitor::~ServiceMonitor() {
  if (server_ != nullptr) server_->Stop();
}

void ServiceMonitor::Publish(const StatusReport& report) {
  std::string json = StatusToJson(report);
  std::lock_guard<std::mutex> lock(mu_);
  status_json_ = std::move(json);
}

}  // namespace kp::observe
