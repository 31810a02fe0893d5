#include "case/case_chain.h"

#include <algorithm>

#include "core/crypto/sha256.h"
#include "core/envelope/wire_format.h"
#include "ketenpoort/v1/envelope.pb.h"

namespace kp::cases {

namespace v1 = ketenpoort::v1;

namespace {

Result<ChainCommand> FromVerified(std::string_view envelope, const VerifiedEnvelope& env) {
  ChainCommand c;
  if (Status s = ParseBody(env.body, c.command); !s.ok()) return s;
  c.hash = CommandHash(envelope);
  c.signer = env.header.sender();
  c.signed_ms = env.header.sent_at_ms();
  c.message_id = env.header.message_id();
  return c;
}

std::string Position(size_t i) { return "command " + std::to_string(i) + " of the case"; }

}  // namespace

std::string CommandHash(std::string_view envelope) { return Sha256String(envelope); }

Result<ChainCommand> VerifyCommand(const KeyResolver& keys, std::string_view envelope) {
  VerifyOptions want;
  want.expected_kind = v1::MESSAGE_KIND_CASE_COMMAND;
  auto env = EnvelopeVerifier(keys, nullptr).Verify(envelope, want);
  if (!env.ok()) return env.status();
  return FromVerified(envelope, *env);
}

Result<ChainCommand> ParseVerifiedCommand(std::string_view envelope) {
  v1::Envelope e;
  if (!e.ParseFromArray(envelope.data(), static_cast<int>(envelope.size()))) {
    return DataLossError("a stored case command does not parse");
  }
  VerifiedEnvelope env;
  if (!env.header.ParseFromString(e.header())) return DataLossError("a stored case command's header does not parse");
  env.body = e.body();
  return FromVerified(envelope, env);
}

Result<CaseFacts> FoldVerified(const FoldContext& ctx, const std::vector<std::string>& envelopes,
                               const std::string& case_id) {
  CaseFacts facts;
  for (const auto& e : envelopes) {
    auto c = ParseVerifiedCommand(e);
    if (!c.ok()) return c.status();
    if (Status s = Apply(ctx, *c, case_id, &facts); !s.ok()) {
      return FailedPreconditionError("the history of case " + case_id + " does not fit the policy and registry in "
                                     "force at " + Position(facts.length) + ": " + s.message());
    }
  }
  return facts;
}

Result<CaseFacts> VerifyChain(const KeyResolver& keys, const FoldContext& ctx,
                              const std::vector<std::string_view>& envelopes, const std::string& case_id) {
  CaseFacts facts;
  for (size_t i = 0; i < envelopes.size(); ++i) {
    auto c = VerifyCommand(keys, envelopes[i]);
    if (!c.ok()) return UnauthenticatedError(Position(i) + " does not verify (" + c.status().message() + ")");
    if (Status s = Apply(ctx, *c, case_id, &facts); !s.ok()) {
      return Status(s.code(), Position(i) + " cannot follow the ones before it: " + s.message());
    }
  }
  return facts;
}

ChainChecker::ChainChecker(const KeyResolver& keys, FoldContext ctx, size_t max_heads)
    : keys_(keys), ctx_(ctx), max_heads_(max_heads) {}

Result<CaseFacts> ChainChecker::CheckViews(const std::vector<std::string_view>& chain, const ChainHead& want) {
  if (want.head.size() != kSha256Bytes || want.length == 0) {
    return InvalidArgumentError("the request names no case head (a client of an older version?)");
  }
  if (auto it = longest_.find(want.case_id); it != longest_.end() && it->second > want.length) {
    return FailedPreconditionError("case " + want.case_id + " has changed since this request was signed: it has " +
                                   std::to_string(it->second) + " commands, the request was signed on " +
                                   std::to_string(want.length) + "; the coordinator must fetch it and ask again");
  }
  if (auto it = by_head_.find(want.head); it != by_head_.end()) {
    if (it->second.case_id == want.case_id && it->second.length == want.length) return it->second;
  }
  if (chain.size() != want.length) {
    return FailedPreconditionError(
        "the case history shown has " + std::to_string(chain.size()) + " commands, but the coordinator signed the "
        "request on " + std::to_string(want.length) + ": " +
        (chain.size() < want.length ? "the gateway left commands out" : "it is not the history the coordinator knows"));
  }
  auto folded = VerifyChain(keys_, ctx_, chain, want.case_id);
  if (!folded.ok()) return folded.status();
  CaseFacts& facts = *folded;
  if (facts.head != want.head) {
    return FailedPreconditionError("the case history shown does not end at the command the coordinator signed the "
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
