// Region: a whole Ketenpoort region on this machine for end-to-end tests and
// the benchmarks — keys for the enrolment office, the gateway, one or more
// casusregisseurs, a privacy officer and the agent of every partner of the
// example policy; a
// signed registry; fictional JSON data for every category a partner owns;
// the real gateway and real agents on their own threads, on CURVE sockets on
// 127.0.0.1; and the coordinator's client configuration.
//
// Besides the casusregisseurs the registry enrols more coordinator
// participants, for tests of roles that come from the policy:
// kWijkteamCoordinator in the example policy's second coordinating role
// (casuscoordinator), kNonCoordinator in a role the policy does not let
// coordinate, and the participants of referrals and acute cases:
// kVeiligThuisCoordinator (vt-medewerker: coordinates, refers to the
// Veiligheidsteam, may open acute cases), kPolitieAcuut (politie-acuut) and
// kCit (cit-medewerker), both of which may open acute cases. None is used
// unless a test asks for it.
//
// Data: subject BSN kBsn has one record in every category, holding every
// field of the category plus an extra column ("interne-notitie") that no
// policy allows, valued kCanaryDropped. Field values are "<field>:<bsn>".
#ifndef KETENPOORT_TESTS_TESTING_REGION_H_
#define KETENPOORT_TESTS_TESTING_REGION_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "agent/agent.h"
#include "agent/agent_config.h"
#include "case/pseudonym.h"
#include "client/client_config.h"
#include "client/coordinator.h"
#include "core/base/clock.h"
#include "core/identity/identity.h"
#include "gateway/gateway.h"
#include "gateway/gateway_config.h"

namespace kp::testing {

class Region {
 public:
  static constexpr char kBsn[] = "999990019";
  static constexpr char kCanaryDropped[] = "CANARY-NOT-ALLOWED-FIELD";
  static constexpr char kCoordinator[] = "regisseur-01";  // coordinator 0
  static constexpr char kPrivacyOfficer[] = "fg-01";
  // The local wijkteam's casuscoördinator: partner gemeente, role
  // kWijkteamRole, which the example policy marks `coordinates: true`.
  static constexpr char kWijkteamCoordinator[] = "wijkteam-01";
  static constexpr char kWijkteamRole[] = "casuscoordinator";
  // A coordinator participant of the gemeente enrolled in kNonCoordinatorRole,
  // a role the policy gives no `coordinates`: it may not open cases.
  static constexpr char kNonCoordinator[] = "medewerker-gemeente-01";
  static constexpr char kNonCoordinatorRole[] = "wijkteam-medewerker";
  // Veilig Thuis' participant: refers families to the Veiligheidsteam,
  // coordinates (an acute case after its handover; monitoring), and may open
  // an acute case.
  static constexpr char kVeiligThuisCoordinator[] = "veilig-thuis-01";
  static constexpr char kVeiligThuisRole[] = "vt-medewerker";
  // Samen op in Acuut: the police on the scene and the Crisis Interventie
  // Team, each of which may open an acute case (and coordinates it until the
  // handover).
  static constexpr char kPolitieAcuut[] = "politie-acuut-01";
  static constexpr char kPolitieAcuutRole[] = "politie-acuut";
  static constexpr char kCit[] = "cit-01";
  static constexpr char kCitRole[] = "cit-medewerker";

  // Makes keys, registry and data under `dir` (which must exist, 0700), with
  // `coordinators` casusregisseurs ("regisseur-01", "regisseur-02", ...),
  // each with its own keys and its own local store. `clock` must outlive
  // the region.
  static Result<std::unique_ptr<Region>> Create(const std::string& dir, const Clock& clock, int coordinators = 1);
  ~Region();

  // The partners with an agent — every partner of the example policy but the
  // veiligheidsteam (eleven, among them cit and spoedplein-etz), in policy
  // order.
  const std::vector<std::string>& partners() const { return partners_; }
  // The categories `partner` owns (and its agent answers).
  const std::vector<std::string>& categories(const std::string& partner) const {
    return categories_.at(partner);
  }

  // The gateway binds 127.0.0.1 on a free port the first time, and the same
  // port after a restart.
  Status StartGateway();
  void StopGateway();
  gateway::Gateway* gateway() { return gateway_.get(); }
  const std::string& endpoint() const { return endpoint_; }

  Status StartAgent(const std::string& partner);
  // Changes an agent's configuration before it starts (e.g. a partner's own
  // disabled_categories), for every StartAgent after this call.
  void SetAgentConfigHook(std::function<void(const std::string& partner, agent::AgentConfig&)> hook) {
    agent_config_hook_ = std::move(hook);
  }
  void StopAgent(const std::string& partner);
  Status StartAllAgents();

  gateway::GatewayConfig& gateway_config() { return gateway_config_; }
  const gateway::GatewayConfig& gateway_config() const { return gateway_config_; }
  agent::AgentConfig AgentConfigFor(const std::string& partner) const;
  // Coordinator `index` (0 .. coordinators()-1): its participant id, its
  // client configuration (its own store folder), its client opened and
  // connected.
  int coordinators() const { return coordinators_; }
  static std::string CoordinatorId(int index);
  client::ClientConfig CoordinatorConfig(int index = 0) const;
  Result<std::unique_ptr<client::Coordinator>> Coordinator(int index = 0) const;
  // The client configuration (its own store folder) and a connected client
  // of any coordinator participant, e.g. kWijkteamCoordinator,
  // kVeiligThuisCoordinator, kPolitieAcuut or kCit.
  client::ClientConfig ClientConfigFor(const std::string& participant) const;
  Result<std::unique_ptr<client::Coordinator>> ConnectAs(const std::string& participant) const;

  const Identity& identity(const std::string& id) const { return identities_.at(id); }
  // The region's pseudonym key (id kPseudonymKeyId), made with the region;
  // every client configuration names its file (keys/region.pseudonym-key).
  static constexpr char kPseudonymKeyId[] = "hvb-test-1";
  const cases::PseudonymKey& pseudonym_key() const { return pseudonym_key_; }
  std::string pseudonym_key_path() const { return keys_dir() + "/region.pseudonym-key"; }
  std::string keys_dir() const { return dir_ + "/keys"; }
  std::string registry_dir() const { return dir_ + "/registry"; }
  static std::string PolicyPath();

 private:
  struct RunningAgent {
    std::unique_ptr<agent::Agent> agent;
    std::thread thread;
  };
  Region(std::string dir, const Clock& clock) : dir_(std::move(dir)), clock_(clock) {}
  Status Make(const std::string& id, ParticipantKind kind, const std::string& partner);
  Status WriteData();

  const std::string dir_;
  const Clock& clock_;
  int coordinators_ = 1;
  std::vector<std::string> partners_;
  std::map<std::string, std::vector<std::string>> categories_;
  std::map<std::string, std::vector<std::string>> fields_;  // category -> fields
  std::map<std::string, Identity> identities_;
  cases::PseudonymKey pseudonym_key_;
  gateway::GatewayConfig gateway_config_;
  std::unique_ptr<gateway::Gateway> gateway_;
  std::thread gateway_thread_;
  std::string endpoint_;
  std::map<std::string, RunningAgent> agents_;
  std::function<void(const std::string&, agent::AgentConfig&)> agent_config_hook_;
};

}  // namespace kp::testing

#endif  // KETENPOORT_TESTS_TESTING_REGION_H_
