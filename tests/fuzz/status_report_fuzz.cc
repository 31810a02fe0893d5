// libFuzzer target: the status report (core/observe/status_report.h) that
// `ketenpoort-gateway status` / `ketenpoort-agent status` read from whatever
// answers on the management address. It must never crash; a report it
// accepts prints, and survives its own JSON unchanged.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/observe/status_report.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  auto report = kp::observe::StatusFromJson(input);
  if (!report.ok()) return 0;
  (void)kp::observe::StatusToText(*report);
  const std::string json = kp::observe::StatusToJson(*report);
  auto again = kp::observe::StatusFromJson(json);
  if (!again.ok() || kp::observe::StatusToJson(*again) != json) __builtin_trap();
  return 0;
}
