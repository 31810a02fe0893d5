// Reading a log folder for a copy of it: the privacy officer's pull
// (docs/protocol.md §6, AuditPull / AuditChunk). The gateway lists the
// folder's files (small ones inline) and hands out the larger ones chunk by
// chunk; the copy is then verified on the officer's own machine
// (log_verifier.h). Only names that cannot leave the folder are read.
//
// Stateless functions; safe from any thread (they only read files).
#ifndef KETENPOORT_CORE_AUDIT_LOG_EXPORT_H_
#define KETENPOORT_CORE_AUDIT_LOG_EXPORT_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/status.h"

namespace kp::audit {

// Files up to this size travel inside the listing; larger ones are asked for
// in chunks of at most kExportChunkBytes.
inline constexpr size_t kExportInlineBytes = 64 * 1024;
inline constexpr size_t kExportChunkBytes = 1024 * 1024;

// True for a name a pull may use: relative, at most 128 bytes of
// [a-z0-9/._-], no "..", and not the folder's LOCK file.
bool IsExportableLogPath(std::string_view name);

// Up to `max_bytes` of `dir`/`name` from `offset` (fewer at the end of the
// file, none past it). InvalidArgument for a name IsExportableLogPath
// refuses; NotFound when there is no such file (a symbolic link is not
// followed); Unavailable when it cannot be read.
Result<std::string> ReadLogFileChunk(const std::string& dir, const std::string& name, uint64_t offset,
                                     size_t max_bytes = kExportChunkBytes);

struct LogFolderFile {
  std::string name;      // relative to the folder, '/'-separated
  uint64_t size = 0;
  bool inlined = false;  // `content` holds the whole file
  std::string content;
};

// Every regular file of the folder (recursively) that a pull may name, by
// name, with the content of those up to `inline_max` bytes. Unavailable
// when the folder cannot be listed or an inlined file cannot be read.
Result<std::vector<LogFolderFile>> ListLogFolder(const std::string& dir, size_t inline_max = kExportInlineBytes);

}  // namespace kp::audit

#endif  // KETENPOORT_CORE_AUDIT_LOG_EXPORT_H_
