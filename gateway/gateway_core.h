// GatewayCore: what the gateway decides, without sockets (issue 13).
//
// It takes a message that has passed verification (docs/protocol.md §3.2
// steps 1-8: the Gateway class does those, on the connection) and handles it
// by kind: case commands (case_commands.cc), fragment requests
// (requests.cc), the agents' answers (answers.cc), audit pulls
// (audit_pull.cc), referrals (referrals.cc), handover packages and what
// follows a handover, acute or removal command, with the case deadlines
// (handovers.cc), inbox fetches and acknowledgements (gateway_core.cc). What it does is
// returned, never done on the wire: state changes go to the case database,
// audit records are staged, and messages wait in an explicit outbox of
// Outgoing entries until the Gateway sends them.
//
// Units of work (docs/operations.md, "Crashes"). Everything happens inside a
// unit: BeginUnit() opens one SQLite transaction; handlers change state and
// stage audit records (kept in the transaction's audit outbox table);
// FinishUnit() commits (the records are durable in the outbox from here),
// writes the records to the log, and only then hands back the outbox; the
// Gateway sends it and then calls SyncAudit(), so the message is on its way
// while the log's fdatasync runs. A failed write or a record that cannot be
// staged fails the unit (FailUnit): it is rolled back whole and nothing of it
// is sent. The Gateway runs the units (one per burst of messages, timer or
// reload) and sends what they return.
//
// Refusals: every refusal goes through Refuse(), the one place that stages
// the audit record and answers (an ERROR, or for a fragment request a
// REFUSAL held in the coordinator's inbox). When the record cannot be staged
// the unit fails, so a refusal never leaves unrecorded.
//
// Not thread-safe: the gateway's one event-loop thread owns it.
#ifndef KETENPOORT_GATEWAY_GATEWAY_CORE_H_
#define KETENPOORT_GATEWAY_GATEWAY_CORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "case/case_facts.h"
#include "case/policy_bundle.h"
#include "core/base/clock.h"
#include "core/base/status.h"
#include "core/envelope/envelope.h"
#include "core/identity/identity.h"
#include "core/identity/registry.h"
#include "gateway/audit_trail.h"
#include "gateway/case_store.h"
#include "gateway/gateway_config.h"
#include "gateway/startup.h"
#include "ketenpoort/v1/audit.pb.h"
#include "ketenpoort/v1/messages.pb.h"
#include "policy/policy_engine.h"

namespace kp::gateway {
namespace internal {
struct StoredForward;  // gateway_core_internal.h
}  // namespace internal

// A message that passed §3.2 steps 1-8 at the gateway.
struct VerifiedMessage {
  std::string sender;                    // participant id: the connection's and the signer's
  const RegistryEntry* entry = nullptr;  // the sender's entry, borrowed from the core's registry
  VerifiedEnvelope env;
  std::string raw;         // the envelope's bytes as received
  std::string connection;  // opaque: the connection it came on (answers go back on it)
};

// One message to send once the unit it belongs to is durable.
struct Outgoing {
  std::string to;          // participant id
  std::string connection;  // the connection it goes over (Presence, or the one the refused message came on)
  std::string bytes;       // a signed envelope
  std::string inbox_id;    // a held copy in the inbox, removed once this was sent
  std::string forward_of;  // a request to queue again for its agent when this cannot be sent
  bool held = false;       // a copy waits in the inbox (until sent, or until acknowledged)
};

// A privacy officer's listing, made only once the unit's records (its
// export record) are in the log: AuditListing().
struct ListingRequest {
  std::string to;
  std::string connection;
  std::string message_id;
};

// What a unit left behind (FinishUnit).
struct UnitResult {
  bool committed = false;  // false: rolled back, nothing of it happened; `failure` says why
  bool logged = false;     // its records are written to the log (trivially, when it staged none);
                           // durable in the outbox, and in the log after SyncAudit()
  Status failure;          // why it was rolled back, or why the log could not be written
  bool wrote_records = false;
  std::vector<audit::StagedRecord> records;  // staged by the unit, in index order
  std::vector<Outgoing> outbox;              // to send, in order, once `logged`
  std::vector<ListingRequest> listings;      // to make once `logged`
};

// The one shape of a refusal (Refuse).
struct Refusal {
  enum class Answer { kError, kRefusal };
  Answer answer = Answer::kError;
  std::string to;          // who is told: the refused message's sender (kRefusal: the coordinator)
  std::string connection;  // its connection, when the answer goes back on it
  std::string
      message_id;       // the refused message's id: the ERROR's request_id, the REFUSAL's request; may be ""
  Status why;           // kError: code and message; kRefusal: the message is the reason
  std::string case_id;  // kRefusal
  std::vector<std::string> rule_ids;  // kRefusal
};

class GatewayCore {
 public:
  // The live connection of `participant_id` (opaque; "" when it has none):
  // the Gateway's peers, a map in tests. A message is addressed to the
  // connection its recipient had when it was queued, as ZeroMQ routes it.
  using Presence = std::function<std::string(const std::string& participant_id)>;
  // Called at each crash point of a unit (see Gateway::SetCrashPoint).
  using CrashHook = std::function<void(std::string_view point, bool wrote_records)>;

