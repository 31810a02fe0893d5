// libFuzzer target: envelope decode + verify, body parse, and sealed-message
// open + verify, on untrusted bytes. Keys are fixed (derived from constant
// seeds) so that the seed corpus, signed with them, reaches past the
// signature check into body parsing. Nothing here may crash or leak.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "core/envelope/envelope.h"
#include "core/envelope/message_kinds.h"
#include "core/envelope/sealed.h"
#include "tests/fuzz/envelope_fuzz_keys.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const kp::fuzz::FuzzKeys& keys = kp::fuzz::GetFuzzKeys();
  std::string_view input(reinterpret_cast<const char*>(data), size);

  kp::ManualClock clock(kp::fuzz::kFuzzNowMs);
  kp::ReplayGuard replay(clock, {.window_ms = 300'000, .max_entries = 8});
  kp::EnvelopeVerifier verifier(keys.resolver, &replay);
  auto env = verifier.Verify(input);
  if (env.ok()) {
    auto body = kp::NewBodyFor(env->header.kind());
    if (body != nullptr) (void)kp::ParseBody(env->body, *body);
    // A second delivery of the same bytes must be refused as a replay.
    if (verifier.Verify(input).ok()) __builtin_trap();
  }
  (void)kp::OpenAndVerify(keys.recipient_seal, keys.resolver, input,
                          {ketenpoort::v1::MESSAGE_KIND_FRAGMENT_CONTENT, "regisseur-01",
                           std::string(16, '\x11'), ""});
  return 0;
}
