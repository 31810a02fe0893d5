// CoordinatorStore: what a coordinator's machine keeps, in one SQLite file
// (STORE/coordinator.db, folder 0700, file 0600, WAL, synchronous=FULL).
//
// Cases, admitted partners and requests are ids and metadata. Personal data
// is never stored in the clear:
//   - subject data (BSN, name, date of birth) is encrypted with
//     XChaCha20-Poly1305 under a key derived from the coordinator's sealing
//     secret key, bound (associated data) to its case and reference;
//   - a received fragment is kept as the source agent's signed delivery
//     envelope, exactly as it arrived: its content stays sealed to the
//     coordinator's X25519 key, and is opened and verified again each time it
//     is read, so a change to the file is detected, not shown.
// Deleted rows are overwritten (secure_delete). Fragments are removed when
// their retention date has passed, or for a term counted from closure once
// the case closed and the term passed (Purge); subject data of a closed case
// goes with its last fragment.
//
// Not thread-safe: one thread uses it.
#ifndef KETENPOORT_CLIENT_COORDINATOR_STORE_H_
#define KETENPOORT_CLIENT_COORDINATOR_STORE_H_

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/base/status.h"
#include "core/crypto/secret_bytes.h"
#include "core/identity/identity.h"
#include "core/sqlite/sqlite_db.h"
#include "ketenpoort/v1/messages.pb.h"

namespace kp::client {

// A push as this store knows it.
struct PushInfo {
  std::string push_id;  // 16 bytes
  std::string case_id;
  std::string to_partner;
  std::string agent;  // the recipient agent it was sealed to
  std::vector<std::string> categories;
  std::string purpose;
  int64_t sent_ms = 0;
  // "sent" (no answer yet), "accepted" (the gateway holds it for the agent),
  // "received" (the agent confirmed), "refused" (by the gateway or the agent).
  std::string state = "sent";
  std::string reason;  // refused: why (no personal data); refused by whom in `by`
  std::string by;      // who answered: the agent or the gateway
  int64_t answered_ms = 0;
};

struct CaseInfo {
  std::string id;
  std::string purpose;
  std::string phase;
  int64_t opened_ms = 0;
  bool closed = false;
  std::vector<std::string> partners;  // admitted, in order
};

enum class RequestState { kPending, kDelivered, kRefused, kFailed };
std::string_view RequestStateName(RequestState s);

struct RequestInfo {
  std::string request_id;  // 16 bytes
  std::string case_id;
  std::string partner;  // the source partner asked
  std::string agent;    // its enrolled agent (participant id), who must answer
  std::vector<std::string> categories;
  std::string purpose;
  int64_t sent_ms = 0;
  RequestState state = RequestState::kPending;
  std::string
      refusal;  // reason (refused or failed; or why the gateway did not accept it yet), no personal data
  int64_t answered_ms = 0;
  std::string envelope;   // the signed FRAGMENT_REQUEST as sent (sent again byte for byte: protocol §6.1)
  bool accepted = false;  // the gateway confirmed it durably accepted it (ACCEPTED)
};

struct StoredFragment {
  std::string request_id;
  std::string case_id;
  std::string source;  // agent participant id (signer)
  int64_t received_ms = 0;
  int64_t retain_until_ms = 0;
  std::string delivery;  // the agent's signed FRAGMENT_DELIVERY envelope, as received
  // A fragment handed over by a former coordinator (docs/cli.md, "Handover"):
  // the agent's signed FRAGMENT_CONTENT envelope, byte for byte (its header
  // names `handed_by`, the coordinator it was sealed to, as recipient),
  // kept encrypted like subject data. Empty for a fragment this coordinator
  // asked for itself: its content stays sealed inside `delivery`.
  std::string content;
  std::string handed_by;
  // Kept while the case is open and this long after it closed, instead of
  // until retain_until_ms (then 0): protocol §3.3, FragmentContent.
  int64_t retain_after_closure_ms = 0;
};

// A referral as the referrer sent it, or as a coordinator received it.
struct ReferralInfo {
  std::string id;                 // 16 bytes: the REFERRAL envelope's message id
  bool received = false;          // true: in a coordinator's store; false: sent by this referrer
  std::string sender;             // the referrer's participant id
  int64_t at_ms = 0;              // sent (referrer) or received (coordinator)
  ketenpoort::v1::Referral body;  // as signed, without the sealed copies
  std::string envelope;           // received: the signed REFERRAL envelope, byte for byte
  // REFERRAL_STATE_UNSPECIFIED: sent, the gateway did not confirm it (yet).
  ketenpoort::v1::ReferralState state = ketenpoort::v1::REFERRAL_STATE_UNSPECIFIED;
  std::string case_id;  // accepted: the case opened on it
  std::string decided_by;
  std::string reason_code;  // declined: why
  int64_t decided_ms = 0;
};

// The gateway's reading of a case (CaseStatus) as it came with the last
// CaseResult or CaseChain, and when it came.
struct KnownStatus {
  ketenpoort::v1::CaseStatus status;
  int64_t at_ms = 0;
};

// A watch this coordinator asked for (docs/cli.md, "Watches"). Ids only.
enum class WatchState { kWaiting = 0, kActive = 1, kRefused = 2, kEnded = 3 };
std::string_view WatchStateName(WatchState state);
struct WatchInfo {
  std::string watch_id;  // the watch request's id (16 bytes)
  std::string case_id;
  std::string partner;  // the source partner that keeps it
  std::string agent;    // its agent, who alone may signal
  std::vector<std::string> categories;
  std::vector<std::string> subject_refs;
  int64_t sent_ms = 0;
  int64_t until_ms = 0;
  WatchState state = WatchState::kWaiting;
  std::string reason;  // refused: why; ended: the code
};

// A content-free signal from a watch: whose records changed, in which
// category, when. The coordinator then requests as usual.
struct SignalInfo {
  std::string signal_id;  // the agent's signal message id (16 bytes)
  std::string watch_id;
  std::string case_id;
  std::string partner;
  std::string subject_ref;
  std::string category;
  int64_t changed_at_ms = 0;
  int64_t received_ms = 0;
};

class CoordinatorStore {
 public:
  // Opens (creating) DIR/coordinator.db. DIR is made 0700 when missing and
  // refused when others may write it; `me` must outlive the store.
  static Result<std::unique_ptr<CoordinatorStore>> Open(const std::string& dir, const Identity& me);
  ~CoordinatorStore();

