#include "core/transport/receive_guard.h"

#include <linux/sockios.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <vector>
#include <zmq.hpp>

#include "core/transport/zmq_status.h"

namespace kp::transport_internal {
namespace {

using Clock = std::chrono::steady_clock;

// What ZMTP and CURVE add to a frame on the wire, at most: a long frame
// header (9 bytes) and CURVE's MESSAGE command around the box (8 bytes of
// name, 8 of nonce, 1 of flags, 16 of MAC). Credited per frame taken, so
// many small frames do not look like bytes held back.
constexpr uint64_t kFrameOverhead = 64;

constexpr int kGuardEvents = ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_CONNECTED | ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_CLOSED |
                             ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                             ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL;

std::atomic<uint64_t> next_guard_id{0};

}  // namespace

// One end of a TCP connection. Not in the anonymous namespace: a field of
// ReceiveGuard::Connection has this type.
struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;
  bool operator==(const SocketAddress& other) const {
    return length == other.length && std::memcmp(&storage, &other.storage, length) == 0;
  }
};

namespace {

SocketAddress PeerOf(int fd) {
  SocketAddress a;
  a.length = sizeof a.storage;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&a.storage), &a.length) != 0) a.length = 0;
  return a;
}

SocketAddress LocalOf(int fd) {
  SocketAddress a;
  a.length = sizeof a.storage;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&a.storage), &a.length) != 0) a.length = 0;
  return a;
}

double MiB(double bytes) { return bytes / (1024.0 * 1024.0); }

}  // namespace

int64_t MaxBytesAhead(int64_t max_unread_bytes_per_connection, int receive_hwm, int64_t max_message_bytes) {
  constexpr int64_t kFramingRoom = 4 * 1024 * 1024;
  return max_unread_bytes_per_connection > 0 ? max_unread_bytes_per_connection
                                             : (receive_hwm + 1) * max_message_bytes + kFramingRoom;
}

struct ReceiveGuard::Connection {
  int fd = -1;
  // Both ends, to tell this connection from a later one that got the same
  // descriptor number before its DISCONNECTED event was read.
  SocketAddress peer;
  SocketAddress local;
  uint64_t credited_at_start = 0;
  int64_t last_ahead = 0;
  double bucket = 0;  // bytes ahead, drained by the heartbeat allowance
  Clock::time_point last_sample;
  bool cut = false;
  bool unguarded = false;  // not TCP (no TCP_INFO): said once
};

ReceiveGuard::ReceiveGuard(ReceiveGuardOptions options) : options_(std::move(options)) {}

Result<std::unique_ptr<ReceiveGuard>> ReceiveGuard::Start(zmq::context_t& context, zmq::socket_t& socket,
                                                          ReceiveGuardOptions options) {
  if (options.max_bytes_ahead <= 0 || options.interval_ms <= 0) {
    return InvalidArgumentError("the receive guard needs a positive bound and interval");
  }
  std::unique_ptr<ReceiveGuard> guard(new ReceiveGuard(std::move(options)));
  guard->wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (guard->wake_fd_ < 0) return InternalError(std::string("eventfd: ") + std::strerror(errno));
  const std::string endpoint = "inproc://kp-receive-guard-" + std::to_string(next_guard_id++);
  Status s = Guard("cannot watch the socket's connections", [&] {
    if (zmq_socket_monitor(socket.handle(), endpoint.c_str(), kGuardEvents) != 0) throw zmq::error_t();
    guard->watched_ = socket.handle();
    const int zero = 0;
    guard->monitor_ = zmq_socket(context.handle(), ZMQ_PAIR);
    if (guard->monitor_ == nullptr) throw zmq::error_t();
    zmq_setsockopt(guard->monitor_, ZMQ_LINGER, &zero, sizeof zero);
    if (zmq_connect(guard->monitor_, endpoint.c_str()) != 0) throw zmq::error_t();
    if (!guard->options_.relay_endpoint.empty()) {
      guard->relay_ = zmq_socket(context.handle(), ZMQ_PAIR);
      if (guard->relay_ == nullptr) throw zmq::error_t();
      zmq_setsockopt(guard->relay_, ZMQ_LINGER, &zero, sizeof zero);
      if (zmq_bind(guard->relay_, guard->options_.relay_endpoint.c_str()) != 0) throw zmq::error_t();
    }
  });
  if (!s.ok()) return s;
  ReceiveGuard* g = guard.get();
  guard->thread_ = StartThreadWithSignalsBlocked([g] { g->Run(); });
  return guard;
}

