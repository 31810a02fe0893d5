#include "case/case_chain.h"

#include <algorithm>
#include <optional>

#include "core/crypto/sha256.h"
#include "core/envelope/wire_format.h"
#include "ketenpoort/v1/envelope.pb.h"

namespace kp::cases {

namespace v1 = ketenpoort::v1;

namespace {

Result<ChainCommand> FromVerified(std::string hash, const VerifiedEnvelope& env) {
  ChainCommand c;
  if (Status s = ParseBody(env.body, c.command); !s.ok()) return s;
  c.hash = std::move(hash);
  c.signer = env.header.sender();
  c.signed_ms = env.header.sent_at_ms();
  c.message_id = env.header.message_id();
  return c;
}

std::string Position(size_t i) { return "command " + std::to_string(i) + " of the case"; }

// Only `key`, for `participant`: to learn which of a signer's keys (two
// during a rotation) verified a command, at the cost of the verifications
// EnvelopeVerifier would do over all of them anyway.
class OneKey final : public KeyResolver {
 public:
  OneKey(std::string_view participant, const std::string& key) : participant_(participant), key_(key) {}
  Result<std::string> SigningKeyOf(std::string_view participant_id) const override {
    if (participant_id != participant_) return NotFoundError("unknown participant");
    return key_;
  }
  Result<std::vector<std::string>> SigningKeysOf(std::string_view participant_id, int64_t) const override {
    if (participant_id != participant_) return NotFoundError("unknown participant");
    return std::vector<std::string>{key_};
  }

