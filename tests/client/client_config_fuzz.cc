// libFuzzer target: the coordinator's client configuration parser on
// arbitrary text. It must return a config or a Status, never crash.
#include <cstddef>
#include <cstdint>
#include <string>

#include "client/client_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto config = kp::client::ParseClientConfig(text, "/fuzz/client.yaml");
  if (config.ok() && (config->store.empty() || config->gateway_endpoint.empty())) __builtin_trap();
  return 0;
}
