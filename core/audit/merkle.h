// RFC 6962 / RFC 9162 Merkle tree hashing, the compact range (the "frontier"
// of perfect subtrees) used to append in O(log n), proof generation over any
// source of subtree hashes, and the proof verifiers of RFC 9162 §2.1.3.2 and
// §2.1.4.2.
//
//   leaf hash = SHA-256(0x00 || leaf data)
//   node hash = SHA-256(0x01 || left || right)
//   MTH({})   = SHA-256("")
//
// Hashes are 32-byte std::strings. All functions are pure and thread-safe.
// Verifiers take untrusted input and never crash: a hash of the wrong length,
// an index out of range or a proof of the wrong shape is an error.
#ifndef KETENPOORT_CORE_AUDIT_MERKLE_H_
#define KETENPOORT_CORE_AUDIT_MERKLE_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/status.h"

namespace kp::audit {

inline constexpr size_t kHashBytes = 32;

std::string HashLeaf(std::string_view leaf_data);
std::string HashChildren(std::string_view left, std::string_view right);
// SHA-256 of the empty string: the root of the empty tree.
std::string EmptyRoot();

// Largest power of two strictly smaller than n (n >= 2).
uint64_t SplitPoint(uint64_t n);

// The perfect subtrees of a tree of `size` leaves, left to right, each as
// its (level, index): level = log2 of its leaf count, index = its position
// among the subtrees of that level.
struct NodeId {
  int level;
  uint64_t index;
};

// Number of hashes in a post-order node file holding a tree of `size` leaves
// (every leaf and every completed interior node): 2*size - popcount(size).
uint64_t PostOrderNodeCount(uint64_t size);
// Position of node (level, index) in that file.
uint64_t PostOrderPosition(int level, uint64_t index);
// The largest size whose node count is <= `node_count`.
uint64_t TreeSizeForNodeCount(uint64_t node_count);

// The compact range [0, size): the roots of the perfect subtrees of the tree,
// largest first. Appending a leaf is a binary-counter carry.
class CompactRange {
 public:
  CompactRange() = default;
  // `hashes` are the perfect subtree roots for `size`, largest first.
  // InvalidArgument when their number is not popcount(size).
  static Result<CompactRange> FromHashes(uint64_t size, std::vector<std::string> hashes);

  uint64_t size() const { return size_; }
  const std::vector<std::string>& hashes() const { return hashes_; }

  // Appends a leaf hash. `emit` (may be null) receives the leaf hash and then
  // every interior node it completes, in post-order.
  void Append(std::string leaf_hash, std::string* emit = nullptr);
  // Root of the whole range (EmptyRoot() when empty).
  std::string Root() const;

 private:
  uint64_t size_ = 0;
  std::vector<std::string> hashes_;
};

// Hash of the subtree over leaves [begin, end) where [begin, begin + 2^l) is
// aligned: returns the node hash at (level, index). Proof generation only
// asks for perfect, aligned subtrees.
using NodeReader = std::function<Result<std::string>(int level, uint64_t index)>;

// MTH(D[begin:end]) from perfect-subtree hashes: O(log n) reads.
Result<std::string> SubtreeRoot(const NodeReader& read, uint64_t begin, uint64_t end);
// RFC 6962 §2.1.1 PATH(index, D[0:size]).
Result<std::vector<std::string>> InclusionProof(const NodeReader& read, uint64_t index, uint64_t size);
// RFC 6962 §2.1.2 PROOF(size1, D[0:size2]); empty when size1 == size2.
// InvalidArgument unless 0 < size1 <= size2.
Result<std::vector<std::string>> ConsistencyProof(const NodeReader& read, uint64_t size1, uint64_t size2);

// RFC 9162 §2.1.3.2. OK, or Unauthenticated when the proof does not verify,
// InvalidArgument when it is malformed (sizes, hash lengths).
Status VerifyInclusion(uint64_t index, uint64_t size, std::string_view leaf_hash,
                       const std::vector<std::string>& proof, std::string_view root);
// RFC 9162 §2.1.4.2, with the edge cases settled as the transparency-dev
// test data expects: size2 < size1 and size1 == 0 are errors; size1 == size2
// needs an empty proof and equal roots; otherwise an empty proof is an error.
Status VerifyConsistency(uint64_t size1, uint64_t size2, const std::vector<std::string>& proof,
                         std::string_view root1, std::string_view root2);

}  // namespace kp::audit

#endif  // KETENPOORT_CORE_AUDIT_MERKLE_H_
