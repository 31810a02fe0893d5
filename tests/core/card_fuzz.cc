// libFuzzer target: the public card reader (docs/formats.md §2), versions 1
// and 2, on arbitrary bytes. It must return a card or an error, never crash;
// a card it accepts must write itself (ToYaml) as a card that reads back with
// the same canonical bytes, fingerprint and expiry. The seed corpus
// (card_corpus/) holds the version-1 example of formats.md §2 and a version-2
// card keygen wrote (keys enrolled nowhere).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/identity/public_card.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > kp::kMaxCardFileBytes) return 0;  // the reader refuses more before parsing
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto card = kp::PublicCard::Parse(text, "/fuzz/x.card");
  if (!card.ok()) return 0;
  if (card->version != 1 && card->version != 2) __builtin_trap();
  if (card->version == 1 && card->expires_ms != 0) __builtin_trap();
  if (card->version == 2 && card->expires_ms <= card->created_ms) __builtin_trap();
  auto again = kp::PublicCard::Parse(card->ToYaml(), "/fuzz/again.card");
  if (!again.ok() || again->CanonicalBytes() != card->CanonicalBytes() ||
      again->Fingerprint() != card->Fingerprint() || again->expires_ms != card->expires_ms) {
    __builtin_trap();
  }
  return 0;
}
