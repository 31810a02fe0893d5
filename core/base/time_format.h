// Dates and times as people read and type them: UTC, ISO 8601.
#ifndef KETENPOORT_CORE_BASE_TIME_FORMAT_H_
#define KETENPOORT_CORE_BASE_TIME_FORMAT_H_

#include <cstdint>
#include <string>

#include "core/base/status.h"

namespace kp {

// "2026-11-27T23:45:01Z" (UTC, whole seconds).
std::string FormatUtcMillis(int64_t ms);
// "2026-11-27" (UTC).
std::string FormatUtcDate(int64_t ms);

// "YYYY-MM-DD" -> the last millisecond of that day, UTC: a consent "until
// 2027-05-31" holds through the whole of that day. InvalidArgument otherwise.
Result<int64_t> ParseDateEndOfDayUtc(const std::string& date);

}  // namespace kp

#endif  // KETENPOORT_CORE_BASE_TIME_FORMAT_H_
