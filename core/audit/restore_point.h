// The restore point of a restored audit log (docs/audit-log-format.md §5a):
// after `ketenpoort-gateway restore`, every checkpoint the log signs carries
// one extension line
//
//   ketenpoort-restored <size> <root, standard base64> <backup id, 32 hex>
//
// naming the backup's checkpoint the log goes on from. A holder of older
// checkpoints (an agent, a privacy officer) compares only the checkpoints at
// or below <size> with the restored log; those above it belong to the
// history the restore lost. The line is inside the signed note, so only the
// log key can claim a restore, and the LOG_RESTORED record at index <size>
// says so in the log itself. Pure functions; thread-safe. The parser reads
// untrusted bytes (a checkpoint from the gateway) and never crashes.
#ifndef KETENPOORT_CORE_AUDIT_RESTORE_POINT_H_
#define KETENPOORT_CORE_AUDIT_RESTORE_POINT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/audit/checkpoint.h"
#include "core/base/status.h"

namespace kp::audit {

struct RestorePoint {
  uint64_t size = 0;
  std::string root;       // 32 bytes
  std::string backup_id;  // 32 lowercase hex digits
};

// The extension line (without newline).
std::string FormatRestorePoint(const RestorePoint& point);
// InvalidArgument unless `line` is exactly one well-formed restore line.
Result<RestorePoint> ParseRestorePoint(std::string_view line);
// The restore point a checkpoint names, if any. InvalidArgument when it names
// more than one, a malformed one, or one not below its own size.
Result<std::optional<RestorePoint>> FindRestorePoint(const Checkpoint& checkpoint);

}  // namespace kp::audit

#endif  // KETENPOORT_CORE_AUDIT_RESTORE_POINT_H_
