#include "core/transport/transport_context.h"

#include <zmq.hpp>

namespace kp {

TransportContext::TransportContext() : context_(std::make_unique<zmq::context_t>()) {}
TransportContext::~TransportContext() = default;

}  // namespace kp
