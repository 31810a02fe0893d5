#include "tests/testing/cli_run.h"

#include <CLI/CLI.hpp>
#include <sstream>

#include "cli/cli_context.h"

namespace kp::testing {

CliRun RunCli(const std::vector<std::string>& args) {
  std::ostringstream out, err;
  cli::CliContext ctx{out, err};
  CLI::App app;
  cli::SetUpKetenpoort(app, ctx);
  std::vector<const char*> argv = {"ketenpoort"};
  for (const auto& a : args) argv.push_back(a.c_str());
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::ParseError& e) {
    return {app.exit(e, out, err) == 0 ? cli::kExitOk : cli::kExitUsage, out.str(), err.str()};
  }
  return {ctx.exit_code, out.str(), err.str()};
}

}  // namespace kp::testing