ReceiveGuard::~ReceiveGuard() {
  // Called on the watched socket's thread: stop its monitor first.
  if (watched_ != nullptr) zmq_socket_monitor(watched_, nullptr, 0);
  stop_ = true;
  if (wake_fd_ >= 0) {
    const uint64_t one = 1;
    ssize_t ignored = write(wake_fd_, &one, sizeof one);
    (void)ignored;
  }
  if (thread_.joinable()) thread_.join();
  if (monitor_ != nullptr) zmq_close(monitor_);
  if (relay_ != nullptr) zmq_close(relay_);
  if (wake_fd_ >= 0) close(wake_fd_);
}

void ReceiveGuard::Took(const zmq::message_t& frame, std::string_view participant_id) {
  const int fd = zmq_msg_get(frame.handle(), ZMQ_SRCFD);
  if (fd < 0) return;  // not from a TCP connection (a ROUTER's routing id, inproc)
  std::lock_guard<std::mutex> lock(mu_);
  Credit& credit = credits_[fd];
  credit.bytes += frame.size() + kFrameOverhead;
  if (!participant_id.empty() && credit.participant_id != participant_id) {
    credit.participant_id = std::string(participant_id);
  }
}

void ReceiveGuard::Run() {
  auto next_sample = Clock::now();
  while (!stop_) {
    long timeout = -1;  // no connection: wait for one, or for the stop
    if (!connections_.empty()) {
      // Rounded up: truncating made the last fraction of a millisecond of
      // every interval a zmq_poll(0) busy loop (a fifth of a core per
      // process at the 5 ms interval; issue 19).
      timeout = std::max<long>(0, std::chrono::ceil<std::chrono::milliseconds>(next_sample - Clock::now()).count());
    }
    zmq_pollitem_t items[] = {{monitor_, 0, ZMQ_POLLIN, 0}, {nullptr, wake_fd_, ZMQ_POLLIN, 0}};
    if (zmq_poll(items, 2, timeout) < 0) {
      if (zmq_errno() == ETERM) return;
      if (zmq_errno() != EINTR) {
        spdlog::error("transport: the receive guard stopped: {}", zmq_strerror(zmq_errno()));
        return;
      }
    }
    if (stop_) return;
    DrainEvents();
    if (!connections_.empty() && Clock::now() >= next_sample) {
      Sample();
      next_sample = Clock::now() + std::chrono::milliseconds(options_.interval_ms);
    }
  }
}

