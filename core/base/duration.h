// Durations and sizes as people write them in configuration files.
#ifndef KETENPOORT_CORE_BASE_DURATION_H_
#define KETENPOORT_CORE_BASE_DURATION_H_

#include <cstdint>
#include <string>

#include "core/base/status.h"

namespace kp {

// "24h", "15m", "30s", "500ms", "7d" -> milliseconds. InvalidArgument,
// naming the text, for anything else.
Result<int64_t> ParseDurationMs(const std::string& text);

}  // namespace kp

#endif  // KETENPOORT_CORE_BASE_DURATION_H_
