#include "gateway/gateway_config.h"

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <functional>
#include <map>

#include "core/base/duration.h"
#include "core/base/file_util.h"

namespace kp::gateway {

Result<GatewayConfig> ParseGatewayConfig(const std::string& text, const std::string& path) {
  GatewayConfig c;
  std::vector<std::string> problems;
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
  std::map<std::string, std::function<void(const std::string&)>> keys = {
      {"listen", [&](const std::string& v) { c.listen = v; }},
      {"identity", [&](const std::string& v) { c.identity = resolve(v); }},
      {"registry", [&](const std::string& v) { c.registry = resolve(v); }},
      {"enrolment_card", [&](const std::string& v) { c.enrolment_card = resolve(v); }},
      {"policy", [&](const std::string& v) { c.policy = resolve(v); }},
      {"data_dir", [&](const std::string& v) { c.data_dir = resolve(v); }},
      {"log_level", [&](const std::string& v) { c.log_level = v; }},
      {"log_origin", [&](const std::string& v) { c.log_origin = v; }},
  };
  std::map<std::string, int64_t*> durations = {
      {"request_expiry", &c.request_expiry_ms},     {"inbox_expiry", &c.inbox_expiry_ms},
      {"audit_retention", &c.audit_retention_ms},
      {"replay_window", &c.replay_window_ms},       {"heartbeat_interval", &c.heartbeat_interval_ms},
      {"peer_timeout", &c.peer_timeout_ms},
  };
  for (const auto& kv : root) {
    const std::string key = kv.first.Scalar();
    const std::string where = path + ":" + std::to_string(kv.first.Mark().line + 1) + ": ";
    if (!kv.second.IsScalar()) {
      problems.push_back(where + key + " must be a single value");
      continue;
    }
    const std::string value = kv.second.Scalar();
    if (auto k = keys.find(key); k != keys.end()) {
      k->second(value);
    } else if (auto d = durations.find(key); d != durations.end()) {
      auto ms = ParseDurationMs(value);
      if (ms.ok() && *ms > 0) {
        *d->second = *ms;
      } else {
        problems.push_back(where + key + ": " + (ms.ok() ? "must be positive" : ms.status().message()));
      }
    } else {
      problems.push_back(where + "unknown setting '" + key + "'");
    }
  }
  for (const auto& [name, value] : std::map<std::string, std::string>{{"identity", c.identity},
                                                                     {"registry", c.registry},
                                                                     {"enrolment_card", c.enrolment_card},
                                                                     {"policy", c.policy},
                                                                     {"data_dir", c.data_dir}}) {
    if (value.empty()) problems.push_back(path + ": '" + name + "' is required");
  }
  if (c.peer_timeout_ms <= c.heartbeat_interval_ms) {
    problems.push_back(path + ": peer_timeout must be longer than heartbeat_interval");
  }
  if (!problems.empty()) {
    std::string msg = "the gateway configuration has " + std::to_string(problems.size()) + " problem(s):";
    for (const auto& p : problems) msg += "\n  " + p;
    return InvalidArgumentError(msg);
  }
  return c;
}

Result<GatewayConfig> LoadGatewayConfig(const std::string& path) {
  KP_ASSIGN_OR_RETURN(std::string text, ReadFileBounded(path, 64 * 1024));
  return ParseGatewayConfig(text, path);
}

}  // namespace kp::gateway
