// The coordinator's web console (`ketenpoort console`, docs/console.md).
//
// A local web server on 127.0.0.1 over one client::Coordinator: the
// casusregisseur's daily work in Dutch pages — Mijn casussen, Aanmelding,
// Casus, Informatie opvragen. Every action is one of the client library's
// (the same signed commands and requests as the CLI); what may be asked,
// and why, comes from the policy through the case library, never from
// rules of its own.
//
// Security (console/security.h): loopback only, exact Host check, a one-time
// start token exchanged for an HttpOnly SameSite=Strict session cookie, a
// CSRF token and a one-time form id in every form, a strict
// Content-Security-Policy and Cache-Control: no-store on every answer,
// sessions that end after inactivity. Everything from outside (fragment
// values, reasons, what was typed) is shown escaped by the templates.
// The console logs ids only, never a BSN, a name or a fragment's content.
//
// Threads: the HTTP server's workers and one poller (which takes in answers
// and notices the gateway pushes) share the Coordinator under one mutex.
#ifndef KETENPOORT_CONSOLE_CONSOLE_H_
#define KETENPOORT_CONSOLE_CONSOLE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "client/coordinator.h"
#include "core/base/clock.h"
#include "core/base/status.h"
#include "policy/policy_engine.h"

namespace kp::console {

struct ConsoleOptions {
  int port = 8470;                       // 0: a free port (tests)
  int64_t idle_ms = 15 * 60 * 1000;      // a session ends after this long without a request
  int poll_ms = 2000;                    // how often the poller asks for what arrived
  int answer_wait_ms = 4000;             // how long a request waits for its answer before the page shows
};

class ConsoleServer {
 public:
  // Binds 127.0.0.1:port and starts serving. Connects to the gateway in the
  // background (the pages say when it is unreachable). `policy` is the
  // region's policy (the gateway's file), for names and explanations.
  static Result<std::unique_ptr<ConsoleServer>> Start(std::unique_ptr<client::Coordinator> coordinator,
                                                      std::shared_ptr<const policy::Policy> policy,
                                                      const Clock& clock, ConsoleOptions options);
  ~ConsoleServer();
  ConsoleServer(const ConsoleServer&) = delete;
  ConsoleServer& operator=(const ConsoleServer&) = delete;

  int port() const;
  // "http://127.0.0.1:PORT/start?token=T" with a fresh one-time token (the
  // previous unused one stops working).
  std::string LoginAddress();
  // Called (from a server thread) when someone without a session asks for a
  // page and no start token is waiting: the console makes a new one, and
  // this prints the new address where the coordinator started it.
  void OnNewLoginAddress(std::function<void(const std::string&)> print);
  // Blocks until Stop() (from another thread or a signal handler's thread).
  void Wait();
  void Stop();

  class Impl;

 private:
  explicit ConsoleServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kp::console

#endif  // KETENPOORT_CONSOLE_CONSOLE_H_
