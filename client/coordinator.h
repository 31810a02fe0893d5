// Coordinator: the casusregisseur's side of the protocol (issue 7).
//
// It keeps cases, subject data, requests and received fragments in the
// local CoordinatorStore; talks to the gateway over CURVE; signs case
// commands and fragment requests; seals subject data to the one agent asked;
// and accepts an answer only when it verifies:
//   - a delivery must be signed by the enrolled agent of the partner asked,
//     name this coordinator and one of its own waiting requests, and carry
//     sealed content signed by that same agent, bound to that request, for
//     the case and categories asked, with a retention date;
//   - a refusal must come from the gateway or from that agent.
// An answer for a request that is no longer waiting is ignored, so a replay
// or a second copy from the inbox is never stored twice. Answers may be old
// (held in the gateway's inbox for days), so no freshness window applies to
// them; their binding to a request this client made is what makes them
// fresh (docs/protocol.md §3.3).
//
// Not thread-safe: one thread uses it.
#ifndef KETENPOORT_CLIENT_COORDINATOR_H_
#define KETENPOORT_CLIENT_COORDINATOR_H_

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "case/case_facts.h"
#include "case/policy_bundle.h"
#include "case/pseudonym.h"
#include "client/client_config.h"
#include "client/coordinator_store.h"
#include "core/base/clock.h"
#include "core/base/status.h"
#include "core/envelope/envelope.h"
#include "core/identity/identity.h"
#include "core/identity/registry.h"
#include "ketenpoort/v1/messages.pb.h"

namespace kp {
class TransportContext;
class DealerClient;
}  // namespace kp

