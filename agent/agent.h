// Agent: the partner agent, `ketenpoort-agent run` (DESIGN.md §2, docs/agent.md).
//
// It keeps one CURVE DEALER connection to the pinned gateway and hands every
// message to its Responder (responder.h: verify, re-check, read, minimise,
// sign, seal, record). The connection is looked after here:
//   * right after each successful handshake it says hello (a heartbeat), so
//     the gateway hands over requests it held while the agent was away;
//   * heartbeats when idle; a gateway silent for `peer_timeout` is treated as
//     a stalled connection and reconnected;
//   * a refusal at the handshake ("this key is not enrolled") is retried with
//     capped exponential backoff, since ZeroMQ does not retry it by itself;
//     an unreachable gateway is retried by ZeroMQ, and the log tells the two
//     apart.
// Logs carry ids and counts only, never subject data or content.
//
// Threading: one thread runs Step()/Run(); RequestStop() may be called from
// any thread or a signal handler.
#ifndef KETENPOORT_AGENT_AGENT_H_
#define KETENPOORT_AGENT_AGENT_H_

#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "agent/agent_config.h"
#include "agent/receiver.h"
#include "agent/responder.h"
#include "core/audit/log_writer.h"
#include "core/base/clock.h"
#include "core/identity/identity.h"
#include "core/transport/dealer_client.h"
#include "core/transport/transport_context.h"

namespace kp::observe {
class ServiceMonitor;
}  // namespace kp::observe

namespace kp::agent {

// Everything an agent loads at start, checked. Shared by Agent and `check`.
struct AgentParts {
  std::unique_ptr<Identity> identity;
  std::unique_ptr<PublicCard> gateway;
  std::unique_ptr<Registry> registry;
  std::shared_ptr<const policy::Policy> policy;  // in force now
  // A signed policy bundle fetched from the gateway (data_dir/config/policy),
  // or null with a plain `policy:` file (config_updates.cc).
  std::shared_ptr<const cases::PolicySet> policies;
  std::map<std::string, std::unique_ptr<Connector>> sources;
  // What this agent still has to fetch from the gateway before it can serve
  // ("the registry and the policy bundle", "the policy bundle"), when its
  // config sets neither `registry:` nor `policy:` and it kept none yet
  // (docs/agent.md, "First start from the gateway alone"). Empty: it has
  // both; `registry` and `policy` are then set.
  std::string waiting_for;
};

// The registry an agent starts with: the higher serial of its configured
// `registry:` folder and the copy it fetched from the gateway
// (data_dir/config/registry), never below the serial it accepted before
// (data_dir/config/serials). And its policies: the fetched signed bundle
// when there is one, else the `policy:` file. (agent/agent_config_load.cc)
Result<Registry> LoadAgentRegistry(const AgentConfig& config, const std::string& enrolment_public_key);
Result<std::shared_ptr<const cases::PolicySet>> LoadAgentPolicies(const AgentConfig& config,
                                                                  const std::string& enrolment_public_key,
                                                                  const Registry& registry);

// Loads identity, pinned cards, the signed registry, the policy and the data
// sources of `config`. Every problem found is appended to `problems` (in
// words partner IT can act on); `report` receives what was fine. Returns the
// parts only when there was no problem.
std::optional<AgentParts> LoadAgentParts(const AgentConfig& config, std::vector<std::string>* problems,
                                         std::vector<std::string>* report);

class Agent {
 public:
  // `clock` must outlive the agent.
  static Result<std::unique_ptr<Agent>> Create(const AgentConfig& config, const Clock& clock);
  ~Agent();

  // Handles what arrives within `timeout_ms`, then looks after the connection.
  Status Step(int timeout_ms);
  // Runs until RequestStop(); then makes the own log durable.
  Status Run();
  void RequestStop() { stop_ = true; }
  // SIGHUP: reads the registry and the policy again from disk (the
  // configured ones and the fetched copies) and switches without a restart.
  void RequestReload() { reload_ = true; }

