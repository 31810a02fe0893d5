#include "agent/receiver.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "agent/connectors/command_connector.h"
#include "case/decision.h"
#include "case/policy_category.h"
#include "case/pseudonym.h"
#include "case/push.h"
#include "core/base/encoding.h"
#include "core/base/file_util.h"
#include "core/crypto/secret_bytes.h"
#include "core/crypto/sha256.h"
#include "core/envelope/sealed.h"
#include "core/envelope/wire_format.h"

namespace kp::agent {

namespace v1 = ketenpoort::v1;

namespace {

constexpr int64_t kDayMs = 86'400'000;
// The largest kept push read back (an envelope is at most 4 MiB).
constexpr size_t kMaxStoredBytes = (4u << 20) + 1024;

std::string RoleId(v1::SubjectRole role) { return std::string(cases::SubjectRoleId(role)); }

std::string ReceivedDir(const std::string& data_dir) { return data_dir + "/received"; }

bool Exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

void WipeSubjectIdentifiers(v1::Subject* s) {
  SecureWipe(s->mutable_bsn()->data(), s->bsn().size());
  SecureWipe(s->mutable_name()->data(), s->name().size());
  SecureWipe(s->mutable_date_of_birth()->data(), s->date_of_birth().size());
}

int64_t MtimeMs(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1'000'000;
}

// <id>.keep: "<retain_until_ms> <retain_after_closure_ms> <closed_ms>\n",
// numbers only (closed_ms 0 while the closure is not known).
struct Keep {
  int64_t until_ms = 0;
  int64_t after_closure_ms = 0;
  int64_t closed_ms = 0;
};

std::string KeepText(const Keep& k) {
  return std::to_string(k.until_ms) + " " + std::to_string(k.after_closure_ms) + " " +
         std::to_string(k.closed_ms) + "\n";
}

std::optional<Keep> ParseKeep(const std::string& text) {
  Keep k;
  char tail = 0;
  long long a = 0, b = 0, c = 0;
  if (std::sscanf(text.c_str(), "%lld %lld %lld%c", &a, &b, &c, &tail) != 4 || tail != '\n')
    return std::nullopt;
  k.until_ms = a;
  k.after_closure_ms = b;
  k.closed_ms = c;
  if (k.until_ms < 0 || k.after_closure_ms < 0 || k.closed_ms < 0) return std::nullopt;
  if ((k.until_ms > 0) == (k.after_closure_ms > 0)) return std::nullopt;
  return k;
}

}  // namespace

std::string SinkJson(const std::string& push_id, const v1::FragmentPush& push, const std::string& coordinator,
                     const v1::SubjectData& subjects, const v1::FragmentContent& content,
                     const v1::Decision& decision, int64_t received_ms) {
  nlohmann::ordered_json j;
  j["push_id"] = HexEncode(push_id);
  j["case_id"] = push.case_id();
  j["from"] = coordinator;
  j["purpose"] = push.purpose();
  j["received_at"] = FormatRfc3339Millis(received_ms);
  if (content.retain_after_closure_ms() > 0) {  // protocol §3.3: while the case is open, and this long after
    j["keep_until"] = nullptr;
    j["keep_days_after_closure"] = static_cast<double>(content.retain_after_closure_ms()) / kDayMs;
  } else {
    j["keep_until"] = FormatRfc3339Millis(content.retain_until_ms());
  }
  j["legal_basis"] = decision.legal_basis();
  j["rule_ids"] = nlohmann::json::array();
  for (const auto& r : decision.rule_ids()) j["rule_ids"].push_back(r);
  j["subjects"] = nlohmann::json::array();
  for (const auto& s : subjects.subjects()) {
    j["subjects"].push_back({{"ref", s.ref()},
                             {"role", RoleId(s.role())},
                             {"bsn", s.bsn()},
                             {"name", s.name()},
                             {"date_of_birth", s.date_of_birth()}});
  }
  j["categories"] = nlohmann::json::array();
  for (const auto& c : content.categories()) {
    nlohmann::ordered_json cat;
    cat["category"] = c.category();
    cat["records"] = nlohmann::json::array();
    for (const auto& r : c.records()) {
      nlohmann::ordered_json fields = nlohmann::ordered_json::object();
      for (const auto& fv : r.values()) fields[fv.field()] = fv.value();
      cat["records"].push_back({{"subject_ref", r.subject_ref()}, {"fields", fields}});
    }
    j["categories"].push_back(cat);
  }
  return j.dump(2) + "\n";
}

// What one push is about, filled in as the checks go.
struct Receiver::Push {
  std::string id;
  std::string coordinator;
  const RegistryEntry* coordinator_entry = nullptr;
  v1::PushAuthorisation auth;
  v1::FragmentPush push;
  v1::SubjectData subjects;
  v1::FragmentContent content;
  policy::Decision decision;
  cases::CaseFacts facts;
  std::shared_ptr<const policy::Policy> policy;  // the one the gateway decided with (PolicyForDecision)
};

Receiver::Receiver(const Identity& me, Registry registry, std::shared_ptr<const policy::Policy> policy,
                   audit::LogWriter& log, const Clock& clock, ReceiverOptions options)
    : me_(me),
      registry_(std::move(registry)),
      policy_(std::move(policy)),
      chains_(keys_, cases::FoldContext::Of(policy_.get(), registry_)),
      log_(log),
      clock_(clock),
      options_(std::move(options)),
      signer_(me.id(), me.signing().secret_key, clock) {
  for (const auto& [id, e] : registry_.entries()) {
    for (const auto& c : e.cards) keys_.AddKey(id, c.signing_key, c.expires_ms);  // every card of a rotation
  }
}

Receiver::~Receiver() = default;

Result<std::unique_ptr<Receiver>> Receiver::Create(const Identity& me, Registry registry,
                                                   std::shared_ptr<const policy::Policy> policy,
                                                   audit::LogWriter& log, const Clock& clock,
                                                   ReceiverOptions options) {
  std::unique_ptr<Receiver> r(
      new Receiver(me, std::move(registry), std::move(policy), log, clock, std::move(options)));
  const std::string dir = ReceivedDir(r->options_.data_dir);
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return UnavailableError("cannot create " + dir + ": " + std::strerror(errno));
  }
  if (!r->options_.sink.argv.empty()) {
    ConnectorConfig c;
    c.kind = ConnectorConfig::Kind::kCommand;
    c.argv = r->options_.sink.argv;
    c.timeout_ms = r->options_.sink.timeout_ms;
    c.max_output_bytes = 1 << 20;
    auto command = CommandConnector::Create(c);
    if (!command.ok())
      return Status(command.status().code(), "the sink command: " + command.status().message());
    r->command_ = std::move(command).value();
  }
  return r;
}

