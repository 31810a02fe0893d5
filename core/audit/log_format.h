// On-disk format of an audit log folder. The document is
// docs/audit-log-format.md; this header mirrors its constants and the record
// framing. Keep the two in step.
//
//   DIR/records          header "KPAUDIT-RECORDS1", then frames:
//                          u32be payload length | u32be masked CRC-32C(payload) | payload
//                          payload = u8 type | u64be index | body
//                          type 1 (record):    salt[32] | AuditRecord bytes
//                          type 2 (tombstone): i64be erased-at millis | commitment[32]
//   DIR/tree             32-byte node hashes in post-order (leaf, then the
//                        interior nodes it completes), 2n - popcount(n) of them
//   DIR/log.vkey         the checkpoint verifier key (one line)
//   DIR/checkpoint       the latest signed checkpoint (C2SP signed note)
//   DIR/checkpoints/NNN  every signed checkpoint, named by its tree size
//                        (20 digits)
//   DIR/state            "size S" and "records_offset O" of the latest
//                        checkpoint (where recovery starts)
//   DIR/LOCK             flock'd by the one writer
//
// The leaf data of record i is its commitment SHA-256(salt || record bytes);
// the leaf hash is SHA-256(0x00 || commitment).
#ifndef KETENPOORT_CORE_AUDIT_LOG_FORMAT_H_
#define KETENPOORT_CORE_AUDIT_LOG_FORMAT_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "core/base/status.h"
#include "core/crypto/sha256.h"

namespace kp::audit {

inline constexpr std::string_view kRecordsFileName = "records";
inline constexpr std::string_view kTreeFileName = "tree";
inline constexpr std::string_view kVerifierKeyFileName = "log.vkey";
inline constexpr std::string_view kCheckpointFileName = "checkpoint";
inline constexpr std::string_view kCheckpointsDirName = "checkpoints";
inline constexpr std::string_view kStateFileName = "state";
// Written by `ketenpoort-gateway restore` (gateway/backup.h): one line, the
// restore point, which the writer adds as an extension line to every
// checkpoint it signs ("ketenpoort-restored <size> <root base64> <backup id>",
// docs/audit-log-format.md §5a), so a holder of checkpoints signed before the
// restore can tell a restore from a fork.
inline constexpr std::string_view kRestoredFileName = "restored";
inline constexpr std::string_view kRestoredExtensionPrefix = "ketenpoort-restored ";

inline constexpr std::string_view kRecordsMagic = "KPAUDIT-RECORDS1";  // 16 bytes
inline constexpr size_t kFrameHeaderBytes = 8;
inline constexpr size_t kSaltBytes = 32;
inline constexpr size_t kMaxRecordBytes = 1 << 20;
inline constexpr size_t kMaxPayloadBytes = 1 + 8 + kSaltBytes + kMaxRecordBytes;

enum class FrameType : uint8_t {
  kRecord = 1,
  kTombstone = 2,
};

struct Frame {
  FrameType type = FrameType::kRecord;
  uint64_t index = 0;
  // kRecord
  std::string salt;
  std::string record;  // serialized ketenpoort.v1.AuditRecord
  // kTombstone
  int64_t erased_at_millis = 0;
  std::string commitment;
};

// A decoded frame whose fields point into the bytes it was decoded from
// (valid as long as they are): the verifier's hot path, without copies.
struct FrameView {
  FrameType type = FrameType::kRecord;
  uint64_t index = 0;
  // kRecord: salt || record, contiguous in the frame (the commitment's input).
  std::string_view salted_record;
  std::string_view salt() const { return salted_record.substr(0, kSaltBytes); }
  std::string_view record() const { return salted_record.substr(kSaltBytes); }
  // kTombstone
  int64_t erased_at_millis = 0;
  std::string_view commitment;
};

// CRC-32C (Castagnoli), masked as LevelDB does so that a CRC of data holding
// CRCs stays well distributed.
uint32_t Crc32c(std::string_view data);
uint32_t MaskCrc(uint32_t crc);

// SHA-256(salt || record): the leaf data.
std::string Commitment(std::string_view salt, std::string_view record);
// The commitment of a frame: computed for a record, stored for a tombstone.
std::string FrameCommitment(const Frame& frame);
Sha256Digest FrameCommitmentDigest(const FrameView& frame);

void AppendRecordFrame(std::string& out, uint64_t index, std::string_view salt, std::string_view record);
void AppendTombstoneFrame(std::string& out, uint64_t index, int64_t erased_at_millis,
                          std::string_view commitment);

enum class DecodeResult {
  kOk,
  kIncomplete,  // the data ends inside the frame (a torn tail, or read more)
  kCorrupt,     // bad length, CRC, type or body
};
// Decodes the frame at the start of `data`. On kOk sets *frame and
// *consumed; on kCorrupt sets *error.
DecodeResult DecodeFrame(std::string_view data, Frame* frame, size_t* consumed, std::string* error);
// The same checks, without copying: *frame points into `data`.
DecodeResult DecodeFrameView(std::string_view data, FrameView* frame, size_t* consumed, std::string* error);
// Only the first of those checks: the frame's length is in range and its
// bytes are all in `data`. kOk sets *size (header and payload); the rest
// (checksum, type, body) is DecodeFrameView's.
DecodeResult FrameSize(std::string_view data, size_t* size, std::string* error);

// 20-digit zero-padded file name of the checkpoint of size `size`.
std::string CheckpointFileName(uint64_t size);

}  // namespace kp::audit

#endif  // KETENPOORT_CORE_AUDIT_LOG_FORMAT_H_
