#include "tests/audit/reference_merkle.h"

#include "core/crypto/sha256.h"

namespace kp::audit::reference {
namespace {

std::string H(const std::string& s) { return Sha256String(s); }

size_t K(size_t n) {
  size_t k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

void SubProof(const std::vector<std::string>& d, size_t m, size_t begin, size_t end, bool b,
              std::vector<std::string>& out) {
  size_t n = end - begin;
  if (m == n) {
    if (!b) out.push_back(Mth(d, begin, end));
    return;
  }
  size_t k = K(n);
  if (m <= k) {
    SubProof(d, m, begin, begin + k, b, out);
    out.push_back(Mth(d, begin + k, end));
  } else {
    SubProof(d, m - k, begin + k, end, false, out);
    out.push_back(Mth(d, begin, begin + k));
  }
}

void PathRec(const std::vector<std::string>& d, size_t m, size_t begin, size_t end, std::vector<std::string>& out) {
  size_t n = end - begin;
  if (n == 1) return;
  size_t k = K(n);
  if (m < k) {
    PathRec(d, m, begin, begin + k, out);
    out.push_back(Mth(d, begin + k, end));
  } else {
    PathRec(d, m - k, begin + k, end, out);
    out.push_back(Mth(d, begin, begin + k));
  }
}

// Walks PATH's recursion top-down to know, for each proof element (bottom-up),
// whether it is a left or a right sibling.
void Sides(uint64_t m, uint64_t n, std::vector<bool>& sibling_is_left) {
  if (n == 1) return;
  uint64_t k = K(n);
  if (m < k) {
    Sides(m, k, sibling_is_left);
    sibling_is_left.push_back(false);
  } else {
    Sides(m - k, n - k, sibling_is_left);
    sibling_is_left.push_back(true);
  }
}

}  // namespace

std::string LeafHash(const std::string& leaf_data) { return H(std::string(1, '\0') + leaf_data); }

std::string Mth(const std::vector<std::string>& d, size_t begin, size_t end) {
  size_t n = end - begin;
  if (n == 0) return H("");
  if (n == 1) return LeafHash(d[begin]);
  size_t k = K(n);
  return H(std::string(1, '\x01') + Mth(d, begin, begin + k) + Mth(d, begin + k, end));
}

std::string Root(const std::vector<std::string>& leaves, size_t size) { return Mth(leaves, 0, size); }

std::vector<std::string> Path(const std::vector<std::string>& leaves, size_t index, size_t size) {
  std::vector<std::string> out;
  PathRec(leaves, index, 0, size, out);
  return out;
}

std::vector<std::string> Proof(const std::vector<std::string>& leaves, size_t size1, size_t size2) {
  std::vector<std::string> out;
  if (size1 == size2) return out;
  SubProof(leaves, size1, 0, size2, true, out);
  return out;
}

std::string RootFromPath(uint64_t index, uint64_t size, const std::string& leaf_hash,
                         const std::vector<std::string>& path) {
  std::vector<bool> left;
  Sides(index, size, left);
  if (left.size() != path.size()) return "";
  std::string r = leaf_hash;
  for (size_t i = 0; i < path.size(); ++i) {
    r = left[i] ? H(std::string(1, '\x01') + path[i] + r) : H(std::string(1, '\x01') + r + path[i]);
  }
  return r;
}

}  // namespace kp::audit::reference