namespace kp::client {

struct RequestSpec {
  std::string case_id;
  std::string partner;  // source partner (policy id), e.g. "politie"
  std::vector<std::string> categories;
  std::string purpose;
  std::vector<std::string> subject_refs;  // empty: every subject of the case
  std::string justification;              // sealed to the agent; empty: none
  // The conflict-of-duties weighing, sealed to the agent; the request then
  // declares JUSTIFICATION_KIND_WEIGHING. The client does not judge the
  // answers (the CLI and the console do, with policy::AssessJustification,
  // before they send): the source agent assesses what is sealed, whatever
  // the request declares (docs/protocol.md §3.3).
  std::optional<ketenpoort::v1::Weighing> weighing;
  // A watch (docs/protocol.md §3.8): not an answer now, but content-free
  // signals whenever the source has changed records, until then. 0: an
  // ordinary request. Use Watch().
  int64_t watch_until_ms = 0;
};

// Something the coordinator sends to a partner (docs/protocol.md §3.9),
// e.g. the veiligheidsplan to the police: signed by this coordinator, sealed
// to the partner's agent.
struct PushSpec {
  std::string case_id;
  std::string to_partner;
  std::string purpose;
  std::vector<std::string> subject_refs;    // empty: every subject the content names
  ketenpoort::v1::FragmentContent content;  // categories and records (case id and keep-until are filled in)
  int keep_days = 365;  // the recipient keeps it until then (at most the policy's retention)
  // Count keep_days from the case's closure (the policy's retention_from:
  // closure): the content then says retain_after_closure_ms (protocol §3.3).
  bool keep_from_closure = false;
};

// One thing the coordinator could send (the console's choices): a partner,
// a category, and what the policy says about it.
struct PushChoice {
  std::string partner;
  std::string category;
  policy::Decision decision;  // borrows from the policy asked: valid while it lives
};

// What became of a request.
struct Outcome {
  enum class Kind { kDelivered, kRefused, kError };
  Kind kind = Kind::kError;
  std::string request_id;
  std::string case_id;
  std::string signer;                       // who signed the answer (agent or gateway)
  int64_t signed_ms = 0;                    // when it was signed (signer's clock)
  int64_t retain_until_ms = 0;              // delivered: keep until, or 0 when ...
  int64_t retain_after_closure_ms = 0;      // ... kept while the case is open and this long after it closed
  ketenpoort::v1::FragmentContent content;  // delivered
  ketenpoort::v1::Refusal refusal;          // refused
  bool watch_started = false;               // kDelivered for a watch: the agent keeps it (no content)
  Status error;                             // kError: what went wrong (e.g. verification failed)
};

// A referral to send (docs/cli.md, "Referrals"): codes and ids only; the
// subjects' identifiers go sealed to the coordinators of `to_partner`.
struct ReferralSpec {
  std::string reference;             // the referrer's own number
  std::string to_partner;            // e.g. "veiligheidsteam"
  std::string purpose;               // the purpose the case would open with
  std::vector<std::string> reasons;  // codes from the policy's referral reasons
};

// An offer of a case to the next coordinator, and its hand-over data.
struct HandoverSent {
  ketenpoort::v1::CaseResult result;
  std::string offer;   // hash of the OfferHandover command
  uint32_t parts = 0;  // HANDOVER_PACKAGE parts sent and confirmed
  size_t subjects = 0;
  size_t fragments = 0;
  std::vector<std::string> left_out;  // why a fragment did not go (ids only)
};

// A case taken over: what came with it (so far).
struct HandoverTaken {
  ketenpoort::v1::CaseResult result;
  std::string offer;
  uint32_t parts_received = 0;  // distinct parts of this handover taken in (all fetches)
  uint32_t parts = 0;           // of how many (0: none came yet)
  size_t subjects = 0;          // kept now
  size_t fragments = 0;         // kept now: only what arrived
  uint32_t withheld = 0;        // fragments the gateway kept back by the policy (its notice)
};

// What came in besides answers to requests (inbox fetch, or meanwhile), in
// ids only.
struct News {
  // A HANDOVER_DATA_WITHHELD notice's `by` is the new coordinator, as the
  // case's history this client holds shows it.
  std::vector<ketenpoort::v1::CaseNotice> notices;
  std::vector<ketenpoort::v1::ReferralStatus> referral_statuses;
  std::vector<std::string> referrals;  // ids of referrals received and kept
  std::vector<std::string> handovers;  // "CASE part i/n: s subject(s), f fragment(s)"
  std::vector<std::string> forgotten;  // cases whose data went after a handover for good
  std::vector<Status> problems;        // messages that did not verify, and why
  // Requests the source holds for its professional's approval (§3.10).
  std::vector<ketenpoort::v1::ApprovalPending> approvals_pending;
  // Waiting requests this client sent again after a new connection
  // (client/resend_waiting.cc) that the gateway no longer held — it was
  // restored from a backup: taken as new (`resent_after_restore`: the answer
  // will come), or refused again, e.g. too old by now (`expired_after_restore`:
  // the request failed; ask again).
  struct RequestNote {
    std::string request_id;  // 16 bytes
    std::string case_id;
  };
  std::vector<RequestNote> resent_after_restore;
  std::vector<RequestNote> expired_after_restore;
};

// A case notice in words ("case VT-2026-0001 was offered to you by ...").
// `me`, this client's participant id, tells a HANDOVER_DATA_WITHHELD notice
// to the new coordinator (its `by`) from the one to the former coordinator.
std::string NoticeText(const ketenpoort::v1::CaseNotice& notice, std::string_view me = {});
std::string_view ReferralStateName(ketenpoort::v1::ReferralState state);

class Coordinator {
 public:
  // Loads the identity (kind coordinator), the pinned cards, the registry and
  // the store, and removes expired fragments. Does not connect yet.
  // `passphrase` is asked only when the identity file is protected
  // (docs/formats.md §1.2); without one such a file is refused. The CLI and
  // the console pass kp::TerminalOrEnvPassphraseProvider()
  // (core/identity/passphrase_prompt.h).
  static Result<std::unique_ptr<Coordinator>> Open(const ClientConfig& config, const Clock& clock,
                                                   const PassphraseProvider& passphrase = {});
  ~Coordinator();

  // Connects to the gateway (CURVE): Unavailable when unreachable,
  // Unauthenticated when it refuses this key.
  Status Connect(int handshake_ms = 5000);