  ConnectionState connection_state() const { return dealer_->state(); }
  // True until the registry and the policy bundle came from the gateway
  // (an agent started without them, AgentParts::waiting_for).
  bool waiting_for_config() const { return responder_ == nullptr; }
  const Responder& responder() const { return *responder_; }
  // Where the agent's own disclosure log lives (data_dir/audit).
  static std::string AuditDir(const AgentConfig& config) { return config.data_dir + "/audit"; }

  // The management address (core/observe/service_monitor.h): the loop
  // publishes GET /status to `monitor` once a second (agent/status.cc).
  // Borrowed; must outlive Run(). `version` goes in the report.
  void AttachMonitor(observe::ServiceMonitor* monitor, std::string version);

 private:
  using SteadyClock = std::chrono::steady_clock;
  Agent(const AgentConfig& config, const Clock& clock) : config_(config), clock_(clock) {}
  Status Init();
  // The parts that need the registry and the policy: the stores, the
  // receiver and the responder.
  Status InitServing();
  // While waiting for the registry and the policy (agent/config_updates.cc):
  // handles what arrived (a CONFIG_BUNDLE is taken, verified against the
  // pinned enrolment card; anything else is left unanswered, and the
  // gateway hands it over again once the agent serves), asks again every
  // kWaitingFetchMs, and publishes the status. An error when what the
  // gateway served is taken but the agent cannot work with it.
  Status StepWaiting(std::optional<std::string> message);
  Status TakeFirstConfig(const std::string& bytes);
  void SendWaitingFetch();
  static constexpr int64_t kWaitingFetchMs = 5'000;
  void Send(const std::string& bytes);
  void Reconnect(const std::string& why);
  // No handshake with the gateway: connects to the gateway's next transport
  // key, when the signed registry lists more than one card of the gateway (a
  // rotation of its keys: after keygen --activate it serves under the new
  // card). False when there is no other key.
  bool TryOtherGatewayKey(const std::string& why);
  // The retention sweep of the own log (docs/operations.md, "Retention"):
  // hourly, and once after the start, the bodies of expired records are
  // erased on a thread of its own while the agent keeps answering
  // (LogWriter::EraseExpired, which appends the ERASURE record).
  void SweepLog(bool wait);
  // agent/status.cc: the report and the gauges, and the request counters.
  void PublishStatus();

  observe::ServiceMonitor* monitor_ = nullptr;
  std::string version_;
  int64_t started_ms_ = 0;
  SteadyClock::time_point last_publish_{};
  uint64_t counted_answered_ = 0, counted_refused_ = 0;
  uint64_t registry_serial_at_start_ = 0;  // the responder takes the registry over

  const AgentConfig config_;
  const Clock& clock_;
  AgentParts parts_;
  std::unique_ptr<audit::LogWriter> log_;
  std::unique_ptr<KeptAnswers> kept_;     // before responder_: it borrows it
  std::unique_ptr<WatchStore> watches_;   // likewise (watches.h)
  std::unique_ptr<Receiver> receiver_;    // likewise (pushes, receiver.h)
  std::unique_ptr<Approvals> approvals_;  // likewise
  std::unique_ptr<Responder> responder_;
  std::unique_ptr<TransportContext> context_;
  std::unique_ptr<DealerClient> dealer_;
  ConnectionState last_state_ = ConnectionState::kConnecting;
  SteadyClock::time_point last_sent_{};
  SteadyClock::time_point last_received_{};
  SteadyClock::time_point connecting_since_{};
  SteadyClock::time_point next_retry_{};
  SteadyClock::time_point last_resend_check_{};
  static constexpr int64_t kResendCheckMs = 2'000;
  SteadyClock::time_point last_approvals_check_{};
  static constexpr int64_t kApprovalsCheckMs = 250;  // the approval queue (decisions, consents)
  int64_t backoff_ms_ = 0;
  bool unreachable_logged_ = false;
  std::atomic<bool> stop_{false};
  std::atomic<bool> reload_{false};
  void ReloadConfig();
  static constexpr int64_t kLogSweepMs = 3'600'000;
  int64_t next_log_sweep_ms_ = 0;
  // Last: destroyed (which waits for a running erasure) before the log.
  std::future<Result<audit::EraseSummary>> erasing_;
};

}  // namespace kp::agent

#endif  // KETENPOORT_AGENT_AGENT_H_
