// CaseStore: the gateway's durable state in one SQLite file (WAL mode).
//
// Cases with their phase, members, consent records and gatekeeper approvals;
// requests that wait for an offline agent (store-and-forward) or for an
// answer; and the inboxes of coordinators who were offline when a fragment
// (ciphertext) arrived. Nothing here is content or personal data: subject
// references ("S1") and ids only; fragments stay sealed.
//
// Every write is a transaction with synchronous=FULL, so a change acknowledged
// is durable across a crash. Not thread-safe: the gateway's one event-loop
// thread owns it.
#ifndef KETENPOORT_GATEWAY_CASE_STORE_H_
#define KETENPOORT_GATEWAY_CASE_STORE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/audit/log_writer.h"
#include "core/base/status.h"
#include "core/sqlite/sqlite_db.h"

namespace kp::cases {
struct CaseFacts;
struct ConsentFact;
}  // namespace kp::cases

namespace kp::gateway {

struct CaseRecord {
  std::string id;            // VT-2026-0001
  std::string purpose;
  std::string coordinator;   // participant id of the casusregisseur who opened it
  std::string phase;
  bool closed = false;
  int64_t opened_ms = 0;
  int64_t closed_ms = 0;
  std::string head;         // hash of its last command (protocol §3.5); GetCase only
  uint64_t length = 0;      // how many commands it has; GetCase only
};

struct StoredRequest {
  std::string request_id;      // 16 bytes
  std::string case_id;
  std::string coordinator;     // who asked (participant id)
  std::string source_partner;  // who is asked
  std::vector<std::string> categories;
  std::string authorisation;   // serialized Authorisation body; signed afresh at each delivery
  int64_t created_ms = 0;
  int64_t expires_ms = 0;
  bool delivered = false;      // handed to the agent's connection
};

// How a request ended (kept for a while, so that a request or an answer
// sent again is recognised: docs/protocol.md §6.1).
enum class RequestOutcome { kDelivered = 1, kRefusedByAgent = 2, kExpired = 3, kRefusedByGateway = 4 };

struct ClosedRequest {
  std::string request_id;
  std::string coordinator;
  std::string source_partner;
  RequestOutcome outcome = RequestOutcome::kExpired;
  uint64_t audit_index = 0;  // the DELIVERED record, for a receipt sent again
  std::string answer_id;     // message id of the delivery or refusal that closed it
  int64_t closed_ms = 0;
};

// What the gateway authorised for a request it delivered the answer to
// (docs/protocol.md §3.6, "What goes over"): a handover part that carries
// that answer goes over only when the policy would give it to the next
// coordinator now. Kept until the case closes or the decision's retention
// has passed, whichever comes first. Ids, policy ids and the request's
// body (subject references, never subject data) only.
struct DeliveredRequest {
  std::string request_id;  // 16 bytes
  std::string case_id;
  std::string request;     // serialized FragmentRequest (the coordinator's body)
  std::string decision;    // serialized v1::Decision the gateway sent with it
  int64_t delivered_ms = 0;
  int64_t forget_ms = 0;   // the decision's retention ends; 0: when the case closes
};

// A referral the gateway holds (docs/protocol.md §3.7). Ids and codes only.
enum class ReferralState { kWaiting = 1, kAccepted = 2, kDeclined = 3, kExpired = 4 };

struct StoredReferral {
  std::string id;            // 16 bytes: the REFERRAL envelope's message id
  std::string reference;     // the referrer's own number
  std::string referrer;      // participant id
  std::string to_partner;
  std::string purpose;
  std::vector<std::string> reason_codes;
  uint32_t subjects = 0;     // how many (never who)
  std::vector<std::string> coordinators;  // participants it waits with (sealed to, allowed to coordinate)
  std::string envelope;      // the referrer's signed envelope, byte for byte
  ReferralState state = ReferralState::kWaiting;
  int64_t received_ms = 0;
  int64_t expires_ms = 0;
  std::string decided_by;    // who accepted or declined
  int64_t decided_ms = 0;
  std::string case_id;       // accepted: the case opened on it
  std::string reason_code;   // declined: why
  uint64_t audit_index = 0;  // the record of its latest state
};

// One part of a handover package the gateway holds until the handover it
// belongs to is accepted (docs/protocol.md §3.6).
struct HeldHandoverPart {
  std::string case_id;
  std::string offer;       // hash of the OfferHandover command
  std::string recipient;   // the next coordinator
  uint32_t part = 0, parts = 0;
  std::string sender;      // the former coordinator
  std::string message_id;  // the HANDOVER_PACKAGE's id
  std::string envelope;    // the sender's signed HANDOVER_PACKAGE, byte for byte
  int64_t stored_ms = 0;
};

// A moment the gateway's clock must notice once (docs/operations.md,
// "Case timers"): an offer lapsing, a stand-in ending, an acute window
// ending. The row goes in the unit that records the event: it happens once.
enum class DeadlineKind { kOfferLapses = 1, kStandInEnds = 2, kAcuteWindowEnds = 3 };

struct CaseDeadline {
  std::string case_id;
  DeadlineKind kind = DeadlineKind::kOfferLapses;
  std::string key;  // the offer's hash, or empty
  int64_t due_ms = 0;
};

struct InboxItem {
  std::string message_id;  // of the stored envelope
  std::string recipient;   // coordinator participant id
  std::string case_id;
  std::string envelope;    // signed envelope, content sealed
  int64_t stored_ms = 0;
  int64_t expires_ms = 0;
  std::string request_id;  // the request it answers; empty: not acknowledged, removed once sent
};

// A watch (docs/protocol.md §3.8): kept from the source agent's
// WATCH_STARTED signal until its end date, the case's closure or the source
// partner's removal. Ids and codes only.
struct StoredWatch {
  std::string watch_id;  // the watch request's id (16 bytes)
  std::string case_id;
  std::string coordinator;     // who asked for it
  std::string source_partner;
  std::string agent;           // the agent that said it keeps it
  std::vector<std::string> categories;
  std::vector<std::string> subject_refs;
  int64_t started_ms = 0;
  int64_t until_ms = 0;
  uint64_t started_index = 0;  // the WATCH_STARTED record (a receipt sent again)
  int64_t ended_ms = 0;        // 0: active
  std::string end_reason;      // a code: einddatum, casus-gesloten, partner-verwijderd, ...
  bool agent_told = false;     // the agent got its WATCH_ENDED notice
};

class CaseStore {
 public:
  // Opens (creating if needed) the database at `path`.
  static Result<std::unique_ptr<CaseStore>> Open(const std::string& path);
  ~CaseStore();
  CaseStore(const CaseStore&) = delete;
  CaseStore& operator=(const CaseStore&) = delete;

