#include "core/audit/record_text.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cctype>

#include "core/base/clock.h"

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

namespace {

namespace v1 = ketenpoort::v1;

// "2026-11-22 03:14 UTC" (minutes are what a reader of a case's story needs;
// the exact millisecond stays in the record and in `audit show`).
std::string When(int64_t ms) {
  std::string t = FormatRfc3339Millis(ms);  // 2026-11-22T03:14:05.123Z
  if (t.size() < 16) return t;
  return t.substr(0, 10) + " " + t.substr(11, 5) + " UTC";
}

std::string Joined(const google::protobuf::RepeatedPtrField<std::string>& codes) {
  std::string out;
  for (const auto& c : codes) out += (out.empty() ? "" : ", ") + c;
  return out;
}

std::string ReferralText(const v1::AuditRecord& r) {
  const v1::AuditReferral& f = r.referral();
  std::string out = "referral";
  if (!f.reference().empty()) out += " " + f.reference();
  if (!f.referrer().empty()) out += " from " + f.referrer();
  if (!r.recipient_partner().empty() && r.event() == v1::AUDIT_EVENT_REFERRAL_RECEIVED) {
    out += " to " + r.recipient_partner();
  }
  if (!f.reason_codes().empty()) out += "; reasons: " + Joined(f.reason_codes());
  if (f.subjects() > 0) out += "; " + std::to_string(f.subjects()) + " subject(s)";
  switch (r.event()) {
    case v1::AUDIT_EVENT_REFERRAL_ACCEPTED:
      out += "; accepted by " + r.actor().participant_id();
      if (!r.case_id().empty()) out += ", case " + r.case_id() + " opened on it";
      break;
    case v1::AUDIT_EVENT_REFERRAL_DECLINED:
      out += "; declined by " + r.actor().participant_id();
      if (!f.decline_reason().empty()) out += ", reason: " + f.decline_reason();
      break;
    case v1::AUDIT_EVENT_REFERRAL_EXPIRED:
      out += "; lapsed, no coordinator decided";
      break;
    default:
      break;
  }
  return out;
}

std::string HandoverText(const v1::AuditRecord& r) {
  const v1::AuditHandover& h = r.handover();
  std::string who = "from " + (h.from().empty() ? std::string("?") : h.from()) + " to " +
                    (h.to().empty() ? std::string("?") : h.to());
  std::string kind = h.stand_in_until_unix_millis() != 0 ? "stand-in" : "handover";
  std::string why = h.reason_code().empty() ? "" : "; reason: " + h.reason_code();
  std::string until =
      h.stand_in_until_unix_millis() != 0 ? "; stand-in until " + When(h.stand_in_until_unix_millis()) : "";
  switch (r.event()) {
    case v1::AUDIT_EVENT_HANDOVER_OFFERED:
      return kind + " offered " + who + why + until +
             (h.expires_unix_millis() != 0 ? "; offer lapses " + When(h.expires_unix_millis()) : "");
    case v1::AUDIT_EVENT_HANDOVER_ACCEPTED:
      return kind + " " + who + why + until +
             (h.offered_unix_millis() != 0 ? "; offered " + When(h.offered_unix_millis()) : "") + "; " +
             (h.to().empty() ? std::string("the new coordinator") : h.to()) + " coordinates from now";
    case v1::AUDIT_EVENT_HANDOVER_CANCELLED:
      return kind + " offer " + who + " cancelled" + (r.reason().empty() ? "" : "; reason: " + r.reason()) +
             "; the case stays with " + (h.from().empty() ? std::string("its coordinator") : h.from());
    case v1::AUDIT_EVENT_HANDOVER_LAPSED:
      return kind + " offer " + who + " lapsed unaccepted" +
             (h.expires_unix_millis() != 0 ? " at " + When(h.expires_unix_millis()) : "") + "; the case stays with " +
             (h.from().empty() ? std::string("its coordinator") : h.from());
    case v1::AUDIT_EVENT_STAND_IN_ENDED:  // from: the stand-in; to: whom it stood in for
      return "stand-in of " + (h.from().empty() ? std::string("?") : h.from()) + " for " +
             (h.to().empty() ? std::string("?") : h.to()) + " ended" +
             (h.stand_in_until_unix_millis() != 0 ? " at " + When(h.stand_in_until_unix_millis()) : "") +
             "; the case is back with " + (h.to().empty() ? std::string("its coordinator") : h.to());
    case v1::AUDIT_EVENT_HANDOVER_DATA: {
      std::string out = "sealed handover data " + who;
      if (r.payload().ciphertext_bytes() > 0) out += "; " + std::to_string(r.payload().ciphertext_bytes()) + " bytes";
      return out;
    }
    case v1::AUDIT_EVENT_HANDOVER_DATA_WITHHELD: {
      // The answer of one request stayed behind: the policy does not give it
      // to the next coordinator. Ids and codes only.
      std::string out = "handover data withheld " + who;
      if (!r.source_partner().empty()) out += "; answer of " + r.source_partner();
      std::string cats;
      for (const auto& c : r.categories()) cats += (cats.empty() ? "" : ", ") + c.name();
      if (!cats.empty()) out += " (" + cats + ")";
      if (!r.recipient_partner().empty()) out += "; not for " + r.recipient_partner();
      if (!r.reason().empty()) out += "; reason: " + r.reason();
      return out;
    }
    default:
      return "";
  }
}

}  // namespace

