#include "gateway/gateway_core.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "core/base/encoding.h"
#include "core/crypto/random.h"
#include "core/envelope/wire_format.h"
#include "core/observe/metrics.h"
#include "gateway/gateway_core_internal.h"

namespace kp::gateway {

namespace v1 = ketenpoort::v1;

namespace {

// Request ids in one DELIVERY_ACK (docs/protocol.md §6).
constexpr int kMaxAckedRequests = 1000;
// How long the outcome of a request is remembered, to recognise the request
// or its answer when it is sent again (docs/protocol.md §6.1).
constexpr int64_t kRememberClosedMs = 30LL * 24 * 3600 * 1000;

v1::ErrorCode ToErrorCode(StatusCode code) {
  switch (code) {
    case StatusCode::kInvalidArgument:
      return v1::ERROR_CODE_INVALID_ARGUMENT;
    case StatusCode::kNotFound:
      return v1::ERROR_CODE_NOT_FOUND;
    case StatusCode::kPermissionDenied:
      return v1::ERROR_CODE_PERMISSION_DENIED;
    case StatusCode::kResourceExhausted:
      return v1::ERROR_CODE_RESOURCE_EXHAUSTED;
    case StatusCode::kFailedPrecondition:
      return v1::ERROR_CODE_FAILED_PRECONDITION;
    case StatusCode::kUnavailable:
      return v1::ERROR_CODE_UNAVAILABLE;
    case StatusCode::kUnauthenticated:
      return v1::ERROR_CODE_UNAUTHENTICATED;
    default:
      return v1::ERROR_CODE_INTERNAL;
  }
}

// The request a message for a coordinator answers (a delivery or refusal,
// which the coordinator acknowledges), or "" for anything else. Reads the
// header of an envelope this gateway sent itself; it verifies nothing.
std::string AnsweredRequest(const std::string& envelope) {
  v1::Envelope env;
  v1::Header header;
  if (!env.ParseFromString(envelope) || !header.ParseFromString(env.header())) return "";
  const bool answer = header.kind() == v1::MESSAGE_KIND_FRAGMENT_DELIVERY ||
                      header.kind() == v1::MESSAGE_KIND_REFUSAL ||
                      header.kind() == v1::MESSAGE_KIND_PUSH_RECEIVED;
  return answer && header.request_id().size() == wire::kMessageIdBytes ? header.request_id() : "";
}

}  // namespace

// ------------------------------------------------------------- admission

Status Admissible(const RegistryEntry& sender, const v1::Header& header, const std::string& gateway_id) {
  if (!header.recipient().empty() && header.recipient() != gateway_id) {
    return UnauthenticatedError("the message is addressed to '" + header.recipient() +
                                "', not to this gateway ('" + gateway_id + "')");
  }
  const ParticipantKind kind = sender.card.kind;
  const v1::MessageKind mk = header.kind();
  const std::string label(wire::KindLabel(mk));
  bool request_id_empty = true;  // §6: these kinds carry no request_id
  ParticipantKind from = ParticipantKind::kCoordinator;
  switch (mk) {
    case v1::MESSAGE_KIND_HEARTBEAT:
    case v1::MESSAGE_KIND_CONFIG_FETCH:  // §3.13
      from = kind;                       // from anyone
      break;
    case v1::MESSAGE_KIND_INBOX_FETCH:
    case v1::MESSAGE_KIND_DELIVERY_ACK:
      // A privacy officer fetches and acknowledges the notices held for it
      // (privacy_notices.cc); its inbox holds nothing else.
      if (kind == ParticipantKind::kPrivacyOfficer) from = kind;
      break;
    case v1::MESSAGE_KIND_CASE_COMMAND:
    case v1::MESSAGE_KIND_CASE_FETCH:
    case v1::MESSAGE_KIND_FRAGMENT_REQUEST:
    case v1::MESSAGE_KIND_REFERRAL:  // the referrer: a coordinator-kind participant whose role may refer
    case v1::MESSAGE_KIND_REFERRAL_DECLINE:
    case v1::MESSAGE_KIND_HANDOVER_PACKAGE:
    case v1::MESSAGE_KIND_FRAGMENT_PUSH:
      break;
    case v1::MESSAGE_KIND_AUDIT_PULL:
      from = ParticipantKind::kPrivacyOfficer;
      break;
    case v1::MESSAGE_KIND_SOURCE_CONSENT:  // §3.10
      from = ParticipantKind::kAgent;
      break;
    case v1::MESSAGE_KIND_FRAGMENT_DELIVERY:
    case v1::MESSAGE_KIND_REFUSAL:
    case v1::MESSAGE_KIND_APPROVAL_PENDING:  // request_id: the request held (§3.10)
    case v1::MESSAGE_KIND_SIGNAL:            // request_id: the watch (§3.8)
    case v1::MESSAGE_KIND_PUSH_RECEIVED:
      from = ParticipantKind::kAgent;
      request_id_empty = false;
      break;
    default:
      return InvalidArgumentError("the gateway does not take " + label + " messages");
  }
  if (kind != from) {
    const std::string who(ParticipantKindName(kind));
    const char* article = who.find_first_of("aeiou") == 0 ? "an " : "a ";
    return PermissionDeniedError(article + who + " may not send " + label + " messages");
  }
  if (request_id_empty && !header.request_id().empty()) {
    return InvalidArgumentError("a " + label + " message must have an empty request_id in its header");
  }
  return OkStatus();
}

std::string UnverifiedMessageId(const std::string& envelope) {
  v1::Envelope env;
  v1::Header header;
  if (!env.ParseFromString(envelope) || !header.ParseFromString(env.header())) return "";
  return header.message_id().size() == wire::kMessageIdBytes ? header.message_id() : "";
}

// ------------------------------------------------------------------ setup

GatewayCore::GatewayCore(GatewayParts parts, const Clock& clock, Presence presence)
    : config_(std::move(parts.config)),
      clock_(clock),
      presence_(std::move(presence)),
      identity_(std::move(parts.identity)),
      enrolment_card_(std::move(parts.enrolment_card)),
      policy_(std::move(parts.policy)),
      store_(std::move(parts.store)),
      audit_(std::move(parts.audit)) {
  registry_ = std::make_unique<Registry>(std::move(*parts.registry));
}

GatewayCore::~GatewayCore() = default;

Result<std::unique_ptr<GatewayCore>> GatewayCore::Create(GatewayParts parts, const Clock& clock,
                                                         Presence presence) {
  if (parts.identity == nullptr || parts.enrolment_card == nullptr || parts.registry == nullptr ||
      parts.policy == nullptr || parts.store == nullptr || parts.audit == nullptr) {
    return InvalidArgumentError("the gateway core needs every part of OpenGatewayParts()");
  }
  std::unique_ptr<GatewayCore> core(new GatewayCore(std::move(parts), clock, std::move(presence)));
  for (const auto& [id, e] : core->registry_->entries()) {
    for (const auto& c : e.cards)
      core->keys_.AddKey(id, c.signing_key, c.expires_ms);  // every card of a rotation
  }
  core->registry_serial_ = core->registry_->serial();
  core->signer_ =
      std::make_unique<EnvelopeSigner>(core->identity_->id(), core->identity_->signing().secret_key, clock);
  KP_RETURN_IF_ERROR(core->RecoverAuditOutbox());
  KP_RETURN_IF_ERROR(core->LoadConfigForDistribution());  // config_distribution.cc
  return core;
}

const RegistryEntry* GatewayCore::Enrolled(const std::string& id) const {
  auto e = registry_->Find(id);
  return e.ok() ? *e : nullptr;
}

Status GatewayCore::RecordStart() {
  v1::AuditRecord rec = NewRecord(v1::AUDIT_EVENT_POLICY_LOADED, identity_->id());
  rec.set_reason("gateway started with policy " + policy_->id() + " and registry serial " +
                 std::to_string(registry_serial_));
  rec.mutable_decision()->set_policy_sha256(HexDecode(policy_->sha256_hex()).value());
  return Audit(std::move(rec)).status();
}

Status GatewayCore::LoadRegistry() {
  KP_ASSIGN_OR_RETURN(Registry reg,
                      LoadGatewayRegistry(config_, *enrolment_card_, *identity_, registry_serial_));
  StaticKeyResolver keys;
  for (const auto& [id, e] : reg.entries()) {
    for (const auto& c : e.cards) keys.AddKey(id, c.signing_key, c.expires_ms);  // every card of a rotation
  }
  registry_serial_ = reg.serial();
  *registry_ =
      std::move(reg);  // in place: VerifiedMessage entries of a running unit stay valid until it ends
  keys_ = std::move(keys);
  return OkStatus();
}

struct GatewayCore::Config {
  Registry registry;
  uint64_t serial;
  StaticKeyResolver keys;
  std::shared_ptr<const policy::Policy> policy;
  std::shared_ptr<const cases::PolicySet> policy_set;
  ketenpoort::v1::ConfigBundle bundle;
};

std::shared_ptr<GatewayCore::Config> GatewayCore::SaveConfig() const {
  return std::make_shared<Config>(Config{*registry_, registry_serial_, keys_, policy_, policy_set_, bundle_});
}

void GatewayCore::RestoreConfig(const std::shared_ptr<Config>& saved) {
  *registry_ = saved->registry;
  registry_serial_ = saved->serial;
  keys_ = saved->keys;
  policy_ = saved->policy;
  policy_set_ = saved->policy_set;
  bundle_ = saved->bundle;
  cases_by_head_.clear();
}

Status GatewayCore::Reload(bool* registry_changed) {
  cases_by_head_.clear();  // case histories are folded against the registry and the policy in force
  Status reg = LoadRegistry();
  *registry_changed = reg.ok();
  v1::AuditRecord r = NewRecord(v1::AUDIT_EVENT_PARTICIPANT_ENROLLED, identity_->id());
  r.set_reason(reg.ok() ? "registry reloaded, serial " + std::to_string(registry_serial_)
                        : "new registry refused, the previous one stays: " + reg.message());
  (void)Audit(std::move(r));  // a failure fails the unit: the Gateway puts the old registry back

  // A policy bundle: its policy in force now (config_distribution.cc).
  auto loaded = config_.policy_bundle.empty() ? LoadGatewayPolicy(config_) : ReloadPolicyBundle();
  Status pol = loaded.status();
  if (loaded.ok()) policy_ = *loaded;
  v1::AuditRecord p = NewRecord(v1::AUDIT_EVENT_POLICY_LOADED, identity_->id());
  p.set_reason(pol.ok() ? "policy " + policy_->id() + " loaded"
                        : "new policy refused, policy " + policy_->id() + " stays in force");
  p.mutable_decision()->set_policy_sha256(HexDecode(policy_->sha256_hex()).value());
  (void)Audit(std::move(p));
  if (!reg.ok()) spdlog::error("reload: registry refused: {}", reg.message());
  if (!pol.ok()) spdlog::error("reload: policy refused; the previous policy stays: {}", pol.message());
  if (reg.ok() && pol.ok())
    spdlog::info("reload: registry serial {}, policy {}", registry_serial_, policy_->id());
  RefreshConfigBundle();  // a new registry or bundle goes to the connected participants
  return reg.ok() ? pol : reg;
}

// ------------------------------------------------------------------ audit

v1::AuditRecord GatewayCore::NewRecord(v1::AuditEvent event, const std::string& actor) const {
  v1::AuditRecord r;
  r.set_event(event);
  auto* a = r.mutable_actor();
  a->set_participant_id(actor);
  if (const RegistryEntry* e = Enrolled(actor)) {
    a->set_partner(e->card.partner);
    a->set_role(e->role.empty() ? std::string(ParticipantKindName(e->card.kind)) : e->role);
  }
  r.set_retention_until_unix_millis(clock_.NowMillis() + config_.audit_retention_ms);
  return r;
}

Result<uint64_t> GatewayCore::Audit(v1::AuditRecord record) {
  // Every record belongs to a unit of work: staged, kept in the case
  // database's outbox in the unit's transaction, appended after it.
  KP_CHECK(in_unit_);
  auto staged = audit_->Stage(std::move(record));
  if (!staged.ok()) {
    spdlog::error("audit log append failed: {}", staged.status().message());
    FailUnit(UnavailableError("the audit log is not writable: " + staged.status().message()));
    return staged.status();
  }
  if (Status s = store_->AddAuditOutbox(*staged); !s.ok()) {
    // Staged but not kept: this unit must not commit (its index would be a
    // gap in the log).
    spdlog::error("cannot keep an audit record in the case database: {}", s.message());
    FailUnit(s);
    return s;
  }
  unit_records_.push_back(std::move(*staged));
  return unit_records_.back().index;
}

Status GatewayCore::RecoverAuditOutbox() {
  auto left = store_->AuditOutbox();
  if (!left.ok()) return left.status();
  const uint64_t before = audit_->size();
  KP_RETURN_IF_ERROR(audit_->AppendStaged(*left));
  KP_RETURN_IF_ERROR(store_->TrimAuditOutbox(audit_->durable_size()));
  if (audit_->size() > before) {
    spdlog::warn(
        "recovered {} audit record(s) that were committed but not yet in the log (a crash or a full "
        "disk); the log is complete again",
        audit_->size() - before);
  }
  return OkStatus();
}

Status GatewayCore::ReopenAudit() {
  KP_RETURN_IF_ERROR(audit_->Reopen());
  KP_RETURN_IF_ERROR(RecoverAuditOutbox());
  outbox_in_log_ = true;
  return OkStatus();
}

// ------------------------------------------------------------ units of work

Status GatewayCore::BeginUnit() {
  KP_CHECK(!in_unit_);
  KP_RETURN_IF_ERROR(store_->BeginBatch());
  // Removals left over from earlier units ride along; they are put back if
  // this unit is rolled back.
  pending_sent_ = sent_inbox_ids_;
  pending_acks_ = acknowledged_;
  RemoveSentInboxCopies();
  if (outbox_in_log_ && store_->TrimAuditOutbox(audit_->durable_size()).ok()) outbox_in_log_ = false;
  pending_unsent_ = unsent_forwards_;
  for (const auto& id : unsent_forwards_) (void)store_->MarkUndelivered(id);
  retry_forwards_ |= !unsent_forwards_.empty();
  unsent_forwards_.clear();
  in_unit_ = true;
  unit_failed_ = OkStatus();
  unit_records_.clear();
  outbox_.clear();
  listings_.clear();
  receipts_.clear();
  return OkStatus();
}

void GatewayCore::FailUnit(const Status& why) {
  if (in_unit_ && unit_failed_.ok()) unit_failed_ = why;
}

UnitResult GatewayCore::FinishUnit(const CrashHook& crash) {
  KP_CHECK(in_unit_);
  in_unit_ = false;
  UnitResult r;
  r.wrote_records = !unit_records_.empty();
  auto at = [&](std::string_view point) {
    if (crash) crash(point, r.wrote_records);
  };
  if (unit_failed_.ok()) SignReceipts();
  receipts_.clear();
  // The unit's state and the audit records describing it commit together.
  at("before-commit");
  Status durable = store_->InTransaction()
                       ? unit_failed_
                       : UnavailableError("the case database rolled the change back after an error");
  if (durable.ok()) durable = store_->CommitBatch();
  if (!durable.ok()) {
    store_->RollbackBatch();
    audit_->DiscardStaged();
    unit_records_.clear();
    outbox_.clear();
    listings_.clear();
    outbox_in_log_ = true;
    sent_inbox_ids_.insert(sent_inbox_ids_.end(), pending_sent_.begin(), pending_sent_.end());
    acknowledged_.insert(acknowledged_.end(), pending_acks_.begin(), pending_acks_.end());
    unsent_forwards_.insert(unsent_forwards_.end(), pending_unsent_.begin(), pending_unsent_.end());
    spdlog::error("a change could not be saved, so none of its answers was sent: {}", durable.message());
    r.failure = durable;
    return r;
  }
  r.committed = true;
  at("after-commit");
  // Committed: the records are durable in the outbox. Then into the log
  // (written; SyncAudit makes it durable once the messages are on their
  // way); only then may anything leave.
  r.outbox.swap(outbox_);
  r.records.swap(unit_records_);
  write_seconds_ = 0;
  if (!r.records.empty()) {
    const auto write_start = std::chrono::steady_clock::now();
    Status written = audit_->WriteStaged(r.records);
    write_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - write_start).count();
    if (Status s = std::move(written); !s.ok()) {
      // Committed and kept in the outbox: the records reach the log when it
      // works again (ReopenAudit, or the next start), and the answers leave
      // then. A listing cannot be made now; the privacy officer asks again.
      listings_.clear();
      r.failure = s;
      return r;
    }
  }
  r.logged = true;
  at("after-log");
  r.listings.swap(listings_);
  return r;
}

