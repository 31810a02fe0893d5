#include "client/client_config.h"

#include <cstdlib>
#include <fstream>

#include "tests/testing/status_matchers.h"

namespace kp::client {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

using testing::IsOk;
using ::testing::HasSubstr;

constexpr char kGood[] = R"(
gateway:
  endpoint: tcp://gateway.zvh.local:7400
  card: keys/gateway.card
identity: keys/regisseur-01.secret
enrolment_card: /etc/ketenpoort/enrolment-hvb.card
registry: registry
store: store
timeout: 20s
)";

TEST(ClientConfigTest, ParsesAndResolvesPathsAgainstTheFilesFolder) {
  ASSERT_OK_AND_ASSIGN(ClientConfig c, ParseClientConfig(kGood, "/home/rg/.ketenpoort/client.yaml"));
  EXPECT_EQ(c.gateway_endpoint, "tcp://gateway.zvh.local:7400");
  EXPECT_EQ(c.gateway_card, "/home/rg/.ketenpoort/keys/gateway.card");
  EXPECT_EQ(c.identity, "/home/rg/.ketenpoort/keys/regisseur-01.secret");
  EXPECT_EQ(c.enrolment_card, "/etc/ketenpoort/enrolment-hvb.card");
  EXPECT_EQ(c.store, "/home/rg/.ketenpoort/store");
  EXPECT_EQ(c.timeout_ms, 20'000);
}

TEST(ClientConfigTest, ThePseudonymKeyIsAPathAndOptionalToParse) {
  ASSERT_OK_AND_ASSIGN(ClientConfig without, ParseClientConfig(kGood, "/home/rg/.ketenpoort/client.yaml"));
  EXPECT_EQ(without.pseudonym_key, "");  // a coordinator's client then refuses to open (pseudonym_e2e_test)
  ASSERT_OK_AND_ASSIGN(ClientConfig c, ParseClientConfig(std::string(kGood) + "pseudonym_key: keys/hvb-2027-1.pseudonym-key\n",
                                                         "/home/rg/.ketenpoort/client.yaml"));
  EXPECT_EQ(c.pseudonym_key, "/home/rg/.ketenpoort/keys/hvb-2027-1.pseudonym-key");
  auto twice = ParseClientConfig(std::string(kGood) + "pseudonym_key: a\npseudonym_key: b\n", "c.yaml");
  ASSERT_FALSE(twice.ok());
  EXPECT_THAT(twice.status().message(), HasSubstr("duplicate key 'pseudonym_key'"));
}

TEST(ClientConfigTest, ReportsEveryProblemWithItsLineAndColumn) {
  auto c = ParseClientConfig(
      "gateway:\n  endpoint: tcp://x:1\n  crad: y\nidentity: [a, b]\nstroe: s\ntimeout: 1 minute\n"
      "timeout: 5s\n",
      "c.yaml");
  ASSERT_FALSE(c.ok());
  const std::string m = c.status().message();
  EXPECT_THAT(m, HasSubstr("the client configuration has 9 problem(s):")) << m;
  EXPECT_THAT(m, HasSubstr("c.yaml:3:3: error: unknown key 'crad' in gateway (expected one of: endpoint, card)"));
  EXPECT_THAT(m, HasSubstr("c.yaml:4:11: error: identity must be text"));
  EXPECT_THAT(m, HasSubstr("c.yaml:5:1: error: unknown key 'stroe' in the client configuration"));
  EXPECT_THAT(m, HasSubstr("c.yaml:6:10: error: timeout: '1 minute' is not a duration"));
  EXPECT_THAT(m, HasSubstr("c.yaml:7:1: error: duplicate key 'timeout' in the client configuration"));
  EXPECT_THAT(m, HasSubstr("c.yaml:2:3: error: gateway lacks required key 'card' (the gateway's public card, "
                           "pinned)"));
  EXPECT_THAT(m, HasSubstr("c.yaml:1:1: error: the client configuration lacks required key 'store'"));
  EXPECT_THAT(m, HasSubstr("lacks required key 'enrolment_card'"));
  EXPECT_THAT(m, HasSubstr("lacks required key 'registry'"));
  EXPECT_FALSE(ParseClientConfig("[1, 2", "c.yaml").ok());
  EXPECT_FALSE(ParseClientConfig("- a\n- b\n", "c.yaml").ok());
}

TEST(ClientConfigTest, EmptyValuesAndWrongShapesAreRefused) {
  auto c = ParseClientConfig("gateway: tcp://x:1\nidentity: ''\n", "c.yaml");
  ASSERT_FALSE(c.ok());
  const std::string m = c.status().message();
  EXPECT_THAT(m, HasSubstr("c.yaml:1:10: error: gateway must hold 'key: value' lines (endpoint, card)")) << m;
  EXPECT_THAT(m, HasSubstr("c.yaml:2:11: error: identity must not be empty")) << m;
}

TEST(ClientConfigTest, IsFoundThroughTheFlagOrTheEnvironment) {
  testing::TempDir dir;
  const std::string path = dir.File("client.yaml");
  std::ofstream(path) << kGood;
  ::unsetenv("KETENPOORT_CONFIG");
  EXPECT_EQ(LoadClientConfig("").status().code(), StatusCode::kInvalidArgument);
  ::setenv("KETENPOORT_CONFIG", path.c_str(), 1);
  ASSERT_OK_AND_ASSIGN(ClientConfig from_env, LoadClientConfig(""));
  EXPECT_EQ(from_env.store, dir.File("store"));
  ::setenv("KETENPOORT_CONFIG", "/nonexistent/client.yaml", 1);
  EXPECT_THAT(LoadClientConfig(path), IsOk());  // the flag wins
  ::unsetenv("KETENPOORT_CONFIG");
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp::client
