// Real ZeroMQ sockets on 127.0.0.1 with CURVE and the ZAP handler; no sleeps:
// every wait is on an event with a deadline.
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <zmq.hpp>

#include "core/crypto/x25519.h"
#include "core/transport/dealer_client.h"
#include "core/transport/router_server.h"
#include "core/transport/zap_handler.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_time.h"

namespace kp {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

using ::kp::testing::IsOk;
using ::kp::testing::StatusIs;

using test::kDeadlineMs;

volatile sig_atomic_t signals_handled = 0;
void CountSignal(int) { signals_handled = signals_handled + 1; }

// Runs `wait` on this thread while a second thread interrupts it with
// SIGUSR1 (handler installed with sigaction, without SA_RESTART, like the
// gateway's SIGHUP and SIGTERM), again every few milliseconds until `wait`
// returns: one signal could land before the wait begins.
template <typename Fn>
void WhileSignalled(Fn wait) {
  struct sigaction action {};
  struct sigaction old {};
  action.sa_handler = CountSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;
  ASSERT_EQ(sigaction(SIGUSR1, &action, &old), 0);
  signals_handled = 0;
  const pthread_t waiter = pthread_self();
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  std::thread interrupter([&] {
    std::unique_lock<std::mutex> lock(mu);
    while (!done) {
      pthread_kill(waiter, SIGUSR1);
      cv.wait_for(lock, std::chrono::milliseconds(5), [&] { return done; });
    }
  });
  wait();
  {
    std::lock_guard<std::mutex> lock(mu);
    done = true;
  }
  cv.notify_all();
  interrupter.join();
  sigaction(SIGUSR1, &old, nullptr);
  EXPECT_GT(signals_handled, 0);
}

class TransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TransportPeers peers;
    peers[agent_.public_key] = {"politie-agent", "agent", "politie", ""};
    peers[coordinator_.public_key] = {"regisseur-01", "coordinator", "veiligheidsteam", "casusregisseur"};
    auto zap = ZapHandler::Create(context_, peers);
    ASSERT_THAT(zap, IsOk());
    zap_ = std::move(zap).value();
    auto server = RouterServer::Create(context_, *zap_, gateway_.public_key, gateway_.secret_key, RouterOptions{});
    ASSERT_THAT(server, IsOk());
    server_ = std::move(server).value();
  }

  std::unique_ptr<DealerClient> Connect(const X25519KeyPair& keys, std::string server_key = "") {
    DealerOptions options;
    options.endpoint = server_->endpoint();
    options.server_public_key = server_key.empty() ? gateway_.public_key : server_key;
    auto client = DealerClient::Create(context_, keys.public_key, keys.secret_key, options);
    EXPECT_THAT(client, IsOk());
    return std::move(client).value();
  }

  IncomingMessage ReceiveOne() {
    auto in = server_->Receive(kDeadlineMs);
    EXPECT_THAT(in, IsOk());
    EXPECT_TRUE(in->has_value()) << "nothing arrived within the deadline";
    return in->value_or(IncomingMessage{});
  }

  zmq::context_t context_;
  X25519KeyPair gateway_ = GenerateX25519KeyPair();
  X25519KeyPair agent_ = GenerateX25519KeyPair();
  X25519KeyPair stranger_ = GenerateX25519KeyPair();
  X25519KeyPair coordinator_ = GenerateX25519KeyPair();
  std::unique_ptr<ZapHandler> zap_;
  std::unique_ptr<RouterServer> server_;
};

TEST_F(TransportTest, EnrolledPeerIsIdentifiedByZapNotByWhatItSends) {
  auto client = Connect(agent_);
  EXPECT_EQ(client->WaitForHandshake(kDeadlineMs), ConnectionState::kConnected);
  ASSERT_OK(client->Send("envelope-bytes"));
  IncomingMessage in = ReceiveOne();
  EXPECT_EQ(in.participant_id, "politie-agent");
  EXPECT_EQ(in.kind, "agent");
  EXPECT_EQ(in.partner, "politie");
  EXPECT_EQ(in.payload, "envelope-bytes");
  EXPECT_FALSE(in.malformed);
  ASSERT_OK(server_->Send(in.routing_id, "reply"));
  auto reply = client->Receive(kDeadlineMs);
  ASSERT_THAT(reply, IsOk());
  EXPECT_EQ(reply->value_or(""), "reply");
  EXPECT_EQ(zap_->admitted(), 1u);
}

