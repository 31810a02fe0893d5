#include "client/coordinator.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <set>

#include "case/case_chain.h"
#include "case/commitment.h"
#include "core/base/encoding.h"
#include "core/crypto/random.h"
#include "core/envelope/sealed.h"
#include "core/envelope/wire_format.h"
#include "core/transport/dealer_client.h"
#include "core/transport/transport_context.h"
#include "policy/policy_engine.h"

namespace kp::client {

namespace v1 = ketenpoort::v1;

namespace {

using SteadyClock = std::chrono::steady_clock;

// Request ids in one DELIVERY_ACK (docs/protocol.md §6).
constexpr size_t kMaxAckedRequests = 1000;
// Acknowledgements are gathered: one message at most every kAckEveryMs or
// kAckEvery answers, and whatever is left when the client closes.
constexpr size_t kAckEvery = 64;
constexpr auto kAckEveryMs = std::chrono::milliseconds(200);
// How long closing waits for unsent messages (the last acknowledgement).
constexpr int kLingerMs = 2000;

int MillisLeft(SteadyClock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(left);
}

std::string Hex(const std::string& id) { return HexEncode(id); }

}  // namespace

void WipeSubject(v1::Subject* s) {
  for (std::string* field :
       {s->mutable_bsn(), s->mutable_name(), s->mutable_date_of_birth(), s->mutable_salt()}) {
    SecureWipe(field->data(), field->size());
    field->clear();
  }
}

Status StatusFromErrorBody(const std::string& body) {
  v1::Error err;
  KP_RETURN_IF_ERROR(ParseBody(body, err));
  StatusCode code =
      err.code() == v1::ERROR_CODE_UNSPECIFIED ? StatusCode::kUnknown : static_cast<StatusCode>(err.code());
  return Status(code, "the gateway answered: " + err.message());
}

Coordinator::Coordinator(ClientConfig config, const Clock& clock)
    : config_(std::move(config)), clock_(clock) {}

Coordinator::~Coordinator() {
  if (dealer_) FlushAcks();
  dealer_.reset();  // the socket before its context (lingers up to kLingerMs to send)
  context_.reset();
}

Result<std::unique_ptr<Coordinator>> Coordinator::Open(const ClientConfig& config, const Clock& clock,
                                                       const PassphraseProvider& passphrase) {
  std::unique_ptr<Coordinator> c(new Coordinator(config, clock));
  KP_ASSIGN_OR_RETURN(Identity me, Identity::LoadFile(config.identity, passphrase));
  KP_RETURN_IF_ERROR(
      me.LoadKeyRing(config.identity, passphrase).status());  // a key rotation's other key sets
  if (me.kind() != ParticipantKind::kCoordinator) {
    return PermissionDeniedError(config.identity + " is the identity of a " +
                                 std::string(ParticipantKindName(me.kind())) + ", not of a coordinator");
  }
  c->me_ = std::make_unique<Identity>(std::move(me));
  // Every subject this client names goes with its keyed pseudonyms (AVG
  // art. 15 lookups by the privacy officer): no coordinator without the key.
  if (config.pseudonym_key.empty()) {
    return FailedPreconditionError(
        "the client configuration names no pseudonym_key: a coordinator needs the region's pseudonym key "
        "file "
        "(from the enrolment office; docs/operations.md, \"The region's pseudonym key\")");
  }
  KP_ASSIGN_OR_RETURN(cases::PseudonymKey pseudonym_key, cases::LoadPseudonymKeyFile(config.pseudonym_key));
  c->pseudonym_key_ = std::make_unique<cases::PseudonymKey>(std::move(pseudonym_key));
  KP_ASSIGN_OR_RETURN(PublicCard gateway, PublicCard::LoadFile(config.gateway_card));
  if (gateway.kind != ParticipantKind::kGateway) {
    return InvalidArgumentError("the pinned gateway card " + config.gateway_card + " is not a gateway card");
  }
  KP_ASSIGN_OR_RETURN(PublicCard enrolment,
                      LoadPinnedEnrolmentCard(config.enrolment_card, clock.NowMillis()));  // its expiry too
  KP_ASSIGN_OR_RETURN(Registry registry,
                      LoadRegistryFor(config, enrolment.signing_key));  // config_updates.cc
  c->enrolment_public_key_ = enrolment.signing_key;
  auto listed = registry.Find(gateway.id);
  if (!listed.ok() || !ListsCard(**listed, gateway)) {
    return UnauthenticatedError(
        "the pinned gateway card " + gateway.id +
        " is not the one the region's registry lists; ask the region's enrolment office");
  }
  // Every card of a rotation, and the archive's retired cards (old history).
  ForEachSigningKey(registry, [&c](const std::string& id, const std::string& key, int64_t valid_before) {
    c->keys_.AddKey(id, key, valid_before);
  });
  c->gateway_ = std::make_unique<PublicCard>(std::move(gateway));
  c->registry_ = std::make_unique<Registry>(std::move(registry));
  c->policies_ = LoadPoliciesFor(config, enrolment.signing_key, *c->registry_);  // config_updates.cc
  c->signer_ = std::make_unique<EnvelopeSigner>(c->me_->id(), c->me_->signing().secret_key, clock);
  KP_ASSIGN_OR_RETURN(c->store_, CoordinatorStore::Open(config.store, *c->me_));
  KP_RETURN_IF_ERROR(c->Purge().status());
  return c;
}

Status Coordinator::Connect(int handshake_ms) {
  // Connecting again (the console retries after the gateway was away): the
  // old socket must close before its context, or the context's end waits
  // for it forever.
  dealer_.reset();
  context_.reset();
  context_ = std::make_unique<TransportContext>();
  DealerOptions options;
  options.endpoint = config_.gateway_endpoint;
  options.server_public_key = gateway_->transport_key;
  options.linger_ms = kLingerMs;  // the last acknowledgement still leaves when the command ends
  KP_ASSIGN_OR_RETURN(dealer_, DealerClient::Create(context_->get(), me_->transport().public_key,
                                                    me_->transport().secret_key, options));
  switch (dealer_->WaitForHandshake(handshake_ms)) {
    case ConnectionState::kConnected:
      SendConfigFetch();  // a newer registry or policy bundle comes back as CONFIG_BUNDLE (config_updates.cc)
      handshakes_seen_ = dealer_->handshakes();
      ResendWaiting();  // a gateway restored meanwhile lost some (resend_waiting.cc)
      return OkStatus();
    case ConnectionState::kRefused:
      return UnauthenticatedError("the gateway refused the key of " + me_->id() + ": it is not enrolled");
    default:
      return UnavailableError("the gateway at " + config_.gateway_endpoint + " cannot be reached");
  }
}

Result<CoordinatorStore::Purged> Coordinator::Purge() { return store_->Purge(clock_.NowMillis()); }

std::string Coordinator::AgentOf(const std::string& partner) const {
  for (const auto& [id, e] : registry_->entries()) {
    if (e.card.kind == ParticipantKind::kAgent && e.card.partner == partner) return id;
  }
  return "";
}

Result<SignedMessage> Coordinator::Send(v1::MessageKind kind, const std::string& body,
                                        const std::string& message_id) {
  if (!dealer_) return FailedPreconditionError("not connected to the gateway");
  KP_ASSIGN_OR_RETURN(SignedMessage m, signer_->Sign(kind, "", "", body, message_id));
  KP_RETURN_IF_ERROR(dealer_->Send(m.bytes));
  return m;
}

// ------------------------------------------------------------ case commands

Result<std::optional<VerifiedEnvelope>> Coordinator::AwaitAnswer(
    const std::string& id, const std::function<void(const Outcome&)>& sink) {
  const auto deadline = SteadyClock::now() + std::chrono::milliseconds(config_.timeout_ms);
  while (true) {
    const int left = MillisLeft(deadline);
    if (left == 0) return std::optional<VerifiedEnvelope>();
    KP_ASSIGN_OR_RETURN(auto env, ReceiveOne(left, id, sink));
    if (!env.has_value()) continue;
    if (env->header.kind() == v1::MESSAGE_KIND_ERROR) return StatusFromErrorBody(env->body);
    return env;
  }
}

Result<Coordinator::Confirmed> Coordinator::Command(v1::CaseCommand cmd) {
  if (!dealer_) return FailedPreconditionError("not connected to the gateway");
  const bool open = cmd.command_case() == v1::CaseCommand::kOpen;
  if (!open) {
    // Never sign on a head this client has not checked (protocol §3.5).
    KP_RETURN_IF_ERROR(EnsureChain(cmd.case_id()));
    // Nor a command the case's history does not let me sign: said here in
    // words, before the gateway refuses it.
    KP_ASSIGN_OR_RETURN(cases::CaseFacts facts, LocalFacts(cmd.case_id()));
    const int64_t now = clock_.NowMillis();
    if (cmd.has_accept_handover()) {
      const cases::HandoverOffer* offer = facts.PendingOfferAt(now);
      if (offer == nullptr || offer->to != me_->id()) {
        return FailedPreconditionError("case " + cmd.case_id() +
                                       " is not offered to you (no pending handover to " + me_->id() +
                                       "; it may have lapsed or been cancelled)");
      }
    } else if (const std::string now_by = facts.CoordinatorAt(now); now_by != me_->id()) {
      return PermissionDeniedError("case " + cmd.case_id() + " is coordinated by " + now_by +
                                   ", not by you: only its coordinator signs its commands");
    }
    KP_ASSIGN_OR_RETURN(CoordinatorStore::Head head, store_->ChainHead(cmd.case_id()));
    cmd.set_previous(head.hash);
    cmd.set_sequence(head.length);
  }
  KP_ASSIGN_OR_RETURN(SignedMessage m, Send(v1::MESSAGE_KIND_CASE_COMMAND, cmd.SerializeAsString()));
  auto env = AwaitAnswer(m.message_id);
  if (!env.ok() || !env->has_value()) {
    // Taken or not, the gateway's history may now be ahead of ours (a lost
    // answer), or another than ours (a refusal because the head moved on):
    // fetched and checked before the next signature.
    if (!open) (void)store_->SetChainUnsure(cmd.case_id(), true);
    if (!env.ok()) return env.status();
    return DeadlineExceededError("no answer from the gateway within " +
                                 std::to_string(config_.timeout_ms / 1000) +
                                 " s; the command may or may not have been applied: check with the gateway");
  }
  if ((*env)->header.kind() != v1::MESSAGE_KIND_CASE_RESULT) {
    return UnauthenticatedError("the gateway answered a case command with a " +
                                std::string(wire::KindLabel((*env)->header.kind())));
  }
  Confirmed done;
  KP_RETURN_IF_ERROR(ParseBody((*env)->body, done.result));
  if (!open && done.result.case_id() != cmd.case_id()) {
    return UnauthenticatedError("the gateway confirmed a command of case " + cmd.case_id() +
                                " as one of case " + done.result.case_id());
  }
  done.envelope = std::move(m.bytes);
  done.sequence = cmd.sequence();
  return done;
}

Result<cases::CaseFacts> Coordinator::LocalFacts(const std::string& case_id, const policy::Policy* policy) {
  KP_ASSIGN_OR_RETURN(std::vector<std::string> chain, store_->Chain(case_id));
  if (chain.empty()) return NotFoundError("this client holds no history of case " + case_id);
  return cases::FoldVerified(cases::FoldContext::Of(policy, *registry_), chain, case_id);
}

Status Coordinator::EnsureChain(const std::string& case_id) {
  KP_ASSIGN_OR_RETURN(CoordinatorStore::Head head, store_->ChainHead(case_id));
  if (!head.unsure && head.length > 0) return OkStatus();
  return SyncCase(case_id).status();
}

Result<cases::CaseFacts> Coordinator::SyncCase(const std::string& case_id) {
  if (!dealer_) return FailedPreconditionError("not connected to the gateway");
  std::vector<std::string> fetched;
  uint64_t length = 0;
  v1::CaseStatus status;
  bool has_status = false;
  do {
    v1::CaseFetch fetch;
    fetch.set_case_id(case_id);
    fetch.set_from(fetched.size());
    KP_ASSIGN_OR_RETURN(SignedMessage sent, Send(v1::MESSAGE_KIND_CASE_FETCH, fetch.SerializeAsString()));
    KP_ASSIGN_OR_RETURN(auto env, AwaitAnswer(sent.message_id));
    if (!env.has_value()) {
      return DeadlineExceededError("the gateway did not send the history of case " + case_id + " within " +
                                   std::to_string(config_.timeout_ms / 1000) + " s; try again");
    }
    v1::CaseChain chain;
    if (env->header.kind() != v1::MESSAGE_KIND_CASE_CHAIN || !ParseBody(env->body, chain).ok() ||
        chain.case_id() != case_id || chain.from() != fetched.size()) {
      return UnauthenticatedError(
          "the gateway answered a case fetch with something else than the case's history");
    }
    length = chain.length();
    if (chain.has_status()) {
      status = chain.status();
      has_status = true;
    }
    if (chain.commands().empty() && fetched.size() < length) {
      return UnauthenticatedError("the gateway's history of case " + case_id +
                                  " stops short of its stated length");
    }
    for (auto& c : *chain.mutable_commands()) fetched.push_back(std::move(c));
  } while (fetched.size() < length && fetched.size() <= cases::kMaxCommands);
  if (fetched.empty()) {
    return FailedPreconditionError(
        "the gateway has no signed history of case " + case_id +
        " (opened by an older version of Ketenpoort): it cannot be continued; open a new "
        "case for this family");
  }
  // Signatures, links and signers, as an agent would check them.
  std::vector<std::string_view> views(fetched.begin(), fetched.end());
  auto checked = cases::VerifyChain(keys_, cases::FoldContext::Of(nullptr, *registry_), views, case_id);
  if (!checked.ok()) {
    return UnauthenticatedError("the gateway's history of case " + case_id +
                                " does not check: " + checked.status().message());
  }
  cases::CaseFacts& facts = *checked;
  // What this client signed and the gateway confirmed must still be there.
  KP_ASSIGN_OR_RETURN(std::vector<std::string> known, store_->Chain(case_id));
  for (size_t i = 0; i < known.size(); ++i) {
    if (i >= fetched.size() || fetched[i] != known[i]) {
      return DataLossError(
          "the gateway's history of case " + case_id + " lacks command " + std::to_string(i) +
          " that you signed and it confirmed: the gateway lost or changed it; tell its operator");
    }
  }
  std::vector<std::string> hashes;
  for (const auto& e : fetched) hashes.push_back(cases::CommandHash(e));
  KP_RETURN_IF_ERROR(store_->Begin());
  Status kept = store_->ReplaceChain(case_id, fetched, hashes);
  if (kept.ok()) {
    // A case offered to this participant is not in its store yet.
    auto c = store_->GetCase(case_id);
    CaseInfo info =
        c.ok() ? *c : CaseInfo{case_id, facts.purpose, status.phase(), facts.opened_ms, false, {}};
    if (!status.phase().empty()) info.phase = status.phase();
    info.closed = facts.closed;
    kept = store_->PutCase(info);
    if (kept.ok() && facts.closed) kept = store_->SetClosedAt(case_id, facts.closed_ms);
    for (const auto& [partner, since] : facts.members) {
      if (kept.ok()) kept = store_->AddPartner(case_id, partner, since);
    }
  }
  if (kept.ok() && has_status) kept = store_->PutStatus(case_id, status, clock_.NowMillis());
  if (kept.ok()) kept = store_->Commit();
  if (!kept.ok()) {
    store_->Rollback();
    return kept;
  }
  // Handed over for good: this client's copies of the case's data go.
  if (auto forgot = ForgetIfHandedAway(case_id, facts); !forgot.ok()) {
    spdlog::warn("case {}: could not delete the data of a case handed over: {}", case_id,
                 forgot.status().message());
  }
  return facts;
}

Status Coordinator::Commit(std::vector<v1::Subject>& subjects,
                           google::protobuf::RepeatedPtrField<v1::SubjectRef>* out) {
  std::set<std::string> refs;
  for (size_t i = 0; i < subjects.size(); ++i) {
    v1::Subject& s = subjects[i];
    if (s.ref().empty()) s.set_ref("S" + std::to_string(i + 1));
    if (!refs.insert(s.ref()).second)
      return InvalidArgumentError("subject reference " + s.ref() + " is used twice");
    s.set_salt(cases::NewSubjectSalt());
    KP_ASSIGN_OR_RETURN(std::string commitment, cases::SubjectCommitment(s));
    auto* ref = out->Add();
    ref->set_ref(s.ref());
    ref->set_role(s.role());
    ref->set_commitment(commitment);
    for (auto& p : cases::SubjectPseudonyms(*pseudonym_key_, s)) *ref->add_pseudonyms() = std::move(p);
  }
  return OkStatus();
}

Result<v1::CaseResult> Coordinator::OpenCase(const std::string& purpose, std::vector<v1::Subject> subjects) {
  v1::CaseCommand cmd;
  cmd.mutable_open()->set_purpose(purpose);
  if (Status s = Commit(subjects, cmd.mutable_open()->mutable_subjects()); !s.ok()) {
    for (auto& k : subjects) WipeSubject(&k);
    return s;
  }
  return OpenWith(cmd, subjects, nullptr);
}

Result<v1::CaseResult> Coordinator::OpenAcuteCase(const std::string& purpose,
                                                  std::vector<v1::Subject> subjects) {
  v1::CaseCommand cmd;
  cmd.mutable_open()->set_purpose(purpose);
  cmd.mutable_open()->set_acute(true);
  if (Status s = Commit(subjects, cmd.mutable_open()->mutable_subjects()); !s.ok()) {
    for (auto& k : subjects) WipeSubject(&k);
    return s;
  }
  return OpenWith(cmd, subjects, nullptr);
}

Result<v1::CaseResult> Coordinator::OpenWith(const v1::CaseCommand& cmd, std::vector<v1::Subject>& subjects,
                                             const std::function<Status(const std::string&)>& also_keep) {
  auto done = Command(cmd);
  if (!done.ok()) {
    for (auto& s : subjects) WipeSubject(&s);
    return done.status();
  }
  const v1::CaseResult& r = done->result;
  const int64_t now = clock_.NowMillis();
  Status kept = store_->Begin();
  if (kept.ok()) kept = store_->PutCase({r.case_id(), cmd.open().purpose(), r.phase(), now, false, {}});
  for (const auto& s : subjects) {
    if (kept.ok()) kept = store_->PutSubject(r.case_id(), s);
  }
  if (kept.ok())
    kept = store_->AppendCommand(r.case_id(), 0, cases::CommandHash(done->envelope), done->envelope);
  if (kept.ok() && r.has_status()) kept = store_->PutStatus(r.case_id(), r.status(), now);
  if (kept.ok() && also_keep) kept = also_keep(r.case_id());
  if (kept.ok()) kept = store_->Commit();
  for (auto& s : subjects) WipeSubject(&s);
  if (!kept.ok()) {
    store_->Rollback();
    return kept.WithContext(
        "case " + r.case_id() +
        " was opened at the gateway, but this machine could not keep it and its subjects");
  }
  return r;
}

Result<v1::CaseResult> Coordinator::ChangeCase(const v1::CaseCommand& cmd,
                                               const std::function<Status()>& also_keep) {
  KP_ASSIGN_OR_RETURN(Confirmed done, ChangeCaseConfirmed(cmd, also_keep));
  return std::move(done.result);
}

Result<Coordinator::Confirmed> Coordinator::ChangeCaseConfirmed(const v1::CaseCommand& cmd,
                                                                const std::function<Status()>& also_keep) {
  KP_ASSIGN_OR_RETURN(Confirmed done, Command(cmd));
  const v1::CaseResult& r = done.result;
  // The local copy of the case follows the gateway's answer, in one transaction with the command itself.
  auto c = store_->GetCase(r.case_id());
  CaseInfo info = c.ok() ? *c : CaseInfo{r.case_id(), "", "", clock_.NowMillis(), false, {}};
  info.phase = r.phase();
  info.closed = info.closed || cmd.has_close();
  Status kept = store_->Begin();
  if (kept.ok()) kept = store_->PutCase(info);
  if (kept.ok())
    kept =
        store_->AppendCommand(r.case_id(), done.sequence, cases::CommandHash(done.envelope), done.envelope);
  if (kept.ok() && r.has_status()) kept = store_->PutStatus(r.case_id(), r.status(), clock_.NowMillis());
  if (kept.ok() && cmd.has_close()) kept = store_->SetClosedAt(r.case_id(), clock_.NowMillis());
  if (kept.ok() && also_keep) kept = also_keep();
  if (kept.ok()) kept = store_->Commit();
  if (!kept.ok()) {
    store_->Rollback();
    (void)store_->SetChainUnsure(r.case_id(), true);
    return kept.WithContext("the gateway took the command on case " + r.case_id() +
                            ", but this machine could not keep it; it fetches the case's history next time");
  }
  return done;
}

Result<v1::CaseResult> Coordinator::AddSubject(const std::string& case_id, v1::Subject subject,
                                               std::string* assigned_ref) {
  KP_ASSIGN_OR_RETURN(std::vector<v1::Subject> known, store_->Subjects(case_id));
  if (subject.ref().empty()) subject.set_ref("S" + std::to_string(known.size() + 1));
  for (auto& k : known) {
    const bool taken = k.ref() == subject.ref();
    WipeSubject(&k);
    if (taken) return InvalidArgumentError("case " + case_id + " already has a subject " + subject.ref());
  }
  subject.set_salt(cases::NewSubjectSalt());
  auto commitment = cases::SubjectCommitment(subject);
  if (!commitment.ok()) {
    WipeSubject(&subject);
    return commitment.status();
  }
  v1::CaseCommand cmd;
  cmd.set_case_id(case_id);
  auto* ref = cmd.mutable_add_subject()->mutable_subject();
  ref->set_ref(subject.ref());
  ref->set_role(subject.role());
  ref->set_commitment(*commitment);
  for (auto& p : cases::SubjectPseudonyms(*pseudonym_key_, subject)) *ref->add_pseudonyms() = std::move(p);
  auto r = ChangeCase(cmd, [&] { return store_->PutSubject(case_id, subject); });
  if (r.ok() && assigned_ref != nullptr) *assigned_ref = subject.ref();
  WipeSubject(&subject);
  return r;
}

Result<v1::CaseResult> Coordinator::WithdrawConsent(const std::string& case_id,
                                                    const std::string& subject_ref,
                                                    const std::string& purpose) {
  v1::CaseCommand cmd;
  cmd.set_case_id(case_id);
  cmd.mutable_withdraw_consent()->set_subject_ref(subject_ref);
  cmd.mutable_withdraw_consent()->set_purpose(purpose);
  return ChangeCase(cmd);
}

Result<v1::CaseResult> Coordinator::Admit(const std::string& case_id, const std::string& partner) {
  v1::CaseCommand cmd;
  cmd.set_case_id(case_id);
  cmd.mutable_admit()->set_partner(partner);
  return ChangeCase(cmd, [&] { return store_->AddPartner(case_id, partner, clock_.NowMillis()); });
}

Result<v1::CaseResult> Coordinator::ChangePhase(const std::string& case_id, const std::string& phase) {
  v1::CaseCommand cmd;
  cmd.set_case_id(case_id);
  cmd.mutable_change_phase()->set_phase(phase);
  return ChangeCase(cmd);
}

Result<v1::CaseResult> Coordinator::RecordConsent(const std::string& case_id, const std::string& subject_ref,
                                                  const std::string& purpose, int64_t valid_until_ms,
                                                  uint8_t givers) {
  if (givers == 0 || (givers & ~(policy::kGiverSubject | policy::kGiverParents)) != 0) {
    return InvalidArgumentError("a consent is given by the subject, the parents, or both");
  }
  v1::CaseCommand cmd;
  cmd.set_case_id(case_id);
  auto* c = cmd.mutable_record_consent();
  c->set_subject_ref(subject_ref);
  c->set_purpose(purpose);
  c->set_valid_until_ms(valid_until_ms);
  if (givers & policy::kGiverSubject) c->add_given_by(v1::CONSENT_GIVER_SUBJECT);
  if (givers & policy::kGiverParents) c->add_given_by(v1::CONSENT_GIVER_PARENTS);
  KP_ASSIGN_OR_RETURN(std::optional<int> age, AgeOfSubject(case_id, subject_ref));
  if (age.has_value()) c->set_age_years(static_cast<uint32_t>(*age));
  return ChangeCase(cmd);
}

Result<v1::CaseResult> Coordinator::RecordGatekeeperApproval(const std::string& case_id,
                                                             const std::string& partner,
                                                             const std::vector<std::string>& categories,
                                                             const std::string& purpose,
                                                             int64_t valid_until_ms) {
  v1::CaseCommand cmd;
  cmd.set_case_id(case_id);
  auto* g = cmd.mutable_gatekeeper_approval();
  g->set_source_partner(partner);
  for (const auto& c : categories) g->add_categories(c);
  g->set_purpose(purpose);
  g->set_valid_until_ms(valid_until_ms);
  return ChangeCase(cmd);
}

Result<v1::CaseResult> Coordinator::RemovePartner(const std::string& case_id, const std::string& partner,
                                                  const std::string& reason_code) {
  v1::CaseCommand cmd;
  cmd.set_case_id(case_id);
  cmd.mutable_remove_partner()->set_partner(partner);
  cmd.mutable_remove_partner()->set_reason_code(reason_code);
  return ChangeCase(cmd, [&] { return store_->RemovePartner(case_id, partner); });
}

Result<v1::CaseResult> Coordinator::Close(const std::string& case_id, const std::string& reason_code) {
  v1::CaseCommand cmd;
  cmd.set_case_id(case_id);
  cmd.mutable_close()->set_reason_code(reason_code);
  return ChangeCase(cmd);
}

// ----------------------------------------------------------------- requests

Result<Coordinator::PreparedRequest> Coordinator::Prepare(const RequestSpec& spec) {
  if (spec.categories.empty()) return InvalidArgumentError("name at least one data category (--category)");
  KP_ASSIGN_OR_RETURN(CaseInfo c, store_->GetCase(spec.case_id));
  // Signed on the head of a history this client checked (protocol §3.5).
  KP_RETURN_IF_ERROR(EnsureChain(c.id));
  KP_ASSIGN_OR_RETURN(CoordinatorStore::Head head, store_->ChainHead(c.id));
  const std::string agent = AgentOf(spec.partner);
  if (agent.empty())
    return NotFoundError("no agent of partner '" + spec.partner + "' is enrolled in the registry");
  KP_ASSIGN_OR_RETURN(const RegistryEntry* agent_entry, registry_->Find(agent));
  KP_ASSIGN_OR_RETURN(std::vector<v1::Subject> all, store_->Subjects(c.id));
  v1::SubjectData data;
  data.set_case_id(c.id);
  data.set_justification(spec.justification);
  if (spec.weighing.has_value()) *data.mutable_weighing() = *spec.weighing;
  v1::FragmentRequest req;
  for (const auto& s : all) {
    const bool wanted =
        spec.subject_refs.empty() ||
        std::find(spec.subject_refs.begin(), spec.subject_refs.end(), s.ref()) != spec.subject_refs.end();
    if (!wanted) continue;
    *data.add_subjects() = s;
    auto* ref = req.add_subjects();
    ref->set_ref(s.ref());
    ref->set_role(s.role());
    for (auto& p : cases::SubjectPseudonyms(*pseudonym_key_, s)) *ref->add_pseudonyms() = std::move(p);
  }
  for (const auto& want : spec.subject_refs) {
    auto found = std::find_if(all.begin(), all.end(), [&](const v1::Subject& s) { return s.ref() == want; });
    if (found == all.end()) return NotFoundError("case " + c.id + " has no subject " + want);
  }
  if (req.subjects().empty())
    return FailedPreconditionError("case " + c.id + " has no subjects to ask about");

  const std::string request_id = NewMessageId();
  std::string body = data.SerializeAsString();
  auto sealed = SignAndSeal(*signer_, v1::MESSAGE_KIND_SUBJECT_DATA, agent, agent_entry->card.sealing_key,
                            request_id, body);
  SecureWipe(body.data(), body.size());
  for (auto& subject : *data.mutable_subjects()) WipeSubject(&subject);
  for (auto& subject : all) WipeSubject(&subject);
  SecureWipe(data.mutable_justification()->data(), data.justification().size());
  WipeWeighing(data.mutable_weighing());
  KP_RETURN_IF_ERROR(sealed.status());

  req.set_case_id(c.id);
  req.set_source_partner(spec.partner);
  for (const auto& cat : spec.categories) req.add_categories(cat);
  req.set_purpose(spec.purpose);
  // What the request declares (the gateway decides on it); the agent
  // assesses what is sealed (docs/protocol.md §3.3).
  const policy::Justification text = policy::AssessJustification(spec.justification, nullptr);
  req.set_justification_kind(spec.weighing.has_value()              ? v1::JUSTIFICATION_KIND_WEIGHING
                             : text != policy::Justification::kNone ? v1::JUSTIFICATION_KIND_TEXT
                                                                    : v1::JUSTIFICATION_KIND_NONE);
  req.set_justification_present(req.justification_kind() != v1::JUSTIFICATION_KIND_NONE);
  req.set_sealed_subjects(*sealed);
  req.set_case_head(head.hash);
  req.set_watch_until_ms(spec.watch_until_ms);  // 0: an ordinary request
  req.set_case_length(head.length);
  return PreparedRequest{
      request_id,
      {request_id, c.id, spec.partner, agent, spec.categories, spec.purpose, clock_.NowMillis()},
      req.SerializeAsString()};
}

Result<std::string> Coordinator::SendRequest(const RequestSpec& spec) {
  KP_ASSIGN_OR_RETURN(std::vector<std::string> ids, SendRequests({spec}));
  return ids.front();
}

Result<std::vector<std::string>> Coordinator::SendRequests(const std::vector<RequestSpec>& specs) {
  if (!dealer_) return FailedPreconditionError("not connected to the gateway");
  std::vector<PreparedRequest> prepared;
  prepared.reserve(specs.size());
  for (const auto& spec : specs) {
    KP_ASSIGN_OR_RETURN(PreparedRequest p, Prepare(spec));
    prepared.push_back(std::move(p));
  }
  // Signed once and kept as sent, so that sending it again is the same
  // request (protocol §6.1); recorded before it is sent, so an answer can
  // never arrive for a request this store does not know.
  for (auto& p : prepared) {
    KP_ASSIGN_OR_RETURN(SignedMessage m,
                        signer_->Sign(v1::MESSAGE_KIND_FRAGMENT_REQUEST, "", "", p.body, p.id));
    p.info.envelope = std::move(m.bytes);
  }
  KP_RETURN_IF_ERROR(store_->Begin());
  for (const auto& p : prepared) {
    if (Status s = store_->AddRequest(p.info); !s.ok()) {
      store_->Rollback();
      return s;
    }
  }
  KP_RETURN_IF_ERROR(store_->Commit());
  std::vector<std::string> ids;
  for (size_t i = 0; i < prepared.size(); ++i) {
    Status sent = dealer_->Send(prepared[i].info.envelope);
    if (!sent.ok()) {
      // The rest never left: they are not left waiting for ever.
      for (size_t j = i; j < prepared.size(); ++j) {
        (void)store_->MarkFailed(prepared[j].id, "not sent: " + sent.message(), clock_.NowMillis());
      }
      return sent;
    }
    ids.push_back(prepared[i].id);
  }
  return ids;
}

Status Coordinator::Resend(const std::string& request_id) {
  if (!dealer_) return FailedPreconditionError("not connected to the gateway");
  KP_ASSIGN_OR_RETURN(auto request, store_->GetRequest(request_id));
  if (!request.has_value()) return NotFoundError("request " + Hex(request_id) + " is not in this store");
  if (request->state != RequestState::kPending) {
    return FailedPreconditionError("request " + Hex(request_id) + " is " +
                                   std::string(RequestStateName(request->state)) + ": nothing to send again");
  }
  if (request->envelope.empty()) {
    return FailedPreconditionError(
        "request " + Hex(request_id) +
        " was made by an older version that did not keep it; ask again with a new request");
  }
  return dealer_->Send(request->envelope);
}

Result<std::optional<VerifiedEnvelope>> Coordinator::ReceiveOne(
    int timeout_ms, const std::string& awaited, const std::function<void(const Outcome&)>& sink) {
  if (!dealer_) return FailedPreconditionError("not connected to the gateway");
  KP_ASSIGN_OR_RETURN(auto bytes, dealer_->Receive(AckWait(timeout_ms)));
  // A new handshake after a lost connection: the gateway may have been
  // restarted, or restored from a backup (resend_waiting.cc).
  ResendAfterHandshake();
  if (!bytes.has_value()) {
    MaybeFlushAcks();  // idle: a gathered acknowledgement does not wait for the next message
    return std::optional<VerifiedEnvelope>();
  }
  auto handled = HandleMessage(*bytes, awaited, sink);
  MaybeFlushAcks();  // stored without a transaction: already durable
  return handled;
}

Result<std::optional<VerifiedEnvelope>> Coordinator::HandleMessage(
    const std::string& raw, const std::string& awaited, const std::function<void(const Outcome&)>& sink) {
  ++received_;
  // No replay guard: gateway answers are matched to a fresh command id, and
  // request answers to a waiting request (see the header comment).
  return HandleVerified(EnvelopeVerifier(keys_, nullptr).Verify(raw), raw, awaited, sink);
}

Result<std::optional<VerifiedEnvelope>> Coordinator::HandleVerified(
    Result<VerifiedEnvelope> env, const std::string& raw, const std::string& awaited,
    const std::function<void(const Outcome&)>& sink) {
  if (!env.ok()) {
    spdlog::warn("ignored a message that does not verify: {}", env.status().ToString());
    return std::optional<VerifiedEnvelope>();
  }
  const v1::MessageKind kind = env->header.kind();
  const std::string& rid = env->header.request_id();
  const bool from_gateway = env->header.sender() == gateway_->id;
  // The gateway addresses its own messages to me; an agent's delivery or
  // refusal is addressed to the gateway, which forwards it unchanged (the
  // sealed content inside names me).
  const std::string& want_recipient = from_gateway ? me_->id() : std::string();
  const bool forwarded = kind == v1::MESSAGE_KIND_REFERRAL || kind == v1::MESSAGE_KIND_HANDOVER_PACKAGE;
  if (env->header.recipient() != want_recipient && !(forwarded && env->header.recipient() == me_->id())) {
    spdlog::warn("ignored a {} from {} addressed to '{}'", wire::KindLabel(kind), env->header.sender(),
                 env->header.recipient());
    return std::optional<VerifiedEnvelope>();
  }
  if (from_gateway && kind == v1::MESSAGE_KIND_CONFIG_BUNDLE) {
    TakeConfigBundle(*env);  // config_updates.cc
    return std::optional<VerifiedEnvelope>();
  }
  if ((kind == v1::MESSAGE_KIND_CASE_RESULT || kind == v1::MESSAGE_KIND_CASE_CHAIN ||
       kind == v1::MESSAGE_KIND_ERROR || kind == v1::MESSAGE_KIND_REFERRAL_STATUS ||
       kind == v1::MESSAGE_KIND_ACCEPTED) &&
      from_gateway && !awaited.empty() && rid == awaited) {
    return std::optional<VerifiedEnvelope>(std::move(env).value());
  }
  if (forwarded ||
      (from_gateway && (kind == v1::MESSAGE_KIND_REFERRAL_STATUS || kind == v1::MESSAGE_KIND_CASE_NOTICE))) {
    // Handled once the inbox is in (they may need the case's history).
    Stash(*env, raw);
    return std::optional<VerifiedEnvelope>();
  }
  if (kind == v1::MESSAGE_KIND_ACCEPTED || kind == v1::MESSAGE_KIND_REFUSAL ||
      kind == v1::MESSAGE_KIND_PUSH_RECEIVED || kind == v1::MESSAGE_KIND_ERROR) {
    KP_ASSIGN_OR_RETURN(bool push, TakePushAnswer(*env));  // push.cc
    if (push) return std::optional<VerifiedEnvelope>();
  }
  if (kind == v1::MESSAGE_KIND_APPROVAL_PENDING &&
      !from_gateway) {  // the source's professional decides (§3.10)
    KP_RETURN_IF_ERROR(TakeApprovalPending(*env));
    return std::optional<VerifiedEnvelope>();
  }
  if (kind == v1::MESSAGE_KIND_ACCEPTED && from_gateway) {
    // The gateway holds the request durably: its answer will come (and wait
    // in the inbox if this client is gone by then).
    v1::RequestAccepted accepted;
    if (ParseBody(env->body, accepted).ok() && accepted.request_id() == rid) {
      KP_RETURN_IF_ERROR(TakeAccepted(accepted));  // resend_waiting.cc
    }
    return std::optional<VerifiedEnvelope>();
  }
  if (kind == v1::MESSAGE_KIND_SIGNAL && !from_gateway) {  // a watch's signal (watches.cc)
    KP_RETURN_IF_ERROR(TakeSignal(*env, sink));
    return std::optional<VerifiedEnvelope>();
  }
  if (kind != v1::MESSAGE_KIND_REFUSAL && kind != v1::MESSAGE_KIND_FRAGMENT_DELIVERY &&
      !(kind == v1::MESSAGE_KIND_ERROR && from_gateway)) {
    return std::optional<VerifiedEnvelope>();  // heartbeats, late answers to commands
  }
  KP_ASSIGN_OR_RETURN(auto request, store_->GetRequest(rid));
  if (!request.has_value() || request->state != RequestState::kPending) {
    spdlog::info("ignored a {} for request {}: not a waiting request of this coordinator",
                 wire::KindLabel(kind), Hex(rid));
    // A second copy of an answer already stored: the gateway may drop its copy.
    if (request.has_value() && kind != v1::MESSAGE_KIND_ERROR &&
        (request->state == RequestState::kDelivered || request->state == RequestState::kRefused)) {
      unacked_.push_back(rid);
    }
    return std::optional<VerifiedEnvelope>();
  }
  Outcome o = HandleAnswer(*env, raw, *request);
  if (o.kind != Outcome::Kind::kError) unacked_.push_back(rid);  // stored (durable once committed)
  if (sink) sink(o);
  return std::optional<VerifiedEnvelope>();
}

int Coordinator::AckWait(int timeout_ms) const {
  if (unacked_.empty()) return timeout_ms;
  const auto due =
      std::chrono::duration_cast<std::chrono::milliseconds>(last_ack_ + kAckEveryMs - SteadyClock::now());
  return std::clamp(static_cast<int>(due.count()), 1, std::max(timeout_ms, 1));
}

void Coordinator::MaybeFlushAcks() {
  if (unacked_.size() >= kAckEvery || SteadyClock::now() - last_ack_ >= kAckEveryMs) FlushAcks();
}

void Coordinator::FlushAcks() {
  last_ack_ = SteadyClock::now();
  if (unacked_.empty()) return;
  for (size_t i = 0; i < unacked_.size(); i += kMaxAckedRequests) {
    v1::DeliveryAck ack;
    for (size_t j = i; j < std::min(unacked_.size(), i + kMaxAckedRequests); ++j)
      ack.add_request_ids(unacked_[j]);
    // Best effort: an ack that does not arrive only means a second copy later.
    if (auto sent = Send(v1::MESSAGE_KIND_DELIVERY_ACK, ack.SerializeAsString()); !sent.ok()) {
      spdlog::warn("could not acknowledge stored answers: {}", sent.status().message());
    }
  }
  unacked_.clear();
}

Outcome Coordinator::HandleAnswer(const VerifiedEnvelope& env, const std::string& raw,
                                  const RequestInfo& request) {
  Outcome o;
  o.request_id = request.request_id;
  o.case_id = request.case_id;
  o.signer = env.header.sender();
  o.signed_ms = env.header.sent_at_ms();
  const std::string& sender = env.header.sender();
  const int64_t now = clock_.NowMillis();
  switch (env.header.kind()) {
    case v1::MESSAGE_KIND_ERROR:
      o.error = StatusFromErrorBody(env.body);
      if (o.error.ok()) o.error = InternalError("the gateway answered with an empty error");
      if (o.error.code() == StatusCode::kUnavailable || o.error.code() == StatusCode::kResourceExhausted) {
        // The gateway could not save it now (nothing was done): it stays
        // waiting, not accepted, to be sent again (Resend).
        if (Status s = store_->MarkNotAccepted(request.request_id, o.error.message()); !s.ok()) o.error = s;
        return o;
      }
      // A request the gateway had accepted and now refuses: it lost it (a
      // restore) and cannot take it again (resend_waiting.cc).
      if (request.accepted) return RefusedAfterLoss(request, std::move(o));
      // The gateway cannot take the request at all (malformed, not a
      // coordinator's): nothing was forwarded, and sending it again will not
      // change that.
      if (Status s = store_->MarkFailed(request.request_id, o.error.message(), now); !s.ok()) o.error = s;
      return o;
    case v1::MESSAGE_KIND_REFUSAL: {
      const bool by_gateway = sender == gateway_->id;
      if (!by_gateway && sender != request.agent) {
        o.error = UnauthenticatedError("a refusal of request " + Hex(request.request_id) + " signed by " +
                                       sender + ", who was not asked; ignored");
        return o;
      }
      Status s = ParseBody(env.body, o.refusal);
      const v1::RefusedBy expected = by_gateway ? v1::REFUSED_BY_GATEWAY : v1::REFUSED_BY_AGENT;
      if (s.ok() && (o.refusal.request_id() != request.request_id || o.refusal.case_id() != request.case_id ||
                     o.refusal.refused_by() != expected)) {
        s = UnauthenticatedError("a refusal whose body names another request or refuser; ignored");
      }
      if (s.ok()) s = store_->MarkRefused(request.request_id, o.refusal.reason(), now);
      if (!s.ok()) {
        o.error = s;
        return o;
      }
      o.kind = Outcome::Kind::kRefused;
      return o;
    }
    default: {
      auto verified = VerifyDelivery(env, request);
      if (!verified.ok()) {
        o.error = verified.status();
        spdlog::warn("a delivery for request {} was refused: {}", Hex(request.request_id),
                     verified.status().ToString());
        return o;
      }
      Status s =
          store_->PutFragment({request.request_id, request.case_id, sender, now, verified->retain_until_ms,
                               raw, "", "", verified->retain_after_closure_ms});
      if (!s.ok()) {
        verified->kind = Outcome::Kind::kError;
        verified->error = s;
      }
      return std::move(verified).value();
    }
  }
}

Result<Outcome> Coordinator::VerifyDelivery(const VerifiedEnvelope& env, const RequestInfo& request) const {
  const std::string rid = Hex(request.request_id);
  if (env.header.kind() != v1::MESSAGE_KIND_FRAGMENT_DELIVERY) {
    return UnauthenticatedError("request " + rid + " was answered with a " +
                                std::string(wire::KindLabel(env.header.kind())));
  }
  if (env.header.sender() != request.agent) {
    return UnauthenticatedError("a delivery for request " + rid + " signed by " + env.header.sender() +
                                ", not by " + request.agent + " who was asked");
  }
  v1::FragmentDelivery d;
  KP_RETURN_IF_ERROR(ParseBody(env.body, d));
  if (d.request_id() != request.request_id || d.case_id() != request.case_id) {
    return UnauthenticatedError("a delivery whose body names another request or case than request " + rid);
  }
  SealedExpectations want{v1::MESSAGE_KIND_FRAGMENT_CONTENT, me_->id(), request.request_id, request.agent};
  KP_ASSIGN_OR_RETURN(VerifiedEnvelope inner,
                      OpenAndVerify(me_->SealingRing(), keys_, d.sealed_content(), want));
  Outcome o;
  o.kind = Outcome::Kind::kDelivered;
  o.request_id = request.request_id;
  o.case_id = request.case_id;
  o.signer = request.agent;
  o.signed_ms = inner.header.sent_at_ms();
  KP_RETURN_IF_ERROR(ParseBody(inner.body, o.content));
  if (o.content.case_id() != request.case_id) {
    return UnauthenticatedError("the fragment for request " + rid + " is about another case");
  }
  std::set<std::string> asked(request.categories.begin(), request.categories.end());
  std::set<std::string> got;
  for (const auto& c : o.content.categories()) {
    if (asked.count(c.category()) == 0) {
      return UnauthenticatedError("the fragment for request " + rid + " holds category " + c.category() +
                                  ", which was not asked for");
    }
    got.insert(c.category());
  }
  if (got != asked)
    return UnauthenticatedError("the fragment for request " + rid + " lacks a category asked for");
  KP_RETURN_IF_ERROR(CheckRetention(o.content, "the fragment for request " + rid));  // protocol §3.3
  o.retain_until_ms = o.content.retain_until_ms();
  o.retain_after_closure_ms = o.content.retain_after_closure_ms();
  return o;
}

Result<Outcome> Coordinator::ReadFragment(const StoredFragment& f) const {
  if (!f.content.empty()) return ReadHandedFragment(f);
  VerifyOptions options;
  options.expected_kind = v1::MESSAGE_KIND_FRAGMENT_DELIVERY;
  options.expected_recipient = "";  // the agent addressed it to the gateway
  options.expected_sender = f.source;
  KP_ASSIGN_OR_RETURN(VerifiedEnvelope env, EnvelopeVerifier(keys_, nullptr).Verify(f.delivery, options));
  KP_ASSIGN_OR_RETURN(auto request, store_->GetRequest(f.request_id));
  if (!request.has_value()) return DataLossError("a stored fragment has no request in the store");
  return VerifyDelivery(env, *request);
}

Result<size_t> Coordinator::Poll(int timeout_ms, const std::function<void(const Outcome&)>& sink,
                                 bool first_only) {
  const auto deadline = SteadyClock::now() + std::chrono::milliseconds(timeout_ms);
  const size_t before = received_;
  int left = timeout_ms;
  do {
    // Wait for one message, then take in whatever else is already there, in
    // one transaction; report the answers once they are stored.
    std::vector<Outcome> outcomes;
    auto collect = [&](const Outcome& o) { outcomes.push_back(o); };
    if (!dealer_) return FailedPreconditionError("not connected to the gateway");
    KP_ASSIGN_OR_RETURN(auto first, dealer_->Receive(AckWait(left)));
    ResendAfterHandshake();  // a new connection: the gateway may have been restored (resend_waiting.cc)
    if (!first.has_value()) MaybeFlushAcks();
    if (first.has_value()) {
      std::vector<std::string> burst{std::move(*first)};
      for (int i = 0; i < 255; ++i) {
        KP_ASSIGN_OR_RETURN(auto more, dealer_->Receive(0));
        if (!more.has_value()) break;
        burst.push_back(std::move(*more));
      }
      const size_t mark = received_;
      const size_t acks_mark = unacked_.size();
      // Verified before the transaction, so that its kind of commit is
      // known: a burst of the gateway's confirmations only (ACCEPTED, at
      // 1 in flight the message between a request and its answer) changes
      // marks that may be lost with the machine (BeginUnsynced); anything
      // else (an answer above all: acknowledged and reported once durable)
      // is synced.
      std::vector<Result<VerifiedEnvelope>> verified;
      verified.reserve(burst.size());
      bool confirmations_only = true;
      EnvelopeVerifier verifier(keys_, nullptr);
      for (const auto& raw : burst) {
        verified.push_back(verifier.Verify(raw));
        if (verified.back().ok() && verified.back()->header.kind() != v1::MESSAGE_KIND_ACCEPTED) {
          confirmations_only = false;
        }
      }
      Status s = confirmations_only ? store_->BeginUnsynced() : store_->Begin();
      for (size_t i = 0; i < burst.size() && s.ok(); ++i) {
        ++received_;
        s = HandleVerified(std::move(verified[i]), burst[i], "", collect).status();
      }
      if (s.ok()) s = store_->Commit();
      if (!s.ok()) {
        // Nothing of the burst was kept: take each message in again on its
        // own, so an answer is not lost for a failed transaction.
        store_->Rollback();
        spdlog::warn("could not store {} answer(s) together ({}); storing them one by one", burst.size(),
                     s.message());
        outcomes.clear();
        received_ = mark;
        unacked_.resize(acks_mark);
        for (const auto& raw : burst) KP_RETURN_IF_ERROR(HandleMessage(raw, "", collect).status());
      }
      MaybeFlushAcks();  // what is acknowledged is committed
      for (const auto& o : outcomes) {
        if (sink) sink(o);
      }
      if (first_only) break;
    }
    left = MillisLeft(deadline);
  } while (left > 0);
  HandleStash(/*may_sync=*/false);
  return received_ - before;
}

Result<Outcome> Coordinator::AwaitOutcome(const std::string& request_id, int timeout_ms) {
  KP_ASSIGN_OR_RETURN(auto request, store_->GetRequest(request_id));
  if (!request.has_value()) return NotFoundError("request " + Hex(request_id) + " is not in this store");
  const auto deadline = SteadyClock::now() + std::chrono::milliseconds(timeout_ms);
  std::optional<Outcome> mine;
  while (!mine.has_value()) {
    const int left = MillisLeft(deadline);
    if (left == 0) {
      KP_ASSIGN_OR_RETURN(auto now, store_->GetRequest(request_id));
      const std::string waited = " within " + std::to_string(timeout_ms / 1000) + " s";
      if (now.has_value() && now->accepted) {
        return DeadlineExceededError("request " + Hex(request_id) +
                                     " was accepted by the gateway, but no answer came" + waited +
                                     "; the answer will come to your inbox: fetch it later with "
                                     "`ketenpoort inbox`");
      }
      return DeadlineExceededError(
          "request " + Hex(request_id) + " was not accepted by the gateway" + waited +
          " (no confirmation came); send it again with `ketenpoort request --resend " + Hex(request_id) +
          "`");
    }
    KP_RETURN_IF_ERROR(ReceiveOne(left, "", [&](const Outcome& o) {
                         if (o.request_id == request_id) mine = o;
                       }).status());
  }
  HandleStash(/*may_sync=*/false);
  return std::move(*mine);
}

Result<std::vector<Outcome>> Coordinator::FetchInbox(const std::string& case_id) {
  v1::InboxFetch fetch;
  fetch.set_case_id(case_id);
  KP_ASSIGN_OR_RETURN(SignedMessage sent, Send(v1::MESSAGE_KIND_INBOX_FETCH, fetch.SerializeAsString()));
  std::vector<Outcome> out;
  auto end = AwaitAnswer(sent.message_id, [&](const Outcome& o) { out.push_back(o); });
  HandleStash(/*may_sync=*/true);  // what came is taken in, whatever became of the end mark
  if (!end.ok()) return end.status();
  if (!end->has_value()) return DeadlineExceededError("the gateway did not finish sending the inbox in time");
  return out;  // after the CaseResult that marks the end
}

}  // namespace kp::client
