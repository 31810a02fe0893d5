// libFuzzer target for everything the audit log parses from untrusted
// bytes: checkpoint notes (C2SP signed notes), verifier keys, proof JSON
// files (`ketenpoort audit verify-proof`), record files (frames, CRCs,
// AuditRecord protobufs) and the verifier's quick wire check of a record
// (record_wire.h). The first byte picks the parser: 'c' note, 'k' verifier
// key, 'p' proof JSON, 'r' records file, 'w' one record's bytes; anything
// else goes to all five. Nothing here may crash, a note that verifies must
// round-trip, and a record the quick check passes must parse with protobuf
// to the same index and event.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/audit/checkpoint.h"
#include "core/audit/log_files.h"
#include "core/audit/log_format.h"
#include "core/audit/merkle.h"
#include "core/audit/proof_json.h"
#include "core/audit/record_wire.h"
#include "core/audit/storage.h"
#include "tests/audit/audit_test_util.h"

namespace {

// A records file in memory.
class MemoryFile final : public kp::audit::LogFile {
 public:
  explicit MemoryFile(std::string_view data) : data_(data) {}
  kp::Status Append(std::string_view) override { return kp::UnimplementedError("read-only"); }
  kp::Status ReadAt(uint64_t offset, size_t n, std::string& out) const override {
    out = offset >= data_.size() ? std::string() : std::string(data_.substr(offset, n));
    return kp::OkStatus();
  }
  uint64_t Size() const override { return data_.size(); }
  kp::Status Truncate(uint64_t) override { return kp::UnimplementedError("read-only"); }
  kp::Status Sync() override { return kp::OkStatus(); }

 private:
  std::string_view data_;
};

void FuzzNote(std::string_view input) {
  static const kp::audit::LogSigner signer = kp::audit::testing::TestSigner();
  auto cp = kp::audit::OpenCheckpoint(input, signer.verifier_key(), "");
  if (cp.ok()) {
    // What verifies must be exactly what was signed.
    std::string body = kp::audit::FormatCheckpointBody(*cp);
    if (input.substr(0, body.size()) != body) __builtin_trap();
  }
  (void)kp::audit::ParseSignedNote(input);
  (void)kp::audit::ParseCheckpointBody(input);
}

void FuzzKey(std::string_view input) {
  auto key = kp::audit::ParseVerifierKey(input);
  if (key.ok() && kp::audit::ParseVerifierKey(kp::audit::FormatVerifierKey(*key)).status().code() !=
                      kp::StatusCode::kOk) {
    __builtin_trap();
  }
}

void FuzzProof(std::string_view input) { (void)kp::audit::CheckProofJson(input); }

void FuzzRecords(std::string_view input) {
  MemoryFile file(input);
  (void)kp::audit::CheckRecordsHeader(file, "fuzz");
  kp::audit::RecordScanner scanner(&file, input.size() >= 16 ? 16 : 0);
  kp::audit::Frame frame;
  std::string error;
  kp::audit::CompactRange range;
  ketenpoort::v1::AuditRecord rec;
  for (int i = 0; i < 10000; ++i) {
    if (scanner.Next(&frame, &error) != kp::audit::DecodeResult::kOk) break;
    if (frame.type == kp::audit::FrameType::kRecord) (void)rec.ParseFromString(frame.record);
    range.Append(kp::audit::HashLeaf(kp::audit::FrameCommitment(frame)));
  }
  (void)range.Root();
}

void FuzzRecordWire(std::string_view input) {
  uint64_t index = 0;
  int32_t event = 0;
  if (kp::audit::CheckAuditRecordWire(input, &index, &event) != kp::audit::WireCheck::kParses) return;
  // One-sided: what the quick check passes, protobuf must parse alike.
  ketenpoort::v1::AuditRecord rec;
  if (!rec.ParseFromArray(input.data(), static_cast<int>(input.size()))) __builtin_trap();
  if (rec.index() != index || static_cast<int32_t>(rec.event()) != event) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view all(reinterpret_cast<const char*>(data), size);
  std::string_view rest = all.substr(1);
  switch (all[0]) {
    case 'c':
      FuzzNote(rest);
      break;
    case 'k':
      FuzzKey(rest);
      break;
    case 'p':
      FuzzProof(rest);
      break;
    case 'r':
      FuzzRecords(rest);
      break;
    case 'w':
      FuzzRecordWire(rest);
      break;
    default:
      FuzzNote(all);
      FuzzKey(all);
      FuzzProof(all);
      FuzzRecords(all);
      FuzzRecordWire(all);
  }
  return 0;
}
