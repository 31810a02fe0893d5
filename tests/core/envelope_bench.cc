// Envelope costs against the public-key floor they stand on (DESIGN.md §6):
// signing an envelope vs a bare Ed25519 signature, verifying one vs a bare
// verification, sealing/opening vs the raw sealed box. Run: ./run bench, or
// build/tests/core/envelope_bench --benchmark_repetitions=5
#include <benchmark/benchmark.h>

#include <memory>

#include "core/crypto/ed25519.h"
#include "core/crypto/random.h"
#include "core/crypto/x25519.h"
#include "core/envelope/envelope.h"
#include "core/envelope/sealed.h"
#include "ketenpoort/v1/messages.pb.h"

namespace kp {
namespace {

namespace v1 = ketenpoort::v1;

struct Fixture {
  Fixture() : clock(1795357974123), signer("regisseur-01", key.secret_key, clock) {
    keys.Add("regisseur-01", key.public_key);
    v1::FragmentRequest r;
    r.set_case_id("VT-2026-0001");
    r.set_source_partner("politie");
    r.add_categories("incidenten");
    r.set_purpose("veiligheidsplan");
    r.set_sealed_subjects(std::string(300, 'x'));
    body = r.SerializeAsString();
  }
  Ed25519KeyPair key = GenerateEd25519KeyPair();
  X25519KeyPair seal_key = GenerateX25519KeyPair();
  ManualClock clock;
  StaticKeyResolver keys;
  EnvelopeSigner signer;
  std::string body;
};

Fixture& F() {
  static Fixture* f = new Fixture();
  return *f;
}

void BM_Ed25519SignFloor(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(Ed25519Sign(F().key.secret_key, F().body));
}
BENCHMARK(BM_Ed25519SignFloor);

void BM_EnvelopeSign(benchmark::State& state) {
  for (auto _ : state) {
    benchmark::DoNotOptimize(F().signer.Sign(v1::MESSAGE_KIND_FRAGMENT_REQUEST, "", "", F().body));
  }
}
BENCHMARK(BM_EnvelopeSign);

void BM_Ed25519VerifyFloor(benchmark::State& state) {
  std::string sig = Ed25519Sign(F().key.secret_key, F().body);
  for (auto _ : state) benchmark::DoNotOptimize(Ed25519Verify(F().key.public_key, F().body, sig));
}
BENCHMARK(BM_Ed25519VerifyFloor);

void BM_EnvelopeVerifyWithReplayGuard(benchmark::State& state) {
  const ReplayGuard::Options options{.window_ms = 300'000, .max_entries = 1'000'000};
  auto replay = std::make_unique<ReplayGuard>(F().clock, options);
  std::vector<std::string> msgs;
  for (int i = 0; i < 4096; ++i) {
    msgs.push_back(F().signer.Sign(v1::MESSAGE_KIND_FRAGMENT_REQUEST, "", "", F().body)->bytes);
  }
  size_t i = 0;
  for (auto _ : state) {
    if (i == msgs.size()) {  // a fresh guard, so that each message is new again
      state.PauseTiming();
      replay = std::make_unique<ReplayGuard>(F().clock, options);
      i = 0;
      state.ResumeTiming();
    }
    EnvelopeVerifier verifier(F().keys, replay.get());
    benchmark::DoNotOptimize(verifier.Verify(msgs[i++]));
  }
}
BENCHMARK(BM_EnvelopeVerifyWithReplayGuard);

void BM_SealFloor(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(SealTo(F().seal_key.public_key, F().body));
}
BENCHMARK(BM_SealFloor);

void BM_SignAndSeal(benchmark::State& state) {
  std::string req = NewMessageId();
  for (auto _ : state) {
    benchmark::DoNotOptimize(SignAndSeal(F().signer, v1::MESSAGE_KIND_FRAGMENT_CONTENT, "regisseur-01",
                                         F().seal_key.public_key, req, F().body));
  }
}
BENCHMARK(BM_SignAndSeal);

void BM_OpenAndVerify(benchmark::State& state) {
  std::string req = NewMessageId();
  std::string sealed = *SignAndSeal(F().signer, v1::MESSAGE_KIND_FRAGMENT_CONTENT, "regisseur-01",
                                    F().seal_key.public_key, req, F().body);
  for (auto _ : state) {
    benchmark::DoNotOptimize(OpenAndVerify(F().seal_key, F().keys, sealed,
                                           {v1::MESSAGE_KIND_FRAGMENT_CONTENT, "regisseur-01", req, ""}));
  }
}
BENCHMARK(BM_OpenAndVerify);

}  // namespace
}  // namespace kp

BENCHMARK_MAIN();
