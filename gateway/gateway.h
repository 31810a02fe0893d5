// Gateway: the central broker of Ketenpoort (DESIGN.md §2, issue 5).
//
// One CURVE ROUTER socket; a ZAP handler admitting only keys in the
// enrolment-signed registry; the case registry (SQLite); the sharing policy;
// the audit log, written before anything is forwarded; store-and-forward for
// agents and coordinators that are offline.
//
// Crash consistency (docs/operations.md, "Crashes"): everything happens in
// units of work. A unit's state changes and the audit records describing
// them commit in one SQLite transaction (the records wait in an outbox
// table); then the records are appended to the log with one sync; then the
// unit's messages leave. A crash at any point leaves either nothing of the
// unit, or its committed state with its records in the outbox, which the
// next start appends to the log. Waiting requests go to an agent again
// whenever it (re)connects, and a request or an answer sent again is
// recognised (protocol §6.1), so nothing accepted is lost or done twice.
//
// A message's path: the ZAP User-Id names the peer; its envelope must be
// signed by that same participant, fresh and not replayed (docs/protocol.md
// §3-§4); then it is handled by kind. Whatever does not fit is refused,
// audited and answered with an ERROR or REFUSAL envelope — never dropped
// silently. If an audit append fails, nothing is forwarded.
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
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "core/base/clock.h"
#include "core/base/status.h"
#include "core/envelope/envelope.h"
#include "core/identity/identity.h"
#include "core/identity/registry.h"
#include "gateway/audit_trail.h"
#include "gateway/case_store.h"
#include "gateway/gateway_config.h"
#include "ketenpoort/v1/messages.pb.h"
#include "policy/policy_engine.h"

namespace zmq {
class context_t;
}

namespace kp {
class ZapHandler;
class RouterServer;
struct IncomingMessage;
}  // namespace kp

namespace kp::gateway {

class Gateway {
 public:
  // Loads keys, registry, policy and state, starts ZAP and binds the socket.
  // `audit` is the log every event goes to; `clock` must outlive the gateway.
  static Result<std::unique_ptr<Gateway>> Create(const GatewayConfig& config, std::unique_ptr<AuditTrail> audit,
                                                 const Clock& clock);
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
  static std::string AuditDir(const GatewayConfig& config) { return config.data_dir + "/audit"; }

  // Reloads the registry and the policy. A bad new policy is refused and the
  // old one stays; both outcomes are audited.
  Status Reload();

  // False while the audit log cannot be written (e.g. a full disk): every
  // message is then refused with an error, and the gateway tries to reopen
  // the log with backoff, serving again by itself once it can.
  bool audit_writable() const { return audit_ok_; }

  // Fault injection for tests: exit at once (as kill -9 would, nothing
  // flushed) the `nth` time a unit that wrote audit records reaches `point`:
  // "before-commit", "after-commit", "after-log" or "after-send".
  void SetCrashPoint(std::string point, int nth) {
    crash_point_ = std::move(point);
    crash_countdown_ = nth;
  }
  static constexpr int kCrashExitCode = 86;

 private:
  struct Peer {
    std::string routing_id;
    int64_t last_seen_ms = 0;
    int64_t last_sent_ms = 0;
  };

  Gateway(const GatewayConfig& config, std::unique_ptr<AuditTrail> audit, const Clock& clock);
  Status Init();
  Status LoadRegistry();
  Status LoadPolicy();

  // Handles a burst of messages as one unit: one SQLite transaction, audit
  // records appended buffered and made durable with one sync, and only then
  // is anything sent (write before forward, per burst).
  void HandleBurst(std::vector<IncomingMessage>& burst);
  struct Outgoing;
  // Runs `work` as one unit (see the class comment). False when nothing of
  // it could be made durable; then each sender of `burst` was told.
  bool RunUnit(const std::function<void()>& work, const std::vector<IncomingMessage>* burst = nullptr);
  // Appends what the outbox holds but the log does not.
  Status RecoverAuditOutbox();
  // After an audit log failure: reopen it (with backoff) and catch up.
  bool TryRecoverAudit();
  void RefuseBurst(const std::vector<IncomingMessage>& burst, const Status& why);
  void SendNow(std::vector<Outgoing>& out);
  void MaybeCrash(std::string_view point);
  Status ReloadInUnit();
  // A FRAGMENT_REQUEST whose id the gateway knows (sent again): when it is
  // this coordinator's, answers with its state (ACCEPTED, and the held
  // answer); kOthers when the id is another coordinator's (never touched);
  // kNew when the id is unknown.
  enum class Again { kNew, kAnswered, kOthers, kUnreadable };
  Again AnswerRequestAgain(const std::string& sender, const VerifiedEnvelope& env);
  // Marks the running unit as failed: it is rolled back, not committed.
  void FailUnit(const Status& why);
  void ExpireInUnit(int64_t now);
  void Handle(const IncomingMessage& in);
  void HandleCaseCommand(const std::string& sender, const std::string& raw, const VerifiedEnvelope& env);
  void HandleFragmentRequest(const std::string& sender, const std::string& raw, const VerifiedEnvelope& env);
  void HandleDelivery(const std::string& sender, const std::string& raw, const VerifiedEnvelope& env);
  void HandleAgentRefusal(const std::string& sender, const std::string& raw, const VerifiedEnvelope& env);
  void HandleInboxFetch(const std::string& sender, const VerifiedEnvelope& env);
  void HandleDeliveryAck(const std::string& sender, const VerifiedEnvelope& env);
  void HandleAuditPull(const std::string& sender, const VerifiedEnvelope& env);
  void SendAuditListing(const std::string& sender, const std::string& message_id);
  void OnPeerSeen(const std::string& participant_id, const std::string& routing_id);
  void DeliverQueuedRequests(const std::string& partner);
  void RunTimers();

