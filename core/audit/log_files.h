// Readers over the two data files of a log folder (log_format.h): the tree
// file of post-order node hashes and the records file of frames. Both borrow
// a LogFile that must outlive them. Not thread-safe.
#ifndef KETENPOORT_CORE_AUDIT_LOG_FILES_H_
#define KETENPOORT_CORE_AUDIT_LOG_FILES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "core/audit/log_format.h"
#include "core/audit/merkle.h"
#include "core/audit/storage.h"
#include "core/base/status.h"

namespace kp::audit {

class TreeFile {
 public:
  explicit TreeFile(const LogFile* file) : file_(file) {}
  // Leaves whose nodes are complete in the file.
  uint64_t CompleteSize() const { return TreeSizeForNodeCount(file_->Size() / kHashBytes); }
  Result<std::string> Node(int level, uint64_t index) const;
  NodeReader Reader() const;
  // The compact range of the first `size` leaves, read from the file.
  Result<CompactRange> RangeAt(uint64_t size) const;
  Result<std::string> RootAt(uint64_t size) const;

 private:
  const LogFile* file_;
};

// Streams frames from a records file in large chunks.
class RecordScanner {
 public:
  RecordScanner(const LogFile* file, uint64_t offset) : file_(file), offset_(offset) {}
  // kOk: *frame is the next frame. kIncomplete: the file ends (AtEnd() says
  // whether cleanly). kCorrupt: *error says why; offset() is the bad frame.
  DecodeResult Next(Frame* frame, std::string* error);
  // Up to `max` frames at once, without copying them: *frames (cleared
  // first) point into the scanner's buffer. kOk: at least one frame (a
  // shorter batch does not mean the end). Otherwise no frame, and the same
  // meaning as Next. Each frame's bytes (header and payload) come undecoded:
  // only its length is checked (FrameSize), so a frame with a bad checksum,
  // type or body is returned, not reported; DecodeFrameView on it checks the
  // rest. Lets a caller spread the decoding over threads. The frames stay
  // valid through the next call too (the scanner refills into a second
  // buffer), so a caller can check one batch while it reads the next.
  DecodeResult NextRawBatch(size_t max, std::vector<std::string_view>* frames, std::string* error);
  // The file offset of the next frame, and of the frame just returned.
  uint64_t offset() const { return offset_; }
  uint64_t frame_offset() const { return frame_offset_; }
  // The raw bytes of the frame just returned.
  std::string_view frame_bytes() const { return last_frame_; }
  bool AtEnd() const { return offset_ >= file_->Size(); }

 private:
  const LogFile* file_;
  uint64_t offset_;
  uint64_t frame_offset_ = 0;
  std::string buffer_;
  std::string spare_;  // the buffer before the last refill, left intact
  std::string chunk_;  // kept: a fresh 1 MiB string per read is an mmap and a memset
  size_t buffer_pos_ = 0;
  uint64_t buffer_offset_ = 0;  // file offset of buffer_[0]
  std::string_view last_frame_;

  // Moves the unread rest of the buffer to its front and reads the next
  // chunk after it. kOk: more bytes; kIncomplete: the file has no more.
  DecodeResult Refill(std::string* error);
};

// Checks the records file header.
Status CheckRecordsHeader(const LogFile& file, const std::string& path);

// The recovery starting point written with each checkpoint.
struct LogState {
  uint64_t size = 0;
  uint64_t records_offset = kRecordsMagic.size();
};
std::string FormatLogState(const LogState& state);
Result<LogState> ParseLogState(std::string_view text);

}  // namespace kp::audit

#endif  // KETENPOORT_CORE_AUDIT_LOG_FILES_H_