v1::AuditRecord Receiver::NewRecord(v1::AuditEvent event) const {
  v1::AuditRecord r;
  r.set_event(event);
  r.mutable_actor()->set_participant_id(me_.id());
  r.mutable_actor()->set_partner(me_.partner());
  r.mutable_actor()->set_role("agent");
  r.set_recipient_partner(me_.partner());
  r.set_retention_until_unix_millis(clock_.NowMillis() + options_.audit_retention_ms);
  return r;
}

Outcome Receiver::Handle(const VerifiedEnvelope& outer, std::string_view raw) {
  Push p;
  p.id = outer.header.request_id();
  if (Status s = ParseBody(outer.body, p.auth); !s.ok()) return Refuse(p, s);
  if (p.id.size() != wire::kMessageIdBytes)
    return Refuse(p, InvalidArgumentError("a push authorisation must name its push"));
  const std::string id_hex = HexEncode(p.id);
  const std::string kept = ReceivedDir(options_.data_dir) + "/" + id_hex + ".push";
  if (Exists(kept)) {
    // Handed over again (the gateway reconnected, or our answer was lost):
    // kept already, so only the answer goes again, nothing twice.
    v1::FragmentPush push;
    v1::Envelope env;
    v1::Header header;
    if (env.ParseFromString(p.auth.push_envelope()) && header.ParseFromString(env.header()) &&
        header.message_id() == p.id && push.ParseFromString(env.body())) {
      p.push = push;
      spdlog::debug("push {} handed over again: kept already, answered again", id_hex);
      auto again = Received(p);
      if (again.ok()) return {std::move(*again), OkStatus()};
    }
  }
  if (Status s = Check(p.auth, &p, /*fresh=*/true); !s.ok()) return Refuse(p, s);

  // Kept (sealed to this agent, as the gateway sent it) before it is answered;
  // its retention beside it, in clear, for Purge.
  const Keep keep{p.content.retain_until_ms(), p.content.retain_after_closure_ms(), 0};
  Status wrote = WriteFileDurable(ReceivedDir(options_.data_dir) + "/" + id_hex + ".keep", KeepText(keep),
                                  0600, WriteMode::kReplace);
  if (wrote.ok()) wrote = WriteFileDurable(kept, raw, 0600, WriteMode::kReplace);
  if (Status s = wrote; !s.ok()) {
    spdlog::error("push {}: cannot keep it: {}", id_hex, s.message());
    return Refuse(p, UnavailableError("the agent cannot keep what it receives now; send it again later"));
  }
  v1::AuditRecord rec = NewRecord(v1::AUDIT_EVENT_RECEIVED);
  rec.set_case_id(p.push.case_id());
  rec.set_message_id(p.id);
  cases::CopySubjects(p.push.subjects(), &rec);  // refs and pseudonyms as the coordinator signed them
  rec.set_source_partner(p.coordinator_entry->card.partner);
  rec.set_purpose(p.push.purpose());
  rec.set_phase(p.facts.phase);
  cases::ToAudit(*p.policy, p.decision, &rec);
  for (const auto& c : p.push.categories()) cases::AddPolicyCategory(*p.policy, c, &rec);
  rec.mutable_payload()->set_ciphertext_bytes(p.push.sealed_content().size());
  rec.mutable_payload()->set_ciphertext_sha256(Sha256String(p.push.sealed_content()));
  const int64_t after_days = p.content.retain_after_closure_ms() / kDayMs;
  rec.set_reason(
      "received from " + p.coordinator + "; keep " +
      (p.content.retain_after_closure_ms() > 0
           ? std::to_string(after_days) + (after_days == 1 ? " day" : " days") + " after the case closes"
           : "until " + FormatRfc3339Millis(p.content.retain_until_ms())));
  if (auto logged = log_.Append(std::move(rec)); !logged.ok()) {
    (void)std::filesystem::remove(kept);
    spdlog::error("push {}: the agent's log is not writable ({}); not received", id_hex,
                  logged.status().message());
    return Refuse(p, UnavailableError("the agent cannot write its own log; send it again later"));
  }
  ++received_count_;
  spdlog::info("push {} case={} received from {}: {} categor{}", id_hex, p.push.case_id(), p.coordinator,
               p.push.categories_size(), p.push.categories_size() == 1 ? "y" : "ies");
  if (options_.sink.configured()) {
    const std::string json =
        SinkJson(p.id, p.push, p.coordinator, p.subjects, p.content, p.auth.decision(), clock_.NowMillis());
    if (Status s = Sink(id_hex, json); !s.ok()) {
      spdlog::warn("push {}: the sink did not take it ({}); offered again later", id_hex, s.message());
    }
  }
  auto answer = Received(p);
  if (!answer.ok()) return {std::nullopt, answer.status()};
  return {std::move(*answer), OkStatus()};
}

