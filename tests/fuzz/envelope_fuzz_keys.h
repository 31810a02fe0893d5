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
                           {}};
    k->recipient_seal.public_key = X25519PublicKeyOf(k->recipient_seal.secret_key).value();
    k->resolver.Add("regisseur-01", k->coordinator.public_key);
    k->resolver.Add("politie-agent", k->agent.public_key);
    return k;
  }();
  return *keys;
}

}  // namespace kp::fuzz

#endif  // KETENPOORT_TESTS_FUZZ_ENVELOPE_FUZZ_KEYS_H_
