#include "agent/responder.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "agent/receiver.h"
#include "case/consent.h"
#include "case/decision.h"
#include "case/policy_category.h"
#include "case/pseudonym.h"
#include "case/subject_role.h"
#include "core/base/encoding.h"
#include "core/base/file_util.h"
#include "core/crypto/sha256.h"
#include "core/envelope/sealed.h"
#include "core/envelope/wire_format.h"

namespace kp::agent {

namespace v1 = ketenpoort::v1;

namespace {

constexpr int64_t kDayMs = 86'400'000;

std::string IdHex(std::string_view id) { return HexEncode(id); }

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// Appends `lines` (each ending in a newline) to a file; fdatasyncs when `sync`.
Status AppendLines(const std::string& path, const std::string& lines, bool sync) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return UnavailableError("cannot open " + path + ": " + std::strerror(errno));
  const char* p = lines.data();
  size_t left = lines.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      return UnavailableError("cannot write " + path + ": " + std::strerror(errno));
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  int rc = sync ? ::fdatasync(fd) : 0;
  ::close(fd);
  if (rc != 0) return UnavailableError("cannot sync " + path);
  return OkStatus();
}

}  // namespace

// What one authorisation is about, filled in as the checks go.
struct Responder::Answer {
  std::string request_id;
  std::string coordinator;
  const RegistryEntry* coordinator_entry = nullptr;
  v1::FragmentRequest request;
  v1::SubjectData subjects;
  policy::Decision decision;
  std::vector<std::pair<std::string, std::vector<std::string>>> allowed;  // category -> fields
  int retention_days = 0;
  bool retention_from_closure = false;  // retention_days count from the case's closure (protocol §3.3)
  cases::CaseFacts facts;               // folded from the chain the coordinator signed on
  int64_t sent_at_ms = 0;               // the coordinator's request, by its clock
  std::shared_ptr<const policy::Policy> policy;  // the one the gateway decided with (PolicyForDecision)
};

Responder::Responder(const Identity& me, const PublicCard& gateway, Registry registry,
                     std::shared_ptr<const policy::Policy> policy,
                     std::map<std::string, std::unique_ptr<Connector>> sources, audit::LogWriter& log,
                     const Clock& clock, ResponderOptions options)
    : me_(me),
      gateway_id_(gateway.id),
      gateway_signing_key_(gateway.signing_key),
      registry_(std::move(registry)),
      policy_(std::move(policy)),
      chains_(keys_, cases::FoldContext::Of(policy_.get(), registry_)),
      sources_(std::move(sources)),
      log_(log),
      clock_(clock),
      options_(std::move(options)),
      replay_(clock, ReplayGuard::Options{.window_ms = options_.replay_window_ms}),
      signer_(me.id(), me.signing().secret_key, clock),
      answered_(clock, ReplayGuard::Options{.window_ms = options_.max_request_age_ms,
                                            .max_entries = options_.max_remembered_answers}) {
  for (const auto& [id, e] : registry_.entries()) {
    for (const auto& c : e.cards) keys_.AddKey(id, c.signing_key, c.expires_ms);  // every card of a rotation
  }
  SetGatewayLogKeys();
  // Where receipts keep the gateway's checkpoints (a failure shows when one is written).
  if (!options_.data_dir.empty()) ::mkdir((options_.data_dir + "/gateway-checkpoints").c_str(), 0700);
}

void Responder::SetGatewayLogKeys() {
  std::vector<std::string> keys{gateway_signing_key_};
  // A rotation of the gateway's keys (docs/operations.md, "Key rotation"):
  // the registry the enrolment officer signed lists the old and the new
  // card, and the gateway's log is handed over from the one to the other.
  if (auto entry = registry_.Find(gateway_id_); entry.ok()) {
    for (const auto& c : (*entry)->cards) {
      if (c.kind == ParticipantKind::kGateway &&
          std::find(keys.begin(), keys.end(), c.signing_key) == keys.end()) {
        keys.push_back(c.signing_key);
      }
    }
  }
  gateway_log_keys_.clear();
  for (const std::string& k : keys) {
    if (auto key = audit::MakeVerifierKey(options_.gateway_log_origin, k); key.ok())
      gateway_log_keys_.push_back(*key);
  }
  gateway_kept_keys_ = gateway_log_keys_;
  ForEachSigningKey(registry_, [&](const std::string& id, const std::string& signing_key, int64_t) {
    if (id != gateway_id_ || std::find(keys.begin(), keys.end(), signing_key) != keys.end()) return;
    keys.push_back(signing_key);
    if (auto key = audit::MakeVerifierKey(options_.gateway_log_origin, signing_key); key.ok())
      gateway_kept_keys_.push_back(*key);
  });
}

