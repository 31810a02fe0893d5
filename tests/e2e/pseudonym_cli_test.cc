// `ketenpoort pseudonym-key new|show` and a coordinator's `pseudonym_key:`
// as a person meets them (issue 17 §3; docs/cli.md): the key file 0600,
// never overwritten, its check value printed and never the key; bad ids,
// loose and damaged files refused with a clear message and exit 1; a
// coordinator's command whose configuration names no key refused before it
// does anything, the same command with the key working.
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "cli/cli_context.h"
#include "core/base/file_util.h"
#include "tests/testing/child_process.h"
#include "tests/testing/cli_run.h"
#include "tests/testing/region.h"
#include "tests/testing/status_matchers.h"

namespace kp {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

using ::testing::HasSubstr;
using ::testing::Not;
using testing::Region;

using testing::CliRun;
using testing::RunCli;

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string Field(const std::string& text, const std::string& name) {
  const size_t at = text.find("\n" + name + ": ");
  if (at == std::string::npos) return "";
  const size_t from = at + name.size() + 3;
  return text.substr(from, text.find('\n', from) - from);
}

TEST(PseudonymKeyCliTest, NewWritesAPrivateFileAndShowPrintsItsCheckValueNeverTheKey) {
  testing::TempDir dir;
  const std::string file = dir.File("hvb-2027-1.pseudonym-key");
  CliRun made = RunCli({"pseudonym-key", "new", "--id", "hvb-2027-1", "--out", file});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  struct stat st{};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const std::string text = Slurp(file);
  const std::string key = Field(text, "key");
  const std::string check = Field(text, "check");
  ASSERT_EQ(key.size(), 44u);
  ASSERT_EQ(check.size(), 16u);
  EXPECT_THAT(made.out, HasSubstr("pseudonym key: hvb-2027-1"));
  EXPECT_THAT(made.out, HasSubstr("check value:   " + check));
  EXPECT_THAT(made.out, Not(HasSubstr(key)));

  CliRun shown = RunCli({"pseudonym-key", "show", file});
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  EXPECT_THAT(shown.out, HasSubstr("check value:   " + check));
  EXPECT_THAT(shown.out, Not(HasSubstr(key)));

  // Never over an existing key; an id that is no id.
  CliRun again = RunCli({"pseudonym-key", "new", "--id", "hvb-2027-1", "--out", file});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_THAT(again.err, HasSubstr("already exists"));
  EXPECT_EQ(Slurp(file), text);
  CliRun bad_id = RunCli({"pseudonym-key", "new", "--id", "HvB 2027", "--out", dir.File("other")});
  EXPECT_EQ(bad_id.exit_code, 1);
  EXPECT_THAT(bad_id.err, HasSubstr("pseudonym key id"));
  CliRun no_id = RunCli({"pseudonym-key", "new", "--out", dir.File("other")});
  EXPECT_EQ(no_id.exit_code, cli::kExitUsage);

  // A file others may read, and a damaged one: refused, saying why.
  ASSERT_EQ(::chmod(file.c_str(), 0644), 0);
  CliRun loose = RunCli({"pseudonym-key", "show", file});
  EXPECT_EQ(loose.exit_code, 1);
  EXPECT_THAT(loose.err, HasSubstr("chmod 600"));
  ASSERT_EQ(::chmod(file.c_str(), 0600), 0);
  std::string damaged = text;
  damaged[damaged.find("\nkey: ") + 8] ^= 0x01;
  ASSERT_OK(WriteFileDurable(file, damaged, 0600, WriteMode::kReplace));
  CliRun broken = RunCli({"pseudonym-key", "show", file});
  EXPECT_EQ(broken.exit_code, 1);
  EXPECT_THAT(broken.err, HasSubstr("is not usable"));
}

TEST(PseudonymKeyCliTest, ACoordinatorsCommandWithoutTheKeyIsRefusedWithItAnswers) {
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("null"));
  testing::TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto region, Region::Create(dir.path(), SystemClock::Get()));
  client::ClientConfig config = region->CoordinatorConfig();
  config.gateway_endpoint = "tcp://127.0.0.1:9";  // `case list` reads the local store only
  const std::string with = dir.File("client.yaml");
  ASSERT_OK(testing::WriteClientYaml(config, with));
  config.pseudonym_key.clear();
  const std::string without = dir.File("client-without-key.yaml");
  ASSERT_OK(testing::WriteClientYaml(config, without));

  CliRun refused = RunCli({"case", "list", "--config", without});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.err, HasSubstr("names no pseudonym_key"));
  EXPECT_THAT(refused.err, HasSubstr("The region's pseudonym key"));
  CliRun listed = RunCli({"case", "list", "--config", with});
  EXPECT_EQ(listed.exit_code, 0) << listed.err;
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp
