// The gateway's configuration file: the deploy example parses, relative paths
// are taken from the file's folder, and a bad file gets every problem listed
// at once, each with its line:column.
#include "gateway/gateway_config.h"

#include "tests/testing/status_matchers.h"

namespace kp::gateway {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

using ::kp::testing::IsOk;
using ::kp::testing::StatusIs;
using ::testing::HasSubstr;

constexpr char kMinimal[] =
    "identity: keys/gw.secret\nregistry: registry\nenrolment_card: keys/e.card\npolicy: p.yaml\n"
    "data_dir: data\n";

TEST(GatewayConfigTest, TheDeployExampleParses) {
  auto c = LoadGatewayConfig(testing::SourceDir() + "/deploy/gateway.example.yaml");
  ASSERT_THAT(c, IsOk());
  EXPECT_EQ(c->listen, "tcp://0.0.0.0:7400");
  EXPECT_EQ(c->identity, "/etc/ketenpoort/keys/gateway.secret");
  EXPECT_EQ(c->inbox_expiry_ms, 7LL * 24 * 3600 * 1000);
  EXPECT_EQ(c->audit_retention_ms, 1825LL * 24 * 3600 * 1000);
}

TEST(GatewayConfigTest, DefaultsAndPathsFromTheConfigsFolder) {
  ASSERT_OK_AND_ASSIGN(GatewayConfig c, ParseGatewayConfig(kMinimal, "/etc/ketenpoort/gateway.yaml"));
  EXPECT_EQ(c.identity, "/etc/ketenpoort/keys/gw.secret");
  EXPECT_EQ(c.data_dir, "/etc/ketenpoort/data");
  EXPECT_EQ(c.listen, GatewayConfig{}.listen);
  EXPECT_EQ(c.request_expiry_ms, GatewayConfig{}.request_expiry_ms);
  EXPECT_EQ(c.peer_timeout_ms, 15'000);
}

TEST(GatewayConfigTest, EveryProblemIsListedWithItsLineAndColumn) {
  auto c = ParseGatewayConfig(
      "lisen: tcp://0.0.0.0:7400\n"  // 1: unknown key
      "identity: [a, b]\n"           // 2: wrong type
      "registry: r\n"
      "registry: r2\n"               // 4: duplicate
      "peer_timeout: soon\n"         // 5: not a duration
      "inbox_expiry: 0s\n",          // 6: not positive
      "gw.yaml");
  ASSERT_THAT(c, StatusIs(StatusCode::kInvalidArgument));
  const std::string m = c.status().message();
  EXPECT_THAT(m, HasSubstr("the gateway configuration has 8 problem(s):"));
  EXPECT_THAT(m, HasSubstr("gw.yaml:1:1: error: unknown key 'lisen' in the gateway configuration (expected one "
                           "of: listen, identity,"));
  EXPECT_THAT(m, HasSubstr("gw.yaml:2:11: error: identity must be text"));
  EXPECT_THAT(m, HasSubstr("gw.yaml:4:1: error: duplicate key 'registry' in the gateway configuration"));
  EXPECT_THAT(m, HasSubstr("gw.yaml:5:15: error: peer_timeout: 'soon' is not a duration"));
  EXPECT_THAT(m, HasSubstr("gw.yaml:6:15: error: inbox_expiry must be from 1ms to"));
  // Missing required keys are reported at the top of the file, with what they are.
  EXPECT_THAT(m, HasSubstr("gw.yaml:1:1: error: the gateway configuration lacks required key 'enrolment_card' "
                           "(the region's enrolment card, pinned)"));
  EXPECT_THAT(m, HasSubstr("lacks required key 'policy'"));
  EXPECT_THAT(m, HasSubstr("lacks required key 'data_dir'"));
}

TEST(GatewayConfigTest, PeerTimeoutMustExceedTheHeartbeat) {
  auto c = ParseGatewayConfig(std::string(kMinimal) + "heartbeat_interval: 20s\n", "gw.yaml");
  EXPECT_THAT(c, StatusIs(StatusCode::kInvalidArgument,
                          "gw.yaml:6:21: error: peer_timeout (15s) must be longer than heartbeat_interval (20s)"));
}

TEST(GatewayConfigTest, TheRetentionSweepHasDefaultsAndChecksItsValues) {
  ASSERT_OK_AND_ASSIGN(GatewayConfig d, ParseGatewayConfig(kMinimal, "gw.yaml"));
  EXPECT_EQ(d.retention_sweep_interval_ms, 3600LL * 1000);
  EXPECT_EQ(d.closed_case_days, 90);
  ASSERT_OK_AND_ASSIGN(GatewayConfig c, ParseGatewayConfig(std::string(kMinimal) +
                                                               "retention:\n  sweep_interval: 15m\n"
                                                               "  closed_case_days: 30\n",
                                                           "gw.yaml"));
  EXPECT_EQ(c.retention_sweep_interval_ms, 15LL * 60 * 1000);
  EXPECT_EQ(c.closed_case_days, 30);
  auto bad = ParseGatewayConfig(std::string(kMinimal) + "retention:\n  sweep_interval: 10ms\n"
                                                        "  closed_case_days: 7\n  keep: forever\n",
                                "gw.yaml");
  ASSERT_THAT(bad, StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(bad.status().message(), HasSubstr("retention.sweep_interval must be from 1s"));
  EXPECT_THAT(bad.status().message(), HasSubstr("retention.closed_case_days"));
  EXPECT_THAT(bad.status().message(), HasSubstr("unknown key 'keep'"));
}

TEST(GatewayConfigTest, TheManagementAddressIsLoopbackByDefaultAndMayBeOff) {
  ASSERT_OK_AND_ASSIGN(GatewayConfig plain, ParseGatewayConfig(kMinimal, "gw.yaml"));
  EXPECT_EQ(plain.management.ToString(), "127.0.0.1:9470");
  EXPECT_FALSE(plain.management_explicit);
  ASSERT_OK_AND_ASSIGN(GatewayConfig other,
                       ParseGatewayConfig(std::string(kMinimal) + "management: '[::1]:9999'\n", "gw.yaml"));
  EXPECT_EQ(other.management.ToString(), "[::1]:9999");
  EXPECT_TRUE(other.management_explicit);
  ASSERT_OK_AND_ASSIGN(GatewayConfig off, ParseGatewayConfig(std::string(kMinimal) + "management: off\n", "gw.yaml"));
  EXPECT_FALSE(off.management.enabled);
  EXPECT_THAT(ParseGatewayConfig(std::string(kMinimal) + "management: monitor.example:9470\n", "gw.yaml"),
              StatusIs(StatusCode::kInvalidArgument, "gw.yaml:6:13: error: management: the management address"));
}

TEST(GatewayConfigTest, NotYamlOrNotAMappingIsAClearError) {
  EXPECT_THAT(ParseGatewayConfig("identity: [unclosed\n", "gw.yaml"),
              StatusIs(StatusCode::kInvalidArgument, "gw.yaml:2:1: error: not valid YAML"));
  EXPECT_THAT(ParseGatewayConfig("- a list\n", "gw.yaml"),
              StatusIs(StatusCode::kInvalidArgument,
                       "gw.yaml:1:1: error: the gateway configuration must hold 'key: value' lines"));
  EXPECT_THAT(ParseGatewayConfig("", "gw.yaml"), StatusIs(StatusCode::kInvalidArgument));
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp::gateway
