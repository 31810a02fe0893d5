// `ketenpoort envelope sign|verify|seal|open`: make and check envelopes by
// hand. For the demo, for debugging a partner's integration, and for testing
// another implementation of docs/protocol.md against this one.
#include <google/protobuf/util/json_util.h>

#include <nlohmann/json.hpp>

#include "cli/cli_context.h"
#include "core/base/clock.h"
#include "core/base/encoding.h"
#include "core/base/file_util.h"
#include "core/envelope/envelope.h"
#include "core/envelope/message_kinds.h"
#include "core/envelope/sealed.h"
#include "core/identity/identity.h"
#include "core/identity/passphrase_prompt.h"

namespace kp::cli {
namespace {

constexpr size_t kMaxInputBytes = wire::kMaxEnvelopeBytes + 1024;

struct EnvelopeArgs {
  std::string identity;
  std::vector<std::string> cards;  // --to (seal) or --from (verify, open)
  std::string kind;
  std::string recipient;
  std::string request_id_hex;
  std::string in;
  std::string out;
  int64_t window_s = 300;
};

Result<std::string> BodyFromJson(MessageKind kind, const std::string& json) {
  auto body = NewBodyFor(kind);
  auto st = google::protobuf::util::JsonStringToMessage(json, body.get());
  if (!st.ok()) return InvalidArgumentError("input is not a valid JSON " + body->GetDescriptor()->name());
  return body->SerializeAsString();
}

Result<std::string> RequestId(const std::string& hex) {
  if (hex.empty()) return std::string();
  auto raw = HexDecode(hex);
  if (!raw.ok() || raw->size() != wire::kMessageIdBytes) {
    return InvalidArgumentError("--request-id must be 32 hex digits");
  }
  return *raw;
}

Result<StaticKeyResolver> ResolverFromCards(const std::vector<std::string>& paths) {
  StaticKeyResolver keys;
  for (const auto& p : paths) {
    KP_ASSIGN_OR_RETURN(PublicCard card, PublicCard::LoadFile(p));
    keys.Add(card.id, card.signing_key);
  }
  return keys;
}

Status Emit(CliContext& ctx, const std::string& out_path, const std::string& bytes) {
  if (out_path.empty() || out_path == "-") {
    ctx.out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return OkStatus();
  }
  return WriteFileDurable(out_path, bytes, 0600, WriteMode::kReplace);
}

Status PrintVerified(CliContext& ctx, const VerifiedEnvelope& env) {
  auto body = NewBodyFor(env.header.kind());
  KP_RETURN_IF_ERROR(ParseBody(env.body, *body));
  std::string body_json;
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(*body, &body_json, opts);
  nlohmann::json j;
  j["verified"] = true;
  j["kind"] = std::string(wire::KindLabel(env.header.kind()));
  j["sender"] = env.header.sender();
  j["recipient"] = env.header.recipient();
  j["message_id"] = HexEncode(env.header.message_id());
  j["request_id"] = HexEncode(env.header.request_id());
  j["sent_at"] = FormatRfc3339Millis(env.header.sent_at_ms());
  j["body"] = nlohmann::json::parse(body_json);
  ctx.out << j.dump(2) << "\n";
  return OkStatus();
}

Status RunSign(const EnvelopeArgs& a, CliContext& ctx, bool seal) {
  KP_ASSIGN_OR_RETURN(Identity me, Identity::LoadFile(a.identity, TerminalOrEnvPassphraseProvider()));
  KP_ASSIGN_OR_RETURN(MessageKind kind, ParseKindLabel(a.kind));
  KP_ASSIGN_OR_RETURN(std::string json, ReadFileBounded(a.in, kMaxInputBytes));
  KP_ASSIGN_OR_RETURN(std::string body, BodyFromJson(kind, json));
  KP_ASSIGN_OR_RETURN(std::string request_id, RequestId(a.request_id_hex));
  EnvelopeSigner signer(me.id(), me.signing().secret_key, SystemClock::Get());
  if (!seal) {
    KP_ASSIGN_OR_RETURN(SignedMessage msg, signer.Sign(kind, a.recipient, request_id, body));
    return Emit(ctx, a.out, msg.bytes);
  }
  if (a.cards.size() != 1) return InvalidArgumentError("seal needs exactly one --to CARD");
  KP_ASSIGN_OR_RETURN(PublicCard to, PublicCard::LoadFile(a.cards[0]));
  KP_ASSIGN_OR_RETURN(std::string sealed, SignAndSeal(signer, kind, to.id, to.sealing_key, request_id, body));
  return Emit(ctx, a.out, sealed);
}

Status RunVerify(const EnvelopeArgs& a, CliContext& ctx) {
  KP_ASSIGN_OR_RETURN(StaticKeyResolver keys, ResolverFromCards(a.cards));
  KP_ASSIGN_OR_RETURN(std::string bytes, ReadFileBounded(a.in, kMaxInputBytes));
  ReplayGuard replay(SystemClock::Get(), {.window_ms = a.window_s * 1000, .max_entries = 16});
  EnvelopeVerifier verifier(keys, &replay);
  VerifyOptions opts;
  if (!a.kind.empty()) {
    KP_ASSIGN_OR_RETURN(MessageKind kind, ParseKindLabel(a.kind));
    opts.expected_kind = kind;
  }
  KP_ASSIGN_OR_RETURN(VerifiedEnvelope env, verifier.Verify(bytes, opts));
  return PrintVerified(ctx, env);
}

Status RunOpen(const EnvelopeArgs& a, CliContext& ctx) {
  KP_ASSIGN_OR_RETURN(Identity me, Identity::LoadFile(a.identity, TerminalOrEnvPassphraseProvider()));
  KP_ASSIGN_OR_RETURN(StaticKeyResolver keys, ResolverFromCards(a.cards));
  KP_ASSIGN_OR_RETURN(MessageKind kind, ParseKindLabel(a.kind));
  KP_ASSIGN_OR_RETURN(std::string request_id, RequestId(a.request_id_hex));
  if (request_id.empty()) return InvalidArgumentError("open needs --request-id");
  KP_ASSIGN_OR_RETURN(std::string sealed, ReadFileBounded(a.in, kMaxInputBytes));
  KP_ASSIGN_OR_RETURN(VerifiedEnvelope env,
                      OpenAndVerify(me.sealing(), keys, sealed, {kind, me.id(), request_id, ""}));
  return PrintVerified(ctx, env);
}

}  // namespace

void RegisterEnvelopeCommand(CLI::App& app, CliContext& ctx) {
  CLI::App* group = app.add_subcommand("envelope", "Sign, verify, seal and open single messages by hand");
  group->require_subcommand(1);
  auto add = [&](const std::string& name, const std::string& help, auto run, bool needs_identity,
                 const std::string& cards_flag, const std::string& cards_help) {
    auto a = std::make_shared<EnvelopeArgs>();
    CLI::App* cmd = group->add_subcommand(name, help);
    if (needs_identity) cmd->add_option("--identity", a->identity, "Your secret identity file")->required();
    if (!cards_flag.empty()) cmd->add_option(cards_flag, a->cards, cards_help)->required();
    cmd->add_option("--in", a->in, "Input file")->required();
    cmd->callback([a, &ctx, run] {
      Status s = run(*a, ctx);
      if (!s.ok()) ctx.Fail(s);
    });
    return std::make_pair(cmd, a);
  };
  {
    auto [cmd, a] = add("sign", "Sign a JSON message body into an envelope",
                        [](const EnvelopeArgs& x, CliContext& c) { return RunSign(x, c, false); }, true, "", "");
    cmd->add_option("--kind", a->kind, "Message kind, e.g. heartbeat, fragment-request")->required();
    cmd->add_option("--recipient", a->recipient, "Recipient participant id (empty: the gateway)");
    cmd->add_option("--request-id", a->request_id_hex, "Request this belongs to (32 hex digits)");
    cmd->add_option("--out", a->out, "Output file (default: stdout)");
  }
  {
    auto [cmd, a] = add("verify", "Verify an envelope and print it as JSON", RunVerify, false, "--from",
                        "Public card of a possible signer (repeatable)");
    cmd->add_option("--kind", a->kind, "Expected message kind");
    cmd->add_option("--window", a->window_s, "Allowed clock difference in seconds (default 300)");
  }
  {
    auto [cmd, a] = add("seal", "Sign a JSON body and seal it to a recipient's card",
                        [](const EnvelopeArgs& x, CliContext& c) { return RunSign(x, c, true); }, true, "--to",
                        "Public card of the recipient");
    cmd->add_option("--kind", a->kind, "subject-data or fragment-content")->required();
    cmd->add_option("--request-id", a->request_id_hex, "Request it belongs to (32 hex digits)")->required();
    cmd->add_option("--out", a->out, "Output file (default: stdout)");
  }
  {
    auto [cmd, a] = add("open", "Open a sealed message, verify it and print it as JSON", RunOpen, true, "--from",
                        "Public card of the expected signer (repeatable)");
    cmd->add_option("--kind", a->kind, "subject-data or fragment-content")->required();
    cmd->add_option("--request-id", a->request_id_hex, "Request it must belong to (32 hex digits)")->required();
  }
}

}  // namespace kp::cli
