#include "core/transport/zap_handler.h"

#include <spdlog/spdlog.h>

#include <future>
#include <vector>
#include <zmq.hpp>

#include "core/base/encoding.h"
#include "core/transport/zmq_status.h"

namespace kp {
namespace {

constexpr char kZapEndpoint[] = "inproc://zeromq.zap.01";

void AppendProperty(std::string& out, const std::string& name, const std::string& value) {
  out.push_back(static_cast<char>(name.size()));
  out += name;
  AppendU32BE(out, static_cast<uint32_t>(value.size()));
  out += value;
}

}  // namespace

ZapHandler::ZapHandler(zmq::context_t& context, TransportPeers peers)
    : context_(context), peers_(std::make_shared<const TransportPeers>(std::move(peers))) {}

Result<std::unique_ptr<ZapHandler>> ZapHandler::Create(zmq::context_t& context, TransportPeers peers) {
  std::unique_ptr<ZapHandler> handler(new ZapHandler(context, std::move(peers)));
  std::promise<Status> started;
  std::future<Status> ready = started.get_future();
  handler->thread_ = transport_internal::StartThreadWithSignalsBlocked([h = handler.get(), &started] { h->Run(&started); });
  Status s = ready.get();  // bound (or failed) before we return
  if (!s.ok()) {
    handler->thread_.join();
    return s;
  }
  return handler;
}

ZapHandler::~ZapHandler() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void ZapHandler::SetPeers(TransportPeers peers) {
  auto next = std::make_shared<const TransportPeers>(std::move(peers));
  std::lock_guard<std::mutex> lock(mu_);
  peers_ = std::move(next);
}

std::shared_ptr<const TransportPeers> ZapHandler::Peers() const {
  std::lock_guard<std::mutex> lock(mu_);
  return peers_;
}

void ZapHandler::Run(std::promise<Status>* started) {
  std::unique_ptr<zmq::socket_t> sock;
  Status bound = transport_internal::Guard("cannot start the ZAP handler", [&] {
    sock = std::make_unique<zmq::socket_t>(context_, zmq::socket_type::rep);
    sock->set(zmq::sockopt::linger, 0);
    sock->bind(kZapEndpoint);
  });
  started->set_value(bound);  // `started` is not touched after this
  if (!bound.ok()) return;

  while (!stop_) {
    try {
      zmq::pollitem_t items[] = {{sock->handle(), 0, ZMQ_POLLIN, 0}};
      zmq::poll(items, 1, std::chrono::milliseconds(20));  // how soon a stop is noticed
      if (!(items[0].revents & ZMQ_POLLIN)) continue;
      std::vector<zmq::message_t> request;
      while (true) {
        zmq::message_t part;
        if (!sock->recv(part, zmq::recv_flags::none)) break;
        bool more = part.more();
        request.push_back(std::move(part));
        if (!more) break;
      }
      // RFC 27: version, request id, domain, address, identity, mechanism, credentials.
      std::string request_id = request.size() > 1 ? request[1].to_string() : std::string();
      std::string status = "400";
      std::string text = "this key is not enrolled";
      std::string user_id;
      std::string metadata;
      if (request.size() < 7 || request[0].to_string() != "1.0" || request[5].to_string() != "CURVE" ||
          request[6].size() != 32) {
        text = "only CURVE with a 32-byte key is accepted";
      } else {
        auto peers = Peers();
        auto it = peers->find(request[6].to_string());
        if (it != peers->end()) {
          status = "200";
          text = "OK";
          user_id = it->second.participant_id;
          AppendProperty(metadata, "Kind", it->second.kind);
          AppendProperty(metadata, "Partner", it->second.partner);
          AppendProperty(metadata, "Role", it->second.role);
        }
      }
      if (status == "200") {
        ++admitted_;
        spdlog::debug("zap: admitted participant={}", user_id);
      } else {
        ++refused_;
        // The key is not personal data; log a short prefix to help IT match it.
        std::string key_hint;
        if (request.size() >= 7 && request[6].size() == 32) {
          auto z = Z85Encode(request[6].to_string().substr(0, 8));
          if (z.ok()) key_hint = *z;
        }
        spdlog::warn("zap: refused a connection: {} (key starts {})", text, key_hint);
      }
      sock->send(zmq::buffer(std::string("1.0")), zmq::send_flags::sndmore);
      sock->send(zmq::buffer(request_id), zmq::send_flags::sndmore);
      sock->send(zmq::buffer(status), zmq::send_flags::sndmore);
      sock->send(zmq::buffer(text), zmq::send_flags::sndmore);
      sock->send(zmq::buffer(user_id), zmq::send_flags::sndmore);
      sock->send(zmq::buffer(metadata), zmq::send_flags::none);
    } catch (const zmq::error_t& e) {
      if (e.num() == ETERM) break;
      spdlog::error("zap: {}", e.what());
    }
  }
}

}  // namespace kp
