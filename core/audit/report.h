// The privacy officer's report: one self-contained HTML file (inline CSS and
// SVG, no scripts, no external assets) with the verification result and the
// checkpoint on top, and per case who disclosed which categories to whom, for
// which purpose, under which legal basis and when; refused requests and their
// reasons stand out; a timeline and a partner-to-partner flow picture whose
// labels never overlap. Totals (by category, by from -> to, per case, and
// per partner with `partner`); the disclosures the policy flagged to notify
// the privacy officer or that rested on a justification or a weighing come
// first, marked. A disclosure record lacking purpose, basis, phase or rules
// (older logs) is completed from its DECISION record (same message id).
// Every string from the log is HTML-escaped. Thread-compatible.
#ifndef KETENPOORT_CORE_AUDIT_REPORT_H_
#define KETENPOORT_CORE_AUDIT_REPORT_H_

#include <cstdint>
#include <string>

#include "core/audit/log_reader.h"
#include "core/audit/log_verifier.h"
#include "core/base/status.h"

namespace kp::audit {

struct ReportOptions {
  // Only this case ("" = every case).
  std::string case_id;
  // Only records where this partner disclosed, received, asked or was asked
  // ("" = every partner): `audit report --partner P`.
  std::string partner;
  // Only records in [from, to) (ms since the epoch; 0 = open): `--from/--to`.
  int64_t from_millis = 0;
  int64_t to_millis = 0;
  int64_t generated_at_millis = 0;
};

Result<std::string> RenderHtmlReport(const LogReader& reader, const VerifyReport& verification,
                                     const ReportOptions& options);

// NotFound (no file should be written) when nothing matches the options: no
// such case, a partner with no records, a period with no records;
// InvalidArgument when --to is not after --from.

// A `--from`/`--to` argument: a date ("2026-11-22": midnight UTC; with
// `end_of_period` the midnight after, so `--to` takes the whole day) or an
// RFC 3339 time with an offset ("2026-11-22T14:30:00Z",
// "2026-11-22T15:30:00.25+01:00"), as ms since the epoch. InvalidArgument
// with an example on anything else.
Result<int64_t> ParseReportTime(std::string_view text, bool end_of_period);

std::string HtmlEscape(std::string_view text);

}  // namespace kp::audit

#endif  // KETENPOORT_CORE_AUDIT_REPORT_H_