  // An explicit transaction around several changes and the audit append
  // that must go with them: Begin, change, append, then Commit — or Rollback
  // when the append failed, so no change exists that the log does not show.
  Status Begin();
  Status Commit();
  void Rollback();
  // The gateway handles a burst of messages in one transaction (one sync
  // of the write-ahead log instead of one per change). Begin/Commit/Rollback
  // above nest inside it (they are savepoints).
  Status BeginBatch();
  Status CommitBatch();
  void RollbackBatch();
  // False when SQLite has rolled the batch back by itself (after an I/O or
  // full-disk error): nothing done since is part of it.
  bool InTransaction() const;

  // A new case "VT-<year>-<NNNN>" (numbered per year from 1).
  Result<CaseRecord> OpenCase(const std::string& purpose, const std::string& coordinator,
                              const std::string& first_phase, int year, int64_t now_ms);
  // NotFound for an unknown case.
  Result<CaseRecord> GetCase(const std::string& case_id);
  Result<std::vector<CaseRecord>> ListCases(const std::string& coordinator);
  Status SetPhase(const std::string& case_id, const std::string& phase);
  Status CloseCase(const std::string& case_id, const std::string& closed_phase, int64_t now_ms);

  // The case's chain of signed commands (docs/protocol.md §3.5), each
  // exactly as received, by sequence. The case's facts are folded from it
  // (case/case_chain.h); the cases row above only indexes them.
  Status AppendCommand(const std::string& case_id, uint64_t seq, const std::string& hash, const std::string& envelope);
  // From sequence `from`: at most `max_count` commands, and no more than
  // `max_bytes` in all (at least one when there is one).
  Result<std::vector<std::string>> Commands(const std::string& case_id, uint64_t from = 0,
                                            size_t max_count = SIZE_MAX, size_t max_bytes = SIZE_MAX);