Status GatewayCore::SyncAudit() {
  KP_CHECK(!in_unit_);
  if (audit_->durable_size() == audit_->size()) return OkStatus();
  const auto sync_start = std::chrono::steady_clock::now();
  Status synced = audit_->Sync();
  observe::Metrics()
      .GetHistogram("ketenpoort_audit_append_seconds",
                    "Seconds to append one unit's records to the audit log, with its one fsync",
                    observe::SyncBuckets())
      .Observe(write_seconds_ +
               std::chrono::duration<double>(std::chrono::steady_clock::now() - sync_start).count());
  write_seconds_ = 0;
  KP_RETURN_IF_ERROR(synced);
  outbox_in_log_ = true;
  return OkStatus();
}

void GatewayCore::NoteSent(const Outgoing& sent) {
  if (!sent.inbox_id.empty()) sent_inbox_ids_.push_back(sent.inbox_id);
}

void GatewayCore::NoteUnsent(const Outgoing& unsent) {
  if (!unsent.forward_of.empty()) unsent_forwards_.push_back(unsent.forward_of);
}

void GatewayCore::RemoveSentInboxCopies() {
  for (const auto& id : sent_inbox_ids_) {
    if (Status s = store_->RemoveFromInbox(id); !s.ok())
      spdlog::warn("cannot remove a delivered message: {}", s.message());
  }
  sent_inbox_ids_.clear();
  for (const auto& [coordinator, request_id] : acknowledged_) {
    if (Status s = store_->RemoveAcknowledged(coordinator, request_id); !s.ok()) {
      spdlog::warn("cannot remove an acknowledged message: {}", s.message());
    }
  }
  acknowledged_.clear();
}

