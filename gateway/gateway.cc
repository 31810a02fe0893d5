#include "gateway/gateway.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <future>

#include "core/base/systemd_notify.h"
#include "core/envelope/replay_guard.h"
#include "core/envelope/wire_format.h"
#include "core/transport/router_server.h"
#include "core/transport/transport_context.h"
#include "core/transport/zap_handler.h"
#include "gateway/backup.h"

namespace kp::gateway {

namespace v1 = ketenpoort::v1;

namespace {

// Messages handled as one burst: one transaction, one audit sync.
constexpr int kMaxBurst = 256;
// How often the per-exchange counts go to the log at info (each exchange is
// logged at debug).
constexpr int64_t kSummaryEveryMs = 60'000;

// The transport keys the ZAP handler admits: every card of the registry.
TransportPeers PeersOf(const Registry& registry) {
  TransportPeers peers;
  for (const auto& [id, e] : registry.entries()) {
    for (const auto& c : e.cards) {  // during a key rotation, either card's transport key
      peers[c.transport_key] = {id, std::string(ParticipantKindName(c.kind)), c.partner, e.role};
    }
  }
  return peers;
}

}  // namespace

Gateway::Gateway(const Clock& clock, const GatewayConfig& config) : clock_(clock), config_(config) {}

Gateway::~Gateway() {
  retention_.reset();  // waits for a running erasure, which uses the core's audit trail
  // Sockets before the ZAP handler, both before the context.
  router_.reset();
  zap_.reset();
  context_.reset();
}

const std::string& Gateway::endpoint() const { return router_->endpoint(); }

Result<std::unique_ptr<Gateway>> Gateway::Create(GatewayParts parts, const Clock& clock) {
  std::unique_ptr<Gateway> gw(new Gateway(clock, parts.config));
  KP_RETURN_IF_ERROR(gw->Init(std::move(parts)));
  return gw;
}

Result<std::unique_ptr<Gateway>> Gateway::Create(const GatewayConfig& config, const Clock& clock,
                                                 StartupOptions options) {
  KP_ASSIGN_OR_RETURN(GatewayParts parts, OpenGatewayParts(config, std::move(options)));
  return Create(std::move(parts), clock);
}

Result<std::unique_ptr<Gateway>> Gateway::Create(const GatewayConfig& config,
                                                 std::unique_ptr<AuditTrail> audit, const Clock& clock) {
  if (audit == nullptr) return InvalidArgumentError("the gateway needs an audit log");
  StartupOptions options;
  options.audit = std::move(audit);
  return Create(config, clock, std::move(options));
}

Status Gateway::Init(GatewayParts parts) {
  KP_ASSIGN_OR_RETURN(core_, GatewayCore::Create(std::move(parts), clock_, [this](const std::string& id) {
                        auto it = peers_.find(id);
                        return it == peers_.end() ? std::string() : it->second.routing_id;
                      }));
  retention_ = std::make_unique<RetentionSweep>(config_.retention_sweep_interval_ms);
  replay_ =
      std::make_unique<ReplayGuard>(clock_, ReplayGuard::Options{.window_ms = config_.replay_window_ms});
  context_ = std::make_unique<TransportContext>();
  KP_ASSIGN_OR_RETURN(zap_, ZapHandler::Create(context_->get(), PeersOf(core_->registry())));
  RouterOptions options;
  options.endpoint = config_.listen;
  options.max_parked_per_peer = config_.max_parked_per_peer;
  const Identity& me = core_->identity();
  KP_ASSIGN_OR_RETURN(router_, RouterServer::Create(context_->get(), *zap_, me.transport().public_key,
                                                    me.transport().secret_key, options));
  Status started;
  if (!RunUnit([&] { started = core_->RecordStart(); }) && started.ok()) {
    started = UnavailableError("the start could not be recorded in the audit log");
  }
  KP_RETURN_IF_ERROR(started);
  spdlog::info("gateway {} listening on {} (policy {}, registry serial {}, {} participants)", me.id(),
               router_->endpoint(), core_->policy().id(), core_->registry_serial(),
               core_->registry().entries().size());
  return OkStatus();
}

Status Gateway::Reload() {
  if (core_->in_unit()) return ReloadInUnit();
  // What is in force now, put back when the reload cannot be recorded: no
  // registry or policy is in force that the log does not show.
  auto saved = core_->SaveConfig();
  Status out;
  if (!RunUnit([&] { out = ReloadInUnit(); })) {
    core_->RestoreConfig(saved);
    zap_->SetPeers(PeersOf(core_->registry()));
    spdlog::error("reload: it could not be recorded in the audit log; the previous registry and policy stay");
    return UnavailableError("the reload could not be recorded in the audit log; nothing was changed");
  }
  return out;
}

Status Gateway::ReloadInUnit() {
  bool registry_changed = false;
  Status s = core_->Reload(&registry_changed);
  if (registry_changed) {
    zap_->SetPeers(PeersOf(core_->registry()));
    // A removed participant is cut off: forget its connection; its messages
    // no longer verify ("not enrolled").
    for (auto it = peers_.begin(); it != peers_.end();) {
      it = core_->Enrolled(it->first) != nullptr ? std::next(it) : peers_.erase(it);
    }
  }
  return s;
}

// ------------------------------------------------------------ units of work

void Gateway::MaybeCrash(std::string_view point, bool wrote_records) {
  if (crash_point_.empty() || !wrote_records) return;
  // "power-cut-after-send": the machine loses power after the send, before
  // the log's sync: what the page cache held of the log is gone (torn).
  const bool power_cut = crash_point_ == "power-cut-after-send";
  if (point != crash_point_ && !(power_cut && point == "after-send")) return;
  if (--crash_countdown_ > 0) return;
  if (power_cut) (void)core_->CutUnsyncedAuditTailForFaultInjection();
  // Fault injection (tests): die here as kill -9 would, with nothing flushed.
  std::_Exit(kCrashExitCode);
}

bool Gateway::RunUnit(const std::function<void()>& work, const std::vector<IncomingMessage>* burst) {
  KP_CHECK(!core_->in_unit());
  if (!audit_ok_ && !TryRecoverAudit()) {
    if (burst != nullptr) {
      RefuseBurst(*burst, UnavailableError("the gateway cannot write its audit log (" + audit_error_ +
                                           "); nothing of this message was done; send it again later"));
    }
    return false;
  }
  if (Status s = core_->BeginUnit(); !s.ok()) {
    spdlog::error("cannot start a transaction on the case database: {}", s.message());
    if (burst != nullptr) {
      RefuseBurst(*burst,
                  UnavailableError("the gateway cannot write its case database; nothing of this message "
                                   "was done; send it again later"));
    }
    return false;
  }
  unit_senders_.clear();
  work();
  UnitResult r = core_->FinishUnit([this](std::string_view point, bool wrote) { MaybeCrash(point, wrote); });
  if (!r.committed) {
    // Tell each sender, with an answer that rests on nothing unsaved. Its
    // message had no effect: the same bytes are taken when they come again,
    // and its sender counts as connecting anew (what was queued for it in
    // this unit was rolled back too).
    for (const auto& who : unit_senders_) {
      replay_->Forget(who.participant_id, who.message_id);
      peers_.erase(who.participant_id);
      last_routes_.erase(who.participant_id);
      SendUnrecorded(who.routing_id, who.participant_id, who.message_id,
                     UnavailableError("the gateway could not save this (" + r.failure.message() +
                                      "); nothing of this message was done; send it again later"));
    }
    return false;
  }
  if (!r.logged) {
    // Committed and kept in the outbox: the records reach the log when it
    // works again (TryRecoverAudit, or the next start), and the answers
    // leave then. Until then every new message is refused.
    AuditFailed(r.failure);
    spdlog::error("the audit log cannot be written ({}); {} answer(s) wait until it can", r.failure.message(),
                  r.outbox.size());
    for (auto& o : r.outbox) waiting_for_log_.push_back(std::move(o));
    return true;
  }
  // The records are durable in the committed outbox and written to the log:
  // the answers leave now, and the log's fdatasync runs while they travel.
  SendNow(r.outbox);
  MaybeCrash("after-send", r.wrote_records);
  if (Status s = core_->SyncAudit(); !s.ok()) {
    // What was sent rests on the outbox, which keeps the records until the
    // log holds them durably: the reopen appends them again, byte for byte.
    // Until then every new message is refused.
    AuditFailed(s);
    spdlog::error(
        "the audit log cannot be synced ({}); its records are kept in the case database until it can",
        s.message());
    return true;
  }
  MaybeCrash("after-sync", r.wrote_records);
  // What may be made only once the unit's records are in the log.
  for (const auto& listing : r.listings) {
    std::vector<Outgoing> one{core_->AuditListing(listing)};
    SendNow(one);
  }
  return true;
}

void Gateway::AuditFailed(const Status& why) {
  audit_ok_ = false;
  audit_error_ = why.message();
  next_audit_retry_ms_ = 0;  // the first reopen is tried at once
  audit_backoff_ms_ = 0;
}

bool Gateway::TryRecoverAudit() {
  // Real time, not the gateway's clock: this paces retries of the disk.
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now().time_since_epoch())
                          .count();
  if (now < next_audit_retry_ms_) return false;
  // The retention sweep's erasure works on the log being reopened: done first.
  if (retention_ != nullptr && retention_->erasing()) {
    auto erased = retention_->TakeErasure(/*wait=*/true);
    if (erased.has_value() && !erased->ok()) {
      spdlog::warn("retention: erasing expired audit records failed: {}", erased->status().message());
    } else if (erased.has_value() && (*erased)->erased != 0) {
      unrecorded_erasure_ = **erased;  // its ERASURE record follows once the log is writable
    }
  }
  audit_backoff_ms_ = audit_backoff_ms_ == 0 ? 100 : std::min<int64_t>(audit_backoff_ms_ * 2, 5000);
  next_audit_retry_ms_ = now + audit_backoff_ms_;
  if (Status s = core_->ReopenAudit(); !s.ok()) {
    audit_error_ = s.message();
    spdlog::warn("the audit log is still not writable ({}); trying again in {} ms", s.message(),
                 audit_backoff_ms_);
    return false;
  }
  audit_ok_ = true;
  audit_error_.clear();
  audit_backoff_ms_ = 0;
  spdlog::info("the audit log is writable again; serving again and sending {} answer(s) that waited",
               waiting_for_log_.size());
  std::vector<Outgoing> out;
  out.swap(waiting_for_log_);
  SendNow(out);
  return true;
}

