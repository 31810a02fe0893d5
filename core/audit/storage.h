// The audit log's storage seam: the few file operations the log needs, so a
// test can put a fault-injecting store in between (LevelDB's Env and
// db/fault_injection_test.cc are the model). Production uses PosixStorage,
// real files with pwrite/fdatasync.
//
// A LogFile is an append-mostly file: appends go to the end, reads are
// positional, Sync makes everything written so far durable (fdatasync). A
// LogFile is used by one thread at a time (the log serialises access);
// Storage itself is thread-safe.
#ifndef KETENPOORT_CORE_AUDIT_STORAGE_H_
#define KETENPOORT_CORE_AUDIT_STORAGE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/status.h"

namespace kp::audit {

class LogFile {
 public:
  virtual ~LogFile() = default;
  virtual Status Append(std::string_view data) = 0;
  // Reads up to `n` bytes at `offset` into `out` (fewer at the end).
  virtual Status ReadAt(uint64_t offset, size_t n, std::string& out) const = 0;
  virtual uint64_t Size() const = 0;
  virtual Status Truncate(uint64_t size) = 0;
  // Durable: data and size reach the disk (fdatasync) before it returns.
  virtual Status Sync() = 0;
};

// An exclusive advisory lock on a log folder (flock), released on
// destruction.
class FolderLock {
 public:
  virtual ~FolderLock() = default;
};

class Storage {
 public:
  virtual ~Storage() = default;
  // Opens `path` for reading and appending; creates it (mode 0600) when
  // `create` and missing, else NotFound.
  virtual Result<std::unique_ptr<LogFile>> OpenFile(const std::string& path, bool create) = 0;
  // Opens `path` read-only (writes fail).
  virtual Result<std::unique_ptr<LogFile>> OpenReadOnly(const std::string& path) = 0;
  // Atomically replaces `path` with `data` and makes it durable.
  virtual Status WriteFileAtomic(const std::string& path, std::string_view data) = 0;
  virtual Result<std::string> ReadSmallFile(const std::string& path, size_t max_bytes) = 0;
  virtual bool Exists(const std::string& path) = 0;
  // Creates a folder (mode 0700) if missing.
  virtual Status CreateDir(const std::string& path) = 0;
  // File names in a folder (no "." or "..").
  virtual Result<std::vector<std::string>> ListDir(const std::string& path) = 0;
  // Removes a file (erase-expired's temporary files).
  virtual Status RemoveFile(const std::string& path) = 0;
  // Renames atomically and syncs the folder.
  virtual Status RenameDurable(const std::string& from, const std::string& to) = 0;
  // Unavailable when another process holds the lock.
  virtual Result<std::unique_ptr<FolderLock>> LockFolder(const std::string& dir) = 0;
};

// Real files. A process-wide instance; never destroyed.
Storage& PosixStorage();

}  // namespace kp::audit

#endif  // KETENPOORT_CORE_AUDIT_STORAGE_H_
