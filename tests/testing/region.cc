#include "tests/testing/region.h"

#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/base/encoding.h"
#include "core/base/file_util.h"
#include "core/crypto/sha256.h"
#include "core/identity/registry.h"
#include "policy/policy_loader.h"
#include "tests/testing/status_matchers.h"

namespace kp::testing {

namespace {
constexpr int64_t kSetupMs = 1795357974123;  // key creation time: fixed, in the past
}

std::string Region::PolicyPath() { return SourceDir() + "/policy/examples/veiligheidsteam-hvb.yaml"; }

Region::~Region() {
  for (auto& [p, a] : agents_) StopAgent(p);
  StopGateway();
}

Status Region::Make(const std::string& id, ParticipantKind kind, const std::string& partner) {
  KP_ASSIGN_OR_RETURN(Identity idn, Identity::Generate(id, kind, partner, kSetupMs));
  KP_RETURN_IF_ERROR(WriteIdentityFiles(keys_dir(), idn));
  if (kind != ParticipantKind::kEnrolment) {
    KP_RETURN_IF_ERROR(WriteFileDurable(CardFilePath(registry_dir(), id), idn.MakeCard().ToYaml(), 0644,
                                        WriteMode::kCreateExclusive));
  }
  identities_.emplace(id, std::move(idn));
  return OkStatus();
}

std::string Region::CoordinatorId(int index) {
  if (index == 0) return kCoordinator;
  char id[32];
  std::snprintf(id, sizeof id, "regisseur-%02d", index + 1);
  return id;
}

Result<std::unique_ptr<Region>> Region::Create(const std::string& dir, const Clock& clock, int coordinators) {
  if (coordinators < 1 || coordinators > 99) return InvalidArgumentError("a region has 1 to 99 coordinators");
  std::unique_ptr<Region> r(new Region(dir, clock));
  r->coordinators_ = coordinators;
  for (const auto& d : {r->keys_dir(), r->registry_dir(), dir + "/data"}) {
    std::filesystem::create_directories(d);
    ::chmod(d.c_str(), 0700);
  }
  KP_ASSIGN_OR_RETURN(auto policy, policy::LoadPolicyFile(PolicyPath(), [](std::string_view t) {
                        return HexEncode(Sha256String(t));
                      }));
  for (size_t i = 0; i < policy->partners().size(); ++i) {
    const std::string& p = policy->partners()[i].id;
    if (p == "veiligheidsteam") continue;  // the coordinator's own organisation
    r->partners_.push_back(p);
    for (const auto& c : policy->categories()) {
      if (c.owner == static_cast<int>(i)) {
        r->categories_[p].push_back(c.id);
        r->fields_[c.id] = c.fields;
      }
    }
  }
  KP_RETURN_IF_ERROR(r->Make("enrolment-hvb", ParticipantKind::kEnrolment, ""));
  KP_RETURN_IF_ERROR(r->Make("gateway", ParticipantKind::kGateway, ""));
  std::map<std::string, std::string> roles;
  for (int i = 0; i < coordinators; ++i) {
    KP_RETURN_IF_ERROR(r->Make(CoordinatorId(i), ParticipantKind::kCoordinator, "veiligheidsteam"));
    roles.emplace(CoordinatorId(i), "casusregisseur");
  }
  KP_RETURN_IF_ERROR(r->Make(kWijkteamCoordinator, ParticipantKind::kCoordinator, "gemeente"));
  roles.emplace(kWijkteamCoordinator, kWijkteamRole);
  KP_RETURN_IF_ERROR(r->Make(kNonCoordinator, ParticipantKind::kCoordinator, "gemeente"));
  roles.emplace(kNonCoordinator, kNonCoordinatorRole);
  KP_RETURN_IF_ERROR(r->Make(kVeiligThuisCoordinator, ParticipantKind::kCoordinator, "veilig-thuis"));
  roles.emplace(kVeiligThuisCoordinator, kVeiligThuisRole);
  KP_RETURN_IF_ERROR(r->Make(kPolitieAcuut, ParticipantKind::kCoordinator, "politie"));
  roles.emplace(kPolitieAcuut, kPolitieAcuutRole);
  KP_RETURN_IF_ERROR(r->Make(kCit, ParticipantKind::kCoordinator, "cit"));
  roles.emplace(kCit, kCitRole);
  KP_RETURN_IF_ERROR(r->Make(kPrivacyOfficer, ParticipantKind::kPrivacyOfficer, ""));
  for (const auto& p : r->partners_) KP_RETURN_IF_ERROR(r->Make(p + "-agent", ParticipantKind::kAgent, p));
  KP_RETURN_IF_ERROR(Registry::Sign(r->registry_dir(), r->identities_.at("enrolment-hvb").signing().secret_key,
                                    roles, "hart-van-brabant", kSetupMs));
  KP_RETURN_IF_ERROR(r->WriteData());
  // The region's pseudonym key, as the enrolment office makes it
  // (`ketenpoort pseudonym-key new`): one per test region.
  KP_ASSIGN_OR_RETURN(r->pseudonym_key_, cases::GeneratePseudonymKey(kPseudonymKeyId, kSetupMs));
  KP_RETURN_IF_ERROR(cases::WritePseudonymKeyFile(r->pseudonym_key_, r->pseudonym_key_path()));

  auto& g = r->gateway_config_;
  g.listen = "tcp://127.0.0.1:*";
  g.identity = IdentityFilePath(r->keys_dir(), "gateway");
  g.registry = r->registry_dir();
  g.enrolment_card = CardFilePath(r->keys_dir(), "enrolment-hvb");
  g.policy = PolicyPath();
  g.data_dir = dir + "/gateway-data";
  g.log_origin = "ketenpoort.test/audit";
  return r;
}

Status Region::WriteData() {
  for (const auto& [category, fields] : fields_) {
    const std::string folder = dir_ + "/data/" + category;
    std::filesystem::create_directories(folder);
    nlohmann::json record;
    for (const auto& f : fields) record[f] = f + ":" + kBsn;
    record["interne-notitie"] = kCanaryDropped;
    std::ofstream(folder + "/" + kBsn + ".json") << nlohmann::json::array({record}).dump();
  }
  return OkStatus();
}

Status Region::StartGateway() {
  // The gateway's own start-up (gateway/startup.h), as `ketenpoort-gateway run`.
  KP_ASSIGN_OR_RETURN(gateway_, gateway::Gateway::Create(gateway_config_, clock_));
  endpoint_ = gateway_->endpoint();
  gateway_config_.listen = endpoint_;  // a restart binds the same port
  gateway::Gateway* g = gateway_.get();
  gateway_thread_ = std::thread([g] { EXPECT_OK(g->Run()); });
  return OkStatus();
}

void Region::StopGateway() {
  if (!gateway_) return;
  gateway_->RequestStop();
  gateway_thread_.join();
  gateway_.reset();
}

agent::AgentConfig Region::AgentConfigFor(const std::string& partner) const {
  const std::string id = partner + "-agent";
  agent::AgentConfig c;
  c.identity = IdentityFilePath(keys_dir(), id);
  c.gateway_endpoint = endpoint_;
  c.gateway_card = CardFilePath(keys_dir(), "gateway");
  c.gateway_log_origin = gateway_config_.log_origin;
  c.enrolment_card = CardFilePath(keys_dir(), "enrolment-hvb");
  c.registry = registry_dir();
  c.policy = PolicyPath();
  c.data_dir = dir_ + "/" + id + "-data";
  c.heartbeat_interval_ms = 1000;
  c.peer_timeout_ms = 4000;
  c.reconnect_min_ms = 50;
  c.reconnect_max_ms = 400;
  for (const auto& category : categories_.at(partner)) {
    agent::ConnectorConfig files;
    files.kind = agent::ConnectorConfig::Kind::kJsonFiles;
    files.folder = dir_ + "/data/" + category;
    files.key = "bsn";
    c.sources.emplace(category, files);
  }
  return c;
}

Status Region::StartAgent(const std::string& partner) {
  agent::AgentConfig config = AgentConfigFor(partner);
  if (agent_config_hook_) agent_config_hook_(partner, config);
  KP_ASSIGN_OR_RETURN(auto a, agent::Agent::Create(config, clock_));
  RunningAgent& r = agents_[partner];
  r.agent = std::move(a);
  agent::Agent* agent = r.agent.get();
  r.thread = std::thread([agent] { EXPECT_OK(agent->Run()); });
  return OkStatus();
}

Status Region::StartAllAgents() {
  for (const auto& p : partners_) KP_RETURN_IF_ERROR(StartAgent(p));
  return OkStatus();
}

void Region::StopAgent(const std::string& partner) {
  auto it = agents_.find(partner);
  if (it == agents_.end() || !it->second.agent) return;
  it->second.agent->RequestStop();
  it->second.thread.join();
  it->second.agent.reset();
}

client::ClientConfig Region::ClientConfigFor(const std::string& participant) const {
  KP_CHECK(identities_.count(participant) != 0);
  client::ClientConfig c;
  c.gateway_endpoint = endpoint_;
  c.gateway_card = CardFilePath(keys_dir(), "gateway");
  c.identity = IdentityFilePath(keys_dir(), participant);
  c.enrolment_card = CardFilePath(keys_dir(), "enrolment-hvb");
  c.registry = registry_dir();
  // Coordinator 0 keeps the store folder it always had.
  c.store = participant == kCoordinator ? dir_ + "/coordinator-store" : dir_ + "/coordinator-store-" + participant;
  c.timeout_ms = 8000;
  c.pseudonym_key = pseudonym_key_path();
  return c;
}

client::ClientConfig Region::CoordinatorConfig(int index) const {
  KP_CHECK(index >= 0 && index < coordinators_);
  return ClientConfigFor(CoordinatorId(index));
}

Result<std::unique_ptr<client::Coordinator>> Region::ConnectAs(const std::string& participant) const {
  KP_ASSIGN_OR_RETURN(auto c, client::Coordinator::Open(ClientConfigFor(participant), clock_));
  KP_RETURN_IF_ERROR(c->Connect());
  return c;
}

Result<std::unique_ptr<client::Coordinator>> Region::Coordinator(int index) const {
  KP_CHECK(index >= 0 && index < coordinators_);
  return ConnectAs(CoordinatorId(index));
}

}  // namespace kp::testing