  // --- case commands (signed; the gateway's CaseResult, or its refusal as a Status)
  // Opens a case for `purpose` with these subjects (refs "S1", "S2", ... are
  // assigned in order when empty); keeps their data in the local store.
  Result<ketenpoort::v1::CaseResult> OpenCase(const std::string& purpose,
                                              std::vector<ketenpoort::v1::Subject> subjects);
  Result<ketenpoort::v1::CaseResult> Admit(const std::string& case_id, const std::string& partner);
  Result<ketenpoort::v1::CaseResult> ChangePhase(const std::string& case_id, const std::string& phase);
  // A consent given by `givers` (policy::ConsentGiverBit: the subject, the
  // parents, or both), with the subject's age now computed from the date of
  // birth this client holds (none stated when it holds none), which the
  // source agent checks against the date of birth sealed to it.
  Result<ketenpoort::v1::CaseResult> RecordConsent(const std::string& case_id, const std::string& subject_ref,
                                                   const std::string& purpose, int64_t valid_until_ms,
                                                   uint8_t givers = policy::kGiverSubject);
  Result<ketenpoort::v1::CaseResult> RecordGatekeeperApproval(const std::string& case_id,
                                                              const std::string& partner,
                                                              const std::vector<std::string>& categories,
                                                              const std::string& purpose,
                                                              int64_t valid_until_ms);
  Result<ketenpoort::v1::CaseResult> Close(const std::string& case_id, const std::string& reason_code);
  // Adds a subject (ref "S<n+1>" when empty) with a fresh commitment; its
  // data stays in the local store.
  // `assigned_ref`, when given, receives the subject's ref.
  Result<ketenpoort::v1::CaseResult> AddSubject(const std::string& case_id, ketenpoort::v1::Subject subject,
                                                std::string* assigned_ref = nullptr);
  // Samen op in Acuut: opens an acute case (OpenCase.acute); the policy's
  // acute phase, partners and window apply (the gateway's CaseStatus says).
  Result<ketenpoort::v1::CaseResult> OpenAcuteCase(const std::string& purpose,
                                                   std::vector<ketenpoort::v1::Subject> subjects);
  Result<ketenpoort::v1::CaseResult> RemovePartner(const std::string& case_id, const std::string& partner,
                                                   const std::string& reason_code);

  // --- handovers (docs/cli.md, "Handover")
  // Signs an OfferHandover on the checked head, then sends the hand-over
  // data signed by this coordinator, sealed to `to`, in HANDOVER_PACKAGE
  // parts: the subjects with their salts in one part (no request id), then
  // every fragment kept for the case in a part of its own (the agent's
  // signed content byte for byte), naming the request it answers. The
  // gateway holds the parts until the offer is accepted, then lets over only
  // the fragments the policy gives `to` (protocol §3.6, "What goes over").
  // `fragments` counts the fragment parts the gateway took, not what it
  // will let over.
  Result<HandoverSent> OfferHandover(const std::string& case_id, const std::string& to,
                                     const std::string& reason_code, int64_t expires_ms,
                                     int64_t stand_in_until_ms);
  // The offered participant: fetches and checks the case's history, signs
  // AcceptHandover on the pending offer, then fetches its inbox and takes in
  // the hand-over data (each part verified: the former coordinator's
  // signature, each fragment's agent signature; a part naming a request
  // carries exactly that one fragment). `withheld` says how many fragments
  // the gateway kept back (its HANDOVER_DATA_WITHHELD notice).
  Result<HandoverTaken> AcceptHandover(const std::string& case_id);
  Result<ketenpoort::v1::CaseResult> CancelHandover(const std::string& case_id,
                                                    const std::string& reason_code);
  // After a handover for good (not a stand-in) was accepted: this client's
  // copies of the case's subject data and fragments go. Done by itself when
  // a HANDOVER_ACCEPTED notice comes or a fetched history shows it; true
  // when something was deleted.
  Result<bool> ForgetIfHandedAway(const std::string& case_id, const cases::CaseFacts& facts);

