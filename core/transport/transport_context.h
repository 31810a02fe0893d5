// TransportContext: owns the ZeroMQ context for code outside core/transport
// (which must not include <zmq.hpp>). Create one per process or per test;
// it must outlive every socket made in it. Thread-safe.
#ifndef KETENPOORT_CORE_TRANSPORT_TRANSPORT_CONTEXT_H_
#define KETENPOORT_CORE_TRANSPORT_TRANSPORT_CONTEXT_H_

#include <memory>

namespace zmq {
class context_t;
}

namespace kp {

class TransportContext {
 public:
  TransportContext();
  ~TransportContext();
  TransportContext(const TransportContext&) = delete;
  TransportContext& operator=(const TransportContext&) = delete;
  zmq::context_t& get() { return *context_; }

 private:
  std::unique_ptr<zmq::context_t> context_;
};

}  // namespace kp

#endif  // KETENPOORT_CORE_TRANSPORT_TRANSPORT_CONTEXT_H_
