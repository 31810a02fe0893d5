// Gateway: the central broker of Ketenpoort (DESIGN.md §2, issue 5), on the
// wire. It owns the connections — one CURVE ROUTER socket, the ZAP handler
// admitting only keys in the enrolment-signed registry, the peers and their
// heartbeats — and runs the GatewayCore (gateway_core.h), which decides
// without sockets, in units of work.
//
// A message's path (docs/protocol.md §3.2): the ZAP User-Id names the peer;
// its envelope must be signed by that same participant (steps 1-6); it must
// be addressed to the gateway, of a kind the gateway takes from that kind of
// participant, with the header the kind needs (step 7, Admissible()); a
// FRAGMENT_REQUEST the gateway knows is answered with its state (§6.1); then
// fresh and not replayed (step 8); then the core handles it. Whatever does
// not fit is refused through the core, audited and answered with an ERROR —
// never dropped silently.
//
// Crash consistency (docs/operations.md, "Crashes"): a burst of messages, a
// timer tick or a reload is one unit of work: its state changes and the
// audit records describing them commit in one SQLite transaction (the
// records wait in an outbox table); then the records are written to the
// log; then the unit's messages leave, and the log is synced while they
// travel (the outbox keeps the records until the log's durable part holds
// them). A crash or a power cut at any point leaves either nothing of the
// unit, or its committed state with its records in the outbox, which the
// next start appends to the log byte for byte. Waiting requests go to an
// agent again whenever it (re)connects, and a request or an answer sent
// again is recognised (protocol §6.1), so nothing accepted is lost or done
// twice. If the log cannot be written, nothing is forwarded.
//
// The gateway never sees content: subject data and fragments travel sealed
// (protocol §3.3). Its logs carry ids only.
//
// Threading: one thread runs Step()/Run(); everything else (ZAP) has its own
// thread inside the transport. RequestStop() and RequestReload() may be called
// from a signal handler.
#ifndef KETENPOORT_GATEWAY_GATEWAY_H_
#define KETENPOORT_GATEWAY_GATEWAY_H_

#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/base/clock.h"
#include "core/base/status.h"
#include "gateway/gateway_config.h"
#include "gateway/gateway_core.h"
#include "gateway/retention.h"
#include "gateway/startup.h"

namespace kp {
class TransportContext;
class ZapHandler;
class RouterServer;
class ReplayGuard;
struct IncomingMessage;
}  // namespace kp
namespace kp::observe {
class ServiceMonitor;
}  // namespace kp::observe

namespace kp::observe {
class ManagementServer;
}  // namespace kp::observe

namespace kp::gateway {

class BackupService;

class Gateway {
 public:
  // Starts from the parts OpenGatewayParts() loaded: starts ZAP and binds
  // the socket. `clock` must outlive the gateway.
  static Result<std::unique_ptr<Gateway>> Create(GatewayParts parts, const Clock& clock);
  // OpenGatewayParts(config, options), then the above.
  static Result<std::unique_ptr<Gateway>> Create(const GatewayConfig& config, const Clock& clock,
                                                 StartupOptions options = {});
  // The same with `audit` as the audit trail instead of data_dir/audit.
  static Result<std::unique_ptr<Gateway>> Create(const GatewayConfig& config,
                                                 std::unique_ptr<AuditTrail> audit, const Clock& clock);
  ~Gateway();

  // The bound endpoint (with the real port when the config said "*").
  const std::string& endpoint() const;

  // Handles what arrives within `timeout_ms`, then timers (expiry,
  // heartbeats). For tests and for Run().
  Status Step(int timeout_ms);

  // Runs until RequestStop(); reloads on RequestReload().
  Status Run();
  void RequestStop() { stop_ = true; }
  void RequestReload() { reload_ = true; }

  // Where the audit log of this configuration lives (data_dir/audit).
  static std::string AuditDir(const GatewayConfig& config) { return ::kp::gateway::AuditDir(config); }

  // Reloads the registry and the policy. A bad new policy is refused and the
  // old one stays; both outcomes are audited. When the reload cannot be
  // recorded, the previous registry and policy stay.
  Status Reload();

  // Backup (gateway/backup.h, H5): runs `task` on the loop thread between
  // two units of work and returns its status (waits for it, at most 120 s).
  // Thread-safe; the management server's handlers call it.
  Status RunBetweenUnits(std::function<Status()> task);
  // Adds POST /backup/start and /backup/done to a started management server
  // and writes data_dir/management.token naming its address. The server
  // must be stopped before the gateway is destroyed.
  Status AddBackupRoutes(observe::ManagementServer& server);

  // False while the audit log cannot be written (e.g. a full disk): every
  // message is then refused with an error, and the gateway tries to reopen
  // the log with backoff, serving again by itself once it can.
  bool audit_writable() const { return audit_ok_; }

