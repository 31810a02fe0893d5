#include "agent/agent_config.h"

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <functional>

#include "core/base/duration.h"
#include "core/base/file_util.h"

namespace kp::agent {

namespace {

std::string Where(const std::string& path, const YAML::Node& node) {
  return path + ":" + std::to_string(node.Mark().line + 1) + ": ";
}

}  // namespace

Result<AgentConfig> ParseAgentConfig(const std::string& text, const std::string& path) {
  AgentConfig c;
  std::vector<std::string> problems;
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return InvalidArgumentError(path + ":" + std::to_string(e.mark.line + 1) + ": not valid YAML");
  }
  if (!root.IsMap()) return InvalidArgumentError(path + ": expected 'key: value' lines");
  const std::filesystem::path base_path = std::filesystem::path(path).parent_path();
  const std::string base = base_path.empty() ? "." : base_path.string();
  auto resolve = [&](const std::string& p) {
    if (p.empty() || std::filesystem::path(p).is_absolute()) return p;
    return (base_path / p).lexically_normal().string();
  };
  using Setter = std::function<void(const std::string&)>;
  std::map<std::string, Setter> scalars = {
      {"identity", [&](const std::string& v) { c.identity = resolve(v); }},
      {"enrolment_card", [&](const std::string& v) { c.enrolment_card = resolve(v); }},
      {"registry", [&](const std::string& v) { c.registry = resolve(v); }},
      {"policy", [&](const std::string& v) { c.policy = resolve(v); }},
      {"data_dir", [&](const std::string& v) { c.data_dir = resolve(v); }},
      {"log_level", [&](const std::string& v) { c.log_level = v; }},
      {"log_origin", [&](const std::string& v) { c.log_origin = v; }},
  };
  std::map<std::string, Setter> gateway_keys = {
      {"endpoint", [&](const std::string& v) { c.gateway_endpoint = v; }},
      {"card", [&](const std::string& v) { c.gateway_card = resolve(v); }},
      {"log_origin", [&](const std::string& v) { c.gateway_log_origin = v; }},
  };
  std::map<std::string, int64_t*> durations = {
      {"replay_window", &c.replay_window_ms},     {"heartbeat_interval", &c.heartbeat_interval_ms},
      {"peer_timeout", &c.peer_timeout_ms},       {"reconnect_min", &c.reconnect_min_ms},
      {"reconnect_max", &c.reconnect_max_ms},     {"max_request_age", &c.max_request_age_ms},
      {"audit_retention", &c.audit_retention_ms},
  };
  auto scalar = [&](const YAML::Node& key, const YAML::Node& value, std::string* out) {
    if (!value.IsScalar()) {
      problems.push_back(Where(path, key) + key.Scalar() + " must be a single value");
      return false;
    }
    *out = value.Scalar();
    return true;
  };

