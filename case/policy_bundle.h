// The signed policy bundle (docs/formats.md §5) and the set of policies it
// puts in force, one after the other (docs/policy-language.md,
// "Effective-from").
//
// A bundle folder holds the policy files and one manifest, `policy.signed`,
// signed by the region's enrolment key or by a participant the signed
// registry names with the role `policy-signer` — never by the gateway, which
// only stores and forwards the bundle. The manifest lists each policy file
// with its SHA-256, its version id and the moment it takes effect; a
// receiver verifies it against its pinned enrolment card before it uses
// anything in it, and refuses a serial below the highest it accepted.
//
// PolicySet answers "which policy is in force at time t" (the last one whose
// effective-from is not after t; before the first one's time, the first) and
// "which policy has this SHA-256" (a decision names the policy it was made
// with, so one made just before a switch is checked against that one).
//
// Everything here is used by the gateway, the agents and the clients alike.
// PolicySet is an immutable value; thread-safe to read.
#ifndef KETENPOORT_CASE_POLICY_BUNDLE_H_
#define KETENPOORT_CASE_POLICY_BUNDLE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/base/status.h"
#include "core/crypto/secret_bytes.h"
#include "core/identity/registry.h"
#include "policy/policy_engine.h"

namespace kp::cases {

inline constexpr char kPolicyManifestName[] = "policy.signed";
// The registry role of a participant that may sign policy bundles.
inline constexpr char kPolicySignerRole[] = "policy-signer";
// The signer line's value for the enrolment key itself.
inline constexpr char kEnrolmentSigner[] = "enrolment";
inline constexpr size_t kMaxPolicyManifestBytes = 64 * 1024;
inline constexpr size_t kMaxBundledPolicies = 8;

struct BundledPolicy {
  std::string file;             // a plain file name in the bundle folder
  int64_t effective_from_ms = 0;
  std::string sha256_hex;       // of the file's bytes, lowercase hex
  std::string version;          // the policy's id, "@" and its version ("veiligheidsteam-hvb@2026.2")
};

struct PolicyManifest {
  std::string region;
  uint64_t serial = 0;
  int64_t issued_ms = 0;
  std::string signer;                   // kEnrolmentSigner or a participant id
  std::vector<BundledPolicy> policies;  // by effective-from, strictly ascending
  std::string sha256_hex;               // of the whole manifest file
};

// Parses `text` and checks its signature: by `enrolment_public_key` when the
// signer is "enrolment", else by a card of the signer in `registry` (null:
// only the enrolment key is accepted), which must have the role
// policy-signer and must not be a gateway. Unauthenticated on a bad or
// foreign signature or a signer that may not sign; InvalidArgument when
// malformed. Nothing but the signature is trusted before it verifies.
Result<PolicyManifest> VerifyPolicyManifest(std::string_view text, const std::string& enrolment_public_key,
                                            const Registry* registry);

// The version id of a policy: its id, and "@version" when it has one
// (spaces in the version become '_').
std::string PolicyVersionId(const policy::Policy& policy);

class PolicySet {
 public:
  // What a bundle must be to be accepted.
  struct Expect {
    std::string enrolment_public_key;
    const Registry* registry = nullptr;  // for a policy-signer's card, and its region
    uint64_t min_serial = 0;             // refuse a lower serial (FailedPrecondition)
    std::string region;                  // refuse another region (PermissionDenied); "" = any
  };

  // Verifies the manifest, then every file it lists from `files` (name ->
  // bytes): present, its SHA-256 as listed, lints clean, its version id as
  // listed. Every check fails closed.
  static Result<PolicySet> FromBundle(std::string_view manifest_text,
                                      const std::map<std::string, std::string>& files, const Expect& expect);
  // The same, from a bundle folder (DIR/policy.signed and the files it lists).
  static Result<PolicySet> LoadDir(const std::string& dir, const Expect& expect);
  // One plain policy file (configs with `policy:`): in force at all times;
  // serial 0, no manifest.
  static PolicySet Single(std::shared_ptr<const policy::Policy> policy);

  // The policy in force at `unix_ms`.
  const std::shared_ptr<const policy::Policy>& InForceAt(int64_t unix_ms) const;
  // The policy with this SHA-256 (lowercase hex, or 32 raw bytes), or null.
  std::shared_ptr<const policy::Policy> BySha(std::string_view sha256) const;
  // Whether the policy with this SHA-256 was in force at some moment in
  // [from_ms, to_ms] (a decision made then may rest on it).
  bool InForceDuring(std::string_view sha256, int64_t from_ms, int64_t to_ms) const;
  // The first effective-from after `unix_ms`, or 0 when none follows.
  int64_t NextSwitchAfter(int64_t unix_ms) const;

  uint64_t serial() const { return manifest_.serial; }
  bool signed_bundle() const { return !manifest_text_.empty(); }
  const PolicyManifest& manifest() const { return manifest_; }
  const std::string& manifest_text() const { return manifest_text_; }
  // The bundle's files by name, byte for byte (empty for Single).
  const std::map<std::string, std::string>& files() const { return files_; }
  // Policies with their effective-from, ascending.
  const std::vector<std::pair<int64_t, std::shared_ptr<const policy::Policy>>>& policies() const {
    return policies_;
  }

 private:
  PolicyManifest manifest_;
  std::string manifest_text_;
  std::map<std::string, std::string> files_;
  std::vector<std::pair<int64_t, std::shared_ptr<const policy::Policy>>> policies_;
};

// `ketenpoort policy sign`: writes DIR/policy.signed listing `entries` (file
// name in DIR -> effective-from), signed with `secret_key` as `signer`
// ("enrolment" or the policy-signer's participant id). The serial is one
// above the manifest now in DIR (1 for the first). Refuses a file that does
// not lint clean, two policies with the same effective-from, or a bundle in
// which no policy is in force at `now_ms` (the first one's time is in the
// future: until then nothing in the bundle could be used).
Status SignPolicyBundle(const std::string& dir, const SecretBytes& secret_key, const std::string& signer,
                        const std::string& region, const std::vector<std::pair<std::string, int64_t>>& entries,
                        int64_t now_ms);

// `body` (every line before the signature line) with its signature line
// appended, signed with `secret_key` (SignPolicyBundle's last step; for the
// fuzz target, which signs what it generates so that the parser is reached).
std::string SignPolicyManifestBody(std::string_view body, const SecretBytes& secret_key);

// Writes `set`'s files and then its manifest into `dir` (created 0700 when
// missing), each durably; files the manifest does not list are left alone.
Status WritePolicyBundle(const std::string& dir, const PolicySet& set);

}  // namespace kp::cases

#endif  // KETENPOORT_CASE_POLICY_BUNDLE_H_
