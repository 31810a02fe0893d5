// libFuzzer target: the gateway backup's manifest (gateway/backup.h) and the
// restore point line of a restored log (core/audit/restore_point.h), below
// their signature: the input is a checkpoint note body. Neither parser may
// crash; whatever they accept survives its own formatting unchanged.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/audit/checkpoint.h"
#include "core/audit/restore_point.h"
#include "gateway/backup.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  auto cp = kp::audit::ParseCheckpointBody(input);
  if (!cp.ok()) return 0;
  for (const std::string& line : cp->extensions) {
    auto point = kp::audit::ParseRestorePoint(line);
    if (point.ok() && kp::audit::FormatRestorePoint(*point) != line) __builtin_trap();
  }
  (void)kp::audit::FindRestorePoint(*cp);
  auto manifest = kp::gateway::ManifestFromCheckpoint(*cp);
  if (!manifest.ok()) return 0;
  const std::string body = kp::audit::FormatCheckpointBody(kp::gateway::ManifestToCheckpoint(*manifest));
  auto again = kp::audit::ParseCheckpointBody(body);
  if (!again.ok()) __builtin_trap();
  auto manifest2 = kp::gateway::ManifestFromCheckpoint(*again);
  if (!manifest2.ok() ||
      kp::audit::FormatCheckpointBody(kp::gateway::ManifestToCheckpoint(*manifest2)) != body) {
    __builtin_trap();
  }
  return 0;
}