void Gateway::RefuseBurst(const std::vector<IncomingMessage>& burst, const Status& why) {
  for (const auto& in : burst) {
    if (in.malformed || core_->Enrolled(in.participant_id) == nullptr) continue;
    VerifyOptions options;
    options.expected_sender = in.participant_id;
    auto env = EnvelopeVerifier(core_->keys(), nullptr).Verify(in.payload, options);
    if (!env.ok() || env->header.kind() == v1::MESSAGE_KIND_HEARTBEAT) continue;
    SendUnrecorded(in.routing_id, in.participant_id, env->header.message_id(), why);
  }
  spdlog::warn("refused {} message(s): {}", burst.size(), why.message());
}

void Gateway::SendUnrecorded(const std::string& routing_id, const std::string& to,
                             const std::string& request_id, const Status& why) {
  auto err = core_->UnsavedError(to, routing_id, request_id, why);
  if (!err.ok()) return;
  std::vector<Outgoing> one{std::move(*err)};
  SendNow(one);
}

void Gateway::SendNow(std::vector<Outgoing>& out) {
  for (auto& o : out) {
    auto peer = peers_.find(o.to);
    std::string routing_id = o.connection;
    if (routing_id.empty() && peer != peers_.end()) routing_id = peer->second.routing_id;
    Status s = routing_id.empty() ? UnavailableError("not connected") : router_->Send(routing_id, o.bytes);
    if (s.ok()) {
      if (peer != peers_.end() && peer->second.routing_id == routing_id)
        peer->second.last_sent_ms = clock_.NowMillis();
      core_->NoteSent(o);
      continue;
    }
    // Not sent after all (the peer left): a held message stays in the inbox;
    // a forwarded request goes back in its agent's queue (with the next unit).
    if (peer != peers_.end() && peer->second.routing_id == routing_id &&
        s.code() == StatusCode::kUnavailable) {
      peers_.erase(peer);
    }
    spdlog::debug("send to {} failed: {}", o.to, s.message());
    core_->NoteUnsent(o);
  }
}

