// Approvals: the source's own professional decides (docs/agent.md, "The
// source's professional decides"; protocol §3.10).
//
// A request whose permit needs the source's approval (the policy's
// `source_approval` condition, or the partner's own
// `restrictions.approve_categories`) is checked in full and then held here
// instead of answered. A named professional at the partner (the
// poortwachter) lists, approves or declines it with `ketenpoort-agent
// approvals ...`, a separate process writing into the same SQLite file
// (`data_dir/approvals.db`, mode 0600, WAL, synchronous=FULL); the running
// agent looks at the queue each step and answers or refuses what was
// decided. An approval nobody decides before `decide_by_ms` expires.
//
// What is kept: the gateway's Authorisation body, byte for byte. The
// subjects' identifiers in it stay sealed to this agent (the coordinator's
// sealed SubjectData), so the queue holds no personal data in the clear:
// its listing shows ids, categories, purpose, roles and counts only. The
// authorisation is wiped (secure_delete) once the approval is settled.
//
// The same file holds consents the partner records itself (`ketenpoort-agent
// consent record|withdraw`): written by the command, sent by the agent as a
// SOURCE_CONSENT, marked confirmed when the gateway's CASE_RESULT comes, and
// counted by the agent for its own decisions once confirmed.
//
// Not thread-safe: one thread per process; several processes may share the
// file (SQLite locking, a busy timeout of 5 s).
#ifndef KETENPOORT_AGENT_APPROVALS_H_
#define KETENPOORT_AGENT_APPROVALS_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "case/case_facts.h"
#include "core/base/status.h"
#include "core/sqlite/sqlite_db.h"

namespace kp::agent {

enum class ApprovalState {
  kWaiting = 1,   // for the professional
  kApproved = 2,  // decided; the agent has not answered yet
  kDeclined = 3,  // decided; the agent has not refused yet
  kAnswered = 4,  // approved and answered (or refused after all: `outcome` says)
  kRefused = 5,   // declined and refused
  kExpired = 6,   // nobody decided in time; refused
};
std::string_view ApprovalStateName(ApprovalState state);

struct PendingApproval {
  std::string request_id;  // 16 bytes; shown in hex, the CLI takes a unique prefix
  std::string case_id;
  std::string coordinator;          // participant id of who asked
  std::string recipient_partner;    // its partner
  std::string purpose;
  std::vector<std::string> categories;
  std::vector<std::string> rule_ids;
  std::string legal_basis;
  std::string phase;
  std::vector<std::string> subject_roles;  // one per subject asked about (ids only, never who)
  bool justification = false;              // a justification or weighing was sealed with it
  std::string authorisation;               // serialized Authorisation (empty once settled)
  int64_t queued_ms = 0;
  int64_t decide_by_ms = 0;
  ApprovalState state = ApprovalState::kWaiting;
  std::string decided_by;  // the professional's name as typed
  std::string reason;      // approve: optional note; decline: why (sent to the coordinator)
  int64_t decided_ms = 0;
  std::string outcome;     // what the agent did once decided ("answered", "refused: ...")
};

// A consent the partner records itself (SourceConsent, protocol §3.10).
struct SourceConsentEntry {
  int64_t id = 0;  // row id
  std::string case_id, subject_ref, purpose;
  int64_t valid_until_ms = 0;  // 0 when withdrawn
  bool withdrawn = false;
  uint8_t givers = 0;          // policy::ConsentGiverBit; 0: not stated (the subject)
  int age_years = -1;          // -1: not stated
  std::string recorded_by;     // the professional's name as typed
  int64_t written_ms = 0;
  // Sending: the message id of the last SOURCE_CONSENT sent for it, and
  // the gateway's answer.
  std::string message_id;
  bool confirmed = false;
  uint64_t audit_index = 0;
  std::string error;  // the gateway refused it: why (final)
};

class Approvals {
 public:
  // Opens (creating when missing) `data_dir/approvals.db`.
  static Result<std::unique_ptr<Approvals>> Open(const std::string& data_dir);
  ~Approvals();

  // --- the agent
  Status Add(const PendingApproval& approval);
  Result<std::optional<PendingApproval>> Get(const std::string& request_id);
  // Approved or declined and not yet acted on, and waiting ones past their
  // time at `now_ms` (the agent expires them).
  Result<std::vector<PendingApproval>> ToActOn(int64_t now_ms);
  // The agent acted: the final state and what it did; the authorisation goes.
  Status Settle(const std::string& request_id, ApprovalState state, const std::string& outcome);
  // How long a settled entry (answered, refused, expired) stays after its
  // decide_by, for `approvals list --all`: what was decided, by whom, why.
  // The agent's own audit log keeps the decision for good (events 40-43).
  static constexpr int64_t kKeepSettledMs = 30LL * 24 * 3600 * 1000;
  // Deletes the settled entries whose decide_by lies more than
  // kKeepSettledMs before `now_ms` (the agent calls it as it acts on the
  // queue); waiting and decided-but-not-acted-on entries are never touched.
  // Returns how many went.
  Result<size_t> PruneSettled(int64_t now_ms);

  // --- the professional (ketenpoort-agent approvals)
  // Every entry, waiting ones first (`all`: also the settled ones).
  Result<std::vector<PendingApproval>> List(bool all);
  // The one entry whose hex id starts with `hex_prefix` (at least 4 hex
  // digits); NotFound, or InvalidArgument when it names several.
  Result<PendingApproval> Find(const std::string& hex_prefix);
  // Decides a waiting entry (FailedPrecondition when it is not waiting or
  // its time has passed at `now_ms`).
  Status Decide(const std::string& request_id, bool approve, const std::string& by, const std::string& reason,
                int64_t now_ms);

  // --- consents the partner records itself
  Result<int64_t> AddConsent(const SourceConsentEntry& consent);
  Result<std::optional<SourceConsentEntry>> GetConsent(int64_t id);
  // Not yet confirmed nor refused by the gateway.
  Result<std::vector<SourceConsentEntry>> UnsentConsents();
  Status MarkConsentSent(int64_t id, const std::string& message_id);
  Status ConfirmConsent(const std::string& message_id, uint64_t audit_index);
  Status RefuseConsent(const std::string& message_id, const std::string& error);
  Result<std::optional<SourceConsentEntry>> ConsentByMessage(const std::string& message_id);
  // The confirmed consents of `case_id` in force (the latest confirmed
  // record or withdrawal per subject and purpose), as the fold keys them,
  // for `partner`.
  Status FillSourceConsents(const std::string& case_id, const std::string& partner, cases::CaseFacts* facts);

 private:
  explicit Approvals(std::unique_ptr<sqlite::Database> db) : db_(std::move(db)) {}
  std::unique_ptr<sqlite::Database> db_;
};

}  // namespace kp::agent

#endif  // KETENPOORT_AGENT_APPROVALS_H_
