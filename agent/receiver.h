// Receiver: what the partner agent does with a push (docs/protocol.md §3.9,
// docs/agent.md "Receiving"): the coordinator sends something the policy lets
// go *to* this partner (the veiligheidsplan), and the agent verifies it as it
// verifies an authorisation, keeps it, and hands it to the partner's sink.
//
// For a PUSH_AUTHORISATION that verified as the pinned gateway's (the
// Responder did that: addressed here, fresh, not replayed) it checks, in this
// order, and stops at the first failure:
//   1. it names a push (16-byte id) and has not expired;
//   2. the coordinator's own signature on the FRAGMENT_PUSH inside verifies,
//      the signer is a coordinator of the enrolment-signed registry, the push
//      is not older than max_push_age_ms nor dated in the future, it is for
//      this agent's partner, and the gateway's decision is a permit;
//   3. the case's whole chain, as the gateway shows it, ends at the head the
//      coordinator signed into the push and folds into facts in which the
//      signer coordinates the open case and this partner is admitted; the
//      phase the gateway states is the chain's (case/push.h CheckPush);
//   4. the sealed subject data opens, is signed by the same coordinator,
//      bound to this push, and opens the case's commitments for exactly the
//      push's subjects;
//   5. the same policy, here, permits the push (case/push.h DecidePush), with
//      the same policy version as the gateway's decision: the policy the
//      decision names when this agent holds it in its signed policy bundle
//      and it was in force at some moment between the push (its sent_at_ms
//      minus the replay window) and now — so a push decided before a switch
//      (effective-from) and arriving after it is checked under the policy it
//      was decided with — else the policy in force now; a decision naming a
//      policy this agent does not hold is refused ("policy-unknown");
//   6. the sealed PUSH_CONTENT opens, is signed by the same coordinator, bound
//      to this push, about this case, with exactly the push's categories,
//      records only about the push's subjects, only fields both decisions
//      allow, and exactly one retention: a keep-until date no later than the
//      retention allows, or a term after the case's closure no longer than
//      it, only when both decisions count the retention from closure.
// Then it keeps the gateway's envelope, byte for byte (the content inside
// stays sealed to this agent's key), as data_dir/received/<id>.push (synced),
// records RECEIVED in the agent's own log (synced), hands the content to the
// sink, and returns the PUSH_RECEIVED to send. A push already kept is
// answered with PUSH_RECEIVED again and not handed over twice. Any failure is
// a REFUSAL, recorded in the agent's own log.
//
// The sink (config `sink:`) is a folder, where <id>.json is written (mode
// 0600), or a command that gets the JSON on stdin (exit status 0: taken).
// What the sink did not take is offered again every `retry_ms` (RetrySink)
// until it does; data_dir/received/<id>.taken marks a push it took.
//
// Purge (every purge_interval_ms) deletes the agent's own copy
// (<id>.push, .taken, .keep) when its retention ends (docs/agent.md
// "Receiving"): at its keep-until date, or, for a term counted from the
// case's closure, that term after the sink took it or after the case closed,
// whichever comes first. The agent learns of a closure only from a
// WATCH_ENDED notice with reason casus-gesloten (protocol §3.8); a push the
// sink never took stays until then. <id>.keep holds the retention in clear
// (numbers only). Notices go notice_keep_ms after they arrived.
//
// Not thread-safe: the agent's one thread calls it.
#ifndef KETENPOORT_AGENT_RECEIVER_H_
#define KETENPOORT_AGENT_RECEIVER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "agent/agent_config.h"
#include "agent/responder.h"
#include "case/case_chain.h"
#include "case/policy_bundle.h"
#include "core/audit/log_writer.h"
#include "core/base/clock.h"
#include "core/base/status.h"
#include "core/envelope/envelope.h"
#include "core/identity/identity.h"
#include "core/identity/registry.h"
#include "ketenpoort/v1/messages.pb.h"
#include "policy/policy_engine.h"

