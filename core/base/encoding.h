// Text encodings of public bytes: hex and standard base64 (RFC 4648 §4, with
// padding). Decoders are strict (no whitespace, canonical padding) because
// they read untrusted input; they return InvalidArgument on anything else.
//
// Secret bytes are never encoded through these functions (std::string copies);
// core/crypto/secret_bytes.h has its own decoders into locked memory.
#ifndef KETENPOORT_CORE_BASE_ENCODING_H_
#define KETENPOORT_CORE_BASE_ENCODING_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/status.h"

namespace kp {

using Bytes = std::vector<uint8_t>;

inline std::string_view AsStringView(const Bytes& b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}
inline Bytes ToBytes(std::string_view s) { return Bytes(s.begin(), s.end()); }

std::string HexEncode(std::string_view data);
inline std::string HexEncode(const Bytes& data) { return HexEncode(AsStringView(data)); }
Result<std::string> HexDecode(std::string_view hex);

std::string Base64Encode(std::string_view data);
inline std::string Base64Encode(const Bytes& data) { return Base64Encode(AsStringView(data)); }
Result<std::string> Base64Decode(std::string_view text);

// Z85 (ZeroMQ RFC 32), as CurveZMQ public keys are written. Length must be
// a multiple of 4 to encode and of 5 to decode.
Result<std::string> Z85Encode(std::string_view data);
Result<std::string> Z85Decode(std::string_view text);

// Big-endian fixed-width integers, as used in signing inputs.
void AppendU32BE(std::string& out, uint32_t v);
void AppendU64BE(std::string& out, uint64_t v);
// Appends u32be(len(data)) || data.
void AppendLengthPrefixed(std::string& out, std::string_view data);

}  // namespace kp

#endif  // KETENPOORT_CORE_BASE_ENCODING_H_
