// Small, careful file helpers: bounded reads, durable atomic writes, and the
// permission checks that guard secret files. Every error names the file.
// Thread-compatible (no shared state).
#ifndef KETENPOORT_CORE_BASE_FILE_UTIL_H_
#define KETENPOORT_CORE_BASE_FILE_UTIL_H_

#include <sys/types.h>

#include <cstddef>
#include <string>
#include <string_view>

#include "core/base/status.h"

namespace kp {

// Reads a whole regular file of at most `max_bytes` bytes.
Result<std::string> ReadFileBounded(const std::string& path, size_t max_bytes);

enum class WriteMode {
  kCreateExclusive,  // fail with AlreadyExists when the file exists
  kReplace,          // atomically replace (write temp, fsync, rename, fsync dir)
};

// Writes `data` with permission bits `mode` (e.g. 0600, 0644) and makes it
// durable (fsync of the file and of its folder) before returning.
Status WriteFileDurable(const std::string& path, std::string_view data, mode_t mode, WriteMode how);

// OK when `dir` is a folder that neither group nor others can write.
Status CheckDirNotGroupOrWorldWritable(const std::string& dir);

// OK when `path` is a regular file that neither group nor others can read or
// write (mode 0600 or 0400). Used for every file that holds secret keys.
Status CheckSecretFileMode(const std::string& path);

}  // namespace kp

#endif  // KETENPOORT_CORE_BASE_FILE_UTIL_H_
