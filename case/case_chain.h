// Reading and checking a case's chain of signed commands (protocol §3.5).
//
// A case command's hash is the SHA-256 of its whole envelope. Each command
// names the previous one's hash, so the last hash (the head) stands for the
// whole history. A coordinator signs the head it knows into every request;
// an agent answers only when the chain the gateway shows it ends exactly at
// that head, every command verifies and every command may follow the ones
// before it (case_facts.h). A gateway that leaves out a phase change, a
// closure or a consent withdrawal is caught: the chain no longer reaches
// the head.
//
// Not thread-safe (the checker keeps a cache).
#ifndef KETENPOORT_CASE_CASE_CHAIN_H_
#define KETENPOORT_CASE_CASE_CHAIN_H_

#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "case/case_facts.h"
#include "core/envelope/envelope.h"

namespace kp::cases {

// SHA-256 of a command's envelope bytes (32 bytes).
std::string CommandHash(std::string_view envelope);

// Verifies one CASE_COMMAND envelope's signature (no freshness check: a
// case's commands are as old as the case) and parses its body.
Result<ChainCommand> VerifyCommand(const KeyResolver& keys, std::string_view envelope);

// The case commands whose signature verified, each as the SHA-256 of its
// exact envelope bytes (CommandHash) and the signing key that verified it.
// Every request of a case shows the case's whole history again; a command
// held here is not verified a second time while `keys` still gives that
// key for its signer at its signing time (a key the registry dropped, or
// one that had expired, finds nothing). Only successes are held: a command
// that does not verify is verified again, and refused again, each time it
// is shown, and any other bytes (a tampered command of the same case) have
// another hash. At most `max_entries`; the oldest go first. Not thread-safe.
class VerifiedCommands {
 public:
  explicit VerifiedCommands(size_t max_entries = 8192) : max_entries_(max_entries) {}
  // The key `hash` verified with, or nullptr.
  const std::string* KeyOf(std::string_view hash) const;
  void Remember(const std::string& hash, const std::string& key);
  size_t size() const { return by_hash_.size(); }

 private:
  size_t max_entries_;
  std::unordered_map<std::string, std::string> by_hash_;  // command hash -> the key that verified it
  std::deque<std::string> order_;                         // hashes, oldest first
};

// VerifyCommand that asks `verified` first and adds what verified to it.
Result<ChainCommand> VerifyCommand(const KeyResolver& keys, std::string_view envelope,
                                   VerifiedCommands& verified);

// Parses a command the caller verified before (the gateway's own store).
Result<ChainCommand> ParseVerifiedCommand(std::string_view envelope);

// Verifies every command of a whole chain, in order, and folds it; with
// `verified`, a command verified before is not verified again.
Result<CaseFacts> VerifyChain(const KeyResolver& keys, const FoldContext& ctx,
                              const std::vector<std::string_view>& envelopes, const std::string& case_id,
                              VerifiedCommands* verified = nullptr);

// Folds commands the caller verified before, in order, for case `case_id`.
Result<CaseFacts> FoldVerified(const FoldContext& ctx, const std::vector<std::string>& envelopes,
                               const std::string& case_id);

// What a chain must end at: the case, its head and length as the
// coordinator signed them.
struct ChainHead {
  std::string case_id;
  std::string head;     // 32 bytes
  uint64_t length = 0;  // commands up to and including the head
};

// Checks chains shown by an untrusted party, remembering the facts of every
// head it checked: a head names its whole history, so a later request on
// the same head needs no second verification. Clear() after the registry or
// the policy changed.
//
// It also remembers, per case, the longest history it has verified. A
// request signed on a shorter history than one already seen is refused
// ("case … has changed since …"): a gateway that shows an older, consistent
// history to hide a later handover, closure or withdrawal from an agent that
// already saw it gets nowhere. (An agent that never saw the later history
// cannot know it; the coordinator's client never signs on a head it has not
// checked against the gateway's, protocol §3.5.)
//
// A new head (a case that gained a command) is folded again from its first
// command, but only the commands it has not seen before are verified
// (VerifiedCommands); that survives Clear() and SetContext(): whether a
// signature verifies does not depend on the policy, and each look-up asks
// the key resolver, which follows the registry, again.
class ChainChecker {
 public:
  ChainChecker(const KeyResolver& keys, FoldContext ctx, size_t max_heads = 4096);

  // The facts at `want`, when `chain` is the whole chain up to it.
  template <typename Range>
  Result<CaseFacts> Check(const Range& chain, const ChainHead& want) {
    std::vector<std::string_view> views;
    views.reserve(static_cast<size_t>(chain.size()));
    for (const auto& e : chain) views.emplace_back(e);
    return CheckViews(views, want);
  }
  void Clear() {
    by_head_.clear();
    longest_.clear();
  }
  size_t cached() const { return by_head_.size(); }
  size_t verified_commands() const { return verified_.size(); }
  // Another policy or registry in force (a hot switch): what was checked
  // against the old one is forgotten.
  void SetContext(FoldContext ctx) {
    ctx_ = std::move(ctx);
    Clear();
  }

 private:
  Result<CaseFacts> CheckViews(const std::vector<std::string_view>& chain, const ChainHead& want);

  const KeyResolver& keys_;
  FoldContext ctx_;
  size_t max_heads_;
  std::unordered_map<std::string, CaseFacts> by_head_;
  std::unordered_map<std::string, uint64_t> longest_;  // case id -> longest verified length
  VerifiedCommands verified_;
};

}  // namespace kp::cases

#endif  // KETENPOORT_CASE_CASE_CHAIN_H_
