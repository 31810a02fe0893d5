#include "gateway/gateway_config.h"

#include <filesystem>

#include "core/base/file_util.h"
#include "core/config/key_table.h"

namespace kp::gateway {

Result<GatewayConfig> ParseGatewayConfig(const std::string& text, const std::string& path) {
  using config::Need;
  GatewayConfig c;
  config::Diagnostics problems(path);
  config::Reader reader(&problems, std::filesystem::path(path).parent_path().string());
  config::KeyTable table("the gateway configuration");
  table.Text("listen", &c.listen, Need::kOptional, "the address agents and clients connect to")
      .Path("identity", &c.identity, Need::kRequired, "the gateway's secret identity file")
      .Path("registry", &c.registry, Need::kRequired, "the folder of cards and registry.signed")
      .Path("enrolment_card", &c.enrolment_card, Need::kRequired, "the region's enrolment card, pinned")
      .Path("policy", &c.policy, Need::kOptional, "the sharing policy file (or policy_bundle)")
      .Path("policy_bundle", &c.policy_bundle, Need::kOptional,
            "the folder of a signed policy bundle (policy.signed and its policy files), instead of policy")
      .Path("data_dir", &c.data_dir, Need::kRequired, "where cases.db and the audit log live")
      .Text("log_level", &c.log_level, Need::kOptional, "trace, debug, info, warn or error")
      .Text("log_origin", &c.log_origin, Need::kOptional, "names the audit log in its checkpoints")
      .Duration("request_expiry", &c.request_expiry_ms, Need::kOptional,
                "how long a request for an offline agent waits")
      .Duration("inbox_expiry", &c.inbox_expiry_ms, Need::kOptional,
                "how long a fragment for an offline coordinator waits")
      .Duration("audit_retention", &c.audit_retention_ms, Need::kOptional,
                "after this, erase-expired may erase a record's body")
      .Table("retention",
             config::KeyTable("retention")
                 .Duration("sweep_interval", &c.retention_sweep_interval_ms, Need::kOptional,
                           "how often the running gateway erases expired record bodies and prunes closed cases",
                           1000)
                 .Int("closed_case_days", &c.closed_case_days, 30, 3650, Need::kOptional,
                      "days a closed case stays in cases.db after its closure, at the least"),
             Need::kOptional, "the retention sweep (docs/operations.md, Retention)")
      .Duration("replay_window", &c.replay_window_ms, Need::kOptional, "the clock difference allowed")
      .Duration("heartbeat_interval", &c.heartbeat_interval_ms, Need::kOptional, "how often peers are pinged")
      .Duration("peer_timeout", &c.peer_timeout_ms, Need::kOptional,
                "a peer silent this long counts as offline")
      .Custom(
          "management", "address",
          [&c](const config::Node& value, const std::string& key, config::Reader& r) {
            auto v = r.Text(value, key);
            if (!v) return;
            auto address = observe::ParseManagementAddress(*v);
            if (!address.ok()) return r.Error(value, key + ": " + address.status().message());
            c.management = *address;
            c.management_explicit = true;
          },
          Need::kOptional, "GET /status and /metrics: HOST:PORT (default 127.0.0.1:9470) or off");
  if (auto root = config::ParseYaml(text, problems)) {
    if (auto fields = table.Read(*root, reader)) {
      config::CheckLonger(*fields, reader, {"peer_timeout", c.peer_timeout_ms},
                          {"heartbeat_interval", c.heartbeat_interval_ms}, /*strictly=*/true);
    }
  }
  if (c.policy.empty() && c.policy_bundle.empty()) {
    problems.Error("the gateway configuration lacks required key 'policy' (the sharing policy file), or "
                   "'policy_bundle' (the folder of a signed policy bundle) instead");
  } else if (!c.policy.empty() && !c.policy_bundle.empty()) {
    problems.Error("the gateway configuration has both 'policy' and 'policy_bundle'; keep one");
  }
  KP_RETURN_IF_ERROR(problems.TakeStatus("the gateway configuration"));
  return c;
}

Result<GatewayConfig> LoadGatewayConfig(const std::string& path) {
  KP_ASSIGN_OR_RETURN(std::string text, ReadFileBounded(path, 64 * 1024));
  return ParseGatewayConfig(text, path);
}

}  // namespace kp::gateway
