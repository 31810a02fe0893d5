// Responder: everything the partner agent does with a message from the
// gateway, without the socket (agent.h owns the connection).
//
// For an AUTHORISATION it performs, in this order, and stops at the first
// failure (docs/agent.md "Answering a request"):
//   1. the envelope verifies as the pinned gateway's, addressed to this agent,
//      fresh and not replayed (else it is dropped: nothing trustworthy to
//      answer; the agent's own log records it);
//   2. the authorisation has not expired;
//   3. the coordinator's own signature on the original FRAGMENT_REQUEST inside
//      it verifies, the signer is a coordinator in the enrolment-signed
//      registry, the request is not too old, names this agent's partner and
//      was not answered before;
//   4. the case's whole chain of signed commands, as the gateway shows it,
//      ends at the head the coordinator signed into the request, and folds
//      (case/case_chain.h) into facts in which the signer coordinates the
//      case, in a role the policy lets coordinate, and this partner is
//      admitted; the phase the gateway states is the chain's;
//   5. the sealed subject data opens, is signed by the same coordinator,
//      bound to this request, and its identifiers open the commitments the
//      case made to exactly those subjects;
//   6. the same policy, evaluated here, permits it, with the same policy
//      version; the partner's own restrictions (categories switched off,
//      consent always required) hold;
//   7. every category's data source answers completely;
// then keeps only the allowed fields, signs the fragment, seals it to the
// coordinator, records the disclosure durably in the agent's own log, and
// returns the FRAGMENT_DELIVERY to send. Any failure from step 2 on returns
// a REFUSAL (with a reason a coordinator can read, never personal data),
// also recorded (queued for the next group commit: a refusal discloses
// nothing, so it does not wait for the flush).
//
// For a RECEIPT it checks the gateway's signed checkpoint and keeps it, and
// the receipt, in the data folder, so the partner's privacy officer can show
// that the gateway's log holds what the partner disclosed.
//
// Not thread-safe: the agent's one thread calls it.
#ifndef KETENPOORT_AGENT_RESPONDER_H_
#define KETENPOORT_AGENT_RESPONDER_H_

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "agent/approvals.h"
#include "agent/connectors/connector.h"
#include "agent/kept_answers.h"
#include "agent/watches.h"
#include "case/case_chain.h"
#include "case/policy_bundle.h"
#include "core/audit/checkpoint.h"
#include "core/audit/log_writer.h"
#include "core/base/clock.h"
#include "core/base/status.h"
#include "core/envelope/envelope.h"
#include "core/identity/identity.h"
#include "core/identity/registry.h"
#include "ketenpoort/v1/messages.pb.h"
#include "policy/policy_engine.h"

namespace kp::agent {

class Receiver;  // receiver.h

struct ResponderOptions {
  int64_t replay_window_ms = 300'000;
  int64_t max_request_age_ms = 24LL * 3600 * 1000 + 300'000;
  int64_t audit_retention_ms = 5LL * 365 * 24 * 3600 * 1000;
  std::set<std::string> disabled_categories;
  bool always_require_consent = false;
  std::string gateway_log_origin;  // expected origin of the gateway's checkpoints
  std::string data_dir;            // receipts.jsonl and gateway-checkpoints/ go here
  // The pinned enrolment card's signing key: a registry or policy bundle
  // from the gateway is accepted only when it signed it (config_updates.cc).
  std::string enrolment_public_key;
  // How many answered request ids are remembered at most (about 150 bytes
  // each). Under heavier load the oldest go, and a request sent before them
  // is refused ("send it again") rather than risk answering it twice.
  size_t max_remembered_answers = 100'000;
  // Answers sent and not yet receipted (borrowed; must outlive the
  // responder). Null only in tests of the responder alone: then an answer
  // lost on the way is not sent again.
  KeptAnswers* kept_answers = nullptr;
  int64_t resend_after_ms = 30'000;  // an answer without receipt goes again after this
  // Watches kept (watches.h; borrowed, must outlive the responder). Null:
  // watch requests are not answered.
  WatchStore* watches = nullptr;
  int64_t watch_interval_ms = 30'000;  // how often the sources are asked what changed
  // Takes PUSH_AUTHORISATIONs (borrowed; must outlive the responder). Null:
  // pushes are ignored.
  Receiver* receiver = nullptr;
  // The approval queue (approvals.h; borrowed, must outlive the responder).
  // Null: a request that needs the source's approval is refused.
  Approvals* approvals = nullptr;
  int64_t approval_time_ms = 72LL * 3600 * 1000;  // how long a request waits for the professional
  std::set<std::string> approve_categories;       // the partner's own: always wait for the professional
};

// What to do after a message.
struct Outcome {
  std::optional<std::string> reply;  // an envelope to send to the gateway
  Status status;                     // why it was refused or dropped (OK: answered or nothing to do)
};

class Responder {
 public:
  // Borrows `me`, `clock` and `log`: all must outlive the responder.
  // `gateway` is the pinned gateway card (its id and signing key).
  Responder(const Identity& me, const PublicCard& gateway, Registry registry,
            std::shared_ptr<const policy::Policy> policy,
            std::map<std::string, std::unique_ptr<Connector>> sources, audit::LogWriter& log,
            const Clock& clock, ResponderOptions options);

