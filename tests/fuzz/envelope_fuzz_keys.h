// Fixed keys shared by the envelope fuzzer and the test that writes and
// checks its seed corpus (tests/fuzz/envelope_corpus_test.cc).
#ifndef KETENPOORT_TESTS_FUZZ_ENVELOPE_FUZZ_KEYS_H_
#define KETENPOORT_TESTS_FUZZ_ENVELOPE_FUZZ_KEYS_H_

#include <cstring>

#include "core/crypto/ed25519.h"
#include "core/crypto/x25519.h"
#include "core/envelope/envelope.h"

namespace kp::fuzz {

inline constexpr int64_t kFuzzNowMs = 1795357974123;  // 2026-11-22T14:32:54.123Z

struct FuzzKeys {
  Ed25519KeyPair coordinator;  // "regisseur-01"
  Ed25519KeyPair agent;        // "politie-agent"
  X25519KeyPair recipient_seal;
  StaticKeyResolver resolver;
  Ed25519KeyPair referrer;     // "vt-01": Veilig Thuis, refers and opens acute cases
  Ed25519KeyPair wijk;         // "wijk-01": the wijkteam's casuscoordinator
};

inline SecretBytes FixedSeed(uint8_t fill) {
  SecretBytes s(32);
  std::memset(s.mutable_data(), fill, 32);
  return s;
}

inline const FuzzKeys& GetFuzzKeys() {
  static const FuzzKeys* keys = [] {
    auto* k = new FuzzKeys{Ed25519KeyPairFromSeed(FixedSeed(1)).value(),
                           Ed25519KeyPairFromSeed(FixedSeed(2)).value(),
                           {std::string(), FixedSeed(3)},
                           {},
                           Ed25519KeyPairFromSeed(FixedSeed(4)).value(),
                           Ed25519KeyPairFromSeed(FixedSeed(5)).value()};
    k->recipient_seal.public_key = X25519PublicKeyOf(k->recipient_seal.secret_key).value();
    k->resolver.Add("regisseur-01", k->coordinator.public_key);
    k->resolver.Add("politie-agent", k->agent.public_key);
    k->resolver.Add("vt-01", k->referrer.public_key);
    k->resolver.Add("wijk-01", k->wijk.public_key);
    return k;
  }();
  return *keys;
}

}  // namespace kp::fuzz

#endif  // KETENPOORT_TESTS_FUZZ_ENVELOPE_FUZZ_KEYS_H_
