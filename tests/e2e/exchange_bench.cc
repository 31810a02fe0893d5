// `./run bench` part 2: the end-to-end benchmark of issue 7, in one run:
//   (a) raw ZeroMQ CURVE round trips client -> broker -> worker -> broker ->
//       client (no Ketenpoort code): the transport's floor;
//   (b) the crypto floor: the public-key operations one exchange needs
//       (Ed25519 signs and verifies, sealed boxes), done in a loop, in total
//       and the gateway's own share;
//   (c) full Ketenpoort exchanges: the coordinator client (this process) ->
//       the real ketenpoort-gateway process -> real ketenpoort-agent
//       processes -> back, with policy, durable audit logs, the client's
//       encrypted store, signing and sealing; 1 and 64 requests in flight,
//       spread over six agents.
// It prints exchanges/s, p50/p99 latency, the gateway's CPU time per
// exchange (from /proc), and the ratios (c)/(a) and (c)/(b). Medians of
// repeated runs; the machine is noisy, so read ratios, not single numbers.
//
// Usage: exchange_bench [--exchanges N] [--runs R]   (from the source tree,
// or with KP_SOURCE_DIR set)
#include <signal.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <thread>
#include <zmq.hpp>

#include "client/coordinator.h"
#include "core/crypto/ed25519.h"
#include "core/crypto/random.h"
#include "core/crypto/x25519.h"
#include "core/identity/identity.h"
#include "tests/testing/region.h"
#include "tests/testing/region_processes.h"
#include "tests/testing/status_matchers.h"

namespace kp {
namespace {

using Clock = std::chrono::steady_clock;
using client::Outcome;
using testing::ProcessCpuMicros;
using testing::SelfCpuMicros;
namespace v1 = ketenpoort::v1;

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}
double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}
double Micros(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

struct RunResult {
  double per_second = 0;
  double p50_us = 0;
  double p99_us = 0;
  double gateway_cpu_us = 0;  // per exchange
  double agents_cpu_us = 0;   // per exchange, all agents together
  double client_cpu_us = 0;   // per exchange, this process
};

void Die(const std::string& what) {
  std::fprintf(stderr, "exchange_bench: %s\n", what.c_str());
  std::exit(1);
}

// ------------------------------------------------------------- (a) ZeroMQ

std::pair<std::string, std::string> CurveKeys() {
  char pub[41], sec[41];
  if (zmq_curve_keypair(pub, sec) != 0) Die("zmq_curve_keypair failed");
  return {pub, sec};
}

// Broker: ROUTER for clients, ROUTER for workers; round-robin to workers.
RunResult RawZmq(int in_flight, int total) {
  zmq::context_t ctx(1);
  auto [broker_pub, broker_sec] = CurveKeys();
  auto server = [&](zmq::socket_t& s) {
    s.set(zmq::sockopt::curve_server, 1);
    s.set(zmq::sockopt::curve_secretkey, broker_sec);
    s.set(zmq::sockopt::sndhwm, 100000);
    s.set(zmq::sockopt::rcvhwm, 100000);
  };
  zmq::socket_t front(ctx, zmq::socket_type::router), back(ctx, zmq::socket_type::router);
  server(front);
  server(back);
  front.bind("tcp://127.0.0.1:*");
  back.bind("tcp://127.0.0.1:*");
  const std::string front_ep = front.get(zmq::sockopt::last_endpoint);
  const std::string back_ep = back.get(zmq::sockopt::last_endpoint);
  auto client_socket = [&](zmq::socket_t& s) {
    auto [pub, sec] = CurveKeys();
    s.set(zmq::sockopt::curve_serverkey, broker_pub);
    s.set(zmq::sockopt::curve_publickey, pub);
    s.set(zmq::sockopt::curve_secretkey, sec);
    s.set(zmq::sockopt::sndhwm, 100000);
    s.set(zmq::sockopt::rcvhwm, 100000);
  };
  constexpr int kWorkers = 6;
  std::atomic<bool> stop{false};
  std::vector<std::thread> workers;
  std::vector<std::string> worker_ids;
  for (int w = 0; w < kWorkers; ++w) worker_ids.push_back("w" + std::to_string(w));
  for (int w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&, w] {
      zmq::socket_t s(ctx, zmq::socket_type::dealer);
      client_socket(s);
      s.set(zmq::sockopt::routing_id, worker_ids[static_cast<size_t>(w)]);
      s.set(zmq::sockopt::rcvtimeo, 100);
      s.connect(back_ep);
      (void)s.send(zmq::str_buffer("ready"), zmq::send_flags::none);
      while (!stop) {
        zmq::message_t client_id, body;
        if (!s.recv(client_id)) continue;
        (void)s.recv(body);
        std::string reply(1400, 'r');  // about a delivery's size
        s.send(client_id, zmq::send_flags::sndmore);
        s.send(zmq::buffer(reply), zmq::send_flags::none);
      }
    });
  }
  std::thread broker([&] {
    int ready = 0;
    while (ready < kWorkers) {
      zmq::message_t id, body;
      (void)back.recv(id);
      (void)back.recv(body);
      ++ready;
    }
    size_t next = 0;
    zmq::pollitem_t items[] = {{front.handle(), 0, ZMQ_POLLIN, 0}, {back.handle(), 0, ZMQ_POLLIN, 0}};
    while (!stop) {
      zmq::poll(items, 2, std::chrono::milliseconds(100));
      if (items[0].revents & ZMQ_POLLIN) {
        zmq::message_t id, body;
        (void)front.recv(id);
        (void)front.recv(body);
        const std::string& w = worker_ids[next++ % worker_ids.size()];
        back.send(zmq::buffer(w), zmq::send_flags::sndmore);
        back.send(id, zmq::send_flags::sndmore);
        back.send(body, zmq::send_flags::none);
      }
      if (items[1].revents & ZMQ_POLLIN) {
        zmq::message_t wid, cid, body;
        (void)back.recv(wid);
        (void)back.recv(cid);
        (void)back.recv(body);
        front.send(cid, zmq::send_flags::sndmore);
        front.send(body, zmq::send_flags::none);
      }
    }
  });
  zmq::socket_t client(ctx, zmq::socket_type::dealer);
  client_socket(client);
  client.connect(front_ep);
  const std::string request(900, 'q');  // about a request's size
  std::vector<double> latencies;
  std::map<uint64_t, Clock::time_point> sent;
  uint64_t seq = 0;
  const auto start = Clock::now();
  int done = 0;
  while (done < total) {
    while (static_cast<int>(sent.size()) < in_flight && seq < static_cast<uint64_t>(total)) {
      std::string m = request;
      std::memcpy(m.data(), &seq, sizeof seq);
      sent[seq++] = Clock::now();
      client.send(zmq::buffer(m), zmq::send_flags::none);
    }
    zmq::message_t reply;
    if (!client.recv(reply)) continue;
    // The worker echoes no sequence; replies come back in order per worker,
    // so take the oldest outstanding one.
    auto oldest = sent.begin();
    latencies.push_back(Micros(Clock::now() - oldest->second));
    sent.erase(oldest);
    ++done;
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  stop = true;
  broker.join();
  for (auto& t : workers) t.join();
  RunResult r;
  r.per_second = total / seconds;
  r.p50_us = Percentile(latencies, 0.5);
  r.p99_us = Percentile(latencies, 0.99);
  return r;
}

