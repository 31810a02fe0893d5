// libFuzzer target: the three configuration readers (gateway, agent, client;
// core/config's key tables) on arbitrary text. Each must return a config or
// an InvalidArgument listing problems, never crash or throw; an accepted
// config has its required values.
#include <cstddef>
#include <cstdint>
#include <string>

#include "agent/agent_config.h"
#include "client/client_config.h"
#include "gateway/gateway_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto gateway = kp::gateway::ParseGatewayConfig(text, "/fuzz/gateway.yaml");
  if (gateway.ok() ? gateway->identity.empty() || gateway->data_dir.empty()
                   : gateway.status().code() != kp::StatusCode::kInvalidArgument) {
    __builtin_trap();
  }
  auto agent = kp::agent::ParseAgentConfig(text, "/fuzz/agent.yaml");
  if (agent.ok() ? agent->gateway_endpoint.empty() || agent->peer_timeout_ms <= agent->heartbeat_interval_ms
                 : agent.status().code() != kp::StatusCode::kInvalidArgument) {
    __builtin_trap();
  }
  auto client = kp::client::ParseClientConfig(text, "/fuzz/client.yaml");
  if (client.ok() ? client->store.empty() || client->gateway_card.empty()
                  : client.status().code() != kp::StatusCode::kInvalidArgument) {
    __builtin_trap();
  }
  return 0;
}
