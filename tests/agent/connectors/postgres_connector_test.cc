// The PostgreSQL data source against a real PostgreSQL 15 (Debian's initdb and
// pg_ctl) in a temporary folder, reached over its unix socket.
#include "agent/connectors/postgres_connector.h"

#include <libpq-fe.h>
#include <sys/stat.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "agent/connectors/connector.h"
#include "tests/agent/connectors/test_servers.h"
#include "tests/testing/status_matchers.h"

namespace kp::agent {
namespace {

using ::kp::testing::IsOk;
using ::kp::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::Pair;
using ::testing::SizeIs;

// Made by the connector module of this build, loaded the way the agent loads it.
Result<std::unique_ptr<Connector>> Make(const ConnectorConfig& config) {
  return MakeConnector(config, testing::ConnectorModuleBuildDir());
}

constexpr char kCanaryBsn[] = "CANARY-BSN-987";
constexpr char kCanaryContent[] = "CANARY-CONTENT-melding";

SubjectQuery Canary() { return SubjectQuery{"S1", "victim", kCanaryBsn, "CANARY-NAME-Visser", "1990-02-03"}; }

class PostgresConnectorTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new testing::TestPostgres();
    start_error_ = server_->Start();
    if (!start_error_.empty()) return;
    start_error_ = Admin("CREATE DATABASE bron;");
    if (!start_error_.empty()) return;
    start_error_ =
        Admin("CREATE ROLE reader LOGIN PASSWORD '" + std::string(testing::TestPostgres::reader_password()) +
                  "';"
                  "CREATE TABLE meldingen(bsn text, datum date, soort text, aantal integer, ernst numeric, "
                  "open boolean,"
                  "  notitie text, bijlage bytea, gewijzigd bigint);"
                  "INSERT INTO meldingen VALUES ('" +
                  kCanaryBsn + "', '2026-10-03', '" + kCanaryContent +
                  "', 2, 1.50, true, NULL, '\\x00', 1000),"
                  "  ('" +
                  kCanaryBsn +
                  "', '2026-11-01', 'bedreiging', 1, 0.5, false, 'x', NULL, 2000),"
                  "  ('123456782', '2026-01-01', 'ander gezin', 7, 2, false, 'y', NULL, 9000);"
                  "CREATE FUNCTION schrijf(b text) RETURNS integer LANGUAGE plpgsql AS $$"
                  "  BEGIN INSERT INTO meldingen(bsn) VALUES (b); RETURN 1; END $$;"
                  "CREATE ROLE client LOGIN;"
                  "GRANT SELECT ON meldingen TO reader, client;"
                  "GRANT INSERT ON meldingen TO reader;",  // the read-only transaction must hold even so
              "bron");
  }
  static void TearDownTestSuite() {
    server_->Stop();
    delete server_;
    server_ = nullptr;
  }

  void SetUp() override {
    ASSERT_EQ(start_error_, "") << "the test PostgreSQL did not start";
    password_file_ = dir_.File("pw");
    std::ofstream(password_file_) << testing::TestPostgres::reader_password() << "\n";
    ::chmod(password_file_.c_str(), 0600);
  }

  static std::string Admin(const std::string& sql, const std::string& db = "postgres") {
    return server_->Admin(sql, db);
  }

  ConnectorConfig Config(const std::string& query, std::vector<std::string> params = {"bsn"}) {
    ConnectorConfig c;
    c.kind = ConnectorConfig::Kind::kPostgres;
    c.postgres.host = server_->socket_dir();
    c.postgres.port = server_->port();
    c.postgres.dbname = "bron";
    c.postgres.user = "reader";
    c.postgres.password_file = password_file_;
    c.postgres.params = std::move(params);
    c.query = query;
    return c;
  }

  static const std::string& start_error() { return start_error_; }

  static inline testing::TestPostgres* server_ = nullptr;
  static inline std::string start_error_;
  testing::TempDir dir_;
  std::string password_file_;
};

constexpr char kQuery[] =
    "SELECT datum, soort, aantal, ernst, open, notitie FROM meldingen WHERE bsn = $1 ORDER BY datum";

