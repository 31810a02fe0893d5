#include "client/client_config.h"

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <vector>

#include "core/base/duration.h"
#include "core/base/file_util.h"

namespace kp::client {
namespace {

constexpr size_t kMaxConfigBytes = 1 << 20;

std::string Where(const std::string& path, const YAML::Node& node) {
  return path + ":" + std::to_string(node.Mark().line + 1) + ": ";
}

}  // namespace

Result<ClientConfig> ParseClientConfig(const std::string& text, const std::string& path) {
  ClientConfig c;
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return InvalidArgumentError(path + ":" + std::to_string(e.mark.line + 1) + ": not valid YAML");
  }
  if (!root.IsMap()) return InvalidArgumentError(path + ": expected 'key: value' lines");
  const std::filesystem::path base = std::filesystem::path(path).parent_path();
  auto resolve = [&](const std::string& p) {
    if (p.empty() || std::filesystem::path(p).is_absolute()) return p;
    return (base / p).lexically_normal().string();
  };
  std::vector<std::string> problems;
  using Setter = std::function<void(const std::string&)>;
  std::map<std::string, Setter> top = {
      {"identity", [&](const std::string& v) { c.identity = resolve(v); }},
      {"enrolment_card", [&](const std::string& v) { c.enrolment_card = resolve(v); }},
      {"registry", [&](const std::string& v) { c.registry = resolve(v); }},
      {"store", [&](const std::string& v) { c.store = resolve(v); }},
      {"timeout",
       [&](const std::string& v) {
         auto ms = ParseDurationMs(v);
         if (ms.ok() && *ms > 0) c.timeout_ms = *ms;
         else problems.push_back(path + ": timeout: " + (ms.ok() ? "must be positive" : ms.status().message()));
       }},
  };
  std::map<std::string, Setter> gateway = {
      {"endpoint", [&](const std::string& v) { c.gateway_endpoint = v; }},
      {"card", [&](const std::string& v) { c.gateway_card = resolve(v); }},
  };
  auto apply = [&](std::map<std::string, Setter>& keys, const YAML::Node& key, const YAML::Node& value,
                   const std::string& prefix) {
    auto it = keys.find(key.Scalar());
    if (it == keys.end()) {
      problems.push_back(Where(path, key) + "unknown key '" + prefix + key.Scalar() + "'");
    } else if (!value.IsScalar()) {
      problems.push_back(Where(path, key) + prefix + key.Scalar() + " must be a single value");
    } else {
      it->second(value.Scalar());
    }
  };
  for (const auto& kv : root) {
    if (kv.first.Scalar() != "gateway") {
      apply(top, kv.first, kv.second, "");
    } else if (!kv.second.IsMap()) {
      problems.push_back(Where(path, kv.first) + "gateway must hold endpoint and card");
    } else {
      for (const auto& g : kv.second) apply(gateway, g.first, g.second, "gateway.");
    }
  }
  const std::pair<const char*, const std::string*> required[] = {
      {"gateway.endpoint", &c.gateway_endpoint}, {"gateway.card", &c.gateway_card},
      {"identity", &c.identity},                 {"enrolment_card", &c.enrolment_card},
      {"registry", &c.registry},                 {"store", &c.store},
  };
  for (const auto& [name, value] : required) {
    if (value->empty()) problems.push_back(path + ": " + name + " is missing");
  }
  if (!problems.empty()) {
    std::string all = "the client configuration has problems:";
    for (const auto& p : problems) all += "\n  " + p;
    return InvalidArgumentError(all);
  }
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