TEST_F(TransportTest, ZapMetadataCarriesKindPartnerAndRole) {
  auto client = Connect(coordinator_);
  ASSERT_OK(client->Send("x"));
  IncomingMessage in = ReceiveOne();
  EXPECT_EQ(in.participant_id, "regisseur-01");
  EXPECT_EQ(in.kind, "coordinator");
  EXPECT_EQ(in.partner, "veiligheidsteam");
  EXPECT_EQ(in.role, "casusregisseur");
}

TEST_F(TransportTest, UnknownKeyIsRefusedAtTheHandshake) {
  auto client = Connect(stranger_);
  EXPECT_EQ(client->WaitForHandshake(kDeadlineMs), ConnectionState::kRefused);
  // Queued locally and never delivered, or, once ZeroMQ has dropped the refused pipe, refused
  // at once with the reason; never a "queue full" that would send an operator the wrong way.
  const Status sent = client->Send("hello");
  if (!sent.ok()) {
    EXPECT_THAT(sent, StatusIs(StatusCode::kUnauthenticated, "not enrolled"));
  }
  EXPECT_THAT(client->Receive(0), StatusIs(StatusCode::kUnauthenticated, "not enrolled"));
  auto in = server_->Receive(0);
  ASSERT_THAT(in, IsOk());
  EXPECT_FALSE(in->has_value());
  EXPECT_GE(zap_->refused(), 1u);
}

TEST_F(TransportTest, RemovedKeyIsRefusedOnItsNextConnection) {
  auto client = Connect(agent_);
  ASSERT_EQ(client->WaitForHandshake(kDeadlineMs), ConnectionState::kConnected);
  zap_->SetPeers({});
  ASSERT_OK(client->Reconnect());
  EXPECT_EQ(client->WaitForHandshake(kDeadlineMs), ConnectionState::kRefused);
}

TEST_F(TransportTest, WrongPinnedGatewayKeyNeverConnects) {
  auto client = Connect(agent_, GenerateX25519KeyPair().public_key);
  EXPECT_NE(client->WaitForHandshake(500), ConnectionState::kConnected);
  auto in = server_->Receive(0);
  ASSERT_THAT(in, IsOk());
  EXPECT_FALSE(in->has_value());
}

TEST_F(TransportTest, MultiFrameMessageIsReportedMalformed) {
  zmq::socket_t raw(context_, zmq::socket_type::dealer);
  raw.set(zmq::sockopt::curve_serverkey, zmq::const_buffer(gateway_.public_key.data(), 32));
  raw.set(zmq::sockopt::curve_publickey, zmq::const_buffer(agent_.public_key.data(), 32));
  raw.set(zmq::sockopt::curve_secretkey, zmq::const_buffer(agent_.secret_key.data(), 32));
  raw.set(zmq::sockopt::linger, 0);
  raw.connect(server_->endpoint());
  raw.send(zmq::str_buffer("part-1"), zmq::send_flags::sndmore);
  raw.send(zmq::str_buffer("part-2"), zmq::send_flags::none);
  IncomingMessage in = ReceiveOne();
  EXPECT_TRUE(in.malformed);
  EXPECT_TRUE(in.payload.empty());
  EXPECT_EQ(in.participant_id, "politie-agent");
}

TEST_F(TransportTest, SendToAPeerThatIsGoneIsUnavailable) {
  EXPECT_THAT(server_->Send("no-such-peer", "x"), StatusIs(StatusCode::kUnavailable));
}

