// LogReader: read-only access to an audit log folder, for `ketenpoort audit`
// and for the gateway's proof requests. It takes no lock and never writes, so
// it can run beside the writer; it sees the files as they are (a log that
// crashed and was not reopened may have a torn tail, which verification
// reports). Proofs are built from the tree file's node hashes in
// O(log^2 n) reads. Not thread-safe; open one reader per thread.
#ifndef KETENPOORT_CORE_AUDIT_LOG_READER_H_
#define KETENPOORT_CORE_AUDIT_LOG_READER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/audit/checkpoint.h"
#include "core/audit/log_files.h"
#include "core/audit/storage.h"
#include "core/base/status.h"
#include "ketenpoort/v1/audit.pb.h"

namespace kp::audit {

// One entry of the records file: a record, or the tombstone of an erased one.
struct LogEntry {
  uint64_t index = 0;
  bool erased = false;
  int64_t erased_at_millis = 0;
  ketenpoort::v1::AuditRecord record;  // empty when erased
};

class LogReader {
 public:
  // Storage is borrowed (null = PosixStorage()).
  static Result<std::unique_ptr<LogReader>> Open(const std::string& dir, Storage* storage = nullptr);

  const std::string& dir() const { return dir_; }
  // Leaves in the tree file.
  uint64_t TreeSize() const;
  Result<std::string> LeafHash(uint64_t index) const;
  Result<std::string> RootAt(uint64_t size) const;
  Result<std::vector<std::string>> InclusionProof(uint64_t index, uint64_t size) const;
  Result<std::vector<std::string>> ConsistencyProof(uint64_t size1, uint64_t size2) const;

  // The folder's own verifier key (DIR/log.vkey). Trusting it means trusting
  // whoever could write the folder; pin a key or a checkpoint instead.
  Result<NoteVerifierKey> FolderVerifierKey() const;
  // The latest checkpoint note (DIR/checkpoint), verified with `key`.
  Result<std::string> LatestCheckpointNote() const;

  // Calls `fn` for each entry in index order; stops at the first error
  // (a damaged frame is DataLoss naming its index).
  Status ForEachEntry(const std::function<Status(const LogEntry&)>& fn) const;

 private:
  LogReader() = default;
  std::string dir_;
  Storage* storage_ = nullptr;
  std::unique_ptr<LogFile> records_;
  std::unique_ptr<LogFile> tree_;
};

}  // namespace kp::audit

#endif  // KETENPOORT_CORE_AUDIT_LOG_READER_H_
