#include "agent/agent.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "agent/status.h"
#include "case/config_update.h"
#include "core/audit/checkpoint.h"
#include "core/audit/key_handover.h"
#include "core/base/encoding.h"
#include "core/base/file_util.h"
#include "core/base/systemd_notify.h"
#include "core/crypto/sha256.h"
#include "policy/policy_loader.h"

namespace kp::agent {

namespace {
// Messages handled as one burst: one sync of the disclosure log.
constexpr int kMaxBurst = 64;
}  // namespace

std::optional<AgentParts> LoadAgentParts(const AgentConfig& config, std::vector<std::string>* problems,
                                         std::vector<std::string>* report) {
  const size_t problems_before = problems->size();
  AgentParts parts;
  auto identity = Identity::LoadFile(config.identity);
  if (!identity.ok()) {
    problems->push_back(identity.status().message());
  } else if (identity->kind() != ParticipantKind::kAgent) {
    problems->push_back(config.identity + " is not an agent identity (kind " +
                        std::string(ParticipantKindName(identity->kind())) +
                        "); make one with "
                        "'ketenpoort keygen --kind agent'");
  } else {
    report->push_back("identity " + identity->id() + " of partner " + identity->partner() + " (" +
                      config.identity + ", mode 0600)");
    // A key rotation's other key sets beside it (docs/formats.md §2.4).
    if (auto ring = identity->LoadKeyRing(config.identity); !ring.ok()) {
      problems->push_back(ring.status().message());
    } else if (*ring > 0) {
      report->push_back("key rotation: " + std::to_string(*ring) + " more key set(s) beside " +
                        config.identity + " open what is sealed to them");
    }
    parts.identity = std::make_unique<Identity>(std::move(identity).value());
  }

  auto gateway = PublicCard::LoadFile(config.gateway_card);
  if (!gateway.ok()) {
    problems->push_back(gateway.status().message());
  } else if (gateway->kind != ParticipantKind::kGateway) {
    problems->push_back(config.gateway_card + " is not a gateway card");
  } else {
    report->push_back("pinned gateway card " + gateway->id + " (fingerprint " + gateway->Fingerprint() + ")");
    parts.gateway = std::make_unique<PublicCard>(std::move(gateway).value());
  }

  // Its kind and its expiry are checked (docs/formats.md §2.4); `check`
  // warns ahead of the expiry.
  const int64_t now_ms = SystemClock::Get().NowMillis();
  auto enrolment = LoadPinnedEnrolmentCard(config.enrolment_card, now_ms);
  if (enrolment.ok()) {
    if (std::string w = PinnedEnrolmentCardWarning(*enrolment, config.enrolment_card, now_ms); !w.empty()) {
      report->push_back("warning: " + w);
    }
  }
  if (!enrolment.ok()) {
    problems->push_back(enrolment.status().message());
  } else if (config.registry.empty() && !std::filesystem::exists(cases::FetchedRegistryDir(config.data_dir) +
                                                                 "/" + kRegistryManifestName)) {
    // First start from the gateway alone (docs/agent.md; config_updates.cc).
    parts.waiting_for = "the registry";
    report->push_back(
        "registry: none yet (no 'registry:' set): fetched from the gateway at the first connection, "
        "checked against the enrolment card " +
        config.enrolment_card + " (fingerprint " + enrolment->Fingerprint() + "), kept in " +
        cases::FetchedRegistryDir(config.data_dir) + "; no request is answered until then");
  } else {
    auto registry =
        LoadAgentRegistry(config, enrolment->signing_key);  // configured or fetched (config_updates.cc)
    if (!registry.ok()) {
      problems->push_back("registry " + config.registry + ": " + registry.status().message());
    } else {
      report->push_back("registry signed by the enrolment key, serial " + std::to_string(registry->serial()) +
                        ", " + std::to_string(registry->entries().size()) + " participants");
      if (parts.identity) {
        auto self = registry->Find(parts.identity->id());
        if (!self.ok() && registry->expired().count(parts.identity->id())) {
          problems->push_back(
              self.status().message() +
              ". Make a new key set (ketenpoort keygen --rotate, then --activate) and hand its "
              "card to the enrolment officer");
        } else if (!self.ok()) {
          problems->push_back("this agent (" + parts.identity->id() +
                              ") is not in the signed registry; ask the enrolment officer to add its card");
        } else if (Status s = MatchesEntry(*parts.identity, **self); !s.ok()) {
          problems->push_back("the registry's card for " + parts.identity->id() +
                              " does not match this identity file: " + s.message());
        }
      }
      if (parts.gateway) {
        auto gw = registry->Find(parts.gateway->id);
        if (!gw.ok() || !ListsCard(**gw, *parts.gateway)) {
          problems->push_back("the pinned gateway card " + config.gateway_card +
                              " is not the one in the signed registry");
        }
      }
      parts.registry = std::make_unique<Registry>(std::move(registry).value());
    }
  }

  // The fetched signed bundle, else the `policy:` file (config_updates.cc);
  // neither: fetched from the gateway, like the registry.
  const bool fetch_policy =
      config.policy.empty() &&
      !std::filesystem::exists(cases::FetchedPolicyDir(config.data_dir) + "/" + cases::kPolicyManifestName);
  if (enrolment.ok() && (fetch_policy || !parts.waiting_for.empty())) {
    if (fetch_policy) {
      parts.waiting_for += std::string(parts.waiting_for.empty() ? "" : " and ") + "the policy bundle";
      report->push_back(
          "policy: none yet (no 'policy:' set): the region's signed policy bundle is fetched from the "
          "gateway at the first connection, checked against the enrolment card and the registry, "
          "kept in " +
          cases::FetchedPolicyDir(config.data_dir) + "; no request is answered until then");
    } else {
      report->push_back("policy " + config.policy + ": checked once the registry came from the gateway");
    }
    if (!config.sources.empty()) {
      report->push_back("the categories of the data sources are checked against the policy once it is there");
    }
  }
  auto policies =
      !parts.waiting_for.empty()
          ? Result<std::shared_ptr<const cases::PolicySet>>(std::shared_ptr<const cases::PolicySet>())
      : parts.registry && enrolment.ok()
          ? LoadAgentPolicies(config, enrolment->signing_key, *parts.registry)
          : Result<std::shared_ptr<const cases::PolicySet>>(
                FailedPreconditionError("needs the registry and the enrolment card first"));
  if (!policies.ok()) {
    problems->push_back("policy " + config.policy + ": " + policies.status().message());
  } else if (*policies != nullptr) {
    parts.policy = (*policies)->InForceAt(SystemClock::Get().NowMillis());
    report->push_back("policy " + (*policies)->InForceAt(SystemClock::Get().NowMillis())->id() +
                      ((*policies)->signed_bundle()
                           ? " (signed bundle serial " + std::to_string((*policies)->serial()) +
                                 " fetched from the gateway)"
                           : " (" + config.policy + ")") +
                      " lints clean");
    if ((*policies)->signed_bundle()) parts.policies = *policies;
  }

  for (const auto& [category, source] : config.sources) {
    if (parts.policy) {
      int idx = parts.policy->CategoryIndex(category);
      if (idx < 0) {
        problems->push_back("category " + category + " is not in the policy");
        continue;
      }
      const auto& cat = parts.policy->categories()[static_cast<size_t>(idx)];
      if (parts.identity && cat.owner >= 0 &&
          parts.policy->partners()[static_cast<size_t>(cat.owner)].id != parts.identity->partner()) {
        problems->push_back("category " + category + " belongs to partner " +
                            parts.policy->partners()[static_cast<size_t>(cat.owner)].id + ", not to " +
                            parts.identity->partner());
        continue;
      }
    }
    auto connector = MakeConnector(source, config.connector_module_dir);
    if (!connector.ok()) {
      problems->push_back("data source for " + category + ": " + connector.status().message());
      continue;
    }
    report->push_back("data source for " + category + ": " + (*connector)->Describe());
    parts.sources.emplace(category, std::move(connector).value());
  }
  // An agent may only receive (docs/agent.md "Receiving"): no data source,
  // but a sink for what the coordinator sends.
  if (config.sources.empty() && !config.sink.configured()) {
    problems->push_back(
        "no categories with a data source and no sink are configured: this agent would neither "
        "answer requests nor hand over what it receives");
  }
  if (problems->size() != problems_before) return std::nullopt;
  return parts;
}

Result<std::unique_ptr<Agent>> Agent::Create(const AgentConfig& config, const Clock& clock) {
  std::unique_ptr<Agent> agent(new Agent(config, clock));
  KP_RETURN_IF_ERROR(agent->Init());
  return agent;
}

Agent::~Agent() {
  if (erasing_.valid()) erasing_.wait();  // the retention sweep's erasure uses the log
  dealer_.reset();
  context_.reset();
  if (log_) (void)log_->Close();
}

Status Agent::Init() {
  std::vector<std::string> problems, report;
  auto parts = LoadAgentParts(config_, &problems, &report);
  if (!parts.has_value()) {
    std::string msg = "the agent cannot start:";
    for (const auto& p : problems) msg += "\n  " + p;
    return FailedPreconditionError(msg);
  }
  parts_ = std::move(*parts);
  if (::mkdir(config_.data_dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return UnavailableError("cannot create the data folder " + config_.data_dir + ": " +
                            std::strerror(errno));
  }
  KP_RETURN_IF_ERROR(CheckDirNotGroupOrWorldWritable(config_.data_dir));
  const Identity& me = *parts_.identity;
  const std::string origin =
      config_.log_origin.empty() ? "ketenpoort." + me.partner() + "/agent-audit" : config_.log_origin;
  KP_ASSIGN_OR_RETURN(audit::LogSigner signer, audit::LogSigner::Create(origin, me.signing().public_key,
                                                                        me.signing().secret_key.Clone()));
  // After keygen --activate the log is handed over from the previous key
  // (ID.previous.secret, in the key ring) to the new one: key_handover.h.
  audit::LogWriterOptions log_options;
  KP_ASSIGN_OR_RETURN(log_options.previous_signers, audit::PreviousLogSigners(origin, me.OtherSigningKeys()));
  KP_ASSIGN_OR_RETURN(log_, audit::LogWriter::Open(AuditDir(config_), std::move(signer), log_options));
  if (parts_.waiting_for.empty()) KP_RETURN_IF_ERROR(InitServing());

  context_ = std::make_unique<TransportContext>();
  DealerOptions dealer;
  dealer.endpoint = config_.gateway_endpoint;
  dealer.server_public_key = parts_.gateway->transport_key;
  KP_ASSIGN_OR_RETURN(dealer_, DealerClient::Create(context_->get(), me.transport().public_key,
                                                    me.transport().secret_key, dealer));
  connecting_since_ = SteadyClock::now();
  last_received_ = SteadyClock::now();
  if (!parts_.waiting_for.empty()) {
    spdlog::warn(
        "agent {} of {} started without a registry or policy: waiting for {} from the gateway at {}; no "
        "request is answered until then",
        me.id(), me.partner(), parts_.waiting_for, config_.gateway_endpoint);
    return OkStatus();
  }
  spdlog::info("agent {} of {} started: policy {}, connecting to {}", me.id(), me.partner(),
               parts_.policy->id(), config_.gateway_endpoint);
  return OkStatus();
}

Status Agent::InitServing() {
  const Identity& me = *parts_.identity;
  ResponderOptions options;
  options.replay_window_ms = config_.replay_window_ms;
  options.max_request_age_ms = config_.max_request_age_ms;
  options.audit_retention_ms = config_.audit_retention_ms;
  options.disabled_categories = config_.disabled_categories;
  options.always_require_consent = config_.always_require_consent;
  options.gateway_log_origin = config_.gateway_log_origin;
  options.data_dir = config_.data_dir;
  if (auto enrolment = PublicCard::LoadFile(config_.enrolment_card); enrolment.ok()) {
    options.enrolment_public_key =
        enrolment->signing_key;  // registry and policy from the gateway (config_updates.cc)
  }
  KP_ASSIGN_OR_RETURN(kept_, KeptAnswers::Open(config_.data_dir + "/answers.db"));
  options.kept_answers = kept_.get();
  KP_ASSIGN_OR_RETURN(watches_, WatchStore::Open(config_.data_dir + "/watches.db"));
  options.watches = watches_.get();
  options.watch_interval_ms = config_.watch_interval_ms;
  KP_ASSIGN_OR_RETURN(approvals_, Approvals::Open(config_.data_dir));
  options.approvals = approvals_.get();
  options.approval_time_ms = config_.approval_time_ms;
  options.approve_categories = config_.approve_categories;
  if (auto waiting = kept_->Count(); waiting.ok() && *waiting > 0) {
    spdlog::info("{} answer(s) from before the restart wait for the gateway's receipt; they are sent again",
                 *waiting);
  }
  ReceiverOptions receiving;
  receiving.data_dir = config_.data_dir;
  receiving.sink = config_.sink;
  receiving.audit_retention_ms = config_.audit_retention_ms;
  receiving.replay_window_ms = config_.replay_window_ms;
  KP_ASSIGN_OR_RETURN(receiver_,
                      Receiver::Create(me, *parts_.registry, parts_.policy, *log_, clock_, receiving));
  options.receiver = receiver_.get();
  registry_serial_at_start_ = parts_.registry->serial();  // for status (agent/status.cc)
  // The responder takes over the registry and the sources.
  responder_ = std::make_unique<Responder>(me, *parts_.gateway, std::move(*parts_.registry), parts_.policy,
                                           std::move(parts_.sources), *log_, clock_, options);
  if (parts_.policies) responder_->SetConfig(std::nullopt, parts_.policies);  // a fetched bundle's times
  return OkStatus();
}

void Agent::Send(const std::string& bytes) {
  Status s = dealer_->Send(bytes);
  if (!s.ok()) {
    spdlog::warn("could not send to the gateway: {}", s.message());
    return;
  }
  last_sent_ = SteadyClock::now();
}

void Agent::Reconnect(const std::string& why) {
  backoff_ms_ =
      backoff_ms_ == 0 ? config_.reconnect_min_ms : std::min(backoff_ms_ * 2, config_.reconnect_max_ms);
  spdlog::warn("{}; reconnecting in {} ms", why, backoff_ms_);
  next_retry_ = SteadyClock::now() + std::chrono::milliseconds(backoff_ms_);
}

bool Agent::TryOtherGatewayKey(const std::string& why) {
  std::vector<std::string> keys{parts_.gateway->transport_key};
  const Registry* registry = responder_ != nullptr ? &responder_->registry() : parts_.registry.get();
  if (registry != nullptr) {
    if (auto entry = registry->Find(parts_.gateway->id); entry.ok()) {
      for (const auto& c : (*entry)->cards) {
        if (c.kind == ParticipantKind::kGateway &&
            std::find(keys.begin(), keys.end(), c.transport_key) == keys.end()) {
          keys.push_back(c.transport_key);
        }
      }
    }
  }
  if (keys.size() < 2) return false;
  auto at = std::find(keys.begin(), keys.end(), dealer_->server_public_key());
  const size_t next = at == keys.end() ? 0 : (static_cast<size_t>(at - keys.begin()) + 1) % keys.size();
  spdlog::warn(
      "{}: trying the gateway's other card in the signed registry (a rotation of the gateway's keys; "
      "transport key {}...)",
      why, HexEncode(keys[next]).substr(0, 16));
  if (Status s = dealer_->ReconnectTo(keys[next]); !s.ok()) {
    spdlog::error("cannot connect to the gateway's other card: {}", s.message());
    return false;
  }
  last_state_ = ConnectionState::kConnecting;
  connecting_since_ = last_received_ = SteadyClock::now();
  return true;
}

Status Agent::Step(int timeout_ms) {
  const auto now = SteadyClock::now();
  // A pending reconnect (after a refusal or a stall), once its backoff passed.
  if (next_retry_ != SteadyClock::time_point{}) {
    if (now < next_retry_) {
      auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next_retry_ - now).count();
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min<int64_t>(wait, timeout_ms)));
      return OkStatus();
    }
    next_retry_ = {};
    KP_RETURN_IF_ERROR(dealer_->Reconnect());
    last_state_ = ConnectionState::kConnecting;
    connecting_since_ = last_received_ = SteadyClock::now();
    unreachable_logged_ = false;
  }

  auto got = dealer_->Receive(timeout_ms);
  const ConnectionState state = dealer_->state();
  if (state == ConnectionState::kConnected && last_state_ != ConnectionState::kConnected) {
    // Say hello at once: the gateway hands over what it held for us.
    backoff_ms_ = 0;
    unreachable_logged_ = false;
    last_received_ = SteadyClock::now();
    if (responder_ == nullptr) {
      SendWaitingFetch();  // the registry and the policy first (config_updates.cc)
    } else {
      if (auto hb = responder_->Heartbeat(); hb.ok()) Send(*hb);
      // And ask for a newer registry or policy bundle (docs/protocol.md §3.13).
      if (auto fetch = responder_->ConfigFetch(); fetch.ok()) Send(*fetch);
    }
  }
  if (reload_.exchange(false)) {
    if (responder_ == nullptr) {
      SendWaitingFetch();
    } else {
      ReloadConfig();
    }
  }
  if (state != ConnectionState::kConnected && last_state_ == ConnectionState::kConnected) {
    connecting_since_ = SteadyClock::now();
  }
  last_state_ = state;

  if (!got.ok()) {
    if (got.status().code() == StatusCode::kUnauthenticated) {
      Reconnect("refused by the gateway: this key is not enrolled (or the pinned gateway card is wrong)");
      return OkStatus();
    }
    spdlog::warn("receive from the gateway failed: {}", got.status().message());
    return OkStatus();
  }
  if (responder_ == nullptr) return StepWaiting(std::move(*got));  // config_updates.cc
  if (got->has_value()) {
    last_received_ = SteadyClock::now();
    // Everything else already waiting is handled with it, as one burst: the
    // disclosures are durable in our own log (one sync) before any leaves.
    std::vector<std::string> burst;
    burst.push_back(std::move(**got));
    for (int i = 0; i < kMaxBurst - 1; ++i) {
      auto more = dealer_->Receive(0);
      if (!more.ok() || !more->has_value()) break;
      burst.push_back(std::move(**more));
    }
    std::vector<std::string> replies;
    responder_->BeginBurst();
    for (const auto& message : burst) {
      Outcome out = responder_->Handle(message);
      if (!out.status.ok()) CountRefusal(out.status);  // /metrics (agent/status.cc)
      if (out.reply.has_value()) replies.push_back(std::move(*out.reply));
    }
    const auto sync_start = SteadyClock::now();
    Status ended = responder_->EndBurst();
    ObserveLogSync(SteadyClock::now() - sync_start);
    if (Status durable = std::move(ended); !durable.ok()) {
      // The log refuses every append after a failed write or sync (it cannot
      // know what reached the disk): stop, rather than refuse everything
      // from now on, so that the service manager starts the agent again,
      // which reopens (and repairs) the log once the disk allows it. The
      // gateway hands the unanswered requests over again.
      spdlog::error("the disclosure log could not be synced ({}); none of {} answer(s) was sent",
                    durable.message(), replies.size());
      return UnavailableError("the disclosure log cannot be written (" + durable.message() +
                              "); the agent stops so that it is started again once the disk allows it");
    } else {
      for (const auto& r : replies) Send(r);
    }
  }

  const auto after = SteadyClock::now();
  const auto since = [&](SteadyClock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(after - t).count();
  };
  if (!got->has_value()) {
    receiver_->RetrySink();            // idle: what the sink did not take is offered again (every sink.retry)
    (void)receiver_->Purge();          // and what it keeps goes when its retention ends (receiver.h)
    (void)responder_->SyncReceipts();  // idle: the last receipts reach the disk
    responder_->ForgetExpired();       // and ids too old to matter leave memory
  }
  SweepLog(/*wait=*/false);
  if (monitor_ != nullptr && since(last_publish_) >= 1000) {
    last_publish_ = after;
    PublishStatus();
  }
  if (state == ConnectionState::kConnected && since(last_resend_check_) >= kResendCheckMs) {
    // Answers the gateway has not confirmed go again (it deduplicates).
    last_resend_check_ = after;
    for (const auto& again : responder_->AnswersToSendAgain()) Send(again);
  }
  if (state == ConnectionState::kConnected) {
    for (const auto& signal : responder_->LookForChanges()) Send(signal);  // watches (watches.cc)
  }
  if (state == ConnectionState::kConnected && since(last_approvals_check_) >= kApprovalsCheckMs) {
    // What the professional decided (ketenpoort-agent approvals, another
    // process) and consents the partner recorded.
    last_approvals_check_ = after;
    for (const auto& m : responder_->ActOnApprovals()) Send(m);
    for (const auto& m : responder_->SourceConsentsToSend()) Send(m);
  }
  if (state == ConnectionState::kConnected) {
    if (since(last_sent_) >= config_.heartbeat_interval_ms) {
      if (auto hb = responder_->Heartbeat(); hb.ok()) Send(*hb);
    }
    if (since(last_received_) > config_.peer_timeout_ms) {
      Reconnect("the gateway has been silent for " + std::to_string(since(last_received_) / 1000) +
                " s: the connection has stalled");
    }
  } else if (!unreachable_logged_ && since(connecting_since_) > config_.peer_timeout_ms) {
    if (!TryOtherGatewayKey("no handshake with the gateway at " + config_.gateway_endpoint + " for " +
                            std::to_string(config_.peer_timeout_ms / 1000) + " s")) {
      spdlog::warn("gateway unreachable at {}; ZeroMQ keeps retrying", config_.gateway_endpoint);
      unreachable_logged_ = true;
    }
  }
  return OkStatus();
}

