#include "core/observe/management_server.h"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <chrono>
#include <mutex>
#include <thread>
#include <utility>

namespace kp::observe {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool ParsePort(std::string_view text, int& port) {
  if (text.empty() || text.size() > 5) return false;
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < 0 || value > 65535) return false;
  port = value;
  return true;
}

bool IsIpv4Literal(std::string_view host) {
  int parts = 0;
  size_t i = 0;
  while (i <= host.size()) {
    size_t dot = host.find('.', i);
    std::string_view part = host.substr(i, dot == std::string_view::npos ? std::string_view::npos : dot - i);
    if (part.empty() || part.size() > 3) return false;
    int v = 0;
    auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), v);
    if (ec != std::errc() || end != part.data() + part.size() || v > 255) return false;
    ++parts;
    if (dot == std::string_view::npos) break;
    i = dot + 1;
  }
  return parts == 4;
}

bool IsIpv6Literal(std::string_view host) {
  if (host.empty() || host.find(':') == std::string_view::npos) return false;
  return std::all_of(host.begin(), host.end(),
                     [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.'; });
}

// Whether a Host header names a loopback address (any port): a page whose
// DNS name was rebound to 127.0.0.1 sends its own name instead.
bool HostHeaderIsLoopback(std::string_view host) {
  std::string_view name = host;
  if (name.starts_with('[')) {
    size_t close = name.find(']');
    if (close == std::string_view::npos) return false;
    name = name.substr(1, close - 1);
    return name == "::1";
  }
  size_t colon = name.rfind(':');
  if (colon != std::string_view::npos) name = name.substr(0, colon);
  std::string lower = Lower(name);
  if (lower == "localhost") return true;
  return IsIpv4Literal(lower) && lower.starts_with("127.");
}

}  // namespace

// Not in the anonymous namespace: ManagementServer::Impl has fields of it.
struct ManagementRoute {
  ManagementHandler handler;
  Access access = Access::kLoopbackOnly;
};

std::string ManagementAddress::ToString() const {
  if (!enabled) return "off";
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

bool ManagementAddress::IsLoopback() const {
  return host == "localhost" || host == "::1" || (IsIpv4Literal(host) && host.starts_with("127."));
}

Result<ManagementAddress> ParseManagementAddress(std::string_view text) {
  const std::string hint =
      " (write HOST:PORT with an IP address, e.g. 127.0.0.1:9470 or [::1]:9470, a bare port, or off)";
  ManagementAddress out;
  if (text == "off" || text == "false") {
    out.enabled = false;
    return out;
  }
  if (text.empty()) return InvalidArgumentError("the management address is empty" + hint);
  std::string_view host, port;
  if (text.starts_with('[')) {
    size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return InvalidArgumentError("the management address '" + std::string(text) + "' is not [IPv6]:PORT" + hint);
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    if (!IsIpv6Literal(host)) {
      return InvalidArgumentError("the management address '" + std::string(text) + "' has no IPv6 address in brackets" + hint);
    }
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      host = "127.0.0.1";
      port = text;
    } else {
      host = text.substr(0, colon);
      port = text.substr(colon + 1);
      if (host.find(':') != std::string_view::npos) {
        return InvalidArgumentError("the management address '" + std::string(text) +
                                    "' looks like an IPv6 address without brackets" + hint);
      }
    }
    if (host != "localhost" && !IsIpv4Literal(host)) {
      return InvalidArgumentError("the management address '" + std::string(text) + "' does not name an IP address" + hint);
    }
  }
  if (!ParsePort(port, out.port)) {
    return InvalidArgumentError("the management address '" + std::string(text) + "' has no valid port (0-65535)" + hint);
  }
  out.host = std::string(host);
  return out;
}

bool IsLoopbackPeer(std::string_view remote_addr) {
  if (remote_addr == "::1") return true;
  std::string_view v4 = remote_addr;
  if (v4.starts_with("::ffff:")) v4.remove_prefix(7);
  return IsIpv4Literal(v4) && v4.starts_with("127.");
}

std::string ManagementRequest::Header(std::string_view name) const {
  auto it = headers.find(Lower(name));
  return it == headers.end() ? std::string() : it->second;
}

std::string ManagementRequest::Param(std::string_view name) const {
  auto it = params.find(std::string(name));
  return it == params.end() ? std::string() : it->second;
}

class ManagementServer::Impl {
 public:
  explicit Impl(ManagementOptions o) : options(std::move(o)) {}

  void Dispatch(const char* method, const httplib::Request& req, httplib::Response& res) {
    ManagementRoute route;
    {
      std::lock_guard<std::mutex> lock(routes_mu);
      auto& table = std::string_view(method) == "GET" ? get_routes : post_routes;
      auto it = table.find(req.path);
      if (it == table.end()) {
        const auto& other = std::string_view(method) == "GET" ? post_routes : get_routes;
        res.status = other.count(req.path) != 0 ? 405 : 404;
        res.set_content(res.status == 405 ? "method not allowed on " + req.path + "\n"
                                          : "no such management route: " + req.path + "\n",
                        "text/plain; charset=utf-8");
        return;
      }
      route = it->second;
    }
    ManagementRequest mreq;
    mreq.method = method;
    mreq.path = req.path;
    mreq.body = req.body;
    mreq.remote_addr = req.remote_addr;
    mreq.from_loopback = IsLoopbackPeer(req.remote_addr);
    for (const auto& [k, v] : req.headers) mreq.headers[Lower(k)] = v;
    for (const auto& [k, v] : req.params) mreq.params[k] = v;
    if (route.access == Access::kLoopbackOnly &&
        (!mreq.from_loopback || !HostHeaderIsLoopback(mreq.Header("Host")))) {
      spdlog::warn("{}: management route {} refused to a peer that is not local", options.service, req.path);
      res.status = 403;
      res.set_content("this management route answers only on the machine itself (loopback)\n",
                      "text/plain; charset=utf-8");
      return;
    }
    ManagementResponse mres;
    route.handler(mreq, mres);
    res.status = mres.status;
    for (const auto& [k, v] : mres.headers) res.set_header(k.c_str(), v);
    res.set_content(mres.body, mres.content_type.c_str());
  }

  ManagementOptions options;
  httplib::Server http;
  std::mutex routes_mu;
  std::map<std::string, ManagementRoute> get_routes, post_routes;
  std::thread listener;
  std::atomic<bool> listener_done{false};
  std::mutex stop_mu;
  bool started = false;
  bool stopped = false;
  int port = 0;
};

ManagementServer::ManagementServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ManagementServer::~ManagementServer() { Stop(); }

Result<std::unique_ptr<ManagementServer>> ManagementServer::Create(ManagementOptions options) {
  if (!options.address.enabled) return FailedPreconditionError("the management address is off");
  auto impl = std::make_unique<Impl>(std::move(options));
  Impl* raw = impl.get();
  httplib::Server& http = raw->http;
  const int threads = std::max(1, raw->options.threads);
  http.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  http.set_payload_max_length(raw->options.max_body_bytes);
  // SO_REUSEADDR only: cpp-httplib's default adds SO_REUSEPORT, with which a
  // second gateway on the same address would share the port without a word.
  http.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, reinterpret_cast<void*>(&yes), sizeof(yes));
  });
  http.set_read_timeout(10, 0);
  http.set_write_timeout(10, 0);
  http.set_keep_alive_max_count(10);
  http.Get(".*", [raw](const httplib::Request& req, httplib::Response& res) { raw->Dispatch("GET", req, res); });
  http.Post(".*", [raw](const httplib::Request& req, httplib::Response& res) { raw->Dispatch("POST", req, res); });
  http.set_post_routing_handler([](const httplib::Request&, httplib::Response& res) {
    res.set_header("Cache-Control", "no-store");
    res.set_header("X-Content-Type-Options", "nosniff");
  });
  http.set_exception_handler([raw](const httplib::Request& req, httplib::Response& res, std::exception_ptr) {
    spdlog::error("{}: management route {} failed with an exception", raw->options.service, req.path);
    res.status = 500;
    res.set_content("the management route failed; see the service's log\n", "text/plain; charset=utf-8");
  });
  return std::unique_ptr<ManagementServer>(new ManagementServer(std::move(impl)));
}