// --------------------------------------------------------------- receiving

Status Gateway::Step(int timeout_ms) {
  RunBetweenTasks();  // a backup's moment (backup.h), between two units
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
    RunUnit(
        [&] {
          for (const auto& one : burst) Handle(one);
        },
        &burst);
  }
  RunTimers();
  return OkStatus();
}

Status Gateway::Run() {
  // Type=notify: start-up (Create) is done. The watchdog is pinged from this
  // loop, so a loop that hangs is killed and restarted by systemd.
  SystemdNotifier systemd;
  systemd.Ready("serving; 0 participants connected");
  size_t connected = 0;
  while (!stop_) {
    KP_RETURN_IF_ERROR(Step(200));
    systemd.Tick();
    if (peers_.size() != connected) {  // `systemctl status` shows it (a count, no ids)
      connected = peers_.size();
      systemd.Status("serving; " + std::to_string(connected) + " participants connected");
    }
  }
  systemd.Stopping();
  RunBetweenTasks();  // a backup asked for while stopping gets its answer
  if (audit_ok_) RunRetention(clock_.NowMillis(), /*wait=*/true);  // an erasure under way is recorded
  // A last, empty unit leaves a clean state: acknowledged and sent copies
  // removed, the outbox emptied of what the log already holds.
  if (audit_ok_) RunUnit([] {});
  spdlog::info("gateway stopping: in-flight work is done and the audit log is durable");
  return OkStatus();
}

