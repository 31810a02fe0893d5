#include "core/audit/merkle.h"

#include <bit>
#include <cstring>

#include "core/crypto/sha256.h"

namespace kp::audit {
namespace {

std::string DigestString(const Sha256Digest& d) { return std::string(reinterpret_cast<const char*>(d.data()), d.size()); }

bool IsPowerOfTwo(uint64_t n) { return n != 0 && (n & (n - 1)) == 0; }

Status CheckHash(std::string_view h, std::string_view what) {
  if (h.size() != kHashBytes) {
    return InvalidArgumentError(std::string(what) + " is " + std::to_string(h.size()) + " bytes, want 32");
  }
  return OkStatus();
}

}  // namespace

std::string HashLeaf(std::string_view leaf_data) {
  // Small leaves (our 32-byte commitments) hash from the stack.
  if (leaf_data.size() <= 64) {
    char buf[65];
    buf[0] = 0x00;
    std::memcpy(buf + 1, leaf_data.data(), leaf_data.size());
    return DigestString(Sha256(std::string_view(buf, leaf_data.size() + 1)));
  }
  std::string buf(1, '\0');
  buf.append(leaf_data);
  return DigestString(Sha256(buf));
}

std::string HashChildren(std::string_view left, std::string_view right) {
  if (left.size() + right.size() <= 128) {
    char buf[129];
    buf[0] = 0x01;
    std::memcpy(buf + 1, left.data(), left.size());
    std::memcpy(buf + 1 + left.size(), right.data(), right.size());
    return DigestString(Sha256(std::string_view(buf, 1 + left.size() + right.size())));
  }
  std::string buf(1, '\x01');
  buf.append(left);
  buf.append(right);
  return DigestString(Sha256(buf));
}

std::string EmptyRoot() { return DigestString(Sha256(std::string_view())); }

uint64_t SplitPoint(uint64_t n) {
  KP_CHECK(n >= 2);
  return uint64_t{1} << (63 - std::countl_zero(n - 1));
}

uint64_t PostOrderNodeCount(uint64_t size) { return 2 * size - static_cast<uint64_t>(std::popcount(size)); }

uint64_t PostOrderPosition(int level, uint64_t index) {
  uint64_t last_leaf = ((index + 1) << level) - 1;
  return PostOrderNodeCount(last_leaf) + static_cast<uint64_t>(level);
}

uint64_t TreeSizeForNodeCount(uint64_t node_count) {
  // PostOrderNodeCount is strictly increasing; size <= node_count.
  uint64_t lo = 0;
  uint64_t hi = node_count;
  while (lo < hi) {
    uint64_t mid = lo + (hi - lo + 1) / 2;
    if (PostOrderNodeCount(mid) <= node_count) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return lo;
}

Result<CompactRange> CompactRange::FromHashes(uint64_t size, std::vector<std::string> hashes) {
  if (hashes.size() != static_cast<size_t>(std::popcount(size))) {
    return InvalidArgumentError("compact range of size " + std::to_string(size) + " needs " +
                                std::to_string(std::popcount(size)) + " hashes, got " +
                                std::to_string(hashes.size()));
  }
  for (const std::string& h : hashes) KP_RETURN_IF_ERROR(CheckHash(h, "compact range hash"));
  CompactRange r;
  r.size_ = size;
  r.hashes_ = std::move(hashes);
  return r;
}

void CompactRange::Append(std::string leaf_hash, std::string* emit) {
  if (emit != nullptr) emit->append(leaf_hash);
  std::string h = std::move(leaf_hash);
  for (uint64_t s = size_; (s & 1) != 0; s >>= 1) {
    h = HashChildren(hashes_.back(), h);
    hashes_.pop_back();
    if (emit != nullptr) emit->append(h);
  }
  hashes_.push_back(std::move(h));
  ++size_;
}

std::string CompactRange::Root() const {
  if (hashes_.empty()) return EmptyRoot();
  std::string r = hashes_.back();
  for (size_t i = hashes_.size() - 1; i-- > 0;) r = HashChildren(hashes_[i], r);
  return r;
}

Result<std::string> SubtreeRoot(const NodeReader& read, uint64_t begin, uint64_t end) {
  KP_CHECK(begin < end);
  uint64_t n = end - begin;
  if (IsPowerOfTwo(n) && begin % n == 0) {
    int level = std::countr_zero(n);
    return read(level, begin >> level);
  }
  uint64_t k = SplitPoint(n);
  KP_ASSIGN_OR_RETURN(std::string left, SubtreeRoot(read, begin, begin + k));
  KP_ASSIGN_OR_RETURN(std::string right, SubtreeRoot(read, begin + k, end));
  return HashChildren(left, right);
}

namespace {

// PATH(m, D[begin:end]), appended bottom-up.
Status Path(const NodeReader& read, uint64_t m, uint64_t begin, uint64_t end, std::vector<std::string>& out) {
  uint64_t n = end - begin;
  if (n == 1) return OkStatus();
  uint64_t k = SplitPoint(n);
  if (m < k) {
    KP_RETURN_IF_ERROR(Path(read, m, begin, begin + k, out));
    KP_ASSIGN_OR_RETURN(std::string h, SubtreeRoot(read, begin + k, end));
    out.push_back(std::move(h));
  } else {
    KP_RETURN_IF_ERROR(Path(read, m - k, begin + k, end, out));
    KP_ASSIGN_OR_RETURN(std::string h, SubtreeRoot(read, begin, begin + k));
    out.push_back(std::move(h));
  }
  return OkStatus();
}

// SUBPROOF(m, D[begin:end], b).
Status SubProof(const NodeReader& read, uint64_t m, uint64_t begin, uint64_t end, bool b,
                std::vector<std::string>& out) {
  uint64_t n = end - begin;
  if (m == n) {
    if (!b) {
      KP_ASSIGN_OR_RETURN(std::string h, SubtreeRoot(read, begin, end));
      out.push_back(std::move(h));
    }
    return OkStatus();
  }
  uint64_t k = SplitPoint(n);
  if (m <= k) {
    KP_RETURN_IF_ERROR(SubProof(read, m, begin, begin + k, b, out));
    KP_ASSIGN_OR_RETURN(std::string h, SubtreeRoot(read, begin + k, end));
    out.push_back(std::move(h));
  } else {
    KP_RETURN_IF_ERROR(SubProof(read, m - k, begin + k, end, false, out));
    KP_ASSIGN_OR_RETURN(std::string h, SubtreeRoot(read, begin, begin + k));
    out.push_back(std::move(h));
  }
  return OkStatus();
}

}  // namespace

Result<std::vector<std::string>> InclusionProof(const NodeReader& read, uint64_t index, uint64_t size) {
  if (index >= size) {
    return InvalidArgumentError("index " + std::to_string(index) + " is not in a tree of size " +
                                std::to_string(size));
  }
  std::vector<std::string> out;
  KP_RETURN_IF_ERROR(Path(read, index, 0, size, out));
  return out;
}

Result<std::vector<std::string>> ConsistencyProof(const NodeReader& read, uint64_t size1, uint64_t size2) {
  if (size1 == 0 || size1 > size2) {
    return InvalidArgumentError("no consistency proof from size " + std::to_string(size1) + " to size " +
                                std::to_string(size2) + " (need 0 < size1 <= size2)");
  }
  std::vector<std::string> out;
  if (size1 == size2) return out;
  KP_RETURN_IF_ERROR(SubProof(read, size1, 0, size2, true, out));
  return out;
}

Status VerifyInclusion(uint64_t index, uint64_t size, std::string_view leaf_hash,
                       const std::vector<std::string>& proof, std::string_view root) {
  if (index >= size) {
    return InvalidArgumentError("leaf index " + std::to_string(index) + " is not below tree size " +
                                std::to_string(size));
  }
  KP_RETURN_IF_ERROR(CheckHash(leaf_hash, "leaf hash"));
  KP_RETURN_IF_ERROR(CheckHash(root, "root"));
  for (const std::string& p : proof) KP_RETURN_IF_ERROR(CheckHash(p, "proof hash"));
  uint64_t fn = index;
  uint64_t sn = size - 1;
  std::string r(leaf_hash);
  for (const std::string& p : proof) {
    if (sn == 0) return UnauthenticatedError("inclusion proof is too long");
    if ((fn & 1) != 0 || fn == sn) {
      r = HashChildren(p, r);
      if ((fn & 1) == 0) {
        while ((fn & 1) == 0 && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      r = HashChildren(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) return UnauthenticatedError("inclusion proof is too short");
  if (r != root) return UnauthenticatedError("inclusion proof does not lead to the root");
  return OkStatus();
}

Status VerifyConsistency(uint64_t size1, uint64_t size2, const std::vector<std::string>& proof,
                         std::string_view root1, std::string_view root2) {
  if (size2 < size1) {
    return InvalidArgumentError("size2 " + std::to_string(size2) + " is smaller than size1 " +
                                std::to_string(size1));
  }
  if (size1 == 0) return InvalidArgumentError("a consistency proof from the empty tree proves nothing");
  if (size1 == size2) {
    if (!proof.empty()) return UnauthenticatedError("sizes are equal but the proof is not empty");
    if (root1 != root2) return UnauthenticatedError("sizes are equal but the roots differ");
    return OkStatus();
  }
  if (proof.empty()) return UnauthenticatedError("consistency proof is empty");
  KP_RETURN_IF_ERROR(CheckHash(root1, "root1"));
  KP_RETURN_IF_ERROR(CheckHash(root2, "root2"));
  for (const std::string& p : proof) KP_RETURN_IF_ERROR(CheckHash(p, "proof hash"));

  std::vector<std::string_view> path;
  if (IsPowerOfTwo(size1)) path.push_back(root1);
  for (const std::string& p : proof) path.push_back(p);
  uint64_t fn = size1 - 1;
  uint64_t sn = size2 - 1;
  while ((fn & 1) != 0) {
    fn >>= 1;
    sn >>= 1;
  }
  std::string fr(path[0]);
  std::string sr(path[0]);
  for (size_t i = 1; i < path.size(); ++i) {
    if (sn == 0) return UnauthenticatedError("consistency proof is too long");
    if ((fn & 1) != 0 || fn == sn) {
      fr = HashChildren(path[i], fr);
      sr = HashChildren(path[i], sr);
      if ((fn & 1) == 0) {
        while ((fn & 1) == 0 && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      sr = HashChildren(sr, path[i]);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) return UnauthenticatedError("consistency proof is too short");
  if (fr != root1) return UnauthenticatedError("consistency proof does not lead to root1");
  if (sr != root2) return UnauthenticatedError("consistency proof does not lead to root2");
  return OkStatus();
}

}  // namespace kp::audit