Result<audit::Checkpoint> Responder::OpenGatewayCheckpoint(std::string_view note, bool kept) const {
  const auto& keys = kept ? gateway_kept_keys_ : gateway_log_keys_;
  if (keys.empty()) return FailedPreconditionError("no usable gateway log key");
  // The gateway may put one checkpoint into every receipt of a burst: the
  // same note, by the same key that is still one of the gateway's, verified once.
  std::string hash;
  if (!kept) {
    hash = Sha256String(note);
    for (const auto& v : verified_checkpoints_) {
      if (v.hash != hash) continue;
      for (const auto& key : keys) {
        if (key.public_key == v.public_key) return v.checkpoint;
      }
    }
  }
  Status last;
  for (const auto& key : keys) {
    auto cp = audit::OpenCheckpoint(note, key, options_.gateway_log_origin);
    if (cp.ok()) {
      if (!kept) {
        if (verified_checkpoints_.size() >= kVerifiedCheckpoints) verified_checkpoints_.pop_front();
        verified_checkpoints_.push_back({std::move(hash), key.public_key, *cp});
      }
      return cp;
    }
    last = cp.status();
  }
  return UnauthenticatedError(
      "the checkpoint does not verify with the gateway's key (the pinned card's, or a card "
      "of the gateway in the signed registry): " +
      last.message());
}

v1::AuditRecord Responder::NewRecord(v1::AuditEvent event) const {
  v1::AuditRecord r;
  r.set_event(event);
  r.mutable_actor()->set_participant_id(me_.id());
  r.mutable_actor()->set_partner(me_.partner());
  r.mutable_actor()->set_role("agent");
  r.set_source_partner(me_.partner());
  r.set_retention_until_unix_millis(clock_.NowMillis() + options_.audit_retention_ms);
  return r;
}

Result<std::string> Responder::Heartbeat() {
  v1::Heartbeat hb;
  hb.set_sequence(++heartbeat_sequence_);
  KP_ASSIGN_OR_RETURN(SignedMessage m,
                      signer_.Sign(v1::MESSAGE_KIND_HEARTBEAT, "", "", hb.SerializeAsString()));
  return m.bytes;
}

Outcome Responder::Handle(std::string_view envelope_bytes) {
  VerifyOptions want;
  want.expected_sender = gateway_id_;
  want.expected_recipient = me_.id();
  auto env = EnvelopeVerifier(keys_, &replay_).Verify(envelope_bytes, want);
  if (!env.ok()) {
    // Nothing in it can be trusted, not even the request it names: it is
    // not answered, but it is recorded.
    spdlog::warn("dropped a message that did not verify as the gateway's: {}", env.status().ToString());
    v1::AuditRecord r = NewRecord(v1::AUDIT_EVENT_REFUSED);
    r.set_reason("message from the gateway connection refused: " + env.status().ToString());
    AppendAsync(std::move(r));  // nothing leaves because of it; a flood must not stall the agent
    return {std::nullopt, env.status()};
  }
  FollowPolicy(clock_.NowMillis());  // an effective-from time passed (config_updates.cc)
  switch (env->header.kind()) {
    case v1::MESSAGE_KIND_AUTHORISATION:
      return HandleAuthorisation(*env);
    case v1::MESSAGE_KIND_RECEIPT:
      return HandleReceipt(*env);
    case v1::MESSAGE_KIND_PUSH_AUTHORISATION:  // a partner receives (receiver.h)
      if (options_.receiver != nullptr) return options_.receiver->Handle(*env, envelope_bytes);
      return {std::nullopt, FailedPreconditionError("this agent does not take pushes")};
    case v1::MESSAGE_KIND_HEARTBEAT:
      return {};
    case v1::MESSAGE_KIND_CONFIG_BUNDLE:  // config_updates.cc
      return HandleConfigBundle(*env);
    case v1::MESSAGE_KIND_CASE_NOTICE:                                        // WATCH_ENDED (watches.cc)
      if (options_.receiver != nullptr) options_.receiver->KeepNotice(*env);  // for `inbox` (receiver.h)
      return HandleNotice(*env);
    case v1::MESSAGE_KIND_CASE_RESULT:
      return HandleCaseResult(*env);
    case v1::MESSAGE_KIND_ERROR:
      HandleGatewayError(*env);
      return {};
    default:
      spdlog::warn("ignored a {} message from the gateway: an agent does not handle it",
                   wire::KindLabel(env->header.kind()));
      return {std::nullopt, InvalidArgumentError("unexpected message kind")};
  }
}

