#include "client/client_config.h"

#include <cstdlib>
#include <filesystem>

#include "core/base/file_util.h"
#include "core/config/key_table.h"

namespace kp::client {
namespace {

constexpr size_t kMaxConfigBytes = 1 << 20;

}  // namespace

Result<ClientConfig> ParseClientConfig(const std::string& text, const std::string& path) {
  using config::KeyTable;
  using config::Need;
  ClientConfig c;
  config::Diagnostics problems(path);
  config::Reader reader(&problems, std::filesystem::path(path).parent_path().string());
  KeyTable table("the client configuration");
  table
      .Table("gateway",
             KeyTable("gateway")
                 .Text("endpoint", &c.gateway_endpoint, Need::kRequired,
                       "where the gateway listens, e.g. tcp://gateway.zvh.local:7400")
                 .Path("card", &c.gateway_card, Need::kRequired, "the gateway's public card, pinned"),
             Need::kRequired, "where the gateway is and its pinned card")
      .Path("identity", &c.identity, Need::kRequired, "my secret identity file (mode 0600)")
      .Path("enrolment_card", &c.enrolment_card, Need::kRequired, "the region's enrolment card, pinned")
      .Path("registry", &c.registry, Need::kRequired, "the folder with registry.signed and the cards")
      .Path("store", &c.store, Need::kRequired, "the folder of my local store (made 0700)")
      .Duration("timeout", &c.timeout_ms, Need::kOptional, "how long to wait for the gateway's answer")
      .Path("policy", &c.policy, Need::kOptional,
            "the region's policy file, as the gateway has it (needed by `ketenpoort console`)")
      .Path("pseudonym_key", &c.pseudonym_key, Need::kOptional,
            "the region's pseudonym key file (mode 0600; required for a coordinator)");
  if (auto root = config::ParseYaml(text, problems)) (void)table.Read(*root, reader);
  KP_RETURN_IF_ERROR(problems.TakeStatus("the client configuration"));
  return c;
}

Result<ClientConfig> LoadClientConfig(const std::string& flag) {
  std::string path = flag;
  if (path.empty()) {
    const char* env = std::getenv("KETENPOORT_CONFIG");
    if (env != nullptr) path = env;
  }
  if (path.empty()) {
    return InvalidArgumentError(
        "no client configuration: pass --config FILE or set KETENPOORT_CONFIG (see docs/cli.md)");
  }
  KP_ASSIGN_OR_RETURN(std::string text, ReadFileBounded(path, kMaxConfigBytes));
  return ParseClientConfig(text, path);
}

}  // namespace kp::client