void Gateway::Handle(const IncomingMessage& in) {
  const RegistryEntry* peer = in.participant_id.empty() ? nullptr : core_->Enrolled(in.participant_id);
  if (peer == nullptr) {
    // ZAP admitted it, but it is not (or no longer) in the registry.
    spdlog::warn("dropped a message from an unidentified or removed peer (user-id '{}')", in.participant_id);
    return;
  }
  const std::string& sender = in.participant_id;
  auto refuse = [&](const Status& why, const std::string& message_id) {
    core_->Refuse({.to = sender, .connection = in.routing_id, .message_id = message_id, .why = why});
  };
  if (in.malformed) {
    // Its frames were never read: no message id can be known.
    return refuse(InvalidArgumentError("a message must be exactly one frame holding one envelope"), "");
  }
  VerifyOptions options;
  options.expected_sender = sender;
  // The signature first (§3.2 steps 1-6); freshness and replay last,
  // because a coordinator may send a request again, byte for byte, to learn
  // whether the gateway has it (docs/protocol.md §6.1): a request it knows
  // is answered with its state, never handled twice.
  auto env = EnvelopeVerifier(core_->keys(), nullptr).Verify(in.payload, options);
  if (!env.ok()) return refuse(env.status(), UnverifiedMessageId(in.payload));
  const std::string& message_id = env->header.message_id();
  if (Status s = Admissible(*peer, env->header, core_->identity().id()); !s.ok())
    return refuse(s, message_id);
  VerifiedMessage m{sender, peer, std::move(env).value(), in.payload, in.routing_id};
  const v1::MessageKind kind = m.env.header.kind();
  if (kind == v1::MESSAGE_KIND_FRAGMENT_REQUEST || kind == v1::MESSAGE_KIND_REFERRAL ||
      kind == v1::MESSAGE_KIND_FRAGMENT_PUSH) {
    // A request, a push or a referral sent again is answered with its state.
    const std::string what = kind == v1::MESSAGE_KIND_REFERRAL        ? "referral"
                             : kind == v1::MESSAGE_KIND_FRAGMENT_PUSH ? "push"
                                                                      : "request";
    OnPeerSeen(sender, in.routing_id);
    switch (kind == v1::MESSAGE_KIND_REFERRAL ? core_->AnswerReferralAgain(m)
                                              : core_->AnswerRequestAgain(m)) {
      case GatewayCore::Again::kAnswered:
        return;
      case GatewayCore::Again::kOthers:  // an id another participant's message has: never touch that one
        return refuse(InvalidArgumentError("a " + what + " with this id exists already; make a new " + what),
                      message_id);
      case GatewayCore::Again::kUnreadable:
        return refuse(
            UnavailableError("the case database cannot be read now; send the " + what + " again later"),
            message_id);
      case GatewayCore::Again::kNew:
        break;
    }
  }
  if (Status fresh = replay_->Check(sender, message_id, m.env.header.sent_at_ms()); !fresh.ok()) {
    return refuse(fresh, message_id);
  }
  OnPeerSeen(sender, in.routing_id);
  unit_senders_.push_back({in.routing_id, sender, message_id});
  core_->Handle(m);
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
  const RegistryEntry* e = core_->Enrolled(participant_id);
  std::string& last_route = last_routes_[participant_id];
  const bool new_connection = last_route != routing_id;
  last_route = routing_id;
  if (e != nullptr && e->card.kind == ParticipantKind::kAgent) core_->OnAgentSeen(*e, new_connection);
}