Outcome Responder::HandleAuthorisation(const VerifiedEnvelope& outer) {
  ForgetExpired();
  Answer answer;
  answer.request_id = outer.header.request_id();
  v1::Authorisation auth;
  if (Status s = ParseBody(outer.body, auth); !s.ok()) return Refuse(answer.request_id, &answer, s);
  if (answer.request_id.size() != wire::kMessageIdBytes) {
    return Refuse(answer.request_id, &answer, InvalidArgumentError("an authorisation must name its request"));
  }
  if (options_.kept_answers != nullptr) {
    // Asked again (the gateway lost the answer, or reconnected): the kept
    // answer goes again, never a second disclosure.
    auto kept = options_.kept_answers->Get(answer.request_id);
    if (kept.ok() && kept->has_value()) {
      // Also after its receipt: a healthy gateway that receipted an answer
      // never asks for it again, a restored one lost it (its receipt lies
      // past the restore point). The same sealed bytes go: nothing is read
      // or disclosed again.
      receipted_.erase(answer.request_id);  // its receipt in this burst is older than this question
      if ((*kept)->receipted) {
        spdlog::warn(
            "request {} asked again after the gateway's receipt (a restored gateway?): its kept answer "
            "is sent again",
            IdHex(answer.request_id));
        if (Status s = options_.kept_answers->MarkNotReceipted(answer.request_id); !s.ok()) {
          spdlog::warn("cannot mark a kept answer as sent again: {}", s.message());
        }
      }
      auto again = Wrap(**kept);
      if (again.ok()) {
        spdlog::debug("request {} asked again: its kept answer is sent again", IdHex(answer.request_id));
        return {std::move(*again), OkStatus()};
      }
    }
  }
  if (options_.approvals != nullptr) {
    // Held for the professional, or decided: its state again, not a second hold.
    if (auto again = ApprovalAgain(answer.request_id); again.has_value()) return std::move(*again);
  }
  if (answered_.Seen("", answer.request_id)) {
    spdlog::warn("request {} was already answered; the repeated authorisation is ignored",
                 IdHex(answer.request_id));
    v1::AuditRecord r = NewRecord(v1::AUDIT_EVENT_REFUSED);
    r.set_message_id(answer.request_id);
    r.set_reason("repeated authorisation for a request already answered; not answered again");
    AppendAsync(std::move(r));
    return {std::nullopt, AlreadyExistsError("request already answered")};
  }
  if (Status s = Check(auth, &answer); !s.ok()) return Refuse(answer.request_id, &answer, s);
  if (answer.request.watch_until_ms() != 0) {  // a watch: kept, and signalled (watches.cc)
    return StartWatch(auth, answer.request_id, answer.request, answer.coordinator,
                      answer.coordinator_entry->card.partner);
  }
  const ToHold held{answer.request_id,
                    answer.request,
                    answer.decision,
                    answer.subjects,
                    answer.facts.phase,
                    answer.coordinator,
                    answer.coordinator_entry->card.partner};
  if (!resuming_ && NeedsApproval(auth, held)) return HoldForApproval(auth, held);
  return Disclose(&answer, auth.expires_at_ms());
}

Outcome Responder::AnswerApproved(const v1::Authorisation& auth, const std::string& request_id,
                                  int64_t keep_until_ms) {
  Answer answer;
  answer.request_id = request_id;
  resuming_ = true;
  Status s = Check(auth, &answer);
  resuming_ = false;
  if (!s.ok()) return Refuse(request_id, &answer, s);
  return Disclose(&answer, keep_until_ms);
}

Outcome Responder::Disclose(Answer* answer_in, int64_t keep_until_ms) {
  const int64_t now = clock_.NowMillis();
  Answer& answer = *answer_in;
  v1::FragmentContent content;
  if (Status s = Collect(&answer, &content); !s.ok()) return Refuse(answer.request_id, &answer, s);
  content.set_case_id(answer.request.case_id());
  // Exactly one of the two (protocol §3.3, "Retention"): a term counted from
  // the case's closure, or a moment counted from now.
  const int64_t term_ms = static_cast<int64_t>(answer.retention_days) * kDayMs;
  if (answer.retention_from_closure) {
    content.set_retain_after_closure_ms(std::max<int64_t>(term_ms, 1));
  } else {
    content.set_retain_until_ms(now + term_ms);
  }
  const std::string plaintext = content.SerializeAsString();
  auto sealed = SignAndSeal(signer_, v1::MESSAGE_KIND_FRAGMENT_CONTENT, answer.coordinator,
                            answer.coordinator_entry->card.sealing_key, answer.request_id, plaintext);
  if (!sealed.ok()) {
    return Refuse(answer.request_id, &answer,
                  ResourceExhaustedError("the answer cannot be sent: " + sealed.status().message()));
  }
  v1::FragmentDelivery delivery;
  delivery.set_request_id(answer.request_id);
  delivery.set_case_id(answer.request.case_id());
  for (const auto& [cat, fields] : answer.allowed) delivery.add_categories(cat);
  delivery.set_sealed_content(*sealed);
  auto msg =
      signer_.Sign(v1::MESSAGE_KIND_FRAGMENT_DELIVERY, "", answer.request_id, delivery.SerializeAsString());
  if (!msg.ok()) {
    return Refuse(answer.request_id, &answer,
                  ResourceExhaustedError("the answer cannot be sent: " + msg.status().message()));
  }

  // The disclosure is durable in the partner's own log before it leaves.
  v1::AuditRecord rec = NewRecord(v1::AUDIT_EVENT_DELIVERED);
  rec.set_case_id(answer.request.case_id());
  rec.set_message_id(answer.request_id);
  cases::CopySubjects(answer.request.subjects(), &rec);  // refs and pseudonyms as the coordinator signed them
  rec.set_recipient_partner(answer.coordinator_entry->card.partner);
  rec.set_purpose(answer.request.purpose());
  rec.set_phase(answer.facts.phase);
  cases::ToAudit(answer.policy ? *answer.policy : *policy_, answer.decision, &rec);
  // What this agent disclosed: the narrower of its own and the gateway's
  // obligations (Check).
  auto* ob = rec.mutable_decision()->mutable_obligations();
  ob->clear_allowed_fields();
  for (const auto& [cat, fields] : answer.allowed) {
    cases::AddPolicyCategory(*policy_, cat, &rec);
    for (const auto& f : fields) ob->add_allowed_fields(cat + "." + f);
  }
  ob->set_retention_days(static_cast<uint32_t>(answer.retention_days));
  ob->set_retention_from_closure(answer.retention_from_closure);
  rec.mutable_payload()->set_ciphertext_bytes(sealed->size());
  rec.mutable_payload()->set_plaintext_bytes(plaintext.size());
  rec.mutable_payload()->set_ciphertext_sha256(Sha256String(*sealed));
  // In a burst the record is written now and synced with the others before
  // any answer of the burst leaves (EndBurst).
  auto logged = burst_ ? log_.AppendBuffered(std::move(rec)) : log_.Append(std::move(rec));
  if (!logged.ok()) {
    spdlog::error("request {}: the disclosure log is not writable ({}); nothing disclosed",
                  IdHex(answer.request_id), logged.status().message());
    return Refuse(answer.request_id, &answer,
                  UnavailableError("the agent cannot write its disclosure log; try again later"));
  }
  // Remembered as of the later of both clocks, so that a request forgotten
  // under load is always at or below the floor that Check() refuses.
  answered_.Remember("", answer.request_id, std::max(now, answer.sent_at_ms));
  ++answered_count_;
  if (options_.kept_answers != nullptr) {
    // Kept until the gateway's receipt (in a burst: committed after the
    // disclosure log's sync, before anything is sent; the burst's
    // transaction begins with its first answer, so a burst of receipts
    // alone syncs nothing).
    if (burst_ && !kept_in_transaction_) kept_in_transaction_ = options_.kept_answers->Begin().ok();
    Status kept = options_.kept_answers->Keep(KeptAnswer{answer.request_id, answer.request.case_id(),
                                                         delivery.SerializeAsString(), now, keep_until_ms});
    if (!kept.ok()) {
      spdlog::error("request {}: the answer cannot be kept until its receipt ({}); it is sent once",
                    IdHex(answer.request_id), kept.message());
    } else {
      sent_[answer.request_id] = Sent{msg->message_id, now};
    }
  }
  spdlog::debug("request {} case={} answered: {} categor{} to {} (own log #{})", IdHex(answer.request_id),
                answer.request.case_id(), answer.allowed.size(), answer.allowed.size() == 1 ? "y" : "ies",
                answer.coordinator, logged->index);
  return {std::move(msg->bytes), OkStatus()};
}

