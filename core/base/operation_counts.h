// How many public-key operations this process has done (issue 19). core/crypto
// counts each Ed25519 signature and verification and each sealed box made and
// opened; a service exposes the totals on /metrics
// (ketenpoort_public_key_operations_total{operation=...}, core/observe), and
// exchange_bench reads them from every process to print the crypto floor
// from what the code actually does, not from a hand count
// (docs/performance.md, "The crypto floor").
//
// Thread-safe (relaxed atomics: totals, not an ordering).
#ifndef KETENPOORT_CORE_BASE_OPERATION_COUNTS_H_
#define KETENPOORT_CORE_BASE_OPERATION_COUNTS_H_

#include <array>
#include <cstdint>
#include <string_view>

namespace kp {

enum class PublicKeyOperation { kSign = 0, kVerify = 1, kSeal = 2, kOpen = 3 };
inline constexpr std::array<PublicKeyOperation, 4> kPublicKeyOperations = {
    PublicKeyOperation::kSign, PublicKeyOperation::kVerify, PublicKeyOperation::kSeal,
    PublicKeyOperation::kOpen};

void CountPublicKeyOperation(PublicKeyOperation op);
uint64_t PublicKeyOperationCount(PublicKeyOperation op);
// The metric's label: "ed25519_sign", "ed25519_verify", "box_seal", "box_seal_open".
std::string_view PublicKeyOperationName(PublicKeyOperation op);

}  // namespace kp

#endif  // KETENPOORT_CORE_BASE_OPERATION_COUNTS_H_