  // --- referrals (docs/cli.md, "Referrals")
  // The referrer: seals the subjects (refs "S1", ... when empty; fresh salts
  // and commitments) to every coordinator of spec.to_partner in the signed
  // registry, sends the signed REFERRAL and waits for the gateway's
  // REFERRAL_STATUS. The referrer keeps no identifiers.
  Result<ketenpoort::v1::ReferralStatus> SendReferral(const ReferralSpec& spec,
                                                      std::vector<ketenpoort::v1::Subject> subjects);
  // A referral in the store by its id in hex, or a unique prefix of it.
  Result<ReferralInfo> FindReferral(const std::string& hex_prefix);
  // A coordinator: opens the case on a received, waiting referral (OpenCase
  // carrying the REFERRAL envelope byte for byte, with exactly its subjects),
  // and keeps the subjects' data as for a case it opened.
  Result<ketenpoort::v1::CaseResult> AcceptReferral(const std::string& referral_id);
  Result<ketenpoort::v1::ReferralStatus> DeclineReferral(const std::string& referral_id,
                                                         const std::string& reason_code);

  // What came in besides answers to requests since the last call.
  News TakeNews();
  // Whether `id` coordinates the case now, by the history this client holds.
  // With `policy` (the console's, for what may be asked) the fold also
  // reads the policy: the phase, roles and acute window as the gateway does.
  Result<cases::CaseFacts> LocalFacts(const std::string& case_id, const policy::Policy* policy = nullptr);
  Result<ketenpoort::v1::CaseResult> WithdrawConsent(const std::string& case_id,
                                                     const std::string& subject_ref,
                                                     const std::string& purpose);
  // Fetches the case's whole history from the gateway, checks it (every
  // command signed by the case's coordinator, each following the one
  // before, nothing this client signed left out) and keeps it as the head
  // it signs on. Done by itself before signing on a case whose last command
  // got no clear answer.
  Result<cases::CaseFacts> SyncCase(const std::string& case_id);

  // --- a partner receives (docs/cli.md, "Sending to a partner")
  // Seals the subjects and the content (PUSH_CONTENT, signed by this
  // coordinator) to the partner's agent, sends the FRAGMENT_PUSH on the
  // case's checked head, and waits up to `timeout_ms` for its end: the
  // agent's PUSH_RECEIVED or a refusal (the gateway's or the agent's). A push
  // the gateway accepted but whose agent is away stays "accepted"; its
  // answer comes to the inbox. Returns the push as stored.
  Result<PushInfo> Push(const PushSpec& spec, int timeout_ms);
  Result<std::vector<PushInfo>> Pushes(const std::string& case_id);
  // What `policy` (the region's, as the console and `send` load it) says
  // about this push before it goes, asked as the gateway will ask it
  // (case/push.h: CheckPush, then DecidePush) on this client's copy of the
  // case: a failed check is the Status, a refusal a deny Decision. The
  // gateway decides again when it arrives.
  Result<policy::Decision> PushDecision(const PushSpec& spec, const policy::Policy& policy);
  // For every partner admitted to the case but this coordinator's own, and
  // every category of the policy: what `policy` says about sending it for
  // `purpose` about `subject_refs` now (PushDecision); partners by id,
  // categories in the policy's order.
  Result<std::vector<PushChoice>> PushChoices(const std::string& case_id, const std::string& purpose,
                                              const std::vector<std::string>& subject_refs,
                                              const policy::Policy& policy);

  // --- watches and signals (docs/cli.md, "Watches")
  // Asks the partner's agent to watch the subjects in these categories
  // until spec.watch_until_ms: a request like any other (policy, audit),
  // answered by the agent's WATCH_STARTED signal (an Outcome with
  // watch_started) or a refusal; from then on its CHANGED signals are kept
  // in the store (Signals). Returns the watch id.
  Result<std::string> Watch(const RequestSpec& spec);