  // Handles one envelope received from the gateway.
  Outcome Handle(std::string_view envelope_bytes);

  // A burst: the agent handles every message waiting on its socket, then
  // makes their disclosure records durable with one sync (EndBurst), and only
  // then sends the answers. Outside a burst each disclosure is synced on its own.
  void BeginBurst();
  Status EndBurst();
  // Syncs receipts.jsonl when lines were appended since its last sync (on
  // the agent's idle timer and when it stops).
  Status SyncReceipts();

  // A signed heartbeat for the gateway.
  Result<std::string> Heartbeat();

  // The registry and the policy through the gateway (config_updates.cc;
  // docs/protocol.md §3.13). A signed CONFIG_FETCH naming the serials held.
  Result<std::string> ConfigFetch();
  // Takes a new registry and/or policy set into use without a restart
  // (also for the receiver); the policy in force follows the set's
  // effective-from times (FollowPolicy, before every message).
  void SetConfig(std::optional<Registry> registry, std::shared_ptr<const cases::PolicySet> policies);
  void FollowPolicy(int64_t now_ms);
  const policy::Policy& policy_in_force() const { return *policy_; }
  uint64_t registry_serial() const { return registry_.serial(); }
  const Registry& registry() const { return registry_; }
  uint64_t policy_serial() const { return policies_ ? policies_->serial() : 0; }

  // The approval queue (responder_approvals.cc): answers and refusals for
  // what the professional decided (or let expire) since the last look, each
  // recorded in the agent's own log; and SOURCE_CONSENT messages for
  // consents `ketenpoort-agent consent` wrote and the gateway has not
  // confirmed (again after consent_resend_ms).
  std::vector<std::string> ActOnApprovals();
  std::vector<std::string> SourceConsentsToSend();

  // Kept answers (kept_answers.h) to send again now: each without a receipt
  // for resend_after_ms, or one the gateway could not take (it said
  // "unavailable"). Each goes in a freshly signed envelope. Answers whose
  // request has expired are dropped and recorded as not delivered.
  std::vector<std::string> AnswersToSendAgain();

  // Watches (watches.cc): every watch_interval_ms, asks each watched
  // category's source what changed about the watch's subjects since the
  // last look, and returns a signed CHANGED signal for each (subject,
  // category) that did; also signals the gateway has not confirmed, again.
  std::vector<std::string> LookForChanges();

  // Forgets request and message ids too old to matter (an older request or
  // message is refused anyway); the agent calls it when idle, so memory
  // follows the time window, not the number of requests ever served.
  void ForgetExpired();
  // Ids held in memory (answered requests and seen messages), for tests.
  size_t remembered_ids() const { return answered_.size() + replay_.size(); }

  uint64_t answered() const { return answered_count_; }
  uint64_t refused() const { return refused_count_; }

  // For `status` and /metrics (agent/status.cc).
  const std::string& gateway_id() const { return gateway_id_; }
  struct LastReceipt {
    std::string request_id_hex;
    uint64_t gateway_log_index = 0;
    int64_t at_ms = 0;
  };
  const LastReceipt& last_receipt() const { return last_receipt_; }