  // Takes the parts of OpenGatewayParts(), appends what the audit outbox
  // holds but the log does not (a crash between the two), and is ready.
  // `clock` must outlive the core.
  static Result<std::unique_ptr<GatewayCore>> Create(GatewayParts parts, const Clock& clock,
                                                     Presence presence);
  ~GatewayCore();

  // ---- units of work
  // Opens the unit's transaction; an error means nothing was started.
  Status BeginUnit();
  bool in_unit() const { return in_unit_; }
  // The running unit is rolled back, not committed (the first reason stays).
  void FailUnit(const Status& why);
  // Commits, writes the records to the log, hands back the outbox (see
  // UnitResult).
  UnitResult FinishUnit(const CrashHook& crash = {});
  // After a logged unit's messages were sent: makes the log durable (one
  // fdatasync); from then on the outbox rows it covers may go. An error
  // fails the log (ReopenAudit recovers it from the outbox).
  Status SyncAudit();
  // Fault injection (Gateway::SetCrashPoint): a power cut before SyncAudit.
  Status CutUnsyncedAuditTailForFaultInjection() { return audit_->CutUnsyncedTailForFaultInjection(); }
  // After a send: a held copy that may go (with the next unit).
  void NoteSent(const Outgoing& sent);
  // After a send that failed: a forward goes back in its agent's queue.
  void NoteUnsent(const Outgoing& unsent);
  // After the log failed: reopens it and appends what the outbox holds.
  Status ReopenAudit();

  // ---- messages (inside a unit)
  // The one refusal path: stages the record (REFUSED, unless `record`
  // already names the event, e.g. a policy DECISION or EXPIRED) and queues
  // the answer. False when the record could not be staged: the unit fails
  // and nothing is queued.
  bool Refuse(const Refusal& refusal, ketenpoort::v1::AuditRecord record = {});
  // §6.1: a FRAGMENT_REQUEST whose id is known. kAnswered: its state was
  // queued (ACCEPTED, and a held answer); kOthers: the id is another
  // coordinator's; kNew: unknown; kUnreadable: the database failed.
  enum class Again { kNew, kAnswered, kOthers, kUnreadable };
  Again AnswerRequestAgain(const VerifiedMessage& m);
  // The same for a REFERRAL whose id is stored (§3.7): answered with its
  // state (REFERRAL_STATUS); kOthers when the id is another participant's.
  Again AnswerReferralAgain(const VerifiedMessage& m);
  // Handles a verified message by kind (Admissible() said it may send it).
  void Handle(const VerifiedMessage& m);
  // An agent was seen; `new_connection`: its waiting requests all go again.
  void OnAgentSeen(const RegistryEntry& agent, bool new_connection);
  // A message for a coordinator that could not be sent (its peer left):
  // held in its inbox.
  void HoldForCoordinator(const std::string& coordinator, const std::string& envelope);
  // Expires requests and held messages, retries forwards, forgets old outcomes.
  void Expire(int64_t now_ms);
  // Records the start (policy and registry serial).
  Status RecordStart();
  // Reloads the registry and the policy, each kept when its new version is
  // refused; both outcomes are recorded. `registry_changed`: a new registry
  // is in force (the Gateway updates its ZAP keys and peers).
  Status Reload(bool* registry_changed);
  struct Config;  // what Reload changes, to put back when its unit fails
  std::shared_ptr<Config> SaveConfig() const;
  void RestoreConfig(const std::shared_ptr<Config>& saved);