// ---------------------------------------------------------------- refusal

bool GatewayCore::Refuse(const Refusal& refusal, v1::AuditRecord record) {
  if (record.event() == v1::AUDIT_EVENT_UNSPECIFIED) {
    v1::AuditRecord fresh = NewRecord(v1::AUDIT_EVENT_REFUSED, refusal.to);
    fresh.MergeFrom(record);  // the caller's context (case, partners, ...) kept
    record = std::move(fresh);
  }
  if (record.message_id().empty()) record.set_message_id(refusal.message_id);
  if (record.event() == v1::AUDIT_EVENT_REFUSED && record.reason().empty())
    record.set_reason(refusal.why.ToString());
  observe::Metrics()
      .GetCounter("ketenpoort_gateway_refusals_total",
                  "Messages and requests the gateway refused, by reason code (the canonical status code)",
                  {{"code", std::string(StatusCodeName(refusal.why.code()))}})
      .Inc();
  if (!Audit(std::move(record)).ok()) return false;  // the unit fails: nothing is sent
  if (refusal.answer == Refusal::Answer::kRefusal) {
    v1::Refusal r;
    r.set_request_id(refusal.message_id);
    r.set_case_id(refusal.case_id);
    r.set_refused_by(v1::REFUSED_BY_GATEWAY);
    r.set_reason(refusal.why.message());
    for (const auto& id : refusal.rule_ids) r.add_rule_ids(id);
    auto msg = signer_->Sign(v1::MESSAGE_KIND_REFUSAL, refusal.to, refusal.message_id, r.SerializeAsString());
    if (!msg.ok()) {
      FailUnit(msg.status());
      return false;
    }
    SendOrHold(refusal.to, refusal.case_id, msg->bytes, refusal.message_id);
    return true;
  }
  spdlog::warn("refused a message from {}: {}", refusal.to, refusal.why.ToString());
  auto err = UnsavedError(refusal.to, refusal.connection, refusal.message_id, refusal.why);
  if (!err.ok()) {
    FailUnit(err.status());
    return false;
  }
  outbox_.push_back(std::move(*err));
  return true;
}

