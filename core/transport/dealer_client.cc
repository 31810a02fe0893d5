#include "core/transport/dealer_client.h"

#include <spdlog/spdlog.h>

#include <chrono>
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

std::atomic<uint64_t> DealerClient::next_monitor_id_{0};

std::string_view ConnectionStateName(ConnectionState state) {
  switch (state) {
    case ConnectionState::kConnecting:
      return "connecting";
    case ConnectionState::kConnected:
      return "connected";
    case ConnectionState::kRefused:
      return "refused by the gateway: this key is not enrolled";
    case ConnectionState::kDisconnected:
      return "gateway unreachable; reconnecting";
  }
  return "unknown";
}

DealerClient::DealerClient(zmq::context_t& context, std::string public_key, const SecretBytes& secret_key,
                           DealerOptions options)
    : context_(context),
      public_key_(std::move(public_key)),
      secret_key_(secret_key.Clone()),
      options_(std::move(options)) {}

DealerClient::~DealerClient() = default;  // members in reverse: monitor_, guard_, socket_

Result<std::unique_ptr<DealerClient>> DealerClient::Create(zmq::context_t& context,
                                                           const std::string& public_key,
                                                           const SecretBytes& secret_key,
                                                           const DealerOptions& options) {
  if (public_key.size() != 32 || secret_key.size() != 32 || options.server_public_key.size() != 32) {
    return InvalidArgumentError("CurveZMQ keys must be 32 bytes");
  }
  if (options.receive_hwm <= 0 || options.max_message_bytes <= 0) {
    return InvalidArgumentError(
        "the connection to the gateway needs a positive receive HWM and message size limit");
  }
  std::unique_ptr<DealerClient> client(new DealerClient(context, public_key, secret_key, options));
  KP_RETURN_IF_ERROR(client->Open());
  return client;
}

Status DealerClient::Open() {
  monitor_.reset();
  if (guard_ != nullptr) cut_before_ += guard_->connections_cut();
  guard_.reset();
  socket_.reset();
  state_ = ConnectionState::kConnecting;
  monitor_endpoint_ = "inproc://kp-dealer-monitor-" + std::to_string(next_monitor_id_++);
  const std::string what = "cannot connect to the gateway at " + options_.endpoint;
  std::unique_ptr<zmq::socket_t> sock;
  KP_RETURN_IF_ERROR(
      Guard(what, [&] { sock = std::make_unique<zmq::socket_t>(context_, zmq::socket_type::dealer); }));
  // Before connect: the guard must see the first connection too.
  transport_internal::ReceiveGuardOptions guard;
  guard.max_bytes_ahead = transport_internal::MaxBytesAhead(options_.max_unread_bytes_per_connection,
                                                            options_.receive_hwm, options_.max_message_bytes);
  guard.relay_endpoint = monitor_endpoint_;
  guard.peer_label = "the gateway";
  auto started = transport_internal::ReceiveGuard::Start(context_, *sock, std::move(guard));
  if (!started.ok()) return started.status();
  guard_ = std::move(started).value();
  socket_ = std::move(sock);
  return Guard(what, [&] {
    socket_->set(zmq::sockopt::curve_serverkey, zmq::const_buffer(options_.server_public_key.data(), 32));
    socket_->set(zmq::sockopt::curve_publickey, zmq::const_buffer(public_key_.data(), 32));
    socket_->set(zmq::sockopt::curve_secretkey, zmq::const_buffer(secret_key_.data(), 32));
    socket_->set(zmq::sockopt::sndhwm, options_.send_hwm);
    socket_->set(zmq::sockopt::rcvhwm, options_.receive_hwm);
    socket_->set(zmq::sockopt::heartbeat_ivl, options_.heartbeat_interval_ms);
    socket_->set(zmq::sockopt::heartbeat_timeout, options_.heartbeat_timeout_ms);
    socket_->set(zmq::sockopt::heartbeat_ttl, options_.heartbeat_timeout_ms);
    socket_->set(zmq::sockopt::reconnect_ivl, options_.reconnect_interval_ms);
    socket_->set(zmq::sockopt::reconnect_ivl_max, options_.reconnect_interval_max_ms);
    socket_->set(zmq::sockopt::maxmsgsize, options_.max_message_bytes);
    socket_->set(zmq::sockopt::linger, options_.linger_ms);
    auto mon = std::make_unique<zmq::socket_t>(context_, zmq::socket_type::pair);
    mon->set(zmq::sockopt::linger, 0);
    mon->connect(monitor_endpoint_);  // the guard passes the socket's events on to it
    monitor_ = std::move(mon);
    socket_->connect(options_.endpoint);
  });
}

