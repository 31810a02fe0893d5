#include "core/audit/log_eraser.h"

#include "core/audit/log_files.h"
#include "core/audit/log_format.h"
#include "ketenpoort/v1/audit.pb.h"

namespace kp::audit {

Result<RewriteOutcome> RewriteRecordsErasing(Storage& storage, const std::string& dir, uint64_t limit_offset,
                                             int64_t now_millis) {
  std::string path = dir + "/" + std::string(kRecordsFileName);
  std::string tmp_path = path + ".erase-tmp";
  KP_ASSIGN_OR_RETURN(std::unique_ptr<LogFile> in, storage.OpenReadOnly(path));
  KP_RETURN_IF_ERROR(CheckRecordsHeader(*in, path));
  KP_RETURN_IF_ERROR(storage.RemoveFile(tmp_path));
  KP_ASSIGN_OR_RETURN(std::unique_ptr<LogFile> out, storage.OpenFile(tmp_path, true));
  KP_RETURN_IF_ERROR(out->Truncate(0));
  KP_RETURN_IF_ERROR(out->Append(kRecordsMagic));

  RewriteOutcome outcome;
  outcome.new_limit_offset = limit_offset;
  RecordScanner scanner(in.get(), kRecordsMagic.size());
  Frame frame;
  std::string error;
  std::string buf;
  bool limit_mapped = false;
  for (;;) {
    if (!limit_mapped && scanner.offset() >= limit_offset) {
      outcome.new_limit_offset = out->Size() + buf.size();
      limit_mapped = true;
    }
    DecodeResult r = scanner.Next(&frame, &error);
    if (r == DecodeResult::kIncomplete && scanner.AtEnd()) break;
    if (r != DecodeResult::kOk) {
      (void)storage.RemoveFile(tmp_path);
      return DataLossError(path + ": record frame at offset " + std::to_string(scanner.offset()) +
                           " is damaged (" + (error.empty() ? "incomplete" : error) +
                           "); run 'ketenpoort audit verify' first");
    }
    bool erase = false;
    if (frame.type == FrameType::kRecord && scanner.frame_offset() < limit_offset) {
      ketenpoort::v1::AuditRecord rec;
      if (rec.ParseFromString(frame.record) && rec.retention_until_unix_millis() > 0 &&
          rec.retention_until_unix_millis() <= now_millis) {
        erase = true;
      }
    }
    if (erase) {
      AppendTombstoneFrame(buf, frame.index, now_millis, FrameCommitment(frame));
      if (outcome.erased == 0) outcome.first_index = frame.index;
      outcome.last_index = frame.index;
      ++outcome.erased;
    } else {
      buf.append(scanner.frame_bytes());
    }
    if (buf.size() >= (1 << 20)) {
      KP_RETURN_IF_ERROR(out->Append(buf));
      buf.clear();
    }
  }
  if (!limit_mapped) outcome.new_limit_offset = out->Size() + buf.size();
  KP_RETURN_IF_ERROR(out->Append(buf));
  if (outcome.erased == 0) {
    out.reset();
    KP_RETURN_IF_ERROR(storage.RemoveFile(tmp_path));
    outcome.new_limit_offset = limit_offset;
    return outcome;
  }
  KP_RETURN_IF_ERROR(out->Sync());
  out.reset();
  in.reset();
  KP_RETURN_IF_ERROR(storage.RenameDurable(tmp_path, path));
  return outcome;
}

Result<EraseSummary> EraseExpiredOffline(const std::string& dir, int64_t now_millis, Storage* storage) {
  Storage& st = storage != nullptr ? *storage : PosixStorage();
  KP_ASSIGN_OR_RETURN(std::unique_ptr<FolderLock> lock, st.LockFolder(dir));
  std::string state_path = dir + "/" + std::string(kStateFileName);
  if (!st.Exists(state_path)) return FailedPreconditionError(dir + " has no checkpoint yet; nothing can be erased");
  KP_ASSIGN_OR_RETURN(std::string text, st.ReadSmallFile(state_path, 4096));
  KP_ASSIGN_OR_RETURN(LogState state, ParseLogState(text));
  KP_ASSIGN_OR_RETURN(RewriteOutcome outcome, RewriteRecordsErasing(st, dir, state.records_offset, now_millis));
  if (outcome.erased > 0) {
    state.records_offset = outcome.new_limit_offset;
    KP_RETURN_IF_ERROR(st.WriteFileAtomic(state_path, FormatLogState(state)));
  }
  EraseSummary summary;
  summary.erased = outcome.erased;
  summary.first_index = outcome.first_index;
  summary.last_index = outcome.last_index;
  return summary;
}

}  // namespace kp::audit