Status Responder::Check(const v1::Authorisation& auth, Answer* answer) {
  const int64_t now = clock_.NowMillis();
  if (!resuming_ && auth.expires_at_ms() <= now)
    return FailedPreconditionError("the authorisation has expired");

  // The coordinator's own signed request, byte for byte.
  VerifyOptions want;
  want.expected_kind = v1::MESSAGE_KIND_FRAGMENT_REQUEST;
  auto req = EnvelopeVerifier(keys_, nullptr).Verify(auth.request_envelope(), want);
  if (!req.ok()) {
    return UnauthenticatedError("the coordinator's signature on the request does not verify (" +
                                req.status().message() + ")");
  }
  if (req->header.message_id() != answer->request_id) {
    return UnauthenticatedError("the authorisation names another request than the one it carries");
  }
  answer->coordinator = req->header.sender();
  auto entry = registry_.Find(answer->coordinator);
  if (!entry.ok() || (*entry)->card.kind != ParticipantKind::kCoordinator) {
    return PermissionDeniedError("the request was not signed by a coordinator of the signed registry");
  }
  answer->coordinator_entry = *entry;
  if (!resuming_ && req->header.sent_at_ms() < now - options_.max_request_age_ms) {
    return FailedPreconditionError("the coordinator's request is too old to answer");
  }
  if (!resuming_ && req->header.sent_at_ms() <= answered_.floor_ms()) {
    return FailedPreconditionError(
        "the coordinator's request is older than the agent's memory of answered requests reaches (it was "
        "under "
        "heavy load); send it again");
  }
  answer->sent_at_ms = req->header.sent_at_ms();
  if (req->header.sent_at_ms() > now + options_.replay_window_ms) {
    return FailedPreconditionError("the coordinator's request is dated in the future; check the clocks");
  }
  if (Status s = ParseBody(req->body, answer->request); !s.ok()) return s;
  const v1::FragmentRequest& r = answer->request;
  if (r.source_partner() != me_.partner()) {
    return PermissionDeniedError("the request asks partner " + r.source_partner() + ", not " + me_.partner());
  }
  if (r.categories().empty()) return InvalidArgumentError("the request names no data category");
  if (auth.decision().effect() != v1::EFFECT_PERMIT) {
    return PermissionDeniedError("the gateway's decision is not a permit");
  }

  if (Status s = CheckEvidence(auth, answer); !s.ok()) return s;
  if (options_.approvals != nullptr) {
    // Consents this partner recorded itself count for its own decision.
    if (Status s = options_.approvals->FillSourceConsents(r.case_id(), me_.partner(), &answer->facts);
        !s.ok()) {
      return UnavailableError("the agent cannot read the consents its partner recorded; try again later");
    }
  }
  answer->policy = PolicyForDecision(auth.decision().policy_sha256(), answer->sent_at_ms);
  const policy::Policy& decide_with = *answer->policy;
  if (Status s = cases::CheckAsker(decide_with, answer->facts, answer->coordinator,
                                   *answer->coordinator_entry, r, now);
      !s.ok()) {
    return s;
  }

  // The subjects, sealed by the coordinator to this agent.
  SealedExpectations sealed_want{v1::MESSAGE_KIND_SUBJECT_DATA, me_.id(), answer->request_id,
                                 answer->coordinator};
  auto inner = OpenAndVerify(me_.SealingRing(), keys_, r.sealed_subjects(), sealed_want);
  if (!inner.ok()) {
    return UnauthenticatedError("the sealed subject data cannot be opened or verified (" +
                                inner.status().message() + ")");
  }
  if (Status s = ParseBody(inner->body, answer->subjects); !s.ok()) return s;
  if (Status s = cases::CheckSealedSubjects(answer->facts, r, answer->subjects); !s.ok()) return s;
  // The ages stated with the consents, against the sealed dates of birth.
  if (Status s = cases::CheckStatedAges(answer->facts, r, answer->subjects, now); !s.ok()) return s;

  // The same policy, here, on the facts of the chain.
  const policy::Request asked = cases::AskPolicy(answer->facts, r, *answer->coordinator_entry,
                                                 cases::SealedJustification(answer->subjects), now);
  answer->decision = decide_with.Decide(asked);
  const policy::Decision& d = answer->decision;
  if (d.effect != policy::Effect::kPermit) {
    return PermissionDeniedError("this agent's own policy check refuses it: " + d.reason);
  }
  if (HexDecode(d.policy_sha256).value_or("") != auth.decision().policy_sha256()) {
    return FailedPreconditionError(
        "the gateway decided with another version of the policy than this agent has in force (" +
        cases::PolicyVersionId(decide_with) +
        "); the agent takes the region's policy bundle from the gateway (docs/operations.md, rolling out a "
        "policy)");
  }
  for (const auto& c : r.categories()) {
    if (options_.disabled_categories.count(c) != 0) {
      return PermissionDeniedError("partner " + me_.partner() + " has switched off category " + c +
                                   " at its agent");
    }
    if (sources_.count(c) == 0) {
      return FailedPreconditionError("this agent has no data source for category " + c);
    }
  }
  if (options_.always_require_consent && !decide_with.ConsentHolds(asked, false, nullptr)) {
    return PermissionDeniedError(
        "partner " + me_.partner() +
        " requires recorded consent for every disclosure; none is shown for this request");
  }

  // Obligations: the narrowest of the gateway's and ours.
  std::map<std::string, std::vector<std::string>> gateway_fields;
  for (const auto& cf : auth.decision().obligations().allowed_fields()) {
    gateway_fields[cf.category()].assign(cf.fields().begin(), cf.fields().end());
  }
  for (const auto& cf : d.obligations.fields) {
    std::vector<std::string> fields;
    auto g = gateway_fields.find(std::string(cf.category));
    for (auto f : cf.fields) {
      if (g != gateway_fields.end() && Contains(g->second, std::string(f))) fields.emplace_back(f);
    }
    answer->allowed.emplace_back(std::string(cf.category), std::move(fields));
  }
  answer->retention_days = d.obligations.retention_days;
  uint32_t gateway_days = auth.decision().obligations().retention_days();
  if (gateway_days > 0 && static_cast<int>(gateway_days) < answer->retention_days) {
    answer->retention_days = static_cast<int>(gateway_days);
  }
  // From closure only when both say so: from delivery is the shorter term.
  answer->retention_from_closure =
      d.obligations.retention_from_closure && auth.decision().obligations().retention_from_closure();
  return OkStatus();
}

