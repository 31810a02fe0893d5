// Logging: spdlog, one line per event, ids only.
//
// The rule for every log line in Ketenpoort: it names participants, cases,
// message ids, rule ids, sizes and codes — never names, BSNs, dates of birth,
// subject data or fragment content. Tests place canary strings in content and
// subject data and check that they never appear in logs.
#ifndef KETENPOORT_CORE_BASE_LOGGING_H_
#define KETENPOORT_CORE_BASE_LOGGING_H_

#include <spdlog/spdlog.h>

#include <string>

namespace kp {

// Sets up the default logger for a binary: stderr, UTC timestamps, the
// program name, level from `level` ("trace".."off"; unknown -> "info").
void InitLogging(const std::string& program, const std::string& level);

}  // namespace kp

#endif  // KETENPOORT_CORE_BASE_LOGGING_H_
