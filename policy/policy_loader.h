// Loading a policy: YAML text -> lint -> an immutable, indexed Policy.
//
// The language is described in docs/policy-language.md. Loading lints the
// whole policy and reports *every* problem at once, each with the file name
// and a 1-based line:column: unknown keys and names, duplicate ids, a legal
// basis used for a sender or category it does not cover, an AVG art. 9
// category permitted without an art. 9 ground, art. 10 or police/justice
// (Wpg/Wjsg) data permitted outside its regime, retention above the basis's
// maximum, an obligation naming a field the category does not have, a rule
// that no request can reach. A policy with any error is never returned.
//
// The policy text is untrusted input: malformed YAML, wrong types, deep
// nesting or huge input give diagnostics, never a crash or an exception.
//
// SHA-256: this library includes no crypto (DESIGN.md §2, STYLE.md). The
// caller computes the digest of exactly the loaded text and passes it in as
// 64 lowercase hex digits (LoadPolicyFile takes the hash function instead);
// every Decision then carries it. kp_cli and the gateway pass kp_crypto's
// Sha256.
//
// Thread-compatible: no shared state; the returned Policy is immutable and
// safe to share between threads (see policy_engine.h).
#ifndef KETENPOORT_POLICY_POLICY_LOADER_H_
#define KETENPOORT_POLICY_POLICY_LOADER_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/status.h"
#include "core/config/diagnostics.h"
#include "policy/policy_engine.h"

namespace kp::policy {

// Larger policy files are refused (a real policy is a few tens of KiB).
inline constexpr size_t kMaxPolicyBytes = 1 << 20;

// "policy.yaml:12:7: error: unknown partner 'politi'" (core/config).
using Diagnostic = config::Diagnostic;
using config::FormatDiagnostics;  // one ToString() per line

struct CompileOutput {
  std::shared_ptr<const Policy> policy;  // null whenever diagnostics is not empty
  std::vector<Diagnostic> diagnostics;   // sorted by line, then column
};

// Parses and lints `text`. `source_name` is used in diagnostics.
CompileOutput CompilePolicy(std::string_view text, std::string_view source_name, std::string_view sha256_hex);

// As CompilePolicy, but an error is one InvalidArgument Status whose message
// lists every diagnostic, one per line.
Result<std::shared_ptr<const Policy>> LoadPolicy(std::string_view text, std::string_view source_name,
                                                 std::string_view sha256_hex);

// Returns the lowercase hex SHA-256 of its argument.
using Sha256HexFunction = std::function<std::string(std::string_view)>;

// Reads `path` (at most kMaxPolicyBytes), hashes it with `sha256_hex` and loads it.
Result<std::shared_ptr<const Policy>> LoadPolicyFile(const std::string& path,
                                                     const Sha256HexFunction& sha256_hex);

}  // namespace kp::policy

#endif  // KETENPOORT_POLICY_POLICY_LOADER_H_