Status Responder::CheckEvidence(const v1::Authorisation& auth, Answer* answer) {
  const v1::FragmentRequest& r = answer->request;
  // The whole history, up to the head the coordinator signed into the
  // request: a command the gateway leaves out cannot go unnoticed.
  auto facts =
      chains_.Check(auth.case_evidence(), cases::ChainHead{r.case_id(), r.case_head(), r.case_length()});
  if (!facts.ok()) {
    return Status(facts.status().code(),
                  "the case history the gateway showed is not the one the coordinator signed "
                  "the request on: " +
                      facts.status().message());
  }
  answer->facts = std::move(facts).value();
  if (auth.case_phase() != answer->facts.phase) {
    return FailedPreconditionError("the case phase the gateway states (" + auth.case_phase() +
                                   ") is not the one the coordinator's commands show (" +
                                   answer->facts.phase + ")");
  }
  return OkStatus();
}

Status Responder::Collect(Answer* answer, v1::FragmentContent* content) {
  for (const auto& [category, fields] : answer->allowed) {
    Connector& source = *sources_.at(category);
    auto* cf = content->add_categories();
    cf->set_category(category);
    for (const auto& subject : answer->subjects.subjects()) {
      SubjectQuery q{subject.ref(), std::string(cases::SubjectRoleId(subject.role())), subject.bsn(),
                     subject.name(), subject.date_of_birth()};
      auto records = source.Query(q);
      if (!records.ok()) {
        // The detail (a path, an exit code) is for partner IT; the
        // coordinator learns that the source could not answer completely.
        spdlog::error("request {}: data source for {} ({}) failed: {}", IdHex(answer->request_id), category,
                      source.Describe(), records.status().ToString());
        const Status& st = records.status();
        std::string what = st.code() == StatusCode::kDeadlineExceeded  ? "did not answer in time"
                           : st.code() != StatusCode::kInvalidArgument ? "is unavailable"
                           : st.message().find("cannot name") != std::string::npos
                               ? "cannot look up a subject by the identifier given"
                               : "gave an answer the agent cannot read";
        return UnavailableError("source unavailable: the data source of " + me_.partner() + " for category " +
                                category + " " + what + "; nothing was sent rather than incomplete data");
      }
      for (const auto& record : *records) {
        v1::FragmentRecord out;
        out.set_subject_ref(subject.ref());
        for (const auto& field : fields) {  // the category's order; every other column is dropped
          for (const auto& [name, value] : record) {
            if (name != field) continue;
            auto* fv = out.add_values();
            fv->set_field(name);
            fv->set_value(value);
            break;
          }
        }
        if (out.values_size() > 0) *cf->add_records() = std::move(out);
      }
    }
  }
  return OkStatus();
}

