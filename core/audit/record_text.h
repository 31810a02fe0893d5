// Human names of the audit record's enums, as `ketenpoort audit show` and the
// report print them ("decision", "case-opened", "art9", ...). Thread-safe.
#ifndef KETENPOORT_CORE_AUDIT_RECORD_TEXT_H_
#define KETENPOORT_CORE_AUDIT_RECORD_TEXT_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "core/base/status.h"
#include "ketenpoort/v1/audit.pb.h"

namespace kp::audit {

// "decision", "partner-admitted", ...; "unspecified" for 0.
std::string EventName(ketenpoort::v1::AuditEvent event);
Result<ketenpoort::v1::AuditEvent> ParseEventName(std::string_view name);
// "permit", "deny", "" when there is no decision.
std::string VerdictName(ketenpoort::v1::AuditVerdict verdict);
// "art9", "art10", "" for ordinary or unspecified; "wpg/wjsg" for police-justice.
std::string DataClassName(ketenpoort::v1::DataClass data_class);
std::string RegimeName(ketenpoort::v1::DataRegime regime);
// "politie-incidenten[art10,wpg/wjsg]".
std::string CategoryText(const ketenpoort::v1::AuditCategory& category);
// What a record of a case's marked moment says, in one line of ids, codes and
// UTC times (never personal data): for the referral events (21..23, 33) the
// reference, referrer, reason codes, subject count and decline reason; for the
// handover events (24..28, 32) from, to, reason code, offer and expiry times
// and the stand-in's end; for the acute events (29, 30) the window's end; for
// partner admitted / removed the partner and reason code; for phase changed the
// phase; for case closed its reason code. "" for the other events.
std::string RecordDetail(const ketenpoort::v1::AuditRecord& record);
// When a marked moment happened: the record's time, except for records
// written when the gateway noticed a moment that had passed: handover lapsed
// (the offer's expiry), stand-in ended (the stand-in's end), acute window
// ended (the window's end), when those are set and earlier.
int64_t MomentMillis(const ketenpoort::v1::AuditRecord& record);
// A record as one JSON object (protobuf JSON mapping, field names as in the
// proto); `erased` entries as {"index":N,"erased":true,...}.
std::string RecordJson(const ketenpoort::v1::AuditRecord& record);

}  // namespace kp::audit

#endif  // KETENPOORT_CORE_AUDIT_RECORD_TEXT_H_
