#include "core/audit/log_format.h"

#include <array>
#include <cstdio>
#include <cstring>

#include "core/crypto/sha256.h"

namespace kp::audit {
namespace {

constexpr uint32_t kCrcMaskDelta = 0xa282ead8u;

std::array<uint32_t, 256> MakeCrcTable() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
    t[i] = c;
  }
  return t;
}

uint32_t Crc32cPortable(std::string_view data) {
  static const std::array<uint32_t, 256> table = MakeCrcTable();
  uint32_t c = 0xffffffffu;
  for (unsigned char b : data) c = table[(c ^ b) & 0xff] ^ (c >> 8);
  return c ^ 0xffffffffu;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t Crc32cSse42(std::string_view data) {
  uint64_t c = 0xffffffffu;
  const char* p = data.data();
  size_t n = data.size();
  while (n >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    c = __builtin_ia32_crc32di(c, v);
    p += 8;
    n -= 8;
  }
  uint32_t c32 = static_cast<uint32_t>(c);
  while (n > 0) {
    c32 = __builtin_ia32_crc32qi(c32, static_cast<unsigned char>(*p));
    ++p;
    --n;
  }
  return c32 ^ 0xffffffffu;
}
#endif

uint32_t ReadU32BE(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{u[0]} << 24) | (uint32_t{u[1]} << 16) | (uint32_t{u[2]} << 8) | uint32_t{u[3]};
}

uint64_t ReadU64BE(const char* p) { return (uint64_t{ReadU32BE(p)} << 32) | ReadU32BE(p + 4); }

void PutU32BE(std::string& out, uint32_t v) {
  char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
               static_cast<char>(v)};
  out.append(b, 4);
}

void PutU64BE(std::string& out, uint64_t v) {
  PutU32BE(out, static_cast<uint32_t>(v >> 32));
  PutU32BE(out, static_cast<uint32_t>(v));
}

// Writes the frame header in front of a payload already appended at `start`.
void FinishFrame(std::string& out, size_t header_pos) {
  std::string_view payload(out.data() + header_pos + kFrameHeaderBytes,
                           out.size() - header_pos - kFrameHeaderBytes);
  uint32_t len = static_cast<uint32_t>(payload.size());
  uint32_t crc = MaskCrc(Crc32c(payload));
  char* h = out.data() + header_pos;
  for (int i = 0; i < 4; ++i) {
    h[i] = static_cast<char>(len >> (24 - 8 * i));
    h[4 + i] = static_cast<char>(crc >> (24 - 8 * i));
  }
}

}  // namespace

uint32_t Crc32c(std::string_view data) {
#if defined(__x86_64__)
  static const bool has_sse42 = __builtin_cpu_supports("sse4.2");
  if (has_sse42) return Crc32cSse42(data);
#endif
  return Crc32cPortable(data);
}

uint32_t MaskCrc(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + kCrcMaskDelta; }

std::string Commitment(std::string_view salt, std::string_view record) {
  Sha256Digest d = Sha256(salt, record);
  return std::string(reinterpret_cast<const char*>(d.data()), d.size());
}

Sha256Digest FrameCommitmentDigest(const FrameView& frame) {
  if (frame.type == FrameType::kTombstone) {
    Sha256Digest d;
    std::memcpy(d.data(), frame.commitment.data(), d.size());
    return d;
  }
  // salt || record lie contiguous in the frame.
  return Sha256(frame.salted_record);
}

std::string FrameCommitment(const Frame& frame) {
  if (frame.type == FrameType::kTombstone) return frame.commitment;
  return Commitment(frame.salt, frame.record);
}

void AppendRecordFrame(std::string& out, uint64_t index, std::string_view salt, std::string_view record) {
  size_t start = out.size();
  out.append(kFrameHeaderBytes, '\0');
  out.push_back(static_cast<char>(FrameType::kRecord));
  PutU64BE(out, index);
  out.append(salt);
  out.append(record);
  FinishFrame(out, start);
}

void AppendTombstoneFrame(std::string& out, uint64_t index, int64_t erased_at_millis,
                          std::string_view commitment) {
  size_t start = out.size();
  out.append(kFrameHeaderBytes, '\0');
  out.push_back(static_cast<char>(FrameType::kTombstone));
  PutU64BE(out, index);
  PutU64BE(out, static_cast<uint64_t>(erased_at_millis));
  out.append(commitment);
  FinishFrame(out, start);
}

DecodeResult FrameSize(std::string_view data, size_t* size, std::string* error) {
  if (data.size() < kFrameHeaderBytes) return DecodeResult::kIncomplete;
  uint32_t len = ReadU32BE(data.data());
  if (len < 1 + 8 || len > kMaxPayloadBytes) {
    *error = "frame length " + std::to_string(len) + " is out of range";
    return DecodeResult::kCorrupt;
  }
  if (data.size() - kFrameHeaderBytes < len) return DecodeResult::kIncomplete;
  *size = kFrameHeaderBytes + len;
  return DecodeResult::kOk;
}

DecodeResult DecodeFrameView(std::string_view data, FrameView* frame, size_t* consumed, std::string* error) {
  size_t size = 0;
  DecodeResult sized = FrameSize(data, &size, error);
  if (sized != DecodeResult::kOk) return sized;
  const uint32_t len = static_cast<uint32_t>(size - kFrameHeaderBytes);
  uint32_t crc = ReadU32BE(data.data() + 4);
  std::string_view payload = data.substr(kFrameHeaderBytes, len);
  if (MaskCrc(Crc32c(payload)) != crc) {
    *error = "frame checksum does not match";
    return DecodeResult::kCorrupt;
  }
  auto type = static_cast<uint8_t>(payload[0]);
  frame->index = ReadU64BE(payload.data() + 1);
  std::string_view body = payload.substr(9);
  if (type == static_cast<uint8_t>(FrameType::kRecord)) {
    if (body.size() < kSaltBytes) {
      *error = "record frame is shorter than its salt";
      return DecodeResult::kCorrupt;
    }
    frame->type = FrameType::kRecord;
    frame->salted_record = body;
    frame->commitment = {};
    frame->erased_at_millis = 0;
  } else if (type == static_cast<uint8_t>(FrameType::kTombstone)) {
    if (body.size() != 8 + 32) {
      *error = "tombstone frame has the wrong length";
      return DecodeResult::kCorrupt;
    }
    frame->type = FrameType::kTombstone;
    frame->erased_at_millis = static_cast<int64_t>(ReadU64BE(body.data()));
    frame->commitment = body.substr(8);
    frame->salted_record = {};
  } else {
    *error = "unknown frame type " + std::to_string(type);
    return DecodeResult::kCorrupt;
  }
  *consumed = kFrameHeaderBytes + len;
  return DecodeResult::kOk;
}

DecodeResult DecodeFrame(std::string_view data, Frame* frame, size_t* consumed, std::string* error) {
  FrameView view;
  DecodeResult r = DecodeFrameView(data, &view, consumed, error);
  if (r != DecodeResult::kOk) return r;
  frame->type = view.type;
  frame->index = view.index;
  frame->erased_at_millis = view.erased_at_millis;
  if (view.type == FrameType::kRecord) {
    frame->salt.assign(view.salt());
    frame->record.assign(view.record());
    frame->commitment.clear();
  } else {
    frame->commitment.assign(view.commitment);
    frame->salt.clear();
    frame->record.clear();
  }
  return r;
}

std::string CheckpointFileName(uint64_t size) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%020llu", static_cast<unsigned long long>(size));
  return buf;
}

}  // namespace kp::audit