  // Sends a gateway-signed message; false when the peer is not connected.
  bool SendSigned(const std::string& to, ketenpoort::v1::MessageKind kind, const std::string& request_id,
                  const google::protobuf::Message& body);
  // Sends bytes unchanged to a connected peer; false when not connected.
  bool SendRaw(const std::string& to, const std::string& bytes);
  // Sends to a coordinator, or holds it in its inbox while it is offline. An
  // answer to a request (`request_id` set) is held either way, until the
  // coordinator acknowledges it.
  void SendOrHold(const std::string& coordinator, const std::string& case_id, const std::string& bytes,
                  const std::string& request_id = "");
  void SendError(const std::string& routing_id, const std::string& to, const std::string& request_id,
                 const Status& status);
  // Records the refusal in the audit log, then answers `sender` with an ERROR.
  void RefuseAndAudit(const std::string& sender, const std::string& message_id, const Status& status);
  void Refuse(const std::string& coordinator, const std::string& request_id, const std::string& case_id,
              const std::string& reason, const std::vector<std::string>& rule_ids);

  Result<uint64_t> Audit(ketenpoort::v1::AuditRecord record);
  ketenpoort::v1::AuditRecord NewRecord(ketenpoort::v1::AuditEvent event, const std::string& actor) const;
  const RegistryEntry* Enrolled(const std::string& id) const;

  const GatewayConfig config_;
  const Clock& clock_;
  std::unique_ptr<AuditTrail> audit_;
  std::unique_ptr<Identity> identity_;
  std::unique_ptr<PublicCard> enrolment_card_;
  std::unique_ptr<Registry> registry_;
  uint64_t registry_serial_ = 0;
  StaticKeyResolver keys_;
  std::shared_ptr<const policy::Policy> policy_;
  std::unique_ptr<CaseStore> store_;
  std::unique_ptr<ReplayGuard> replay_;
  std::unique_ptr<EnvelopeSigner> signer_;
  std::unique_ptr<zmq::context_t> context_;
  std::unique_ptr<ZapHandler> zap_;
  std::unique_ptr<RouterServer> router_;
  std::map<std::string, Peer> peers_;  // participant id -> connection
  std::map<std::string, std::string> last_routes_;  // participant id -> its last connection's routing id

  // While a unit runs, sends wait here until its records are durable.
  struct Outgoing {
    std::string routing_id;
    std::string bytes;
    std::string inbox_id;        // held in the inbox in the same transaction; removed once sent
    std::string forward_of;      // request to put back in the queue when it cannot be sent
    bool held = false;           // a copy waits in the inbox (until sent, or until acknowledged)
  };
  struct BurstSender {
    std::string routing_id;
    std::string participant_id;
    std::string message_id;
  };
  bool in_unit_ = false;
  Status unit_failed_;  // set by FailUnit: the unit is rolled back
  std::vector<Outgoing> outbox_;
  std::vector<BurstSender> unit_senders_;    // whom to tell when a unit cannot be made durable
  std::vector<audit::StagedRecord> unit_records_;  // staged in this unit, in its outbox rows
  std::vector<std::function<void()>> after_log_;   // run once the unit's records are in the log
  bool outbox_in_log_ = false;               // outbox rows may be trimmed (they are in the log)
  std::vector<std::string> unsent_forwards_; // forwards that could not be sent: queued again next unit
  bool retry_forwards_ = false;              // some were queued again: the timer hands them over
  // The audit log failed after a unit committed: its answers wait here.
  bool audit_ok_ = true;
  std::string audit_error_;
  int64_t next_audit_retry_ms_ = 0;
  int64_t audit_backoff_ms_ = 0;
  std::vector<Outgoing> waiting_for_log_;
  std::string crash_point_;
  bool unit_wrote_records_ = false;
  int crash_countdown_ = 0;
  struct Stats {
    uint64_t permitted = 0, refused = 0, refused_by_agents = 0, delivered = 0, expired = 0;
    bool any() const { return permitted + refused + refused_by_agents + delivered + expired != 0; }
  } stats_;
  int64_t last_summary_ms_ = 0;
  int64_t last_forget_ms_ = 0;
  std::vector<std::string> sent_inbox_ids_;  // held copies of messages sent; removed in the next transaction
  std::vector<std::pair<std::string, std::string>> acknowledged_;  // (coordinator, request id), likewise
  void RemoveSentInboxCopies();
  int64_t last_timers_ms_ = 0;
  uint64_t heartbeat_sequence_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<bool> reload_{false};
};

}  // namespace kp::gateway

#endif  // KETENPOORT_GATEWAY_GATEWAY_H_
