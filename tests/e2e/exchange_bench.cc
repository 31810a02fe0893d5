// `./run bench` part 2: the end-to-end benchmark of issues 7 and 19, in one run:
//   (a) raw ZeroMQ CURVE round trips client -> broker -> worker -> broker ->
//       client (no Ketenpoort code): the transport's floor;
//   (b) the crypto floor: the CPU time of the public-key operations the
//       protocol requires of each party for one exchange (Ed25519 signs and
//       verifies, sealed boxes; kCoordinatorRequired, kGatewayRequired,
//       kAgentRequired), each timed in a loop;
//   (c) full Ketenpoort exchanges: the coordinator client (this process) ->
//       the real ketenpoort-gateway process -> real ketenpoort-agent
//       processes -> back, with policy, durable audit logs, the client's
//       encrypted store, signing and sealing; 1 and 64 requests in flight,
//       spread over six agents. Each process's CPU time (from /proc) and the
//       public-key operations it counted (its /metrics) per exchange.
// It prints exchanges/s, p50/p99 latency, the ratios, and one line per
// target of issue 19 ("target NAME: VALUE (BOUND) met|NOT met"). Medians of
// repeated runs; the machine is noisy, so read ratios, not single numbers.
//
// Usage: exchange_bench [--exchanges N] [--runs R]   (from the source tree,
// or with KP_SOURCE_DIR set)
#include <signal.h>
#include <spdlog/spdlog.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <thread>
#include <tuple>
#include <zmq.hpp>

#include "client/coordinator.h"
#include "core/base/operation_counts.h"
#include "core/crypto/ed25519.h"
#include "core/crypto/random.h"
#include "core/crypto/x25519.h"
#include "core/identity/identity.h"
#include "core/observe/management_server.h"
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

// Public-key operations: signatures made and verified, sealed boxes made and
// opened (core/base/operation_counts.h).
struct OpMix {
  double sign = 0, verify = 0, seal = 0, open = 0;
  OpMix operator-(const OpMix& o) const {
    return {sign - o.sign, verify - o.verify, seal - o.seal, open - o.open};
  }
  OpMix operator+(const OpMix& o) const {
    return {sign + o.sign, verify + o.verify, seal + o.seal, open + o.open};
  }
  OpMix Per(double n) const { return {sign / n, verify / n, seal / n, open / n}; }
  std::string Text() const {
    char b[96];
    std::snprintf(b, sizeof b, "%.2f sign, %.2f verify, %.2f seal, %.2f open", sign, verify, seal, open);
    return b;
  }
};

// This process's totals so far.
OpMix SelfOps() {
  auto n = [](PublicKeyOperation op) { return static_cast<double>(PublicKeyOperationCount(op)); };
  return {n(PublicKeyOperation::kSign), n(PublicKeyOperation::kVerify), n(PublicKeyOperation::kSeal),
          n(PublicKeyOperation::kOpen)};
}

struct RunResult {
  double per_second = 0;
  double p50_us = 0;
  double p99_us = 0;
  double gateway_cpu_us = 0;  // per exchange
  double agents_cpu_us = 0;   // per exchange, all agents together
  double client_cpu_us = 0;   // per exchange, this process
  // Public-key operations per exchange, counted by core/crypto in each
  // process (ketenpoort_public_key_operations_total on /metrics).
  OpMix gateway_ops, agents_ops, client_ops;
};

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "exchange_bench: %s\n", what.c_str());
  testing::RegionProcesses::KillAllNow();  // a run given up leaves no gateway or agents behind
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

// What the protocol requires of each party for one exchange
// (docs/performance.md, "The crypto floor"), as counted at 64 in flight:
//   coordinator: sign the subject data, seal it, sign the request; verify
//                ACCEPTED, the delivery and the content in it, open the
//                content                                                2s 3v 1seal 1open
//   gateway:     verify the request, sign ACCEPTED and the authorisation;
//                verify the delivery, sign the receipt                   3s 2v
//   agent:       verify the authorisation and the request in it; open the
//                subject data, verify it; sign the content, seal it, sign
//                the delivery; verify the receipt                        2s 4v 1seal 1open
// Not counted, as they are shared by many exchanges: the gateway's log
// checkpoint (signed once per burst of receipts, verified once by each agent
// that gets one) and the case's admission evidence (each signed case command
// verified once, then remembered by hash). What the processes counted beyond
// this is printed beside their counts.
constexpr OpMix kCoordinatorRequired{2, 3, 1, 1};
constexpr OpMix kGatewayRequired{3, 2, 0, 0};
constexpr OpMix kAgentRequired{2, 4, 1, 1};

struct CryptoFloor {
  double sign_us = 0, verify_us = 0, seal_us = 0, open_us = 0;
  double Cost(const OpMix& m) const {
    return m.sign * sign_us + m.verify * verify_us + m.seal * seal_us + m.open * open_us;
  }
  double Exchange() const { return Cost(kCoordinatorRequired + kGatewayRequired + kAgentRequired); }
  double Gateway() const { return Cost(kGatewayRequired); }
};