Result<std::string> Receiver::Received(const Push& p) {
  v1::PushReceived got;
  got.set_push_id(p.id);
  got.set_case_id(p.push.case_id());
  for (const auto& c : p.push.categories()) got.add_categories(c);
  got.set_received_ms(clock_.NowMillis());
  KP_ASSIGN_OR_RETURN(SignedMessage m,
                      signer_.Sign(v1::MESSAGE_KIND_PUSH_RECEIVED, "", p.id, got.SerializeAsString()));
  return m.bytes;
}

Status Receiver::Check(const v1::PushAuthorisation& pa, Push* p, bool fresh) {
  const int64_t now = clock_.NowMillis();
  if (fresh && pa.expires_at_ms() <= now)
    return FailedPreconditionError("the push authorisation has expired");
  VerifyOptions want;
  want.expected_kind = v1::MESSAGE_KIND_FRAGMENT_PUSH;
  auto env = EnvelopeVerifier(keys_, nullptr).Verify(pa.push_envelope(), want);
  if (!env.ok()) {
    return UnauthenticatedError("the coordinator's signature on the push does not verify (" +
                                env.status().message() + ")");
  }
  if (env->header.message_id() != p->id) {
    return UnauthenticatedError("the push authorisation names another push than the one it carries");
  }
  p->coordinator = env->header.sender();
  auto entry = registry_.Find(p->coordinator);
  if (!entry.ok() || (*entry)->card.kind != ParticipantKind::kCoordinator) {
    return PermissionDeniedError("the push was not signed by a coordinator of the signed registry");
  }
  p->coordinator_entry = *entry;
  if (fresh && env->header.sent_at_ms() < now - options_.max_push_age_ms) {
    return FailedPreconditionError("the coordinator's push is too old to take");
  }
  if (fresh && env->header.sent_at_ms() > now + options_.replay_window_ms) {
    return FailedPreconditionError("the coordinator's push is dated in the future; check the clocks");
  }
  KP_RETURN_IF_ERROR(ParseBody(env->body, p->push));
  const v1::FragmentPush& push = p->push;
  if (push.to_partner() != me_.partner()) {
    return PermissionDeniedError("the push goes to partner " + push.to_partner() + ", not " + me_.partner());
  }
  if (pa.decision().effect() != v1::EFFECT_PERMIT)
    return PermissionDeniedError("the gateway's decision is not a permit");

  // The case's whole history, up to the head the coordinator signed.
  auto facts = chains_.Check(pa.case_evidence(),
                             cases::ChainHead{push.case_id(), push.case_head(), push.case_length()});
  if (!facts.ok()) {
    return Status(facts.status().code(),
                  "the case history the gateway showed is not the one the coordinator signed "
                  "the push on: " +
                      facts.status().message());
  }
  p->facts = std::move(facts).value();
  if (pa.case_phase() != p->facts.phase) {
    return FailedPreconditionError("the case phase the gateway states (" + pa.case_phase() +
                                   ") is not the one the coordinator's commands show (" + p->facts.phase +
                                   ")");
  }
  // The policy the gateway decided with (step 5), for every policy question here.
  KP_ASSIGN_OR_RETURN(p->policy, PolicyForDecision(pa.decision().policy_sha256(), env->header.sent_at_ms()));
  const policy::Policy& decide_with = *p->policy;
  KP_RETURN_IF_ERROR(
      cases::CheckPush(decide_with, p->facts, p->coordinator, *p->coordinator_entry, push, now));

  // The subjects, sealed by the coordinator to this agent.
  auto subjects = OpenAndVerify(me_.SealingRing(), keys_, push.sealed_subjects(),
                                {v1::MESSAGE_KIND_SUBJECT_DATA, me_.id(), p->id, p->coordinator});
  if (!subjects.ok()) {
    return UnauthenticatedError("the sealed subject data cannot be opened or verified (" +
                                subjects.status().message() + ")");
  }
  KP_RETURN_IF_ERROR(ParseBody(subjects->body, p->subjects));
  KP_RETURN_IF_ERROR(cases::CheckSealedSubjects(
      p->facts, cases::PushAsRequest(push, p->coordinator_entry->card.partner), p->subjects));

  // The same policy, here.
  auto mine = registry_.Find(me_.id());
  if (!mine.ok()) return FailedPreconditionError("this agent is not in its own copy of the signed registry");
  p->decision = cases::DecidePush(decide_with, p->facts, push, *p->coordinator_entry, **mine, now);
  const policy::Decision& d = p->decision;
  if (d.effect != policy::Effect::kPermit) {
    return PermissionDeniedError("this agent's own policy check refuses it: " + d.reason);
  }
  if (HexDecode(d.policy_sha256).value_or("") != pa.decision().policy_sha256()) {
    return FailedPreconditionError(
        "the gateway decided with another version of the policy than this agent has (" + decide_with.id() +
        "); the partner must install the same policy file");
  }

  // The content: what both decisions allow, nothing more.
  auto content = OpenAndVerify(me_.SealingRing(), keys_, push.sealed_content(),
                               {v1::MESSAGE_KIND_PUSH_CONTENT, me_.id(), p->id, p->coordinator});
  if (!content.ok()) {
    return UnauthenticatedError("the sealed content cannot be opened or verified (" +
                                content.status().message() + ")");
  }
  KP_RETURN_IF_ERROR(ParseBody(content->body, p->content));
  if (p->content.case_id() != push.case_id())
    return PermissionDeniedError("the content is about another case");
  std::map<std::string, std::set<std::string>> gateway_fields;
  for (const auto& cf : pa.decision().obligations().allowed_fields()) {
    gateway_fields[cf.category()].insert(cf.fields().begin(), cf.fields().end());
  }
  std::map<std::string, std::set<std::string>> allowed;
  for (const auto& cf : d.obligations.fields) {
    auto& fields = allowed[std::string(cf.category)];
    const auto g = gateway_fields.find(std::string(cf.category));
    for (auto f : cf.fields) {
      if (g != gateway_fields.end() && g->second.count(std::string(f)) != 0) fields.insert(std::string(f));
    }
  }
  std::set<std::string> refs;
  for (const auto& s : push.subjects()) refs.insert(s.ref());
  std::set<std::string> pushed(push.categories().begin(), push.categories().end());
  std::set<std::string> held;
  for (const auto& c : p->content.categories()) {
    if (pushed.count(c.category()) == 0 || !held.insert(c.category()).second) {
      return PermissionDeniedError("the content holds category " + c.category() +
                                   ", which the push does not name");
    }
    const auto& fields = allowed[c.category()];
    for (const auto& r : c.records()) {
      if (refs.count(r.subject_ref()) == 0) {
        return PermissionDeniedError("the content holds a record about subject " + r.subject_ref() +
                                     ", whom the push does not name");
      }
      for (const auto& fv : r.values()) {
        if (fields.count(fv.field()) == 0) {
          return PermissionDeniedError("the content holds field " + c.category() + "." + fv.field() +
                                       ", which the policy does not let go to " + me_.partner());
        }
      }
    }
  }
  if (held != pushed) return PermissionDeniedError("the content lacks a category the push names");
  int64_t days = d.obligations.retention_days;
  if (const uint32_t g = pa.decision().obligations().retention_days(); g > 0 && (days == 0 || g < days))
    days = g;
  // Exactly one of the two (protocol §3.3); from closure only when both
  // decisions count so (a keep-until date within the term is always shorter).
  const int64_t until = p->content.retain_until_ms();
  const int64_t after = p->content.retain_after_closure_ms();
  if (until < 0 || after < 0 || (until > 0) == (after > 0)) {
    return PermissionDeniedError(
        "the content must carry exactly one of a keep-until date and a term after the "
        "case's closure");
  }
  if (after > 0) {
    if (!d.obligations.retention_from_closure || !pa.decision().obligations().retention_from_closure()) {
      return PermissionDeniedError(
          "the content counts its term from the case's closure, but the policy counts "
          "this push's retention from delivery");
    }
    if (days > 0 && after > days * kDayMs) {
      return PermissionDeniedError(
          "the content's term after the case's closure is longer than the policy's "
          "retention of " +
          std::to_string(days) + " days");
    }
    return OkStatus();
  }
  if (fresh && until <= now)
    return PermissionDeniedError("the content carries no keep-until date in the future");
  if (fresh && days > 0 && until > now + (days + 1) * kDayMs) {
    return PermissionDeniedError("the content's keep-until date is later than the policy's retention of " +
                                 std::to_string(days) + " days allows");
  }
  return OkStatus();
}