Outcome Responder::Refuse(const std::string& request_id, Answer* answer, const Status& why) {
  const std::string& case_id = answer->request.case_id();
  v1::AuditRecord rec = NewRecord(v1::AUDIT_EVENT_REFUSED);
  rec.set_case_id(case_id);
  rec.set_message_id(request_id);
  cases::CopySubjects(answer->request.subjects(), &rec);
  rec.set_purpose(answer->request.purpose());
  if (answer->coordinator_entry != nullptr)
    rec.set_recipient_partner(answer->coordinator_entry->card.partner);
  for (const auto& c : answer->request.categories()) rec.add_categories()->set_name(c);
  rec.set_phase(answer->facts.phase);
  rec.set_reason("refused by the agent: " + why.ToString());
  rec.mutable_decision()->set_verdict(v1::AUDIT_VERDICT_DENY);
  for (auto r : answer->decision.rule_ids) rec.mutable_decision()->add_rule_ids(std::string(r));
  rec.mutable_decision()->set_policy_sha256(HexDecode(policy_->sha256_hex()).value_or(std::string()));
  // A refusal discloses nothing, so it need not wait for the flush.
  AppendAsync(std::move(rec));
  ++refused_count_;
  spdlog::info("request {} case={} refused by this agent: {}", IdHex(request_id), case_id, why.ToString());

  v1::Refusal refusal;
  refusal.set_request_id(request_id);
  refusal.set_case_id(case_id);
  refusal.set_refused_by(v1::REFUSED_BY_AGENT);
  refusal.set_reason(why.message());
  for (auto r : answer->decision.rule_ids) refusal.add_rule_ids(std::string(r));
  auto msg = signer_.Sign(v1::MESSAGE_KIND_REFUSAL, "", request_id, refusal.SerializeAsString());
  if (!msg.ok()) return {std::nullopt, why};
  return {std::move(msg->bytes), why};
}

