#include "core/audit/log_writer.h"

#include <algorithm>
#include <future>
#include <limits>

#include "core/audit/key_handover.h"
#include "core/audit/log_eraser.h"
#include "core/base/logging.h"
#include "core/crypto/random.h"

namespace kp::audit {

LogWriter::LogWriter(std::string dir, LogSigner signer, LogWriterOptions options)
    : dir_(std::move(dir)),
      signer_(std::move(signer)),
      options_(options),
      storage_(options.storage != nullptr ? options.storage : &PosixStorage()),
      clock_(options.clock != nullptr ? options.clock : &SystemClock::Get()) {}

std::string LogWriter::Path(std::string_view name) const { return dir_ + "/" + std::string(name); }

Result<std::unique_ptr<LogWriter>> LogWriter::Open(const std::string& dir, LogSigner signer,
                                                   LogWriterOptions options) {
  if (options.checkpoint_every_records == 0 || options.max_batch_records == 0) {
    return InvalidArgumentError("checkpoint_every_records and max_batch_records must be positive");
  }
  std::unique_ptr<LogWriter> w(new LogWriter(dir, std::move(signer), options));
  KP_RETURN_IF_ERROR(w->OpenFiles());
  KP_RETURN_IF_ERROR(w->Recover());
  if (w->handover_from_ != nullptr) KP_RETURN_IF_ERROR(w->HandOver());
  w->committer_ = std::thread([raw = w.get()] { raw->CommitLoop(); });
  return w;
}

Status LogWriter::OpenFiles() {
  KP_RETURN_IF_ERROR(storage_->CreateDir(dir_));
  KP_ASSIGN_OR_RETURN(lock_, storage_->LockFolder(dir_));
  std::string vkey_path = Path(kVerifierKeyFileName);
  std::string vkey_text = FormatVerifierKey(signer_.verifier_key()) + "\n";
  if (storage_->Exists(vkey_path)) {
    KP_ASSIGN_OR_RETURN(std::string have, storage_->ReadSmallFile(vkey_path, 4096));
    if (have != vkey_text) {
      for (const auto& previous : options_.previous_signers) {
        if (previous != nullptr && previous->origin() == signer_.origin() &&
            have == FormatVerifierKey(previous->verifier_key()) + "\n") {
          handover_from_ = previous.get();
        }
      }
      if (handover_from_ == nullptr) {
        return FailedPreconditionError("the audit log " + dir_ + " was created with another key or origin (" +
                                       vkey_path +
                                       "), and that key is not the previous key of this participant's key "
                                       "ring; after keygen --activate, "
                                       "keep ID.previous.secret beside the identity file until the process "
                                       "has started once with the new "
                                       "key (docs/operations.md, \"Key rotation\")");
      }
    }
  } else {
    KP_RETURN_IF_ERROR(storage_->WriteFileAtomic(vkey_path, vkey_text));
  }
  KP_RETURN_IF_ERROR(storage_->CreateDir(Path(kCheckpointsDirName)));
  KP_ASSIGN_OR_RETURN(records_, storage_->OpenFile(Path(kRecordsFileName), true));
  if (records_->Size() < kRecordsMagic.size()) {
    if (records_->Size() != 0) {
      // A header torn on creation: nothing was ever acknowledged.
      KP_RETURN_IF_ERROR(records_->Truncate(0));
    }
    KP_RETURN_IF_ERROR(records_->Append(kRecordsMagic));
    KP_RETURN_IF_ERROR(records_->Sync());
  }
  KP_RETURN_IF_ERROR(CheckRecordsHeader(*records_, Path(kRecordsFileName)));
  KP_ASSIGN_OR_RETURN(tree_, storage_->OpenFile(Path(kTreeFileName), true));
  if (storage_->Exists(
          Path(kRestoredFileName))) {  // a restored log names its restore point in its checkpoints
    KP_ASSIGN_OR_RETURN(std::string line, storage_->ReadSmallFile(Path(kRestoredFileName), 1024));
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
    if (line.rfind(kRestoredExtensionPrefix, 0) != 0 || line.find('\n') != std::string::npos) {
      return DataLossError(Path(kRestoredFileName) + " is not a restore point line");
    }
    extensions_.push_back(std::move(line));
  }
  return OkStatus();
}

Status LogWriter::Recover() {
  // The latest checkpoint this log signed: the largest in checkpoints/.
  KP_ASSIGN_OR_RETURN(std::vector<std::string> names, storage_->ListDir(Path(kCheckpointsDirName)));
  std::sort(names.begin(), names.end());
  for (auto it = names.rbegin(); it != names.rend(); ++it) {
    if (it->size() != 20 || it->find_first_not_of("0123456789") != std::string::npos) continue;
    std::string path = Path(kCheckpointsDirName) + "/" + *it;
    KP_ASSIGN_OR_RETURN(std::string note, storage_->ReadSmallFile(path, kMaxNoteBytes));
    // Before a handover the log's latest checkpoint is the previous key's
    // (a handover note, which a crash kept from finishing, verifies by both).
    const LogSigner& by = handover_from_ != nullptr ? *handover_from_ : signer_;
    auto cp = OpenCheckpoint(note, by.verifier_key(), by.origin());
    if (!cp.ok()) return DataLossError(path + ": " + cp.status().message());
    signed_size_ = cp->size;
    signed_root_ = cp->root;
    signed_note_ = note;
    break;
  }

  LogState state;
  if (storage_->Exists(Path(kStateFileName))) {
    KP_ASSIGN_OR_RETURN(std::string text, storage_->ReadSmallFile(Path(kStateFileName), 4096));
    KP_ASSIGN_OR_RETURN(state, ParseLogState(text));
  }
  TreeFile tree(tree_.get());
  const uint64_t keep = options_.keep_at_most_records;
  if (state.size > keep) state = LogState{};  // the state point lies in what is cut
  if (state.size > tree.CompleteSize() || state.records_offset > records_->Size() ||
      state.records_offset < kRecordsMagic.size()) {
    spdlog::warn("audit log {}: state file does not fit the data files; rebuilding the tree from all records",
                 dir_);
    state = LogState{};
  }
  if (state.records_offset < records_->Size()) {
    // The state point must be a frame boundary holding record `size`; if
    // not (a crash between an erasure's rename and its state update), scan
    // from the start rather than mistake good records for a torn tail.
    RecordScanner probe(records_.get(), state.records_offset);
    Frame first;
    std::string probe_error;
    if (probe.Next(&first, &probe_error) != DecodeResult::kOk || first.index != state.size) {
      spdlog::warn("audit log {}: state point is not a record boundary; rebuilding the tree from all records",
                   dir_);
      state = LogState{};
    }
  }
  KP_ASSIGN_OR_RETURN(CompactRange range, tree.RangeAt(state.size));
  KP_RETURN_IF_ERROR(tree_->Truncate(PostOrderNodeCount(state.size) * kHashBytes));

  // Rebuild the tree from the records after the state point.
  RecordScanner scanner(records_.get(), state.records_offset);
  Frame frame;
  std::string error;
  std::string nodes;
  uint64_t good_end = state.records_offset;
  for (;;) {
    if (range.size() >= keep) break;
    DecodeResult r = scanner.Next(&frame, &error);
    if (r != DecodeResult::kOk) break;
    if (frame.index != range.size()) {
      error =
          "frame carries index " + std::to_string(frame.index) + ", expected " + std::to_string(range.size());
      break;
    }
    range.Append(HashLeaf(FrameCommitment(frame)), &nodes);
    if (frame.type == FrameType::kRecord) {
      ketenpoort::v1::AuditRecord rec;
      if (rec.ParseFromString(frame.record)) last_time_ = std::max(last_time_, rec.time_unix_millis());
    }
    good_end = scanner.offset();
    ++recovered_records_;
    if (nodes.size() >= (1 << 20)) {
      KP_RETURN_IF_ERROR(tree_->Append(nodes));
      nodes.clear();
    }
  }
  KP_RETURN_IF_ERROR(tree_->Append(nodes));
  if (good_end < records_->Size()) {
    cut_tail_bytes_ = records_->Size() - good_end;
    if (range.size() >= keep) {  // stopped at the records it may keep
      spdlog::warn(
          "audit log {}: cutting the {} bytes written after record {}, the last one a sync made durable before "
          "it failed: the disk may not hold them; they are appended again",
          dir_, cut_tail_bytes_, range.size());
    } else {
      spdlog::warn("audit log {}: cutting a torn tail of {} bytes after record {} ({})", dir_, cut_tail_bytes_,
                   range.size(), error.empty() ? "incomplete frame" : error);
    }
    KP_RETURN_IF_ERROR(records_->Truncate(good_end));
  }
  KP_RETURN_IF_ERROR(records_->Sync());
  KP_RETURN_IF_ERROR(tree_->Sync());
  range_ = std::move(range);

  if (range_.size() < signed_size_) {
    return DataLossError("the audit log " + dir_ + " holds " + std::to_string(range_.size()) +
                         " records but its checkpoint of size " + std::to_string(signed_size_) +
                         " was signed: records from index " + std::to_string(range_.size()) + " are lost");
  }
  if (signed_size_ > 0) {
    KP_ASSIGN_OR_RETURN(std::string root, tree.RootAt(signed_size_));
    if (root != signed_root_) {
      return DataLossError("the audit log " + dir_ + " does not match its own checkpoint of size " +
                           std::to_string(signed_size_) + ": history was changed");
    }
  }
  std::lock_guard<std::mutex> l(tree_mu_);
  if (range_.size() > signed_size_ || signed_note_.empty()) {
    KP_RETURN_IF_ERROR(SignCheckpointLocked().status());
  }
  return OkStatus();
}

Status LogWriter::HandOver() {
  // Everything recovered is made durable: the old key's last signature
  // covers it all.
  KP_RETURN_IF_ERROR(records_->Sync());
  KP_RETURN_IF_ERROR(tree_->Sync());
  const std::string root = range_.Root();
  KP_RETURN_IF_ERROR(CheckConsistentLocked(root));
  const std::string hdir = Path(kHandoversDirName);
  KP_RETURN_IF_ERROR(storage_->CreateDir(hdir));
  KP_ASSIGN_OR_RETURN(std::vector<std::string> names, storage_->ListDir(hdir));
  std::erase_if(names, [](const std::string& n) { return !IsHandoverFileName(n); });
  std::sort(names.begin(), names.end());
  std::string note;
  if (!names.empty()) {
    // A handover to this key that a crash kept from finishing: finish it.
    KP_ASSIGN_OR_RETURN(std::string last, storage_->ReadSmallFile(hdir + "/" + names.back(), kMaxNoteBytes));
    auto h = OpenKeyHandover(last, signer_.origin());
    if (h.ok() && h->from.public_key == handover_from_->public_key() &&
        h->to.public_key == signer_.public_key() && h->checkpoint.size == range_.size() &&
        h->checkpoint.root == root) {
      note = last;
    }
  }
  if (note.empty()) {
    note = SignKeyHandover(kp::audit::Checkpoint{signer_.origin(), range_.size(), root, extensions_},
                           *handover_from_, signer_);
    KP_RETURN_IF_ERROR(storage_->WriteFileAtomic(hdir + "/" + HandoverFileName(names.size()), note));
  }
  // The handover note is also the checkpoint of its size (both keys sign it).
  const uint64_t size = range_.size();
  KP_RETURN_IF_ERROR(
      storage_->WriteFileAtomic(Path(kCheckpointsDirName) + "/" + CheckpointFileName(size), note));
  KP_RETURN_IF_ERROR(storage_->WriteFileAtomic(Path(kCheckpointFileName), note));
  KP_RETURN_IF_ERROR(
      storage_->WriteFileAtomic(Path(kStateFileName), FormatLogState(LogState{size, records_->Size()})));
  // Last: from here on the log is the new key's.
  KP_RETURN_IF_ERROR(storage_->WriteFileAtomic(Path(kVerifierKeyFileName),
                                               FormatVerifierKey(signer_.verifier_key()) + "\n"));
  spdlog::info("audit log {}: handed over from key {:08x} to key {:08x} at {} records", dir_,
               handover_from_->verifier_key().key_hash, signer_.verifier_key().key_hash, size);
  signed_size_ = size;
  signed_root_ = root;
  signed_note_ = note;
  signed_at_millis_ = clock_->NowMillis();
  handover_from_ = nullptr;
  return OkStatus();
}

Status LogWriter::CheckConsistentLocked(const std::string& root) {
  if (signed_note_.empty()) return OkStatus();
  // Never sign a checkpoint inconsistent with the previous one.
  TreeFile tree(tree_.get());
  KP_ASSIGN_OR_RETURN(std::string old_root, tree.RootAt(signed_size_));
  Status consistent =
      old_root == signed_root_ ? OkStatus() : DataLossError("tree no longer has the signed root");
  if (consistent.ok() && signed_size_ > 0) {
    KP_ASSIGN_OR_RETURN(std::vector<std::string> proof,
                        ConsistencyProof(tree.Reader(), signed_size_, range_.size()));
    consistent = VerifyConsistency(signed_size_, range_.size(), proof, signed_root_, root);
  }
  if (!consistent.ok()) {
    failed_ = DataLossError("refusing to sign checkpoint " + std::to_string(range_.size()) +
                            ": not consistent with checkpoint " + std::to_string(signed_size_) + " (" +
                            consistent.message() + ")");
    return failed_;
  }
  return OkStatus();
}

Result<std::string> LogWriter::SignCheckpointLocked() {
  if (!failed_.ok()) return failed_;
  if (!signed_note_.empty() && range_.size() == signed_size_) return signed_note_;
  if (unsynced_) KP_RETURN_IF_ERROR(SyncLocked());  // a kept checkpoint covers only durable records
  KP_RETURN_IF_ERROR(tree_->Sync());
  std::string root = range_.Root();
  KP_RETURN_IF_ERROR(CheckConsistentLocked(root));
  kp::audit::Checkpoint cp{signer_.origin(), range_.size(), root, extensions_};
  std::string note = signer_.Sign(cp);
  KP_RETURN_IF_ERROR(
      storage_->WriteFileAtomic(Path(kCheckpointsDirName) + "/" + CheckpointFileName(cp.size), note));
  KP_RETURN_IF_ERROR(storage_->WriteFileAtomic(Path(kCheckpointFileName), note));
  KP_RETURN_IF_ERROR(
      storage_->WriteFileAtomic(Path(kStateFileName), FormatLogState(LogState{cp.size, records_->Size()})));
  signed_size_ = cp.size;
  signed_root_ = root;
  signed_note_ = note;
  signed_at_millis_ = clock_->NowMillis();
  return note;
}

void LogWriter::AppendAsync(ketenpoort::v1::AuditRecord record, AppendCallback done) {
  if (record.event() == ketenpoort::v1::AUDIT_EVENT_UNSPECIFIED) {
    done(InvalidArgumentError("audit record has no event"));
    return;
  }
  {
    std::lock_guard<std::mutex> l(queue_mu_);
    if (!closing_) {
      queue_.push_back(Pending{std::move(record), std::move(done)});
      queue_cv_.notify_one();
      return;
    }
  }
  done(FailedPreconditionError("the audit log " + dir_ + " is closed"));
}

Result<AppendReceipt> LogWriter::Append(ketenpoort::v1::AuditRecord record) {
  std::promise<Result<AppendReceipt>> promise;
  auto future = promise.get_future();
  AppendAsync(std::move(record), [&promise](Result<AppendReceipt> r) { promise.set_value(std::move(r)); });
  return future.get();
}

void LogWriter::CommitLoop() {
  std::vector<Pending> batch;
  for (;;) {
    {
      std::unique_lock<std::mutex> l(queue_mu_);
      queue_cv_.wait(l, [this] { return closing_ || !queue_.empty(); });
      if (queue_.empty()) return;  // closing and drained
      if (queue_.size() <= options_.max_batch_records) {
        batch.swap(queue_);
      } else {
        auto end = queue_.begin() + static_cast<std::ptrdiff_t>(options_.max_batch_records);
        batch.assign(std::make_move_iterator(queue_.begin()), std::make_move_iterator(end));
        queue_.erase(queue_.begin(), end);
      }
    }
    CommitBatch(batch);
    batch.clear();
  }
}

Status LogWriter::WriteLocked(const std::vector<ketenpoort::v1::AuditRecord*>& records,
                              std::vector<AppendReceipt>* receipts) {
  KP_RETURN_IF_ERROR(failed_);
  if (staged_count_ != 0) {
    return FailedPreconditionError("audit log " + dir_ + ": records are staged; append them first");
  }
  int64_t now = std::max(clock_->NowMillis(), last_time_);
  std::string salts = RandomBytes(kSaltBytes * records.size());
  CompactRange range = range_;
  std::string frames;
  std::string nodes;
  std::string bytes;
  receipts->reserve(records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    ketenpoort::v1::AuditRecord& rec = *records[i];
    rec.set_index(range.size());
    rec.set_time_unix_millis(now);
    bytes.clear();
    rec.SerializeToString(&bytes);
    std::string_view salt(salts.data() + i * kSaltBytes, kSaltBytes);
    AppendRecordFrame(frames, range.size(), salt, bytes);
    std::string leaf = HashLeaf(Commitment(salt, bytes));
    receipts->push_back(AppendReceipt{range.size(), leaf});
    range.Append(std::move(leaf), &nodes);
  }
  Status s = records_->Append(frames);
  if (s.ok()) s = tree_->Append(nodes);
  if (!s.ok()) {
    // Fail closed: a failed write leaves the file state unknown; reopening
    // recovers.
    failed_ = s.WithContext("audit log append failed; the log refuses further appends");
    receipts->clear();
    return failed_;
  }
  range_ = std::move(range);
  last_time_ = now;
  return OkStatus();
}

Status LogWriter::SyncLocked() {
  KP_RETURN_IF_ERROR(failed_);
  Status s = records_->Sync();
  if (!s.ok()) {
    // fsync errors are not retried: the page cache may have dropped the data.
    failed_ = s.WithContext("audit log sync failed; the log refuses further appends");
    return failed_;
  }
  unsynced_ = false;
  return OkStatus();
}

void LogWriter::CommitBatch(std::vector<Pending>& batch) {
  std::vector<Result<AppendReceipt>> results;
  results.reserve(batch.size());
  {
    std::lock_guard<std::mutex> l(tree_mu_);
    std::vector<ketenpoort::v1::AuditRecord*> records;
    records.reserve(batch.size());
    for (auto& p : batch) records.push_back(&p.record);
    std::vector<AppendReceipt> receipts;
    Status s = WriteLocked(records, &receipts);
    if (s.ok()) s = SyncLocked();
    if (s.ok()) {
      for (AppendReceipt& r : receipts) results.emplace_back(std::move(r));
      bool due = range_.size() - signed_size_ >= options_.checkpoint_every_records ||
                 clock_->NowMillis() - signed_at_millis_ >= options_.checkpoint_every_millis;
      if (due) {
        auto signed_note = SignCheckpointLocked();
        if (!signed_note.ok()) spdlog::error("audit log {}: {}", dir_, signed_note.status().ToString());
      }
    } else {
      for (size_t i = 0; i < batch.size(); ++i) results.emplace_back(s);
    }
  }
  for (size_t i = 0; i < batch.size(); ++i) batch[i].done(std::move(results[i]));
}

Result<AppendReceipt> LogWriter::AppendBuffered(ketenpoort::v1::AuditRecord record) {
  if (record.event() == ketenpoort::v1::AUDIT_EVENT_UNSPECIFIED) {
    return InvalidArgumentError("audit record has no event");
  }
  std::lock_guard<std::mutex> l(tree_mu_);
  if (closed_) return FailedPreconditionError("the audit log " + dir_ + " is closed");
  std::vector<AppendReceipt> receipts;
  MarkUnsyncedLocked();
  KP_RETURN_IF_ERROR(WriteLocked({&record}, &receipts));
  unsynced_ = true;
  return receipts.front();
}

void LogWriter::MarkUnsyncedLocked() {
  if (unsynced_) return;
  synced_size_ = range_.size();
  synced_bytes_ = records_->Size();
}

uint64_t LogWriter::durable_size() const {
  std::lock_guard<std::mutex> l(tree_mu_);
  return unsynced_ ? synced_size_ : range_.size();
}

Status LogWriter::CutUnsyncedTailForFaultInjection() {
  std::lock_guard<std::mutex> l(tree_mu_);
  if (!unsynced_) return OkStatus();
  const uint64_t cut = synced_bytes_ + (records_->Size() - synced_bytes_) / 2;
  failed_ = UnavailableError("the audit log lost its unsynced tail (fault injection)");
  return records_->Truncate(cut);
}

Status LogWriter::Sync() {
  std::lock_guard<std::mutex> l(tree_mu_);
  if (!unsynced_) return failed_;
  KP_RETURN_IF_ERROR(SyncLocked());
  MaybeCheckpointLocked();  // as after a group commit
  return OkStatus();
}

void LogWriter::MaybeCheckpointLocked() {
  const bool due = range_.size() - signed_size_ >= options_.checkpoint_every_records ||
                   clock_->NowMillis() - signed_at_millis_ >= options_.checkpoint_every_millis;
  if (!due) return;
  auto signed_note = SignCheckpointLocked();
  if (!signed_note.ok()) spdlog::error("audit log {}: {}", dir_, signed_note.status().ToString());
}

Result<StagedRecord> LogWriter::Stage(ketenpoort::v1::AuditRecord record) {
  if (record.event() == ketenpoort::v1::AUDIT_EVENT_UNSPECIFIED) {
    return InvalidArgumentError("audit record has no event");
  }
  std::lock_guard<std::mutex> l(tree_mu_);
  if (closed_) return FailedPreconditionError("the audit log " + dir_ + " is closed");
  KP_RETURN_IF_ERROR(failed_);
  if (staged_count_ == 0) {
    staged_range_ = range_;
    staged_time_ = last_time_;
  }
  const int64_t now = std::max(clock_->NowMillis(), staged_time_);
  record.set_index(staged_range_.size());
  record.set_time_unix_millis(now);
  StagedRecord out{staged_range_.size(), RandomBytes(kSaltBytes), record.SerializeAsString(), now};
  staged_range_.Append(HashLeaf(Commitment(out.salt, out.record)));
  staged_time_ = now;
  ++staged_count_;
  return out;
}

void LogWriter::DiscardStaged() {
  std::lock_guard<std::mutex> l(tree_mu_);
  staged_count_ = 0;
}

Status LogWriter::AppendStaged(const std::vector<StagedRecord>& records) {
  std::lock_guard<std::mutex> l(tree_mu_);
  return AppendStagedLocked(records, /*sync=*/true);
}

Status LogWriter::WriteStaged(const std::vector<StagedRecord>& records) {
  std::lock_guard<std::mutex> l(tree_mu_);
  return AppendStagedLocked(records, /*sync=*/false);
}

Status LogWriter::AppendStagedLocked(const std::vector<StagedRecord>& records, bool sync) {
  if (closed_) return FailedPreconditionError("the audit log " + dir_ + " is closed");
  KP_RETURN_IF_ERROR(failed_);
  CompactRange range = range_;
  int64_t last_time = last_time_;
  std::string frames;
  std::string nodes;
  for (const StagedRecord& r : records) {
    if (r.index < range.size()) continue;  // already in the log
    if (r.index != range.size() || r.salt.size() != kSaltBytes) {
      return DataLossError("staged audit record " + std::to_string(r.index) +
                           " does not continue the log of " + std::to_string(range.size()) +
                           " records: records in between are missing");
    }
    int64_t time = r.time_unix_millis;
    if (time == 0) {  // not from this writer's Stage: read and checked
      ketenpoort::v1::AuditRecord rec;
      if (!rec.ParseFromString(r.record) || rec.index() != r.index) {
        return DataLossError("staged audit record " + std::to_string(r.index) + " is damaged");
      }
      time = rec.time_unix_millis();
    }
    last_time = std::max(last_time, time);
    AppendRecordFrame(frames, r.index, r.salt, r.record);
    range.Append(HashLeaf(Commitment(r.salt, r.record)), &nodes);
  }
  if (!frames.empty()) {
    // Counted as unsynced until the sync succeeds: a failed sync leaves them
    // out of durable_size(), so their caller keeps its copies.
    MarkUnsyncedLocked();
    Status s = records_->Append(frames);
    if (s.ok()) s = tree_->Append(nodes);
    if (!s.ok()) {
      failed_ = s.WithContext("audit log append failed; the log refuses further appends");
      return failed_;
    }
    range_ = std::move(range);
    last_time_ = last_time;
    unsynced_ = true;
    if (sync) {
      KP_RETURN_IF_ERROR(SyncLocked());
      MaybeCheckpointLocked();
    }
  }
  if (staged_count_ != 0 && staged_range_.size() <= range_.size()) staged_count_ = 0;
  return OkStatus();
}

Result<std::string> LogWriter::SignHead() {
  std::lock_guard<std::mutex> l(tree_mu_);
  KP_RETURN_IF_ERROR(failed_);
  const CompactRange& head = staged_count_ != 0 ? staged_range_ : range_;
  kp::audit::Checkpoint cp{signer_.origin(), head.size(), head.Root(), extensions_};
  return signer_.Sign(cp);
}

Result<std::string> LogWriter::Checkpoint() {
  std::lock_guard<std::mutex> l(tree_mu_);
  return SignCheckpointLocked();
}

std::string LogWriter::LatestCheckpoint() const {
  std::lock_guard<std::mutex> l(tree_mu_);
  return signed_note_;
}

uint64_t LogWriter::size() const {
  std::lock_guard<std::mutex> l(tree_mu_);
  return range_.size();
}

Result<EraseSummary> LogWriter::EraseExpiredBodies(int64_t now_millis) {
  std::lock_guard<std::mutex> one(erase_mu_);
  uint64_t limit = 0;
  uint64_t limit_size = 0;  // records in the prefix
  {
    std::lock_guard<std::mutex> l(tree_mu_);
    if (closed_) return FailedPreconditionError("the audit log " + dir_ + " is closed");
    KP_RETURN_IF_ERROR(failed_);
    // Everything written so far is made durable and checkpointed: the
    // prefix up to here is what may be erased.
    KP_RETURN_IF_ERROR(SignCheckpointLocked().status());
    limit = records_->Size();
    limit_size = range_.size();
  }
  // The long part, without the lock: appends go on after `limit`.
  KP_ASSIGN_OR_RETURN(PrefixRewrite rw, RewritePrefixErasing(*storage_, dir_, limit, now_millis));
  EraseSummary summary;
  if (rw.out == nullptr) return summary;
  // The bulk reaches the disk before the lock is taken, so that the sync
  // under it covers only the tail.
  if (Status s = rw.out->Sync(); !s.ok()) {
    rw.out.reset();
    (void)storage_->RemoveFile(rw.tmp_path);
    return s;
  }
  // The old file's handle is closed only after the lock is released:
  // freeing a large file's blocks takes a while.
  std::unique_ptr<LogFile> old_records;
  std::lock_guard<std::mutex> l(tree_mu_);
  auto drop = [&](Status s) {
    rw.out.reset();
    (void)storage_->RemoveFile(rw.tmp_path);
    return s;
  };
  if (closed_)
    return drop(FailedPreconditionError("the audit log " + dir_ + " was closed during the erasure"));
  if (!failed_.ok()) return drop(failed_);
  // The frames appended meanwhile go over byte for byte (buffered ones
  // too: in the new file they are synced with the rest).
  std::string chunk;
  for (uint64_t at = rw.source_end; at < records_->Size();) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(records_->Size() - at, 1 << 20));
    if (Status s = records_->ReadAt(at, n, chunk); !s.ok()) return drop(s);
    if (chunk.empty()) return drop(DataLossError("audit log " + dir_ + ": records file ended early"));
    if (Status s = rw.out->Append(chunk); !s.ok()) return drop(s);
    at += chunk.size();
  }
  if (Status s = rw.out->Sync(); !s.ok()) return drop(s);
  rw.out.reset();
  Status renamed = storage_->RenameDurable(rw.tmp_path, Path(kRecordsFileName));
  if (!renamed.ok()) {
    (void)storage_->RemoveFile(rw.tmp_path);
    return renamed;  // the old file is still in place and open
  }
  ++rewrites_;
  auto reopened = storage_->OpenFile(Path(kRecordsFileName), false);
  if (!reopened.ok()) {
    failed_ =
        reopened.status().WithContext("audit log records file could not be opened again after an erasure");
    return failed_;
  }
  old_records = std::move(records_);
  records_ = std::move(reopened).value();
  unsynced_ = false;  // the new file was synced whole
  // The recovery point moved with the file (a checkpoint signed meanwhile
  // wrote one in the old file's offsets): the prefix's end, checkpointed,
  // is one in the new file. The next checkpoint moves it on.
  KP_RETURN_IF_ERROR(storage_->WriteFileAtomic(
      Path(kStateFileName), FormatLogState(LogState{limit_size, rw.outcome.new_limit_offset})));
  summary.erased = rw.outcome.erased;
  summary.first_index = rw.outcome.first_index;
  summary.last_index = rw.outcome.last_index;
  return summary;
}