Result<std::shared_ptr<const policy::Policy>> Receiver::PolicyForDecision(std::string_view policy_sha256,
                                                                          int64_t pushed_ms) const {
  if (policy_sha256.size() == 32 && HexEncode(policy_sha256) == policy_->sha256_hex()) return policy_;
  const std::string named = policy_sha256.size() == 32 ? HexEncode(policy_sha256).substr(0, 16) : "none";
  if (policies_ && policy_sha256.size() == 32) {
    if (auto held = policies_->BySha(policy_sha256); held != nullptr) {
      if (policies_->InForceDuring(policy_sha256, pushed_ms - options_.replay_window_ms,
                                   clock_.NowMillis())) {
        return held;  // decided before a switch, arrived after it
      }
      return FailedPreconditionError(
          "policy-not-in-force: the gateway decided this push with policy " + cases::PolicyVersionId(*held) +
          ", which was not in force between the push and now by this agent's policy bundle (serial " +
          std::to_string(policies_->serial()) + "; " + cases::PolicyVersionId(*policy_) +
          " is in force); the coordinator may send it again");
    }
  }
  return FailedPreconditionError(
      "policy-unknown: the gateway decided with another version of the policy (SHA-256 " + named +
      "...) than this agent holds (" + cases::PolicyVersionId(*policy_) +
      (policies_ ? ", bundle serial " + std::to_string(policies_->serial())
                 : std::string(", a plain policy file")) +
      "); the partner must take the region's policy bundle from the gateway or install the same policy file");
}

