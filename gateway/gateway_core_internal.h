// Helpers shared by the files of GatewayCore (gateway_core.cc,
// case_commands.cc, requests.cc, answers.cc). Not part of its interface.
#ifndef KETENPOORT_GATEWAY_GATEWAY_CORE_INTERNAL_H_
#define KETENPOORT_GATEWAY_GATEWAY_CORE_INTERNAL_H_

#include <string>

#include "core/base/encoding.h"

namespace kp::gateway::internal {

// Short printable form of a 16-byte id for log lines.
inline std::string IdHex(const std::string& id) { return HexEncode(id); }

}  // namespace kp::gateway::internal

#endif  // KETENPOORT_GATEWAY_GATEWAY_CORE_INTERNAL_H_
