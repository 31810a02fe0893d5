// Turning ZeroMQ errors into Status (internal to core/transport).
#ifndef KETENPOORT_CORE_TRANSPORT_ZMQ_STATUS_H_
#define KETENPOORT_CORE_TRANSPORT_ZMQ_STATUS_H_

#include <zmq.hpp>

#include <string>

#include "core/base/status.h"

namespace kp::transport_internal {

Status FromZmqError(const zmq::error_t& e, const std::string& what);

// Runs `fn`, turning any zmq::error_t into a Status.
template <typename Fn>
Status Guard(const std::string& what, Fn&& fn) {
  try {
    fn();
    return OkStatus();
  } catch (const zmq::error_t& e) {
    return FromZmqError(e, what);
  }
}

}  // namespace kp::transport_internal

#endif  // KETENPOORT_CORE_TRANSPORT_ZMQ_STATUS_H_
