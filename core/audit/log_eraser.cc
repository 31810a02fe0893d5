#include "core/audit/log_eraser.h"

#include "core/audit/log_files.h"
#include "core/audit/log_format.h"
#include "ketenpoort/v1/audit.pb.h"

namespace kp::audit {

namespace {

constexpr uint64_t kSyncEveryBytes = 8 << 20;

bool Expired(const Frame& frame, int64_t now_millis) {
  if (frame.type != FrameType::kRecord) return false;
  ketenpoort::v1::AuditRecord rec;
  return rec.ParseFromString(frame.record) && rec.retention_until_unix_millis() > 0 &&
         rec.retention_until_unix_millis() <= now_millis;
}

Status Damaged(const std::string& path, uint64_t offset, const std::string& error) {
  return DataLossError(path + ": record frame at offset " + std::to_string(offset) + " is damaged (" +
                       (error.empty() ? "incomplete" : error) + "); run 'ketenpoort audit verify' first");
}

}  // namespace

Result<PrefixRewrite> RewritePrefixErasing(Storage& storage, const std::string& dir, uint64_t limit_offset,
                                           int64_t now_millis) {
  const std::string path = dir + "/" + std::string(kRecordsFileName);
  PrefixRewrite rw;
  rw.tmp_path = path + ".erase-tmp";
  KP_ASSIGN_OR_RETURN(std::unique_ptr<LogFile> in, storage.OpenReadOnly(path));
  KP_RETURN_IF_ERROR(CheckRecordsHeader(*in, path));
  KP_RETURN_IF_ERROR(storage.RemoveFile(rw.tmp_path));
  KP_ASSIGN_OR_RETURN(rw.out, storage.OpenFile(rw.tmp_path, true));
  auto fail = [&](Status s) {
    rw.out.reset();
    (void)storage.RemoveFile(rw.tmp_path);
    return s;
  };
  if (Status s = rw.out->Truncate(0); !s.ok()) return fail(s);
  if (Status s = rw.out->Append(kRecordsMagic); !s.ok()) return fail(s);
  // Frames before `limit_offset` are complete and never change while a
  // writer appends after them, so this runs beside the writer.
  RecordScanner scanner(in.get(), kRecordsMagic.size());
  Frame frame;
  std::string error;
  std::string buf;
  uint64_t synced = 0;
  while (scanner.offset() < limit_offset) {
    DecodeResult r = scanner.Next(&frame, &error);
    if (r == DecodeResult::kIncomplete && scanner.AtEnd()) break;
    if (r != DecodeResult::kOk) return fail(Damaged(path, scanner.offset(), error));
    if (Expired(frame, now_millis)) {
      AppendTombstoneFrame(buf, frame.index, now_millis, FrameCommitment(frame));
      if (rw.outcome.erased == 0) rw.outcome.first_index = frame.index;
      rw.outcome.last_index = frame.index;
      ++rw.outcome.erased;
    } else {
      buf.append(scanner.frame_bytes());
    }
    if (buf.size() >= (1 << 20)) {
      if (Status s = rw.out->Append(buf); !s.ok()) return fail(s);
      buf.clear();
      // Written back as it goes, a little at a time: one large sync at the
      // end would hold up the running writer's own syncs behind it.
      if (rw.out->Size() - synced >= kSyncEveryBytes) {
        if (Status s = rw.out->Sync(); !s.ok()) return fail(s);
        synced = rw.out->Size();
      }
    }
  }
  if (Status s = rw.out->Append(buf); !s.ok()) return fail(s);
  rw.source_end = scanner.offset();
  rw.outcome.new_limit_offset = rw.out->Size();
  if (rw.outcome.erased == 0) {
    (void)fail(OkStatus());
    rw.outcome.new_limit_offset = rw.source_end;
  }
  return rw;
}

Result<RewriteOutcome> RewriteRecordsErasing(Storage& storage, const std::string& dir, uint64_t limit_offset,
                                             int64_t now_millis) {
  const std::string path = dir + "/" + std::string(kRecordsFileName);
  KP_ASSIGN_OR_RETURN(PrefixRewrite rw, RewritePrefixErasing(storage, dir, limit_offset, now_millis));
  if (rw.out == nullptr) {
    rw.outcome.new_limit_offset = limit_offset;
    return rw.outcome;
  }
  auto fail = [&](Status s) {
    rw.out.reset();
    (void)storage.RemoveFile(rw.tmp_path);
    return s;
  };
  // The frames after the limit (not yet checkpointed) go over unchanged,
  // each checked first.
  auto in = storage.OpenReadOnly(path);
  if (!in.ok()) return fail(in.status());
  RecordScanner scanner(in->get(), rw.source_end);
  Frame frame;
  std::string error;
  std::string buf;
  for (;;) {
    DecodeResult r = scanner.Next(&frame, &error);
    if (r == DecodeResult::kIncomplete && scanner.AtEnd()) break;
    if (r != DecodeResult::kOk) return fail(Damaged(path, scanner.offset(), error));
    buf.append(scanner.frame_bytes());
    if (buf.size() >= (1 << 20)) {
      if (Status s = rw.out->Append(buf); !s.ok()) return fail(s);
      buf.clear();
    }
  }
  if (Status s = rw.out->Append(buf); !s.ok()) return fail(s);
  if (Status s = rw.out->Sync(); !s.ok()) return fail(s);
  rw.out.reset();
  in->reset();
  KP_RETURN_IF_ERROR(storage.RenameDurable(rw.tmp_path, path));
  return rw.outcome;
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
