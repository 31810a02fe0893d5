// The metrics registry and its exposition format (checked by the real
// promtool), and the management server on real loopback sockets.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "core/observe/management_server.h"
#include "core/observe/metrics.h"
#include "core/observe/status_report.h"
#include "tests/testing/status_matchers.h"

namespace kp::observe {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

using ::kp::testing::IsOk;
using ::kp::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

// ---------------------------------------------------------------- metrics

TEST(MetricsTest, RendersCountersGaugesAndHistogramsWithHelpAndType) {
  Registry r;
  r.GetCounter("kp_test_exchanges_total", "Exchanges by outcome", {{"outcome", "delivered"}}).Inc(3);
  r.GetCounter("kp_test_exchanges_total", "Exchanges by outcome", {{"outcome", "refused"}}).Inc();
  r.GetGauge("kp_test_queue_depth", "Waiting requests").Set(7);
  Histogram& h = r.GetHistogram("kp_test_latency_seconds", "Latency", {0.1, 1});
  h.Observe(0.05);
  h.Observe(0.1);  // a bound is inclusive ("le")
  h.Observe(5);
  EXPECT_EQ(r.Render(),
            "# HELP kp_test_exchanges_total Exchanges by outcome\n"
            "# TYPE kp_test_exchanges_total counter\n"
            "kp_test_exchanges_total{outcome=\"delivered\"} 3\n"
            "kp_test_exchanges_total{outcome=\"refused\"} 1\n"
            "# HELP kp_test_latency_seconds Latency\n"
            "# TYPE kp_test_latency_seconds histogram\n"
            "kp_test_latency_seconds_bucket{le=\"0.10000000000000001\"} 2\n"
            "kp_test_latency_seconds_bucket{le=\"1\"} 2\n"
            "kp_test_latency_seconds_bucket{le=\"+Inf\"} 3\n"
            "kp_test_latency_seconds_sum 5.1500000000000004\n"
            "kp_test_latency_seconds_count 3\n"
            "# HELP kp_test_queue_depth Waiting requests\n"
            "# TYPE kp_test_queue_depth gauge\n"
            "kp_test_queue_depth 7\n");
}

TEST(MetricsTest, SameNameAndLabelsIsTheSameSeries) {
  Registry r;
  Counter& a = r.GetCounter("kp_test_total", "x", {{"b", "2"}, {"a", "1"}});
  Counter& b = r.GetCounter("kp_test_total", "x", {{"a", "1"}, {"b", "2"}});
  EXPECT_EQ(&a, &b);
  a.Inc();
  b.Inc();
  EXPECT_EQ(a.Value(), 2);
}

TEST(MetricsTest, EscapesLabelValuesAndHelp) {
  EXPECT_EQ(EscapeLabelValue("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
  EXPECT_EQ(EscapeHelp("line\\one\ntwo \"quoted\""), "line\\\\one\\ntwo \"quoted\"");
  Registry r;
  r.GetGauge("kp_test_g", "help with \\ and\nnewline", {{"id", "x\"y\\z\nw"}}).Set(1);
  EXPECT_THAT(r.Render(), HasSubstr("# HELP kp_test_g help with \\\\ and\\nnewline\n"));
  EXPECT_THAT(r.Render(), HasSubstr("kp_test_g{id=\"x\\\"y\\\\z\\nw\"} 1\n"));
}

TEST(MetricsTest, FormatsValues) {
  EXPECT_EQ(FormatValue(0), "0");
  EXPECT_EQ(FormatValue(-12), "-12");
  EXPECT_EQ(FormatValue(0.25), "0.25");
  EXPECT_EQ(FormatValue(1.0 / 0.0), "+Inf");
  EXPECT_EQ(FormatValue(-1.0 / 0.0), "-Inf");
  EXPECT_EQ(FormatValue(std::nan("")), "NaN");
}

TEST(MetricsTest, ValidatesNames) {
  EXPECT_TRUE(ValidMetricName("ketenpoort_x_total"));
  EXPECT_TRUE(ValidMetricName("a:b_c9"));
  EXPECT_FALSE(ValidMetricName("9lives"));
  EXPECT_FALSE(ValidMetricName("has-dash"));
  EXPECT_FALSE(ValidMetricName(""));
  EXPECT_TRUE(ValidLabelName("participant"));
  EXPECT_FALSE(ValidLabelName("__reserved"));
  EXPECT_FALSE(ValidLabelName("le"));
  EXPECT_FALSE(ValidLabelName("a:b"));
}

TEST(MetricsDeathTest, AnInvalidOrConflictingUseIsAProgrammingError) {
  Registry r;
  EXPECT_DEATH(r.GetGauge("bad-name", "x"), "CHECK failed");
  EXPECT_DEATH(r.GetCounter("kp_test_without_suffix", "x"), "CHECK failed");
  r.GetGauge("kp_test_one", "x", {{"a", "1"}});
  EXPECT_DEATH(r.GetGauge("kp_test_one", "x", {{"b", "1"}}), "CHECK failed");
  EXPECT_DEATH(r.GetHistogram("kp_test_one", "x", {1}), "CHECK failed");
  EXPECT_DEATH(r.GetCounter("kp_test_neg_total", "x").Inc(-1), "CHECK failed");
}

TEST(MetricsTest, ConcurrentUpdatesAreNotLost) {
  Registry r;
  constexpr int kThreads = 8, kEach = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&r, t] {
      for (int i = 0; i < kEach; ++i) {
        r.GetCounter("kp_test_total", "x", {{"shard", std::to_string(i % 3)}}).Inc();
        r.GetHistogram("kp_test_seconds", "x", {0.5}).Observe(t % 2 == 0 ? 0.1 : 1.0);
        r.GetGauge("kp_test_gauge", "x").Add(1);
        if (i % 1000 == 0) (void)r.Render();
      }
    });
  }
  for (auto& t : threads) t.join();
  double total = 0;
  for (int s = 0; s < 3; ++s) total += r.GetCounter("kp_test_total", "x", {{"shard", std::to_string(s)}}).Value();
  EXPECT_EQ(total, kThreads * kEach);
  EXPECT_EQ(r.GetGauge("kp_test_gauge", "x").Value(), kThreads * kEach);
  const Histogram::Snapshot snap = r.GetHistogram("kp_test_seconds", "x", {0.5}).Take();
  EXPECT_EQ(snap.count, static_cast<uint64_t>(kThreads * kEach));
  EXPECT_EQ(snap.cumulative[0], static_cast<uint64_t>(kThreads / 2 * kEach));
}