void GatewayCore::RefuseMessage(const VerifiedMessage& m, const Status& why, v1::AuditRecord record) {
  Refuse({.to = m.sender, .connection = m.connection, .message_id = m.env.header.message_id(), .why = why},
         std::move(record));
}

Result<Outgoing> GatewayCore::UnsavedError(const std::string& to, const std::string& connection,
                                           const std::string& request_id, const Status& why) {
  v1::Error err;
  err.set_code(ToErrorCode(why.code()));
  err.set_message(why.message());
  KP_ASSIGN_OR_RETURN(SignedMessage msg,
                      signer_->Sign(v1::MESSAGE_KIND_ERROR, to, request_id, err.SerializeAsString()));
  Outgoing o;
  o.to = to;
  o.connection = connection;
  o.bytes = std::move(msg.bytes);
  return o;
}

// ---------------------------------------------------------------- sending

Result<std::string> GatewayCore::Sign(v1::MessageKind kind, const std::string& to,
                                      const std::string& request_id, const google::protobuf::Message& body) {
  KP_ASSIGN_OR_RETURN(SignedMessage msg, signer_->Sign(kind, to, request_id, body.SerializeAsString()));
  return std::move(msg.bytes);
}

bool GatewayCore::Queue(const std::string& to, std::string bytes) {
  std::string connection = presence_(to);
  if (connection.empty()) return false;
  Outgoing o;
  o.to = to;
  o.connection = std::move(connection);
  o.bytes = std::move(bytes);
  outbox_.push_back(std::move(o));
  return true;
}