namespace kp::agent {

class Connector;

struct ReceiverOptions {
  std::string data_dir;  // received/ goes here
  SinkConfig sink;
  int64_t audit_retention_ms = 5LL * 365 * 24 * 3600 * 1000;
  int64_t max_push_age_ms = 8LL * 24 * 3600 * 1000;  // the gateway holds a push up to 7 days
  int64_t replay_window_ms = 300'000;
  int64_t purge_interval_ms = 60'000;                // how often Purge looks
  int64_t notice_keep_ms = 90LL * 24 * 3600 * 1000;  // kept notices go after this
};

// One push kept in data_dir/received (`ketenpoort-agent inbox`). Metadata
// only: the content stays sealed.
struct ReceivedItem {
  std::string id_hex;
  std::string case_id;
  std::string from;  // the coordinator's participant id
  std::string purpose;
  std::vector<std::string> categories;
  int64_t received_ms = 0;
  bool taken = false;  // the sink took it
};

// A case notice addressed to this agent (e.g. WATCH_ENDED), kept in
// data_dir/received/<message id>.notice for `ketenpoort-agent inbox`. A
// notice carries ids, codes and dates only, never personal data.
struct AgentNotice {
  std::string id_hex;  // the notice envelope's message id
  ketenpoort::v1::CaseNotice notice;
  int64_t received_ms = 0;
};

// The JSON handed to the sink (docs/agent.md "Receiving"): push id, case,
// sender, purpose, subjects with their identifiers, records per category,
// keep-until date, rule ids and legal basis.
std::string SinkJson(const std::string& push_id, const ketenpoort::v1::FragmentPush& push,
                     const std::string& coordinator, const ketenpoort::v1::SubjectData& subjects,
                     const ketenpoort::v1::FragmentContent& content, const ketenpoort::v1::Decision& decision,
                     int64_t received_ms);

class Receiver {
 public:
  // Borrows `me`, `log` and `clock`: they must outlive the receiver.
  static Result<std::unique_ptr<Receiver>> Create(const Identity& me, Registry registry,
                                                  std::shared_ptr<const policy::Policy> policy,
                                                  audit::LogWriter& log, const Clock& clock,
                                                  ReceiverOptions options);
  ~Receiver();

  // A PUSH_AUTHORISATION verified as the gateway's (`outer`), as received (`raw`).
  Outcome Handle(const VerifiedEnvelope& outer, std::string_view raw);
  // Offers the pushes the sink has not taken to it again; how many it took.
  size_t RetrySink();
  // Deletes the kept pushes whose retention ended and the notices older
  // than notice_keep_ms (see above); at most every purge_interval_ms.
  struct Purged {
    size_t pushes = 0;
    size_t notices = 0;
  };
  Purged Purge();
  size_t received() const { return received_count_; }
  // A new registry (when given), the policy in force now and the signed
  // bundle it comes from (null with a plain policy file), without a restart
  // (agent/config_updates.cc).
  void SetConfig(const Registry* registry, std::shared_ptr<const policy::Policy> policy,
                 std::shared_ptr<const cases::PolicySet> policies = nullptr);

  // What data_dir/received holds, oldest first.
  static Result<std::vector<ReceivedItem>> List(const std::string& data_dir);

  // Keeps a CASE_NOTICE the responder verified as the gateway's, for
  // `inbox` (a notice already kept is kept once). Failures are logged: the
  // notice is still acted on.
  void KeepNotice(const VerifiedEnvelope& env);
  // The notices kept, oldest first.
  static Result<std::vector<AgentNotice>> ListNotices(const std::string& data_dir);
  // Offers a kept push to the sink again (`inbox --again`): its "taken"
  // mark goes, and the running agent hands it over at its next retry.
  // NotFound for an id not kept here.
  static Status HandOverAgain(const std::string& data_dir, const std::string& id_hex);

 private:
  struct Push;
  Receiver(const Identity& me, Registry registry, std::shared_ptr<const policy::Policy> policy,
           audit::LogWriter& log, const Clock& clock, ReceiverOptions options);
  Status Check(const ketenpoort::v1::PushAuthorisation& pa, Push* p, bool fresh);
  // The policy the gateway's decision names (step 5 above), or an error
  // saying why this agent cannot check the push under it.
  Result<std::shared_ptr<const policy::Policy>> PolicyForDecision(std::string_view policy_sha256,
                                                                  int64_t pushed_ms) const;
  Outcome Refuse(const Push& p, const Status& why);
  Result<std::string> Received(const Push& p);
  // Opens a kept push again (every signature and seal checked again).
  Status OpenKept(const std::string& stored, Push* p, int64_t* signed_ms);
  Result<std::string> SinkJsonOf(const std::string& stored);
  Status Sink(const std::string& id_hex, const std::string& json);
  ketenpoort::v1::AuditRecord NewRecord(ketenpoort::v1::AuditEvent event) const;

  const Identity& me_;
  Registry registry_;  // replaced in place by SetConfig
  StaticKeyResolver keys_;
  std::shared_ptr<const policy::Policy> policy_;      // in force now
  std::shared_ptr<const cases::PolicySet> policies_;  // the signed bundle's, or null
  cases::ChainChecker chains_;
  audit::LogWriter& log_;
  const Clock& clock_;
  const ReceiverOptions options_;
  EnvelopeSigner signer_;
  std::unique_ptr<Connector> command_;  // the sink command, when the sink is one
  int64_t last_retry_ms_ = 0;
  int64_t last_purge_ms_ = 0;
  uint64_t received_count_ = 0;
};

}  // namespace kp::agent

#endif  // KETENPOORT_AGENT_RECEIVER_H_
