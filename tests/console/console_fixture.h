// The fixture of the console's tests over HTTP against a real region
// (tests/testing/region.h): the log captured, the region with its gateway,
// a console for one coordinator on a free loopback port, logged in with a
// session cookie, and what a browser does (get a page, post a form with the
// csrf token and one-time form id of the page it is on, follow a redirect).
// Not thread-safe: a test's own thread only.
#ifndef KETENPOORT_TESTS_CONSOLE_CONSOLE_FIXTURE_H_
#define KETENPOORT_TESTS_CONSOLE_CONSOLE_FIXTURE_H_

#include <memory>
#include <string>
#include <utility>

#include <gtest/gtest.h>
#include <httplib.h>
#include <spdlog/spdlog.h>

#include "client/coordinator.h"
#include "console/console.h"
#include "core/base/clock.h"
#include "tests/testing/capture_sink.h"
#include "tests/testing/region.h"
#include "tests/testing/status_matchers.h"

namespace kp::console {

class ConsoleFixture : public ::testing::Test {
 public:
  // The csrf token and the one-time form id in `html` ("" for what is absent).
  static std::pair<std::string, std::string> FormFields(const std::string& html);
  // The HTML of the element that starts with `open` up to its `close`; "" when absent.
  static std::string Section(const std::string& html, const std::string& open, const std::string& close);

 protected:
  // Stops the console and the region; prints the log when the test failed.
  void TearDown() override;

  // Captures the log at `level` and starts a region with its gateway. Call
  // under ASSERT_NO_FATAL_FAILURE.
  void StartRegion(spdlog::level::level_enum level = spdlog::level::trace);

  // A case of `c` for `purpose` with one victim (Region::kBsn, `name`, born
  // 1990-01-01) and `partner` admitted, opened by the client itself (as with
  // the CLI, before there is a console); its id.
  static Result<std::string> OpenCaseWith(client::Coordinator& c, const std::string& purpose,
                                          const std::string& name, const std::string& partner);

  // Options for a test's console: a free port, the poller every `poll_ms`.
  static ConsoleOptions TestOptions(int poll_ms = 200);

  // Starts the console for `coordinator` with the region's policy (port_).
  // Call under ASSERT_NO_FATAL_FAILURE.
  void StartServer(std::unique_ptr<client::Coordinator> coordinator, ConsoleOptions options = TestOptions(),
                   const Clock& clock = SystemClock::Get());
  // StartServer, then logs in (cookie_).
  void StartConsole(std::unique_ptr<client::Coordinator> coordinator, ConsoleOptions options = TestOptions(),
                    const Clock& clock = SystemClock::Get());

  std::unique_ptr<httplib::Client> Client() const;
  // Logs in with a fresh one-time address; the session cookie ("" when that failed).
  std::string Login();

  // A request with the session `cookie` (also kept in pages_).
  httplib::Result Get(const std::string& path, const std::string& cookie);
  httplib::Result Post(const std::string& path, const std::string& cookie, const httplib::Params& form,
                       httplib::Headers extra = {});

  // A page with cookie_ that must answer `status`; its HTML.
  std::string GetPage(const std::string& path, int status = 200);
  // Posts `form` with cookie_ and the csrf token and one-time form id found
  // in `form_html` (the page or form it is on, as a browser would).
  httplib::Result Submit(const std::string& path, const std::string& form_html, httplib::Params form);
  // The page a redirect (303) leads to.
  std::string Follow(const httplib::Result& res);

  testing::TempDir dir_;
  std::shared_ptr<testing::CaptureSink> sink_;
  std::unique_ptr<testing::Region> region_;
  std::unique_ptr<ConsoleServer> server_;
  int port_ = 0;
  std::string cookie_;
  std::string pages_;  // every body Get and Post received, for checks over all pages
};

}  // namespace kp::console

#endif  // KETENPOORT_TESTS_CONSOLE_CONSOLE_FIXTURE_H_
