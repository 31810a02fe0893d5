// The management address of a service (docs/operations.md "Monitoring"):
// a small HTTP server for the operator's tools on the machine — GET /status
// (what the running process is doing), GET /metrics (Prometheus), and routes
// other parts add (the gateway's online backup, H5).
//
// Loopback by default: `management: 127.0.0.1:9470`. An operator may bind
// another address so Prometheus can scrape /metrics from elsewhere; every
// route is loopback-only unless it was added with Access::kAnyPeer (only
// /metrics is), so /status and the backup route are never served to another
// machine. A loopback-only route also checks the Host header (a web page
// whose DNS name was rebound to 127.0.0.1 sends its own name, and is
// refused), so a browser on the machine cannot be used to reach it.
//
// cpp-httplib stays inside management_server.cc: handlers see the small
// ManagementRequest / ManagementResponse below, never httplib's types.
// Routes may be added before or after Start(), from any thread; handlers run
// on the server's worker threads (several at once) and must be thread-safe.
// A handler that throws gets a 500 answer and a log line; the server lives on.
//
// Answers never carry personal data: ids, counts, hashes and times only.
#ifndef KETENPOORT_CORE_OBSERVE_MANAGEMENT_SERVER_H_
#define KETENPOORT_CORE_OBSERVE_MANAGEMENT_SERVER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "core/base/status.h"

namespace kp::observe {

inline constexpr int kGatewayManagementPort = 9470;
inline constexpr int kAgentManagementPort = 9471;

// Where a management server listens. `off` (enabled == false) means none.
struct ManagementAddress {
  bool enabled = true;
  std::string host = "127.0.0.1";  // an IPv4 literal, "localhost", or an IPv6 literal (without brackets)
  int port = 0;                    // 0: any free port (tests)

  // "127.0.0.1:9470", "[::1]:9470", or "off".
  std::string ToString() const;
  bool IsLoopback() const;
};

// Parses the `management:` value of a configuration: "off", "HOST:PORT"
// (IPv4 literal or localhost), "[IPv6]:PORT", or a bare "PORT" (on
// 127.0.0.1). Port 0..65535. Host names other than localhost are refused
// (a name could resolve to an address the operator did not mean).
Result<ManagementAddress> ParseManagementAddress(std::string_view text);

// Whether a peer address (as the socket reports it) is loopback
// (127.0.0.0/8, ::1, ::ffff:127.x.x.x).
bool IsLoopbackPeer(std::string_view remote_addr);

struct ManagementRequest {
  std::string method;       // "GET" or "POST"
  std::string path;         // without the query
  std::string body;         // POST body (at most ManagementOptions::max_body_bytes)
  std::string remote_addr;  // the peer's address
  bool from_loopback = false;
  std::map<std::string, std::string> headers;  // names lower-case; a repeated header keeps its last value
  std::map<std::string, std::string> params;   // query parameters; a repeated one keeps its last value

  // The header's value, "" when absent. `name` in any case.
  std::string Header(std::string_view name) const;
  std::string Param(std::string_view name) const;
};

struct ManagementResponse {
  int status = 200;
  std::string body;
  std::string content_type = "text/plain; charset=utf-8";
  std::map<std::string, std::string> headers;  // extra headers
};

using ManagementHandler = std::function<void(const ManagementRequest&, ManagementResponse&)>;

enum class Access {
  kLoopbackOnly,  // refused (403) unless the peer is loopback and Host names a loopback address
  kAnyPeer,       // served to anyone who can reach the address (only /metrics)
};

struct ManagementOptions {
  ManagementAddress address;
  std::string service = "ketenpoort";  // for log lines: "gateway", "agent"
  size_t max_body_bytes = 1 << 20;
  int threads = 4;
};

class ManagementServer {
 public:
  // Makes a server that does not listen yet. Fails on a disabled address
  // (callers check `enabled` and make none).
  static Result<std::unique_ptr<ManagementServer>> Create(ManagementOptions options);
  ~ManagementServer();  // Stop()s
  ManagementServer(const ManagementServer&) = delete;
  ManagementServer& operator=(const ManagementServer&) = delete;

  // Adds (or replaces) the handler of an exact path ("/status"). Thread-safe,
  // also while serving.
  void AddGet(const std::string& path, ManagementHandler handler, Access access = Access::kLoopbackOnly);
  void AddPost(const std::string& path, ManagementHandler handler, Access access = Access::kLoopbackOnly);

  // Binds and starts serving on a thread of its own; returns once requests
  // are accepted. Unavailable when the address cannot be bound (in use).
  Status Start();
  // Stops serving and waits for the server's threads. Idempotent.
  void Stop();

  // The bound port (after Start; the chosen one when the address said 0).
  int port() const;
  // "HOST:PORT" as bound, e.g. "127.0.0.1:9470".
  std::string address() const;

  class Impl;

 private:
  explicit ManagementServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A client for the tools that ask a running service (`status`, `backup`).
struct ManagementReply {
  int status = 0;
  std::string body;
  std::string content_type;
};

// GET or POST `path` on the management address. Unavailable, with a message
// an operator understands ("nothing answers on 127.0.0.1:9470: is the gateway
// running? ..."), when nothing listens; a non-2xx answer is returned as a
// reply (the caller decides). `service` names the process in messages.
Result<ManagementReply> ManagementCall(const ManagementAddress& address, std::string_view method,
                                       const std::string& path, const std::string& body = "",
                                       const std::map<std::string, std::string>& headers = {},
                                       std::string_view service = "service", int timeout_ms = 5000);

}  // namespace kp::observe

#endif  // KETENPOORT_CORE_OBSERVE_MANAGEMENT_SERVER_H_