  // --- requests
  // Seals the subjects' data to the partner's agent, records the request as
  // waiting, sends it; returns the request id (16 bytes).
  Result<std::string> SendRequest(const RequestSpec& spec);
  // The same for several requests, recorded in one transaction (pipelined
  // use); returns their ids in order. All or none are sent.
  Result<std::vector<std::string>> SendRequests(const std::vector<RequestSpec>& specs);
  // Sends a waiting request again, byte for byte as it was first sent
  // (protocol §6.1): the gateway answers ACCEPTED (and the answer, when it
  // came meanwhile) for a request it holds, and takes it as new when it
  // never got it. Use when the gateway did not confirm it (RequestInfo
  // .accepted false). Then wait with AwaitOutcome.
  Status Resend(const std::string& request_id);
  // Waits up to `timeout_ms` for the answer to `request_id`, handling
  // everything else that arrives meanwhile. DeadlineExceeded when none came
  // (the request stays waiting: fetch it later with FetchInbox).
  Result<Outcome> AwaitOutcome(const std::string& request_id, int timeout_ms);
  // Handles what arrives within `timeout_ms`, calling `sink` for each answer
  // to a waiting request (for pipelined use: many requests in flight). What
  // arrives together is taken in as one burst, stored in one transaction, and
  // reported once it is durable. Returns how many messages arrived (verified
  // or not). Returns after the first burst when `first_only`.
  Result<size_t> Poll(int timeout_ms, const std::function<void(const Outcome&)>& sink,
                      bool first_only = false);
  // Asks the gateway for what it held while this coordinator was away
  // (optionally one case); returns the answers it handled.
  Result<std::vector<Outcome>> FetchInbox(const std::string& case_id);

  // Opens and verifies a stored fragment again (the store keeps it sealed).
  Result<Outcome> ReadFragment(const StoredFragment& f) const;
  Result<CoordinatorStore::Purged> Purge();

  CoordinatorStore& store() { return *store_; }
  const Identity& identity() const { return *me_; }
  const ClientConfig& config() const { return config_; }
  const Registry& registry() const { return *registry_; }
  // The region's policy as this client knows it (client/config_updates.cc):
  // the policy in force now of the signed policy bundle it took from the
  // gateway (kept in the store folder, config/policy), else the configured
  // `policy:` file. FailedPrecondition when it has neither. The client never
  // decides with it: the console and `push` show with it what may be asked.
  Result<std::shared_ptr<const policy::Policy>> PolicyInForce() const;
  // The signed policy bundle taken from the gateway, or null.
  const std::shared_ptr<const cases::PolicySet>& policies() const { return policies_; }
  // The region's pseudonym key this client writes under (config
  // pseudonym_key): every SubjectRef it signs carries the subject's keyed
  // pseudonyms (case/pseudonym.h).
  const cases::PseudonymKey& pseudonym_key() const { return *pseudonym_key_; }

