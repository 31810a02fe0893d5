// RouterServer: the gateway's one ROUTER socket, CURVE server side.
//
// Framing (docs/protocol.md §7): each message from a peer is
// [routing-id, envelope]; a message with more frames is reported as
// malformed. Every received message carries the peer's participant id from
// the ZAP handler (User-Id), never from a field the peer filled in.
//
// Memory per peer is bounded: a frame by max_message_bytes, whole messages
// waiting by receive_hwm, and everything a connection has sent but the
// gateway has not read — including a message still being assembled, which
// libzmq holds whole before showing its first frame — by a receive guard
// (core/transport/receive_guard.h) that cuts a connection further ahead than
// max_unread_bytes_per_connection. The peer may reconnect.
//
// Signals: Receive() interrupted by a signal (EINTR) returns OK with no
// message, so the caller's loop can look at its stop and reload flags.
//
// Sends never block: when a peer's pipe is full (HWM), the message is parked
// in a bounded per-peer queue and retried by FlushParked(); when that queue is
// full too, Send returns ResourceExhausted. ROUTER_MANDATORY is on, so a send
// to a peer that is gone returns Unavailable instead of vanishing.
//
// Not thread-safe: one thread owns it (ZeroMQ sockets are single-threaded).
#ifndef KETENPOORT_CORE_TRANSPORT_ROUTER_SERVER_H_
#define KETENPOORT_CORE_TRANSPORT_ROUTER_SERVER_H_

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/base/status.h"
#include "core/crypto/secret_bytes.h"
#include "core/transport/zap_handler.h"

namespace zmq {
class context_t;
class socket_t;
}  // namespace zmq

namespace kp {

namespace transport_internal {
class ReceiveGuard;
}  // namespace transport_internal

struct RouterOptions {
  std::string endpoint = "tcp://127.0.0.1:*";  // "*" port: chosen by the OS
  std::string zap_domain = "ketenpoort";
  int send_hwm = 10'000;                     // messages per peer
  // Whole messages per peer that may wait unread. Small, because each may be
  // max_message_bytes: a peer that sends faster than the gateway reads is
  // held back by TCP flow control instead. Must be positive.
  int receive_hwm = 8;
  int heartbeat_interval_ms = 1'000;         // ZMTP PING
  int heartbeat_timeout_ms = 5'000;          // no traffic: the connection is closed
  int64_t max_message_bytes = 4 * 1024 * 1024 + 64;
  size_t max_parked_per_peer = 1'000;
  // Most one connection may have sent that the gateway has not read; 0:
  // (receive_hwm + 1) * max_message_bytes + 4 MiB (whole messages the HWM
  // lets wait, one being assembled, and room for framing).
  int64_t max_unread_bytes_per_connection = 0;
};

struct IncomingMessage {
  std::string routing_id;
  std::string participant_id;  // ZAP User-Id
  std::string kind;            // ZAP metadata
  std::string partner;         // ZAP metadata
  std::string role;            // ZAP metadata
  std::string payload;         // the envelope bytes
  bool malformed = false;      // not exactly one payload frame
};

class RouterServer {
 public:
  // Requires `zap` to be running in `context` (a CURVE server without ZAP
  // would admit anyone). Borrows `secret_key`; it must outlive the server.
  static Result<std::unique_ptr<RouterServer>> Create(zmq::context_t& context, const ZapHandler& zap,
                                                      const std::string& public_key,
                                                      const SecretBytes& secret_key, const RouterOptions& options);
  ~RouterServer();

  // The bound endpoint, with the real port ("tcp://127.0.0.1:41234").
  const std::string& endpoint() const { return endpoint_; }

  // Waits up to `timeout_ms` (0: do not wait) for one message; nullopt when
  // none arrived.
  Result<std::optional<IncomingMessage>> Receive(int timeout_ms);

  // Sends one envelope to a peer; never blocks (see the class comment).
  Status Send(const std::string& routing_id, const std::string& payload);

  struct Undeliverable {
    std::string routing_id;
    std::string payload;
  };
  // Retries parked messages. Returns those whose peer has gone meanwhile, so
  // the caller can keep them for later (store-and-forward): nothing is
  // dropped silently.
  std::vector<Undeliverable> FlushParked();
  size_t parked() const;

  // For polling together with other sockets.
  void* native_handle();

  // Connections cut so far because they ran too far ahead (see above).
  uint64_t connections_cut() const;

 private:
  RouterServer() = default;
  Status TrySend(const std::string& routing_id, const std::string& payload, bool* would_block);

  std::unique_ptr<zmq::socket_t> socket_;
  std::unique_ptr<transport_internal::ReceiveGuard> guard_;  // destroyed before socket_
  std::string endpoint_;
  size_t max_parked_per_peer_ = 0;
  std::map<std::string, std::deque<std::string>> parked_;
};

}  // namespace kp

#endif  // KETENPOORT_CORE_TRANSPORT_ROUTER_SERVER_H_