TEST_F(PostgresConnectorTest, ReturnsRowsForTheBoundBsnAsText) {
  auto c = Make(Config(kQuery));
  ASSERT_THAT(c, IsOk());
  auto records = (*c)->Query(Canary());
  ASSERT_THAT(records, IsOk());
  ASSERT_THAT(*records, SizeIs(2));
  // NULL absent, booleans "true"/"false", numbers and dates as PostgreSQL prints them.
  EXPECT_THAT((*records)[0], ElementsAre(Pair("datum", "2026-10-03"), Pair("soort", kCanaryContent),
                                         Pair("aantal", "2"), Pair("ernst", "1.50"), Pair("open", "true")));
  EXPECT_THAT((*records)[1],
              ElementsAre(Pair("datum", "2026-11-01"), Pair("soort", "bedreiging"), Pair("aantal", "1"),
                          Pair("ernst", "0.5"), Pair("open", "false"), Pair("notitie", "x")));
  EXPECT_THAT((*c)->Describe(), HasSubstr("postgres reader@"));
}

TEST_F(PostgresConnectorTest, ChangedQueryBindsSinceAndTheSubject) {
  ConnectorConfig config = Config(kQuery);
  config.changed_query =
      "SELECT gewijzigd AS changed_at_ms FROM meldingen WHERE bsn = $1 AND gewijzigd > $2::bigint";
  config.postgres.changed_params = {"bsn", "since"};
  auto made = Make(config);
  ASSERT_THAT(made, IsOk());
  auto changed = (*made)->ChangedSince(Canary(), 1500);
  ASSERT_THAT(changed, IsOk());
  EXPECT_EQ(*changed, std::optional<int64_t>(2000));  // not the other family's 9000
  changed = (*made)->ChangedSince(Canary(), 2000);
  ASSERT_THAT(changed, IsOk());
  EXPECT_EQ(*changed, std::nullopt);
}

TEST_F(PostgresConnectorTest, ChangedQueryWithoutSinceOrWithoutChangedQuery) {
  ConnectorConfig config = Config(kQuery);
  config.changed_query = "SELECT gewijzigd AS changed_at_ms FROM meldingen WHERE bsn = $1";
  config.postgres.changed_params = {"bsn"};
  EXPECT_THAT(Make(config), StatusIs(StatusCode::kInvalidArgument, "must bind since"));
  config.postgres.changed_params = {"bsn", "since"};  // $2 unused: PostgreSQL refuses at start
  EXPECT_THAT(Make(config), StatusIs(StatusCode::kInvalidArgument, "changed_query: "));
  auto plain = Make(Config(kQuery));
  ASSERT_THAT(plain, IsOk());
  EXPECT_THAT((*plain)->ChangedSince(Canary(), 0), StatusIs(StatusCode::kUnimplemented, "no changed_query"));
}

TEST_F(PostgresConnectorTest, NoMatchingRowsIsAnEmptyAnswer) {
  auto c = Make(Config(kQuery));
  ASSERT_THAT(c, IsOk());
  SubjectQuery other = Canary();
  other.bsn = "000000000";
  auto records = (*c)->Query(other);
  ASSERT_THAT(records, IsOk());
  EXPECT_THAT(*records, IsEmpty());
}

TEST_F(PostgresConnectorTest, BindsParametersNeverPastesThem) {
  auto c = Make(Config(kQuery));
  ASSERT_THAT(c, IsOk());
  SubjectQuery injection = Canary();
  injection.bsn = "x' OR '1'='1";
  auto records = (*c)->Query(injection);
  ASSERT_THAT(records, IsOk());
  EXPECT_THAT(*records, IsEmpty());
}

TEST_F(PostgresConnectorTest, BindsTheSubjectFieldsInTheOrderOfParams) {
  auto c =
      Make(Config("SELECT $1::text AS a, $2::text AS b, $3::text AS c", {"date_of_birth", "ref", "role"}));
  ASSERT_THAT(c, IsOk());
  auto records = (*c)->Query(Canary());
  ASSERT_THAT(records, IsOk());
  EXPECT_THAT(*records,
              ElementsAre(ElementsAre(Pair("a", "1990-02-03"), Pair("b", "S1"), Pair("c", "victim"))));
}

TEST_F(PostgresConnectorTest, AStatementThatWritesIsRefusedAtStart) {
  // The role may INSERT; the read-only transaction refuses it all the same.
  for (const char* sql : {"INSERT INTO meldingen(bsn) VALUES ($1) RETURNING bsn",
                          "WITH d AS (DELETE FROM meldingen WHERE bsn = $1 RETURNING bsn) SELECT bsn FROM d",
                          "SELECT schrijf($1) AS n"}) {
    auto c = Make(Config(sql));
    EXPECT_THAT(c, StatusIs(StatusCode::kInvalidArgument, "only a read-only SELECT")) << sql;
  }
  EXPECT_EQ(
      Admin("DO $$ BEGIN IF (SELECT count(*) FROM meldingen) <> 3 THEN RAISE 'changed'; END IF; END $$;",
            "bron"),
      "");
}