  // ---- retention (gateway/retention.cc; docs/operations.md, "Retention")
  // Inside a unit: removes up to `limit` closed cases that nothing needs any
  // more and were closed at least closed_case_days ago
  // (CaseStore::PrunableCases), each with a CASE_PRUNED record. How many.
  size_t PruneClosedCases(int64_t now_ms, size_t limit);
  // Inside a unit: the ERASURE record of an erasure the sweep made.
  void RecordErasure(const audit::EraseSummary& erased);
  // Inside a unit: a BACKUP_MADE record (gateway/backup.cc, H5).
  void RecordBackup(ketenpoort::v1::AuditRecord record);
  // The audit trail, for the sweep's erasure on its own thread
  // (AuditTrail::EraseExpiredBodies); never while ReopenAudit runs.
  AuditTrail& audit_trail() { return *audit_; }

  // ---- outside units
  // The audit log listing for a privacy officer (AUDIT_CHUNK, or ERROR).
  Outgoing AuditListing(const ListingRequest& listing);
  // A signed ERROR that is not recorded: only for messages no unit could
  // take (the log or the database cannot be written; nothing was done).
  Result<Outgoing> UnsavedError(const std::string& to, const std::string& connection,
                                const std::string& request_id, const Status& why);
  // Signs a gateway message (heartbeats).
  Result<std::string> Sign(ketenpoort::v1::MessageKind kind, const std::string& to,
                           const std::string& request_id, const google::protobuf::Message& body);

  const Identity& identity() const { return *identity_; }
  const Registry& registry() const { return *registry_; }
  const KeyResolver& keys() const { return keys_; }
  uint64_t registry_serial() const { return registry_serial_; }
  const policy::Policy& policy() const { return *policy_; }
  // The signed policy bundle (config `policy_bundle:`), or null with a plain
  // `policy:` file (config_distribution.cc).
  const cases::PolicySet* policy_set() const { return policy_set_.get(); }
  CaseStore& store() { return *store_; }
  const GatewayConfig& config() const { return config_; }
  const RegistryEntry* Enrolled(const std::string& id) const;

  struct Stats {
    uint64_t permitted = 0, refused = 0, refused_by_agents = 0, delivered = 0, expired = 0;
    bool any() const { return permitted + refused + refused_by_agents + delivered + expired != 0; }
  };
  Stats TakeStats() { return std::exchange(stats_, {}); }
  // The last delivery an agent made (for `status`).
  struct LastReceipt {
    std::string request_id_hex;
    std::string from;  // the agent's participant id
    int64_t at_ms = 0;
  };
  const LastReceipt& last_receipt() const { return last_receipt_; }

 private:
  GatewayCore(GatewayParts parts, const Clock& clock, Presence presence);
  Status RecoverAuditOutbox();
  void RemoveSentInboxCopies();