 private:
  struct Answer;
  Outcome HandleAuthorisation(const VerifiedEnvelope& outer);
  // After Check(): signs, seals, records and keeps the answer; the kept
  // answer counts as expired after `keep_until_ms`.
  Outcome Disclose(Answer* answer, int64_t keep_until_ms);
  // responder_approvals.cc: the request is one the queue knows (its state
  // again, or nothing when it is not one); whether it must wait; holding it.
  std::optional<Outcome> ApprovalAgain(const std::string& request_id);
  // What of a checked request the queue keeps (ids, roles, no identifiers).
  struct ToHold {
    const std::string& request_id;
    const ketenpoort::v1::FragmentRequest& request;
    const policy::Decision& decision;
    const ketenpoort::v1::SubjectData& subjects;
    const std::string& phase;
    const std::string& coordinator;
    const std::string& coordinator_partner;
  };
  bool NeedsApproval(const ketenpoort::v1::Authorisation& auth, const ToHold& held) const;
  Outcome HoldForApproval(const ketenpoort::v1::Authorisation& auth, const ToHold& held);
  // Checks an approved request again (resuming_) and answers it, or refuses.
  Outcome AnswerApproved(const ketenpoort::v1::Authorisation& auth, const std::string& request_id,
                         int64_t keep_until_ms);
  Result<std::string> SignAgentRefusal(const std::string& request_id, const std::string& case_id,
                                       const std::string& reason, const std::vector<std::string>& rule_ids);
  Outcome HandleCaseResult(const VerifiedEnvelope& env);
  bool HandleConsentError(const std::string& message_id, const ketenpoort::v1::Error& err);
  // Set while a request the professional approved is checked again: the
  // authorisation's expiry and the request's age were checked when it
  // was queued, and the gateway keeps it open until decide_by.
  bool resuming_ = false;
  std::map<int64_t, int64_t> consent_sent_ms_;  // source consent row -> when last sent
  static constexpr int64_t kConsentResendMs = 10'000;
  Outcome HandleReceipt(const VerifiedEnvelope& outer);
  // A gateway checkpoint naming a restore point (gateway_restore.cc, H5):
  // the first time, the kept checkpoints past it are moved aside and
  // LOG_RESTORED is recorded; DataLoss when it contradicts one kept.
  Status AcceptGatewayRestore(const audit::Checkpoint& cp);
  uint64_t accepted_restore_size_ = 0;
  std::string accepted_restore_root_;
  Outcome HandleConfigBundle(const VerifiedEnvelope& env);  // config_updates.cc
  // The policy a gateway's decision names, when it was in force at some
  // moment since the request was made (a request in flight across a switch
  // is checked against the policy it was decided with); else the one in force.
  std::shared_ptr<const policy::Policy> PolicyForDecision(std::string_view policy_sha256,
                                                          int64_t asked_ms) const;
  // Watches (watches.cc).
  Outcome StartWatch(const ketenpoort::v1::Authorisation& auth, const std::string& watch_id,
                     const ketenpoort::v1::FragmentRequest& request, const std::string& coordinator,
                     const std::string& recipient_partner);
  Outcome HandleNotice(const VerifiedEnvelope& env);
  void NoteWatchReceipt(const std::string& watch_id, const std::string& delivery_id);
  bool HandleWatchError(const std::string& about, const ketenpoort::v1::Error& err);
  void ForgetWatch(const std::string& watch_id, const std::string& case_id, const std::string& why);
  void EndWatchHere(const KeptWatch& watch, const std::string& why, std::vector<std::string>* out);
  Result<std::string> SendSignal(const ketenpoort::v1::Signal& signal);
  struct PendingSignal {
    std::string watch_id;
    std::string body;     // serialized Signal
    int64_t sent_ms = 0;  // 0: again at the next look
  };
  std::map<std::string, PendingSignal> signals_out_;  // by envelope message id, until receipted
  int64_t last_watch_look_ms_ = 0;
  Status Check(const ketenpoort::v1::Authorisation& auth, Answer* answer);
  Status CheckEvidence(const ketenpoort::v1::Authorisation& auth, Answer* answer);
  Status Collect(Answer* answer, ketenpoort::v1::FragmentContent* content);
  Outcome Refuse(const std::string& request_id, Answer* answer, const Status& why);
  ketenpoort::v1::AuditRecord NewRecord(ketenpoort::v1::AuditEvent event) const;
  void AppendAsync(ketenpoort::v1::AuditRecord record);
  // A kept answer in a freshly signed envelope.
  Result<std::string> Wrap(const KeptAnswer& kept);
  void HandleGatewayError(const VerifiedEnvelope& env);
  // The gateway will not deliver this answer: drop it, record why.
  void DropKept(const std::string& request_id, const std::string& case_id, const std::string& why);
  struct Sent {
    std::string message_id;  // of the envelope last sent with it
    int64_t sent_ms = 0;     // 0: send again at the next look
  };
  std::map<std::string, Sent> sent_;  // request id -> the kept answer's last send
  bool kept_in_transaction_ = false;  // the burst's; begun with its first kept answer
  // Receipts of this burst, marked in the kept answers after it (one
  // unsynced transaction: KeptAnswers::MarkReceipted): request id -> the
  // gateway's log index.
  std::map<std::string, uint64_t> receipted_;
  void MarkReceipted();

