#include "core/envelope/envelope.h"

#include <google/protobuf/stubs/logging.h>

#include <mutex>

#include "core/base/encoding.h"
#include "core/crypto/ed25519.h"
#include "core/crypto/random.h"
#include "core/identity/participant.h"

namespace kp {
namespace {

using ketenpoort::v1::Envelope;
using ketenpoort::v1::Header;

// True when the message or any nested message carries unknown fields.
bool HasUnknownFields(const google::protobuf::Message& m) {
  const auto* reflection = m.GetReflection();
  if (!reflection->GetUnknownFields(m).empty()) return true;
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  reflection->ListFields(m, &fields);
  for (const auto* f : fields) {
    if (f->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (f->is_repeated()) {
      for (int i = 0; i < reflection->FieldSize(m, f); ++i) {
        if (HasUnknownFields(reflection->GetRepeatedMessage(m, f, i))) return true;
      }
    } else if (HasUnknownFields(reflection->GetMessage(m, f))) {
      return true;
    }
  }
  return false;
}

// Protobuf logs to stderr when it meets bad UTF-8 in untrusted input; that
// is our refusal to report, not its, so its messages are dropped.
void SilenceProtobufLogging() {
  static std::once_flag once;
  std::call_once(once, [] { google::protobuf::SetLogHandler([](google::protobuf::LogLevel, const char*, int,
                                                                 const std::string&) {}); });
}

bool ParseStrict(std::string_view bytes, google::protobuf::Message& out) {
  SilenceProtobufLogging();
  if (bytes.size() > static_cast<size_t>(INT32_MAX)) return false;
  if (!out.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) return false;
  return !HasUnknownFields(out);
}

Status CheckId(const std::string& id, std::string_view what, bool may_be_empty) {
  if (id.empty() && may_be_empty) return OkStatus();
  Status s = ValidateParticipantId(id, what);
  return s.ok() ? s : InvalidArgumentError("envelope header: " + s.message());
}

}  // namespace

Result<std::vector<std::string>> KeyResolver::SigningKeysOf(std::string_view participant_id, int64_t) const {
  KP_ASSIGN_OR_RETURN(std::string key, SigningKeyOf(participant_id));
  return std::vector<std::string>{std::move(key)};
}

Result<std::string> StaticKeyResolver::SigningKeyOf(std::string_view participant_id) const {
  auto it = keys_.find(participant_id);
  if (it == keys_.end() || it->second.empty()) return NotFoundError("participant is not enrolled");
  return it->second.front().first;
}

Result<std::vector<std::string>> StaticKeyResolver::SigningKeysOf(std::string_view participant_id,
                                                                  int64_t at_ms) const {
  auto it = keys_.find(participant_id);
  if (it == keys_.end() || it->second.empty()) return NotFoundError("participant is not enrolled");
  std::vector<std::string> out;
  for (const auto& [key, expires_ms] : it->second) {
    if (expires_ms == 0 || at_ms < expires_ms) out.push_back(key);
  }
  if (out.empty()) return FailedPreconditionError("its card had expired when the message was sent");
  return out;
}

Status ParseBody(std::string_view body, google::protobuf::Message& out) {
  if (!ParseStrict(body, out)) {
    return InvalidArgumentError("message body is not a valid " + out.GetDescriptor()->name() +
                                " of protocol version 1");
  }
  return OkStatus();
}

EnvelopeSigner::EnvelopeSigner(std::string participant_id, const SecretBytes& signing_key, const Clock& clock)
    : participant_id_(std::move(participant_id)), signing_key_(signing_key), clock_(clock) {
  KP_CHECK(signing_key_.size() == kEd25519SecretKeyBytes);
}

Result<SignedMessage> EnvelopeSigner::Sign(MessageKind kind, std::string_view recipient,
                                           std::string_view request_id, std::string_view body,
                                           std::string_view message_id) const {
  if (wire::KindLabel(kind).empty()) return InvalidArgumentError("cannot sign a message of unknown kind");
  if (body.size() > wire::MaxBodyBytes(kind)) {
    return InvalidArgumentError("message body of " + std::to_string(body.size()) + " bytes exceeds the limit of " +
                                std::to_string(wire::MaxBodyBytes(kind)) + " for its kind");
  }
  if (!request_id.empty() && request_id.size() != wire::kMessageIdBytes) {
    return InvalidArgumentError("request id must be 16 bytes");
  }
  if (!message_id.empty() && message_id.size() != wire::kMessageIdBytes) {
    return InvalidArgumentError("message id must be 16 bytes");
  }
  Header header;
  header.set_version(wire::kProtocolVersion);
  header.set_kind(kind);
  header.set_message_id(message_id.empty() ? NewMessageId() : std::string(message_id));
  header.set_sender(participant_id_);
  header.set_recipient(std::string(recipient));
  header.set_sent_at_ms(clock_.NowMillis());
  header.set_request_id(std::string(request_id));
  std::string header_bytes = header.SerializeAsString();
  if (header_bytes.size() > wire::kMaxHeaderBytes) return InvalidArgumentError("envelope header is too large");

  Envelope env;
  env.set_signature(Ed25519Sign(signing_key_, wire::SigningInput(kind, header_bytes, body)));
  env.set_header(std::move(header_bytes));
  env.set_body(std::string(body));
  SignedMessage out{header.message_id(), env.SerializeAsString()};
  if (out.bytes.size() > wire::kMaxEnvelopeBytes) return InvalidArgumentError("envelope is too large");
  return out;
}

EnvelopeVerifier::EnvelopeVerifier(const KeyResolver& keys, ReplayGuard* replay) : keys_(keys), replay_(replay) {}

Result<VerifiedEnvelope> EnvelopeVerifier::Verify(std::string_view bytes, const VerifyOptions& options) const {
  // 1. Size, before anything is parsed.
  if (bytes.size() > wire::kMaxEnvelopeBytes) {
    return InvalidArgumentError("envelope of " + std::to_string(bytes.size()) + " bytes exceeds the limit of " +
                                std::to_string(wire::kMaxEnvelopeBytes));
  }
  // 2. The outer envelope must be in its one canonical encoding, so that no
  // two byte strings carry the same signed content.
  Envelope env;
  if (!ParseStrict(bytes, env) || env.SerializeAsString() != bytes) {
    return InvalidArgumentError("not a well-formed envelope");
  }
  if (env.header().size() > wire::kMaxHeaderBytes) return InvalidArgumentError("envelope header is too large");
  if (env.signature().size() != wire::kSignatureBytes) {
    return UnauthenticatedError("envelope signature is missing or has the wrong length");
  }
  // 3. The header names the signer and the kind; it is not trusted until the
  // signature over it verifies.
  Header header;
  if (!ParseStrict(env.header(), header)) return InvalidArgumentError("envelope header is malformed");
  if (header.version() != wire::kProtocolVersion) {
    return InvalidArgumentError("unsupported protocol version " + std::to_string(header.version()));
  }
  if (wire::KindLabel(header.kind()).empty()) return InvalidArgumentError("unknown message kind");
  if (header.message_id().size() != wire::kMessageIdBytes) {
    return InvalidArgumentError("message id must be 16 bytes");
  }
  if (!header.request_id().empty() && header.request_id().size() != wire::kMessageIdBytes) {
    return InvalidArgumentError("request id must be 16 bytes");
  }
  KP_RETURN_IF_ERROR(CheckId(header.sender(), "sender", false));
  KP_RETURN_IF_ERROR(CheckId(header.recipient(), "recipient", true));
  if (env.body().size() > wire::MaxBodyBytes(header.kind())) {
    return InvalidArgumentError("message body exceeds the limit for its kind");
  }
  // 4. The signature.
  // During a key rotation the sender has two keys (docs/formats.md §2.4).
  auto keys = keys_.SigningKeysOf(header.sender(), static_cast<int64_t>(header.sent_at_ms()));
  if (!keys.ok()) {
    if (keys.status().code() == StatusCode::kFailedPrecondition) {
      return UnauthenticatedError("sender '" + header.sender() + "': " + keys.status().message());
    }
    return UnauthenticatedError("sender '" + header.sender() + "' is not enrolled");
  }
  const std::string signing_input = wire::SigningInput(header.kind(), env.header(), env.body());
  Status sig = UnauthenticatedError("no key");
  for (const auto& key : *keys) {
    sig = Ed25519Verify(key, signing_input, env.signature());
    if (sig.ok()) break;
  }
  if (!sig.ok()) return UnauthenticatedError("envelope from '" + header.sender() + "': " + sig.message());
  // 5. What the caller expects of an authentic message.
  if (options.expected_sender && header.sender() != *options.expected_sender) {
    return UnauthenticatedError("envelope signed by '" + header.sender() + "' but sent by '" +
                                *options.expected_sender + "'");
  }
  if (options.expected_kind && header.kind() != *options.expected_kind) {
    return InvalidArgumentError(std::string("expected a ") + std::string(wire::KindLabel(*options.expected_kind)) +
                                " message, got " + std::string(wire::KindLabel(header.kind())));
  }
  if (options.expected_recipient && header.recipient() != *options.expected_recipient) {
    return UnauthenticatedError("envelope is addressed to '" + header.recipient() + "', not to '" +
                                *options.expected_recipient + "'");
  }
  // 6. Freshness, last, so that only authentic messages enter the table.
  if (replay_ != nullptr) {
    KP_RETURN_IF_ERROR(replay_->Check(header.sender(), header.message_id(), header.sent_at_ms()));
  }
  VerifiedEnvelope out;
  out.header = std::move(header);
  out.body = std::move(*env.mutable_body());
  return out;
}

}  // namespace kp
