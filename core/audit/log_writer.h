// LogWriter: the one process that appends to an audit log folder (the
// gateway, or an agent for its own disclosure log). Format:
// docs/audit-log-format.md and log_format.h.
//
// Appends are durable before they are acknowledged: the record frame is in
// the records file and fdatasync'd. Group commit: appenders only queue; one
// committer thread takes everything queued, writes it with one write and one
// fdatasync, and then acknowledges the whole batch, so concurrent appenders
// (and async appends kept in flight) share a flush.
//
// The tree file (post-order node hashes) is derived from the records and
// synced before each checkpoint is signed; after a crash, Open rebuilds the
// tree from the records written after the last checkpoint and cuts a torn
// tail (an incomplete or corrupt last frame), so nothing acknowledged is lost
// and open costs O(records since the last checkpoint), never the whole tree.
//
// Checkpoints (C2SP tlog-checkpoint, Ed25519) are signed every
// `checkpoint_every_records` records or `checkpoint_every_millis`, on
// Checkpoint() and on Close. Before signing, the writer proves the new tree
// consistent with the last checkpoint it signed (and refuses to open a log
// that is shorter than, or differs from, its own latest checkpoint), so it
// never signs two inconsistent checkpoints.
//
// Thread-safe: Append, AppendAsync, Checkpoint, EraseExpired and
// EraseExpiredBodies may be called from any thread. Async callbacks run on the committer thread and must not
// block on this writer. After a write or sync error the writer fails closed:
// every later append returns that error.
#ifndef KETENPOORT_CORE_AUDIT_LOG_WRITER_H_
#define KETENPOORT_CORE_AUDIT_LOG_WRITER_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/audit/checkpoint.h"
#include "core/audit/log_files.h"
#include "core/audit/merkle.h"
#include "core/audit/storage.h"
#include "core/base/clock.h"
#include "core/base/status.h"
#include "ketenpoort/v1/audit.pb.h"

namespace kp::audit {

struct LogWriterOptions {
  // Borrowed; must outlive the writer. Null means PosixStorage().
  Storage* storage = nullptr;
  // Borrowed; must outlive the writer. Null means SystemClock::Get().
  const Clock* clock = nullptr;
  uint64_t checkpoint_every_records = 65536;
  int64_t checkpoint_every_millis = 2000;
  // Upper bound of one group commit.
  size_t max_batch_records = 16384;
  // A key rotation's other keys (the key ring's previous one): when the
  // folder's log.vkey names one of them, Open signs a key handover from it to
  // the writer's key before anything else (key_handover.h), and the log goes
  // on under the new key. Read only in Open.
  std::vector<std::shared_ptr<const LogSigner>> previous_signers;
  // Open keeps at most this many records and cuts the rest of the records
  // file. For an open in the same process after a failed sync (the
  // gateway's LogAuditTrail::Reopen): what was written after the last sync
  // that succeeded may still show in the page cache while the disk lost it
  // (a failed fdatasync can mark the pages clean), so it is cut and its
  // caller appends it again from where it kept it (the outbox).
  uint64_t keep_at_most_records = UINT64_MAX;
};

struct AppendReceipt {
  uint64_t index = 0;
  std::string leaf_hash;  // 32 bytes
};

// A record made ready for the log but not written: its index, time and salt
// are fixed, so appending it later (even after a crash, from where the caller
// kept it) gives exactly the same leaf.
struct StagedRecord {
  uint64_t index = 0;
  std::string salt;    // kSaltBytes
  std::string record;  // the serialized AuditRecord, index and time set
  // The record's time as Stage set it, so that AppendStaged need not parse
  // `record` again; 0 (e.g. read back from the caller's outbox): parsed and
  // checked.
  int64_t time_unix_millis = 0;
};

struct EraseSummary {
  uint64_t erased = 0;
  uint64_t first_index = 0;
  uint64_t last_index = 0;
  // Index of the erasure record the writer appended (writer only).
  uint64_t erasure_record_index = 0;
};

class LogWriter {
 public:
  using AppendCallback = std::function<void(Result<AppendReceipt>)>;