  const Identity& me_;
  const std::string gateway_id_;
  const std::string gateway_signing_key_;
  Registry registry_;  // replaced in place by SetConfig
  StaticKeyResolver keys_;
  std::shared_ptr<const policy::Policy> policy_;      // in force now
  std::shared_ptr<const cases::PolicySet> policies_;  // a signed bundle's, or null (config_updates.cc)
  // Case histories checked, by head: a case's requests share their chain.
  cases::ChainChecker chains_;
  std::map<std::string, std::unique_ptr<Connector>> sources_;
  audit::LogWriter& log_;
  const Clock& clock_;
  const ResponderOptions options_;
  ReplayGuard replay_;
  EnvelopeSigner signer_;
  // The gateway's log keys a checkpoint may be signed by: the pinned card's
  // and, during a rotation of the gateway's keys, every card of the
  // gateway's entry in the signed registry (SetGatewayLogKeys). A key
  // nothing vouches for is refused.
  std::vector<audit::NoteVerifierKey> gateway_log_keys_;
  // Those, and the gateway's cards in the registry's archive of retired
  // cards: only to read the checkpoints this agent kept itself (fork
  // detection across the gateway's key change), never to accept one.
  std::vector<audit::NoteVerifierKey> gateway_kept_keys_;
  void SetGatewayLogKeys();
  // `note` verified by one of gateway_log_keys_ (kept: gateway_kept_keys_);
  // Unauthenticated: by none.
  Result<audit::Checkpoint> OpenGatewayCheckpoint(std::string_view note, bool kept = false) const;
  // The last checkpoints that verified (by gateway_log_keys_): the SHA-256
  // of the exact note and the key that verified it. Only successes; one is
  // used again only while its key is still among gateway_log_keys_.
  struct VerifiedCheckpoint {
    std::string hash;
    std::string public_key;
    audit::Checkpoint checkpoint;
  };
  static constexpr size_t kVerifiedCheckpoints = 8;
  mutable std::deque<VerifiedCheckpoint> verified_checkpoints_;
  uint64_t last_checkpoint_size_ = 0;
  std::string last_checkpoint_root_;
  int64_t last_checkpoint_file_ms_ = 0;  // when a checkpoint was last kept as a file
  int64_t last_receipts_sync_ms_ = 0;    // when receipts.jsonl was last synced
  bool burst_ = false;
  bool receipts_unsynced_ = false;
  // This burst's lines for receipts.jsonl, appended in one write as it ends.
  std::string receipt_lines_;
  void WriteReceiptLines();
  static constexpr int64_t kCheckpointFileEveryMs = 10'000;
  // Request ids answered, for max_request_age_ms (older requests are refused
  // anyway), at most max_remembered_answers.
  ReplayGuard answered_;
  uint64_t heartbeat_sequence_ = 0;
  uint64_t answered_count_ = 0;
  uint64_t refused_count_ = 0;
  LastReceipt last_receipt_;
};

// Copies into `rec` the subjects (refs and keyed pseudonyms, as the
// coordinator signed them) of the request that a kept Authorisation carries;
// with `only_ref`, that subject alone (AuditRecord.subjects; AVG art. 15).
// Nothing when it does not parse. The agent holds no pseudonym key.
void SubjectsOfAuthorisation(const std::string& authorisation, ketenpoort::v1::AuditRecord* rec,
                             const std::string& only_ref = "");

}  // namespace kp::agent

#endif  // KETENPOORT_AGENT_RESPONDER_H_