  // Fault injection for tests: exit at once (as kill -9 would, nothing
  // flushed) the `nth` time a unit that wrote audit records reaches `point`:
  // "before-commit", "after-commit", "after-log" (written, not synced),
  // "after-send" (before the log's sync), "after-sync", or
  // "power-cut-after-send" (after the send, the log's unsynced tail is cut
  // as a power cut would leave it).
  void SetCrashPoint(std::string point, int nth) {
    crash_point_ = std::move(point);
    crash_countdown_ = nth;
  }
  static constexpr int kCrashExitCode = 86;

  // The management address (core/observe/service_monitor.h): the loop
  // publishes GET /status to `monitor` once a second (gateway/status.cc).
  // Borrowed; must outlive the gateway's Run(). `version` goes in the report.
  void AttachMonitor(observe::ServiceMonitor* monitor, std::string version);

 private:
  struct Peer {
    std::string routing_id;
    int64_t last_seen_ms = 0;
    int64_t last_sent_ms = 0;
  };
  // Whom to tell when a unit cannot be made durable.
  struct BurstSender {
    std::string routing_id;
    std::string participant_id;
    std::string message_id;
  };

  Gateway(const Clock& clock, const GatewayConfig& config);
  Status Init(GatewayParts parts);

  // Runs `work` as one unit of the core (see the class comment). False when
  // nothing of it could be made durable; then each sender of `burst` was told.
  bool RunUnit(const std::function<void()>& work, const std::vector<IncomingMessage>* burst = nullptr);
  void Handle(const IncomingMessage& in);
  void OnPeerSeen(const std::string& participant_id, const std::string& routing_id);
  void RunTimers();
  // The retention sweep (gateway/retention.h): starts it when it is due,
  // records an erasure that finished (`wait`: waits for a running one).
  void RunRetention(int64_t now_ms, bool wait);
  Status ReloadInUnit();
  // After an audit log failure: reopen it (with backoff) and catch up.
  bool TryRecoverAudit();
  // The log cannot be written or synced: every new message is refused until
  // TryRecoverAudit reopens it.
  void AuditFailed(const Status& why);
  // Tells each sender of a burst no unit could take that nothing was done.
  void RefuseBurst(const std::vector<IncomingMessage>& burst, const Status& why);
  void SendNow(std::vector<Outgoing>& out);
  void SendUnrecorded(const std::string& routing_id, const std::string& to, const std::string& request_id,
                      const Status& why);
  void MaybeCrash(std::string_view point, bool wrote_records);
  // gateway/status.cc: the report and the gauges (queue depths, held
  // messages, peers, audit log size, card expiry), and the exchange counters.
  void PublishStatus(int64_t now_ms);
  static void CountStats(const GatewayCore::Stats& stats);

  const Clock& clock_;
  const GatewayConfig config_;
  std::unique_ptr<GatewayCore> core_;
  std::unique_ptr<ReplayGuard> replay_;
  std::unique_ptr<TransportContext> context_;
  std::unique_ptr<ZapHandler> zap_;
  std::unique_ptr<RouterServer> router_;
  std::map<std::string, Peer> peers_;               // participant id -> connection
  std::map<std::string, std::string> last_routes_;  // participant id -> its last connection's routing id
  std::vector<BurstSender> unit_senders_;
  // The audit log failed after a unit committed: its answers wait here.
  bool audit_ok_ = true;
  std::string audit_error_;
  int64_t next_audit_retry_ms_ = 0;
  int64_t audit_backoff_ms_ = 0;
  std::vector<Outgoing> waiting_for_log_;
  std::string crash_point_;
  int crash_countdown_ = 0;
  int64_t last_summary_ms_ = 0;
  int64_t last_timers_ms_ = 0;
  uint64_t heartbeat_sequence_ = 0;
  std::unique_ptr<RetentionSweep> retention_;
  bool more_to_prune_ = false;
  std::optional<audit::EraseSummary> unrecorded_erasure_;  // erased, its ERASURE record not yet in the log
  std::atomic<bool> stop_{false};
  std::atomic<bool> reload_{false};
  // Backup (H5): tasks for the loop thread, run between units by Step().
  struct BetweenTask;
  void RunBetweenTasks();
  std::mutex between_mu_;
  std::deque<std::shared_ptr<BetweenTask>> between_;
  std::unique_ptr<BackupService> backup_;
  observe::ServiceMonitor* monitor_ = nullptr;
  std::string version_;
  int64_t started_ms_ = 0;
  GatewayCore::Stats summary_stats_;  // since the last summary line
};

}  // namespace kp::gateway

#endif  // KETENPOORT_GATEWAY_GATEWAY_H_