bool GatewayCore::QueueSigned(const std::string& to, v1::MessageKind kind, const std::string& request_id,
                              const google::protobuf::Message& body) {
  auto msg = Sign(kind, to, request_id, body);
  if (!msg.ok()) {
    spdlog::error("cannot sign a {} for {}: {}", wire::KindLabel(kind), to, msg.status().message());
    return false;
  }
  return Queue(to, std::move(*msg));
}

bool GatewayCore::QueueReceipt(const std::string& to, const std::string& request_id, v1::Receipt receipt) {
  if (!Queue(to, std::string())) return false;  // its bytes follow in SignReceipts
  receipts_.push_back({outbox_.size() - 1, request_id, std::move(receipt)});
  return true;
}

void GatewayCore::SignReceipts() {
  if (receipts_.empty()) return;
  // One checkpoint per unit (a burst), signed over the log with every
  // record the unit staged, so it covers each receipt's index; sent only
  // once those records are durable, like the receipts that carry it.
  auto checkpoint = audit_->SignHead();
  if (!checkpoint.ok())
    spdlog::error("cannot sign a checkpoint for receipts: {}", checkpoint.status().message());
  for (PendingReceipt& p : receipts_) {
    if (checkpoint.ok()) p.receipt.set_checkpoint(*checkpoint);
    Outgoing& slot = outbox_[p.outbox_index];
    auto msg = Sign(v1::MESSAGE_KIND_RECEIPT, slot.to, p.request_id, p.receipt);
    if (!msg.ok()) {
      spdlog::error("cannot sign a receipt for {}: {}", slot.to, msg.status().message());
      continue;
    }
    slot.bytes = std::move(*msg);
  }
  // A receipt that could not be signed leaves no empty message behind.
  std::erase_if(outbox_, [](const Outgoing& o) { return o.bytes.empty(); });
}

