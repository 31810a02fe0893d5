// `ketenpoort ARGS...` in the test's own process: every command of the real
// program (cli::SetUpKetenpoort), what it printed and its exit code.
//   auto run = testing::RunCli({"audit", "verify", dir});
//   EXPECT_EQ(run.exit_code, cli::kExitOk) << run.err;
// For the program as a separate process, see child_process.h.
#ifndef KETENPOORT_TESTS_TESTING_CLI_RUN_H_
#define KETENPOORT_TESTS_TESTING_CLI_RUN_H_

#include <string>
#include <vector>

namespace kp::testing {

struct CliRun {
  int exit_code = 0;
  std::string out;
  std::string err;
};

CliRun RunCli(const std::vector<std::string>& args);

}  // namespace kp::testing

#endif  // KETENPOORT_TESTS_TESTING_CLI_RUN_H_
