#include "core/observe/status_report.h"

#include <nlohmann/json.hpp>

#include <ctime>
#include <filesystem>
#include <sstream>

namespace kp::observe {
namespace {

using nlohmann::json;

json ConfigToJson(const ConfigInForce& c) {
  return json{{"kind", c.kind},
              {"id", c.id},
              {"serial", c.serial},
              {"sha256", c.sha256_hex},
              {"effective_from_ms", c.effective_from_ms},
              {"loaded_ms", c.loaded_ms}};
}

std::string Utc(int64_t ms) {
  if (ms <= 0) return "-";
  const std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%SZ", &tm);
  return buf;
}

std::string Ago(int64_t then_ms, int64_t now_ms) {
  if (then_ms <= 0) return "";
  const int64_t s = (now_ms - then_ms) / 1000;
  if (s < 0) return " (in " + std::to_string(-s) + " s)";
  return " (" + std::to_string(s) + " s ago)";
}

std::string SamePath(const std::string& p) {
  std::error_code ec;
  auto canonical = std::filesystem::weakly_canonical(p, ec);
  return ec ? p : canonical.string();
}

}  // namespace

std::string StatusToJson(const StatusReport& r) {
  json j;
  j["service"] = r.service;
  j["participant_id"] = r.participant_id;
  j["data_dir"] = r.data_dir;
  j["version"] = r.version;
  j["pid"] = r.pid;
  j["started_ms"] = r.started_ms;
  j["now_ms"] = r.now_ms;
  j["connected"] = json::array();
  for (const auto& p : r.connected) j["connected"].push_back({{"id", p.id}, {"kind", p.kind}, {"last_seen_ms", p.last_seen_ms}});
  j["queues"] = json::array();
  for (const auto& q : r.queues) j["queues"].push_back({{"name", q.name}, {"value", q.value}});
  j["held"] = json::array();
  for (const auto& h : r.held) j["held"].push_back({{"name", h.name}, {"value", h.value}});
  if (r.last_receipt.has_value()) {
    j["last_receipt"] = {{"what", r.last_receipt->what},
                         {"id", r.last_receipt->id},
                         {"from", r.last_receipt->from},
                         {"at_ms", r.last_receipt->at_ms}};
  } else {
    j["last_receipt"] = nullptr;
  }
  j["audit_log"] = {{"records", r.audit_log.records}, {"bytes", r.audit_log.bytes}, {"writable", r.audit_log.writable}};
  j["in_force"] = json::array();
  for (const auto& c : r.in_force) j["in_force"].push_back(ConfigToJson(c));
  j["warnings"] = r.warnings;
  return j.dump(2) + "\n";
}

Result<StatusReport> StatusFromJson(std::string_view text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return InvalidArgumentError("the status answer is not a JSON object");
  StatusReport r;
  try {
    r.service = j.at("service").get<std::string>();
    r.participant_id = j.at("participant_id").get<std::string>();
    r.data_dir = j.at("data_dir").get<std::string>();
    r.version = j.value("version", std::string());
    r.pid = j.value("pid", int64_t{0});
    r.started_ms = j.value("started_ms", int64_t{0});
    r.now_ms = j.value("now_ms", int64_t{0});
    for (const auto& p : j.at("connected")) {
      r.connected.push_back({p.at("id").get<std::string>(), p.at("kind").get<std::string>(),
                             p.at("last_seen_ms").get<int64_t>()});
    }
    for (const auto& q : j.at("queues")) r.queues.push_back({q.at("name").get<std::string>(), q.at("value").get<int64_t>()});
    for (const auto& h : j.at("held")) r.held.push_back({h.at("name").get<std::string>(), h.at("value").get<int64_t>()});
    const json& lr = j.at("last_receipt");
    if (!lr.is_null()) {
      r.last_receipt = StatusReport::Receipt{lr.at("what").get<std::string>(), lr.at("id").get<std::string>(),
                                             lr.at("from").get<std::string>(), lr.at("at_ms").get<int64_t>()};
    }
    const json& log = j.at("audit_log");
    r.audit_log = {log.at("records").get<uint64_t>(), log.at("bytes").get<uint64_t>(), log.at("writable").get<bool>()};
    for (const auto& c : j.at("in_force")) {
      ConfigInForce cf;
      cf.kind = c.at("kind").get<std::string>();
      cf.id = c.at("id").get<std::string>();
      cf.serial = c.at("serial").get<uint64_t>();
      cf.sha256_hex = c.at("sha256").get<std::string>();
      cf.effective_from_ms = c.at("effective_from_ms").get<int64_t>();
      cf.loaded_ms = c.at("loaded_ms").get<int64_t>();
      r.in_force.push_back(std::move(cf));
    }
    r.warnings = j.at("warnings").get<std::vector<std::string>>();
  } catch (const json::exception& e) {
    return InvalidArgumentError(std::string("the status answer is not a status report: ") + e.what());
  }
  return r;
}

std::string StatusToText(const StatusReport& r) {
  std::ostringstream o;
  o << r.service << " " << r.participant_id << " is running (pid " << r.pid << ", version " << r.version
    << ", since " << Utc(r.started_ms) << ")\n";
  o << "data_dir:       " << r.data_dir << "\n";
  o << "connected:      " << r.connected.size() << "\n";
  for (const auto& p : r.connected) {
    o << "  " << p.id << " (" << p.kind << "), last seen " << Utc(p.last_seen_ms) << Ago(p.last_seen_ms, r.now_ms)
      << "\n";
  }
  o << "queues:\n";
  if (r.queues.empty()) o << "  (none)\n";
  for (const auto& q : r.queues) o << "  " << q.name << ": " << q.value << "\n";
  int64_t held = 0;
  for (const auto& h : r.held) held += h.value;
  o << "held messages:  " << held << "\n";
  for (const auto& h : r.held) o << "  for " << h.name << ": " << h.value << "\n";
  o << "last receipt:   ";
  if (r.last_receipt.has_value()) {
    o << r.last_receipt->what << " " << r.last_receipt->id << " from " << r.last_receipt->from << " at "
      << Utc(r.last_receipt->at_ms) << Ago(r.last_receipt->at_ms, r.now_ms) << "\n";
  } else {
    o << "none since the start\n";
  }
  o << "audit log:      " << r.audit_log.records << " records, " << r.audit_log.bytes << " bytes"
    << (r.audit_log.writable ? "" : ", NOT WRITABLE") << "\n";
  o << "in force:\n";
  if (r.in_force.empty()) o << "  (nothing reported)\n";
  for (const auto& c : r.in_force) {
    o << "  " << c.kind << (c.id.empty() ? "" : " " + c.id) << ": serial " << c.serial << ", sha256 "
      << (c.sha256_hex.empty() ? "-" : c.sha256_hex) << ", effective from "
      << (c.effective_from_ms > 0 ? Utc(c.effective_from_ms) : std::string("its loading")) << ", loaded "
      << Utc(c.loaded_ms) << "\n";
  }
  for (const auto& w : r.warnings) o << "WARNING: " << w << "\n";
  return o.str();
}

int RunStatusCommand(const ManagementAddress& address, std::string_view service, const std::string& expected_data_dir,
                     bool json_out, std::ostream& out, std::ostream& err) {
  auto reply = ManagementCall(address, "GET", "/status", "", {}, service);
  if (!reply.ok()) {
    err << service << " is not running: " << reply.status().message() << "\n";
    return kStatusNotRunning;
  }
  if (reply->status != 200) {
    err << "the process on " << address.ToString() << " answered " << reply->status << " to GET /status: "
        << reply->body.substr(0, 200) << "\n";
    return kStatusNotRunning;
  }
  auto report = StatusFromJson(reply->body);
  if (!report.ok()) {
    err << "the process on " << address.ToString() << " is not a Ketenpoort " << service << ": "
        << report.status().message() << "\n";
    return kStatusNotRunning;
  }
  if (report->service != service || SamePath(report->data_dir) != SamePath(expected_data_dir)) {
    err << "the process on " << address.ToString() << " is another " << report->service << " (data_dir "
        << report->data_dir << "), not the one of this configuration (data_dir " << expected_data_dir
        << "): this one is not running, or its `management:` address differs\n";
    return kStatusNotRunning;
  }
  out << (json_out ? reply->body : StatusToText(*report));
  return report->warnings.empty() && report->audit_log.writable ? kStatusRunning : kStatusTrouble;
}

}  // namespace kp::observe