void GatewayCore::SendOrHold(const std::string& coordinator, const std::string& case_id,
                             const std::string& bytes, const std::string& request_id) {
  const int64_t now = clock_.NowMillis();
  const InboxItem held{NewMessageId(), coordinator, case_id, bytes, now, now + config_.inbox_expiry_ms,
                       request_id};
  const bool online = !presence_(coordinator).empty();
  // Held in the inbox (in the unit's transaction) before it is sent. An
  // answer to a request stays there until the coordinator acknowledges it
  // (DELIVERY_ACK), so one lost on the way comes again with the next inbox
  // fetch; anything else goes once it was sent.
  if (Status s = store_->AddToInbox(held); !s.ok()) {
    spdlog::error("cannot hold a message for {}: {}", coordinator, s.message());
    FailUnit(s);  // an answer must never be closed without its held copy
  }
  if (!online) {
    spdlog::info("held a message for offline participant {} case={}", coordinator, case_id);
    return;
  }
  if (Queue(coordinator, bytes)) {
    outbox_.back().held = true;
    if (request_id.empty()) outbox_.back().inbox_id = held.message_id;
  }
}

void GatewayCore::HoldForCoordinator(const std::string& coordinator, const std::string& envelope) {
  // A referral, a handover package or a signal is held until decided or acknowledged
  // whether it was sent or not: its held copy is there already.
  v1::Envelope env;
  v1::Header header;
  if (env.ParseFromString(envelope) && header.ParseFromString(env.header()) &&
      (header.kind() == v1::MESSAGE_KIND_REFERRAL || header.kind() == v1::MESSAGE_KIND_HANDOVER_PACKAGE ||
       header.kind() == v1::MESSAGE_KIND_SIGNAL)) {
    return;
  }
  SendOrHold(coordinator, "", envelope, AnsweredRequest(envelope));
}