// ------------------------------------------------------------ (b) crypto

struct CryptoFloor {
  double sign_us = 0, verify_us = 0, seal_us = 0, open_us = 0;
  // One exchange (docs/architecture.md, "Cost of one exchange"):
  //   coordinator: sign subject data, seal it, sign the request; verify the
  //                delivery, open the content, verify it            2s 3v 1seal 1open
  //   gateway:     verify the request, sign the authorisation; verify the
  //                delivery, sign the receipt and its checkpoint      3s 2v
  //   agent:       verify the authorisation, the request in it and the
  //                admission evidence; open the subject data, verify it;
  //                sign the content, seal it, sign the delivery;
  //                verify the receipt and its checkpoint              2s 6v 1seal 1open
  double Exchange() const { return 7 * sign_us + 11 * verify_us + 2 * seal_us + 2 * open_us; }
  double Gateway() const { return 3 * sign_us + 2 * verify_us; }
};

template <typename F>
double TimeOp(F f, int n) {
  std::vector<double> runs;
  for (int r = 0; r < 5; ++r) {
    const auto t0 = Clock::now();
    for (int i = 0; i < n; ++i) f();
    runs.push_back(Micros(Clock::now() - t0) / n);
  }
  return Median(runs);
}

CryptoFloor MeasureCrypto() {
  CryptoFloor c;
  Ed25519KeyPair k = GenerateEd25519KeyPair();
  X25519KeyPair x = GenerateX25519KeyPair();
  const std::string msg(600, 'm');
  const std::string sig = Ed25519Sign(k.secret_key, msg);
  const std::string sealed = SealTo(x.public_key, msg).value();
  volatile size_t sink = 0;
  c.sign_us = TimeOp([&] { sink = sink + Ed25519Sign(k.secret_key, msg).size(); }, 400);
  c.verify_us = TimeOp([&] { sink = sink + Ed25519Verify(k.public_key, msg, sig).ok(); }, 400);
  c.seal_us = TimeOp([&] { sink = sink + SealTo(x.public_key, msg)->size(); }, 400);
  c.open_us = TimeOp([&] { sink = sink + OpenSealed(x, sealed)->size(); }, 400);
  return c;
}