  // Opens (creating when missing) the log in `dir`, recovering from a crash.
  // A folder whose log.vkey names one of options.previous_signers is handed
  // over to `signer` (key_handover.h). A folder made with another key or
  // origin is refused (FailedPrecondition);
  // a log shorter than or different from its latest checkpoint is DataLoss.
  static Result<std::unique_ptr<LogWriter>> Open(const std::string& dir, LogSigner signer,
                                                 LogWriterOptions options = {});
  ~LogWriter();
  LogWriter(const LogWriter&) = delete;
  LogWriter& operator=(const LogWriter&) = delete;

  // Sets the record's index and time, appends it, and returns once it is
  // durable. InvalidArgument for a record without an event.
  Result<AppendReceipt> Append(ketenpoort::v1::AuditRecord record);
  // The same, without waiting: `done` runs once the record is durable (or
  // failed), on the committer thread.
  void AppendAsync(ketenpoort::v1::AuditRecord record, AppendCallback done);

  // For a caller that batches its own work (the gateway): sets the record's
  // index and time and writes it to the records file, but does not wait for
  // the disk. The record is durable only after Sync(); nothing that depends
  // on it may leave the process before Sync() returned OK. A checkpoint that
  // is kept in the folder (Checkpoint(), the periodic ones) syncs first, so
  // it never covers a record that is not durable.
  Result<AppendReceipt> AppendBuffered(ketenpoort::v1::AuditRecord record);
  // Makes every buffered record durable: one fdatasync for all of them.
  Status Sync();
  // A checkpoint note over every record appended so far (buffered ones
  // too), signed but not written to the folder: what the gateway puts in a
  // receipt. Hand it out only after Sync().
  Result<std::string> SignHead();

  // Staging, for a caller that keeps its audit records in the same database
  // transaction as the change they describe (the gateway's outbox): fixes
  // the record's index (after every record appended or staged so far), time
  // and salt, and returns the exact bytes without writing anything.
  // SignHead covers staged records too; hand its note out only after they
  // were appended.
  Result<StagedRecord> Stage(ketenpoort::v1::AuditRecord record);
  // Forgets every staged record not yet appended (its transaction was
  // rolled back): the next Stage continues from size().
  void DiscardStaged();
  // Appends staged records durably, in index order, with one write and one
  // fdatasync. Records whose index is below size() are already in the log
  // and are skipped (recovery appends what a crash left out); the others
  // must continue the log without a gap, else DataLoss.
  Status AppendStaged(const std::vector<StagedRecord>& records);
  // The same, but without waiting for the disk: the records are written and
  // counted in size(), and durable only after Sync(). For a caller that keeps
  // the same staged records durably elsewhere until durable_size() covers
  // them (the gateway's outbox in its case database): it may send what
  // depends on them before Sync(), since a crash that loses the unsynced
  // tail is repaired by appending the kept records again, byte for byte.
  Status WriteStaged(const std::vector<StagedRecord>& records);
  // Records in the log that are durable (fdatasync'd): size() minus what
  // was written since the last sync that succeeded (by AppendBuffered or
  // WriteStaged, or by an AppendStaged whose sync failed).
  uint64_t durable_size() const;
  // Fault injection (tests): what a power cut does to the page cache. Cuts
  // the records file in the middle of what was written since the last sync
  // (a torn tail), then fails the writer as a crash would. Nothing when all
  // is synced.
  Status CutUnsyncedTailForFaultInjection();

  // Signs (when the tree grew) and returns the checkpoint covering every
  // acknowledged record.
  Result<std::string> Checkpoint();
  // The latest signed checkpoint note ("" before the first).
  std::string LatestCheckpoint() const;
  // Acknowledged records.
  uint64_t size() const;
  const LogSigner& signer() const { return signer_; }
  const std::string& dir() const { return dir_; }

