// Constants of the wire format. The document is docs/protocol.md; every
// number here is stated there too, and a change here is a change there.
#ifndef KETENPOORT_CORE_ENVELOPE_WIRE_FORMAT_H_
#define KETENPOORT_CORE_ENVELOPE_WIRE_FORMAT_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/base/status.h"
#include "ketenpoort/v1/envelope.pb.h"

namespace kp::wire {

inline constexpr uint32_t kProtocolVersion = 1;        // Header.version
inline constexpr size_t kMessageIdBytes = 16;          // Header.message_id
inline constexpr size_t kSignatureBytes = 64;          // Envelope.signature

// Size limits, checked before any parsing (docs/protocol.md §5).
inline constexpr size_t kMaxEnvelopeBytes = 4 * 1024 * 1024;  // one ZeroMQ frame
inline constexpr size_t kMaxHeaderBytes = 512;
inline constexpr size_t kMaxIdBytes = 64;              // sender, recipient
// A body's limit depends on its kind; see MaxBodyBytes.
inline constexpr size_t kMaxSmallBodyBytes = 64 * 1024;
inline constexpr size_t kMaxRequestBodyBytes = 256 * 1024;
inline constexpr size_t kMaxAuthorisationBodyBytes = 1024 * 1024;  // also CASE_CHAIN
inline constexpr size_t kMaxFragmentBodyBytes = kMaxEnvelopeBytes - 1024;
// A handover part: its sealed HandoverData holds whole fragments, so a part
// leaves room for the seal around the inner envelope.
inline constexpr size_t kMaxHandoverBodyBytes = kMaxEnvelopeBytes - 16 * 1024;

// Signing input: kSignaturePrefix || label || 0x00 || u32be(len header) ||
// header || u32be(len body) || body.
inline constexpr std::string_view kSignaturePrefix = "ketenpoort/v1/sig/";

// The domain-separation label of a kind ("fragment-request", ...), or empty
// for an unknown kind.
std::string_view KindLabel(ketenpoort::v1::MessageKind kind);
size_t MaxBodyBytes(ketenpoort::v1::MessageKind kind);

std::string SigningInput(ketenpoort::v1::MessageKind kind, std::string_view header, std::string_view body);

}  // namespace kp::wire

#endif  // KETENPOORT_CORE_ENVELOPE_WIRE_FORMAT_H_
