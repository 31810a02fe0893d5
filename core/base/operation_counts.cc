#include "core/base/operation_counts.h"

#include <atomic>

namespace kp {
namespace {

std::array<std::atomic<uint64_t>, kPublicKeyOperations.size()> counts{};

}  // namespace

void CountPublicKeyOperation(PublicKeyOperation op) {
  counts[static_cast<size_t>(op)].fetch_add(1, std::memory_order_relaxed);
}

uint64_t PublicKeyOperationCount(PublicKeyOperation op) {
  return counts[static_cast<size_t>(op)].load(std::memory_order_relaxed);
}

std::string_view PublicKeyOperationName(PublicKeyOperation op) {
  switch (op) {
    case PublicKeyOperation::kSign:
      return "ed25519_sign";
    case PublicKeyOperation::kVerify:
      return "ed25519_verify";
    case PublicKeyOperation::kSeal:
      return "box_seal";
    case PublicKeyOperation::kOpen:
      return "box_seal_open";
  }
  return "unknown";
}

}  // namespace kp