TEST(MetricsTest, ReplaceGaugesDropsSeriesNoLongerGiven) {
  Registry r;
  r.ReplaceGauges("kp_test_expiry_seconds", "x", {});  // none yet: the labels come with the first series
  EXPECT_EQ(r.Render(), "");
  r.ReplaceGauges("kp_test_expiry_seconds", "x", {{{{"participant", "a"}}, 10}, {{{"participant", "b"}}, 20}});
  EXPECT_THAT(r.Render(), HasSubstr("participant=\"b\""));
  r.ReplaceGauges("kp_test_expiry_seconds", "x", {{{{"participant", "a"}}, 5}});
  EXPECT_THAT(r.Render(), Not(HasSubstr("participant=\"b\"")));
  EXPECT_THAT(r.Render(), HasSubstr("kp_test_expiry_seconds{participant=\"a\"} 5\n"));
  r.ReplaceGauges("kp_test_expiry_seconds", "x", {});
  EXPECT_THAT(r.Render(), Not(HasSubstr("participant=")));
}

// The real promtool (Debian package prometheus) accepts what we render,
// including awkward label values; and rejects a broken exposition, so the
// check can fail.
std::string Promtool(const std::string& text) {
  const std::string dir = ::testing::TempDir() + "/observe_promtool";
  std::filesystem::create_directories(dir);
  const std::string in = dir + "/metrics.txt";
  std::ofstream(in) << text;
  const std::string cmd = "promtool check metrics < " + in + " 2>&1; echo \"exit=$?\"";
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return "popen failed";
  char buf[512];
  while (fgets(buf, sizeof buf, p) != nullptr) out += buf;
  pclose(p);
  return out;
}

