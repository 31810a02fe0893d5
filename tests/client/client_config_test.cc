#include "client/client_config.h"

#include <cstdlib>
#include <fstream>

#include "tests/testing/status_matchers.h"

namespace kp::client {
namespace {

using testing::IsOk;

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

TEST(ClientConfigTest, ReportsEveryProblemWithItsLine) {
  auto c = ParseClientConfig("gateway:\n  endpoint: tcp://x:1\n  crad: y\nidentity: [a, b]\nstroe: s\n", "c.yaml");
  ASSERT_FALSE(c.ok());
  const std::string m = c.status().message();
  EXPECT_NE(m.find("c.yaml:3: unknown key 'gateway.crad'"), std::string::npos) << m;
  EXPECT_NE(m.find("c.yaml:4: identity must be a single value"), std::string::npos) << m;
  EXPECT_NE(m.find("c.yaml:5: unknown key 'stroe'"), std::string::npos) << m;
  EXPECT_NE(m.find("gateway.card is missing"), std::string::npos) << m;
  EXPECT_NE(m.find("store is missing"), std::string::npos) << m;
  EXPECT_FALSE(ParseClientConfig("[1, 2", "c.yaml").ok());
  EXPECT_FALSE(ParseClientConfig("- a\n- b\n", "c.yaml").ok());
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

}  // namespace
}  // namespace kp::client