 private:
  Coordinator(ClientConfig config, const Clock& clock);
  // A case command the gateway confirmed, as it was signed.
  struct Confirmed {
    ketenpoort::v1::CaseResult result;
    std::string envelope;
    uint64_t sequence = 0;
  };
  // Signs `cmd` on the case's checked head (previous, sequence), sends it
  // and waits for the gateway's CaseResult or refusal.
  Result<Confirmed> Command(ketenpoort::v1::CaseCommand cmd);
  Result<Confirmed> ChangeCaseConfirmed(const ketenpoort::v1::CaseCommand& cmd,
                                        const std::function<Status()>& also_keep = nullptr);
  // Opens a case with `cmd` (an OpenCase with its subjects' refs and
  // commitments filled in) and keeps `subjects` (wiped afterwards).
  Result<ketenpoort::v1::CaseResult> OpenWith(
      const ketenpoort::v1::CaseCommand& cmd, std::vector<ketenpoort::v1::Subject>& subjects,
      const std::function<Status(const std::string& case_id)>& also_keep);
  // Fills in refs, salts and commitments; `out` receives the SubjectRefs.
  Status Commit(std::vector<ketenpoort::v1::Subject>& subjects,
                google::protobuf::RepeatedPtrField<ketenpoort::v1::SubjectRef>* out);
  // Messages kept aside while receiving, handled once the inbox is in:
  // referrals, hand-over parts, notices that ask for an action.
  void Stash(const VerifiedEnvelope& env, const std::string& raw);
  void HandleStash(bool may_sync);
  Status TakeReferral(const std::string& raw);
  Status TakeStatus(const ketenpoort::v1::ReferralStatus& status);
  Status TakeHandoverPart(const VerifiedEnvelope& env, bool may_sync);
  // The registry through the gateway (client/config_updates.cc; protocol
  // §3.13): the higher serial of config.registry and the copy kept in the
  // store folder; a CONFIG_FETCH after each handshake; a CONFIG_BUNDLE
  // verified against the pinned enrolment card, kept, and switched to.
  static Result<Registry> LoadRegistryFor(const ClientConfig& config,
                                          const std::string& enrolment_public_key);
  // The policy bundle kept in the store folder (verified again, its serial
  // not below config/serials), or null when there is none or it is refused.
  static std::shared_ptr<const cases::PolicySet> LoadPoliciesFor(const ClientConfig& config,
                                                                 const std::string& enrolment_public_key,
                                                                 const Registry& registry);
  void SendConfigFetch();
  void TakeConfigBundle(const VerifiedEnvelope& env);
  std::string enrolment_public_key_;
  std::vector<std::pair<VerifiedEnvelope, std::string>> stash_;
  News news_;
  // Command, then the local copy of the case follows the gateway's answer
  // (phase; closed after a close; the command in the chain; `also_keep`),
  // in one transaction.
  Result<ketenpoort::v1::CaseResult> ChangeCase(const ketenpoort::v1::CaseCommand& cmd,
                                                const std::function<Status()>& also_keep = nullptr);
  // The case's history is checked (SyncCase when unsure or unknown).
  Status EnsureChain(const std::string& case_id);
  // The gateway's answer (or its ERROR as a Status) to message `id`;
  // nothing when none came within the configured timeout. Answers to
  // requests that arrive meanwhile go to `sink`.
  Result<std::optional<VerifiedEnvelope>> AwaitAnswer(
      const std::string& id, const std::function<void(const Outcome&)>& sink = nullptr);
  // Signs and sends; the signed message (its id and bytes).
  Result<SignedMessage> Send(ketenpoort::v1::MessageKind kind, const std::string& body,
                             const std::string& message_id = "");
  // Receives one message (or nothing) within `timeout_ms` and handles it.
  // Answers to requests go to `sink`; a CaseResult/Error whose request id
  // is `awaited` is returned.
  Result<std::optional<VerifiedEnvelope>> ReceiveOne(int timeout_ms, const std::string& awaited,
                                                     const std::function<void(const Outcome&)>& sink);
  Result<std::optional<VerifiedEnvelope>> HandleMessage(const std::string& raw, const std::string& awaited,
                                                        const std::function<void(const Outcome&)>& sink);
  // HandleMessage of a message already verified (or that failed to).
  Result<std::optional<VerifiedEnvelope>> HandleVerified(Result<VerifiedEnvelope> env, const std::string& raw,
                                                         const std::string& awaited,
                                                         const std::function<void(const Outcome&)>& sink);
  Outcome HandleAnswer(const VerifiedEnvelope& env, const std::string& raw, const RequestInfo& request);
  // After each handshake (a restarted or restored gateway): every waiting
  // request the gateway had accepted goes again, byte for byte (protocol
  // §6.1), so one the gateway lost is taken as new or refused, never left
  // waiting silently (client/resend_waiting.cc).
  void ResendWaiting();
  // ResendWaiting when the dealer completed a handshake since the last time.
  void ResendAfterHandshake();
  // The gateway's ACCEPTED: the request is accepted, at which log index; a
  // new index for a request it had accepted before is news.
  Status TakeAccepted(const ketenpoort::v1::RequestAccepted& accepted);
  // The gateway's ERROR for a request it had accepted before: it lost it
  // and cannot take it again. The request fails, with news.
  Outcome RefusedAfterLoss(const RequestInfo& request, Outcome o);
  uint64_t handshakes_seen_ = 0;  // the dealer's handshakes when the waiting requests last went
  // An APPROVAL_PENDING from the agent asked (approval_waits.cc).
  Status TakeApprovalPending(const VerifiedEnvelope& env);
  // A SIGNAL from an agent about one of this client's watches (watches.cc).
  Status TakeSignal(const VerifiedEnvelope& env, const std::function<void(const Outcome&)>& sink);
  // An ACCEPTED, REFUSAL or PUSH_RECEIVED about one of this client's pushes
  // (push.cc): true when it was one (then it is handled).
  Result<bool> TakePushAnswer(const VerifiedEnvelope& env);
  struct PreparedRequest {
    std::string id;
    RequestInfo info;
    std::string body;  // serialized FragmentRequest
  };
  Result<PreparedRequest> Prepare(const RequestSpec& spec);
  // The subject's age in whole years now, from the date of birth in the
  // store (coordinator_consent.cc); nothing when the store holds none.
  Result<std::optional<int>> AgeOfSubject(const std::string& case_id, const std::string& ref);
  Result<Outcome> VerifyDelivery(const VerifiedEnvelope& env, const RequestInfo& request) const;
  // A fragment handed over to this coordinator: the agent's content
  // envelope verifies, names `f.handed_by` and the request, and holds
  // the categories the agent's delivery lists, about the case.
  Result<Outcome> ReadHandedFragment(const StoredFragment& f) const;
  std::string AgentOf(const std::string& partner) const;