void Agent::SweepLog(bool wait) {
  if (erasing_.valid() && (wait || erasing_.wait_for(std::chrono::seconds(0)) == std::future_status::ready)) {
    Result<audit::EraseSummary> erased = erasing_.get();
    if (!erased.ok()) {
      spdlog::warn("retention: erasing expired records of the disclosure log failed: {}",
                   erased.status().message());
    } else if (erased->erased != 0) {
      spdlog::info(
          "retention: {} expired record bodies of the disclosure log erased (indexes {} to {}; erasure "
          "record {}); proofs stay valid",
          erased->erased, erased->first_index, erased->last_index, erased->erasure_record_index);
    }
  }
  const int64_t now = clock_.NowMillis();
  if (wait || erasing_.valid() || now < next_log_sweep_ms_) return;
  next_log_sweep_ms_ = now + kLogSweepMs;
  erasing_ = std::async(std::launch::async, [log = log_.get(), now] { return log->EraseExpired(now); });
}

Status Agent::Run() {
  // Type=notify: start-up (Create) is done. The watchdog is pinged from this
  // loop, so a loop that hangs is killed and restarted by systemd.
  SystemdNotifier systemd;
  systemd.Ready("running");
  while (!stop_) {
    KP_RETURN_IF_ERROR(Step(200));
    systemd.Tick();
  }
  systemd.Stopping();
  SweepLog(/*wait=*/true);
  if (responder_ == nullptr) {
    spdlog::info("agent stopping while still waiting for {} from the gateway", parts_.waiting_for);
    return OkStatus();
  }
  if (Status s = responder_->SyncReceipts(); !s.ok()) spdlog::warn("{}", s.message());
  spdlog::info("agent stopping: {} answered, {} refused; the disclosure log is durable",
               responder_->answered(), responder_->refused());
  return OkStatus();
}

}  // namespace kp::agent