TEST(MetricsTest, PromtoolAcceptsTheExposition) {
  ASSERT_EQ(std::system("command -v promtool >/dev/null"), 0)
      << "promtool is missing: apt-get install prometheus (./run installs it)";
  Registry r;
  r.GetCounter("ketenpoort_test_exchanges_total", "Exchanges by outcome", {{"outcome", "delivered"}}).Inc(2);
  r.GetGauge("ketenpoort_test_label_canary", "Awkward label values", {{"id", "quote\" back\\ nl\n end"}}).Set(1);
  r.GetHistogram("ketenpoort_test_latency_seconds", "Latency", LatencyBuckets(), {{"kind", "request"}}).Observe(0.3);
  r.GetGauge("ketenpoort_test_size_bytes", "Size").Set(123456789);
  const std::string out = Promtool(r.Render());
  EXPECT_THAT(out, HasSubstr("exit=0")) << out;
  const std::string broken = Promtool("# TYPE x counter\nx{a=\"unterminated} 1\n");
  EXPECT_THAT(broken, Not(HasSubstr("exit=0"))) << broken;
}

// ---------------------------------------------------------- status report

StatusReport SampleReport() {
  StatusReport r;
  r.service = "gateway";
  r.participant_id = "gateway";
  r.data_dir = "/var/lib/ketenpoort/gateway";
  r.version = "0.1.0";
  r.pid = 42;
  r.started_ms = 1'700'000'000'000;
  r.now_ms = 1'700'000'060'000;
  r.connected = {{"politie-agent", "agent", 1'700'000'059'000}};
  r.queues = {{"requests in flight for politie", 3}};
  r.held = {{"regisseur-01", 2}};
  r.last_receipt = StatusReport::Receipt{"delivery", "00ff", "politie-agent", 1'700'000'050'000};
  r.audit_log = {120, 65536, true};
  r.in_force = {{"policy", "veiligheidsteam-hvb", 7, std::string(64, 'a'), 1'700'000'000'000, 1'699'000'000'000}};
  r.warnings = {"the card of x expires in 3 day(s)"};
  return r;
}

TEST(StatusReportTest, RoundTripsThroughJsonAndReadsForPeople) {
  const StatusReport r = SampleReport();
  auto back = StatusFromJson(StatusToJson(r));
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(StatusToJson(*back), StatusToJson(r));
  const std::string text = StatusToText(r);
  EXPECT_THAT(text, HasSubstr("gateway gateway is running (pid 42"));
  EXPECT_THAT(text, HasSubstr("politie-agent (agent), last seen 2023-11-14 22:14:19Z (1 s ago)"));
  EXPECT_THAT(text, HasSubstr("requests in flight for politie: 3"));
  EXPECT_THAT(text, HasSubstr("held messages:  2"));
  EXPECT_THAT(text, HasSubstr("last receipt:   delivery 00ff from politie-agent"));
  EXPECT_THAT(text, HasSubstr("policy veiligheidsteam-hvb: serial 7"));
  EXPECT_THAT(text, HasSubstr("WARNING: the card of x expires"));
}

// The report comes over a socket: every bit flipped and every length cut
// gives a report or InvalidArgument, never a crash.
TEST(StatusReportTest, TamperedOrTruncatedJsonIsRefusedCleanly) {
  const std::string json = StatusToJson(SampleReport());
  for (size_t len = 0; len + 1 < json.size(); ++len) {  // the last byte is the newline
    auto r = StatusFromJson(json.substr(0, len));
    EXPECT_THAT(r, StatusIs(StatusCode::kInvalidArgument)) << "cut at " << len;
  }
  for (size_t i = 0; i < json.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string bad = json;
      bad[i] = static_cast<char>(bad[i] ^ (1 << bit));
      auto r = StatusFromJson(bad);
      if (!r.ok()) {
        EXPECT_THAT(r, StatusIs(StatusCode::kInvalidArgument));
      }
    }
  }
  EXPECT_THAT(StatusFromJson("[]"), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(StatusFromJson("{\"service\": 5}"), StatusIs(StatusCode::kInvalidArgument));
}