  // Handlers by kind.
  void HandleCaseCommand(const VerifiedMessage& m);  // case_commands.cc
  void HandleCaseFetch(const VerifiedMessage& m);    // case_commands.cc
  // A case's facts, folded from its stored chain, and the chain itself
  // (protocol §3.5). Kept by head: a head names its whole history, so what
  // a rolled-back unit left here is never found again.
  struct KnownCase {
    cases::CaseFacts facts;
    std::vector<std::string> chain;  // the signed commands, as received
  };
  Result<const KnownCase*> CaseOf(const CaseRecord& c);  // case_commands.cc
  void HandleFragmentRequest(const VerifiedMessage& m);  // requests.cc
  // A request or push (`what`) the gateway refuses with `reason` (`rule_ids`
  // when the policy denied it): closed as refused, so that sending it again
  // gets the same; a REFUSAL (not an ERROR) held for the sender, `record` kept.
  void RefuseAsked(const VerifiedMessage& m, std::string_view what, const std::string& case_id,
                   const std::string& partner, const std::string& reason,
                   const std::vector<std::string>& rule_ids,
                   const ketenpoort::v1::AuditRecord& record);  // requests.cc
  void DeliverQueuedRequests(const std::string& partner);       // requests.cc
  void HandleDelivery(const VerifiedMessage& m);                // answers.cc
  void HandleAgentRefusal(const VerifiedMessage& m);            // answers.cc
  // The source decides (docs/protocol.md §3.10): approvals.cc.
  void HandleApprovalPending(const VerifiedMessage& m);
  void HandleSourceConsent(const VerifiedMessage& m);
  // Requests held for approval whose decide_by passed: refused, noticed.
  void ExpireApprovals(int64_t now_ms);
  // The approval of `r` lapsed at `decide_by_ms`: APPROVAL_EXPIRED recorded,
  // the coordinator noticed (and, with `refuse`, refused by the gateway).
  void ApprovalLapsed(const StoredRequest& r, int64_t decide_by_ms, bool refuse);
  // After the agent refused `r` with `refusal`: a request held for approval
  // stops being held; a refusal that says the approval lapsed is noticed.
  void AfterAgentRefusal(const StoredRequest& r, const ketenpoort::v1::Refusal& refusal);
  // The consents source partners recorded for the case, into `facts`
  // (before the policy decides on them).
  Status FillSourceConsents(cases::CaseFacts* facts);
  // A partner receives (docs/protocol.md §3.9): pushes.cc.
  void HandleFragmentPush(const VerifiedMessage& m);
  void HandlePushReceived(const VerifiedMessage& m);
  // A delivery closed `request`: what was authorised for it is kept for a
  // handover of its case (DeliveredRequest).
  // `stored`: its authorisation, read (internal::ReadStoredForward).
  Status RememberDelivered(const StoredRequest& request,
                           const internal::StoredForward& stored);  // answers.cc
  void HandleInboxFetch(const VerifiedMessage& m);
  void HandleDeliveryAck(const VerifiedMessage& m);
  void HandleAuditPull(const VerifiedMessage& m);  // audit_pull.cc
  // Referrals (docs/protocol.md §3.7): referrals.cc.
  void HandleReferral(const VerifiedMessage& m);
  void HandleReferralDecline(const VerifiedMessage& m);
  // An open that accepts a referral: the stored referral may be taken by
  // `opener` (waiting, addressed to it). Returns it, or why not.
  Result<StoredReferral> ReferralToAccept(const std::string& referral_envelope, const std::string& opener);
  // In the open's unit, after its command is kept: ACCEPTED, audited, told.
  Status AcceptReferral(StoredReferral referral, const std::string& case_id, const std::string& opener);
  // The referrer and the coordinators other than `except` learn its state;
  // the held copies of the referral itself go.
  void TellReferralState(const StoredReferral& referral, const std::string& except);
  Result<std::string> ReferralStatusMessage(const StoredReferral& referral, const std::string& to,
                                            const std::string& request_id);
  void ExpireReferrals(int64_t now_ms);
  // Handovers, acute cases, notices (docs/protocol.md §3.6): handovers.cc.
  void HandleHandoverPackage(const VerifiedMessage& m);
  // After a case command was kept (in its savepoint): the records beyond
  // the command's own, deadlines, notices, handover packages released or
  // dropped. `before` is the case before the command.
  Status AfterCaseCommand(const cases::ChainCommand& c, const cases::CaseFacts& before,
                          const cases::CaseFacts& after, uint64_t command_index);
  // Moves the held parts of `offer` into the next coordinator's inbox
  // (HANDOVER_DATA recorded) — the subjects' part always, a fragment's part
  // only when cases::DecideHandOver permits it on `facts` (the case after
  // the accept); a part the policy keeps back is dropped and recorded
  // (HANDOVER_DATA_WITHHELD), and both coordinators get one notice saying
  // how many. `drop`: they all go without being delivered.
  Status ReleaseHandoverParts(const cases::CaseFacts& facts, const std::string& offer, bool drop,
                              size_t* dropped);
  // A CASE_NOTICE held in `to`'s inbox (sent at once when it is connected).
  void Notify(const std::string& to, const ketenpoort::v1::CaseNotice& notice);
  // Coordinator participants of `partner` whose role is `acute` or `coordinates`.
  std::vector<std::string> CoordinatorsOf(const std::string& partner, bool acute_roles_too) const;
  void RunCaseDeadlines(int64_t now_ms);