TEST_F(PostgresConnectorTest, AStatementThatReturnsNoRowsIsRefused) {
  EXPECT_THAT(Make(Config("SET search_path = public", {})),
              StatusIs(StatusCode::kInvalidArgument, "expected a SELECT"));
}

TEST_F(PostgresConnectorTest, BadSqlMissingTableAndWrongParameterCountAreConfigErrors) {
  EXPECT_THAT(Make(Config("SELEC bsn FROM meldingen")),
              StatusIs(StatusCode::kInvalidArgument, "does not run: ERROR:  syntax error"));
  EXPECT_THAT(Make(Config("SELECT bsn FROM geen_tabel WHERE bsn = $1")),
              StatusIs(StatusCode::kInvalidArgument, "geen_tabel"));
  EXPECT_THAT(Make(Config("SELECT bsn FROM meldingen WHERE bsn = $1 AND soort = $2")),
              StatusIs(StatusCode::kInvalidArgument, "does not run"));
  EXPECT_THAT(Make(Config("SELECT bsn FROM meldingen", {"bsn"})),
              StatusIs(StatusCode::kInvalidArgument, "does not run"));
  EXPECT_THAT(Make(Config(kQuery, {"email"})),
              StatusIs(StatusCode::kInvalidArgument, "'email' is not a subject field"));
}

TEST_F(PostgresConnectorTest, DuplicateColumnsAndByteaAreRefused) {
  EXPECT_THAT(Make(Config("SELECT bsn, bsn FROM meldingen WHERE bsn = $1")),
              StatusIs(StatusCode::kInvalidArgument, "twice"));
  EXPECT_THAT(Make(Config("SELECT bijlage FROM meldingen WHERE bsn = $1")),
              StatusIs(StatusCode::kInvalidArgument, "bytea"));
}

TEST_F(PostgresConnectorTest, KeepsOneConnectionAndReconnectsWhenItIsCut) {
  auto made = Make(Config(kQuery));
  ASSERT_THAT(made, IsOk());
  Connector* c = made->get();
  for (int i = 0; i < 3; ++i) ASSERT_THAT(c->Query(Canary()), IsOk());
  EXPECT_EQ(c->connections_made(), 1);
  // The server ends the agent's session (as a restart or an idle cut would).
  ASSERT_EQ(Admin("SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity WHERE application_name = "
                  "'ketenpoort-agent'"),
            "");
  auto records = c->Query(Canary());
  ASSERT_THAT(records, IsOk());
  EXPECT_THAT(*records, SizeIs(2));
  EXPECT_EQ(c->connections_made(), 2);
}

TEST_F(PostgresConnectorTest, ASlowQueryIsStoppedAtTheTimeout) {
  ConnectorConfig config =
      Config("SELECT bsn FROM meldingen, pg_sleep(CASE WHEN $1 = 'slow' THEN 30 ELSE 0 END)");
  config.timeout_ms = 300;
  auto made = Make(config);
  ASSERT_THAT(made, IsOk());
  SubjectQuery slow = Canary();
  slow.bsn = "slow";
  EXPECT_THAT((*made)->Query(slow), StatusIs(StatusCode::kDeadlineExceeded, "timed out"));
  // The next query works again.
  EXPECT_THAT((*made)->Query(Canary()), IsOk());
}

TEST_F(PostgresConnectorTest, WrongPasswordAndUnreachableServerAreUnavailable) {
  std::ofstream(password_file_, std::ios::trunc) << "wrong\n";
  EXPECT_THAT(Make(Config(kQuery)), StatusIs(StatusCode::kUnavailable, "password authentication failed"));
  ConnectorConfig gone = Config(kQuery);
  gone.postgres.host = dir_.File("no-server-here");
  EXPECT_THAT(Make(gone), StatusIs(StatusCode::kUnavailable, "cannot connect"));
}

TEST_F(PostgresConnectorTest, APasswordFileOthersCanReadIsRefused) {
  ::chmod(password_file_.c_str(), 0644);
  EXPECT_THAT(Make(Config(kQuery)), StatusIs(StatusCode::kFailedPrecondition, "chmod 600"));
  ConnectorConfig missing = Config(kQuery);
  missing.postgres.password_file = dir_.File("none");
  EXPECT_THAT(Make(missing), StatusIs(StatusCode::kUnavailable, "does not exist"));
}

