#include "core/audit/record_text.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cctype>

namespace kp::audit {

std::string EventName(ketenpoort::v1::AuditEvent event) {
  std::string name = ketenpoort::v1::AuditEvent_Name(event);
  constexpr std::string_view kPrefix = "AUDIT_EVENT_";
  if (name.rfind(kPrefix, 0) == 0) name = name.substr(kPrefix.size());
  if (name.empty()) return "unknown-" + std::to_string(static_cast<int>(event));
  for (char& c : name) c = c == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

Result<ketenpoort::v1::AuditEvent> ParseEventName(std::string_view name) {
  std::string upper = "AUDIT_EVENT_";
  for (char c : name) upper.push_back(c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  ketenpoort::v1::AuditEvent e;
  if (!ketenpoort::v1::AuditEvent_Parse(upper, &e) || e == ketenpoort::v1::AUDIT_EVENT_UNSPECIFIED) {
    return InvalidArgumentError("unknown event '" + std::string(name) + "' (e.g. decision, delivered, refused)");
  }
  return e;
}

std::string VerdictName(ketenpoort::v1::AuditVerdict verdict) {
  switch (verdict) {
    case ketenpoort::v1::AUDIT_VERDICT_PERMIT:
      return "permit";
    case ketenpoort::v1::AUDIT_VERDICT_DENY:
      return "deny";
    default:
      return "";
  }
}

std::string DataClassName(ketenpoort::v1::DataClass data_class) {
  switch (data_class) {
    case ketenpoort::v1::DATA_CLASS_SPECIAL_ART9:
      return "art9";
    case ketenpoort::v1::DATA_CLASS_CRIMINAL_ART10:
      return "art10";
    default:
      return "";
  }
}

std::string RegimeName(ketenpoort::v1::DataRegime regime) {
  return regime == ketenpoort::v1::DATA_REGIME_POLICE_JUSTICE ? "wpg/wjsg" : "";
}

std::string CategoryText(const ketenpoort::v1::AuditCategory& category) {
  std::string flags = DataClassName(category.data_class());
  std::string regime = RegimeName(category.regime());
  if (!regime.empty()) flags += (flags.empty() ? "" : ",") + regime;
  return flags.empty() ? category.name() : category.name() + "[" + flags + "]";
}

std::string RecordJson(const ketenpoort::v1::AuditRecord& record) {
  std::string out;
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  opts.always_print_primitive_fields = false;
  auto status = google::protobuf::util::MessageToJsonString(record, &out, opts);
  if (!status.ok()) return "{\"index\":" + std::to_string(record.index()) + ",\"error\":\"not printable\"}";
  return out;
}

}  // namespace kp::audit
