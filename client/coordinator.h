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
#include <string>
#include <vector>

#include "case/case_facts.h"
#include "client/client_config.h"
#include "client/coordinator_store.h"
#include "core/base/clock.h"
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
  std::string partner;                  // source partner (policy id), e.g. "politie"
  std::vector<std::string> categories;
  std::string purpose;
  std::vector<std::string> subject_refs;  // empty: every subject of the case
  std::string justification;              // sealed to the agent; empty: none
};

// What became of a request.
struct Outcome {
  enum class Kind { kDelivered, kRefused, kError };
  Kind kind = Kind::kError;
  std::string request_id;
  std::string case_id;
  std::string signer;          // who signed the answer (agent or gateway)
  int64_t signed_ms = 0;       // when it was signed (signer's clock)
  int64_t retain_until_ms = 0; // delivered: keep until
  ketenpoort::v1::FragmentContent content;  // delivered
  ketenpoort::v1::Refusal refusal;          // refused
  Status error;                              // kError: what went wrong (e.g. verification failed)
};

class Coordinator {
 public:
  // Loads the identity (kind coordinator), the pinned cards, the registry and
  // the store, and removes expired fragments. Does not connect yet.
  static Result<std::unique_ptr<Coordinator>> Open(const ClientConfig& config, const Clock& clock);
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
  Result<ketenpoort::v1::CaseResult> RecordConsent(const std::string& case_id, const std::string& subject_ref,
                                                   const std::string& purpose, int64_t valid_until_ms);
  Result<ketenpoort::v1::CaseResult> RecordGatekeeperApproval(const std::string& case_id,
                                                              const std::string& partner,
                                                              const std::vector<std::string>& categories,
                                                              const std::string& purpose, int64_t valid_until_ms);
  Result<ketenpoort::v1::CaseResult> Close(const std::string& case_id, const std::string& reason_code);
  // Adds a subject (ref "S<n+1>" when empty) with a fresh commitment; its
  // data stays in the local store.
  Result<ketenpoort::v1::CaseResult> AddSubject(const std::string& case_id, ketenpoort::v1::Subject subject);
  Result<ketenpoort::v1::CaseResult> WithdrawConsent(const std::string& case_id, const std::string& subject_ref,
                                                     const std::string& purpose);
  // Fetches the case's whole history from the gateway, checks it (every
  // command signed by the case's coordinator, each following the one
  // before, nothing this client signed left out) and keeps it as the head
  // it signs on. Done by itself before signing on a case whose last command
  // got no clear answer.
  Result<cases::CaseFacts> SyncCase(const std::string& case_id);

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
  Result<size_t> Poll(int timeout_ms, const std::function<void(const Outcome&)>& sink, bool first_only = false);
  // Asks the gateway for what it held while this coordinator was away
  // (optionally one case); returns the answers it handled.
  Result<std::vector<Outcome>> FetchInbox(const std::string& case_id);

  // Opens and verifies a stored fragment again (the store keeps it sealed).
  Result<Outcome> ReadFragment(const StoredFragment& f) const;
  Result<CoordinatorStore::Purged> Purge();

  CoordinatorStore& store() { return *store_; }
  const Identity& identity() const { return *me_; }
  const ClientConfig& config() const { return config_; }

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
  Result<std::optional<VerifiedEnvelope>> AwaitAnswer(const std::string& id,
                                                      const std::function<void(const Outcome&)>& sink = nullptr);
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
  Outcome HandleAnswer(const VerifiedEnvelope& env, const std::string& raw, const RequestInfo& request);
  struct PreparedRequest {
    std::string id;
    RequestInfo info;
    std::string body;  // serialized FragmentRequest
  };
  Result<PreparedRequest> Prepare(const RequestSpec& spec);
  Result<Outcome> VerifyDelivery(const VerifiedEnvelope& env, const RequestInfo& request) const;
  std::string AgentOf(const std::string& partner) const;

  const ClientConfig config_;
  const Clock& clock_;
  std::unique_ptr<Identity> me_;
  std::unique_ptr<PublicCard> gateway_;
  std::unique_ptr<Registry> registry_;
  StaticKeyResolver keys_;
  std::unique_ptr<EnvelopeSigner> signer_;
  std::unique_ptr<CoordinatorStore> store_;
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

// An Error envelope's body as a Status (code from the wire, message prefixed
// "the gateway answered: ").
Status StatusFromErrorBody(const std::string& body);

}  // namespace kp::client

#endif  // KETENPOORT_CLIENT_COORDINATOR_H_