  // Requests in flight (authorised, not yet answered).
  Status AddRequest(const StoredRequest& request);
  Result<std::optional<StoredRequest>> GetRequest(const std::string& request_id);
  Status MarkDelivered(const std::string& request_id);
  // Back to waiting for its agent (the forward could not be sent after all).
  Status MarkUndelivered(const std::string& request_id);
  // Removes a request that got its outcome and remembers how it ended.
  Status CloseRequest(const StoredRequest& request, const ClosedRequest& closed);
  Result<std::optional<ClosedRequest>> GetClosedRequest(const std::string& request_id);
  Status ForgetClosedRequests(int64_t closed_before_ms);
  // What was authorised for a request whose answer was delivered (kept
  // for a handover). Absent once forgotten, or past `forget_ms` at `now_ms`.
  Status AddDelivered(const DeliveredRequest& delivered);
  Result<std::optional<DeliveredRequest>> GetDelivered(const std::string& request_id, int64_t now_ms);
  // The case closed: its rows go.
  Status ForgetDelivered(const std::string& case_id);
  // Rows whose decision's retention has passed at `now_ms` go.
  Status ForgetExpiredDelivered(int64_t now_ms);
  // Every waiting request of `source_partner` is handed to its agent again
  // (it reconnected: what was sent on the old connection may never have
  // arrived; the agent recognises a request it already answered).
  Status MarkAllUndelivered(const std::string& source_partner);
  Result<int64_t> CountRequests();
  // For status and metrics: requests in flight by source partner, and
  // messages held in the inbox by recipient (participant id).
  Result<std::map<std::string, int64_t>> CountRequestsByPartner();
  Result<std::map<std::string, int64_t>> CountInboxByRecipient();
  // Not yet delivered, for an agent of `source_partner`.
  Result<std::vector<StoredRequest>> UndeliveredFor(const std::string& source_partner);
  // Expired at `now_ms`, and closes them (outcome kExpired).
  Result<std::vector<StoredRequest>> TakeExpiredRequests(int64_t now_ms);

  Status AddToInbox(const InboxItem& item);
  Result<std::vector<InboxItem>> InboxFor(const std::string& recipient);
  Status RemoveFromInbox(const std::string& message_id);
  // The coordinator stored the answer to `request_id`: its held copies go.
  Status RemoveAcknowledged(const std::string& recipient, const std::string& request_id);
  Result<std::vector<InboxItem>> TakeExpiredInbox(int64_t now_ms);

  // Referrals (docs/protocol.md §3.7).
  Status AddReferral(const StoredReferral& referral);
  Result<std::optional<StoredReferral>> GetReferral(const std::string& id);
  // Writes the decision fields and the state of a referral already stored.
  Status UpdateReferral(const StoredReferral& referral);
  // Waiting referrals whose time ran out at `now_ms` (not changed here).
  Result<std::vector<StoredReferral>> ExpiredReferrals(int64_t now_ms);

  // Handover packages held until their handover is accepted. A part sent
  // again replaces the one held.
  Status HoldHandoverPart(const HeldHandoverPart& part);
  Result<std::vector<HeldHandoverPart>> HandoverParts(const std::string& offer);
  Status DropHandoverParts(const std::string& offer);

  // Case deadlines the timer watches.
  Status AddDeadline(const CaseDeadline& deadline);
  Result<std::vector<CaseDeadline>> DueDeadlines(int64_t now_ms);
  Status RemoveDeadline(const CaseDeadline& deadline);
  // The cases row follows the facts' coordinator (case listings).
  Status SetCoordinator(const std::string& case_id, const std::string& coordinator);