Outcome Responder::HandleReceipt(const VerifiedEnvelope& outer) {
  v1::Receipt receipt;
  if (Status s = ParseBody(outer.body, receipt); !s.ok()) return {std::nullopt, s};
  auto fail = [&](const Status& s) {
    spdlog::error("receipt for request {} refused: {}", IdHex(outer.header.request_id()), s.message());
    v1::AuditRecord r = NewRecord(v1::AUDIT_EVENT_REFUSED);
    r.set_message_id(outer.header.request_id());
    r.set_reason("gateway receipt refused: " + s.ToString());
    AppendAsync(std::move(r));
    return Outcome{std::nullopt, s};
  };
  auto cp = OpenGatewayCheckpoint(receipt.checkpoint());
  if (!cp.ok()) return fail(cp.status());
  if (cp->size <= receipt.audit_index()) {
    return fail(DataLossError("the checkpoint does not cover the log index the receipt names"));
  }
  // A restored gateway: its history past the restore point is not a fork.
  if (Status s = AcceptGatewayRestore(*cp); !s.ok()) return fail(s);
  if (cp->size < last_checkpoint_size_) {
    return fail(DataLossError("the gateway's log shrank from " + std::to_string(last_checkpoint_size_) +
                              " to " + std::to_string(cp->size) +
                              " records: its history may have been rewritten"));
  }
  if (cp->size == last_checkpoint_size_ && !last_checkpoint_root_.empty() &&
      cp->root != last_checkpoint_root_) {
    return fail(
        DataLossError("the gateway signed two different logs of " + std::to_string(cp->size) +
                      " records: its history forked; keep both checkpoints and tell the privacy officer"));
  }
  last_checkpoint_size_ = cp->size;
  last_checkpoint_root_ = cp->root;
  if (!options_.data_dir.empty()) {
    // Every checkpoint goes into receipts.jsonl (appended per receipt,
    // synced at most once a second and when the agent stops); a file of its
    // own in gateway-checkpoints/ at most every kCheckpointFileEveryMs, since
    // making a file is the dearest step here. The agent's own log records
    // each receipt with the checkpoint's size and root.
    const int64_t now = clock_.NowMillis();
    if (last_checkpoint_file_ms_ == 0 || now - last_checkpoint_file_ms_ >= kCheckpointFileEveryMs) {
      const std::string dir = options_.data_dir + "/gateway-checkpoints";
      char name[32];
      std::snprintf(name, sizeof name, "%020llu", static_cast<unsigned long long>(cp->size));
      const std::string file = dir + "/" + name;
      auto existing = ReadFileBounded(file, audit::kMaxNoteBytes);
      if (existing.ok()) {
        auto other = OpenGatewayCheckpoint(*existing, /*kept=*/true);
        if (other.ok() && other->root != cp->root) {
          return fail(DataLossError(
              "the gateway signed two different logs of " + std::to_string(cp->size) +
              " records: its history forked; keep both checkpoints and tell the privacy officer"));
        }
      } else if (Status s = WriteFileDurable(file, receipt.checkpoint(), 0600, WriteMode::kReplace);
                 !s.ok()) {
        spdlog::error("cannot keep the gateway checkpoint: {}", s.message());
      }
      last_checkpoint_file_ms_ = now;
    }
    nlohmann::json line;
    line["request_id"] = IdHex(outer.header.request_id());
    line["delivery_id"] = IdHex(receipt.delivery_id());
    line["gateway_log_index"] = receipt.audit_index();
    line["checkpoint_size"] = cp->size;
    line["checkpoint"] = receipt.checkpoint();
    line["received_at"] = FormatRfc3339Millis(now);
    receipt_lines_ += line.dump();
    receipt_lines_ += '\n';
    if (!burst_) WriteReceiptLines();  // in a burst: the burst's lines at once (EndBurst)
  }
  if (options_.kept_answers != nullptr) {
    // Delivered: the kept answer is no longer sent again by itself; it
    // stays until its request expires, for a restored gateway that asks
    // again. Marked with the burst's other receipts, after it (EndBurst).
    receipted_[outer.header.request_id()] = receipt.audit_index();
    if (!burst_) MarkReceipted();
    sent_.erase(outer.header.request_id());
  }
  NoteWatchReceipt(outer.header.request_id(), receipt.delivery_id());  // a signal's receipt (watches.cc)
  v1::AuditRecord r = NewRecord(v1::AUDIT_EVENT_RECEIPT);
  r.set_message_id(outer.header.request_id());
  r.set_reason("gateway log index " + std::to_string(receipt.audit_index()) + ", checkpoint of " +
               std::to_string(cp->size) + " records, root " + HexEncode(cp->root));
  AppendAsync(std::move(r));
  last_receipt_ = {IdHex(outer.header.request_id()), receipt.audit_index(), clock_.NowMillis()};
  spdlog::debug("receipt for request {}: gateway log #{}", IdHex(outer.header.request_id()),
                receipt.audit_index());
  return {};
}

void Responder::WriteReceiptLines() {
  if (receipt_lines_.empty()) return;
  const int64_t now = clock_.NowMillis();
  const bool sync = now - last_receipts_sync_ms_ >= 1000;
  if (sync) last_receipts_sync_ms_ = now;
  receipts_unsynced_ = !sync;
  if (Status s = AppendLines(options_.data_dir + "/receipts.jsonl", receipt_lines_, sync); !s.ok()) {
    spdlog::error("cannot keep the receipt(s): {}", s.message());
  }
  receipt_lines_.clear();
}

Status Responder::SyncReceipts() {
  if (!receipts_unsynced_ || options_.data_dir.empty()) return OkStatus();
  const std::string path = options_.data_dir + "/receipts.jsonl";
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return UnavailableError("cannot open " + path + ": " + std::strerror(errno));
  const int rc = ::fdatasync(fd);
  ::close(fd);
  if (rc != 0) return UnavailableError("cannot sync " + path);
  receipts_unsynced_ = false;
  last_receipts_sync_ms_ = clock_.NowMillis();
  return OkStatus();
}

void Responder::BeginBurst() { burst_ = true; }

Status Responder::EndBurst() {
  burst_ = false;
  Status s = log_.Sync();
  if (kept_in_transaction_) {
    kept_in_transaction_ = false;
    if (s.ok()) {
      s = options_.kept_answers->Commit();
      if (!s.ok()) options_.kept_answers->Rollback();
    } else {
      options_.kept_answers->Rollback();
    }
  }
  WriteReceiptLines();
  MarkReceipted();
  return s;
}

void Responder::MarkReceipted() {
  if (receipted_.empty() || options_.kept_answers == nullptr) return;
  std::vector<KeptAnswers::Receipted> marks;
  marks.reserve(receipted_.size());
  for (auto& [request_id, index] : receipted_) marks.push_back({request_id, index});
  receipted_.clear();
  if (Status s = options_.kept_answers->MarkReceipted(marks, clock_.NowMillis()); !s.ok()) {
    spdlog::warn("cannot mark {} receipted answer(s): {}; they are sent again and receipted again",
                 marks.size(), s.message());
  }
}

