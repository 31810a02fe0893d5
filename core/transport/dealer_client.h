// DealerClient: an agent's or coordinator's one connection to the gateway,
// CURVE client side (docs/protocol.md §7).
//
// It watches its own socket's events, so it can tell the three situations
// partner IT must tell apart: connected; "refused by the gateway: this key
// is not enrolled" (a ZAP/CURVE refusal, which ZeroMQ does not retry by
// itself: call Reconnect(), with backoff); and "gateway unreachable"
// (ZeroMQ keeps retrying the TCP connection on its own).
//
// A hostile gateway cannot make it hold more than a bounded amount either:
// a frame is at most max_message_bytes, at most receive_hwm whole messages
// wait, and a receive guard (core/transport/receive_guard.h) cuts the
// connection when the gateway has sent more than
// max_unread_bytes_per_connection that was not read — a message of many
// frames included, which libzmq holds whole before showing its first frame.
// ZeroMQ then reconnects by itself.
//
// Signals: Receive() and WaitForHandshake() return early, as if nothing
// came, when a signal interrupts them (EINTR), so the caller's loop can look
// at its stop and reload flags.
//
// Not thread-safe: one thread owns it.
#ifndef KETENPOORT_CORE_TRANSPORT_DEALER_CLIENT_H_
#define KETENPOORT_CORE_TRANSPORT_DEALER_CLIENT_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "core/base/status.h"
#include "core/crypto/secret_bytes.h"

namespace zmq {
class context_t;
class socket_t;
}  // namespace zmq

namespace kp {

namespace transport_internal {
class ReceiveGuard;
}  // namespace transport_internal

struct DealerOptions {
  std::string endpoint;           // e.g. tcp://gateway.zvh.local:7400
  std::string server_public_key;  // the gateway's transport key, 32 bytes (from its pinned card)
  int send_hwm = 1'000;
  // Whole messages that may wait unread; small, as each may be
  // max_message_bytes. Must be positive.
  int receive_hwm = 8;
  int heartbeat_interval_ms = 1'000;
  int heartbeat_timeout_ms = 5'000;
  int reconnect_interval_ms = 100;  // TCP reconnects, done by ZeroMQ
  int reconnect_interval_max_ms = 5'000;
  int64_t max_message_bytes = 4 * 1024 * 1024 + 64;
  // Most the gateway may have sent that was not read; 0:
  // (receive_hwm + 1) * max_message_bytes + 4 MiB.
  int64_t max_unread_bytes_per_connection = 0;
  // How long closing waits for messages not yet sent (ZMQ_LINGER); 0: drop
  // them. A short-lived client (the `ketenpoort` command) lingers so that its
  // last message, an acknowledgement, still leaves.
  int linger_ms = 0;
};

enum class ConnectionState {
  kConnecting,    // no handshake completed yet
  kConnected,     // CURVE handshake succeeded and ZAP admitted us
  kRefused,       // the gateway refused our key (not enrolled, or removed)
  kDisconnected,  // was connected; ZeroMQ is reconnecting
};

std::string_view ConnectionStateName(ConnectionState state);

class DealerClient {
 public:
  // Keeps its own locked copy of `secret_key` (our transport secret), so the
  // caller's identity may move or go away while the client lives.
  static Result<std::unique_ptr<DealerClient>> Create(zmq::context_t& context, const std::string& public_key,
                                                      const SecretBytes& secret_key,
                                                      const DealerOptions& options);
  ~DealerClient();

  // Queues one envelope; never blocks. ResourceExhausted when the outgoing
  // queue is full (the gateway is not reading or not reachable).
  Status Send(const std::string& payload);

  // Waits up to `timeout_ms` for one envelope, meanwhile following the
  // connection state. nullopt on timeout or when a signal interrupted the
  // wait. Unauthenticated when the gateway refused our key.
  Result<std::optional<std::string>> Receive(int timeout_ms);

  // Waits until connected, refused, `timeout_ms` passed, or a signal
  // interrupted the wait.
  ConnectionState WaitForHandshake(int timeout_ms);

  // Connections cut so far because the gateway ran too far ahead.
  uint64_t connections_cut() const;

  // Closes the socket and connects afresh (after a refusal, or a stall).
  Status Reconnect();
  // The same, to the gateway's other transport key (32 bytes): during a
  // rotation of the gateway's keys the signed registry lists its old and new
  // card, and a gateway that restarted after keygen --activate serves under
  // the new one (docs/operations.md, "Key rotation").
  Status ReconnectTo(const std::string& server_public_key);
  const std::string& server_public_key() const { return options_.server_public_key; }

  ConnectionState state() const { return state_; }
  // CURVE handshakes completed so far: a change means a new connection (the
  // gateway restarted, or ZeroMQ reconnected), seen as events are read by
  // Receive, Send or WaitForHandshake.
  uint64_t handshakes() const { return handshakes_; }

 private:
  DealerClient(zmq::context_t& context, std::string public_key, const SecretBytes& secret_key,
               DealerOptions options);
  Status Open();
  void DrainEvents();

  zmq::context_t& context_;
  const std::string public_key_;
  const SecretBytes secret_key_;
  DealerOptions options_;  // server_public_key changes with ReconnectTo
  std::unique_ptr<zmq::socket_t> socket_;
  // Follows socket_'s connections and passes its monitor events on to
  // monitor_ (ZeroMQ allows one monitor per socket). Destroyed before socket_.
  std::unique_ptr<transport_internal::ReceiveGuard> guard_;
  std::unique_ptr<zmq::socket_t> monitor_;
  std::string monitor_endpoint_;
  ConnectionState state_ = ConnectionState::kConnecting;
  uint64_t handshakes_ = 0;
  uint64_t cut_before_ = 0;  // by guards of sockets closed by Reconnect()
  static std::atomic<uint64_t> next_monitor_id_;
};

}  // namespace kp

#endif  // KETENPOORT_CORE_TRANSPORT_DEALER_CLIENT_H_