  // Several changes as one transaction (one sync): pipelined use, many
  // requests sent or answers taken in at once. The other methods nest.
  Status Begin();
  // A transaction whose commit is written to the WAL but not synced: it
  // survives this process's crash, and is lost only when the machine stops
  // before the next durable commit (whose sync covers the whole WAL, this
  // one included). Only for what may be lost that way: the gateway's
  // confirmations (ACCEPTED; the request then stays "not confirmed" and is
  // sent again by hand, as before the confirmation came). Never for an
  // answer, nor for anything that must be durable before something is sent.
  Status BeginUnsynced();
  Status Commit();
  void Rollback();
  // Whether a commit now is synced (synchronous=FULL, as after every
  // transaction's end).
  Result<bool> CommitsAreSynced();

  Status PutCase(const CaseInfo& c);  // insert, or update phase and closed

  // The case's chain of signed commands as this client knows it (protocol
  // §3.5): its own commands the gateway confirmed, or a chain fetched from
  // the gateway and checked. "Unsure" marks a case whose last command may
  // or may not have been taken (no answer came): its chain is fetched and
  // checked again before anything is signed on it.
  struct Head {
    std::string hash;  // empty: no chain known
    uint64_t length = 0;
    bool unsure = false;
  };
  Status AppendCommand(const std::string& case_id, uint64_t seq, const std::string& hash,
                       const std::string& envelope);
  Result<std::vector<std::string>> Chain(const std::string& case_id);
  Result<Head> ChainHead(const std::string& case_id);
  Status ReplaceChain(const std::string& case_id, const std::vector<std::string>& envelopes,
                      const std::vector<std::string>& hashes);
  Status SetChainUnsure(const std::string& case_id, bool unsure);
  Status AddPartner(const std::string& case_id, const std::string& partner, int64_t now_ms);
  Status RemovePartner(const std::string& case_id, const std::string& partner);
  Status PutStatus(const std::string& case_id, const ketenpoort::v1::CaseStatus& status, int64_t at_ms);
  Result<std::optional<KnownStatus>> GetStatus(const std::string& case_id);
  Result<CaseInfo> GetCase(const std::string& case_id);
  Result<std::vector<CaseInfo>> ListCases();