Result<std::string> Responder::Wrap(const KeptAnswer& kept) {
  KP_ASSIGN_OR_RETURN(SignedMessage msg,
                      signer_.Sign(v1::MESSAGE_KIND_FRAGMENT_DELIVERY, "", kept.request_id, kept.delivery));
  sent_[kept.request_id] = Sent{msg.message_id, clock_.NowMillis()};
  return msg.bytes;
}

std::vector<std::string> Responder::AnswersToSendAgain() {
  std::vector<std::string> out;
  if (options_.kept_answers == nullptr) return out;
  auto all = options_.kept_answers->All();
  if (!all.ok()) {
    spdlog::error("cannot read the kept answers: {}", all.status().message());
    return out;
  }
  const int64_t now = clock_.NowMillis();
  for (const KeptAnswer& k : *all) {
    auto it = sent_.find(k.request_id);
    if (k.expires_ms <= now) {
      // Once more after the expiry (the gateway may have it and only its
      // receipt was lost: then the receipt comes again); dropped when that
      // too stays unconfirmed.
      const bool sent_since = it != sent_.end() && it->second.sent_ms >= k.expires_ms;
      if (sent_since && now - it->second.sent_ms >= options_.resend_after_ms) {
        DropKept(k.request_id, k.case_id, "the request expired before the gateway confirmed the answer");
        continue;
      }
      if (sent_since) continue;
    } else if (it != sent_.end() && it->second.sent_ms != 0 &&
               now - it->second.sent_ms < options_.resend_after_ms) {
      continue;
    }
    auto again = Wrap(k);
    if (again.ok()) out.push_back(std::move(*again));
  }
  if (!out.empty()) spdlog::info("sending {} answer(s) again that the gateway has not confirmed", out.size());
  return out;
}

void Responder::HandleGatewayError(const VerifiedEnvelope& env) {
  v1::Error err;
  if (!ParseBody(env.body, err).ok()) return;
  const std::string& about = env.header.request_id();  // the message the error answers
  if (HandleConsentError(about, err)) return;
  if (HandleWatchError(about, err)) return;  // a refused signal (watches.cc)
  for (auto& [request_id, sent] : sent_) {
    if (sent.message_id != about) continue;
    if (err.code() == v1::ERROR_CODE_UNAVAILABLE || err.code() == v1::ERROR_CODE_RESOURCE_EXHAUSTED ||
        err.code() == v1::ERROR_CODE_UNAUTHENTICATED) {
      // The gateway could not take it now (e.g. its disk was full), or not
      // that envelope (stale, e.g. after a clock step): again later, in a
      // freshly signed envelope, until the request expires.
      spdlog::warn("the gateway could not take the answer to request {} now ({}); it is kept and sent again",
                   IdHex(request_id), err.message());
      sent.sent_ms = 0;
      return;
    }
    const std::string id = request_id;  // DropKept erases the entry
    auto kept = options_.kept_answers->Get(id);
    DropKept(id, kept.ok() && kept->has_value() ? (*kept)->case_id : "",
             "the gateway refused it: " + err.message());
    return;
  }
  spdlog::warn("the gateway reported an error (code {}) for message {}: {}", static_cast<int>(err.code()),
               IdHex(about), err.message());
}

void Responder::DropKept(const std::string& request_id, const std::string& case_id, const std::string& why) {
  if (Status s = options_.kept_answers->Forget(request_id); !s.ok()) {
    spdlog::warn("cannot drop a kept answer: {}", s.message());
    return;
  }
  sent_.erase(request_id);
  v1::AuditRecord r = NewRecord(v1::AUDIT_EVENT_EXPIRED);
  r.set_case_id(case_id);
  r.set_message_id(request_id);
  r.set_reason("answer not delivered to the coordinator: " + why);
  AppendAsync(std::move(r));
  spdlog::warn("the answer to request {} was not delivered: {}", IdHex(request_id), why);
}

void SubjectsOfAuthorisation(const std::string& authorisation, v1::AuditRecord* rec,
                             const std::string& only_ref) {
  v1::Authorisation auth;
  v1::Envelope env;
  v1::FragmentRequest req;
  if (!auth.ParseFromString(authorisation) || !env.ParseFromString(auth.request_envelope()) ||
      !req.ParseFromString(env.body())) {
    return;
  }
  if (only_ref.empty()) return cases::CopySubjects(req.subjects(), rec);
  google::protobuf::RepeatedPtrField<v1::SubjectRef> one;
  for (const auto& s : req.subjects()) {
    if (s.ref() == only_ref) *one.Add() = s;
  }
  cases::CopySubjects(one, rec);
}

void Responder::AppendAsync(v1::AuditRecord record) {
  log_.AppendAsync(std::move(record), [](Result<audit::AppendReceipt> got) {
    if (!got.ok()) spdlog::error("the disclosure log is not writable: {}", got.status().message());
  });
}

void Responder::ForgetExpired() {
  answered_.Prune();
  replay_.Prune();
}

}  // namespace kp::agent