// ------------------------------------------------------------------ timers

void Gateway::RunRetention(int64_t now, bool wait) {
  // An erasure that finished gets its record (kept until a unit takes it).
  if (auto erased = retention_->TakeErasure(wait); erased.has_value()) {
    if (!erased->ok()) {
      if (erased->status().code() != StatusCode::kUnimplemented) {
        spdlog::warn("retention: erasing expired audit records failed: {}", erased->status().message());
      }
    } else if ((*erased)->erased != 0) {
      unrecorded_erasure_ = **erased;
    }
  }
  if (unrecorded_erasure_.has_value()) {
    const audit::EraseSummary summary = *unrecorded_erasure_;
    if (RunUnit([&] { core_->RecordErasure(summary); })) {
      unrecorded_erasure_.reset();
      spdlog::info("retention: {} expired audit record bodies erased (indexes {} to {}); proofs stay valid",
                   summary.erased, summary.first_index, summary.last_index);
    }
  }
  if (wait) return;
  const bool sweep = retention_->Due(now);
  if (sweep || more_to_prune_) {
    size_t pruned = 0;
    RunUnit([&] { pruned = core_->PruneClosedCases(now, kPruneCasesPerUnit); });
    more_to_prune_ = pruned == kPruneCasesPerUnit;
  }
  if (sweep) retention_->StartErasure(core_->audit_trail(), now);
}

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
          const RegistryEntry* e = core_->Enrolled(who);
          // Requests are re-sent when the agent comes back; anything for a
          // coordinator waits in its inbox (an answer to a request until it
          // is acknowledged, like any other).
          if (e != nullptr && e->card.kind == ParticipantKind::kCoordinator)
            core_->HoldForCoordinator(who, g.payload);
          break;
        }
      }
      if (due) core_->Expire(now);
    });
  }
  // The sweep when it is due; between sweeps, an erasure that finished is
  // recorded and closed cases left over are pruned.
  if (audit_ok_ && (due || retention_->erasing() || unrecorded_erasure_.has_value() || more_to_prune_)) {
    RunRetention(now, /*wait=*/false);
  }
  if (due) {  // the exchange counters of /metrics (gateway/status.cc), and the summary's
    const GatewayCore::Stats taken = core_->TakeStats();
    CountStats(taken);
    summary_stats_.permitted += taken.permitted;
    summary_stats_.refused += taken.refused;
    summary_stats_.refused_by_agents += taken.refused_by_agents;
    summary_stats_.delivered += taken.delivered;
    summary_stats_.expired += taken.expired;
  }
  if (now - last_summary_ms_ >= kSummaryEveryMs) {
    const GatewayCore::Stats stats = std::exchange(summary_stats_, {});
    if (last_summary_ms_ != 0 && stats.any()) {
      auto waiting = core_->store().CountRequests();
      spdlog::info(
          "last {} s: {} request(s) permitted, {} refused by policy, {} refused by agents, {} delivered, "
          "{} expired; {} waiting for an agent, {} peer(s) connected",
          (now - last_summary_ms_) / 1000, stats.permitted, stats.refused, stats.refused_by_agents,
          stats.delivered, stats.expired, waiting.ok() ? *waiting : -1, peers_.size());
    }
    last_summary_ms_ = now;
  }
  if (!due) return;
  if (monitor_ != nullptr) PublishStatus(now);
  std::vector<Outgoing> heartbeats;
  for (auto it = peers_.begin(); it != peers_.end();) {
    if (now - it->second.last_seen_ms > config_.peer_timeout_ms) {
      spdlog::info("participant {} is gone (silent for {} ms)", it->first, now - it->second.last_seen_ms);
      it = peers_.erase(it);
      continue;
    }
    if (now - it->second.last_sent_ms >= config_.heartbeat_interval_ms) {
      v1::Heartbeat hb;
      hb.set_sequence(++heartbeat_sequence_);
      auto msg = core_->Sign(v1::MESSAGE_KIND_HEARTBEAT, it->first, "", hb);
      if (msg.ok()) heartbeats.push_back(Outgoing{it->first, it->second.routing_id, std::move(*msg)});
    }
    ++it;
  }
  SendNow(heartbeats);
}