  for (const auto& kv : root) {
    const std::string key = kv.first.Scalar();
    const std::string where = Where(path, kv.first);
    std::string value;
    if (auto s = scalars.find(key); s != scalars.end()) {
      if (scalar(kv.first, kv.second, &value)) s->second(value);
    } else if (auto d = durations.find(key); d != durations.end()) {
      if (!scalar(kv.first, kv.second, &value)) continue;
      auto ms = ParseDurationMs(value);
      if (ms.ok() && *ms > 0) {
        *d->second = *ms;
      } else {
        problems.push_back(where + key + ": " + (ms.ok() ? "must be positive" : ms.status().message()));
      }
    } else if (key == "gateway") {
      if (!kv.second.IsMap()) {
        problems.push_back(where + "gateway must hold endpoint, card (and optionally log_origin)");
        continue;
      }
      for (const auto& g : kv.second) {
        auto k = gateway_keys.find(g.first.Scalar());
        if (k == gateway_keys.end()) {
          problems.push_back(Where(path, g.first) + "unknown setting 'gateway." + g.first.Scalar() + "'");
        } else if (scalar(g.first, g.second, &value)) {
          k->second(value);
        }
      }
    } else if (key == "restrictions") {
      if (!kv.second.IsMap()) {
        problems.push_back(where +
                           "restrictions must hold disabled_categories and/or always_require_consent");
        continue;
      }
      for (const auto& r : kv.second) {
        const std::string rk = r.first.Scalar();
        if (rk == "disabled_categories" && r.second.IsSequence()) {
          for (const auto& cat : r.second) c.disabled_categories.insert(cat.Scalar());
        } else if (rk == "always_require_consent" && r.second.IsScalar() &&
                   (r.second.Scalar() == "true" || r.second.Scalar() == "false")) {
          c.always_require_consent = r.second.Scalar() == "true";
        } else {
          problems.push_back(Where(path, r.first) + "restrictions." + rk +
                             ": expected disabled_categories: [ids] or always_require_consent: true|false");
        }
      }
    } else if (key == "categories") {
      if (!kv.second.IsMap() || kv.second.size() == 0) {
        problems.push_back(where + "categories must map each category id to its source");
        continue;
      }
      for (const auto& cat : kv.second) {
        const std::string id = cat.first.Scalar();
        const std::string cwhere =
            path + ":" + std::to_string(cat.first.Mark().line + 1) + ": categories." + id;
        if (!cat.second.IsMap() || !cat.second["source"]) {
          problems.push_back(cwhere + ": needs a 'source:' (kind sqlite, json-files or command)");
          continue;
        }
        auto source = ParseConnectorConfig(cat.second["source"], base, cwhere + ".source", &problems);
        if (source.has_value()) c.sources.emplace(id, std::move(*source));
      }
    } else if (key == "test_subject") {
      if (!kv.second.IsMap()) {
        problems.push_back(where + "test_subject must hold ref, role, bsn, name, date_of_birth");
        continue;
      }
      SubjectQuery subject;
      std::map<std::string, std::string*> fields = {{"ref", &subject.ref},
                                                    {"role", &subject.role},
                                                    {"bsn", &subject.bsn},
                                                    {"name", &subject.name},
                                                    {"date_of_birth", &subject.date_of_birth}};
      for (const auto& f : kv.second) {
        auto it = fields.find(f.first.Scalar());
        if (it == fields.end()) {
          problems.push_back(Where(path, f.first) + "unknown field 'test_subject." + f.first.Scalar() + "'");
        } else if (scalar(f.first, f.second, &value)) {
          *it->second = value;
        }
      }
      c.test_subject = subject;
    } else {
      problems.push_back(where + "unknown setting '" + key + "'");
    }
  }
  for (const auto& [name, value] :
       std::map<std::string, std::string>{{"identity", c.identity},
                                          {"gateway.endpoint", c.gateway_endpoint},
                                          {"gateway.card", c.gateway_card},
                                          {"enrolment_card", c.enrolment_card},
                                          {"registry", c.registry},
                                          {"policy", c.policy},
                                          {"data_dir", c.data_dir}}) {
    if (value.empty()) problems.push_back(path + ": '" + name + "' is required");
  }
  if (c.peer_timeout_ms <= c.heartbeat_interval_ms) {
    problems.push_back(path + ": peer_timeout must be longer than heartbeat_interval");
  }
  if (c.reconnect_max_ms < c.reconnect_min_ms) {
    problems.push_back(path + ": reconnect_max must be at least reconnect_min");
  }
  if (!problems.empty()) {
    std::string msg = "the agent configuration has " + std::to_string(problems.size()) + " problem(s):";
    for (const auto& p : problems) msg += "\n  " + p;
    return InvalidArgumentError(msg);
  }
  return c;
}

Result<AgentConfig> LoadAgentConfig(const std::string& path) {
  KP_ASSIGN_OR_RETURN(std::string text, ReadFileBounded(path, 256 * 1024));
  return ParseAgentConfig(text, path);
}

}  // namespace kp::agent