  // Replaces every record whose retention date is at or before `now_millis`
  // with a tombstone, then appends an erasure record. Proofs stay valid.
  // Fails while records are staged (use EraseExpiredBodies then).
  Result<EraseSummary> EraseExpired(int64_t now_millis);
  // The erasure alone, without stopping the log (the gateway's retention
  // sweep, which records the ERASURE event in its own unit of work): signs
  // a checkpoint, rewrites the records file up to it into a temporary file
  // while appends, staging and syncs go on, then holds the log only to copy
  // the frames appended meanwhile, sync, and rename the new file into place.
  // Only records a signed checkpoint covers are erased. One erasure runs at
  // a time; Close waits for a running one. Appends no record.
  Result<EraseSummary> EraseExpiredBodies(int64_t now_millis);
  // How many times the records file was rewritten since Open (a reader that
  // listed its size before must start again).
  uint64_t rewrites() const;

  // Stops the committer, signs a final checkpoint, releases the folder.
  Status Close();

  // How many records Open rebuilt from the records file, and how many
  // bytes of torn tail it cut (for tests and the operator's log line).
  uint64_t recovered_records() const { return recovered_records_; }
  uint64_t cut_tail_bytes() const { return cut_tail_bytes_; }

 private:
  struct Pending {
    ketenpoort::v1::AuditRecord record;
    AppendCallback done;
  };

  LogWriter(std::string dir, LogSigner signer, LogWriterOptions options);
  Status OpenFiles();
  Status Recover();
  // Signs the key handover from handover_from_ to signer_ at the recovered
  // size, then points log.vkey at signer_ (key_handover.h).
  Status HandOver();
  // OK when the tree still has the last signed root and grew consistently
  // from it to `root`; else fails the writer. Caller holds tree_mu_ (or is
  // Open).
  Status CheckConsistentLocked(const std::string& root);
  void CommitLoop();
  void CommitBatch(std::vector<Pending>& batch);
  // Writes `records` (index and time set here) without syncing; on success
  // the tree holds them. Caller holds tree_mu_.
  Status WriteLocked(const std::vector<ketenpoort::v1::AuditRecord*>& records,
                     std::vector<AppendReceipt>* receipts);
  Status SyncLocked();
  // Before a write that is not synced at once: remembers where the durable
  // part ends.
  void MarkUnsyncedLocked();
  // AppendStaged and WriteStaged.
  Status AppendStagedLocked(const std::vector<StagedRecord>& records, bool sync);
  // The periodic checkpoint, when it is due (after a sync).
  void MaybeCheckpointLocked();
  Result<std::string> SignCheckpointLocked();
  std::string Path(std::string_view name) const;

  const std::string dir_;
  const LogSigner signer_;
  const LogWriterOptions options_;
  Storage* storage_;
  const Clock* clock_;
  std::unique_ptr<FolderLock> lock_;
  // Open only: the previous key log.vkey names (in options_), or null.
  const LogSigner* handover_from_ = nullptr;

  // Queue of appends waiting for the committer.
  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::vector<Pending> queue_;
  bool closing_ = false;
  std::thread committer_;

  // One erasure at a time; Close takes it too (after the committer stopped).
  std::mutex erase_mu_;
  uint64_t rewrites_ = 0;  // guarded by tree_mu_

  // Files and tree state; held by the committer while it writes a batch.
  mutable std::mutex tree_mu_;
  std::unique_ptr<LogFile> records_;
  std::unique_ptr<LogFile> tree_;
  CompactRange range_;
  Status failed_;
  bool unsynced_ = false;  // records written by AppendBuffered or WriteStaged, not yet synced
  // While unsynced_: the records and the records file's bytes that are durable.
  uint64_t synced_size_ = 0;
  uint64_t synced_bytes_ = 0;
  // Staged records: the tree as it will be once they are appended.
  CompactRange staged_range_;
  uint64_t staged_count_ = 0;
  int64_t staged_time_ = 0;
  int64_t last_time_ = 0;
  uint64_t signed_size_ = 0;
  std::string signed_root_;
  std::string signed_note_;
  int64_t signed_at_millis_ = 0;
  // Extension lines of every checkpoint signed (DIR/restored, log_format.h).
  std::vector<std::string> extensions_;
  bool closed_ = false;

  uint64_t recovered_records_ = 0;
  uint64_t cut_tail_bytes_ = 0;
};

}  // namespace kp::audit

#endif  // KETENPOORT_CORE_AUDIT_LOG_WRITER_H_
