// ReceiveGuard: bounds how much one connection can make a process hold
// before the application has read it (internal to core/transport; see
// docs/protocol.md §7).
//
// Why it is needed. ZMTP delivers a multipart message atomically: libzmq
// writes every frame of a message into the connection's pipe and makes the
// message visible only with its last frame (src/ypipe.hpp: write with
// `incomplete`, flush up to the last complete message). ZMQ_MAXMSGSIZE bounds
// one frame (src/v2_decoder.cpp, size_ready), and the receive HWM counts
// complete messages only (src/pipe.cpp, check_hwm/write). So one message of
// 256 frames of 4 MiB is held whole, 1 GiB, before the application could look
// at its first frame and refuse it; no check after zmq_recv can bound memory.
//
// What it does. A thread follows the socket's connections through
// zmq_socket_monitor (ACCEPTED/CONNECTED give the file descriptor,
// DISCONNECTED/CLOSED end it) and every few milliseconds compares, for each
// connection, the bytes libzmq has read from the kernel (TCP_INFO
// tcpi_bytes_received minus what still waits in the kernel, SIOCINQ) with the
// bytes the application took out of that connection (Took(), which reads each
// frame's ZMQ_SRCFD), plus a fixed allowance per frame for ZMTP and CURVE
// framing. A connection further ahead than `max_bytes_ahead` is cut
// (connect(AF_UNSPEC) aborts it with a reset; libzmq sees ECONNRESET, drops
// the connection and rolls back the incomplete message: session_base.cpp,
// engine_error/clean_pipes). The peer may reconnect.
//
// Heartbeats (PING/PONG) are read by libzmq and never reach the application,
// so the gap of a healthy idle connection grows by a few dozen bytes a
// second; the gap is therefore measured as a leaky bucket that drains by
// `heartbeat_allowance_per_second`. That drain is also all a peer gains by
// trickling bytes into a message that never ends.
//
// Thread-safe: Took() may be called from the socket's owning thread while the
// guard's own thread runs. Create it before the socket binds or connects, so
// that no connection is missed. The watched socket and `context` must outlive
// the guard.
#ifndef KETENPOORT_CORE_TRANSPORT_RECEIVE_GUARD_H_
#define KETENPOORT_CORE_TRANSPORT_RECEIVE_GUARD_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "core/base/status.h"

namespace zmq {
class context_t;
class socket_t;
class message_t;
}  // namespace zmq

namespace kp::transport_internal {

struct ReceiveGuardOptions {
  // Most a connection may be ahead of the application; must cover what the
  // receive HWM legitimately lets wait: (receive_hwm + 1) whole messages.
  int64_t max_bytes_ahead = 0;
  // Drain of the bucket: covers the peer's PINGs and PONGs (about 80 bytes a
  // second with CURVE and a 1 s heartbeat).
  int64_t heartbeat_allowance_per_second = 256;
  int interval_ms = 5;
  // ZeroMQ allows one monitor per socket, and the guard is it. When set,
  // every monitor event is passed on, unchanged, to a PAIR socket the guard
  // binds at this inproc endpoint (DealerClient reads handshake events there).
  std::string relay_endpoint;
  // Who is at the other end, for log lines when no participant id is known
  // (e.g. "the gateway").
  std::string peer_label;
};

// The bound a socket's options give (max_unread_bytes_per_connection), or,
// when they give none (0), what the receive HWM lets wait plus 4 MiB of
// room for framing: (receive_hwm + 1) * max_message_bytes + 4 MiB.
int64_t MaxBytesAhead(int64_t max_unread_bytes_per_connection, int receive_hwm, int64_t max_message_bytes);

class ReceiveGuard {
 public:
  static Result<std::unique_ptr<ReceiveGuard>> Start(zmq::context_t& context, zmq::socket_t& socket,
                                                     ReceiveGuardOptions options);
  ~ReceiveGuard();  // stops and joins the thread
  ReceiveGuard(const ReceiveGuard&) = delete;
  ReceiveGuard& operator=(const ReceiveGuard&) = delete;

  // The application took `frame` out of the socket. `participant_id` (the ZAP
  // User-Id; may be empty) names the connection in log lines.
  void Took(const zmq::message_t& frame, std::string_view participant_id);

  uint64_t connections_cut() const { return cut_.load(); }

 private:
  struct Connection;
  struct Credit {
    uint64_t bytes = 0;  // frame sizes plus the per-frame framing allowance
    std::string participant_id;
  };

  explicit ReceiveGuard(ReceiveGuardOptions options);
  void Run();
  void DrainEvents();
  void Sample();
  void Cut(int fd);

  const ReceiveGuardOptions options_;
  void* watched_ = nullptr;  // the watched socket (its monitor is stopped on destruction)
  // Owned by the guard's thread once it runs.
  void* monitor_ = nullptr;
  void* relay_ = nullptr;
  std::map<int, std::unique_ptr<Connection>> connections_;

  int wake_fd_ = -1;  // eventfd: the destructor wakes the thread
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> cut_{0};
  std::mutex mu_;
  std::map<int, Credit> credits_;  // by file descriptor; guarded by mu_
  std::thread thread_;
};

}  // namespace kp::transport_internal

#endif  // KETENPOORT_CORE_TRANSPORT_RECEIVE_GUARD_H_