uint64_t LogWriter::rewrites() const {
  std::lock_guard<std::mutex> l(tree_mu_);
  return rewrites_;
}

Result<EraseSummary> LogWriter::EraseExpired(int64_t now_millis) {
  KP_ASSIGN_OR_RETURN(EraseSummary summary, EraseExpiredBodies(now_millis));
  if (summary.erased == 0) return summary;
  ketenpoort::v1::AuditRecord rec;
  rec.set_event(ketenpoort::v1::AUDIT_EVENT_ERASURE);
  rec.mutable_actor()->set_participant_id(signer_.origin());
  rec.mutable_actor()->set_role("audit-log");
  rec.mutable_erasure()->set_erased_records(summary.erased);
  rec.mutable_erasure()->set_first_index(summary.first_index);
  rec.mutable_erasure()->set_last_index(summary.last_index);
  rec.set_reason("retention ended");
  KP_ASSIGN_OR_RETURN(AppendReceipt receipt, Append(std::move(rec)));
  summary.erasure_record_index = receipt.index;
  return summary;
}

Status LogWriter::Close() {
  {
    std::lock_guard<std::mutex> l(queue_mu_);
    if (closing_ && !committer_.joinable()) return OkStatus();
    closing_ = true;
    queue_cv_.notify_all();
  }
  if (committer_.joinable()) committer_.join();
  std::lock_guard<std::mutex> erasing(erase_mu_);  // a running erasure finishes first
  std::lock_guard<std::mutex> l(tree_mu_);
  if (closed_) return OkStatus();
  closed_ = true;
  if (records_ == nullptr || tree_ == nullptr) return OkStatus();  // Open failed half-way
  Status s = failed_.ok() ? SignCheckpointLocked().status() : failed_;
  records_.reset();
  tree_.reset();
  lock_.reset();
  return s;
}

LogWriter::~LogWriter() {
  Status s = Close();
  if (!s.ok()) spdlog::warn("audit log {}: close: {}", dir_, s.ToString());
}

}  // namespace kp::audit
