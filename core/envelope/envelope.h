// Signed envelopes (docs/protocol.md §2-§5).
//
// EnvelopeSigner makes an Envelope: a Header and a body as exact bytes, and
// an Ed25519 signature over a per-kind domain-separated signing input.
// EnvelopeVerifier takes untrusted bytes and returns the verified header and
// body bytes, or a Status: InvalidArgument for anything malformed or too
// large (checked before parsing), Unauthenticated for an unknown sender, a bad
// signature, a replay or a stale timestamp. It never re-serializes a parsed
// message to check a signature.
//
// Both are thread-safe after construction (the verifier's ReplayGuard is).
#ifndef KETENPOORT_CORE_ENVELOPE_ENVELOPE_H_
#define KETENPOORT_CORE_ENVELOPE_ENVELOPE_H_

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/clock.h"
#include "core/base/status.h"
#include "core/crypto/secret_bytes.h"
#include "core/envelope/replay_guard.h"
#include "core/envelope/wire_format.h"
#include "ketenpoort/v1/envelope.pb.h"

namespace kp {

using MessageKind = ketenpoort::v1::MessageKind;

// Who signed what: maps a participant id to its Ed25519 public key. The
// gateway and the agents back this with the enrolment-signed registry.
class KeyResolver {
 public:
  virtual ~KeyResolver() = default;
  // NotFound when the participant is not known.
  virtual Result<std::string> SigningKeyOf(std::string_view participant_id) const = 0;
  // Every key the participant could sign with at `at_ms` (two while its keys
  // rotate; none once its cards expired: docs/formats.md §2.4). NotFound when
  // it is not known, FailedPrecondition when all its keys had expired. The
  // default: SigningKeyOf's one key, which never expires.
  virtual Result<std::vector<std::string>> SigningKeysOf(std::string_view participant_id, int64_t at_ms) const;
};

// A fixed map; enough for tests, tools and small deployments.
class StaticKeyResolver final : public KeyResolver {
 public:
  // The participant's one key, replacing any it had; it never expires.
  void Add(const std::string& participant_id, const std::string& signing_key) {
    keys_[participant_id] = {{signing_key, 0}};
  }
  // One more key of the participant, valid before `expires_ms` (0: always),
  // e.g. each card of a registry entry.
  void AddKey(const std::string& participant_id, const std::string& signing_key, int64_t expires_ms) {
    keys_[participant_id].emplace_back(signing_key, expires_ms);
  }
  // The first key added.
  Result<std::string> SigningKeyOf(std::string_view participant_id) const override;
  Result<std::vector<std::string>> SigningKeysOf(std::string_view participant_id, int64_t at_ms) const override;

 private:
  std::map<std::string, std::vector<std::pair<std::string, int64_t>>, std::less<>> keys_;
};

struct SignedMessage {
  std::string message_id;  // 16 bytes
  std::string bytes;       // the serialized Envelope, ready for the wire
};

class EnvelopeSigner {
 public:
  // Borrows `signing_key` and `clock`: both must outlive the signer.
  EnvelopeSigner(std::string participant_id, const SecretBytes& signing_key, const Clock& clock);

  // Signs `body` (already serialized) as a message of `kind` to `recipient`
  // ("" = the gateway), belonging to `request_id` ("" = none). A fresh
  // random message id is used unless `message_id` is given (16 bytes; used
  // when a sealed inner message must name its request before it is sent).
  // InvalidArgument when a limit of docs/protocol.md §5 would be exceeded.
  Result<SignedMessage> Sign(MessageKind kind, std::string_view recipient, std::string_view request_id,
                             std::string_view body, std::string_view message_id = {}) const;

  const std::string& participant_id() const { return participant_id_; }

 private:
  std::string participant_id_;
  const SecretBytes& signing_key_;
  const Clock& clock_;
};

struct VerifiedEnvelope {
  ketenpoort::v1::Header header;  // parsed from the signed header bytes
  std::string body;               // the exact signed body bytes
};

struct VerifyOptions {
  // When set, the kind must be this one.
  std::optional<MessageKind> expected_kind;
  // When set, header.recipient must equal it.
  std::optional<std::string> expected_recipient;
  // When set, the signer must be this participant (e.g. the peer that the
  // CURVE handshake authenticated).
  std::optional<std::string> expected_sender;
};

class EnvelopeVerifier {
 public:
  // Borrows `keys`; `replay` may be null for messages whose freshness is
  // established otherwise (sealed inner messages, bound to their request).
  // Both must outlive the verifier.
  EnvelopeVerifier(const KeyResolver& keys, ReplayGuard* replay);

  Result<VerifiedEnvelope> Verify(std::string_view envelope_bytes, const VerifyOptions& options = {}) const;

 private:
  const KeyResolver& keys_;
  ReplayGuard* replay_;
};

// Parses a body of a verified envelope strictly: InvalidArgument when it does
// not parse or carries fields this version does not know.
Status ParseBody(std::string_view body, google::protobuf::Message& out);

}  // namespace kp

#endif  // KETENPOORT_CORE_ENVELOPE_ENVELOPE_H_
