#include "core/base/duration.h"

namespace kp {

Result<int64_t> ParseDurationMs(const std::string& text) {
  size_t i = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
  if (i == 0 || i > 9) return InvalidArgumentError("'" + text + "' is not a duration like 24h, 15m, 30s or 500ms");
  int64_t n = std::stoll(text.substr(0, i));
  std::string unit = text.substr(i);
  if (unit == "ms") return n;
  if (unit == "s") return n * 1000;
  if (unit == "m") return n * 60'000;
  if (unit == "h") return n * 3'600'000;
  if (unit == "d") return n * 86'400'000;
  return InvalidArgumentError("'" + text + "' is not a duration like 24h, 15m, 30s or 500ms");
}

}  // namespace kp
