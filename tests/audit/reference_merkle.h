// A deliberately naive RFC 6962 §2.1 Merkle tree: MTH, PATH and PROOF written
// as the RFC states them, recursively over the list of leaves, with no
// compact range, no node file and no shortcuts. It is the main test oracle
// for core/audit/merkle.h and the log: slow (O(n) per call) and obviously
// right. Its verifier recomputes the root from the proof by the RFC 6962
// §2.1.1 definition (it rebuilds the path), independent of the RFC 9162
// bit-twiddling verifier under test.
#ifndef KETENPOORT_TESTS_AUDIT_REFERENCE_MERKLE_H_
#define KETENPOORT_TESTS_AUDIT_REFERENCE_MERKLE_H_

#include <cstdint>
#include <string>
#include <vector>

namespace kp::audit::reference {

// leaves are leaf *data* (hashed with the 0x00 prefix here).
std::string Mth(const std::vector<std::string>& leaves, size_t begin, size_t end);
std::string Root(const std::vector<std::string>& leaves, size_t size);
std::string LeafHash(const std::string& leaf_data);
std::vector<std::string> Path(const std::vector<std::string>& leaves, size_t index, size_t size);
std::vector<std::string> Proof(const std::vector<std::string>& leaves, size_t size1, size_t size2);
// Root implied by an inclusion proof, following PATH's recursion; "" when the
// proof has the wrong length.
std::string RootFromPath(uint64_t index, uint64_t size, const std::string& leaf_hash,
                         const std::vector<std::string>& path);

}  // namespace kp::audit::reference

#endif  // KETENPOORT_TESTS_AUDIT_REFERENCE_MERKLE_H_
