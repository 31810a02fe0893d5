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

}  // namespace kp::transport_internal
