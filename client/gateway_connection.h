// GatewayConnection: a participant's signed request/answer channel to the
// gateway (coordinator commands, inbox fetch, the privacy officer's audit
// pull). It pins the gateway's card: the CURVE server key and the signing key
// that every answer must carry.
//
// Not thread-safe: one thread uses it.
#ifndef KETENPOORT_CLIENT_GATEWAY_CONNECTION_H_
#define KETENPOORT_CLIENT_GATEWAY_CONNECTION_H_

#include <google/protobuf/message.h>

#include <functional>
#include <memory>
#include <string>

#include "core/base/clock.h"
#include "core/envelope/envelope.h"
#include "core/identity/identity.h"
#include "core/transport/dealer_client.h"
#include "core/transport/transport_context.h"

namespace kp::client {

class GatewayConnection {
 public:
  // Borrows `me` and `clock` (must outlive the connection). Waits up to
  // `handshake_ms` for the CURVE handshake: Unauthenticated when the gateway
  // refuses this key (not enrolled), Unavailable when it cannot be reached.
  static Result<std::unique_ptr<GatewayConnection>> Open(const std::string& endpoint, const PublicCard& gateway,
                                                         const Identity& me, const Clock& clock,
                                                         int handshake_ms = 5000);
  ~GatewayConnection();

  // Signs and sends; returns the message id.
  Result<std::string> Send(ketenpoort::v1::MessageKind kind, const google::protobuf::Message& body);

  // Waits up to `timeout_ms` for the gateway's answer to `request_id` (other
  // messages are skipped). An ERROR answer becomes its Status.
  Result<VerifiedEnvelope> Await(const std::string& request_id, int timeout_ms);
  // The same, and every other message that arrives meanwhile is handed to
  // `other` as received, NOT verified (an inbox fetch: the held messages
  // come before its end mark, and may be older than the replay window; the
  // caller verifies them, e.g. client/privacy_notices.cc).
  Result<VerifiedEnvelope> Await(const std::string& request_id, int timeout_ms,
                                 const std::function<void(const std::string&)>& other);

 private:
  GatewayConnection(const PublicCard& gateway, const Identity& me, const Clock& clock);
  std::unique_ptr<TransportContext> context_;
  std::unique_ptr<DealerClient> dealer_;
  std::string gateway_id_;
  StaticKeyResolver keys_;
  const Identity& me_;
  EnvelopeSigner signer_;
  ReplayGuard replay_;
};

}  // namespace kp::client

#endif  // KETENPOORT_CLIENT_GATEWAY_CONNECTION_H_
