#include "core/audit/proof_json.h"

#include <nlohmann/json.hpp>

#include "core/audit/merkle.h"
#include "core/base/encoding.h"

namespace kp::audit {
namespace {

using nlohmann::json;

json ProofArray(const std::vector<std::string>& proof) {
  json arr = json::array();
  for (const std::string& p : proof) arr.push_back(Base64Encode(p));
  return arr;
}

bool GetU64(const json& obj, const char* key, uint64_t* out, std::string* why) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_number_unsigned()) {
    *why = std::string("\"") + key + "\" is missing or not an unsigned integer";
    return false;
  }
  *out = it->get<uint64_t>();
  return true;
}

bool GetString(const json& obj, const char* key, std::string* out, std::string* why) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_string()) {
    *why = std::string("\"") + key + "\" is missing or not a string";
    return false;
  }
  *out = it->get<std::string>();
  return true;
}

bool GetProof(const json& obj, std::vector<std::string>* out, std::string* why) {
  auto it = obj.find("proof");
  if (it == obj.end()) {
    *why = "\"proof\" is missing";
    return false;
  }
  if (it->is_null()) return true;
  if (!it->is_array()) {
    *why = "\"proof\" is not an array";
    return false;
  }
  for (const json& e : *it) {
    if (!e.is_string()) {
      *why = "\"proof\" holds a non-string";
      return false;
    }
    out->push_back(e.get<std::string>());
  }
  return true;
}

// Base64 that does not decode counts as a wrong hash (the proof is invalid).
bool Decode(const std::string& b64, std::string* out) {
  auto d = Base64Decode(b64);
  if (!d.ok()) return false;
  *out = *d;
  return true;
}

ProofCheck Invalid(std::string kind, std::string message) {
  return ProofCheck{ProofVerdict::kInvalid, std::move(kind), std::move(message)};
}

}  // namespace

std::string FormatInclusionProofJson(uint64_t leaf_index, uint64_t tree_size, std::string_view root,
                                     std::string_view leaf_hash, const std::vector<std::string>& proof,
                                     std::string_view desc) {
  json j = json::object();
  j["leafIdx"] = leaf_index;
  j["treeSize"] = tree_size;
  j["root"] = Base64Encode(root);
  j["leafHash"] = Base64Encode(leaf_hash);
  j["proof"] = ProofArray(proof);
  j["desc"] = std::string(desc);
  return j.dump(2) + "\n";
}

std::string FormatConsistencyProofJson(uint64_t size1, uint64_t size2, std::string_view root1,
                                       std::string_view root2, const std::vector<std::string>& proof,
                                       std::string_view desc) {
  json j = json::object();
  j["size1"] = size1;
  j["size2"] = size2;
  j["root1"] = Base64Encode(root1);
  j["root2"] = Base64Encode(root2);
  j["proof"] = ProofArray(proof);
  j["desc"] = std::string(desc);
  return j.dump(2) + "\n";
}

ProofCheck CheckProofJson(std::string_view text) {
  json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return ProofCheck{ProofVerdict::kUnreadable, "", "not JSON"};
  if (!j.is_object()) return ProofCheck{ProofVerdict::kUnreadable, "", "not a JSON object"};
  std::string why;
  std::vector<std::string> proof_b64;
  if (j.contains("leafIdx")) {
    uint64_t index = 0;
    uint64_t size = 0;
    std::string root_b64;
    std::string leaf_b64;
    if (!GetU64(j, "leafIdx", &index, &why) || !GetU64(j, "treeSize", &size, &why) ||
        !GetString(j, "root", &root_b64, &why) || !GetString(j, "leafHash", &leaf_b64, &why) ||
        !GetProof(j, &proof_b64, &why)) {
      return ProofCheck{ProofVerdict::kUnreadable, "inclusion", why};
    }
    std::string root;
    std::string leaf;
    std::vector<std::string> proof(proof_b64.size());
    if (!Decode(root_b64, &root) || !Decode(leaf_b64, &leaf)) return Invalid("inclusion", "a hash is not base64");
    for (size_t i = 0; i < proof.size(); ++i) {
      if (!Decode(proof_b64[i], &proof[i])) return Invalid("inclusion", "a proof hash is not base64");
    }
    Status s = VerifyInclusion(index, size, leaf, proof, root);
    if (!s.ok()) return Invalid("inclusion", s.message());
    return ProofCheck{ProofVerdict::kValid, "inclusion", ""};
  }
  if (j.contains("size1")) {
    uint64_t size1 = 0;
    uint64_t size2 = 0;
    std::string r1_b64;
    std::string r2_b64;
    if (!GetU64(j, "size1", &size1, &why) || !GetU64(j, "size2", &size2, &why) ||
        !GetString(j, "root1", &r1_b64, &why) || !GetString(j, "root2", &r2_b64, &why) ||
        !GetProof(j, &proof_b64, &why)) {
      return ProofCheck{ProofVerdict::kUnreadable, "consistency", why};
    }
    std::string r1;
    std::string r2;
    std::vector<std::string> proof(proof_b64.size());
    if (!Decode(r1_b64, &r1) || !Decode(r2_b64, &r2)) return Invalid("consistency", "a root is not base64");
    for (size_t i = 0; i < proof.size(); ++i) {
      if (!Decode(proof_b64[i], &proof[i])) return Invalid("consistency", "a proof hash is not base64");
    }
    Status s = VerifyConsistency(size1, size2, proof, r1, r2);
    if (!s.ok()) return Invalid("consistency", s.message());
    return ProofCheck{ProofVerdict::kValid, "consistency", ""};
  }
  return ProofCheck{ProofVerdict::kUnreadable, "", "neither an inclusion (leafIdx) nor a consistency (size1) proof"};
}

}  // namespace kp::audit