  // Notices to the privacy officers (issue 17 §2; protocol §3.11):
  // privacy_notices.cc. For a permit whose obligations carry
  // notify_privacy_officer: one PRIVACY_OFFICER_NOTIFIED record and, for
  // every enrolled privacy officer, a signed CASE_NOTICE (PRIVACY_OFFICER,
  // ids and metadata of `decided` only) held in its inbox until it
  // acknowledges it — in the running unit. `decided` is the decision's
  // record as staged at `decided_index`; `what` says what was decided
  // ("request", "watch", "push", "handover"). An error fails the unit.
  Status NotifyPrivacyOfficers(const ketenpoort::v1::AuditRecord& decided, uint64_t decided_index,
                               const std::string& what);
  // The enrolled privacy officers' participant ids, sorted.
  std::vector<std::string> PrivacyOfficers() const;

  // Watches and signals (docs/protocol.md §3.8): watches.cc.
  // A watch request's own checks (its end date), before the policy's.
  Status CheckWatchRequest(const cases::CaseFacts& facts, const ketenpoort::v1::FragmentRequest& request,
                           int64_t now_ms) const;
  void HandleSignal(const VerifiedMessage& m);
  // After a case command was kept: a closure ends every watch of the case, a
  // removal the removed partner's; their agents are told (WATCH_ENDED).
  Status EndWatchesAfter(const cases::ChainCommand& c, const cases::CaseFacts& after);
  Status EndWatch(const StoredWatch& watch, const std::string& reason, const std::string& actor);
  // Tells the connected agent of `partner` of its ended watches not yet told.
  void TellEndedWatches(const std::string& partner);
  void ExpireWatches(int64_t now_ms);

  // Audit records (inside a unit): staged, kept in the unit's outbox rows.
  Result<uint64_t> Audit(ketenpoort::v1::AuditRecord record);
  ketenpoort::v1::AuditRecord NewRecord(ketenpoort::v1::AuditEvent event, const std::string& actor) const;
  // The ERROR answer to a refused message.
  void RefuseMessage(const VerifiedMessage& m, const Status& why, ketenpoort::v1::AuditRecord record = {});