Outcome Receiver::Refuse(const Push& p, const Status& why) {
  v1::AuditRecord rec = NewRecord(v1::AUDIT_EVENT_REFUSED);
  rec.set_case_id(p.push.case_id());
  rec.set_message_id(p.id);
  cases::CopySubjects(p.push.subjects(), &rec);
  if (p.coordinator_entry != nullptr) rec.set_source_partner(p.coordinator_entry->card.partner);
  for (const auto& c : p.push.categories()) rec.add_categories()->set_name(c);
  rec.set_reason("push refused by the agent: " + why.ToString());
  rec.mutable_decision()->set_verdict(v1::AUDIT_VERDICT_DENY);
  for (auto r : p.decision.rule_ids) rec.mutable_decision()->add_rule_ids(std::string(r));
  log_.AppendAsync(std::move(rec), [](Result<audit::AppendReceipt> got) {
    if (!got.ok()) spdlog::error("the agent's log is not writable: {}", got.status().message());
  });
  spdlog::info("push {} case={} refused by this agent: {}", HexEncode(p.id), p.push.case_id(),
               why.ToString());
  if (p.id.size() != wire::kMessageIdBytes) return {std::nullopt, why};
  v1::Refusal refusal;
  refusal.set_request_id(p.id);
  refusal.set_case_id(p.push.case_id());
  refusal.set_refused_by(v1::REFUSED_BY_AGENT);
  refusal.set_reason(why.message());
  for (auto r : p.decision.rule_ids) refusal.add_rule_ids(std::string(r));
  auto msg = signer_.Sign(v1::MESSAGE_KIND_REFUSAL, "", p.id, refusal.SerializeAsString());
  if (!msg.ok()) return {std::nullopt, why};
  return {std::move(msg->bytes), why};
}

