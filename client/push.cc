// Coordinator: sending to a partner (docs/protocol.md §3.9) and the store's
// pushes table. A push is decided by the gateway as a disclosure from this
// coordinator's partner to the recipient partner; the content is signed by
// this coordinator and sealed to the recipient's agent, which verifies it as
// it verifies an authorisation and answers PUSH_RECEIVED (or refuses).
#include "case/push.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <set>

#include "client/coordinator.h"
#include "core/base/encoding.h"
#include "core/crypto/random.h"
#include "core/crypto/secret_bytes.h"
#include "core/envelope/sealed.h"
#include "core/envelope/wire_format.h"
#include "core/sqlite/sqlite_db.h"
#include "core/transport/dealer_client.h"

namespace kp::client {

namespace v1 = ketenpoort::v1;
using sqlite::Stmt;

namespace {

constexpr int64_t kDayMs = 86'400'000;

constexpr char kPushTable[] =
    "CREATE TABLE IF NOT EXISTS pushes(push_id BLOB PRIMARY KEY, case_id TEXT NOT NULL, to_partner TEXT NOT "
    "NULL, "
    "agent TEXT NOT NULL, categories TEXT NOT NULL, purpose TEXT NOT NULL, sent_ms INTEGER NOT NULL, "
    "state TEXT NOT NULL, reason TEXT NOT NULL, answered_by TEXT NOT NULL, answered_ms INTEGER NOT NULL)";

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
  return out;
}

std::vector<std::string> Split(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size() && !s.empty()) {
    size_t comma = s.find(',', start);
    if (comma == std::string::npos) comma = s.size();
    out.push_back(s.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

PushInfo PushFromRow(Stmt& q) {
  PushInfo p;
  p.push_id = q.Col(0);
  p.case_id = q.Col(1);
  p.to_partner = q.Col(2);
  p.agent = q.Col(3);
  p.categories = Split(q.Col(4));
  p.purpose = q.Col(5);
  p.sent_ms = q.ColInt(6);
  p.state = q.Col(7);
  p.reason = q.Col(8);
  p.by = q.Col(9);
  p.answered_ms = q.ColInt(10);
  return p;
}

constexpr char kPushColumns[] =
    "push_id, case_id, to_partner, agent, categories, purpose, sent_ms, state, reason, answered_by, "
    "answered_ms";

}  // namespace

// ------------------------------------------------------------------ store

Status CoordinatorStore::EnsurePushTable() {
  if (push_table_) return OkStatus();
  // Made on first use; known to exist once made outside a transaction (one
  // made inside could still be rolled back).
  const bool outside = sqlite3_get_autocommit(db_->get()) != 0;
  KP_RETURN_IF_ERROR(db_->Exec(kPushTable));
  push_table_ = outside;
  return OkStatus();
}

Status CoordinatorStore::AddPush(const PushInfo& p) {
  KP_RETURN_IF_ERROR(EnsurePushTable());
  return Stmt(*db_,
              "INSERT INTO pushes(push_id, case_id, to_partner, agent, categories, purpose, sent_ms, state, "
              "reason, "
              "answered_by, answered_ms) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
      .Bind(p.push_id)
      .Text(p.case_id)
      .Text(p.to_partner)
      .Text(p.agent)
      .Text(Join(p.categories))
      .Text(p.purpose)
      .Int(p.sent_ms)
      .Text(p.state)
      .Text(p.reason)
      .Text(p.by)
      .Int(p.answered_ms)
      .Run();
}

Result<std::optional<PushInfo>> CoordinatorStore::GetPush(const std::string& push_id) {
  KP_RETURN_IF_ERROR(EnsurePushTable());
  const std::string sql = std::string("SELECT ") + kPushColumns + " FROM pushes WHERE push_id = ?";
  Stmt q(*db_, sql.c_str());
  KP_ASSIGN_OR_RETURN(bool row, q.Bind(push_id).Step());
  if (!row) return std::optional<PushInfo>();
  return std::optional<PushInfo>(PushFromRow(q));
}

Status CoordinatorStore::UpdatePush(const PushInfo& p) {
  KP_RETURN_IF_ERROR(EnsurePushTable());
  return Stmt(*db_,
              "UPDATE pushes SET state = ?, reason = ?, answered_by = ?, answered_ms = ? WHERE push_id = ?")
      .Text(p.state)
      .Text(p.reason)
      .Text(p.by)
      .Int(p.answered_ms)
      .Bind(p.push_id)
      .Run();
}

Result<std::vector<PushInfo>> CoordinatorStore::Pushes(const std::string& case_id) {
  KP_RETURN_IF_ERROR(EnsurePushTable());
  const std::string sql = std::string("SELECT ") + kPushColumns +
                          " FROM pushes WHERE ? = '' OR case_id = ? ORDER BY sent_ms, push_id";
  Stmt q(*db_, sql.c_str());
  q.Text(case_id).Text(case_id);
  std::vector<PushInfo> out;
  while (true) {
    KP_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return out;
    out.push_back(PushFromRow(q));
  }
}

// ------------------------------------------------------------- coordinator

Result<PushInfo> Coordinator::Push(const PushSpec& spec, int timeout_ms) {
  if (!dealer_) return FailedPreconditionError("not connected to the gateway");
  if (spec.content.categories().empty())
    return InvalidArgumentError("a push carries at least one data category");
  if (spec.keep_days <= 0)
    return InvalidArgumentError("the number of days the partner keeps it must be positive");
  KP_ASSIGN_OR_RETURN(CaseInfo c, store_->GetCase(spec.case_id));
  KP_RETURN_IF_ERROR(EnsureChain(c.id));  // signed on a history this client checked
  KP_ASSIGN_OR_RETURN(CoordinatorStore::Head head, store_->ChainHead(c.id));
  const std::string agent = AgentOf(spec.to_partner);
  if (agent.empty())
    return NotFoundError("no agent of partner '" + spec.to_partner + "' is enrolled in the registry");
  KP_ASSIGN_OR_RETURN(const RegistryEntry* agent_entry, registry_->Find(agent));

  // Whom it is about: the subjects named, or every subject the records name.
  std::set<std::string> refs(spec.subject_refs.begin(), spec.subject_refs.end());
  std::vector<std::string> categories;
  for (const auto& cat : spec.content.categories()) {
    if (std::find(categories.begin(), categories.end(), cat.category()) != categories.end()) {
      return InvalidArgumentError("category " + cat.category() + " is named twice in the content");
    }
    categories.push_back(cat.category());
    for (const auto& r : cat.records()) {
      if (spec.subject_refs.empty()) refs.insert(r.subject_ref());
      if (refs.count(r.subject_ref()) == 0) {
        return InvalidArgumentError("a record is about subject " + r.subject_ref() +
                                    ", who is not named (--subject)");
      }
    }
  }
  if (refs.empty()) return InvalidArgumentError("name the subjects the push is about (--subject)");
  KP_ASSIGN_OR_RETURN(std::vector<v1::Subject> all, store_->Subjects(c.id));
  v1::SubjectData data;
  data.set_case_id(c.id);
  v1::FragmentPush push;
  for (const auto& want : refs) {
    auto found = std::find_if(all.begin(), all.end(), [&](const v1::Subject& s) { return s.ref() == want; });
    if (found == all.end()) return NotFoundError("case " + c.id + " has no subject " + want);
    *data.add_subjects() = *found;
    auto* ref = push.add_subjects();
    ref->set_ref(found->ref());
    ref->set_role(found->role());
    for (auto& p : cases::SubjectPseudonyms(*pseudonym_key_, *found)) *ref->add_pseudonyms() = std::move(p);
  }
  const std::string push_id = NewMessageId();
  const int64_t now = clock_.NowMillis();
  v1::FragmentContent content = spec.content;
  content.set_case_id(c.id);
  content.clear_retain_until_ms();
  content.clear_retain_after_closure_ms();
  if (spec.keep_from_closure) {  // exactly one of the two (protocol §3.3)
    content.set_retain_after_closure_ms(spec.keep_days * kDayMs);
  } else {
    content.set_retain_until_ms(now + spec.keep_days * kDayMs);
  }
  std::string subjects_body = data.SerializeAsString();
  auto sealed_subjects = SignAndSeal(*signer_, v1::MESSAGE_KIND_SUBJECT_DATA, agent,
                                     agent_entry->card.sealing_key, push_id, subjects_body);
  SecureWipe(subjects_body.data(), subjects_body.size());
  for (auto& subject : *data.mutable_subjects()) WipeSubject(&subject);
  for (auto& subject : all) WipeSubject(&subject);
  KP_RETURN_IF_ERROR(sealed_subjects.status());
  std::string content_body = content.SerializeAsString();
  auto sealed_content = SignAndSeal(*signer_, v1::MESSAGE_KIND_PUSH_CONTENT, agent,
                                    agent_entry->card.sealing_key, push_id, content_body);
  SecureWipe(content_body.data(), content_body.size());
  KP_RETURN_IF_ERROR(sealed_content.status());

  push.set_case_id(c.id);
  push.set_to_partner(spec.to_partner);
  for (const auto& cat : categories) push.add_categories(cat);
  push.set_purpose(spec.purpose);
  push.set_sealed_content(*sealed_content);
  push.set_sealed_subjects(*sealed_subjects);
  push.set_case_head(head.hash);
  push.set_case_length(head.length);
  KP_ASSIGN_OR_RETURN(SignedMessage m, signer_->Sign(v1::MESSAGE_KIND_FRAGMENT_PUSH, "", "",
                                                     push.SerializeAsString(), push_id));
  PushInfo info;
  info.push_id = push_id;
  info.case_id = c.id;
  info.to_partner = spec.to_partner;
  info.agent = agent;
  info.categories = categories;
  info.purpose = spec.purpose;
  info.sent_ms = now;
  KP_RETURN_IF_ERROR(store_->AddPush(info));  // known before any answer can come
  KP_RETURN_IF_ERROR(dealer_->Send(m.bytes));

  // Until the agent's answer or a refusal (answers to other things are
  // handled meanwhile, as always).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    KP_ASSIGN_OR_RETURN(auto now_info, store_->GetPush(push_id));
    if (now_info.has_value() && (now_info->state == "received" || now_info->state == "refused")) {
      HandleStash(/*may_sync=*/false);
      return *now_info;
    }
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      HandleStash(/*may_sync=*/false);
      return now_info.value_or(info);
    }
    KP_RETURN_IF_ERROR(ReceiveOne(static_cast<int>(left.count()), "", nullptr).status());
  }
}

Result<std::vector<PushInfo>> Coordinator::Pushes(const std::string& case_id) {
  return store_->Pushes(case_id);
}

namespace {

// The push as the gateway will decide it (no content, no seals): case,
// recipient, purpose, categories, and the subjects named (or those the
// records are about) with their roles in the case.
Result<v1::FragmentPush> PushShape(const PushSpec& spec, const cases::CaseFacts& facts) {
  v1::FragmentPush push;
  push.set_case_id(spec.case_id);
  push.set_to_partner(spec.to_partner);
  push.set_purpose(spec.purpose);
  std::set<std::string> refs(spec.subject_refs.begin(), spec.subject_refs.end());
  for (const auto& cat : spec.content.categories()) {
    push.add_categories(cat.category());
    if (!spec.subject_refs.empty()) continue;
    for (const auto& r : cat.records()) refs.insert(r.subject_ref());
  }
  for (const auto& ref : refs) {
    const cases::SubjectFact* s = facts.Subject(ref);
    if (s == nullptr) return NotFoundError("case " + spec.case_id + " has no subject " + ref);
    auto* out = push.add_subjects();
    out->set_ref(ref);
    out->set_role(s->role);
  }
  return push;
}

}  // namespace

Result<policy::Decision> Coordinator::PushDecision(const PushSpec& spec, const policy::Policy& policy) {
  KP_ASSIGN_OR_RETURN(cases::CaseFacts facts, LocalFacts(spec.case_id, &policy));
  KP_ASSIGN_OR_RETURN(v1::FragmentPush push, PushShape(spec, facts));
  const std::string agent = AgentOf(spec.to_partner);
  if (agent.empty())
    return NotFoundError("no agent of partner '" + spec.to_partner + "' is enrolled in the registry");
  KP_ASSIGN_OR_RETURN(const RegistryEntry* recipient, registry_->Find(agent));
  KP_ASSIGN_OR_RETURN(const RegistryEntry* me, registry_->Find(me_->id()));
  const int64_t now = clock_.NowMillis();
  KP_RETURN_IF_ERROR(cases::CheckPush(policy, facts, me_->id(), *me, push, now));
  return cases::DecidePush(policy, facts, push, *me, *recipient, now);
}

Result<std::vector<PushChoice>> Coordinator::PushChoices(const std::string& case_id,
                                                         const std::string& purpose,
                                                         const std::vector<std::string>& subject_refs,
                                                         const policy::Policy& policy) {
  KP_ASSIGN_OR_RETURN(cases::CaseFacts facts, LocalFacts(case_id, &policy));
  KP_ASSIGN_OR_RETURN(const RegistryEntry* me, registry_->Find(me_->id()));
  std::vector<PushChoice> out;
  for (const auto& [partner, since] : facts.members) {
    if (partner == me->card.partner) continue;
    const std::string agent = AgentOf(partner);
    if (agent.empty()) continue;  // nobody there could receive it
    auto recipient = registry_->Find(agent);
    if (!recipient.ok()) continue;
    PushSpec spec;
    spec.case_id = case_id;
    spec.to_partner = partner;
    spec.purpose = purpose;
    spec.subject_refs = subject_refs;
    for (const auto& category : policy.categories()) {
      spec.content.clear_categories();
      spec.content.add_categories()->set_category(category.id);
      KP_ASSIGN_OR_RETURN(v1::FragmentPush push, PushShape(spec, facts));
      const int64_t now = clock_.NowMillis();
      PushChoice choice{partner, category.id, {}};
      if (Status s = cases::CheckPush(policy, facts, me_->id(), *me, push, now); !s.ok()) {
        choice.decision.reason = s.message();
      } else {
        choice.decision = cases::DecidePush(policy, facts, push, *me, **recipient, now);
      }
      out.push_back(std::move(choice));
    }
  }
  return out;
}

Result<bool> Coordinator::TakePushAnswer(const VerifiedEnvelope& env) {
  const std::string& id = env.header.request_id();
  if (id.size() != wire::kMessageIdBytes) return false;
  KP_ASSIGN_OR_RETURN(auto found, store_->GetPush(id));
  if (!found.has_value()) return false;
  PushInfo p = std::move(*found);
  const std::string& sender = env.header.sender();
  const bool from_gateway = sender == gateway_->id;
  const v1::MessageKind kind = env.header.kind();
  const bool done = p.state == "received" || p.state == "refused";
  if (kind == v1::MESSAGE_KIND_ACCEPTED) {
    if (from_gateway && p.state == "sent") {
      p.state = "accepted";
      KP_RETURN_IF_ERROR(store_->UpdatePush(p));
    }
    return true;
  }
  if (!from_gateway && sender != p.agent) {
    spdlog::warn("ignored a {} for push {} signed by {}, who it was not sent to", wire::KindLabel(kind),
                 HexEncode(id), sender);
    return true;
  }
  if (done) {
    unacked_.push_back(id);  // a second copy: the gateway may drop its held one
    return true;
  }
  const int64_t now = clock_.NowMillis();
  if (kind == v1::MESSAGE_KIND_ERROR) {
    if (!from_gateway) return true;
    p.state = "refused";
    p.reason = StatusFromErrorBody(env.body).message();
    p.by = sender;
    p.answered_ms = now;
    KP_RETURN_IF_ERROR(store_->UpdatePush(p));
    return true;
  } else if (kind == v1::MESSAGE_KIND_PUSH_RECEIVED) {
    v1::PushReceived got;
    if (from_gateway || !ParseBody(env.body, got).ok() || got.push_id() != id || got.case_id() != p.case_id) {
      spdlog::warn("ignored a push-received for push {} that names another push or case", HexEncode(id));
      return true;
    }
    p.state = "received";
    p.by = sender;
    p.answered_ms = now;
  } else {
    v1::Refusal refusal;
    const v1::RefusedBy expected = from_gateway ? v1::REFUSED_BY_GATEWAY : v1::REFUSED_BY_AGENT;
    if (!ParseBody(env.body, refusal).ok() || refusal.request_id() != id || refusal.case_id() != p.case_id ||
        refusal.refused_by() != expected) {
      spdlog::warn("ignored a refusal for push {} that names another push, case or refuser", HexEncode(id));
      return true;
    }
    p.state = "refused";
    p.reason = refusal.reason();
    p.by = sender;
    p.answered_ms = now;
  }
  KP_RETURN_IF_ERROR(store_->UpdatePush(p));
  unacked_.push_back(id);
  return true;
}

}  // namespace kp::client
