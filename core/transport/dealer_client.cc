#include "core/transport/dealer_client.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <zmq.hpp>

#include "core/transport/zmq_status.h"

namespace kp {

using transport_internal::FromZmqError;
using transport_internal::Guard;

std::atomic<uint64_t> DealerClient::next_monitor_id_{0};

std::string_view ConnectionStateName(ConnectionState state) {
  switch (state) {
    case ConnectionState::kConnecting: return "connecting";
    case ConnectionState::kConnected: return "connected";
    case ConnectionState::kRefused: return "refused by the gateway: this key is not enrolled";
    case ConnectionState::kDisconnected: return "gateway unreachable; reconnecting";
  }
  return "unknown";
}

DealerClient::DealerClient(zmq::context_t& context, std::string public_key, const SecretBytes& secret_key,
                           DealerOptions options)
    : context_(context), public_key_(std::move(public_key)), secret_key_(secret_key.Clone()), options_(std::move(options)) {}

DealerClient::~DealerClient() = default;

Result<std::unique_ptr<DealerClient>> DealerClient::Create(zmq::context_t& context, const std::string& public_key,
                                                           const SecretBytes& secret_key,
                                                           const DealerOptions& options) {
  if (public_key.size() != 32 || secret_key.size() != 32 || options.server_public_key.size() != 32) {
    return InvalidArgumentError("CurveZMQ keys must be 32 bytes");
  }
  std::unique_ptr<DealerClient> client(new DealerClient(context, public_key, secret_key, options));
  KP_RETURN_IF_ERROR(client->Open());
  return client;
}

Status DealerClient::Open() {
  monitor_.reset();
  socket_.reset();
  state_ = ConnectionState::kConnecting;
  monitor_endpoint_ = "inproc://kp-dealer-monitor-" + std::to_string(next_monitor_id_++);
  return Guard("cannot connect to the gateway at " + options_.endpoint, [&] {
    auto sock = std::make_unique<zmq::socket_t>(context_, zmq::socket_type::dealer);
    sock->set(zmq::sockopt::curve_serverkey, zmq::const_buffer(options_.server_public_key.data(), 32));
    sock->set(zmq::sockopt::curve_publickey, zmq::const_buffer(public_key_.data(), 32));
    sock->set(zmq::sockopt::curve_secretkey, zmq::const_buffer(secret_key_.data(), 32));
    sock->set(zmq::sockopt::sndhwm, options_.send_hwm);
    sock->set(zmq::sockopt::rcvhwm, options_.receive_hwm);
    sock->set(zmq::sockopt::heartbeat_ivl, options_.heartbeat_interval_ms);
    sock->set(zmq::sockopt::heartbeat_timeout, options_.heartbeat_timeout_ms);
    sock->set(zmq::sockopt::heartbeat_ttl, options_.heartbeat_timeout_ms);
    sock->set(zmq::sockopt::reconnect_ivl, options_.reconnect_interval_ms);
    sock->set(zmq::sockopt::reconnect_ivl_max, options_.reconnect_interval_max_ms);
    sock->set(zmq::sockopt::maxmsgsize, options_.max_message_bytes);
    sock->set(zmq::sockopt::linger, options_.linger_ms);
    if (zmq_socket_monitor(sock->handle(), monitor_endpoint_.c_str(),
                           ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                               ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_DISCONNECTED) != 0) {
      throw zmq::error_t();
    }
    auto mon = std::make_unique<zmq::socket_t>(context_, zmq::socket_type::pair);
    mon->set(zmq::sockopt::linger, 0);
    mon->connect(monitor_endpoint_);
    sock->connect(options_.endpoint);
    socket_ = std::move(sock);
    monitor_ = std::move(mon);
  });
}

Status DealerClient::Reconnect() { return Open(); }

void DealerClient::DrainEvents() {
  while (true) {
    zmq::message_t event;
    auto got = monitor_->recv(event, zmq::recv_flags::dontwait);
    if (!got) return;
    zmq::message_t address;
    if (event.more()) (void)monitor_->recv(address, zmq::recv_flags::none);
    if (event.size() < 6) continue;
    uint16_t id = 0;
    std::memcpy(&id, event.data(), sizeof id);
    switch (id) {
      case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
        if (state_ != ConnectionState::kConnected) spdlog::info("connected to the gateway");
        state_ = ConnectionState::kConnected;
        break;
      case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
      case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
        if (state_ != ConnectionState::kRefused) {
          spdlog::error("refused by the gateway: this key is not enrolled (or the pinned gateway key is wrong)");
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
    if (!socket_->send(zmq::buffer(payload), zmq::send_flags::dontwait)) {
      return ResourceExhaustedError("the outgoing queue to the gateway is full (" + std::string(ConnectionStateName(state_)) +
                                    ")");
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
      if (socket_->recv(msg, zmq::recv_flags::dontwait)) {
        if (msg.more()) {  // one frame per envelope; drop the rest of a malformed message
          zmq::message_t rest;
          while (msg.more() && socket_->recv(rest, zmq::recv_flags::none) && rest.more()) {
          }
          return InvalidArgumentError("the gateway sent a message of more than one frame");
        }
        return std::optional<std::string>(msg.to_string());
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) return std::optional<std::string>();
      zmq::pollitem_t items[] = {{socket_->handle(), 0, ZMQ_POLLIN, 0}, {monitor_->handle(), 0, ZMQ_POLLIN, 0}};
      zmq::poll(items, 2, std::chrono::milliseconds(left));
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
      zmq::poll(items, 1, std::chrono::milliseconds(left));
    }
  } catch (const zmq::error_t&) {
    return state_;
  }
}

}  // namespace kp
