#include "core/audit/log_reader.h"

#include "core/audit/merkle.h"

namespace kp::audit {

Result<std::unique_ptr<LogReader>> LogReader::Open(const std::string& dir, Storage* storage) {
  std::unique_ptr<LogReader> r(new LogReader());
  r->dir_ = dir;
  r->storage_ = storage != nullptr ? storage : &PosixStorage();
  std::string records_path = dir + "/" + std::string(kRecordsFileName);
  if (!r->storage_->Exists(records_path)) return NotFoundError(dir + " is not an audit log folder (no records file)");
  KP_ASSIGN_OR_RETURN(r->records_, r->storage_->OpenReadOnly(records_path));
  KP_ASSIGN_OR_RETURN(r->tree_, r->storage_->OpenReadOnly(dir + "/" + std::string(kTreeFileName)));
  KP_RETURN_IF_ERROR(CheckRecordsHeader(*r->records_, records_path));
  return r;
}

uint64_t LogReader::TreeSize() const { return TreeFile(tree_.get()).CompleteSize(); }

Result<std::string> LogReader::LeafHash(uint64_t index) const {
  if (index >= TreeSize()) return OutOfRangeError("index " + std::to_string(index) + " is beyond the log");
  return TreeFile(tree_.get()).Node(0, index);
}

Result<std::string> LogReader::RootAt(uint64_t size) const {
  if (size > TreeSize()) return OutOfRangeError("size " + std::to_string(size) + " is beyond the log");
  return TreeFile(tree_.get()).RootAt(size);
}

Result<std::vector<std::string>> LogReader::InclusionProof(uint64_t index, uint64_t size) const {
  if (size > TreeSize()) return OutOfRangeError("size " + std::to_string(size) + " is beyond the log");
  TreeFile tree(tree_.get());
  return kp::audit::InclusionProof(tree.Reader(), index, size);
}

Result<std::vector<std::string>> LogReader::ConsistencyProof(uint64_t size1, uint64_t size2) const {
  if (size2 > TreeSize()) return OutOfRangeError("size " + std::to_string(size2) + " is beyond the log");
  TreeFile tree(tree_.get());
  return kp::audit::ConsistencyProof(tree.Reader(), size1, size2);
}

Result<NoteVerifierKey> LogReader::FolderVerifierKey() const {
  KP_ASSIGN_OR_RETURN(std::string text,
                      storage_->ReadSmallFile(dir_ + "/" + std::string(kVerifierKeyFileName), 4096));
  return ParseVerifierKey(text);
}

Result<std::string> LogReader::LatestCheckpointNote() const {
  return storage_->ReadSmallFile(dir_ + "/" + std::string(kCheckpointFileName), kMaxNoteBytes);
}

Status LogReader::ForEachEntry(const std::function<Status(const LogEntry&)>& fn) const {
  RecordScanner scanner(records_.get(), kRecordsMagic.size());
  Frame frame;
  std::string error;
  LogEntry entry;
  for (uint64_t i = 0;; ++i) {
    DecodeResult r = scanner.Next(&frame, &error);
    if (r == DecodeResult::kIncomplete && scanner.AtEnd()) return OkStatus();
    if (r == DecodeResult::kIncomplete) return DataLossError("record " + std::to_string(i) + ": frame is cut off");
    if (r == DecodeResult::kCorrupt) return DataLossError("record " + std::to_string(i) + ": " + error);
    if (frame.index != i) {
      return DataLossError("record " + std::to_string(i) + ": frame carries index " + std::to_string(frame.index));
    }
    entry.index = i;
    entry.erased = frame.type == FrameType::kTombstone;
    entry.erased_at_millis = frame.erased_at_millis;
    entry.record.Clear();
    if (!entry.erased && !entry.record.ParseFromString(frame.record)) {
      return DataLossError("record " + std::to_string(i) + ": not a valid AuditRecord");
    }
    KP_RETURN_IF_ERROR(fn(entry));
  }
}

}  // namespace kp::audit
