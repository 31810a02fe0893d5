// `ketenpoort`: the command for coordinators, privacy officers, partner IT
// and operators. Thin by design: every command lives in the kp_cli library.
//
// Signals (core/base/signals.h): on SIGINT/SIGTERM the command at hand gets
// kStopGrace to finish by itself (library code may read kp::StopRequested()
// and end early); what it already stored stays stored (the coordinator's
// store commits whole transactions, and the gateway holds every answer
// until the client acknowledges it). If it has not finished by then, or on a
// second SIGINT/SIGTERM, the process exits with 128 + the signal number.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>

#include "cli/cli_context.h"
#include "core/base/process.h"
#include "core/base/signals.h"

namespace {

constexpr auto kStopGrace = std::chrono::seconds(3);

// Set when the command has returned: the stop grace ends early.
std::mutex g_done_mu;
std::condition_variable g_done_cv;
bool g_done = false;

void AwaitCommandOrExit() {
  std::unique_lock<std::mutex> lock(g_done_mu);
  if (g_done_cv.wait_for(lock, kStopGrace, [] { return g_done; })) return;
  const int sig = kp::StopSignal();
  const char* msg =
      "ketenpoort: stopped by a signal before the command finished; what it stored is kept, and answers "
      "still on their way stay at the gateway: fetch them with `ketenpoort inbox`\n";
  if (::write(STDERR_FILENO, msg, std::strlen(msg)) < 0) {
  }
  ::_exit(128 + sig);
}

}  // namespace

int main(int argc, char** argv) {
  kp::Status hardened = kp::DisableCoreDumps();
  if (!hardened.ok()) {
    std::cerr << "error: " << hardened.message() << "\n";
    return kp::cli::kExitError;
  }
  auto signals = kp::SignalForwarder::Start(AwaitCommandOrExit, nullptr, {.second_stop_exits = true});
  if (!signals.ok()) {
    std::cerr << "error: " << signals.status().message() << "\n";
    return kp::cli::kExitError;
  }
  // stdout is for results (tables, JSON); library warnings go to stderr.
  auto logger = spdlog::stderr_color_mt("ketenpoort");
  logger->set_level(spdlog::level::warn);
  spdlog::set_default_logger(logger);
  CLI::App app;
  kp::cli::CliContext ctx;
  kp::cli::SetUpKetenpoort(app, ctx);
  int rc = kp::cli::kExitOk;
  try {
    app.parse(argc, argv);
    rc = ctx.exit_code;
  } catch (const CLI::ParseError& e) {
    rc = app.exit(e) == 0 ? kp::cli::kExitOk : kp::cli::kExitUsage;
  }
  {
    std::lock_guard<std::mutex> lock(g_done_mu);
    g_done = true;
  }
  g_done_cv.notify_all();
  signals->reset();
  return rc;
}