int64_t MomentMillis(const v1::AuditRecord& r) {
  int64_t at = 0;
  switch (r.event()) {
    case v1::AUDIT_EVENT_HANDOVER_LAPSED:
      at = r.handover().expires_unix_millis();
      break;
    case v1::AUDIT_EVENT_STAND_IN_ENDED:
      at = r.handover().stand_in_until_unix_millis();
      break;
    case v1::AUDIT_EVENT_ACUTE_WINDOW_ENDED:
      at = r.acute_until_unix_millis();
      break;
    default:
      break;
  }
  return at > 0 && at < r.time_unix_millis() ? at : r.time_unix_millis();
}

std::string RecordDetail(const v1::AuditRecord& r) {
  switch (r.event()) {
    case v1::AUDIT_EVENT_FRAGMENT_SHOWN: {  // the coordinator's read log (NEN 7513)
      std::string out = "fragment" + (r.source_partner().empty() ? std::string() : " from " + r.source_partner()) +
                        " shown to " + r.actor().participant_id();
      if (!r.actor().role().empty()) out += " (" + r.actor().role() + ")";
      if (!r.reason().empty()) out += ", " + r.reason();  // how: "console: ..." or "cli: ..."
      return out;
    }
    case v1::AUDIT_EVENT_PUSH_FORWARDED:  // a partner receives (protocol §3.9)
      return "push forwarded to the agent of " + r.recipient_partner();
    case v1::AUDIT_EVENT_PUSH_RECEIVED:
      return "push from " + r.source_partner() + " received by the agent of " + r.recipient_partner();
    case v1::AUDIT_EVENT_RECEIVED:
      return "received from " + r.source_partner() + (r.legal_basis().empty() ? "" : " under " + r.legal_basis());
    case v1::AUDIT_EVENT_APPROVAL_PENDING:  // the source decides (protocol §3.10)
    case v1::AUDIT_EVENT_SOURCE_APPROVED:
    case v1::AUDIT_EVENT_SOURCE_DECLINED:
    case v1::AUDIT_EVENT_APPROVAL_EXPIRED: {
      const std::string what = r.event() == v1::AUDIT_EVENT_APPROVAL_PENDING  ? "waits for the source's approval"
                               : r.event() == v1::AUDIT_EVENT_SOURCE_APPROVED ? "approved by the source"
                               : r.event() == v1::AUDIT_EVENT_SOURCE_DECLINED ? "declined by the source"
                                                                              : "the source's approval expired";
      std::string out = what + (r.source_partner().empty() ? std::string() : " (" + r.source_partner() + ")");
      if (!r.reason().empty()) out += "; " + r.reason();
      return out;
    }
    case v1::AUDIT_EVENT_SOURCE_CONSENT_RECORDED:
    case v1::AUDIT_EVENT_SOURCE_CONSENT_WITHDRAWN:
      return std::string(r.event() == v1::AUDIT_EVENT_SOURCE_CONSENT_RECORDED ? "consent recorded"
                                                                              : "consent withdrawn") +
             " by the source " + r.source_partner() + (r.reason().empty() ? std::string() : "; " + r.reason());
    case v1::AUDIT_EVENT_WATCH_STARTED:  // watches and signals (protocol §3.8)
      return "watch started" + (r.source_partner().empty() ? std::string() : " at " + r.source_partner()) +
             (r.recipient_partner().empty() ? std::string() : " for " + r.recipient_partner());
    case v1::AUDIT_EVENT_SIGNAL:
      return "signal" + (r.source_partner().empty() ? std::string() : " from " + r.source_partner()) +
             " (no content)";
    case v1::AUDIT_EVENT_WATCH_ENDED:
      return "watch ended" + (r.source_partner().empty() ? std::string() : " at " + r.source_partner());
    case v1::AUDIT_EVENT_PRIVACY_OFFICER_NOTIFIED:  // issue 17 §2 (protocol §3.11)
      return "privacy officer notified" +
             (r.source_partner().empty() ? std::string() : " of a disclosure by " + r.source_partner()) +
             (r.reason().empty() ? std::string() : "; " + r.reason());
    case v1::AUDIT_EVENT_BACKUP_MADE:  // issue 18 §6 (docs/operations.md, "Backup and restore")
    case v1::AUDIT_EVENT_LOG_RESTORED:
      return std::string(r.event() == v1::AUDIT_EVENT_BACKUP_MADE ? "backup " : "restored from backup ") +
             r.restore().backup_id() + " of the log's " + std::to_string(r.restore().checkpoint_size()) +
             " records" +
             (r.restore().lost_records() == 0 ? std::string()
                                              : "; " + std::to_string(r.restore().lost_records()) +
                                                    " later record(s) not in this log") +
             (r.reason().empty() ? std::string() : "; " + r.reason());
    case v1::AUDIT_EVENT_CASE_PRUNED:  // issue 17 §6: the gateway's retention sweep
      return "case pruned from the gateway's case database" + (r.reason().empty() ? std::string() : "; " + r.reason());
    case v1::AUDIT_EVENT_REFERRAL_RECEIVED:
    case v1::AUDIT_EVENT_REFERRAL_ACCEPTED:
    case v1::AUDIT_EVENT_REFERRAL_DECLINED:
    case v1::AUDIT_EVENT_REFERRAL_EXPIRED:
      return ReferralText(r);
    case v1::AUDIT_EVENT_HANDOVER_OFFERED:
    case v1::AUDIT_EVENT_HANDOVER_ACCEPTED:
    case v1::AUDIT_EVENT_HANDOVER_CANCELLED:
    case v1::AUDIT_EVENT_HANDOVER_LAPSED:
    case v1::AUDIT_EVENT_STAND_IN_ENDED:
    case v1::AUDIT_EVENT_HANDOVER_DATA:
    case v1::AUDIT_EVENT_HANDOVER_DATA_WITHHELD:
      return HandoverText(r);
    case v1::AUDIT_EVENT_ACUTE_OPENED: {
      std::string out = "acute case opened by " + r.actor().participant_id();
      if (!r.actor().partner().empty()) out += " (" + r.actor().partner() + ")";
      if (!r.phase().empty()) out += " in phase " + r.phase();
      if (r.acute_until_unix_millis() != 0) out += "; acute window until " + When(r.acute_until_unix_millis());
      return out;
    }
    case v1::AUDIT_EVENT_ACUTE_WINDOW_ENDED:
      return "acute window ended" +
             (r.acute_until_unix_millis() != 0 ? " at " + When(r.acute_until_unix_millis()) : std::string()) +
             " without a handover; requests are refused until the case is handed over or closed";
    case v1::AUDIT_EVENT_PARTNER_ADMITTED:
      return "partner " + r.recipient_partner() + " admitted";
    case v1::AUDIT_EVENT_PARTNER_REMOVED: {
      const std::string& p = r.recipient_partner().empty() ? r.source_partner() : r.recipient_partner();
      return "partner " + (p.empty() ? std::string("?") : p) + " removed" +
             (r.reason().empty() ? "" : "; reason: " + r.reason());
    }
    case v1::AUDIT_EVENT_PHASE_CHANGED:
      return "phase " + r.phase();
    case v1::AUDIT_EVENT_CASE_CLOSED:
      return "case closed" + (r.reason().empty() ? "" : "; reason: " + r.reason());
    default:
      return "";
  }
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
