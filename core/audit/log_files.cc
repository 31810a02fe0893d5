#include "core/audit/log_files.h"

#include <algorithm>
#include <bit>
#include <charconv>

namespace kp::audit {

Result<std::string> TreeFile::Node(int level, uint64_t index) const {
  uint64_t pos = PostOrderPosition(level, index);
  std::string out;
  KP_RETURN_IF_ERROR(file_->ReadAt(pos * kHashBytes, kHashBytes, out));
  if (out.size() != kHashBytes) {
    return DataLossError("tree file ends before node (" + std::to_string(level) + ", " +
                         std::to_string(index) + ")");
  }
  return out;
}

NodeReader TreeFile::Reader() const {
  return [this](int level, uint64_t index) { return Node(level, index); };
}

Result<CompactRange> TreeFile::RangeAt(uint64_t size) const {
  std::vector<std::string> hashes;
  uint64_t begin = 0;
  for (int level = 63; level >= 0; --level) {
    uint64_t bit = uint64_t{1} << level;
    if ((size & bit) == 0) continue;
    KP_ASSIGN_OR_RETURN(std::string h, Node(level, begin >> level));
    hashes.push_back(std::move(h));
    begin += bit;
  }
  return CompactRange::FromHashes(size, std::move(hashes));
}

Result<std::string> TreeFile::RootAt(uint64_t size) const {
  if (size == 0) return EmptyRoot();
  return SubtreeRoot(Reader(), 0, size);
}

DecodeResult RecordScanner::Next(Frame* frame, std::string* error) {
  for (;;) {
    std::string_view avail(buffer_.data() + buffer_pos_, buffer_.size() - buffer_pos_);
    size_t consumed = 0;
    DecodeResult r = DecodeFrame(avail, frame, &consumed, error);
    if (r == DecodeResult::kOk) {
      last_frame_ = avail.substr(0, consumed);
      frame_offset_ = offset_;
      buffer_pos_ += consumed;
      offset_ += consumed;
      return r;
    }
    if (r == DecodeResult::kCorrupt) return r;
    r = Refill(error);
    if (r != DecodeResult::kOk) return r;
  }
}

DecodeResult RecordScanner::NextRawBatch(size_t max, std::vector<std::string_view>* frames,
                                         std::string* error) {
  frames->clear();
  for (;;) {
    DecodeResult r = DecodeResult::kOk;
    while (frames->size() < max) {
      std::string_view avail(buffer_.data() + buffer_pos_, buffer_.size() - buffer_pos_);
      size_t size = 0;
      r = FrameSize(avail, &size, error);
      if (r != DecodeResult::kOk) break;
      last_frame_ = avail.substr(0, size);
      frame_offset_ = offset_;
      buffer_pos_ += size;
      offset_ += size;
      frames->push_back(last_frame_);
    }
    if (!frames->empty()) return DecodeResult::kOk;
    if (r == DecodeResult::kCorrupt) return r;
    r = Refill(error);
    if (r != DecodeResult::kOk) return r;
  }
}

DecodeResult RecordScanner::Refill(std::string* error) {
  constexpr size_t kChunk = 1 << 20;
  const size_t rest = buffer_.size() - buffer_pos_;
  uint64_t file_end = file_->Size();
  uint64_t have_end = buffer_offset_ + buffer_.size();
  if (buffer_.empty()) have_end = offset_;
  if (have_end >= file_end) return DecodeResult::kIncomplete;
  // The unread rest moves to the front and the next chunk goes after it
  // (one copy of each chunk, not two).
  size_t want = std::max(kChunk, kFrameHeaderBytes + kMaxPayloadBytes - rest);
  Status s = file_->ReadAt(offset_ + rest, want, chunk_);
  if (!s.ok()) {
    *error = s.message();
    return DecodeResult::kCorrupt;
  }
  if (chunk_.empty()) return DecodeResult::kIncomplete;
  // Into the other buffer: the frames of the previous call still point into
  // this one (NextRawBatch).
  spare_.assign(buffer_, buffer_pos_, rest);
  spare_ += chunk_;
  buffer_.swap(spare_);
  buffer_pos_ = 0;
  buffer_offset_ = offset_;
  return DecodeResult::kOk;
}

Status CheckRecordsHeader(const LogFile& file, const std::string& path) {
  std::string head;
  KP_RETURN_IF_ERROR(file.ReadAt(0, kRecordsMagic.size(), head));
  if (head != kRecordsMagic) return DataLossError(path + " does not start with the audit records header");
  return OkStatus();
}

std::string FormatLogState(const LogState& state) {
  return "ketenpoort-audit-state 1\nsize " + std::to_string(state.size) + "\nrecords_offset " +
         std::to_string(state.records_offset) + "\n";
}

Result<LogState> ParseLogState(std::string_view text) {
  auto field = [&](std::string_view key) -> Result<uint64_t> {
    std::string needle = "\n" + std::string(key) + " ";
    size_t p = text.find(needle);
    if (p == std::string_view::npos) return DataLossError("state file lacks " + std::string(key));
    p += needle.size();
    size_t e = text.find('\n', p);
    if (e == std::string_view::npos) return DataLossError("state file is cut off");
    uint64_t v = 0;
    auto [ptr, ec] = std::from_chars(text.data() + p, text.data() + e, v);
    if (ec != std::errc() || ptr != text.data() + e)
      return DataLossError("state file " + std::string(key) + " is not a number");
    return v;
  };
  if (text.substr(0, 25) != "ketenpoort-audit-state 1\n")
    return DataLossError("state file has an unknown header");
  LogState s;
  KP_ASSIGN_OR_RETURN(s.size, field("size"));
  KP_ASSIGN_OR_RETURN(s.records_offset, field("records_offset"));
  return s;
}

}  // namespace kp::audit