void ReceiveGuard::DrainEvents() {
  while (true) {
    zmq_msg_t event;
    zmq_msg_t address;
    zmq_msg_init(&event);
    zmq_msg_init(&address);
    if (zmq_msg_recv(&event, monitor_, ZMQ_DONTWAIT) < 0) {
      zmq_msg_close(&event);
      zmq_msg_close(&address);
      return;
    }
    if (zmq_msg_more(&event)) {
      while (zmq_msg_recv(&address, monitor_, 0) < 0 && zmq_errno() == EINTR) {
      }
    }
    if (zmq_msg_size(&event) >= 6) {
      uint16_t id = 0;
      uint32_t value = 0;
      std::memcpy(&id, zmq_msg_data(&event), sizeof id);
      std::memcpy(&value, static_cast<const char*>(zmq_msg_data(&event)) + 2, sizeof value);
      const int fd = static_cast<int>(value);
      switch (id) {
        case ZMQ_EVENT_ACCEPTED:
        case ZMQ_EVENT_CONNECTED: {
          auto c = std::make_unique<Connection>();
          c->fd = fd;
          c->peer = PeerOf(fd);
          c->local = LocalOf(fd);
          c->last_sample = Clock::now();
          {
            std::lock_guard<std::mutex> lock(mu_);
            Credit& credit = credits_[fd];
            c->credited_at_start = credit.bytes;
            credit.participant_id.clear();
          }
          connections_[fd] = std::move(c);
          break;
        }
        case ZMQ_EVENT_DISCONNECTED:
        case ZMQ_EVENT_CLOSED:
          connections_.erase(fd);
          break;
        default:
          break;
      }
    }
    if (relay_ != nullptr && zmq_msg_send(&event, relay_, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0) {
      (void)zmq_msg_send(&address, relay_, ZMQ_DONTWAIT);
    }
    zmq_msg_close(&event);
    zmq_msg_close(&address);
  }
}

void ReceiveGuard::Sample() {
  std::vector<std::pair<int, uint64_t>> credited;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [fd, c] : connections_) credited.emplace_back(fd, credits_[fd].bytes);
  }
  std::vector<int> to_cut;
  const auto now = Clock::now();
  for (const auto& [fd, bytes] : credited) {
    Connection& c = *connections_[fd];
    if (c.cut || c.unguarded) continue;
    tcp_info info{};
    socklen_t length = sizeof info;
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &length) != 0) continue;
    if (length < offsetof(tcp_info, tcpi_bytes_received) + sizeof info.tcpi_bytes_received) {
      spdlog::warn("transport: this kernel does not count bytes received per connection; memory per peer is "
                   "bounded only per frame and per message count");
      c.unguarded = true;
      continue;
    }
    int waiting_in_kernel = 0;
    if (ioctl(fd, SIOCINQ, &waiting_in_kernel) != 0) waiting_in_kernel = 0;
    const int64_t read_by_zmq = static_cast<int64_t>(info.tcpi_bytes_received) - waiting_in_kernel;
    const int64_t ahead = read_by_zmq - static_cast<int64_t>(bytes - c.credited_at_start);
    const double seconds = std::chrono::duration<double>(now - c.last_sample).count();
    c.bucket = std::max(0.0, c.bucket + static_cast<double>(ahead - c.last_ahead) -
                                 static_cast<double>(options_.heartbeat_allowance_per_second) * seconds);
    c.last_ahead = ahead;
    c.last_sample = now;
    if (c.bucket > static_cast<double>(options_.max_bytes_ahead)) to_cut.push_back(fd);
  }
  if (to_cut.empty()) return;
  DrainEvents();  // a DISCONNECTED read now means the descriptor may be another connection's
  for (int fd : to_cut) Cut(fd);
}

void ReceiveGuard::Cut(int fd) {
  auto it = connections_.find(fd);
  if (it == connections_.end() || it->second->cut) return;
  Connection& c = *it->second;
  if (!(PeerOf(fd) == c.peer) || !(LocalOf(fd) == c.local) || c.peer.length == 0) {
    connections_.erase(it);  // already gone; the number is someone else's now
    return;
  }
  // connect(AF_UNSPEC) aborts a TCP connection (tcp_disconnect: a reset,
  // the receive queue dropped, ECONNRESET for libzmq's next read). It works
  // whatever the peer does; shutdown() only if that is refused.
  sockaddr unspec{};
  unspec.sa_family = AF_UNSPEC;
  if (connect(fd, &unspec, sizeof unspec) != 0) shutdown(fd, SHUT_RDWR);
  c.cut = true;
  ++cut_;
  std::string who;
  {
    std::lock_guard<std::mutex> lock(mu_);
    who = credits_[fd].participant_id;
  }
  if (who.empty()) {
    who = options_.peer_label.empty() ? "a peer that has not completed a message yet" : options_.peer_label;
  } else {
    who = "participant=" + who;
  }
  spdlog::warn("transport: cut the connection of {}: {:.1f} MiB received that were not read (limit {:.1f} MiB); "
               "it may reconnect",
               who, MiB(c.bucket), MiB(static_cast<double>(options_.max_bytes_ahead)));
}

}  // namespace kp::transport_internal