Status Receiver::OpenKept(const std::string& stored, Push* p, int64_t* signed_ms) {
  // Kept as the gateway sent it: its signature, the coordinator's and both
  // seals are checked again; the case and policy were checked on arrival.
  VerifyOptions want;
  want.expected_kind = v1::MESSAGE_KIND_PUSH_AUTHORISATION;
  want.expected_recipient = me_.id();
  KP_ASSIGN_OR_RETURN(VerifiedEnvelope outer, EnvelopeVerifier(keys_, nullptr).Verify(stored, want));
  p->id = outer.header.request_id();
  KP_RETURN_IF_ERROR(ParseBody(outer.body, p->auth));
  VerifyOptions push_want;
  push_want.expected_kind = v1::MESSAGE_KIND_FRAGMENT_PUSH;
  KP_ASSIGN_OR_RETURN(VerifiedEnvelope env,
                      EnvelopeVerifier(keys_, nullptr).Verify(p->auth.push_envelope(), push_want));
  if (env.header.message_id() != p->id) return DataLossError("a kept push names two different ids");
  p->coordinator = env.header.sender();
  KP_RETURN_IF_ERROR(ParseBody(env.body, p->push));
  KP_ASSIGN_OR_RETURN(VerifiedEnvelope subjects,
                      OpenAndVerify(me_.SealingRing(), keys_, p->push.sealed_subjects(),
                                    {v1::MESSAGE_KIND_SUBJECT_DATA, me_.id(), p->id, p->coordinator}));
  KP_RETURN_IF_ERROR(ParseBody(subjects.body, p->subjects));
  KP_ASSIGN_OR_RETURN(VerifiedEnvelope content,
                      OpenAndVerify(me_.SealingRing(), keys_, p->push.sealed_content(),
                                    {v1::MESSAGE_KIND_PUSH_CONTENT, me_.id(), p->id, p->coordinator}));
  KP_RETURN_IF_ERROR(ParseBody(content.body, p->content));
  *signed_ms = content.header.sent_at_ms();
  return OkStatus();
}

Result<std::string> Receiver::SinkJsonOf(const std::string& stored) {
  Push p;
  int64_t signed_ms = 0;
  KP_RETURN_IF_ERROR(OpenKept(stored, &p, &signed_ms));
  std::string json =
      SinkJson(p.id, p.push, p.coordinator, p.subjects, p.content, p.auth.decision(), signed_ms);
  for (auto& s : *p.subjects.mutable_subjects()) WipeSubjectIdentifiers(&s);
  return json;
}