// ---- backup (H5; gateway/backup.h)

struct Gateway::BetweenTask {
  std::function<Status()> task;
  std::promise<Status> done;
};

Status Gateway::RunBetweenUnits(std::function<Status()> task) {
  auto t = std::make_shared<BetweenTask>();
  t->task = std::move(task);
  std::future<Status> done = t->done.get_future();
  {
    std::lock_guard<std::mutex> l(between_mu_);
    if (stop_) return UnavailableError("the gateway is stopping");
    between_.push_back(t);
  }
  if (done.wait_for(std::chrono::seconds(120)) != std::future_status::ready) {
    return DeadlineExceededError("the gateway's loop did not take the task within 120 s");
  }
  return done.get();
}

void Gateway::RunBetweenTasks() {
  std::deque<std::shared_ptr<BetweenTask>> tasks;
  {
    std::lock_guard<std::mutex> l(between_mu_);
    tasks.swap(between_);
  }
  for (auto& t : tasks) {
    if (!audit_ok_) {
      t->done.set_value(UnavailableError("the gateway cannot write its audit log now: " + audit_error_));
      continue;
    }
    t->done.set_value(t->task());
  }
}

Status Gateway::AddBackupRoutes(observe::ManagementServer& server) {
  backup_ = std::make_unique<BackupService>(
      config_.data_dir, core_->identity().id(), &core_->audit_trail(),
      [this](std::function<Status()> task) { return RunBetweenUnits(std::move(task)); },
      [this](ketenpoort::v1::AuditRecord record) {
        return RunUnit([&] { core_->RecordBackup(std::move(record)); })
                   ? OkStatus()
                   : UnavailableError("the backup could not be recorded in the audit log");
      });
  backup_->AddRoutes(server);
  return backup_->WriteTokenFile(server.address());
}

}  // namespace kp::gateway