void ManagementServer::AddGet(const std::string& path, ManagementHandler handler, Access access) {
  std::lock_guard<std::mutex> lock(impl_->routes_mu);
  impl_->get_routes[path] = ManagementRoute{std::move(handler), access};
}

void ManagementServer::AddPost(const std::string& path, ManagementHandler handler, Access access) {
  std::lock_guard<std::mutex> lock(impl_->routes_mu);
  impl_->post_routes[path] = ManagementRoute{std::move(handler), access};
}

Status ManagementServer::Start() {
  std::lock_guard<std::mutex> lock(impl_->stop_mu);
  if (impl_->started) return FailedPreconditionError("the management server was already started");
  impl_->started = true;
  const ManagementAddress& a = impl_->options.address;
  if (a.port == 0) {
    impl_->port = impl_->http.bind_to_any_port(a.host);
    if (impl_->port < 0) {
      return UnavailableError("the " + impl_->options.service + " could not listen on its management address " +
                              a.ToString() + " (no such local address?)");
    }
  } else {
    if (!impl_->http.bind_to_port(a.host, a.port)) {
      return UnavailableError("the " + impl_->options.service + " could not listen on its management address " +
                              a.ToString() + " (in use by another process? choose another with `management:`, "
                              "or `management: off`)");
    }
    impl_->port = a.port;
  }
  Impl* raw = impl_.get();
  raw->listener = std::thread([raw] {
    raw->http.listen_after_bind();
    raw->listener_done = true;
  });
  // cpp-httplib's stop() does nothing until the listener's loop has begun,
  // so Start returns only once it has (as the console does).
  while (!raw->http.is_running()) {
    if (raw->listener_done) {
      raw->listener.join();
      return UnavailableError("the " + raw->options.service + " could not accept connections on " + address());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (!a.IsLoopback()) {
    spdlog::warn("{}: management address {} is not loopback: only /metrics answers other machines", raw->options.service,
                 address());
  }
  spdlog::info("{}: management address {} (GET /status, /metrics)", raw->options.service, address());
  return OkStatus();
}

void ManagementServer::Stop() {
  std::lock_guard<std::mutex> lock(impl_->stop_mu);
  if (impl_->stopped) return;
  impl_->stopped = true;
  if (!impl_->started) return;
  impl_->http.stop();
  if (impl_->listener.joinable()) impl_->listener.join();
}

int ManagementServer::port() const { return impl_->port; }

std::string ManagementServer::address() const {
  ManagementAddress a = impl_->options.address;
  a.port = impl_->port;
  return a.ToString();
}

Result<ManagementReply> ManagementCall(const ManagementAddress& address, std::string_view method,
                                       const std::string& path, const std::string& body,
                                       const std::map<std::string, std::string>& headers, std::string_view service,
                                       int timeout_ms) {
  if (!address.enabled) {
    return FailedPreconditionError("the " + std::string(service) +
                                   "'s configuration says `management: off`, so a running " + std::string(service) +
                                   " cannot be asked; set `management: 127.0.0.1:PORT` and restart it");
  }
  httplib::Client client(address.host, address.port);
  const time_t sec = timeout_ms / 1000;
  const time_t usec = static_cast<time_t>(timeout_ms % 1000) * 1000;
  client.set_connection_timeout(sec, usec);
  client.set_read_timeout(sec, usec);
  client.set_write_timeout(sec, usec);
  httplib::Headers h;
  for (const auto& [k, v] : headers) h.emplace(k, v);
  httplib::Result res = method == "POST" ? client.Post(path, h, body, "application/octet-stream") : client.Get(path, h);
  if (!res) {
    const httplib::Error err = res.error();
    if (err == httplib::Error::Connection) {
      return UnavailableError("nothing answers on the management address " + address.ToString() + ": is the " +
                              std::string(service) + " running (and is this its configuration)?");
    }
    return UnavailableError("the " + std::string(service) + " on " + address.ToString() +
                            " did not answer: " + httplib::to_string(err));
  }
  ManagementReply reply;
  reply.status = res->status;
  reply.body = res->body;
  reply.content_type = res->get_header_value("Content-Type");
  return reply;
}

}  // namespace kp::observe