TEST_F(TransportTest, AFullPeerPipeParksInsteadOfBlocking) {
  RouterOptions small;
  small.send_hwm = 2;
  auto made = RouterServer::Create(context_, *zap_, gateway_.public_key, gateway_.secret_key, small);
  ASSERT_THAT(made, IsOk());
  server_ = std::move(made).value();
  DealerOptions options;
  options.endpoint = server_->endpoint();
  options.server_public_key = gateway_.public_key;
  options.receive_hwm = 1;
  auto client = DealerClient::Create(context_, agent_.public_key, agent_.secret_key, options);
  ASSERT_THAT(client, IsOk());
  ASSERT_OK((*client)->Send("hello"));
  IncomingMessage in = ReceiveOne();
  const std::string big(1 << 20, 'x');
  int parked_after = 0;
  for (int i = 0; i < 64 && parked_after == 0; ++i) {
    ASSERT_OK(server_->Send(in.routing_id, big));  // never blocks
    parked_after = static_cast<int>(server_->parked());
  }
  EXPECT_GT(parked_after, 0) << "the pipe never filled";
  // The client reads; everything parked goes out, in order, nothing lost.
  int received = 0;
  while (server_->parked() > 0 || received == 0) {
    auto got = (*client)->Receive(kDeadlineMs);
    ASSERT_THAT(got, IsOk());
    ASSERT_TRUE(got->has_value());
    ++received;
    EXPECT_TRUE(server_->FlushParked().empty());
  }
  while (true) {
    auto got = (*client)->Receive(200);
    ASSERT_THAT(got, IsOk());
    if (!got->has_value()) break;
    ++received;
  }
  EXPECT_EQ(server_->parked(), 0u);
  EXPECT_GE(received, parked_after);
}

// A signal (SIGHUP to reload, SIGTERM to stop) makes zmq_poll fail with
// EINTR; that is "nothing yet", so the caller's loop can look at its flags,
// and the socket keeps working.
TEST_F(TransportTest, ASignalEndsAWaitingGatewayReceiveWithNothing) {
  constexpr int kLongMs = 60'000;
  const auto began = std::chrono::steady_clock::now();
  WhileSignalled([&] {
    auto in = server_->Receive(kLongMs);
    ASSERT_THAT(in, IsOk());
    EXPECT_FALSE(in->has_value());
  });
  EXPECT_LT(std::chrono::steady_clock::now() - began, std::chrono::milliseconds(kLongMs))
      << "the receive waited its whole timeout: the signal did not end it";
  auto client = Connect(agent_);
  ASSERT_OK(client->Send("after the signal"));
  EXPECT_EQ(ReceiveOne().payload, "after the signal");
}

TEST_F(TransportTest, ASignalEndsAWaitingClientReceiveWithNothing) {
  constexpr int kLongMs = 60'000;
  auto client = Connect(agent_);
  ASSERT_EQ(client->WaitForHandshake(kDeadlineMs), ConnectionState::kConnected);
  const auto began = std::chrono::steady_clock::now();
  WhileSignalled([&] {
    auto got = client->Receive(kLongMs);
    ASSERT_THAT(got, IsOk());
    EXPECT_FALSE(got->has_value());
  });
  EXPECT_LT(std::chrono::steady_clock::now() - began, std::chrono::milliseconds(kLongMs));
  ASSERT_OK(client->Send("ping"));
  IncomingMessage in = ReceiveOne();
  ASSERT_OK(server_->Send(in.routing_id, "pong"));
  auto reply = client->Receive(kDeadlineMs);
  ASSERT_THAT(reply, IsOk());
  EXPECT_EQ(reply->value_or(""), "pong");
}

TEST_F(TransportTest, ASignalEndsAWaitForHandshake) {
  constexpr int kLongMs = 60'000;
  DealerOptions options;
  options.endpoint = "tcp://127.0.0.1:1";  // nobody listens: no handshake ever comes
  options.server_public_key = gateway_.public_key;
  auto client = DealerClient::Create(context_, agent_.public_key, agent_.secret_key, options);
  ASSERT_THAT(client, IsOk());
  const auto began = std::chrono::steady_clock::now();
  WhileSignalled([&] { EXPECT_NE((*client)->WaitForHandshake(kLongMs), ConnectionState::kConnected); });
  EXPECT_LT(std::chrono::steady_clock::now() - began, std::chrono::milliseconds(kLongMs));
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp
