#include "core/transport/zmq_status.h"

#include <cerrno>

namespace kp::transport_internal {

Status FromZmqError(const zmq::error_t& e, const std::string& what) {
  std::string msg = what + ": " + e.what();
  switch (e.num()) {
    case EADDRINUSE:
    case EADDRNOTAVAIL:
    case EHOSTUNREACH:
    case ETERM:
      return UnavailableError(msg);
    case EINVAL:
    case EPROTONOSUPPORT:
      return InvalidArgumentError(msg);
    case EAGAIN:
      return ResourceExhaustedError(msg);
    default:
      return InternalError(msg);
  }
}

bool PollUnlessInterrupted(zmq::pollitem_t* items, int count, long timeout_ms) {
  if (zmq_poll(items, count, timeout_ms) >= 0) return true;
  if (zmq_errno() == EINTR) {
    for (int i = 0; i < count; ++i) items[i].revents = 0;
    return false;
  }
  throw zmq::error_t();
}

bool TryRecvFirst(zmq::socket_t& socket, zmq::message_t& frame) {
  if (zmq_msg_recv(frame.handle(), socket.handle(), ZMQ_DONTWAIT) >= 0) return true;
  const int err = zmq_errno();
  if (err == EAGAIN || err == EINTR) return false;
  throw zmq::error_t();
}

void RecvRest(zmq::socket_t& socket, zmq::message_t& frame) {
  while (zmq_msg_recv(frame.handle(), socket.handle(), 0) < 0) {
    if (zmq_errno() != EINTR) throw zmq::error_t();
  }
}

bool SendUninterrupted(zmq::socket_t& socket, zmq::const_buffer data, zmq::send_flags flags) {
  while (zmq_send(socket.handle(), data.data(), data.size(), static_cast<int>(flags) | ZMQ_DONTWAIT) < 0) {
    const int err = zmq_errno();
    if (err == EAGAIN) return false;
    if (err != EINTR) throw zmq::error_t();
  }
  return true;
}

}  // namespace kp::transport_internal
