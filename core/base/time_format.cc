#include "core/base/time_format.h"

#include <cstdio>
#include <ctime>

namespace kp {
namespace {

std::string Format(int64_t ms, bool date_only) {
  std::time_t t = static_cast<std::time_t>(ms / 1000 - (ms % 1000 < 0 ? 1 : 0));
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  size_t n = date_only ? std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm)
                       : std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return std::string(buf, n);
}

}  // namespace

std::string FormatUtcMillis(int64_t ms) { return Format(ms, false); }
std::string FormatUtcDate(int64_t ms) { return Format(ms, true); }

Result<int64_t> ParseDateEndOfDayUtc(const std::string& date) {
  int y = 0, m = 0, d = 0;
  char extra = 0;
  if (date.size() != 10 || std::sscanf(date.c_str(), "%4d-%2d-%2d%c", &y, &m, &d, &extra) != 3 || y < 1970 ||
      m < 1 || m > 12 || d < 1 || d > 31) {
    return InvalidArgumentError("'" + date + "' is not a date of the form YYYY-MM-DD");
  }
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = m - 1;
  tm.tm_mday = d;
  std::time_t t = timegm(&tm);
  std::tm back{};
  gmtime_r(&t, &back);
  if (back.tm_mday != d || back.tm_mon != m - 1) {
    return InvalidArgumentError("'" + date + "' is not a day of the calendar");
  }
  return static_cast<int64_t>(t) * 1000 + 86'400'000 - 1;
}

}  // namespace kp
