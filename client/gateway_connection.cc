#include "client/gateway_connection.h"

#include <chrono>

#include "core/envelope/wire_format.h"
#include "ketenpoort/v1/messages.pb.h"

namespace kp::client {

namespace v1 = ketenpoort::v1;

GatewayConnection::GatewayConnection(const PublicCard& gateway, const Identity& me, const Clock& clock)
    : gateway_id_(gateway.id),
      me_(me),
      signer_(me.id(), me.signing().secret_key, clock),
      replay_(clock, {.window_ms = 300'000, .max_entries = 100'000}) {
  keys_.Add(gateway.id, gateway.signing_key);
}

GatewayConnection::~GatewayConnection() {
  dealer_.reset();  // before the context
}

Result<std::unique_ptr<GatewayConnection>> GatewayConnection::Open(const std::string& endpoint,
                                                                   const PublicCard& gateway, const Identity& me,
                                                                   const Clock& clock, int handshake_ms) {
  if (gateway.kind != ParticipantKind::kGateway) {
    return InvalidArgumentError("the pinned gateway card " + gateway.id + " is not a gateway card");
  }
  std::unique_ptr<GatewayConnection> c(new GatewayConnection(gateway, me, clock));
  c->context_ = std::make_unique<TransportContext>();
  DealerOptions options;
  options.endpoint = endpoint;
  options.server_public_key = gateway.transport_key;
  KP_ASSIGN_OR_RETURN(c->dealer_, DealerClient::Create(c->context_->get(), me.transport().public_key,
                                                       me.transport().secret_key, options));
  switch (c->dealer_->WaitForHandshake(handshake_ms)) {
    case ConnectionState::kConnected:
      return c;
    case ConnectionState::kRefused:
      return UnauthenticatedError("refused by the gateway: the key of " + me.id() + " is not enrolled");
    default:
      return UnavailableError("gateway unreachable at " + endpoint);
  }
}

Result<std::string> GatewayConnection::Send(v1::MessageKind kind, const google::protobuf::Message& body) {
  KP_ASSIGN_OR_RETURN(SignedMessage m, signer_.Sign(kind, "", "", body.SerializeAsString()));
  KP_RETURN_IF_ERROR(dealer_->Send(m.bytes));
  return m.message_id;
}

Result<VerifiedEnvelope> GatewayConnection::Await(const std::string& request_id, int timeout_ms) {
  return Await(request_id, timeout_ms, nullptr);
}

Result<VerifiedEnvelope> GatewayConnection::Await(const std::string& request_id, int timeout_ms,
                                                  const std::function<void(const std::string&)>& other) {
  using SteadyClock = std::chrono::steady_clock;
  const auto deadline = SteadyClock::now() + std::chrono::milliseconds(timeout_ms);
  EnvelopeVerifier verifier(keys_, &replay_);
  VerifyOptions options;
  options.expected_recipient = me_.id();
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now()).count();
    if (left <= 0) return DeadlineExceededError("no answer from the gateway in time");
    KP_ASSIGN_OR_RETURN(auto bytes, dealer_->Receive(static_cast<int>(left)));
    if (!bytes.has_value()) continue;
    if (other) {
      v1::Envelope unverified;
      v1::Header header;
      if (!unverified.ParseFromString(*bytes) || !header.ParseFromString(unverified.header()) ||
          header.request_id() != request_id) {
        other(*bytes);
        continue;
      }
    }
    KP_ASSIGN_OR_RETURN(VerifiedEnvelope env, verifier.Verify(*bytes, options));
    if (env.header.request_id() != request_id) continue;  // heartbeats, unrelated answers
    if (env.header.kind() == v1::MESSAGE_KIND_ERROR) {
      v1::Error err;
      KP_RETURN_IF_ERROR(ParseBody(env.body, err));
      StatusCode code = err.code() == v1::ERROR_CODE_UNSPECIFIED ? StatusCode::kUnknown
                                                                 : static_cast<StatusCode>(err.code());
      return Status(code, "the gateway answered: " + err.message());
    }
    return env;
  }
}

}  // namespace kp::client