  // The outbox. Queue/QueueSigned: false when `to` is not connected.
  bool Queue(const std::string& to, std::string bytes);
  bool QueueSigned(const std::string& to, ketenpoort::v1::MessageKind kind, const std::string& request_id,
                   const google::protobuf::Message& body);
  // A RECEIPT for `to` (protocol §6): its place in the outbox is kept now;
  // it is signed when the unit finishes (SignReceipts), with one checkpoint
  // of the log for every receipt of the unit, covering all of its records.
  // False when `to` is not connected.
  bool QueueReceipt(const std::string& to, const std::string& request_id, ketenpoort::v1::Receipt receipt);
  // Before the unit commits: the one checkpoint, and each receipt signed
  // into its place (one that cannot be signed is not sent).
  void SignReceipts();
  // To a coordinator, or held in its inbox while it is offline. An answer to
  // a request (`request_id` set) is held either way, until acknowledged.
  void SendOrHold(const std::string& coordinator, const std::string& case_id, const std::string& bytes,
                  const std::string& request_id = "");
  Status LoadRegistry();
  // The registry and the policy bundle through the gateway (protocol §3.13;
  // config_distribution.cc): loaded at the start; the policy in force
  // follows the bundle's effective-from times (checked before every message
  // and on the timer); a reload that takes a new one into use offers it to
  // every connected participant.
  Status LoadConfigForDistribution();
  Result<std::shared_ptr<const policy::Policy>> ReloadPolicyBundle();
  void RefreshConfigBundle();
  void PublishPolicyInForce();
  void HandleConfigFetch(const VerifiedMessage& m);
  void SwitchPolicyIfDue(int64_t now_ms);

  GatewayConfig config_;
  const Clock& clock_;
  const Presence presence_;
  std::unique_ptr<Identity> identity_;
  std::unique_ptr<PublicCard> enrolment_card_;
  std::unique_ptr<Registry> registry_;
  uint64_t registry_serial_ = 0;
  StaticKeyResolver keys_;
  std::shared_ptr<const policy::Policy> policy_;
  std::shared_ptr<const cases::PolicySet> policy_set_;  // null: a plain policy file
  ketenpoort::v1::ConfigBundle bundle_;                 // what CONFIG_BUNDLE carries
  std::unique_ptr<CaseStore> store_;
  std::unique_ptr<AuditTrail> audit_;
  std::unique_ptr<EnvelopeSigner> signer_;

  // The running unit.
  bool in_unit_ = false;
  Status unit_failed_;
  std::vector<audit::StagedRecord> unit_records_;
  std::vector<Outgoing> outbox_;
  std::vector<ListingRequest> listings_;
  struct PendingReceipt {
    size_t outbox_index;  // its place in outbox_
    std::string request_id;
    ketenpoort::v1::Receipt receipt;
  };
  std::vector<PendingReceipt> receipts_;  // the unit's, signed by SignReceipts
  // Carried between units; put back when a unit is rolled back.
  std::vector<std::string> sent_inbox_ids_;  // held copies of messages sent: removed in the next unit
  std::vector<std::pair<std::string, std::string>> acknowledged_;  // (coordinator, request id), likewise
  std::vector<std::string> unsent_forwards_;  // forwards that could not be sent: queued again next unit
  std::vector<std::string> pending_sent_, pending_unsent_;
  std::vector<std::pair<std::string, std::string>> pending_acks_;
  bool outbox_in_log_ = false;   // outbox rows may be trimmed (the log's durable part holds them)
  double write_seconds_ = 0;     // the last unit's write to the log, for the append metric
  bool retry_forwards_ = false;  // some were queued again: Expire hands them over
  int64_t last_forget_ms_ = 0;
  Stats stats_;
  LastReceipt last_receipt_;
  std::unordered_map<std::string, KnownCase> cases_by_head_;  // emptied when the policy or registry changes
  // Per privacy officer: the records file's rewrites when its listing was
  // made; a pull of it after a later rewrite is refused (audit_pull.cc).
  std::unordered_map<std::string, uint64_t> listed_at_rewrite_;
};

// §3.2 step 7 at the gateway, after the signature: the recipient must be
// empty or the gateway (else Unauthenticated); the kind must be one the
// gateway takes (else InvalidArgument) from this kind of participant (else
// PermissionDenied); and `request_id` must be empty where §6 says so (else
// InvalidArgument).
Status Admissible(const RegistryEntry& sender, const ketenpoort::v1::Header& header,
                  const std::string& gateway_id);

// The message id of an envelope that did not verify, read from its
// unverified header; "" when that does not parse or is not 16 bytes.
std::string UnverifiedMessageId(const std::string& envelope);

}  // namespace kp::gateway

#endif  // KETENPOORT_GATEWAY_GATEWAY_CORE_H_