  // Watches (gateway/watch_store.cc).
  Status AddWatch(const StoredWatch& watch);
  Result<std::optional<StoredWatch>> GetWatch(const std::string& watch_id);
  // Active watches of a case ("" : of every case) whose end date has not
  // passed; with `until_before_ms` > 0, those whose end date is at or before it.
  Result<std::vector<StoredWatch>> ActiveWatches(const std::string& case_id, int64_t until_before_ms = 0);
  Status EndWatch(const std::string& watch_id, int64_t at_ms, const std::string& reason);
  // Ended watches of `source_partner` whose agent was not told yet.
  Result<std::vector<StoredWatch>> UntoldEndedWatches(const std::string& source_partner);
  Status MarkWatchTold(const std::string& watch_id);

  // The source decides (docs/protocol.md §3.10): gateway/approval_store.cc.
  // A request held for the source's professional: it waits until
  // `decide_by_ms` (its expiry moves there).
  Status AddApprovalWait(const std::string& request_id, const std::string& case_id, int64_t decide_by_ms);
  // When a request held for approval must be decided by; nullopt: not held.
  Result<std::optional<int64_t>> ApprovalWait(const std::string& request_id);
  Status RemoveApprovalWait(const std::string& request_id);
  // Held requests still pending whose decide_by is at or before `now_ms`
  // (not changed here); rows of requests that ended otherwise go.
  Result<std::vector<StoredRequest>> DueApprovalWaits(int64_t now_ms);
  // Consents a source partner recorded itself, by (partner, subject, purpose).
  Status PutSourceConsent(const std::string& case_id, const std::string& source_partner, const std::string& subject_ref,
                          const std::string& purpose, const cases::ConsentFact& consent);
  // False when there was none to remove.
  Result<bool> RemoveSourceConsent(const std::string& case_id, const std::string& source_partner,
                                   const std::string& subject_ref, const std::string& purpose);
  Status FillSourceConsents(const std::string& case_id, cases::CaseFacts* facts);

  // Retention (gateway/retention.cc; docs/operations.md, "Retention").
  // Closed cases whose closure is at or before `closed_before_ms` and that
  // nothing needs any more: no request waiting for an agent or an answer,
  // no message for the case held in an inbox, no handover part held, no
  // handover memory (DeliveredRequest), no request held for approval, and
  // no watch still active or ended without its agent told. At most `limit`,
  // oldest closure first.
  Result<std::vector<CaseRecord>> PrunableCases(int64_t closed_before_ms, size_t limit);
  // What PruneCase removed, for its CASE_PRUNED record.
  struct PrunedRows {
    uint64_t commands = 0, watches = 0, consents = 0, deadlines = 0, referrals = 0;
  };
  // Removes a case and what was kept for it: its chain, its ended watches,
  // the consents its sources recorded, deadlines left, the referral it was
  // opened on. Its number is never given out again (the year's counter
  // stays). Checks nothing: PrunableCases chose it in the same transaction.
  Result<PrunedRows> PruneCase(const std::string& case_id);
  // Referrals that never became a case (declined or lapsed) and were
  // decided at or before `decided_before_ms`, oldest first, at most `limit`:
  // their rows keep the referrer's envelope (sealed subject identifiers).
  Result<std::vector<StoredReferral>> PrunableReferrals(int64_t decided_before_ms, size_t limit);
  Status PruneReferral(const std::string& referral_id);

  // The audit outbox: records staged in the same transaction as the change
  // they describe, until they are in the log (gateway/audit_trail.h).
  Status AddAuditOutbox(const audit::StagedRecord& record);
  Result<std::vector<audit::StagedRecord>> AuditOutbox();
  // Records below `below_index` are in the log: they go.
  Status TrimAuditOutbox(uint64_t below_index);

 private:
  explicit CaseStore(std::unique_ptr<sqlite::Database> database);
  Status Exec(const char* sql);
  // Unavailable when a batch was begun and SQLite has rolled it back by
  // itself (after a full disk or an I/O error): every write checks it, so no
  // statement of a failed unit autocommits on its own.
  Status Writable() const;
  bool batch_open_ = false;
  Status Migrate();
  std::unique_ptr<sqlite::Database> database_;  // statements prepared once, reused
};

}  // namespace kp::gateway

#endif  // KETENPOORT_GATEWAY_CASE_STORE_H_
