// ZapHandler: admits only enrolled CurveZMQ keys (ZeroMQ RFC 27, ZAP).
//
// A CURVE server with no ZAP handler accepts any client key, so the gateway
// creates this first: Create() returns only after the handler's socket is
// bound to inproc://zeromq.zap.01 in `context`, and every CURVE server socket
// of that context must be made after it (RouterServer::Create requires it).
//
// For an admitted key the reply's User-Id is the participant id, and the
// metadata carries "Kind", "Partner" and "Role" (read with zmq_msg_gets). Unknown
// keys get status 400 and never reach the application.
//
// It runs on its own thread, so handshakes are not held up by the gateway's
// work; that thread blocks every signal, so SIGHUP and SIGTERM reach the
// application's thread (and never cut a ZAP reply in half). Thread-safe: SetPeers may be called at any time (SIGHUP reload); a
// key removed from the set is refused at its next handshake.
#ifndef KETENPOORT_CORE_TRANSPORT_ZAP_HANDLER_H_
#define KETENPOORT_CORE_TRANSPORT_ZAP_HANDLER_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <future>
#include <string>
#include <thread>

#include "core/base/status.h"

namespace zmq {
class context_t;
}

namespace kp {

struct TransportPeer {
  std::string participant_id;
  std::string kind;     // "agent", "coordinator", ...
  std::string partner;  // may be empty
  std::string role;     // e.g. "casusregisseur"; may be empty
};

// CurveZMQ public key (32 raw bytes) -> who holds it.
using TransportPeers = std::map<std::string, TransportPeer>;

class ZapHandler {
 public:
  // `context` must outlive the handler.
  static Result<std::unique_ptr<ZapHandler>> Create(zmq::context_t& context, TransportPeers peers);
  ~ZapHandler();  // stops the thread

  ZapHandler(const ZapHandler&) = delete;
  ZapHandler& operator=(const ZapHandler&) = delete;

  void SetPeers(TransportPeers peers);

  uint64_t admitted() const { return admitted_.load(); }
  uint64_t refused() const { return refused_.load(); }

 private:
  explicit ZapHandler(zmq::context_t& context, TransportPeers peers);
  void Run(std::promise<Status>* started);
  std::shared_ptr<const TransportPeers> Peers() const;

  zmq::context_t& context_;
  mutable std::mutex mu_;
  std::shared_ptr<const TransportPeers> peers_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> admitted_{0};
  std::atomic<uint64_t> refused_{0};
  std::thread thread_;
};

}  // namespace kp

#endif  // KETENPOORT_CORE_TRANSPORT_ZAP_HANDLER_H_
