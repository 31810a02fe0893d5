// The agent's configuration file: the examples in deploy/ parse, and a bad
// file gets every problem listed at once, with its line.
#include "agent/agent_config.h"

#include "tests/testing/status_matchers.h"

namespace kp::agent {
namespace {

using ::kp::testing::IsOk;
using ::kp::testing::StatusIs;

TEST(AgentConfigTest, TheDeployExamplesParse) {
  for (const char* name :
       {"agent.sqlite.example.yaml", "agent.json-files.example.yaml", "agent.command.example.yaml"}) {
    auto c = LoadAgentConfig(testing::SourceDir() + "/deploy/" + name);
    ASSERT_THAT(c, IsOk()) << name;
    EXPECT_EQ(c->sources.size(), 1u) << name;
    EXPECT_EQ(c->gateway_endpoint, "tcp://gateway.zvh.local:7400");
    EXPECT_TRUE(c->test_subject.has_value());
  }
  auto sql = LoadAgentConfig(testing::SourceDir() + "/deploy/agent.sqlite.example.yaml");
  ASSERT_THAT(sql, IsOk());
  EXPECT_EQ(sql->sources.at("politie-incidenten").kind, ConnectorConfig::Kind::kSqlite);
  auto cmd = LoadAgentConfig(testing::SourceDir() + "/deploy/agent.command.example.yaml");
  ASSERT_THAT(cmd, IsOk());
  EXPECT_EQ(cmd->sources.at("veilig-thuis-meldingen").timeout_ms, 5000);
}

TEST(AgentConfigTest, RelativePathsAreTakenFromTheConfigsFolder) {
  auto c = ParseAgentConfig(
      "identity: keys/a.secret\ngateway: {endpoint: 'tcp://127.0.0.1:7400', card: keys/gateway.card}\n"
      "enrolment_card: keys/e.card\nregistry: registry\npolicy: p.yaml\ndata_dir: data\n"
      "categories:\n  ggz-in-zorg:\n    source: {kind: json-files, folder: ggz}\n",
      "/etc/ketenpoort/agent.yaml");
  ASSERT_THAT(c, IsOk());
  EXPECT_EQ(c->identity, "/etc/ketenpoort/keys/a.secret");
  EXPECT_EQ(c->data_dir, "/etc/ketenpoort/data");
  EXPECT_EQ(c->sources.at("ggz-in-zorg").folder, "/etc/ketenpoort/ggz");
}

TEST(AgentConfigTest, EveryProblemIsListedWithItsLine) {
  auto c = ParseAgentConfig(
      "identity: a.secret\n"
      "gatewy: {endpoint: x}\n"  // line 2: typo
      "peer_timeout: soon\n"     // line 3: not a duration
      "restrictions: {always_require_consent: maybe}\n"
      "categories:\n"
      "  ggz-in-zorg: {}\n",  // line 6: no source
      "agent.yaml");
  ASSERT_THAT(c, StatusIs(StatusCode::kInvalidArgument));
  const std::string m = c.status().message();
  EXPECT_NE(m.find("agent.yaml:2: unknown setting 'gatewy'"), std::string::npos) << m;
  EXPECT_NE(m.find("agent.yaml:3: peer_timeout"), std::string::npos) << m;
  EXPECT_NE(m.find("always_require_consent"), std::string::npos) << m;
  EXPECT_NE(m.find("agent.yaml:6: categories.ggz-in-zorg"), std::string::npos) << m;
  EXPECT_NE(m.find("'gateway.endpoint' is required"), std::string::npos) << m;
  EXPECT_NE(m.find("'data_dir' is required"), std::string::npos) << m;
}

TEST(AgentConfigTest, NotYamlIsAClearError) {
  EXPECT_THAT(ParseAgentConfig("identity: [unclosed\n", "agent.yaml"),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseAgentConfig("- a list\n", "agent.yaml"), StatusIs(StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace kp::agent