  // Every case in one list (the console's "Mijn casussen"), from a few
  // aggregate queries rather than one per case: counts only, nothing opened.
  struct CaseSummary {
    CaseInfo info;        // without partners (see `partners`)
    size_t partners = 0;  // admitted, as this store knows
    size_t requests = 0;
    size_t waiting = 0;      // requests not answered yet
    size_t new_answers = 0;  // answers (fragments or refusals) since the case was last looked at;
                             // a watch's confirmation (WATCH_STARTED) is none, its refusal is one
    size_t fragments = 0;
    size_t expiring = 0;  // fragments to delete before `expiring_before_ms`
    int64_t seen_ms = 0;  // when the case was last looked at (MarkCaseSeen); 0: never
    std::optional<KnownStatus> status;
  };
  Result<std::vector<CaseSummary>> CaseSummaries(int64_t expiring_before_ms);
  // The coordinator looked at the case's answers at `at_ms` (what counts as new).
  Status MarkCaseSeen(const std::string& case_id, int64_t at_ms);

  // Subject data, encrypted at rest; returned opened (locked memory is not
  // used for these protobufs: they live only as long as one command).
  Status PutSubject(const std::string& case_id, const ketenpoort::v1::Subject& subject);
  Result<std::vector<ketenpoort::v1::Subject>> Subjects(const std::string& case_id);

  Status AddRequest(const RequestInfo& r);
  Result<std::optional<RequestInfo>> GetRequest(const std::string& request_id);
  Result<std::vector<RequestInfo>> Requests(const std::string& case_id);  // "" = all
  Status MarkRefused(const std::string& request_id, const std::string& reason, int64_t now_ms);
  // The gateway confirmed it holds the request (its answer will come).
  Status MarkAccepted(const std::string& request_id);
  // The gateway's log index of its decision on the request, from its
  // ACCEPTED (nothing before one came). A later ACCEPTED with another index
  // means the gateway took the request as new: it had lost it (restored
  // from a backup; client/resend_waiting.cc).
  Result<std::optional<uint64_t>> AcceptedIndex(const std::string& request_id);
  Status SetAcceptedIndex(const std::string& request_id, uint64_t audit_index);
  // Requests waiting for an answer, oldest first.
  Result<std::vector<RequestInfo>> WaitingRequests();
  // The gateway could not take it now (nothing was done): it stays waiting,
  // to be sent again; `reason` says why.
  Status MarkNotAccepted(const std::string& request_id, const std::string& reason);
  // The request was never handled (not sent, or the gateway could not take
  // it); `reason` says why. Only a waiting request changes.
  Status MarkFailed(const std::string& request_id, const std::string& reason, int64_t now_ms);
  // Stores the fragment and marks its request delivered, in one transaction.
  Status PutFragment(const StoredFragment& f);
  // Stores a fragment handed over by a former coordinator (its `content`
  // encrypted at rest); a second copy of the same request is ignored.
  Status PutHandedFragment(const StoredFragment& f);
  Result<std::vector<StoredFragment>> Fragments(const std::string& case_id);  // "" = all

  // Removes the case's subject data and fragments (after a handover for
  // good): the case's metadata and history stay. Returns how many rows went.
  Result<size_t> ForgetCaseData(const std::string& case_id);

  // Referrals (sent or received). A received referral's subject data (the
  // SubjectData sealed to this coordinator, opened) is encrypted like a
  // case's subjects, until it is accepted (then it is the case's) or
  // declined (then it goes).
  Status PutReferral(const ReferralInfo& r);  // a second copy is ignored
  Status UpdateReferral(const std::string& id, ketenpoort::v1::ReferralState state,
                        const std::string& case_id, const std::string& decided_by,
                        const std::string& reason_code, int64_t decided_ms);
  Result<std::optional<ReferralInfo>> GetReferral(const std::string& id);
  Status DeleteReferral(const std::string& id);
  Result<std::vector<ReferralInfo>> Referrals();
  Status PutReferralSubjects(const std::string& id, const std::vector<ketenpoort::v1::Subject>& subjects);
  Result<std::vector<ketenpoort::v1::Subject>> ReferralSubjects(const std::string& id);
  Status DropReferralSubjects(const std::string& id);

