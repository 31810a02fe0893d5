// Proofs as JSON files, in the shape of the transparency-dev/merkle test data
// (standard base64 hashes, 0-based indexes, "proof" may be null), so proofs
// can be exchanged with tools of that ecosystem:
//
//   inclusion:   {"leafIdx":N,"treeSize":M,"root":"..","leafHash":"..","proof":[".."],"desc":".."}
//   consistency: {"size1":M,"size2":N,"root1":"..","root2":"..","proof":[".."],"desc":".."}
//
// CheckProofJson reads untrusted text: it never crashes, and tells a proof
// that does not verify (kInvalid) from a file it cannot read (kUnreadable: not
// JSON, not an object, fields missing or of the wrong type). A "wantErr"
// member is ignored. Thread-safe.
#ifndef KETENPOORT_CORE_AUDIT_PROOF_JSON_H_
#define KETENPOORT_CORE_AUDIT_PROOF_JSON_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kp::audit {

std::string FormatInclusionProofJson(uint64_t leaf_index, uint64_t tree_size, std::string_view root,
                                     std::string_view leaf_hash, const std::vector<std::string>& proof,
                                     std::string_view desc);
std::string FormatConsistencyProofJson(uint64_t size1, uint64_t size2, std::string_view root1,
                                       std::string_view root2, const std::vector<std::string>& proof,
                                       std::string_view desc);

enum class ProofVerdict { kValid, kInvalid, kUnreadable };

struct ProofCheck {
  ProofVerdict verdict = ProofVerdict::kUnreadable;
  std::string kind;     // "inclusion" or "consistency" (when readable)
  std::string message;  // why not valid
};

ProofCheck CheckProofJson(std::string_view text);

}  // namespace kp::audit

#endif  // KETENPOORT_CORE_AUDIT_PROOF_JSON_H_