Status DealerClient::Reconnect() { return Open(); }

Status DealerClient::ReconnectTo(const std::string& server_public_key) {
  if (server_public_key.size() != 32) return InvalidArgumentError("a gateway transport key is 32 bytes");
  options_.server_public_key = server_public_key;
  return Open();
}

void DealerClient::DrainEvents() {
  while (true) {
    zmq::message_t event;
    if (!TryRecvFirst(*monitor_, event)) return;
    zmq::message_t address;
    if (event.more()) RecvRest(*monitor_, address);
    if (event.size() < 6) continue;
    uint16_t id = 0;
    std::memcpy(&id, event.data(), sizeof id);
    switch (id) {
      case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
        if (state_ != ConnectionState::kConnected) spdlog::info("connected to the gateway");
        state_ = ConnectionState::kConnected;
        ++handshakes_;
        break;
      case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
      case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
        if (state_ != ConnectionState::kRefused) {
          spdlog::error(
              "refused by the gateway: this key is not enrolled (or the pinned gateway key is wrong)");
        }
        state_ = ConnectionState::kRefused;
        break;
      case ZMQ_EVENT_DISCONNECTED:
        if (state_ == ConnectionState::kConnected) {
          spdlog::warn("gateway unreachable; reconnecting");
          state_ = ConnectionState::kDisconnected;
        }
        break;
      default:
        break;
    }
  }
}

Status DealerClient::Send(const std::string& payload) {
  try {
    if (!SendUninterrupted(*socket_, zmq::buffer(payload), zmq::send_flags::none)) {
      DrainEvents();
      if (state_ == ConnectionState::kRefused) {
        return UnauthenticatedError("refused by the gateway: this key is not enrolled");
      }
      return ResourceExhaustedError("the outgoing queue to the gateway is full (" +
                                    std::string(ConnectionStateName(state_)) + ")");
    }
    return OkStatus();
  } catch (const zmq::error_t& e) {
    return FromZmqError(e, "send to the gateway");
  }
}

Result<std::optional<std::string>> DealerClient::Receive(int timeout_ms) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  try {
    while (true) {
      DrainEvents();
      if (state_ == ConnectionState::kRefused) {
        return UnauthenticatedError("refused by the gateway: this key is not enrolled");
      }
      zmq::message_t msg;
      if (TryRecvFirst(*socket_, msg)) {
        guard_->Took(msg, "");
        if (msg.more()) {  // one frame per envelope; drop the rest of a malformed message
          zmq::message_t rest;
          do {
            RecvRest(*socket_, rest);
            guard_->Took(rest, "");
          } while (rest.more());
          return InvalidArgumentError("the gateway sent a message of more than one frame");
        }
        return std::optional<std::string>(msg.to_string());
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) return std::optional<std::string>();
      zmq::pollitem_t items[] = {{socket_->handle(), 0, ZMQ_POLLIN, 0},
                                 {monitor_->handle(), 0, ZMQ_POLLIN, 0}};
      // A signal (EINTR) is "nothing yet": the caller looks at its flags.
      if (!PollUnlessInterrupted(items, 2, left)) return std::optional<std::string>();
    }
  } catch (const zmq::error_t& e) {
    return FromZmqError(e, "receive from the gateway");
  }
}

ConnectionState DealerClient::WaitForHandshake(int timeout_ms) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  try {
    while (true) {
      DrainEvents();
      if (state_ == ConnectionState::kConnected || state_ == ConnectionState::kRefused) return state_;
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) return state_;
      zmq::pollitem_t items[] = {{monitor_->handle(), 0, ZMQ_POLLIN, 0}};
      if (!PollUnlessInterrupted(items, 1, left)) return state_;  // a signal: the caller looks at its flags
    }
  } catch (const zmq::error_t&) {
    return state_;
  }
}

uint64_t DealerClient::connections_cut() const {
  return cut_before_ + (guard_ != nullptr ? guard_->connections_cut() : 0);
}

}  // namespace kp
