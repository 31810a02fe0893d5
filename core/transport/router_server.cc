#include "core/transport/router_server.h"

#include <zmq.hpp>

#include "core/transport/receive_guard.h"
#include "core/transport/zmq_status.h"

namespace kp {

using transport_internal::FromZmqError;
using transport_internal::Guard;
using transport_internal::PollUnlessInterrupted;
using transport_internal::RecvRest;
using transport_internal::SendUninterrupted;
using transport_internal::TryRecvFirst;

RouterServer::~RouterServer() = default;

Result<std::unique_ptr<RouterServer>> RouterServer::Create(zmq::context_t& context, const ZapHandler& zap,
                                                           const std::string& public_key,
                                                           const SecretBytes& secret_key,
                                                           const RouterOptions& options) {
  (void)zap;  // its existence is the precondition; it is bound in `context`
  if (public_key.size() != 32 || secret_key.size() != 32) {
    return InvalidArgumentError("CurveZMQ server keys must be 32 bytes");
  }
  if (options.receive_hwm <= 0 || options.max_message_bytes <= 0) {
    return InvalidArgumentError("the gateway socket needs a positive receive HWM and message size limit");
  }
  std::unique_ptr<RouterServer> server(new RouterServer());
  server->max_parked_per_peer_ = options.max_parked_per_peer;
  transport_internal::ReceiveGuardOptions guard;
  guard.max_bytes_ahead = transport_internal::MaxBytesAhead(options.max_unread_bytes_per_connection,
                                                            options.receive_hwm, options.max_message_bytes);
  std::unique_ptr<zmq::socket_t> sock;
  Status s = Guard("cannot make the gateway socket", [&] {
    sock = std::make_unique<zmq::socket_t>(context, zmq::socket_type::router);
  });
  if (!s.ok()) return s;
  // Before bind: the guard must see every connection from the first.
  KP_ASSIGN_OR_RETURN(server->guard_, transport_internal::ReceiveGuard::Start(context, *sock, std::move(guard)));
  s = Guard("cannot bind the gateway socket on " + options.endpoint, [&] {
    sock->set(zmq::sockopt::curve_server, 1);
    sock->set(zmq::sockopt::curve_secretkey, zmq::const_buffer(secret_key.data(), secret_key.size()));
    sock->set(zmq::sockopt::curve_publickey, public_key);
    sock->set(zmq::sockopt::zap_domain, options.zap_domain);
    sock->set(zmq::sockopt::router_mandatory, 1);
    sock->set(zmq::sockopt::sndhwm, options.send_hwm);
    sock->set(zmq::sockopt::rcvhwm, options.receive_hwm);
    sock->set(zmq::sockopt::heartbeat_ivl, options.heartbeat_interval_ms);
    sock->set(zmq::sockopt::heartbeat_timeout, options.heartbeat_timeout_ms);
    sock->set(zmq::sockopt::heartbeat_ttl, options.heartbeat_timeout_ms);
    sock->set(zmq::sockopt::maxmsgsize, options.max_message_bytes);
    sock->set(zmq::sockopt::linger, 0);
    sock->bind(options.endpoint);
    server->endpoint_ = sock->get(zmq::sockopt::last_endpoint);
  });
  server->socket_ = std::move(sock);
  if (!s.ok()) return s;
  return server;
}

Result<std::optional<IncomingMessage>> RouterServer::Receive(int timeout_ms) {
  try {
    zmq::pollitem_t items[] = {{socket_->handle(), 0, ZMQ_POLLIN, 0}};
    // A signal (EINTR) is "nothing yet": the caller looks at its flags.
    if (!PollUnlessInterrupted(items, 1, timeout_ms)) return std::optional<IncomingMessage>();
    if (!(items[0].revents & ZMQ_POLLIN)) return std::optional<IncomingMessage>();
    IncomingMessage in;
    zmq::message_t id;
    if (!TryRecvFirst(*socket_, id)) return std::optional<IncomingMessage>();
    in.routing_id = id.to_string();
    int frames = 0;
    bool more = id.more();
    while (more) {
      zmq::message_t part;
      RecvRest(*socket_, part);  // the rest of a message is always there
      more = part.more();
      if (++frames == 1) {
        const char* user = part.gets("User-Id");
        in.participant_id = user != nullptr ? user : "";
        const char* kind = part.gets("Kind");
        in.kind = kind != nullptr ? kind : "";
        const char* partner = part.gets("Partner");
        in.partner = partner != nullptr ? partner : "";
        const char* role = part.gets("Role");
        in.role = role != nullptr ? role : "";
        if (!more) in.payload = part.to_string();  // a second frame makes it malformed: never copied
      }
      guard_->Took(part, in.participant_id);
    }
    if (frames != 1) {
      in.malformed = true;
      in.payload.clear();
    }
    return std::optional<IncomingMessage>(std::move(in));
  } catch (const zmq::error_t& e) {
    return FromZmqError(e, "receive on the gateway socket");
  }
}

Status RouterServer::TrySend(const std::string& routing_id, const std::string& payload, bool* would_block) {
  *would_block = false;
  try {
    if (!SendUninterrupted(*socket_, zmq::buffer(routing_id), zmq::send_flags::sndmore)) {
      *would_block = true;
      return OkStatus();
    }
    // Once the routing frame is accepted the rest of the message goes too.
    (void)SendUninterrupted(*socket_, zmq::buffer(payload), zmq::send_flags::none);
    return OkStatus();
  } catch (const zmq::error_t& e) {
    if (e.num() == EHOSTUNREACH) return UnavailableError("peer is not connected");
    return FromZmqError(e, "send on the gateway socket");
  }
}

Status RouterServer::Send(const std::string& routing_id, const std::string& payload) {
  auto it = parked_.find(routing_id);
  if (it == parked_.end() || it->second.empty()) {
    bool would_block = false;
    KP_RETURN_IF_ERROR(TrySend(routing_id, payload, &would_block));
    if (!would_block) return OkStatus();
  }
  auto& queue = parked_[routing_id];
  if (queue.size() >= max_parked_per_peer_) {
    return ResourceExhaustedError("peer is not reading; its queue of " + std::to_string(queue.size()) +
                                  " messages is full");
  }
  queue.push_back(payload);
  return OkStatus();
}

std::vector<RouterServer::Undeliverable> RouterServer::FlushParked() {
  std::vector<Undeliverable> gone;
  for (auto it = parked_.begin(); it != parked_.end();) {
    auto& queue = it->second;
    while (!queue.empty()) {
      bool would_block = false;
      Status s = TrySend(it->first, queue.front(), &would_block);
      if (would_block) break;
      if (!s.ok()) {  // the peer is gone: hand everything back
        for (auto& payload : queue) gone.push_back({it->first, std::move(payload)});
        queue.clear();
        break;
      }
      queue.pop_front();
    }
    it = queue.empty() ? parked_.erase(it) : std::next(it);
  }
  return gone;
}

size_t RouterServer::parked() const {
  size_t n = 0;
  for (const auto& [id, q] : parked_) n += q.size();
  return n;
}

void* RouterServer::native_handle() { return socket_->handle(); }

uint64_t RouterServer::connections_cut() const { return guard_->connections_cut(); }

}  // namespace kp
