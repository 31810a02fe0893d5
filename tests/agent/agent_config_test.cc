// The agent's configuration file: the examples in deploy/ parse, and a bad
// file gets every problem listed at once, with its line.
#include "agent/agent_config.h"

#include "tests/testing/status_matchers.h"

namespace kp::agent {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

using ::kp::testing::IsOk;
using ::kp::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(AgentConfigTest, TheDeployExamplesParse) {
  for (const char* name :
       {"agent.sqlite.example.yaml", "agent.json-files.example.yaml", "agent.command.example.yaml",
        "agent.postgres.example.yaml", "agent.https.example.yaml"}) {
    auto c = LoadAgentConfig(testing::SourceDir() + "/deploy/" + name);
    ASSERT_THAT(c, IsOk()) << name;
    EXPECT_EQ(c->sources.size(), 1u) << name;
    EXPECT_EQ(c->gateway_endpoint, "tcp://gateway.zvh.local:7400");
    EXPECT_TRUE(c->test_subject.has_value());
  }
  auto sql = LoadAgentConfig(testing::SourceDir() + "/deploy/agent.sqlite.example.yaml");
  ASSERT_THAT(sql, IsOk());
  EXPECT_EQ(sql->sources.at("politie-incidenten").kind, ConnectorConfig::Kind::kSqlite);
  auto pg = LoadAgentConfig(testing::SourceDir() + "/deploy/agent.postgres.example.yaml");
  ASSERT_THAT(pg, IsOk());
  EXPECT_EQ(pg->sources.at("politie-incidenten").kind, ConnectorConfig::Kind::kPostgres);
  EXPECT_THAT(pg->sources.at("politie-incidenten").postgres.params, ElementsAre("bsn"));
  auto https = LoadAgentConfig(testing::SourceDir() + "/deploy/agent.https.example.yaml");
  ASSERT_THAT(https, IsOk());
  EXPECT_EQ(https->sources.at("ggz-in-zorg").kind, ConnectorConfig::Kind::kHttps);
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

TEST(AgentConfigTest, EveryProblemIsListedWithItsLineAndColumn) {
  auto c = ParseAgentConfig(
      "identity: a.secret\n"
      "gatewy: {endpoint: x}\n"  // line 2: typo
      "peer_timeout: soon\n"     // line 3: not a duration
      "restrictions: {always_require_consent: maybe}\n"
      "categories:\n"
      "  ggz-in-zorg: {}\n"  // line 6: no source
      "identity: b.secret\n",  // line 7: twice
      "agent.yaml");
  ASSERT_THAT(c, StatusIs(StatusCode::kInvalidArgument));
  const std::string m = c.status().message();
  // registry and policy may be left out: the agent then uses what it fetched from the gateway (issue 18).
  EXPECT_THAT(m, HasSubstr("the agent configuration has 8 problem(s):")) << m;
  EXPECT_THAT(m, HasSubstr("agent.yaml:2:1: error: unknown key 'gatewy' in the agent configuration"));
  EXPECT_THAT(m, HasSubstr("agent.yaml:3:15: error: peer_timeout: 'soon' is not a duration"));
  EXPECT_THAT(m, HasSubstr("agent.yaml:4:40: error: restrictions.always_require_consent must be true or false"));
  EXPECT_THAT(m, HasSubstr("agent.yaml:6:16: error: categories.ggz-in-zorg lacks required key 'source'"));
  EXPECT_THAT(m, HasSubstr("agent.yaml:7:1: error: duplicate key 'identity' in the agent configuration"));
  EXPECT_THAT(m, HasSubstr("agent.yaml:1:1: error: the agent configuration lacks required key 'gateway'"));
  EXPECT_THAT(m, HasSubstr("agent.yaml:1:1: error: the agent configuration lacks required key 'data_dir'"));
  EXPECT_THAT(m, HasSubstr("lacks required key 'enrolment_card'"));
}

constexpr char kHead[] =
    "identity: a.secret\ngateway: {endpoint: 'tcp://127.0.0.1:7400', card: g.card}\nenrolment_card: e.card\n"
    "registry: r\npolicy: p.yaml\ndata_dir: d\n";

Result<ConnectorConfig> Source(const std::string& source) {
  KP_ASSIGN_OR_RETURN(AgentConfig c,
                      ParseAgentConfig(std::string(kHead) + "categories:\n  x:\n    source: " + source + "\n",
                                       "/etc/ketenpoort/agent.yaml"));
  return c.sources.at("x");
}

TEST(AgentConfigTest, TheManagementAddressIsLoopbackByDefaultAndMayBeOff) {
  const std::string categories = "categories:\n  x:\n    source: {kind: json-files, folder: ggz}\n";
  ASSERT_OK_AND_ASSIGN(AgentConfig plain, ParseAgentConfig(std::string(kHead) + categories, "agent.yaml"));
  EXPECT_EQ(plain.management.ToString(), "127.0.0.1:9471");
  EXPECT_FALSE(plain.management_explicit);
  ASSERT_OK_AND_ASSIGN(AgentConfig off,
                       ParseAgentConfig(std::string(kHead) + "management: off\n" + categories, "agent.yaml"));
  EXPECT_FALSE(off.management.enabled);
  EXPECT_THAT(ParseAgentConfig(std::string(kHead) + "management: 127.0.0.1:99999\n" + categories, "agent.yaml"),
              StatusIs(StatusCode::kInvalidArgument, "agent.yaml:7:13: error: management: the management address"));
}

TEST(AgentConfigTest, ReadsEachKindOfSource) {
  ASSERT_OK_AND_ASSIGN(ConnectorConfig sql,
                       Source(R"({kind: sqlite, database: data/politie.db, query: "SELECT a FROM t WHERE bsn = :bsn"})"));
  EXPECT_EQ(sql.kind, ConnectorConfig::Kind::kSqlite);
  EXPECT_EQ(sql.database, "/etc/ketenpoort/data/politie.db");
  EXPECT_EQ(sql.query, "SELECT a FROM t WHERE bsn = :bsn");
  ASSERT_OK_AND_ASSIGN(ConnectorConfig json, Source("{kind: json-files, folder: /srv/ggz, key: ref}"));
  EXPECT_EQ(json.kind, ConnectorConfig::Kind::kJsonFiles);
  EXPECT_EQ(json.folder, "/srv/ggz");
  EXPECT_EQ(json.key, "ref");
  ASSERT_OK_AND_ASSIGN(json, Source("{kind: json-files, folder: ggz}"));
  EXPECT_EQ(json.key, "bsn");
  ASSERT_OK_AND_ASSIGN(ConnectorConfig cmd,
                       Source("{kind: command, argv: [bin/lookup, --cat, x], timeout: 500ms, max_output: 64KiB}"));
  EXPECT_EQ(cmd.kind, ConnectorConfig::Kind::kCommand);
  EXPECT_THAT(cmd.argv, ElementsAre("/etc/ketenpoort/bin/lookup", "--cat", "x"));
  EXPECT_EQ(cmd.timeout_ms, 500);
  EXPECT_EQ(cmd.max_output_bytes, 64u * 1024);
  ASSERT_OK_AND_ASSIGN(cmd, Source("{kind: command, argv: [/x], max_output: 4096}"));
  EXPECT_EQ(cmd.max_output_bytes, 4096u);
  EXPECT_EQ(cmd.timeout_ms, 5000);  // the default
}

TEST(AgentConfigTest, ReadsPostgresAndHttpsSources) {
  ASSERT_OK_AND_ASSIGN(
      ConnectorConfig pg,
      Source("{kind: postgres, host: db.politie.local, port: 5433, dbname: bron, user: ketenpoort, "
             "password_file: pg.pw, sslrootcert: ca.crt, sslcert: c.crt, sslkey: c.key, "
             "query: 'SELECT a FROM t WHERE bsn = $1 AND geboren = $2', params: [bsn, date_of_birth], "
             "connect_timeout: 2s, timeout: 3s, max_output: 64KiB}"));
  EXPECT_EQ(pg.kind, ConnectorConfig::Kind::kPostgres);
  EXPECT_EQ(pg.postgres.host, "db.politie.local");
  EXPECT_EQ(pg.postgres.port, 5433);
  EXPECT_EQ(pg.postgres.dbname, "bron");
  EXPECT_EQ(pg.postgres.user, "ketenpoort");
  EXPECT_EQ(pg.postgres.password_file, "/etc/ketenpoort/pg.pw");
  EXPECT_EQ(pg.postgres.sslmode, "verify-full");  // the default
  EXPECT_EQ(pg.postgres.sslrootcert, "/etc/ketenpoort/ca.crt");
  EXPECT_EQ(pg.postgres.sslkey, "/etc/ketenpoort/c.key");
  EXPECT_THAT(pg.postgres.params, ElementsAre("bsn", "date_of_birth"));
  EXPECT_EQ(pg.postgres.connect_timeout_ms, 2000);
  EXPECT_EQ(pg.timeout_ms, 3000);
  EXPECT_EQ(pg.max_output_bytes, 64u * 1024);
  ASSERT_OK_AND_ASSIGN(pg, Source("{kind: postgres, dbname: d, user: u, query: q, params: [bsn], "
                                  "changed_query: c, changed_params: [bsn, since]}"));
  EXPECT_EQ(pg.changed_query, "c");
  EXPECT_THAT(pg.postgres.changed_params, ElementsAre("bsn", "since"));
  ASSERT_OK_AND_ASSIGN(ConnectorConfig https,
                       Source("{kind: https, url: 'https://zorg.local:8443/api/records', ca_file: ca.crt, "
                              "client_cert: agent.crt, client_key: /etc/ketenpoort/agent.key, timeout: 10s}"));
  EXPECT_EQ(https.kind, ConnectorConfig::Kind::kHttps);
  EXPECT_EQ(https.https.url, "https://zorg.local:8443/api/records");
  EXPECT_EQ(https.https.ca_file, "/etc/ketenpoort/ca.crt");
  EXPECT_EQ(https.https.client_cert, "/etc/ketenpoort/agent.crt");
  EXPECT_EQ(https.https.client_key, "/etc/ketenpoort/agent.key");
  EXPECT_EQ(https.timeout_ms, 10'000);
  EXPECT_EQ(https.https.connect_timeout_ms, 5000);
}

TEST(AgentConfigTest, RefusesBadPostgresAndHttpsSources) {
  for (const std::string source :
       {"{kind: postgres, user: u, query: q}", "{kind: postgres, dbname: d, query: q}",
        "{kind: postgres, dbname: d, user: u}", "{kind: postgres, dbname: d, user: u, query: q, params: bsn}",
        "{kind: postgres, dbname: d, user: u, query: q, params: [postcode]}",
        "{kind: postgres, dbname: d, user: u, query: q, sslmode: prefer}",
        "{kind: postgres, dbname: d, user: u, query: q, port: 70000}",
        "{kind: postgres, dbname: d, user: u, query: q, password: geheim}",
        "{kind: postgres, dbname: d, user: u, query: q, changed_params: [postcode]}",
        "{kind: postgres, dbname: d, user: u, query: q, changed_params: since}",
        "{kind: https, ca_file: c, client_cert: a, client_key: k}",
        "{kind: https, url: 'https://x', client_cert: a, client_key: k}",
        "{kind: https, url: 'https://x', ca_file: c, client_key: k}",
        "{kind: https, url: 'https://x', ca_file: c, client_cert: a}",
        "{kind: https, url: 'https://x', ca_file: c, client_cert: a, client_key: k, timeout: 0s}",
        "{kind: https, url: 'https://x', ca_file: c, client_cert: a, client_key: k, query: q}"}) {
    EXPECT_THAT(Source(source), StatusIs(StatusCode::kInvalidArgument, "agent.yaml:9:")) << source;
  }
}

TEST(AgentConfigTest, ReportsEveryProblemOfASourceWithItsPlace) {
  auto c = Source("{kind: command, argv: /bin/x, timeout: 5 minutes, max_output: lots, shell: yes}");
  ASSERT_THAT(c, StatusIs(StatusCode::kInvalidArgument));
  const std::string m = c.status().message();
  EXPECT_THAT(m, HasSubstr("has 4 problem(s)")) << m;
  EXPECT_THAT(m, HasSubstr("agent.yaml:9:35: error: categories.x.source.argv must be a list")) << m;
  EXPECT_THAT(m, HasSubstr("agent.yaml:9:52: error: categories.x.source.timeout: '5 minutes' is not")) << m;
  EXPECT_THAT(m, HasSubstr("agent.yaml:9:75: error: categories.x.source.max_output: 'lots' is not a size")) << m;
  EXPECT_THAT(m, HasSubstr("agent.yaml:9:81: error: unknown key 'shell' in categories.x.source (expected one of: "
                           "kind, argv, timeout, max_output)"))
      << m;
}

TEST(AgentConfigTest, RefusesBadSources) {
  for (const std::string source :
       {"sqlite", "[kind, sqlite]", "{database: x.db}", "{kind: oracle}", "{kind: [sqlite]}",
        "{kind: sqlite, query: SELECT 1}", "{kind: sqlite, database: x.db}",
        "{kind: sqlite, database: x.db, query: [a]}", "{kind: json-files}",
        "{kind: json-files, folder: f, key: postcode}", "{kind: json-files, folder: f, query: q}", "{kind: command}",
        "{kind: command, argv: []}", "{kind: command, argv: [[a]]}", "{kind: command, argv: ['']}",
        "{kind: command, argv: [/x], timeout: 0s}", "{kind: command, argv: [/x], timeout: 2h}",
        "{kind: command, argv: [/x], max_output: 0}", "{kind: command, argv: [/x], max_output: 1TiB}",
        "{kind: command, argv: [/x], max_output: 99999999999GiB}", "{kind: command, argv: [/x], timeout: {a: 1}}",
        "{kind: sqlite, kind: sqlite, database: x.db, query: q}"}) {
    EXPECT_THAT(Source(source), StatusIs(StatusCode::kInvalidArgument, "agent.yaml:9:")) << source;
  }
}

TEST(AgentConfigTest, ACategoryTwiceOrWithABadIdIsRefused) {
  auto c = ParseAgentConfig(std::string(kHead) +
                                "categories:\n  x: {source: {kind: json-files, folder: a}}\n"
                                "  x: {source: {kind: json-files, folder: b}}\n  'a b': {}\n",
                            "agent.yaml");
  ASSERT_THAT(c, StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(c.status().message(), HasSubstr("agent.yaml:9:3: error: duplicate key 'x' in categories"));
  EXPECT_THAT(c.status().message(), HasSubstr("agent.yaml:10:3: error: category id 'a b' is not a valid id"));
}

TEST(AgentConfigTest, CrossKeyChecksNameTheirValues) {
  auto c = ParseAgentConfig(std::string(kHead) + "heartbeat_interval: 20s\nreconnect_min: 1m\n", "agent.yaml");
  ASSERT_THAT(c, StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(c.status().message(),
              HasSubstr("agent.yaml:7:21: error: peer_timeout (15s) must be longer than heartbeat_interval (20s)"));
  EXPECT_THAT(c.status().message(),
              HasSubstr("agent.yaml:8:16: error: reconnect_max (30s) must be at least reconnect_min (1m)"));
}

TEST(AgentConfigTest, RestrictionsAndTestSubjectAreRead) {
  ASSERT_OK_AND_ASSIGN(
      AgentConfig c,
      ParseAgentConfig(std::string(kHead) +
                           "restrictions: {disabled_categories: [a, b], always_require_consent: true}\n"
                           "test_subject: {ref: T1, role: victim, bsn: '999990019', date_of_birth: 1980-01-01}\n",
                       "agent.yaml"));
  EXPECT_THAT(c.disabled_categories, ElementsAre("a", "b"));
  EXPECT_TRUE(c.always_require_consent);
  ASSERT_TRUE(c.test_subject.has_value());
  EXPECT_EQ(c.test_subject->date_of_birth, "1980-01-01");
  ASSERT_OK_AND_ASSIGN(c, ParseAgentConfig(kHead, "agent.yaml"));
  EXPECT_FALSE(c.test_subject.has_value());
  EXPECT_TRUE(c.sources.empty());
}

TEST(AgentConfigTest, NotYamlIsAClearError) {
  EXPECT_THAT(ParseAgentConfig("identity: [unclosed\n", "agent.yaml"),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseAgentConfig("- a list\n", "agent.yaml"), StatusIs(StatusCode::kInvalidArgument));
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp::agent