// --------------------------------------------------------------- handling

void GatewayCore::Handle(const VerifiedMessage& m) {
  SwitchPolicyIfDue(clock_.NowMillis());  // a policy's effective-from time passed (config_distribution.cc)
  switch (m.env.header.kind()) {
    case v1::MESSAGE_KIND_HEARTBEAT:
      return;  // no answer: it only says the sender is there
    case v1::MESSAGE_KIND_CONFIG_FETCH:
      return HandleConfigFetch(m);
    case v1::MESSAGE_KIND_CASE_COMMAND:
      return HandleCaseCommand(m);
    case v1::MESSAGE_KIND_CASE_FETCH:
      return HandleCaseFetch(m);
    case v1::MESSAGE_KIND_FRAGMENT_REQUEST:
      return HandleFragmentRequest(m);
    case v1::MESSAGE_KIND_INBOX_FETCH:
      return HandleInboxFetch(m);
    case v1::MESSAGE_KIND_DELIVERY_ACK:
      return HandleDeliveryAck(m);
    case v1::MESSAGE_KIND_AUDIT_PULL:
      return HandleAuditPull(m);
    case v1::MESSAGE_KIND_FRAGMENT_DELIVERY:
      return HandleDelivery(m);
    case v1::MESSAGE_KIND_REFUSAL:
      return HandleAgentRefusal(m);
    case v1::MESSAGE_KIND_REFERRAL:
      return HandleReferral(m);
    case v1::MESSAGE_KIND_REFERRAL_DECLINE:
      return HandleReferralDecline(m);
    case v1::MESSAGE_KIND_HANDOVER_PACKAGE:
      return HandleHandoverPackage(m);
    case v1::MESSAGE_KIND_APPROVAL_PENDING:
      return HandleApprovalPending(m);  // approvals.cc
    case v1::MESSAGE_KIND_SOURCE_CONSENT:
      return HandleSourceConsent(m);
    case v1::MESSAGE_KIND_SIGNAL:
      return HandleSignal(m);  // watches.cc
    case v1::MESSAGE_KIND_FRAGMENT_PUSH:
      return HandleFragmentPush(m);
    case v1::MESSAGE_KIND_PUSH_RECEIVED:
      return HandlePushReceived(m);
    default:  // Admissible() lets no other kind through
      RefuseMessage(m, InvalidArgumentError("the gateway does not take " +
                                            std::string(wire::KindLabel(m.env.header.kind())) + " messages"));
  }
}

void GatewayCore::OnAgentSeen(const RegistryEntry& agent, bool new_connection) {
  // A new connection: what went over the old one may never have arrived
  // (either side may have crashed), so every waiting request goes again.
  // The agent recognises one it already answered and sends its kept answer
  // again instead of a second disclosure. (The same connection after a
  // silence lost nothing: ZeroMQ delivers in order or not at all.)
  if (new_connection) {
    if (Status s = store_->MarkAllUndelivered(agent.card.partner); !s.ok()) {
      spdlog::error("cannot queue the requests of {} again: {}", agent.card.partner, s.message());
    }
  }
  DeliverQueuedRequests(agent.card.partner);
  TellEndedWatches(agent.card.partner);  // watches that ended while it was away (watches.cc)
}