// ----------------------------------------------------------- (c) exchanges

class Bench {
 public:
  Bench() {
    for (const auto& [partner, category] : testing::LoadPartners()) {
      partners_.push_back(partner);
      category_[partner] = category;
    }
  }
  ~Bench() { Stop(); }

  void Setup() {
    auto r = testing::Region::Create(dir_.path(), SystemClock::Get());
    if (!r.ok()) Die(r.status().ToString());
    region_ = std::move(r).value();
    testing::RegionProcesses::Options options;
    options.work_dir = dir_.path();
    processes_ = std::make_unique<testing::RegionProcesses>(*region_, options);
    if (Status s = processes_->WriteConfigs(partners_); !s.ok()) Die(s.ToString());
    if (Status s = processes_->StartGateway(); !s.ok()) Die(s.ToString());
    for (const auto& p : partners_) {
      if (Status s = processes_->StartAgent(p); !s.ok()) Die(s.ToString());
    }
    auto c = processes_->ConnectCoordinator(0, 30'000);
    if (!c.ok()) {
      Die("the gateway did not come up: " + c.status().ToString() + "\ngateway log:\n" + processes_->ReadLog("gateway"));
    }
    coordinator_ = std::move(c).value();
    auto opened = testing::OpenLoadCase(*coordinator_);
    if (!opened.ok()) Die("cannot open the case: " + opened.status().ToString());
    case_id_ = *opened;
    Run(1, 2 * static_cast<int>(partners_.size()));  // warm up: every agent connected and answering
  }

  RunResult Run(int in_flight, int total) {
    std::map<std::string, Clock::time_point> started;
    std::vector<double> latencies;
    int sent = 0, done = 0, failed = 0;
    const double gw0 = ProcessCpuMicros(processes_->gateway_pid());
    double ag0 = 0;
    for (pid_t a : processes_->agent_pids()) ag0 += ProcessCpuMicros(a);
    const double me0 = SelfCpuMicros();
    const auto start = Clock::now();
    auto on_outcome = [&](const Outcome& o) {
      auto it = started.find(o.request_id);
      if (it == started.end()) return;
      latencies.push_back(Micros(Clock::now() - it->second));
      started.erase(it);
      ++done;
      if (o.kind != Outcome::Kind::kDelivered) ++failed;
    };
    while (done < total) {
      // Refill the free slots; the requests of one refill are recorded in
      // the client's store in one transaction (SendRequests).
      std::vector<client::RequestSpec> batch;
      while (static_cast<int>(started.size() + batch.size()) < in_flight && sent < total) {
        const std::string& p = partners_[static_cast<size_t>(sent) % partners_.size()];
        batch.push_back({case_id_, p, {category_.at(p)}, testing::kLoadPurpose, {}, ""});
        ++sent;
      }
      if (!batch.empty()) {
        const auto t0 = Clock::now();
        auto ids = coordinator_->SendRequests(batch);
        if (!ids.ok()) Die("request failed: " + ids.status().ToString());
        for (const auto& id : *ids) started[id] = t0;
      }
      auto n = coordinator_->Poll(2000, on_outcome, true);
      if (!n.ok()) Die(n.status().ToString());
      if (*n == 0) Die("no answer within 2 s (" + std::to_string(started.size()) + " waiting)");
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    if (failed > 0) Die(std::to_string(failed) + " exchanges were not delivered");
    RunResult r;
    r.per_second = total / seconds;
    r.p50_us = Percentile(latencies, 0.5);
    r.p99_us = Percentile(latencies, 0.99);
    r.gateway_cpu_us = (ProcessCpuMicros(processes_->gateway_pid()) - gw0) / total;
    double ag1 = 0;
    for (pid_t a : processes_->agent_pids()) ag1 += ProcessCpuMicros(a);
    r.agents_cpu_us = (ag1 - ag0) / total;
    r.client_cpu_us = (SelfCpuMicros() - me0) / total;
    return r;
  }

  void Stop() {
    coordinator_.reset();
    if (processes_) processes_->StopAll(SIGTERM);
  }

 private:
  testing::TempDir dir_;
  std::unique_ptr<testing::Region> region_;
  std::unique_ptr<testing::RegionProcesses> processes_;
  std::unique_ptr<client::Coordinator> coordinator_;
  std::string case_id_;
  std::vector<std::string> partners_;
  std::map<std::string, std::string> category_;
};

RunResult MedianOf(const std::vector<RunResult>& runs) {
  auto pick = [&](double RunResult::*m) {
    std::vector<double> v;
    for (const auto& r : runs) v.push_back(r.*m);
    return Median(v);
  };
  RunResult r;
  r.per_second = pick(&RunResult::per_second);
  r.p50_us = pick(&RunResult::p50_us);
  r.p99_us = pick(&RunResult::p99_us);
  r.gateway_cpu_us = pick(&RunResult::gateway_cpu_us);
  r.agents_cpu_us = pick(&RunResult::agents_cpu_us);
  r.client_cpu_us = pick(&RunResult::client_cpu_us);
  return r;
}

int Main(int argc, char** argv) {
  int exchanges = 2000, runs = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--exchanges") exchanges = std::stoi(argv[i + 1]);
    else if (flag == "--runs") runs = std::stoi(argv[i + 1]);
    else Die("unknown option " + flag + " (use --exchanges N --runs R)");
  }
  InitCrypto();
  spdlog::set_level(spdlog::level::warn);

  std::printf("Ketenpoort end-to-end benchmark: %d exchanges per run, median of %d runs, %u cores\n\n", exchanges,
              runs, std::thread::hardware_concurrency());
  std::vector<RunResult> a1, a64;
  for (int r = 0; r < runs; ++r) {
    a1.push_back(RawZmq(1, exchanges / 4));
    a64.push_back(RawZmq(64, exchanges));
  }
  const RunResult raw1 = MedianOf(a1), raw64 = MedianOf(a64);
  const CryptoFloor crypto = MeasureCrypto();

  Bench bench;
  bench.Setup();
  std::vector<RunResult> c1, c64;
  for (int r = 0; r < runs; ++r) {
    c1.push_back(bench.Run(1, exchanges / 4));
    c64.push_back(bench.Run(64, exchanges));
  }
  bench.Stop();
  const RunResult full1 = MedianOf(c1), full64 = MedianOf(c64);

  std::printf("(a) raw ZeroMQ CURVE round trip, client -> broker -> worker -> broker -> client\n");
  std::printf("    1 in flight:  %8.0f /s   p50 %7.0f us   p99 %7.0f us\n", raw1.per_second, raw1.p50_us, raw1.p99_us);
  std::printf("    64 in flight: %8.0f /s   p50 %7.0f us   p99 %7.0f us\n\n", raw64.per_second, raw64.p50_us,
              raw64.p99_us);
  std::printf("(b) crypto floor: Ed25519 sign %.1f us, verify %.1f us; sealed box seal %.1f us, open %.1f us\n",
              crypto.sign_us, crypto.verify_us, crypto.seal_us, crypto.open_us);
  std::printf("    one exchange (7 sign, 11 verify, 2 seal, 2 open): %.0f us of one core -> at most %.0f /s on %u cores\n",
              crypto.Exchange(), 1e6 / crypto.Exchange() * std::thread::hardware_concurrency(),
              std::thread::hardware_concurrency());
  std::printf("    the gateway's share (3 sign, 2 verify): %.0f us\n\n", crypto.Gateway());
  std::printf("(c) full Ketenpoort exchanges (policy, durable audit, signing, sealing, client store)\n");
  for (const auto& [label, r] : {std::pair{"1 in flight: ", full1}, std::pair{"64 in flight:", full64}}) {
    std::printf("    %s %8.0f /s   p50 %7.0f us   p99 %7.0f us   CPU per exchange: gateway %.0f us, agents %.0f us, "
                "client %.0f us\n",
                label, r.per_second, r.p50_us, r.p99_us, r.gateway_cpu_us, r.agents_cpu_us, r.client_cpu_us);
  }
  std::printf("\nratios\n");
  std::printf("    (c)/(a) latency p50, 1 in flight:      %6.1fx\n", full1.p50_us / raw1.p50_us);
  std::printf("    (a)/(c) throughput, 64 in flight:      %6.1fx\n", raw64.per_second / full64.per_second);
  std::printf("    (c)/(b) latency p50 over crypto floor: %6.1fx\n", full1.p50_us / crypto.Exchange());
  std::printf("    gateway CPU per exchange / its crypto:  %5.2fx (64 in flight; target <= 1.5)\n",
              full64.gateway_cpu_us / crypto.Gateway());
  std::printf("\ntargets: >= 2000 exchanges/s at 64 in flight: %s (%.0f); p99 <= 5 ms at 1 in flight: %s (%.1f ms)\n",
              full64.per_second >= 2000 ? "met" : "NOT met", full64.per_second, full1.p99_us <= 5000 ? "met" : "NOT met",
              full1.p99_us / 1000);
  return 0;
}

}  // namespace
}  // namespace kp

int main(int argc, char** argv) { return kp::Main(argc, argv); }