 private:
  std::string_view participant_;
  const std::string& key_;
};

// The header and body of a command envelope, unverified; nullopt when it
// does not parse (then the full verification says why).
std::optional<VerifiedEnvelope> ParseUnverified(std::string_view envelope) {
  if (envelope.size() > wire::kMaxEnvelopeBytes) return std::nullopt;
  v1::Envelope e;
  if (!e.ParseFromArray(envelope.data(), static_cast<int>(envelope.size()))) return std::nullopt;
  VerifiedEnvelope env;
  if (!env.header.ParseFromString(e.header())) return std::nullopt;
  env.body = std::move(*e.mutable_body());
  return env;
}

}  // namespace

std::string CommandHash(std::string_view envelope) { return Sha256String(envelope); }

Result<ChainCommand> VerifyCommand(const KeyResolver& keys, std::string_view envelope) {
  VerifyOptions want;
  want.expected_kind = v1::MESSAGE_KIND_CASE_COMMAND;
  auto env = EnvelopeVerifier(keys, nullptr).Verify(envelope, want);
  if (!env.ok()) return env.status();
  return FromVerified(CommandHash(envelope), *env);
}

const std::string* VerifiedCommands::KeyOf(std::string_view hash) const {
  auto it = by_hash_.find(std::string(hash));
  return it == by_hash_.end() ? nullptr : &it->second;
}

void VerifiedCommands::Remember(const std::string& hash, const std::string& key) {
  if (max_entries_ == 0) return;
  if (!by_hash_.emplace(hash, key).second) return;
  order_.push_back(hash);
  while (order_.size() > max_entries_) {
    by_hash_.erase(order_.front());
    order_.pop_front();
  }
}

Result<ChainCommand> VerifyCommand(const KeyResolver& keys, std::string_view envelope,
                                   VerifiedCommands& verified) {
  std::string hash = CommandHash(envelope);
  std::optional<VerifiedEnvelope> env = ParseUnverified(envelope);
  if (!env.has_value()) return VerifyCommand(keys, envelope);  // it says why
  auto signer_keys = keys.SigningKeysOf(env->header.sender(), static_cast<int64_t>(env->header.sent_at_ms()));
  if (!signer_keys.ok()) return VerifyCommand(keys, envelope);  // not enrolled, or expired: it says so
  // These exact bytes verified before with a key the resolver still gives
  // for their signer at their time: the same signature over the same input.
  if (const std::string* key = verified.KeyOf(hash); key != nullptr) {
    if (std::find(signer_keys->begin(), signer_keys->end(), *key) != signer_keys->end()) {
      return FromVerified(std::move(hash), *env);
    }
  }
  VerifyOptions want;
  want.expected_kind = v1::MESSAGE_KIND_CASE_COMMAND;
  Status last = UnauthenticatedError("sender '" + env->header.sender() + "' has no key");
  for (const std::string& key : *signer_keys) {
    OneKey one(env->header.sender(), key);
    auto checked = EnvelopeVerifier(one, nullptr).Verify(envelope, want);
    if (!checked.ok()) {
      last = checked.status();
      continue;
    }
    verified.Remember(hash, key);
    return FromVerified(std::move(hash), *checked);
  }
  return last;
}

Result<ChainCommand> ParseVerifiedCommand(std::string_view envelope) {
  v1::Envelope e;
  if (!e.ParseFromArray(envelope.data(), static_cast<int>(envelope.size()))) {
    return DataLossError("a stored case command does not parse");
  }
  VerifiedEnvelope env;
  if (!env.header.ParseFromString(e.header()))
    return DataLossError("a stored case command's header does not parse");
  env.body = e.body();
  return FromVerified(CommandHash(envelope), env);
}

Result<CaseFacts> FoldVerified(const FoldContext& ctx, const std::vector<std::string>& envelopes,
                               const std::string& case_id) {
  CaseFacts facts;
  for (const auto& e : envelopes) {
    auto c = ParseVerifiedCommand(e);
    if (!c.ok()) return c.status();
    if (Status s = Apply(ctx, *c, case_id, &facts); !s.ok()) {
      return FailedPreconditionError("the history of case " + case_id +
                                     " does not fit the policy and registry in "
                                     "force at " +
                                     Position(facts.length) + ": " + s.message());
    }
  }
  return facts;
}

Result<CaseFacts> VerifyChain(const KeyResolver& keys, const FoldContext& ctx,
                              const std::vector<std::string_view>& envelopes, const std::string& case_id,
                              VerifiedCommands* verified) {
  CaseFacts facts;
  for (size_t i = 0; i < envelopes.size(); ++i) {
    auto c = verified != nullptr ? VerifyCommand(keys, envelopes[i], *verified)
                                 : VerifyCommand(keys, envelopes[i]);
    if (!c.ok()) return UnauthenticatedError(Position(i) + " does not verify (" + c.status().message() + ")");
    if (Status s = Apply(ctx, *c, case_id, &facts); !s.ok()) {
      return Status(s.code(), Position(i) + " cannot follow the ones before it: " + s.message());
    }
  }
  return facts;
}

ChainChecker::ChainChecker(const KeyResolver& keys, FoldContext ctx, size_t max_heads)
    : keys_(keys), ctx_(ctx), max_heads_(max_heads) {}

Result<CaseFacts> ChainChecker::CheckViews(const std::vector<std::string_view>& chain,
                                           const ChainHead& want) {
  if (want.head.size() != kSha256Bytes || want.length == 0) {
    return InvalidArgumentError("the request names no case head (a client of an older version?)");
  }
  if (auto it = longest_.find(want.case_id); it != longest_.end() && it->second > want.length) {
    return FailedPreconditionError(
        "case " + want.case_id + " has changed since this request was signed: it has " +
        std::to_string(it->second) + " commands, the request was signed on " + std::to_string(want.length) +
        "; the coordinator must fetch it and ask again");
  }
  if (auto it = by_head_.find(want.head); it != by_head_.end()) {
    if (it->second.case_id == want.case_id && it->second.length == want.length) return it->second;
  }
  if (chain.size() != want.length) {
    return FailedPreconditionError("the case history shown has " + std::to_string(chain.size()) +
                                   " commands, but the coordinator signed the "
                                   "request on " +
                                   std::to_string(want.length) + ": " +
                                   (chain.size() < want.length
                                        ? "the gateway left commands out"
                                        : "it is not the history the coordinator knows"));
  }
  auto folded = VerifyChain(keys_, ctx_, chain, want.case_id, &verified_);
  if (!folded.ok()) return folded.status();
  CaseFacts& facts = *folded;
  if (facts.head != want.head) {
    return FailedPreconditionError(
        "the case history shown does not end at the command the coordinator signed the "
        "request on: the gateway changed or left out a command");
  }
  if (by_head_.size() >= max_heads_) by_head_.clear();
  if (longest_.size() >= max_heads_) longest_.clear();
  by_head_.emplace(want.head, facts);
  uint64_t& longest = longest_[want.case_id];
  longest = std::max(longest, want.length);
  return facts;
}

}  // namespace kp::cases