void GatewayCore::HandleInboxFetch(const VerifiedMessage& m) {
  const std::string& sender = m.sender;
  v1::InboxFetch fetch;
  if (Status s = ParseBody(m.env.body, fetch); !s.ok()) return RefuseMessage(m, s);
  RemoveSentInboxCopies();  // nothing already acknowledged is sent again
  auto items = store_->InboxFor(sender);
  if (!items.ok()) return RefuseMessage(m, items.status());
  size_t sent = 0;
  for (const auto& item : *items) {
    if (!fetch.case_id().empty() && item.case_id != fetch.case_id()) continue;
    if (!Queue(sender, item.envelope)) break;
    // An answer stays until the coordinator acknowledges it; anything else
    // is removed once it was sent.
    if (item.request_id.empty()) outbox_.back().inbox_id = item.message_id;
    ++sent;
  }
  v1::CaseResult end;  // empty case id: the end of the inbox
  QueueSigned(sender, v1::MESSAGE_KIND_CASE_RESULT, m.env.header.message_id(), end);
  spdlog::debug("inbox of {}: {} message(s) sent", sender, sent);
}

void GatewayCore::HandleDeliveryAck(const VerifiedMessage& m) {
  v1::DeliveryAck ack;
  Status s = ParseBody(m.env.body, ack);
  if (s.ok() && ack.request_ids_size() > kMaxAckedRequests) {
    s = InvalidArgumentError("an acknowledgement names at most " + std::to_string(kMaxAckedRequests) +
                             " requests");
  }
  if (!s.ok()) return RefuseMessage(m, s);
  // Only this coordinator's own held copies can go. Removed with the next
  // change that is written anyway (or the next inbox fetch, or when idle):
  // an acknowledgement costs no sync of its own, and one lost in a crash
  // only means a second copy later. No answer is sent.
  for (const auto& id : ack.request_ids()) {
    if (id.size() == wire::kMessageIdBytes)
      acknowledged_.emplace_back(m.sender, id);  // anything else names nothing
  }
}

// ------------------------------------------------------------------ timers

void GatewayCore::Expire(int64_t now) {
  SwitchPolicyIfDue(now);
  ExpireApprovals(now);  // before the plain expiry: a lapsed approval gets its own notice (approvals.cc)
  auto expired = store_->TakeExpiredRequests(now);
  if (expired.ok()) {
    for (const auto& r : *expired) {
      v1::AuditRecord rec = NewRecord(v1::AUDIT_EVENT_EXPIRED, identity_->id());
      rec.set_case_id(r.case_id);
      rec.set_message_id(r.request_id);
      internal::SubjectsOfStored(r.authorisation, &rec);
      rec.set_source_partner(r.source_partner);
      rec.set_reason("the agent of " + r.source_partner + " did not answer in time");
      Refuse({.answer = Refusal::Answer::kRefusal,
              .to = r.coordinator,
              .message_id = r.request_id,
              .why = FailedPreconditionError("request expired: the agent of " + r.source_partner +
                                             " did not answer in time"),
              .case_id = r.case_id},
             std::move(rec));
      ++stats_.expired;
      spdlog::debug("request {} expired case={}", HexEncode(r.request_id), r.case_id);
    }
  }
  auto held = store_->TakeExpiredInbox(now);
  if (held.ok()) {
    for (const auto& i : *held) {
      v1::AuditRecord rec = NewRecord(v1::AUDIT_EVENT_EXPIRED, identity_->id());
      rec.set_case_id(i.case_id);
      rec.set_reason("a held message for " + i.recipient + " expired without being acknowledged");
      (void)Audit(std::move(rec));
    }
  }
  // Referrals nobody decided lapse; case deadlines (offers, stand-ins,
  // acute windows) are noticed once each.
  ExpireReferrals(now);
  RunCaseDeadlines(now);
  ExpireWatches(now);  // watches past their end date (watches.cc)
  // Forwards that could not be sent (a full queue) go again to agents that
  // are still connected.
  if (retry_forwards_) {
    retry_forwards_ = false;
    for (const auto& [id, e] : registry_->entries()) {
      if (e.card.kind == ParticipantKind::kAgent && !presence_(id).empty())
        DeliverQueuedRequests(e.card.partner);
    }
  }
  // How requests ended is kept long enough to recognise one sent again.
  if (now - last_forget_ms_ >= 3600 * 1000) {
    last_forget_ms_ = now;
    (void)store_->ForgetClosedRequests(now - kRememberClosedMs);
    // What was authorised for delivered requests, once its retention passed.
    (void)store_->ForgetExpiredDelivered(now);
  }
}

}  // namespace kp::gateway