TEST_F(PostgresConnectorTest, ANetworkHostNeedsAPinnedCaForVerifyFull) {
  ConnectorConfig c = Config(kQuery);
  c.postgres.host = "db.example.org";
  EXPECT_THAT(Make(c), StatusIs(StatusCode::kInvalidArgument, "needs sslrootcert"));
  c.postgres.sslmode = "prefer";
  EXPECT_THAT(Make(c), StatusIs(StatusCode::kInvalidArgument, "not one of"));
}

// Over TCP with TLS, as across a partner's network.
ConnectorConfig OverTls(ConnectorConfig c, const testing::TestPostgres& server) {
  c.postgres.host = "127.0.0.1";
  c.postgres.sslrootcert = server.cert_dir() + "/ca.crt";
  return c;
}

constexpr char kTlsQuery[] =
    "SELECT s.ssl, s.version FROM pg_stat_ssl s WHERE s.pid = pg_backend_pid() AND $1::text IS NOT NULL";

TEST_F(PostgresConnectorTest, TlsWithThePinnedCaAndAPassword) {
  auto made = Make(OverTls(Config(kTlsQuery), *server_));
  ASSERT_THAT(made, IsOk());
  auto records = (*made)->Query(Canary());
  ASSERT_THAT(records, IsOk());
  ASSERT_THAT(*records, SizeIs(1));
  EXPECT_THAT((*records)[0],
              ElementsAre(Pair("ssl", "true"), Pair("version", ::testing::StartsWith("TLSv1."))));
}

TEST_F(PostgresConnectorTest, TlsWithAClientCertificateInsteadOfAPassword) {
  ConnectorConfig c = OverTls(Config(kTlsQuery), *server_);
  c.postgres.user = "client";  // the certificate's CN
  c.postgres.password_file = "";
  c.postgres.sslcert = server_->cert_dir() + "/client.crt";
  c.postgres.sslkey = server_->cert_dir() + "/client.key";
  auto made = Make(c);
  ASSERT_THAT(made, IsOk());
  EXPECT_THAT((*made)->Query(Canary()), IsOk());
  // Without it the server refuses the role.
  c.postgres.sslcert = c.postgres.sslkey = "";
  EXPECT_THAT(Make(c), StatusIs(StatusCode::kUnavailable, "cannot connect"));
}

TEST_F(PostgresConnectorTest, TlsRefusesAServerFromAnotherCaOrUnderAnotherName) {
  ConnectorConfig c = OverTls(Config(kTlsQuery), *server_);
  c.postgres.sslrootcert = server_->cert_dir() + "/other-ca.crt";
  EXPECT_THAT(Make(c), StatusIs(StatusCode::kUnavailable, "certificate verify failed"));
  // localhost reaches the same server; its certificate names 127.0.0.1 only.
  c = OverTls(Config(kTlsQuery), *server_);
  c.postgres.host = "localhost";
  EXPECT_THAT(Make(c), StatusIs(StatusCode::kUnavailable, "localhost"));
  // Without TLS the server has no entry for a network login.
  c = OverTls(Config(kTlsQuery), *server_);
  c.postgres.sslmode = "disable";
  EXPECT_THAT(Make(c), StatusIs(StatusCode::kUnavailable, "no encryption"));
}

TEST_F(PostgresConnectorTest, TooLargeAnAnswerIsRefused) {
  ConnectorConfig c = Config(kQuery);
  c.max_output_bytes = 20;
  auto made = Make(c);
  ASSERT_THAT(made, IsOk());
  EXPECT_THAT((*made)->Query(Canary()), StatusIs(StatusCode::kInvalidArgument, "exceeds 20 bytes"));
}

TEST_F(PostgresConnectorTest, NoPersonalDataOrPasswordInErrors) {
  // PostgreSQL's own message would quote the value: "invalid input syntax
  // for type integer: \"CANARY-BSN-987\"".
  auto made = Make(Config("SELECT aantal FROM meldingen WHERE aantal = $1::integer"));
  ASSERT_THAT(made, IsOk());
  auto records = (*made)->Query(Canary());
  ASSERT_THAT(records, StatusIs(StatusCode::kUnavailable, "SQLSTATE 22P02"));
  EXPECT_THAT(records.status().message(), Not(HasSubstr("CANARY")));
  std::ofstream(password_file_, std::ios::trunc) << "CANARY-PW-wrong\n";
  auto refused = Make(Config(kQuery));
  ASSERT_THAT(refused, Not(IsOk()));
  EXPECT_THAT(refused.status().message(), Not(HasSubstr("CANARY")));
}

}  // namespace
}  // namespace kp::agent