// ------------------------------------------------------ management address

TEST(ManagementAddressTest, Parses) {
  auto a = ParseManagementAddress("127.0.0.1:9470");
  ASSERT_THAT(a, IsOk());
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 9470);
  EXPECT_TRUE(a->IsLoopback());
  auto six = ParseManagementAddress("[::1]:9471");
  ASSERT_THAT(six, IsOk());
  EXPECT_EQ(six->host, "::1");
  EXPECT_EQ(six->ToString(), "[::1]:9471");
  EXPECT_TRUE(six->IsLoopback());
  auto bare = ParseManagementAddress("9472");
  ASSERT_THAT(bare, IsOk());
  EXPECT_EQ(bare->ToString(), "127.0.0.1:9472");
  auto off = ParseManagementAddress("off");
  ASSERT_THAT(off, IsOk());
  EXPECT_FALSE(off->enabled);
  auto any = ParseManagementAddress("0.0.0.0:9470");
  ASSERT_THAT(any, IsOk());
  EXPECT_FALSE(any->IsLoopback());
}

TEST(ManagementAddressTest, RefusesWhatIsNotAnAddress) {
  for (const char* bad : {"", "127.0.0.1:", "127.0.0.1:70000", "127.0.0.1:-1", "example.org:9470", "::1:9470",
                          "[::1]9470", "[zz]:1", "256.0.0.1:1", "127.0.0.1:94a0", "1.2.3:4"}) {
    EXPECT_THAT(ParseManagementAddress(bad), StatusIs(StatusCode::kInvalidArgument)) << bad;
  }
}

TEST(ManagementAddressTest, LoopbackPeers) {
  EXPECT_TRUE(IsLoopbackPeer("127.0.0.1"));
  EXPECT_TRUE(IsLoopbackPeer("127.8.9.10"));
  EXPECT_TRUE(IsLoopbackPeer("::1"));
  EXPECT_TRUE(IsLoopbackPeer("::ffff:127.0.0.1"));
  EXPECT_FALSE(IsLoopbackPeer("10.0.0.1"));
  EXPECT_FALSE(IsLoopbackPeer("::ffff:10.0.0.1"));
  EXPECT_FALSE(IsLoopbackPeer("128.0.0.1"));
}

class ManagementServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ManagementOptions options;
    options.address.port = 0;
    options.service = "test";
    options.max_body_bytes = 1024;
    auto s = ManagementServer::Create(options);
    ASSERT_THAT(s, IsOk());
    server_ = std::move(s).value();
    server_->AddGet("/hello", [](const ManagementRequest& req, ManagementResponse& res) {
      res.body = "hello " + req.Param("who") + (req.from_loopback ? " local" : " remote");
    });
    server_->AddPost("/echo", [](const ManagementRequest& req, ManagementResponse& res) {
      res.status = 201;
      res.content_type = "application/octet-stream";
      res.headers["X-Token"] = req.Header("x-TOKEN");
      res.body = req.body;
    });
    server_->AddGet("/public", [](const ManagementRequest&, ManagementResponse& res) { res.body = "open"; },
                    Access::kAnyPeer);
    ASSERT_THAT(server_->Start(), IsOk());
    address_.port = server_->port();
  }

  Result<ManagementReply> Get(const std::string& path, std::map<std::string, std::string> headers = {}) {
    return ManagementCall(address_, "GET", path, "", headers, "test");
  }

  std::unique_ptr<ManagementServer> server_;
  ManagementAddress address_;
};

TEST_F(ManagementServerTest, ServesGetAndPostRoutes) {
  EXPECT_GT(server_->port(), 0);
  EXPECT_EQ(server_->address(), "127.0.0.1:" + std::to_string(server_->port()));
  auto hello = Get("/hello?who=operator");
  ASSERT_THAT(hello, IsOk());
  EXPECT_EQ(hello->status, 200);
  EXPECT_EQ(hello->body, "hello operator local");
  auto echo = ManagementCall(address_, "POST", "/echo", std::string("bytes\0here", 10), {{"X-Token", "t0k"}}, "test");
  ASSERT_THAT(echo, IsOk());
  EXPECT_EQ(echo->status, 201);
  EXPECT_EQ(echo->body, std::string("bytes\0here", 10));
  EXPECT_EQ(echo->content_type, "application/octet-stream");
}