// CPU time of this thread, in microseconds: the processes' costs are CPU
// times (from /proc), so the floor is too; wall time would count the time
// another process held the core.
double ThreadCpuMicros() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) * 1e6 + static_cast<double>(t.tv_nsec) / 1e3;
}

template <typename F>
double TimeOp(F f, int n) {
  std::vector<double> runs;
  for (int r = 0; r < 5; ++r) {
    const double t0 = ThreadCpuMicros();
    for (int i = 0; i < n; ++i) f();
    runs.push_back((ThreadCpuMicros() - t0) / n);
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

// A service's public-key operations so far, from its /metrics.
OpMix ServiceOps(const std::string& management) {
  auto address = observe::ParseManagementAddress(management);
  if (!address.ok()) Die("bad management address " + management);
  // A loaded machine may keep a service from answering at once: three tries
  // of 10 s each before the run is given up.
  Result<observe::ManagementReply> reply = UnavailableError("not asked");
  for (int attempt = 0; attempt < 3 && !(reply.ok() && reply->status == 200); ++attempt) {
    reply = observe::ManagementCall(*address, "GET", "/metrics", "", {}, "service", 10'000);
  }
  if (!reply.ok() || reply->status != 200) {
    Die("cannot read /metrics on " + management + ": " +
        (reply.ok() ? "HTTP " + std::to_string(reply->status) : reply.status().ToString()));
  }
  OpMix m;
  const std::string prefix = "ketenpoort_public_key_operations_total{operation=\"";
  for (size_t at = reply->body.find(prefix); at != std::string::npos; at = reply->body.find(prefix, at + 1)) {
    const size_t name_end = reply->body.find('"', at + prefix.size());
    const std::string name = reply->body.substr(at + prefix.size(), name_end - at - prefix.size());
    const double value = std::strtod(reply->body.c_str() + reply->body.find(' ', name_end) + 1, nullptr);
    if (name == PublicKeyOperationName(PublicKeyOperation::kSign)) m.sign = value;
    if (name == PublicKeyOperationName(PublicKeyOperation::kVerify)) m.verify = value;
    if (name == PublicKeyOperationName(PublicKeyOperation::kSeal)) m.seal = value;
    if (name == PublicKeyOperationName(PublicKeyOperation::kOpen)) m.open = value;
  }
  return m;
}

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
    options.management = true;  // each process's /metrics: its public-key operations
    processes_ = std::make_unique<testing::RegionProcesses>(*region_, options);
    if (Status s = processes_->WriteConfigs(partners_); !s.ok()) Die(s.ToString());
    if (Status s = processes_->StartGateway(); !s.ok()) Die(s.ToString());
    for (const auto& p : partners_) {
      if (Status s = processes_->StartAgent(p); !s.ok()) Die(s.ToString());
    }
    auto c = processes_->ConnectCoordinator(0, 30'000);
    if (!c.ok()) {
      Die("the gateway did not come up: " + c.status().ToString() + "\ngateway log:\n" +
          processes_->ReadLog("gateway"));
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
    int sent = 0, done = 0, failed = 0, silent_polls = 0;
    const double gw0 = ProcessCpuMicros(processes_->gateway_pid());
    double ag0 = 0;
    for (pid_t a : processes_->agent_pids()) ag0 += ProcessCpuMicros(a);
    const double me0 = SelfCpuMicros();
    const OpMix gw_ops0 = ServiceOps(processes_->ManagementEndpoint("gateway")), ag_ops0 = AgentOps(),
                me_ops0 = SelfOps();
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
      // A busy machine may stall a run for seconds; half a minute without
      // any outcome means something is wrong.
      silent_polls = *n == 0 ? silent_polls + 1 : 0;
      if (silent_polls == 15) Die("no answer within 30 s (" + std::to_string(started.size()) + " waiting)");
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
    r.client_ops = (SelfOps() - me_ops0).Per(total);
    r.gateway_ops = (ServiceOps(processes_->ManagementEndpoint("gateway")) - gw_ops0).Per(total);
    r.agents_ops = (AgentOps() - ag_ops0).Per(total);
    return r;
  }

  OpMix AgentOps() const {
    OpMix all;
    for (const auto& p : partners_) all = all + ServiceOps(processes_->ManagementEndpoint(p));
    return all;
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
  r.gateway_ops = runs.back().gateway_ops;
  r.agents_ops = runs.back().agents_ops;
  r.client_ops = runs.back().client_ops;
  return r;
}

int Main(int argc, char** argv) {
  int exchanges = 2000, runs = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--exchanges")
      exchanges = std::stoi(argv[i + 1]);
    else if (flag == "--runs")
      runs = std::stoi(argv[i + 1]);
    else
      Die("unknown option " + flag + " (use --exchanges N --runs R)");
  }
  InitCrypto();
  spdlog::set_level(spdlog::level::warn);

  std::printf("Ketenpoort end-to-end benchmark: %d exchanges per run, median of %d runs, %u cores\n\n",
              exchanges, runs, std::thread::hardware_concurrency());
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
  std::printf("    1 in flight:  %8.0f /s   p50 %7.0f us   p99 %7.0f us\n", raw1.per_second, raw1.p50_us,
              raw1.p99_us);
  std::printf("    64 in flight: %8.0f /s   p50 %7.0f us   p99 %7.0f us\n\n", raw64.per_second, raw64.p50_us,
              raw64.p99_us);
  const unsigned cores = std::thread::hardware_concurrency();
  const double floor_per_second = 1e6 / crypto.Exchange() * cores;
  std::printf(
      "(b) crypto floor (CPU time of one thread): Ed25519 sign %.1f us, verify %.1f us; sealed box seal %.1f "
      "us, open %.1f us\n",
      crypto.sign_us, crypto.verify_us, crypto.seal_us, crypto.open_us);
  std::printf(
      "    what the protocol requires per exchange (not counted: the gateway's log checkpoint, signed once\n"
      "    per burst of receipts and verified once by each agent that gets it; the case's admission\n"
      "    evidence, each command verified once and remembered by hash):\n");
  for (const auto& [who, mix] :
       {std::pair{"coordinator", kCoordinatorRequired}, std::pair{"gateway    ", kGatewayRequired},
        std::pair{"agent      ", kAgentRequired}}) {
    std::printf("      %s %s = %5.0f us\n", who, mix.Text().c_str(), crypto.Cost(mix));
  }
  std::printf("    one exchange: %.0f us of one core -> the floor: at most %.0f exchanges/s on %u cores\n\n",
              crypto.Exchange(), floor_per_second, cores);
  std::printf("(c) full Ketenpoort exchanges (policy, durable audit, signing, sealing, client store)\n");
  for (const auto& [label, r] : {std::pair{"1 in flight: ", full1}, std::pair{"64 in flight:", full64}}) {
    std::printf(
        "    %s %8.0f /s   p50 %7.0f us   p99 %7.0f us   CPU per exchange: gateway %.0f us, agents %.0f us, "
        "client %.0f us\n",
        label, r.per_second, r.p50_us, r.p99_us, r.gateway_cpu_us, r.agents_cpu_us, r.client_cpu_us);
  }
  std::printf("    public-key operations counted per exchange (64 in flight, last run):\n");
  for (const auto& [who, counted, required] :
       {std::tuple{"coordinator", full64.client_ops, kCoordinatorRequired},
        std::tuple{"gateway    ", full64.gateway_ops, kGatewayRequired},
        std::tuple{"agents     ", full64.agents_ops, kAgentRequired}}) {
    const OpMix extra = counted - required;
    std::printf("      %s %s   (beyond the floor: %+.2f sign, %+.2f verify, %+.2f seal, %+.2f open)\n", who,
                counted.Text().c_str(), extra.sign, extra.verify, extra.seal, extra.open);
  }
  std::printf("\nratios\n");
  std::printf("    (c)/(a) latency p50, 1 in flight:      %6.1fx\n", full1.p50_us / raw1.p50_us);
  std::printf("    (a)/(c) throughput, 64 in flight:      %6.1fx\n", raw64.per_second / full64.per_second);
  std::printf("    (c)/(b) latency p50 over crypto floor: %6.1fx\n", full1.p50_us / crypto.Exchange());
  std::printf(
      "    CPU per exchange / the crypto it requires, 64 in flight: gateway %.2fx, agent %.2fx, coordinator "
      "%.2fx\n",
      full64.gateway_cpu_us / crypto.Gateway(), full64.agents_cpu_us / crypto.Cost(kAgentRequired),
      full64.client_cpu_us / crypto.Cost(kCoordinatorRequired));
  // The targets of issue 19, one line each, in a fixed form.
  const double throughput_ratio = full64.per_second / floor_per_second;
  const double gateway_ratio = full64.gateway_cpu_us / crypto.Gateway();
  const double p99_ms = full1.p99_us / 1000;
  std::printf("\n");
  std::printf("target throughput/floor: %.2f (>= 0.80) %s\n", throughput_ratio,
              throughput_ratio >= 0.8 ? "met" : "NOT met");
  std::printf("target gateway-cpu/crypto: %.2f (<= 1.50) %s\n", gateway_ratio,
              gateway_ratio <= 1.5 ? "met" : "NOT met");
  std::printf("target p99-1-in-flight-ms: %.2f (<= 3.00) %s\n", p99_ms, p99_ms <= 3.0 ? "met" : "NOT met");
  return 0;
}

}  // namespace
}  // namespace kp

int main(int argc, char** argv) { return kp::Main(argc, argv); }