Receiver::Purged Receiver::Purge() {
  Purged out;
  const int64_t now = clock_.NowMillis();
  if (last_purge_ms_ != 0 && now - last_purge_ms_ < options_.purge_interval_ms) return out;
  last_purge_ms_ = now;
  const std::string dir = ReceivedDir(options_.data_dir);
  // Closures the gateway told this agent of (WATCH_ENDED, casus-gesloten),
  // read before the notices themselves may go.
  std::map<std::string, int64_t> closed;
  if (auto notices = ListNotices(options_.data_dir); notices.ok()) {
    for (const auto& n : *notices) {
      if (n.notice.kind() != v1::NOTICE_KIND_WATCH_ENDED || n.notice.reason_code() != "casus-gesloten")
        continue;
      const int64_t at = n.notice.at_ms() > 0 ? n.notice.at_ms() : n.received_ms;
      auto [it, fresh] = closed.emplace(n.notice.case_id(), at);
      if (!fresh) it->second = std::min(it->second, at);
    }
    for (const auto& n : *notices) {
      if (now - n.received_ms <= options_.notice_keep_ms) continue;
      std::error_code ec;
      if (std::filesystem::remove(dir + "/" + n.id_hex + ".notice", ec)) ++out.notices;
    }
  }
  auto items = List(options_.data_dir);
  if (!items.ok()) return out;
  for (const auto& item : *items) {
    const std::string base = dir + "/" + item.id_hex;
    std::optional<Keep> keep;
    if (auto text = ReadFileBounded(base + ".keep", 256); text.ok()) keep = ParseKeep(*text);
    bool write = false;
    if (!keep.has_value()) {  // kept before .keep files, or its .keep was lost: the content says it
      auto stored = ReadFileBounded(base + ".push", kMaxStoredBytes);
      Push p;
      int64_t signed_ms = 0;
      if (!stored.ok() || !OpenKept(*stored, &p, &signed_ms).ok()) {
        spdlog::error("push {}: the kept copy cannot be opened to read its retention; left for the operator",
                      item.id_hex);
        continue;
      }
      for (auto& s : *p.subjects.mutable_subjects()) WipeSubjectIdentifiers(&s);
      keep = Keep{std::max<int64_t>(p.content.retain_until_ms(), 0),
                  std::max<int64_t>(p.content.retain_after_closure_ms(), 0), 0};
      if ((keep->until_ms > 0) == (keep->after_closure_ms > 0)) keep->until_ms = now;  // malformed: goes now
      write = true;
    }
    if (keep->after_closure_ms > 0 && keep->closed_ms == 0) {
      if (auto c = closed.find(item.case_id); c != closed.end()) {
        keep->closed_ms = c->second;  // remembered beyond the notice's own life
        write = true;
      }
    }
    if (write) {
      if (Status s = WriteFileDurable(base + ".keep", KeepText(*keep), 0600, WriteMode::kReplace); !s.ok()) {
        spdlog::warn("push {}: its retention cannot be written beside it: {}", item.id_hex, s.message());
      }
    }
    std::optional<int64_t> end;
    if (keep->until_ms > 0) {
      end = keep->until_ms;
    } else {
      if (keep->closed_ms > 0) end = keep->closed_ms + keep->after_closure_ms;
      if (item.taken) {
        const int64_t taken_end = MtimeMs(base + ".taken") + keep->after_closure_ms;
        end = end.has_value() ? std::min(*end, taken_end) : taken_end;
      }
    }
    if (!end.has_value() || now < *end) continue;
    std::error_code ec;
    std::filesystem::remove(base + ".push", ec);
    if (ec) {
      spdlog::error("push {}: its retention ended but it cannot be deleted: {}", item.id_hex, ec.message());
      continue;
    }
    std::filesystem::remove(base + ".taken", ec);
    std::filesystem::remove(base + ".keep", ec);
    ++out.pushes;
    spdlog::info("push {} case={}: its retention ended; the agent's copy is deleted{}", item.id_hex,
                 item.case_id, item.taken ? "" : " (the sink never took it)");
  }
  return out;
}

Status Receiver::Sink(const std::string& id_hex, const std::string& json) {
  if (!options_.sink.folder.empty()) {
    KP_RETURN_IF_ERROR(
        WriteFileDurable(options_.sink.folder + "/" + id_hex + ".json", json, 0600, WriteMode::kReplace));
  } else if (command_ != nullptr) {
    KP_RETURN_IF_ERROR(static_cast<CommandConnector*>(command_.get())->Run(json).status());
  } else {
    return FailedPreconditionError("no sink is configured");
  }
  KP_RETURN_IF_ERROR(WriteFileDurable(ReceivedDir(options_.data_dir) + "/" + id_hex + ".taken", "", 0600,
                                      WriteMode::kReplace));
  spdlog::info("push {} handed to the sink", id_hex);
  return OkStatus();
}