TEST_F(ManagementServerTest, UnknownPathsAndWrongMethodsAreRefused) {
  auto missing = Get("/nothing");
  ASSERT_THAT(missing, IsOk());
  EXPECT_EQ(missing->status, 404);
  auto wrong = Get("/echo");
  ASSERT_THAT(wrong, IsOk());
  EXPECT_EQ(wrong->status, 405);
}

TEST_F(ManagementServerTest, RoutesAddedWhileServingAnswer) {
  server_->AddGet("/later", [](const ManagementRequest&, ManagementResponse& res) { res.body = "added"; });
  auto later = Get("/later");
  ASSERT_THAT(later, IsOk());
  EXPECT_EQ(later->body, "added");
}

TEST_F(ManagementServerTest, ALoopbackRouteRefusesAForeignHostName) {
  // A page whose DNS name was rebound to 127.0.0.1 sends its own name.
  auto rebound = Get("/hello", {{"Host", "evil.example:" + std::to_string(server_->port())}});
  ASSERT_THAT(rebound, IsOk());
  EXPECT_EQ(rebound->status, 403);
  EXPECT_THAT(rebound->body, Not(HasSubstr("hello")));
  auto localhost = Get("/hello", {{"Host", "localhost:" + std::to_string(server_->port())}});
  ASSERT_THAT(localhost, IsOk());
  EXPECT_EQ(localhost->status, 200);
  // A route for any peer (/metrics) does not care.
  auto open = Get("/public", {{"Host", "prometheus.example:9470"}});
  ASSERT_THAT(open, IsOk());
  EXPECT_EQ(open->status, 200);
}

TEST_F(ManagementServerTest, AnOversizeBodyIsRefused) {
  auto big = ManagementCall(address_, "POST", "/echo", std::string(4096, 'x'), {}, "test");
  ASSERT_THAT(big, IsOk());
  EXPECT_EQ(big->status, 413);
}

TEST_F(ManagementServerTest, AHandlerThatThrowsGetsA500AndTheServerLivesOn) {
  server_->AddGet("/throws", [](const ManagementRequest&, ManagementResponse&) { throw std::runtime_error("boom"); });
  auto thrown = Get("/throws");
  ASSERT_THAT(thrown, IsOk());
  EXPECT_EQ(thrown->status, 500);
  auto hello = Get("/hello");
  ASSERT_THAT(hello, IsOk());
  EXPECT_EQ(hello->status, 200);
}

TEST_F(ManagementServerTest, StopEndsServingAndTheClientSaysSo) {
  server_->Stop();
  server_->Stop();  // idempotent
  auto gone = Get("/hello");
  EXPECT_THAT(gone, StatusIs(StatusCode::kUnavailable, "is the test running"));
}

TEST(ManagementServerBindTest, APortInUseIsAClearError) {
  ManagementOptions first;
  first.address.port = 0;
  auto a = ManagementServer::Create(first);
  ASSERT_THAT(a, IsOk());
  ASSERT_THAT((*a)->Start(), IsOk());
  ManagementOptions second;
  second.address.port = (*a)->port();
  second.service = "gateway";
  auto b = ManagementServer::Create(second);
  ASSERT_THAT(b, IsOk());
  EXPECT_THAT((*b)->Start(), StatusIs(StatusCode::kUnavailable, "in use"));
}

TEST(ManagementServerBindTest, OffMakesNoServerAndTheClientExplains) {
  ManagementOptions off;
  off.address.enabled = false;
  EXPECT_THAT(ManagementServer::Create(off), StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_THAT(ManagementCall(off.address, "GET", "/status", "", {}, "gateway"),
              StatusIs(StatusCode::kFailedPrecondition, "management: off"));
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp::observe