  const ClientConfig config_;
  const Clock& clock_;
  std::unique_ptr<Identity> me_;
  std::unique_ptr<PublicCard> gateway_;
  std::unique_ptr<Registry> registry_;
  std::shared_ptr<const cases::PolicySet> policies_;  // from the gateway (config_updates.cc), or null
  StaticKeyResolver keys_;
  std::unique_ptr<EnvelopeSigner> signer_;
  std::unique_ptr<CoordinatorStore> store_;
  std::unique_ptr<cases::PseudonymKey> pseudonym_key_;
  std::unique_ptr<TransportContext> context_;
  std::unique_ptr<DealerClient> dealer_;
  size_t received_ = 0;  // messages received, verified or not
  // Requests whose answers are stored (or were already): acknowledged to the
  // gateway once durable, so it drops its held copies.
  std::vector<std::string> unacked_;
  std::chrono::steady_clock::time_point last_ack_{};
  void MaybeFlushAcks();
  // How long to wait for a message: `timeout_ms`, or less when gathered
  // acknowledgements are due sooner.
  int AckWait(int timeout_ms) const;
  void FlushAcks();
};

// Overwrites a subject's identifiers (BSN, name, date of birth) in memory.
void WipeSubject(ketenpoort::v1::Subject* subject);
// A fragment's retention as the CLI prints it: "2027-05-31", or for a term
// counted from the case's closure (retain_after_closure_ms > 0, protocol
// §3.3) "30 days after the case closes", or its date once `closed_ms` is
// known (coordinator_consent.cc).
std::string RetentionText(int64_t retain_until_ms, int64_t retain_after_closure_ms,
                          std::optional<int64_t> closed_ms = std::nullopt);
// When a fragment goes: retain_until_ms, or for a term from closure the
// closure plus the term; nothing while the case is open.
std::optional<int64_t> RetentionEnd(int64_t retain_until_ms, int64_t retain_after_closure_ms,
                                    std::optional<int64_t> closed_ms);
// A FragmentContent's retention is well formed: exactly one of
// retain_until_ms and retain_after_closure_ms is set (> 0), the other 0
// (protocol §3.3). Else Unauthenticated naming `what` ("the fragment for
// request ab12cd34").
Status CheckRetention(const ketenpoort::v1::FragmentContent& content, const std::string& what);
// Overwrites a weighing's answers in memory (coordinator_consent.cc).
void WipeWeighing(ketenpoort::v1::Weighing* weighing);

// An Error envelope's body as a Status (code from the wire, message prefixed
// "the gateway answered: ").
Status StatusFromErrorBody(const std::string& body);

}  // namespace kp::client

#endif  // KETENPOORT_CLIENT_COORDINATOR_H_
