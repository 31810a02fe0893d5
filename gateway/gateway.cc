#include "gateway/gateway.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <zmq.hpp>

#include "core/audit/policy_category.h"
#include "core/base/encoding.h"
#include "core/base/file_util.h"
#include "core/crypto/random.h"
#include "core/crypto/sha256.h"
#include "core/envelope/wire_format.h"
#include "core/transport/router_server.h"
#include "core/transport/zap_handler.h"
#include "policy/policy_loader.h"

namespace kp::gateway {

namespace v1 = ketenpoort::v1;

namespace {

constexpr char kCasusregisseur[] = "casusregisseur";

std::string Sha256Hex(std::string_view data) { return HexEncode(Sha256String(data)); }

// Short printable form of a 16-byte id for log lines.
std::string IdHex(const std::string& id) { return HexEncode(id); }

v1::ErrorCode ToErrorCode(StatusCode code) {
  switch (code) {
    case StatusCode::kInvalidArgument: return v1::ERROR_CODE_INVALID_ARGUMENT;
    case StatusCode::kNotFound: return v1::ERROR_CODE_NOT_FOUND;
    case StatusCode::kPermissionDenied: return v1::ERROR_CODE_PERMISSION_DENIED;
    case StatusCode::kResourceExhausted: return v1::ERROR_CODE_RESOURCE_EXHAUSTED;
    case StatusCode::kFailedPrecondition: return v1::ERROR_CODE_FAILED_PRECONDITION;
    case StatusCode::kUnavailable: return v1::ERROR_CODE_UNAVAILABLE;
    case StatusCode::kUnauthenticated: return v1::ERROR_CODE_UNAUTHENTICATED;
    default: return v1::ERROR_CODE_INTERNAL;
  }
}

// The request a message for a coordinator answers (a delivery or refusal,
// which the coordinator acknowledges), or "" for anything else. Reads the
// header of an envelope this gateway sent itself; it verifies nothing.
std::string AnsweredRequest(const std::string& envelope) {
  v1::Envelope env;
  v1::Header header;
  if (!env.ParseFromString(envelope) || !header.ParseFromString(env.header())) return "";
  const bool answer = header.kind() == v1::MESSAGE_KIND_FRAGMENT_DELIVERY || header.kind() == v1::MESSAGE_KIND_REFUSAL;
  return answer && header.request_id().size() == wire::kMessageIdBytes ? header.request_id() : "";
}

// Messages handled as one burst: one transaction, one audit sync.
constexpr int kMaxBurst = 256;
// Request ids in one DELIVERY_ACK (docs/protocol.md §6).
constexpr int kMaxAckedRequests = 1000;
// How often the per-exchange counts go to the log at info (each exchange is
// logged at debug).
constexpr int64_t kSummaryEveryMs = 60'000;
// How long the outcome of a request is remembered, to recognise the request
// or its answer when it is sent again (docs/protocol.md §6.1).
constexpr int64_t kRememberClosedMs = 30LL * 24 * 3600 * 1000;

// The transport keys the ZAP handler admits: every card of the registry.
TransportPeers PeersOf(const Registry& registry) {
  TransportPeers peers;
  for (const auto& [id, e] : registry.entries()) {
    peers[e.card.transport_key] = {id, std::string(ParticipantKindName(e.card.kind)), e.card.partner, e.role};
  }
  return peers;
}

int CurrentYear(int64_t now_ms) {
  std::time_t t = static_cast<std::time_t>(now_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  return tm.tm_year + 1900;
}

}  // namespace

Gateway::Gateway(const GatewayConfig& config, std::unique_ptr<AuditTrail> audit, const Clock& clock)
    : config_(config), clock_(clock), audit_(std::move(audit)) {}

Gateway::~Gateway() {
  // Sockets before the ZAP handler, both before the context.
  router_.reset();
  zap_.reset();
  if (context_) context_->close();
}

const std::string& Gateway::endpoint() const { return router_->endpoint(); }

Result<std::unique_ptr<Gateway>> Gateway::Create(const GatewayConfig& config, std::unique_ptr<AuditTrail> audit,
                                                 const Clock& clock) {
  if (audit == nullptr) return InvalidArgumentError("the gateway needs an audit log");
  std::unique_ptr<Gateway> gw(new Gateway(config, std::move(audit), clock));
  KP_RETURN_IF_ERROR(gw->Init());
  return gw;
}

Status Gateway::Init() {
  KP_ASSIGN_OR_RETURN(Identity identity, Identity::LoadFile(config_.identity));
  if (identity.kind() != ParticipantKind::kGateway) {
    return InvalidArgumentError(config_.identity + " is not a gateway identity (kind " +
                                std::string(ParticipantKindName(identity.kind())) + ")");
  }
  identity_ = std::make_unique<Identity>(std::move(identity));
  KP_ASSIGN_OR_RETURN(PublicCard enrolment, PublicCard::LoadFile(config_.enrolment_card));
  if (enrolment.kind != ParticipantKind::kEnrolment) {
    return InvalidArgumentError(config_.enrolment_card + " is not an enrolment card");
  }
  enrolment_card_ = std::make_unique<PublicCard>(std::move(enrolment));
  KP_RETURN_IF_ERROR(LoadRegistry());
  KP_RETURN_IF_ERROR(LoadPolicy());

  if (::mkdir(config_.data_dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return UnavailableError("cannot create the data folder " + config_.data_dir + ": " + std::strerror(errno));
  }
  KP_RETURN_IF_ERROR(CheckDirNotGroupOrWorldWritable(config_.data_dir));
  KP_ASSIGN_OR_RETURN(store_, CaseStore::Open(config_.data_dir + "/cases.db"));
  KP_RETURN_IF_ERROR(RecoverAuditOutbox());

  replay_ = std::make_unique<ReplayGuard>(clock_, ReplayGuard::Options{.window_ms = config_.replay_window_ms});
  signer_ = std::make_unique<EnvelopeSigner>(identity_->id(), identity_->signing().secret_key, clock_);

  context_ = std::make_unique<zmq::context_t>();
  KP_ASSIGN_OR_RETURN(zap_, ZapHandler::Create(*context_, PeersOf(*registry_)));
  RouterOptions options;
  options.endpoint = config_.listen;
  options.max_parked_per_peer = config_.max_parked_per_peer;
  KP_ASSIGN_OR_RETURN(router_, RouterServer::Create(*context_, *zap_, identity_->transport().public_key,
                                                    identity_->transport().secret_key, options));

  Status started;
  const bool durable = RunUnit([&] {
    v1::AuditRecord rec = NewRecord(v1::AUDIT_EVENT_POLICY_LOADED, identity_->id());
    rec.set_reason("gateway started with policy " + policy_->id() + " and registry serial " +
                   std::to_string(registry_serial_));
    rec.mutable_decision()->set_policy_sha256(HexDecode(policy_->sha256_hex()).value());
    started = Audit(std::move(rec)).status();
  });
  if (!durable && started.ok()) started = UnavailableError("the start could not be recorded in the audit log");
  KP_RETURN_IF_ERROR(started);
  spdlog::info("gateway {} listening on {} (policy {}, registry serial {}, {} participants)", identity_->id(),
               router_->endpoint(), policy_->id(), registry_serial_, registry_->entries().size());
  return OkStatus();
}

Status Gateway::LoadRegistry() {
  KP_ASSIGN_OR_RETURN(Registry reg, Registry::Load(config_.registry, enrolment_card_->signing_key, registry_serial_));
  auto self = reg.Find(identity_->id());
  if (!self.ok()) {
    return FailedPreconditionError("the gateway's own card (" + identity_->id() +
                                   ") is not in the signed registry; ask the enrolment officer to add it");
  }
  KP_RETURN_IF_ERROR(identity_->MatchesCard((*self)->card));
  StaticKeyResolver keys;
  for (const auto& [id, e] : reg.entries()) keys.Add(id, e.card.signing_key);
  registry_serial_ = reg.serial();
  registry_ = std::make_unique<Registry>(std::move(reg));
  keys_ = std::move(keys);
  return OkStatus();
}

Status Gateway::LoadPolicy() {
  KP_ASSIGN_OR_RETURN(policy_, policy::LoadPolicyFile(config_.policy, [](std::string_view text) {
                        return Sha256Hex(text);
                      }));
  return OkStatus();
}

Status Gateway::Reload() {
  if (in_unit_) return ReloadInUnit();
  // What is in force now, put back when the reload cannot be recorded: no
  // registry or policy is in force that the log does not show.
  Registry old_registry = *registry_;
  const uint64_t old_serial = registry_serial_;
  StaticKeyResolver old_keys = keys_;
  auto old_policy = policy_;
  Status out;
  if (!RunUnit([&] { out = ReloadInUnit(); })) {
    *registry_ = std::move(old_registry);
    registry_serial_ = old_serial;
    keys_ = std::move(old_keys);
    policy_ = std::move(old_policy);
    zap_->SetPeers(PeersOf(*registry_));
    spdlog::error("reload: it could not be recorded in the audit log; the previous registry and policy stay");
    return UnavailableError("the reload could not be recorded in the audit log; nothing was changed");
  }
  return out;
}

Status Gateway::ReloadInUnit() {
  Status reg = LoadRegistry();
  if (reg.ok()) {
    zap_->SetPeers(PeersOf(*registry_));
    // A removed participant is cut off: forget its connection; its messages
    // no longer verify ("not enrolled").
    for (auto it = peers_.begin(); it != peers_.end();) {
      it = registry_->Find(it->first).ok() ? std::next(it) : peers_.erase(it);
    }
  }
  v1::AuditRecord r = NewRecord(v1::AUDIT_EVENT_PARTICIPANT_ENROLLED, identity_->id());
  r.set_reason(reg.ok() ? "registry reloaded, serial " + std::to_string(registry_serial_)
                        : "new registry refused, the previous one stays: " + reg.message());
  (void)Audit(std::move(r));

  auto old = policy_;
  Status pol = LoadPolicy();
  v1::AuditRecord p = NewRecord(v1::AUDIT_EVENT_POLICY_LOADED, identity_->id());
  if (pol.ok()) {
    p.set_reason("policy " + policy_->id() + " loaded");
    p.mutable_decision()->set_policy_sha256(HexDecode(policy_->sha256_hex()).value());
  } else {
    policy_ = old;
    p.set_reason("new policy refused, policy " + policy_->id() + " stays in force");
    p.mutable_decision()->set_policy_sha256(HexDecode(policy_->sha256_hex()).value());
  }
  (void)Audit(std::move(p));
  if (!reg.ok()) spdlog::error("reload: registry refused: {}", reg.message());
  if (!pol.ok()) spdlog::error("reload: policy refused; the previous policy stays: {}", pol.message());
  if (reg.ok() && pol.ok()) spdlog::info("reload: registry serial {}, policy {}", registry_serial_, policy_->id());
  return reg.ok() ? pol : reg;
}

// ------------------------------------------------------------------ audit

v1::AuditRecord Gateway::NewRecord(v1::AuditEvent event, const std::string& actor) const {
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

Result<uint64_t> Gateway::Audit(v1::AuditRecord record) {
  // Every record belongs to a unit of work (RunUnit): staged, kept in the
  // case database's outbox in the unit's transaction, appended after it.
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

Status Gateway::RecoverAuditOutbox() {
  auto left = store_->AuditOutbox();
  if (!left.ok()) return left.status();
  const uint64_t before = audit_->size();
  KP_RETURN_IF_ERROR(audit_->AppendStaged(*left));
  KP_RETURN_IF_ERROR(store_->TrimAuditOutbox(audit_->size()));
  if (audit_->size() > before) {
    spdlog::warn("recovered {} audit record(s) that were committed but not yet in the log (a crash or a full "
                 "disk); the log is complete again",
                 audit_->size() - before);
  }
  return OkStatus();
}

// ------------------------------------------------------------ units of work

void Gateway::MaybeCrash(std::string_view point) {
  if (crash_point_.empty() || point != crash_point_ || !unit_wrote_records_) return;
  if (--crash_countdown_ > 0) return;
  // Fault injection (tests): die here as kill -9 would, with nothing flushed.
  std::_Exit(kCrashExitCode);
}

bool Gateway::RunUnit(const std::function<void()>& work, const std::vector<IncomingMessage>* burst) {
  KP_CHECK(!in_unit_);
  if (!audit_ok_ && !TryRecoverAudit()) {
    if (burst != nullptr) {
      RefuseBurst(*burst, UnavailableError("the gateway cannot write its audit log (" + audit_error_ +
                                           "); nothing of this message was done; send it again later"));
    }
    return false;
  }
  if (Status s = store_->BeginBatch(); !s.ok()) {
    spdlog::error("cannot start a transaction on the case database: {}", s.message());
    if (burst != nullptr) {
      RefuseBurst(*burst, UnavailableError("the gateway cannot write its case database; nothing of this message "
                                           "was done; send it again later"));
    }
    return false;
  }
  // Removals left over from earlier units ride along; they are put back if
  // this unit is rolled back.
  auto pending_sent = sent_inbox_ids_;
  auto pending_acks = acknowledged_;
  RemoveSentInboxCopies();
  if (outbox_in_log_ && store_->TrimAuditOutbox(audit_->size()).ok()) outbox_in_log_ = false;
  auto pending_unsent = unsent_forwards_;
  for (const auto& id : unsent_forwards_) (void)store_->MarkUndelivered(id);
  retry_forwards_ |= !unsent_forwards_.empty();
  unsent_forwards_.clear();
  in_unit_ = true;
  unit_failed_ = OkStatus();
  unit_senders_.clear();
  unit_records_.clear();
  work();
  in_unit_ = false;
  unit_wrote_records_ = !unit_records_.empty();
  // The unit's state and the audit records describing it commit together.
  MaybeCrash("before-commit");
  Status durable = store_->InTransaction()
                       ? unit_failed_
                       : UnavailableError("the case database rolled the change back after an error");
  if (durable.ok()) durable = store_->CommitBatch();
  if (!durable.ok()) {
    store_->RollbackBatch();
    audit_->DiscardStaged();
    unit_records_.clear();
    outbox_.clear();
    after_log_.clear();
    outbox_in_log_ = true;
    sent_inbox_ids_.insert(sent_inbox_ids_.end(), pending_sent.begin(), pending_sent.end());
    acknowledged_.insert(acknowledged_.end(), pending_acks.begin(), pending_acks.end());
    unsent_forwards_.insert(unsent_forwards_.end(), pending_unsent.begin(), pending_unsent.end());
    spdlog::error("a change could not be saved, so none of its answers was sent: {}", durable.message());
    // Tell each sender, with an answer that rests on nothing unsaved. Its
    // message had no effect: the same bytes are taken when they come again,
    // and its sender counts as connecting anew (what was queued for it in
    // this unit was rolled back too).
    for (const auto& who : unit_senders_) {
      replay_->Forget(who.participant_id, who.message_id);
      peers_.erase(who.participant_id);
      last_routes_.erase(who.participant_id);
      SendError(who.routing_id, who.participant_id, who.message_id,
                UnavailableError("the gateway could not save this (" + durable.message() +
                                 "); nothing of this message was done; send it again later"));
    }
    return false;
  }
  MaybeCrash("after-commit");
  // Then into the log (one sync), and only then does anything leave.
  std::vector<Outgoing> out;
  out.swap(outbox_);
  if (!unit_records_.empty()) {
    if (Status s = audit_->AppendStaged(unit_records_); !s.ok()) {
      // Committed and kept in the outbox: the records reach the log when it
      // works again (TryRecoverAudit, or the next start), and the answers
      // leave then. Until then every new message is refused.
      audit_ok_ = false;
      audit_error_ = s.message();
      next_audit_retry_ms_ = 0;
      audit_backoff_ms_ = 0;
      spdlog::error("the audit log cannot be written ({}); {} answer(s) wait until it can", s.message(), out.size());
      for (auto& o : out) waiting_for_log_.push_back(std::move(o));
      unit_records_.clear();
      after_log_.clear();  // a listing cannot be made now; the privacy officer asks again
      return true;
    }
    outbox_in_log_ = true;
  }
  unit_wrote_records_ = !unit_records_.empty();
  MaybeCrash("after-log");
  unit_records_.clear();
  SendNow(out);
  // What may be done only once the unit's records are in the log.
  std::vector<std::function<void()>> after;
  after.swap(after_log_);
  for (auto& f : after) f();
  MaybeCrash("after-send");
  return true;
}

void Gateway::FailUnit(const Status& why) {
  if (in_unit_ && unit_failed_.ok()) unit_failed_ = why;
}

bool Gateway::TryRecoverAudit() {
  // Real time, not the gateway's clock: this paces retries of the disk.
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now().time_since_epoch()).count();
  if (now < next_audit_retry_ms_) return false;
  audit_backoff_ms_ = audit_backoff_ms_ == 0 ? 100 : std::min<int64_t>(audit_backoff_ms_ * 2, 5000);
  next_audit_retry_ms_ = now + audit_backoff_ms_;
  Status s = audit_->Reopen();
  if (s.ok()) s = RecoverAuditOutbox();
  if (!s.ok()) {
    audit_error_ = s.message();
    spdlog::warn("the audit log is still not writable ({}); trying again in {} ms", s.message(), audit_backoff_ms_);
    return false;
  }
  audit_ok_ = true;
  audit_error_.clear();
  audit_backoff_ms_ = 0;
  outbox_in_log_ = true;
  spdlog::info("the audit log is writable again; serving again and sending {} answer(s) that waited",
               waiting_for_log_.size());
  std::vector<Outgoing> out;
  out.swap(waiting_for_log_);
  SendNow(out);
  return true;
}

void Gateway::RefuseBurst(const std::vector<IncomingMessage>& burst, const Status& why) {
  for (const auto& in : burst) {
    if (in.malformed || Enrolled(in.participant_id) == nullptr) continue;
    VerifyOptions options;
    options.expected_sender = in.participant_id;
    auto env = EnvelopeVerifier(keys_, nullptr).Verify(in.payload, options);
    if (!env.ok() || env->header.kind() == v1::MESSAGE_KIND_HEARTBEAT) continue;
    SendError(in.routing_id, in.participant_id, env->header.message_id(), why);
  }
  spdlog::warn("refused {} message(s): {}", burst.size(), why.message());
}

void Gateway::SendNow(std::vector<Outgoing>& out) {
  for (auto& o : out) {
    Status s = router_->Send(o.routing_id, o.bytes);
    if (s.ok()) {
      if (!o.inbox_id.empty()) sent_inbox_ids_.push_back(o.inbox_id);
      continue;
    }
    // Not sent after all (the peer left): a held message stays in the inbox;
    // a forwarded request goes back in its agent's queue (with the next unit).
    std::string who = "a peer that left";
    for (auto it = peers_.begin(); it != peers_.end(); ++it) {
      if (it->second.routing_id == o.routing_id) {
        who = it->first;
        if (s.code() == StatusCode::kUnavailable) peers_.erase(it);
        break;
      }
    }
    spdlog::debug("send to {} failed: {}", who, s.message());
    if (!o.forward_of.empty()) unsent_forwards_.push_back(o.forward_of);
  }
}

const RegistryEntry* Gateway::Enrolled(const std::string& id) const {
  auto e = registry_->Find(id);
  return e.ok() ? *e : nullptr;
}

// ---------------------------------------------------------------- sending

bool Gateway::SendRaw(const std::string& to, const std::string& bytes) {
  auto it = peers_.find(to);
  if (it == peers_.end()) return false;
  if (in_unit_) {
    outbox_.push_back({it->second.routing_id, bytes, "", "", false});
    it->second.last_sent_ms = clock_.NowMillis();
    return true;
  }
  Status s = router_->Send(it->second.routing_id, bytes);
  if (!s.ok()) {
    spdlog::warn("send to {} failed: {}", to, s.message());
    if (s.code() == StatusCode::kUnavailable) peers_.erase(it);
    return false;
  }
  it->second.last_sent_ms = clock_.NowMillis();
  return true;
}

bool Gateway::SendSigned(const std::string& to, v1::MessageKind kind, const std::string& request_id,
                         const google::protobuf::Message& body) {
  auto msg = signer_->Sign(kind, to, request_id, body.SerializeAsString());
  if (!msg.ok()) {
    spdlog::error("cannot sign a {} for {}: {}", wire::KindLabel(kind), to, msg.status().message());
    return false;
  }
  return SendRaw(to, msg->bytes);
}

void Gateway::SendOrHold(const std::string& coordinator, const std::string& case_id, const std::string& bytes,
                         const std::string& request_id) {
  const int64_t now = clock_.NowMillis();
  const InboxItem held{NewMessageId(), coordinator, case_id, bytes, now, now + config_.inbox_expiry_ms, request_id};
  const bool online = peers_.count(coordinator) != 0;
  if (!request_id.empty() || (in_unit_ && online)) {
    // Held in the inbox (in a burst: in its transaction) before it is sent.
    // An answer to a request stays there until the coordinator acknowledges
    // it (DELIVERY_ACK), so one lost on the way comes again with the next
    // inbox fetch; anything else goes once it was sent.
    if (Status s = store_->AddToInbox(held); !s.ok()) {
      spdlog::error("cannot hold a message for {}: {}", coordinator, s.message());
      if (in_unit_) FailUnit(s);  // an answer must never be closed without its held copy
    }
    if (!online) {
      spdlog::info("held a message for offline coordinator {} case={}", coordinator, case_id);
      return;
    }
    if (SendRaw(coordinator, bytes) && in_unit_) {
      outbox_.back().held = true;
      if (request_id.empty()) outbox_.back().inbox_id = held.message_id;
    }
    return;
  }
  if (SendRaw(coordinator, bytes)) return;
  Status s = store_->AddToInbox(held);
  if (!s.ok()) spdlog::error("cannot hold a message for {}: {}", coordinator, s.message());
  else spdlog::info("held a message for offline coordinator {} case={}", coordinator, case_id);
}

void Gateway::SendError(const std::string& routing_id, const std::string& to, const std::string& request_id,
                        const Status& status) {
  v1::Error err;
  err.set_code(ToErrorCode(status.code()));
  err.set_message(status.message());
  auto msg = signer_->Sign(v1::MESSAGE_KIND_ERROR, to, request_id, err.SerializeAsString());
  if (!msg.ok()) return;
  if (in_unit_) {
    outbox_.push_back({routing_id, msg->bytes, "", "", false});
  } else {
    (void)router_->Send(routing_id, msg->bytes);
  }
}

void Gateway::RefuseAndAudit(const std::string& sender, const std::string& message_id, const Status& status) {
  v1::AuditRecord r = NewRecord(v1::AUDIT_EVENT_REFUSED, sender);
  r.set_message_id(message_id);
  r.set_reason(status.ToString());
  (void)Audit(std::move(r));
  spdlog::warn("refused a message from {}: {}", sender, status.ToString());
  SendError(peers_[sender].routing_id, sender, message_id, status);
}

void Gateway::Refuse(const std::string& coordinator, const std::string& request_id, const std::string& case_id,
                     const std::string& reason, const std::vector<std::string>& rule_ids) {
  v1::Refusal r;
  r.set_request_id(request_id);
  r.set_case_id(case_id);
  r.set_refused_by(v1::REFUSED_BY_GATEWAY);
  r.set_reason(reason);
  for (const auto& id : rule_ids) r.add_rule_ids(id);
  auto msg = signer_->Sign(v1::MESSAGE_KIND_REFUSAL, coordinator, request_id, r.SerializeAsString());
  if (msg.ok()) SendOrHold(coordinator, case_id, msg->bytes, request_id);
}

// --------------------------------------------------------------- receiving

Status Gateway::Step(int timeout_ms) {
  auto in = router_->Receive(timeout_ms);
  if (!in.ok()) return in.status();
  // A reload asked for while we waited applies before the next message.
  if (reload_.exchange(false)) (void)Reload();
  if (in->has_value()) {
    // Take whatever else is waiting too, without blocking, and handle it
    // as one burst.
    std::vector<IncomingMessage> burst;
    burst.push_back(std::move(**in));
    for (int i = 0; i < kMaxBurst - 1; ++i) {
      auto more = router_->Receive(0);
      if (!more.ok() || !more->has_value()) break;
      burst.push_back(std::move(**more));
    }
    HandleBurst(burst);
  }
  RunTimers();
  return OkStatus();
}

void Gateway::HandleBurst(std::vector<IncomingMessage>& burst) {
  RunUnit([&] { for (const auto& in : burst) Handle(in); }, &burst);
}

Status Gateway::Run() {
  while (!stop_) KP_RETURN_IF_ERROR(Step(200));
  // A last, empty unit leaves a clean state: acknowledged and sent copies
  // removed, the outbox emptied of what the log already holds.
  if (audit_ok_) RunUnit([] {});
  spdlog::info("gateway stopping: in-flight work is done and the audit log is durable");
  return OkStatus();
}

void Gateway::RemoveSentInboxCopies() {
  for (const auto& id : sent_inbox_ids_) {
    if (Status s = store_->RemoveFromInbox(id); !s.ok()) spdlog::warn("cannot remove a delivered message: {}", s.message());
  }
  sent_inbox_ids_.clear();
  for (const auto& [coordinator, request_id] : acknowledged_) {
    if (Status s = store_->RemoveAcknowledged(coordinator, request_id); !s.ok()) {
      spdlog::warn("cannot remove an acknowledged message: {}", s.message());
    }
  }
  acknowledged_.clear();
}

void Gateway::Handle(const IncomingMessage& in) {
  const RegistryEntry* peer = in.participant_id.empty() ? nullptr : Enrolled(in.participant_id);
  if (peer == nullptr) {
    // ZAP admitted it, but it is not (or no longer) in the registry.
    spdlog::warn("dropped a message from an unidentified or removed peer (user-id '{}')", in.participant_id);
    return;
  }
  const std::string& sender = in.participant_id;
  auto refuse_message = [&](const Status& s, const std::string& request_id) {
    spdlog::warn("refused a message from {}: {}", sender, s.ToString());
    v1::AuditRecord r = NewRecord(v1::AUDIT_EVENT_REFUSED, sender);
    r.set_message_id(request_id);
    r.set_reason(s.ToString());
    (void)Audit(std::move(r));
    SendError(in.routing_id, sender, request_id, s);
  };
  if (in.malformed) {
    refuse_message(InvalidArgumentError("a message must be exactly one frame holding one envelope"), "");
    return;
  }
  VerifyOptions options;
  options.expected_sender = sender;
  // The signature first; freshness and replay after, because a coordinator
  // may send a request again, byte for byte, to learn whether the gateway
  // has it (docs/protocol.md §6.1): a request it knows is answered with its
  // state, never handled twice.
  auto env = EnvelopeVerifier(keys_, nullptr).Verify(in.payload, options);
  if (!env.ok()) {
    refuse_message(env.status(), "");
    return;
  }
  if (env->header.kind() == v1::MESSAGE_KIND_FRAGMENT_REQUEST && peer->card.kind == ParticipantKind::kCoordinator &&
      (env->header.recipient().empty() || env->header.recipient() == identity_->id())) {
    OnPeerSeen(sender, in.routing_id);
    switch (AnswerRequestAgain(sender, *env)) {
      case Again::kAnswered:
        return;
      case Again::kOthers:  // an id another coordinator's request has: never touch that one
        refuse_message(InvalidArgumentError("a request with this id exists already; make a new request"),
                       env->header.message_id());
        return;
      case Again::kUnreadable:
        refuse_message(UnavailableError("the case database cannot be read now; send the request again later"),
                       env->header.message_id());
        return;
      case Again::kNew:
        break;
    }
  }
  if (Status fresh = replay_->Check(sender, env->header.message_id(), env->header.sent_at_ms()); !fresh.ok()) {
    refuse_message(fresh, env->header.message_id());
    return;
  }
  if (!env->header.recipient().empty() && env->header.recipient() != identity_->id()) {
    refuse_message(InvalidArgumentError("the gateway only handles messages addressed to it"),
                   env->header.message_id());
    return;
  }
  OnPeerSeen(sender, in.routing_id);
  if (in_unit_) unit_senders_.push_back({in.routing_id, sender, env->header.message_id()});
  const ParticipantKind kind = peer->card.kind;
  const v1::MessageKind mk = env->header.kind();
  const bool coordinator = kind == ParticipantKind::kCoordinator;
  const bool agent = kind == ParticipantKind::kAgent;
  if (mk == v1::MESSAGE_KIND_HEARTBEAT) return;
  if (mk == v1::MESSAGE_KIND_CASE_COMMAND && coordinator) return HandleCaseCommand(sender, in.payload, *env);
  if (mk == v1::MESSAGE_KIND_FRAGMENT_REQUEST && coordinator) return HandleFragmentRequest(sender, in.payload, *env);
  if (mk == v1::MESSAGE_KIND_INBOX_FETCH && coordinator) return HandleInboxFetch(sender, *env);
  if (mk == v1::MESSAGE_KIND_DELIVERY_ACK && coordinator) return HandleDeliveryAck(sender, *env);
  if (mk == v1::MESSAGE_KIND_AUDIT_PULL && kind == ParticipantKind::kPrivacyOfficer) {
    return HandleAuditPull(sender, *env);
  }
  if (mk == v1::MESSAGE_KIND_FRAGMENT_DELIVERY && agent) return HandleDelivery(sender, in.payload, *env);
  if (mk == v1::MESSAGE_KIND_REFUSAL && agent) return HandleAgentRefusal(sender, in.payload, *env);
  refuse_message(PermissionDeniedError("a " + std::string(ParticipantKindName(kind)) + " may not send " +
                                       std::string(wire::KindLabel(mk)) + " messages"),
                 env->header.message_id());
}

void Gateway::OnPeerSeen(const std::string& participant_id, const std::string& routing_id) {
  const int64_t now = clock_.NowMillis();
  auto it = peers_.find(participant_id);
  const bool fresh = it == peers_.end() || it->second.routing_id != routing_id;
  Peer& p = peers_[participant_id];
  p.routing_id = routing_id;
  p.last_seen_ms = now;
  if (!fresh) return;
  spdlog::debug("participant {} connected", participant_id);
  const RegistryEntry* e = Enrolled(participant_id);
  std::string& last_route = last_routes_[participant_id];
  const bool new_connection = last_route != routing_id;
  last_route = routing_id;
  if (e != nullptr && e->card.kind == ParticipantKind::kAgent) {
    // A new connection: what went over the old one may never have arrived
    // (either side may have crashed), so every waiting request goes again.
    // The agent recognises one it already answered and sends its kept
    // answer again instead of a second disclosure. (The same connection
    // after a silence lost nothing: ZeroMQ delivers in order or not at all.)
    if (!new_connection) {
      DeliverQueuedRequests(e->card.partner);
      return;
    }
    if (Status s = store_->MarkAllUndelivered(e->card.partner); !s.ok()) {
      spdlog::error("cannot queue the requests of {} again: {}", e->card.partner, s.message());
    }
    DeliverQueuedRequests(e->card.partner);
  }
}

// ------------------------------------------------------------------ cases

void Gateway::HandleCaseCommand(const std::string& sender, const std::string& raw, const VerifiedEnvelope& env) {
  const std::string& msg_id = env.header.message_id();
  auto fail = [&](const Status& s, const std::string& case_id) {
    spdlog::warn("case command from {} refused: case={} {}", sender, case_id, s.ToString());
    v1::AuditRecord r = NewRecord(v1::AUDIT_EVENT_REFUSED, sender);
    r.set_case_id(case_id);
    r.set_message_id(msg_id);
    r.set_reason(s.ToString());
    (void)Audit(std::move(r));
    SendSigned(sender, v1::MESSAGE_KIND_ERROR, msg_id, [&] {
      v1::Error e;
      e.set_code(ToErrorCode(s.code()));
      e.set_message(s.message());
      return e;
    }());
  };
  v1::CaseCommand cmd;
  if (Status s = ParseBody(env.body, cmd); !s.ok()) return fail(s, "");
  const RegistryEntry* me = Enrolled(sender);
  if (me->role != kCasusregisseur) {
    return fail(PermissionDeniedError("only a casusregisseur may open or change cases; the registry gives " +
                                      sender + " no such role"),
                cmd.case_id());
  }
  const int64_t now = clock_.NowMillis();
  const auto& phases = policy_->phases();
  CaseRecord c;
  if (cmd.command_case() != v1::CaseCommand::kOpen) {
    auto got = store_->GetCase(cmd.case_id());
    if (!got.ok()) return fail(got.status(), cmd.case_id());
    c = *got;
    if (c.coordinator != sender) {
      return fail(PermissionDeniedError("only the casusregisseur of case " + c.id + " may change it"), c.id);
    }
    if (c.closed) return fail(FailedPreconditionError("case " + c.id + " is closed"), c.id);
  }

  v1::AuditRecord rec = NewRecord(v1::AUDIT_EVENT_UNSPECIFIED, sender);
  rec.set_message_id(msg_id);
  if (Status s = store_->Begin(); !s.ok()) return fail(s, cmd.case_id());
  Status change;
  switch (cmd.command_case()) {
    case v1::CaseCommand::kOpen: {
      if (policy_->PurposeIndex(cmd.open().purpose()) < 0) {
        change = InvalidArgumentError("purpose '" + cmd.open().purpose() + "' is not in the policy");
        break;
      }
      auto first = std::find_if(phases.begin(), phases.end(), [](const auto& p) { return !p.closed; });
      auto opened = store_->OpenCase(cmd.open().purpose(), sender, first->id, CurrentYear(now), now);
      if (!opened.ok()) {
        change = opened.status();
        break;
      }
      c = *opened;
      rec.set_event(v1::AUDIT_EVENT_CASE_OPENED);
      rec.set_purpose(c.purpose);
      break;
    }
    case v1::CaseCommand::kAdmit: {
      if (policy_->PartnerIndex(cmd.admit().partner()) < 0) {
        change = InvalidArgumentError("partner '" + cmd.admit().partner() + "' is not in the policy");
        break;
      }
      change = store_->AdmitPartner(c.id, cmd.admit().partner(), now);
      if (change.ok()) change = store_->PutEvidence(c.id, "admit/" + cmd.admit().partner(), raw);
      rec.set_event(v1::AUDIT_EVENT_PARTNER_ADMITTED);
      rec.set_recipient_partner(cmd.admit().partner());
      break;
    }
    case v1::CaseCommand::kChangePhase: {
      int idx = policy_->PhaseIndex(cmd.change_phase().phase());
      if (idx < 0 || phases[static_cast<size_t>(idx)].closed) {
        change = InvalidArgumentError("'" + cmd.change_phase().phase() +
                                      "' is not an open phase of the policy (use close to close the case)");
        break;
      }
      change = store_->SetPhase(c.id, cmd.change_phase().phase());
      if (change.ok()) change = store_->PutEvidence(c.id, "phase", raw);
      c.phase = cmd.change_phase().phase();
      rec.set_event(v1::AUDIT_EVENT_PHASE_CHANGED);
      break;
    }
    case v1::CaseCommand::kRecordConsent: {
      const auto& rc = cmd.record_consent();
      if (rc.subject_ref().empty() || rc.subject_ref().size() > 16 || policy_->PurposeIndex(rc.purpose()) < 0 ||
          rc.valid_until_ms() <= now) {
        change = InvalidArgumentError("consent needs a subject reference, a purpose of the policy and a future end date");
        break;
      }
      change = store_->RecordConsent(c.id, rc.subject_ref(), rc.purpose(), rc.valid_until_ms());
      if (change.ok()) change = store_->PutEvidence(c.id, "consent/" + rc.subject_ref() + "/" + rc.purpose(), raw);
      rec.set_event(v1::AUDIT_EVENT_CONSENT_RECORDED);
      rec.set_purpose(rc.purpose());
      rec.set_reason("consent recorded for subject " + rc.subject_ref() + " until " +
                     FormatRfc3339Millis(rc.valid_until_ms()));
      break;
    }
    case v1::CaseCommand::kGatekeeperApproval: {
      const auto& g = cmd.gatekeeper_approval();
      if (policy_->PartnerIndex(g.source_partner()) < 0 || policy_->PurposeIndex(g.purpose()) < 0 ||
          g.categories().empty() || g.valid_until_ms() <= now) {
        change = InvalidArgumentError("a gatekeeper approval needs a partner, categories and a purpose of the "
                                      "policy, and a future end date");
        break;
      }
      for (const auto& cat : g.categories()) {
        if (policy_->CategoryIndex(cat) < 0) {
          change = InvalidArgumentError("category '" + cat + "' is not in the policy");
          break;
        }
        if (change = store_->RecordGatekeeperApproval(c.id, g.source_partner(), cat, g.purpose(), g.valid_until_ms());
            !change.ok()) {
          break;
        }
        rec.add_categories()->set_name(cat);
        if (change = store_->PutEvidence(c.id, "gatekeeper/" + g.source_partner() + "/" + g.purpose() + "/" + cat, raw);
            !change.ok()) {
          break;
        }
      }
      rec.set_event(v1::AUDIT_EVENT_CONSENT_RECORDED);
      rec.set_source_partner(g.source_partner());
      rec.set_purpose(g.purpose());
      rec.set_reason("gatekeeper approval recorded until " + FormatRfc3339Millis(g.valid_until_ms()));
      break;
    }
    case v1::CaseCommand::kClose: {
      auto closed = std::find_if(phases.begin(), phases.end(), [](const auto& p) { return p.closed; });
      if (closed == phases.end()) {
        change = FailedPreconditionError("the policy has no closed phase");
        break;
      }
      change = store_->CloseCase(c.id, closed->id, now);
      c.phase = closed->id;
      rec.set_event(v1::AUDIT_EVENT_CASE_CLOSED);
      rec.set_reason(cmd.close().reason_code());
      break;
    }
    default:
      change = InvalidArgumentError("case command without a command");
  }
  if (!change.ok()) {
    store_->Rollback();
    return fail(change, c.id.empty() ? cmd.case_id() : c.id);
  }
  rec.set_case_id(c.id);
  rec.set_phase(c.phase);
  auto index = Audit(std::move(rec));
  if (!index.ok()) {
    store_->Rollback();  // no change the log does not show
    return fail(UnavailableError("the audit log is not writable; the change was not made"), c.id);
  }
  if (Status s = store_->Commit(); !s.ok()) {
    store_->Rollback();
    FailUnit(s);  // its record is staged: the whole unit goes
    return fail(s, c.id);
  }
  spdlog::info("case {}: {} by {} (audit #{})", c.id, cmd.GetDescriptor()->FindFieldByNumber(cmd.command_case())->name(),
               sender, *index);
  v1::CaseResult result;
  result.set_case_id(c.id);
  result.set_phase(c.phase);
  result.set_audit_index(*index);
  SendSigned(sender, v1::MESSAGE_KIND_CASE_RESULT, msg_id, result);
}

// --------------------------------------------------------------- requests

void Gateway::HandleFragmentRequest(const std::string& sender, const std::string& raw, const VerifiedEnvelope& env) {
  const std::string& request_id = env.header.message_id();
  v1::FragmentRequest req;
  const RegistryEntry* me = Enrolled(sender);
  v1::AuditRecord rec = NewRecord(v1::AUDIT_EVENT_DECISION, sender);
  rec.set_message_id(request_id);
  auto refuse = [&](const std::string& reason, const std::vector<std::string>& rules, bool policy_decided) {
    if (!policy_decided) {
      rec.set_event(v1::AUDIT_EVENT_REFUSED);
      rec.set_reason(reason);
    }
    if (!Audit(rec).ok()) {
      SendError(peers_[sender].routing_id, sender, request_id,
                UnavailableError("the audit log is not writable; the request was refused"));
      return;
    }
    ++stats_.refused;
    spdlog::debug("request {} case={} from={} refused: {}", IdHex(request_id), req.case_id(), req.source_partner(),
                  rules.empty() ? "before policy" : "by policy");
    StoredRequest refused{request_id, req.case_id(), sender, req.source_partner(), {}, "", 0, 0, false};
    if (Status s = store_->CloseRequest(refused, ClosedRequest{request_id, sender, req.source_partner(),
                                                               RequestOutcome::kRefusedByGateway, 0, "",
                                                               clock_.NowMillis()});
        !s.ok()) {
      FailUnit(s);
    }
    Refuse(sender, request_id, req.case_id(), reason, rules);
  };
  if (Status s = ParseBody(env.body, req); !s.ok()) return refuse(s.message(), {}, false);
  rec.set_case_id(req.case_id());
  rec.set_source_partner(req.source_partner());
  rec.set_recipient_partner(me->card.partner);
  rec.set_purpose(req.purpose());
  rec.mutable_payload()->set_ciphertext_bytes(req.sealed_subjects().size());
  for (const auto& cat : req.categories()) audit::AddPolicyCategory(*policy_, cat, &rec);
  if (req.categories().empty() || req.source_partner().empty() || req.sealed_subjects().empty()) {
    return refuse("a request needs a source partner, categories and sealed subject data", {}, false);
  }
  auto c = store_->GetCase(req.case_id());
  if (!c.ok()) return refuse(c.status().message(), {}, false);
  rec.set_phase(c->phase);
  if (c->closed) return refuse("case " + c->id + " is closed; no further requests are possible", {}, false);
  if (c->coordinator != sender) {
    return refuse("you are not the casusregisseur of case " + c->id, {}, false);
  }
  auto admitted = store_->IsMember(c->id, req.source_partner());
  if (!admitted.ok()) return refuse(admitted.status().message(), {}, false);
  if (!*admitted) {
    return refuse("partner " + req.source_partner() + " is not admitted to case " + c->id +
                      "; admit it first (ketenpoort case admit)",
                  {}, false);
  }
  // The agent that will answer.
  std::string agent;
  for (const auto& [id, e] : registry_->entries()) {
    if (e.card.kind == ParticipantKind::kAgent && e.card.partner == req.source_partner()) {
      agent = id;
      break;
    }
  }
  if (agent.empty()) return refuse("no agent of partner " + req.source_partner() + " is enrolled", {}, false);

  const int64_t now = clock_.NowMillis();
  std::vector<std::string> cats(req.categories().begin(), req.categories().end());
  std::vector<std::string> refs;
  for (const auto& s : req.subjects()) refs.push_back(s.ref());
  auto consent = store_->HasConsent(c->id, refs, req.purpose(), now);
  auto gatekeeper = store_->HasGatekeeperApproval(c->id, req.source_partner(), cats, req.purpose(), now);
  auto evidence = store_->Evidence(c->id);
  if (!consent.ok() || !gatekeeper.ok() || !evidence.ok()) {
    return refuse("the case database is not readable", {}, false);
  }

  policy::Request pr;
  pr.from = req.source_partner();
  pr.to = me->card.partner;
  pr.to_role = me->role;
  for (const auto& cat : req.categories()) pr.categories.push_back(cat);
  pr.purpose = req.purpose();
  pr.phase = c->phase;
  pr.requester_is_member = true;  // the case's own casusregisseur (checked above)
  pr.consent_recorded = *consent;
  pr.gatekeeper_approved = *gatekeeper;
  pr.justification = req.justification_present() ? "present" : "";
  auto policy = policy_;  // the decision's views point into it
  policy::Decision d = policy->Decide(pr);

  auto* ad = rec.mutable_decision();
  ad->set_verdict(d.effect == policy::Effect::kPermit ? v1::AUDIT_VERDICT_PERMIT : v1::AUDIT_VERDICT_DENY);
  std::vector<std::string> rule_ids;
  for (auto r : d.rule_ids) {
    ad->add_rule_ids(std::string(r));
    rule_ids.emplace_back(r);
  }
  ad->set_reason(d.reason);
  ad->set_policy_sha256(HexDecode(d.policy_sha256).value_or(std::string()));
  std::string legal_bases;
  for (auto lb : d.legal_bases) legal_bases += (legal_bases.empty() ? "" : ",") + std::string(lb);
  rec.set_legal_basis(legal_bases);
  if (d.effect != policy::Effect::kPermit) return refuse(d.reason, rule_ids, true);

  v1::Authorisation auth;
  auth.set_request_envelope(raw);
  auto* dec = auth.mutable_decision();
  dec->set_effect(v1::EFFECT_PERMIT);
  for (const auto& r : rule_ids) dec->add_rule_ids(r);
  dec->set_legal_basis(legal_bases);
  dec->set_reason(d.reason);
  dec->set_policy_sha256(HexDecode(d.policy_sha256).value_or(std::string()));
  auto* ob = dec->mutable_obligations();
  auto* aob = ad->mutable_obligations();
  for (const auto& cf : d.obligations.fields) {
    auto* f = ob->add_allowed_fields();
    f->set_category(std::string(cf.category));
    for (auto field : cf.fields) {
      f->add_fields(std::string(field));
      aob->add_allowed_fields(std::string(cf.category) + "." + std::string(field));
    }
  }
  ob->set_retention_days(static_cast<uint32_t>(d.obligations.retention_days));
  ob->set_no_onward_sharing(d.obligations.no_onward_sharing);
  ob->set_notify_privacy_officer(d.obligations.notify_privacy_officer);
  aob->set_retention_days(ob->retention_days());
  aob->set_no_onward_sharing(ob->no_onward_sharing());
  aob->set_notify_privacy_officer(ob->notify_privacy_officer());
  auth.set_expires_at_ms(now + config_.request_expiry_ms);
  auth.set_case_phase(c->phase);
  // The coordinator's own signed commands behind the case facts this decision
  // relied on, so the agent need not take the gateway's word for them.
  for (const auto& [topic, envelope] : *evidence) {
    bool relevant = topic == "phase" || topic == "admit/" + req.source_partner() ||
                    topic.rfind("gatekeeper/" + req.source_partner() + "/" + req.purpose() + "/", 0) == 0;
    for (const auto& ref : refs) relevant |= topic == "consent/" + ref + "/" + req.purpose();
    if (relevant) auth.add_case_evidence(envelope);
  }

  // Write before forward: the decision is durable before anything leaves.
  auto index = Audit(rec);
  if (!index.ok()) {
    SendError(peers_[sender].routing_id, sender, request_id,
              UnavailableError("the audit log is not writable; the request was refused"));
    return;
  }
  auth.set_audit_index(*index);
  StoredRequest stored{request_id, c->id, sender, req.source_partner(), cats, auth.SerializeAsString(),
                       now, auth.expires_at_ms(), false};
  if (Status s = store_->AddRequest(stored); !s.ok()) {
    spdlog::error("request {}: cannot store it: {}", IdHex(request_id), s.message());
    FailUnit(s);  // its decision record must not stand alone
    return;
  }
  v1::RequestAccepted accepted;
  accepted.set_request_id(request_id);
  accepted.set_audit_index(*index);
  accepted.set_expires_at_ms(stored.expires_ms);
  SendSigned(sender, v1::MESSAGE_KIND_ACCEPTED, request_id, accepted);  // leaves once it is durable
  ++stats_.permitted;
  spdlog::debug("request {} case={} from={} permitted (audit #{})", IdHex(request_id), c->id, req.source_partner(),
                *index);
  DeliverQueuedRequests(req.source_partner());
}

Gateway::Again Gateway::AnswerRequestAgain(const std::string& sender, const VerifiedEnvelope& env) {
  const std::string& request_id = env.header.message_id();
  v1::RequestAccepted accepted;
  accepted.set_request_id(request_id);
  auto pending = store_->GetRequest(request_id);
  if (!pending.ok()) return Again::kUnreadable;
  if (pending->has_value()) {
    if ((*pending)->coordinator != sender) return Again::kOthers;
    v1::Authorisation auth;
    if (auth.ParseFromString((*pending)->authorisation)) accepted.set_audit_index(auth.audit_index());
    accepted.set_expires_at_ms((*pending)->expires_ms);
  } else {
    auto closed = store_->GetClosedRequest(request_id);
    if (!closed.ok()) return Again::kUnreadable;
    if (!closed->has_value()) return Again::kNew;
    if ((*closed)->coordinator != sender) return Again::kOthers;
    accepted.set_answered(true);
    // The answer itself, when it is still held (not yet acknowledged).
    auto held = store_->InboxFor(sender);
    if (held.ok()) {
      for (const auto& item : *held) {
        if (item.request_id == request_id) SendRaw(sender, item.envelope);
      }
    }
  }
  SendSigned(sender, v1::MESSAGE_KIND_ACCEPTED, request_id, accepted);
  spdlog::debug("request {} sent again by {}: {}", IdHex(request_id), sender,
                accepted.answered() ? "already answered" : "still waiting for its agent");
  return Again::kAnswered;
}

void Gateway::DeliverQueuedRequests(const std::string& partner) {
  std::string agent;
  for (const auto& [id, e] : registry_->entries()) {
    if (e.card.kind == ParticipantKind::kAgent && e.card.partner == partner && peers_.count(id) != 0) {
      agent = id;
      break;
    }
  }
  if (agent.empty()) return;  // offline: the requests wait (store-and-forward)
  auto waiting = store_->UndeliveredFor(partner);
  if (!waiting.ok()) {
    spdlog::error("cannot read queued requests: {}", waiting.status().message());
    return;
  }
  for (const auto& r : *waiting) {
    // Signed now, so it is fresh when it arrives however long it waited.
    auto msg = signer_->Sign(v1::MESSAGE_KIND_AUTHORISATION, agent, r.request_id, r.authorisation);
    if (!msg.ok()) continue;
    v1::AuditRecord rec = NewRecord(v1::AUDIT_EVENT_FORWARDED, identity_->id());
    rec.set_case_id(r.case_id);
    rec.set_message_id(r.request_id);
    rec.set_source_partner(partner);
    for (const auto& cat : r.categories) rec.add_categories()->set_name(cat);
    if (!Audit(std::move(rec)).ok()) return;  // nothing forwarded unlogged
    if (!SendRaw(agent, msg->bytes)) return;
    if (in_unit_) outbox_.back().forward_of = r.request_id;
    (void)store_->MarkDelivered(r.request_id);
    spdlog::debug("request {} forwarded to {}", IdHex(r.request_id), agent);
  }
}

void Gateway::HandleDelivery(const std::string& sender, const std::string& raw, const VerifiedEnvelope& env) {
  const std::string& request_id = env.header.request_id();
  const RegistryEntry* me = Enrolled(sender);
  v1::AuditRecord rec = NewRecord(v1::AUDIT_EVENT_DELIVERED, sender);
  rec.set_message_id(request_id);
  auto refuse = [&](const Status& s) {
    rec.set_event(v1::AUDIT_EVENT_REFUSED);
    rec.set_reason("delivery refused: " + s.ToString());
    (void)Audit(rec);
    spdlog::warn("delivery from {} for request {} refused: {}", sender, IdHex(request_id), s.ToString());
    SendError(peers_[sender].routing_id, sender, env.header.message_id(), s);
  };
  v1::FragmentDelivery d;
  if (Status s = ParseBody(env.body, d); !s.ok()) return refuse(s);
  if (d.request_id() != request_id) return refuse(InvalidArgumentError("the delivery names two different requests"));
  auto pending = store_->GetRequest(request_id);
  if (!pending.ok()) return refuse(pending.status());
  if (!pending->has_value()) {
    // An answer sent again (the agent had no receipt: a crash or a lost
    // connection on either side) is recognised, not refused as unknown.
    auto closed = store_->GetClosedRequest(request_id);
    if (closed.ok() && closed->has_value() && (*closed)->source_partner == me->card.partner) {
      const ClosedRequest& c = **closed;
      if (c.outcome == RequestOutcome::kDelivered) {
        v1::Receipt receipt;
        receipt.set_delivery_id(env.header.message_id());
        receipt.set_audit_index(c.audit_index);
        auto checkpoint = audit_->SignHead();
        if (checkpoint.ok()) receipt.set_checkpoint(*checkpoint);
        SendSigned(sender, v1::MESSAGE_KIND_RECEIPT, request_id, receipt);
        spdlog::debug("request {}: answer sent again by {}; it was delivered (audit #{}), receipt sent again",
                      IdHex(request_id), sender, c.audit_index);
        return;
      }
      if (c.outcome == RequestOutcome::kExpired) {
        return refuse(FailedPreconditionError(
            "the request expired before this answer reached the gateway; it was not delivered to the coordinator"));
      }
    }
    return refuse(NotFoundError("no pending request with this id (already answered, expired, or unknown)"));
  }
  const StoredRequest& r = **pending;
  rec.set_case_id(r.case_id);
  rec.set_source_partner(r.source_partner);
  if (me->card.partner != r.source_partner) {
    return refuse(PermissionDeniedError("this request was authorised for partner " + r.source_partner));
  }
  if (r.expires_ms <= clock_.NowMillis()) return refuse(FailedPreconditionError("the authorisation has expired"));
  for (const auto& cat : d.categories()) {
    if (std::find(r.categories.begin(), r.categories.end(), cat) == r.categories.end()) {
      return refuse(PermissionDeniedError("category '" + cat + "' was not authorised for this request"));
    }
    rec.add_categories()->set_name(cat);
  }
  if (d.sealed_content().empty()) return refuse(InvalidArgumentError("the delivery holds no sealed content"));
  const RegistryEntry* coord = Enrolled(r.coordinator);
  if (coord != nullptr) rec.set_recipient_partner(coord->card.partner);
  rec.mutable_payload()->set_ciphertext_bytes(d.sealed_content().size());
  rec.mutable_payload()->set_ciphertext_sha256(Sha256String(d.sealed_content()));
  auto index = Audit(rec);
  if (!index.ok()) {
    SendError(peers_[sender].routing_id, sender, env.header.message_id(),
              UnavailableError("the audit log is not writable; delivery not accepted, send it again later"));
    return;
  }
  // Handed on (in a burst: held in the inbox in the same transaction that
  // closes the request, and sent after it) before the request is closed: a
  // crash leaves either the pending request, which expires with a notice, or
  // the held copy, never a fragment that is gone without a trace.
  SendOrHold(r.coordinator, r.case_id, raw, request_id);  // the agent's signed envelope, unchanged
  if (Status s = store_->CloseRequest(r, ClosedRequest{request_id, r.coordinator, r.source_partner,
                                                      RequestOutcome::kDelivered, *index, env.header.message_id(),
                                                      clock_.NowMillis()});
      !s.ok()) {
    spdlog::error("cannot close request: {}", s.message());
    FailUnit(s);
  }
  v1::Receipt receipt;
  receipt.set_delivery_id(env.header.message_id());
  receipt.set_audit_index(*index);
  // Signed now over the log as it stands, sent only once it is durable; not
  // kept in the log folder (the periodic checkpoints are).
  auto checkpoint = audit_->SignHead();
  if (checkpoint.ok()) receipt.set_checkpoint(*checkpoint);
  SendSigned(sender, v1::MESSAGE_KIND_RECEIPT, request_id, receipt);
  ++stats_.delivered;
  spdlog::debug("request {} delivered case={} (audit #{})", IdHex(request_id), r.case_id, *index);
}

void Gateway::HandleAgentRefusal(const std::string& sender, const std::string& raw, const VerifiedEnvelope& env) {
  const std::string& request_id = env.header.request_id();
  const RegistryEntry* me = Enrolled(sender);
  v1::Refusal refusal;
  if (Status s = ParseBody(env.body, refusal); !s.ok()) {
    RefuseAndAudit(sender, env.header.message_id(), s);
    return;
  }
  auto pending = store_->GetRequest(request_id);
  if (!pending.ok() || !pending->has_value() || (*pending)->source_partner != me->card.partner) {
    RefuseAndAudit(sender, env.header.message_id(),
              NotFoundError("no pending request of your partner with this id"));
    return;
  }
  const StoredRequest& r = **pending;
  v1::AuditRecord rec = NewRecord(v1::AUDIT_EVENT_REFUSED, sender);
  rec.set_case_id(r.case_id);
  rec.set_message_id(request_id);
  rec.set_source_partner(r.source_partner);
  rec.set_reason("refused by the agent: " + refusal.reason());
  for (const auto& id : refusal.rule_ids()) rec.mutable_decision()->add_rule_ids(id);
  if (!Audit(std::move(rec)).ok()) {
    RefuseAndAudit(sender, env.header.message_id(),
              UnavailableError("the audit log is not writable; send the refusal again later"));
    return;
  }
  if (Status s = store_->CloseRequest(r, ClosedRequest{request_id, r.coordinator, r.source_partner,
                                                      RequestOutcome::kRefusedByAgent, 0, env.header.message_id(),
                                                      clock_.NowMillis()});
      !s.ok()) {
    FailUnit(s);
  }
  SendOrHold(r.coordinator, r.case_id, raw, request_id);
  ++stats_.refused_by_agents;
  spdlog::debug("request {} refused by {} case={}", IdHex(request_id), sender, r.case_id);
}

void Gateway::HandleInboxFetch(const std::string& sender, const VerifiedEnvelope& env) {
  v1::InboxFetch fetch;
  if (Status s = ParseBody(env.body, fetch); !s.ok()) {
    RefuseAndAudit(sender, env.header.message_id(), s);
    return;
  }
  RemoveSentInboxCopies();  // nothing already acknowledged is sent again
  auto items = store_->InboxFor(sender);
  if (!items.ok()) {
    RefuseAndAudit(sender, env.header.message_id(), items.status());
    return;
  }
  size_t sent = 0;
  for (const auto& item : *items) {
    if (!fetch.case_id().empty() && item.case_id != fetch.case_id()) continue;
    if (!SendRaw(sender, item.envelope)) break;
    if (!item.request_id.empty()) {
      // stays until the coordinator acknowledges it
    } else if (in_unit_) {
      outbox_.back().inbox_id = item.message_id;  // removed once it was sent
    } else {
      (void)store_->RemoveFromInbox(item.message_id);
    }
    ++sent;
  }
  v1::CaseResult end;  // empty case id: the end of the inbox
  SendSigned(sender, v1::MESSAGE_KIND_CASE_RESULT, env.header.message_id(), end);
  spdlog::debug("inbox of {}: {} message(s) sent", sender, sent);
}

void Gateway::HandleDeliveryAck(const std::string& sender, const VerifiedEnvelope& env) {
  v1::DeliveryAck ack;
  Status s = ParseBody(env.body, ack);
  if (s.ok() && ack.request_ids_size() > kMaxAckedRequests) {
    s = InvalidArgumentError("an acknowledgement names at most " + std::to_string(kMaxAckedRequests) + " requests");
  }
  if (!s.ok()) {
    RefuseAndAudit(sender, env.header.message_id(), s);
    return;
  }
  // Only this coordinator's own held copies can go. Removed with the next
  // change that is written anyway (or the next inbox fetch, or when idle):
  // an acknowledgement costs no sync of its own, and one lost in a crash
  // only means a second copy later.
  for (const auto& id : ack.request_ids()) {
    if (id.size() == wire::kMessageIdBytes) acknowledged_.emplace_back(sender, id);  // anything else names nothing
  }
}

// -------------------------------------------------------- privacy officer

namespace {

constexpr size_t kInlineFileBytes = 64 * 1024;
constexpr size_t kChunkBytes = 1024 * 1024;

// A file name inside the log folder as a pull may name it: no way out of it.
bool SafeLogPath(const std::string& name) {
  if (name.empty() || name.size() > 128 || name.front() == '/' || name.find("..") != std::string::npos) return false;
  for (char ch : name) {
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '/' || ch == '.' || ch == '-' || ch == '_';
    if (!ok) return false;
  }
  return name != "LOCK";
}

Result<std::string> ReadAt(const std::string& path, uint64_t offset, size_t n) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return NotFoundError("no such file in the audit log");
  std::string out(n, '\0');
  ssize_t got = ::pread(fd, out.data(), n, static_cast<off_t>(offset));
  ::close(fd);
  if (got < 0) return UnavailableError("cannot read the audit log");
  out.resize(static_cast<size_t>(got));
  return out;
}

}  // namespace

void Gateway::HandleAuditPull(const std::string& sender, const VerifiedEnvelope& env) {
  const std::string& msg_id = env.header.message_id();
  v1::AuditPull pull;
  if (Status s = ParseBody(env.body, pull); !s.ok()) return RefuseAndAudit(sender, msg_id, s);
  if (pull.file().empty()) {
    // The export is itself audited, and covered by the checkpoint it
    // carries: the listing is made once its record is in the log.
    v1::AuditRecord rec = NewRecord(v1::AUDIT_EVENT_LOG_EXPORTED, sender);
    rec.set_message_id(msg_id);
    rec.set_reason("audit log pulled by a privacy officer");
    if (!Audit(std::move(rec)).ok()) {
      return RefuseAndAudit(sender, msg_id, UnavailableError("the audit log is not writable; try again later"));
    }
    after_log_.push_back([this, sender, msg_id] { SendAuditListing(sender, msg_id); });
    return;
  }
  if (!SafeLogPath(pull.file())) {
    return RefuseAndAudit(sender, msg_id, InvalidArgumentError("not a file of the audit log"));
  }
  auto data = ReadAt(AuditDir(config_) + "/" + pull.file(), pull.offset(), kChunkBytes);
  if (!data.ok()) return RefuseAndAudit(sender, msg_id, data.status());
  v1::AuditChunk answer;
  answer.set_file(pull.file());
  answer.set_offset(pull.offset());
  answer.set_data(std::move(*data));
  SendSigned(sender, v1::MESSAGE_KIND_AUDIT_CHUNK, msg_id, answer);
}

void Gateway::SendAuditListing(const std::string& sender, const std::string& msg_id) {
  auto fail = [&](const Status& s) {
    spdlog::warn("audit log listing for {} failed: {}", sender, s.ToString());
    SendError(peers_[sender].routing_id, sender, msg_id, s);
  };
  auto checkpoint = audit_->Checkpoint();
  if (!checkpoint.ok()) return fail(checkpoint.status());
  const std::string dir = AuditDir(config_);
  v1::AuditChunk answer;
  std::error_code ec;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir, ec)) {
    if (!e.is_regular_file()) continue;
    std::string name = std::filesystem::relative(e.path(), dir).string();
    if (!SafeLogPath(name)) continue;
    auto* f = answer.add_files();
    f->set_name(name);
    f->set_size(e.file_size());
    if (f->size() <= kInlineFileBytes) {
      auto content = ReadAt(e.path().string(), 0, f->size());
      if (!content.ok()) return fail(content.status());
      f->set_content(*content);
    }
  }
  if (ec) return fail(UnavailableError("cannot list the audit log"));
  spdlog::info("audit log listing sent to privacy officer {} ({} files)", sender, answer.files_size());
  SendSigned(sender, v1::MESSAGE_KIND_AUDIT_CHUNK, msg_id, answer);
}

// ------------------------------------------------------------------ timers

void Gateway::RunTimers() {
  if (!audit_ok_) (void)TryRecoverAudit();  // serves again by itself once the disk does
  const int64_t now = clock_.NowMillis();
  if (now - last_timers_ms_ >= 1000) replay_->Prune();  // ids that left the window go, also when idle
  auto gone = router_->FlushParked();
  const bool due = now - last_timers_ms_ >= 1000;
  if (!gone.empty() || due) {
    if (due) last_timers_ms_ = now;
    RunUnit([&] {
      for (auto& g : gone) {
        for (auto it = peers_.begin(); it != peers_.end(); ++it) {
          if (it->second.routing_id != g.routing_id) continue;
          const std::string who = it->first;
          peers_.erase(it);  // gone: what follows is held, not sent
          const RegistryEntry* e = Enrolled(who);
          // Requests are re-sent when the agent comes back; anything for a
          // coordinator waits in its inbox (an answer to a request until it
          // is acknowledged, like any other).
          if (e != nullptr && e->card.kind == ParticipantKind::kCoordinator) {
            SendOrHold(who, "", g.payload, AnsweredRequest(g.payload));
          }
          break;
        }
      }
      if (due) ExpireInUnit(now);
    });
  }
  if (now - last_summary_ms_ >= kSummaryEveryMs) {
    if (last_summary_ms_ != 0 && stats_.any()) {
      auto waiting = store_->CountRequests();
      spdlog::info("last {} s: {} request(s) permitted, {} refused by policy, {} refused by agents, {} delivered, "
                   "{} expired; {} waiting for an agent, {} peer(s) connected",
                   (now - last_summary_ms_) / 1000, stats_.permitted, stats_.refused, stats_.refused_by_agents,
                   stats_.delivered, stats_.expired, waiting.ok() ? *waiting : -1, peers_.size());
    }
    stats_ = {};
    last_summary_ms_ = now;
  }
  if (!due) return;
  for (auto it = peers_.begin(); it != peers_.end();) {
    if (now - it->second.last_seen_ms > config_.peer_timeout_ms) {
      spdlog::info("participant {} is gone (silent for {} ms)", it->first, now - it->second.last_seen_ms);
      it = peers_.erase(it);
      continue;
    }
    if (now - it->second.last_sent_ms >= config_.heartbeat_interval_ms) {
      v1::Heartbeat hb;
      hb.set_sequence(++heartbeat_sequence_);
      const std::string to = it->first;
      ++it;  // SendSigned may erase the peer
      SendSigned(to, v1::MESSAGE_KIND_HEARTBEAT, "", hb);
      continue;
    }
    ++it;
  }
}

void Gateway::ExpireInUnit(int64_t now) {
  auto expired = store_->TakeExpiredRequests(now);
  if (expired.ok()) {
    for (const auto& r : *expired) {
      v1::AuditRecord rec = NewRecord(v1::AUDIT_EVENT_EXPIRED, identity_->id());
      rec.set_case_id(r.case_id);
      rec.set_message_id(r.request_id);
      rec.set_source_partner(r.source_partner);
      rec.set_reason("the agent of " + r.source_partner + " did not answer in time");
      (void)Audit(std::move(rec));
      Refuse(r.coordinator, r.request_id, r.case_id,
             "request expired: the agent of " + r.source_partner + " did not answer in time", {});
      ++stats_.expired;
      spdlog::debug("request {} expired case={}", IdHex(r.request_id), r.case_id);
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
  // Forwards that could not be sent (a full queue) go again to agents that
  // are still connected.
  if (retry_forwards_) {
    retry_forwards_ = false;
    for (const auto& [id, peer] : peers_) {
      const RegistryEntry* e = Enrolled(id);
      if (e != nullptr && e->card.kind == ParticipantKind::kAgent) DeliverQueuedRequests(e->card.partner);
    }
  }
  // How requests ended is kept long enough to recognise one sent again.
  if (now - last_forget_ms_ >= 3600 * 1000) {
    last_forget_ms_ = now;
    (void)store_->ForgetClosedRequests(now - kRememberClosedMs);
  }
}

}  // namespace kp::gateway