  // Pushes this coordinator sent (client/push.cc): ids and metadata only.
  Status AddPush(const PushInfo& p);
  Result<std::optional<PushInfo>> GetPush(const std::string& push_id);
  Status UpdatePush(const PushInfo& p);
  Result<std::vector<PushInfo>> Pushes(const std::string& case_id);  // "" = all

  // Parts of a handover received: true when this part is new.
  Result<bool> AddHandoverPart(const std::string& case_id, const std::string& offer, uint32_t part,
                               uint32_t parts, int64_t now_ms);
  // How many distinct parts of the handover `offer` arrived, and of how many.
  Result<std::pair<uint32_t, uint32_t>> HandoverParts(const std::string& case_id, const std::string& offer);

  // When the case closed (the close command's signing time): fragments kept
  // "N days from closure" (retain_after_closure_ms) go N days after it.
  // The earliest moment given stays (coordinator_store_retention.cc).
  Status SetClosedAt(const std::string& case_id, int64_t closed_ms);
  Result<std::optional<int64_t>> ClosedAt(const std::string& case_id);

  struct Purged {
    size_t fragments = 0;
    size_t subjects = 0;
  };
  // Removes fragments whose retention date has passed, and the subject data
  // of closed cases that no longer hold a fragment.
  Result<Purged> Purge(int64_t now_ms);

  // Watches and signals (client/watch_store.cc).
  Status PutWatch(const WatchInfo& watch);
  Result<std::optional<WatchInfo>> GetWatch(const std::string& watch_id);
  // A case's watches ("" : all), newest first, with the state their request
  // and case give them now (refused, ended by date or closure).
  Result<std::vector<WatchInfo>> Watches(const std::string& case_id, int64_t now_ms);
  Status SetWatchState(const std::string& watch_id, WatchState state, const std::string& reason);
  // The watch's request is answered: the agent keeps the watch.
  Status MarkWatchStarted(const std::string& watch_id, int64_t now_ms);
  // False when it was already kept (a second copy).
  Result<bool> PutSignal(const SignalInfo& signal);
  // A case's signals ("" : all), newest first; at most `limit`.
  Result<std::vector<SignalInfo>> Signals(const std::string& case_id, size_t limit = 1000);
  // Per case, the signals received since the case was last looked at
  // (MarkCaseSeen); cases without any are absent.
  Result<std::map<std::string, size_t>> NewSignalCounts();
  // When the case was last looked at (0: never).
  Result<int64_t> CaseSeenMs(const std::string& case_id);

  // A request the source holds for its professional's approval (its
  // APPROVAL_PENDING, protocol §3.10): until when (approval_waits.cc).
  Status NoteApprovalWait(const std::string& request_id, int64_t decide_by_ms);
  // 0 when the source does not hold it (or no longer: the request was
  // answered, refused or failed).
  Result<int64_t> ApprovalWaitUntil(const std::string& request_id);
  // Forgets the waits of requests that no longer wait (answered, refused,
  // failed, or gone with their case's data); returns how many. Purge and
  // every new wait call it.
  Result<size_t> PruneApprovalWaits();

  static std::string DatabasePath(const std::string& dir) { return dir + "/coordinator.db"; }

 private:
  CoordinatorStore(std::unique_ptr<sqlite::Database> db, SecretBytes key);
  Status EnsurePushTable();  // push.cc
  // Back to synchronous=FULL after a BeginUnsynced transaction ended.
  Status EndUnsynced();
  std::unique_ptr<sqlite::Database> db_;
  SecretBytes key_;          // XChaCha20-Poly1305 key for subject data
  bool unsynced_ = false;    // synchronous=NORMAL in force (BeginUnsynced)
  bool push_table_ = false;  // the pushes table is known to exist (push.cc)
};

}  // namespace kp::client

#endif  // KETENPOORT_CLIENT_COORDINATOR_STORE_H_
