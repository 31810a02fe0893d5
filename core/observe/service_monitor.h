// The management address of a running service (docs/operations.md,
// "Monitoring"): GET /status (a StatusReport as JSON; loopback only) and
// GET /metrics (the process-wide Metrics(); any peer that can reach the
// address), on a ManagementServer others may add routes to.
//
// The service's own loop thread fills the report once a second and hands a
// copy to Publish(); the server's threads only read that copy, so nothing of
// the service is touched from another thread. Before the first Publish(),
// /status answers 503 ("starting").
//
// Thread-safe. Only the `run` subcommands make one: services built inside a
// test process serve no management address.
#ifndef KETENPOORT_CORE_OBSERVE_SERVICE_MONITOR_H_
#define KETENPOORT_CORE_OBSERVE_SERVICE_MONITOR_H_

#include <memory>
#include <mutex>
#include <string>

#include "core/base/status.h"
#include "core/observe/management_server.h"
#include "core/observe/status_report.h"

namespace kp::observe {

class ServiceMonitor {
 public:
  // Starts serving on `address` (nullptr, OK, when it is off). When the
  // configuration did not name an address (`named` false) and the default
  // one is taken, it logs a warning and the service runs without one;
  // a named address that cannot be bound is an error.
  static Result<std::unique_ptr<ServiceMonitor>> Start(const ManagementAddress& address, bool named,
                                                       const std::string& service);
  ~ServiceMonitor();

  // What GET /status answers from now on.
  void Publish(const StatusReport& report);
  // For more routes (e.g. the gateway's online backup).
  ManagementServer& server() { return *server_; }

 private:
  ServiceMonitor() = default;
  std::unique_ptr<ManagementServer> server_;
  mutable std::mutex mu_;
  std::string status_json_;
};

}  // namespace kp::observe

#endif  // KETENPOORT_CORE_OBSERVE_SERVICE_MONITOR_H_