size_t Receiver::RetrySink() {
  if (!options_.sink.configured()) return 0;
  const int64_t now = clock_.NowMillis();
  if (last_retry_ms_ != 0 && now - last_retry_ms_ < options_.sink.retry_ms) return 0;
  last_retry_ms_ = now;
  auto items = List(options_.data_dir);
  if (!items.ok()) return 0;
  size_t taken = 0;
  for (const auto& item : *items) {
    if (item.taken) continue;
    auto stored =
        ReadFileBounded(ReceivedDir(options_.data_dir) + "/" + item.id_hex + ".push", kMaxStoredBytes);
    if (!stored.ok()) continue;
    auto json = SinkJsonOf(*stored);
    if (!json.ok()) {
      spdlog::error("push {}: the kept copy cannot be opened: {}", item.id_hex, json.status().message());
      continue;
    }
    if (Status s = Sink(item.id_hex, *json); !s.ok()) {
      spdlog::warn("push {}: the sink did not take it ({}); offered again later", item.id_hex, s.message());
      continue;
    }
    ++taken;
  }
  return taken;
}

Result<std::vector<ReceivedItem>> Receiver::List(const std::string& data_dir) {
  std::vector<ReceivedItem> out;
  const std::string dir = ReceivedDir(data_dir);
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec)) return out;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const auto& path = entry.path();
    if (path.extension() != ".push") continue;
    ReceivedItem item;
    item.id_hex = path.stem().string();
    auto stored = ReadFileBounded(path.string(), kMaxStoredBytes);
    if (!stored.ok()) return stored.status();
    v1::Envelope outer, env;
    v1::PushAuthorisation pa;
    v1::Header header;
    v1::FragmentPush push;
    if (outer.ParseFromString(*stored) && pa.ParseFromString(outer.body()) &&
        env.ParseFromString(pa.push_envelope()) && header.ParseFromString(env.header()) &&
        push.ParseFromString(env.body())) {
      item.case_id = push.case_id();
      item.from = header.sender();
      item.purpose = push.purpose();
      item.categories.assign(push.categories().begin(), push.categories().end());
    }
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) {
      item.received_ms = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1'000'000;
    }
    item.taken = Exists(dir + "/" + item.id_hex + ".taken");
    out.push_back(std::move(item));
  }
  std::sort(out.begin(), out.end(), [](const ReceivedItem& a, const ReceivedItem& b) {
    return a.received_ms != b.received_ms ? a.received_ms < b.received_ms : a.id_hex < b.id_hex;
  });
  return out;
}

void Receiver::KeepNotice(const VerifiedEnvelope& env) {
  v1::CaseNotice notice;
  if (!ParseBody(env.body, notice).ok()) return;  // the responder answers the parse error
  const std::string path =
      ReceivedDir(options_.data_dir) + "/" + HexEncode(env.header.message_id()) + ".notice";
  if (Exists(path)) return;
  if (Status s = WriteFileDurable(path, notice.SerializeAsString(), 0600, WriteMode::kReplace); !s.ok()) {
    spdlog::warn("notice about case {} not kept for the inbox: {}", notice.case_id(), s.message());
  }
}

Result<std::vector<AgentNotice>> Receiver::ListNotices(const std::string& data_dir) {
  std::vector<AgentNotice> out;
  const std::string dir = ReceivedDir(data_dir);
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec)) return out;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const auto& path = entry.path();
    if (path.extension() != ".notice") continue;
    AgentNotice n;
    n.id_hex = path.stem().string();
    KP_ASSIGN_OR_RETURN(std::string bytes, ReadFileBounded(path.string(), 64 * 1024));
    if (!n.notice.ParseFromString(bytes)) return DataLossError(path.string() + " is not a case notice");
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) {
      n.received_ms = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1'000'000;
    }
    out.push_back(std::move(n));
  }
  std::sort(out.begin(), out.end(), [](const AgentNotice& a, const AgentNotice& b) {
    return a.received_ms != b.received_ms ? a.received_ms < b.received_ms : a.id_hex < b.id_hex;
  });
  return out;
}

Status Receiver::HandOverAgain(const std::string& data_dir, const std::string& id_hex) {
  auto id = HexDecode(id_hex);
  if (!id.ok() || id->size() != wire::kMessageIdBytes) {
    return InvalidArgumentError("an id is 32 hexadecimal characters, as `ketenpoort-agent inbox` shows it");
  }
  const std::string base = ReceivedDir(data_dir) + "/" + HexEncode(*id);
  if (!Exists(base + ".push"))
    return NotFoundError("nothing with id " + HexEncode(*id) + " was received here");
  std::error_code ec;
  std::filesystem::remove(base + ".taken", ec);
  if (ec) return UnavailableError("cannot remove " + base + ".taken: " + ec.message());
  return OkStatus();
}

}  // namespace kp::agent
