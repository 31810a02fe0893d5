// The HTTPS REST/JSON data source against a real local HTTPS server
// (https_test_server.py, Python's ssl and http.server) with certificates the
// test makes with openssl: mutual TLS, the pinned CA, timeouts, limits.
#include "agent/connectors/https_connector.h"

#include <sys/stat.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "agent/connectors/connector.h"
#include "tests/agent/connectors/test_servers.h"
#include "tests/testing/status_matchers.h"

namespace kp::agent {
namespace {

using ::kp::testing::IsOk;
using ::kp::testing::StatusIs;
using ::testing::AnyOf;
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

constexpr char kCanaryBsn[] = "CANARY-BSN-555";

SubjectQuery Canary() { return SubjectQuery{"S1", "victim", kCanaryBsn, "CANARY-NAME-Bakker", "1990-02-03"}; }

class HttpsConnectorTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new testing::TestHttpsServer();
    const char* root = std::getenv("KP_SOURCE_DIR");
    start_error_ = server_->Start(std::string(root != nullptr ? root : ".") +
                                  "/tests/agent/connectors/https_test_server.py");
  }
  static void TearDownTestSuite() {
    server_->Stop();
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override { ASSERT_EQ(start_error_, ""); }

  ConnectorConfig Config(const std::string& path) {
    ConnectorConfig c;
    c.kind = ConnectorConfig::Kind::kHttps;
    c.https.url = server_->Url(path);
    c.https.ca_file = server_->File("ca.crt");
    c.https.client_cert = server_->File("client.crt");
    c.https.client_key = server_->File("client.key");
    return c;
  }
  Result<std::vector<Record>> Ask(const ConnectorConfig& config) {
    auto c = Make(config);
    if (!c.ok()) return c.status();
    return (*c)->Query(Canary());
  }

  static inline testing::TestHttpsServer* server_ = nullptr;
  static inline std::string start_error_;
};

TEST_F(HttpsConnectorTest, PostsTheSubjectAndReadsTheRecords) {
  auto records = Ask(Config("/records"));
  ASSERT_THAT(records, IsOk());
  ASSERT_THAT(*records, SizeIs(2));
  EXPECT_THAT((*records)[0], ElementsAre(Pair("bsn", kCanaryBsn), Pair("soort", "CANARY-CONTENT-incident"),
                                         Pair("aantal", "2"), Pair("ernst", "1.5"), Pair("open", "true")));
  EXPECT_THAT((*records)[1], ElementsAre(Pair("bsn", kCanaryBsn), Pair("soort", "bedreiging")));
}

TEST_F(HttpsConnectorTest, AnEmptyArrayIsAnEmptyAnswer) {
  auto records = Ask(Config("/empty"));
  ASSERT_THAT(records, IsOk());
  EXPECT_THAT(*records, IsEmpty());
}

TEST_F(HttpsConnectorTest, KeepsTheConnectionBetweenRequests) {
  auto made = Make(Config("/records"));
  ASSERT_THAT(made, IsOk());
  Connector* c = made->get();
  for (int i = 0; i < 3; ++i) ASSERT_THAT(c->Query(Canary()), IsOk());
  EXPECT_EQ(c->connections_made(), 1);
}

TEST_F(HttpsConnectorTest, CannotBeWatchedYetAndSaysSo) {
  auto made = Make(Config("/records"));
  ASSERT_THAT(made, IsOk());
  EXPECT_THAT((*made)->ChangedSince(Canary(), 0),
              StatusIs(StatusCode::kUnimplemented, "watches are not available"));
}

TEST_F(HttpsConnectorTest, AServerCertificateFromAnotherCaIsRefused) {
  ConnectorConfig c = Config("/records");
  c.https.ca_file = server_->File("other-ca.crt");
  EXPECT_THAT(Ask(c), StatusIs(StatusCode::kUnavailable, "certificate"));
  // Nor do the system's CAs count: a file without the server's CA is no trust at all.
  c.https.ca_file = "/etc/ssl/certs/ca-certificates.crt";
  EXPECT_THAT(Ask(c), StatusIs(StatusCode::kUnavailable));
}

TEST_F(HttpsConnectorTest, AHostNameTheCertificateDoesNotNameIsRefused) {
  ConnectorConfig c = Config("/records");
  // localhost reaches the same server, but its certificate names 127.0.0.1 only.
  c.https.url.replace(c.https.url.find("127.0.0.1"), 9, "localhost");
  auto records = Ask(c);
  EXPECT_THAT(records, StatusIs(StatusCode::kUnavailable, "localhost"));
}

TEST_F(HttpsConnectorTest, WithoutTheRightClientCertificateTheServerRefuses) {
  ConnectorConfig c = Config("/records");
  c.https.client_cert = server_->File("other-client.crt");
  c.https.client_key = server_->File("other-client.key");
  EXPECT_THAT(Ask(c), StatusIs(StatusCode::kUnavailable));
  // A key that does not belong to the certificate.
  c.https.client_cert = server_->File("client.crt");
  EXPECT_THAT(Ask(c), StatusIs(StatusCode::kUnavailable));
}

TEST_F(HttpsConnectorTest, MissingOrExposedFilesAreRefusedAtStart) {
  ConnectorConfig c = Config("/records");
  c.https.client_cert = "";
  EXPECT_THAT(Make(c), StatusIs(StatusCode::kInvalidArgument, "client_cert"));
  c = Config("/records");
  c.https.ca_file = server_->File("none.crt");
  EXPECT_THAT(Make(c), StatusIs(StatusCode::kUnavailable, "ca_file"));
  c = Config("/records");
  ::chmod(server_->File("client.key").c_str(), 0644);
  EXPECT_THAT(Make(c), StatusIs(StatusCode::kFailedPrecondition, "chmod 600"));
  ::chmod(server_->File("client.key").c_str(), 0600);
  c.https.url = "http://127.0.0.1/records";
  EXPECT_THAT(Make(c), StatusIs(StatusCode::kInvalidArgument, "https://"));
}

TEST_F(HttpsConnectorTest, ASlowServerIsCutOffAtTheTimeout) {
  ConnectorConfig c = Config("/slow");
  c.timeout_ms = 300;
  EXPECT_THAT(Ask(c), StatusIs(StatusCode::kDeadlineExceeded, "timed out"));
}

TEST_F(HttpsConnectorTest, AnOversizeAnswerIsRefused) {
  EXPECT_THAT(Ask(Config("/big")), StatusIs(StatusCode::kInvalidArgument, "exceeds 1048576 bytes"));
}

TEST_F(HttpsConnectorTest, MalformedOrNestedJsonIsRefused) {
  EXPECT_THAT(Ask(Config("/malformed")), StatusIs(StatusCode::kInvalidArgument, "malformed JSON"));
  EXPECT_THAT(Ask(Config("/nested")), StatusIs(StatusCode::kInvalidArgument, "nested"));
}

TEST_F(HttpsConnectorTest, AnAnswerCutShortIsUnavailable) {
  EXPECT_THAT(Ask(Config("/truncated")), StatusIs(StatusCode::kUnavailable));
}

TEST_F(HttpsConnectorTest, OtherStatusesAndRedirectsAreNotAnswers) {
  EXPECT_THAT(Ask(Config("/error")), StatusIs(StatusCode::kUnavailable, "HTTP 500"));
  EXPECT_THAT(Ask(Config("/redirect")), StatusIs(StatusCode::kUnavailable, "HTTP 302"));
  EXPECT_THAT(Ask(Config("/nothing-here")), StatusIs(StatusCode::kUnavailable, "HTTP 404"));
}

TEST_F(HttpsConnectorTest, NoPersonalDataInErrors) {
  for (const char* path : {"/error", "/malformed", "/big", "/truncated", "/redirect"}) {
    auto records = Ask(Config(path));
    ASSERT_THAT(records, Not(IsOk())) << path;
    EXPECT_THAT(records.status().message(), Not(HasSubstr("CANARY"))) << path;
  }
}

TEST_F(HttpsConnectorTest, NoServerIsUnavailable) {
  ConnectorConfig c = Config("/records");
  c.https.url = "https://127.0.0.1:1/records";
  auto records = Ask(c);
  EXPECT_THAT(records, StatusIs(StatusCode::kUnavailable));
  EXPECT_THAT(records.status().message(), AnyOf(HasSubstr("connect"), HasSubstr("Connection")));
}

}  // namespace
}  // namespace kp::agent
