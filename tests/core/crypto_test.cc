#include <cstring>
#include <string>
#include <thread>

#include "core/base/encoding.h"
#include "core/base/operation_counts.h"
#include "core/crypto/ed25519.h"
#include "core/crypto/hmac.h"
#include "core/crypto/random.h"
#include "core/crypto/secret_bytes.h"
#include "core/crypto/sha256.h"
#include "core/crypto/x25519.h"
#include "tests/testing/status_matchers.h"

namespace kp {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

using ::kp::testing::IsOk;
using ::kp::testing::StatusIs;

std::string Unhex(std::string_view hex) { return HexDecode(hex).value(); }

SecretBytes SecretFromHex(std::string_view hex) {
  std::string raw = Unhex(hex);
  SecretBytes s(raw.size());
  std::memcpy(s.mutable_data(), raw.data(), raw.size());
  return s;
}

// RFC 8032 §7.1, tests 1, 2, 3 and SHA(abc).
struct Rfc8032Vector {
  const char* seed;
  const char* public_key;
  const char* message;
  const char* signature;
};
const Rfc8032Vector kRfc8032[] = {
    {"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"},
    {"4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"},
    {"c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"},
    {"833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
     "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
     "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
     "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704"},
};

TEST(Ed25519Test, Rfc8032KnownAnswers) {
  for (const auto& v : kRfc8032) {
    SCOPED_TRACE(v.public_key);
    ASSERT_OK_AND_ASSIGN(Ed25519KeyPair kp, Ed25519KeyPairFromSeed(SecretFromHex(v.seed)));
    EXPECT_EQ(HexEncode(kp.public_key), v.public_key);
    std::string sig = Ed25519Sign(kp.secret_key, Unhex(v.message));
    EXPECT_EQ(HexEncode(sig), v.signature);
    EXPECT_THAT(Ed25519Verify(kp.public_key, Unhex(v.message), sig), IsOk());
    EXPECT_EQ(*Ed25519PublicKeyOf(kp.secret_key), kp.public_key);
  }
}

TEST(Ed25519Test, EveryFlippedSignatureBitIsRefused) {
  Ed25519KeyPair kp = GenerateEd25519KeyPair();
  const std::string msg = "ketenpoort";
  const std::string sig = Ed25519Sign(kp.secret_key, msg);
  for (size_t bit = 0; bit < sig.size() * 8; ++bit) {
    std::string bad = sig;
    bad[bit / 8] = static_cast<char>(bad[bit / 8] ^ (1 << (bit % 8)));
    EXPECT_THAT(Ed25519Verify(kp.public_key, msg, bad), StatusIs(StatusCode::kUnauthenticated)) << bit;
  }
  EXPECT_THAT(Ed25519Verify(kp.public_key, "ketenpoorT", sig), StatusIs(StatusCode::kUnauthenticated));
  EXPECT_THAT(Ed25519Verify(kp.public_key, msg, sig.substr(1)), StatusIs(StatusCode::kUnauthenticated));
  EXPECT_THAT(Ed25519Verify("short", msg, sig), StatusIs(StatusCode::kInvalidArgument));
}

TEST(Ed25519Test, DamagedSecretKeyIsDetected) {
  Ed25519KeyPair kp = GenerateEd25519KeyPair();
  SecretBytes bad = kp.secret_key.Clone();
  bad.mutable_data()[40] ^= 1;  // in the public half
  EXPECT_THAT(Ed25519PublicKeyOf(bad), StatusIs(StatusCode::kInvalidArgument, "damaged"));
}

TEST(Sha256Test, KnownAnswers) {
  EXPECT_EQ(HexEncode(Sha256String("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(HexEncode(Sha256String("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  Sha256Hasher h;
  h.Update("a");
  h.Update("bc");
  Sha256Digest d = h.Finish();
  EXPECT_EQ(HexEncode(std::string_view(reinterpret_cast<const char*>(d.data()), d.size())),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  h.Update("");  // reusable after Finish
  d = h.Finish();
  EXPECT_EQ(d, Sha256(""));
}

// The per-thread context is reused: hashes in a row, of two parts, of more
// than one block, and on other threads give the FIPS 180-4 answers.
TEST(Sha256Test, ReusedContextKnownAnswers) {
  const std::string two_blocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  const std::string two_blocks_hex = "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1";
  const std::string abc_hex = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
  auto check = [&] {
    for (int i = 0; i < 3; ++i) {
      EXPECT_EQ(HexEncode(Sha256String(two_blocks)), two_blocks_hex);
      EXPECT_EQ(HexEncode(Sha256String("abc")), abc_hex);
      Sha256Digest d = Sha256("ab", "c");
      EXPECT_EQ(HexEncode(std::string_view(reinterpret_cast<const char*>(d.data()), d.size())), abc_hex);
      EXPECT_EQ(Sha256(two_blocks.substr(0, 30), two_blocks.substr(30)), Sha256(two_blocks));
      EXPECT_EQ(Sha256("", ""), Sha256(""));
    }
    // One million 'a' (FIPS 180-2 appendix B.3).
    EXPECT_EQ(HexEncode(Sha256String(std::string(1'000'000, 'a'))),
              "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  };
  check();
  std::thread other(check);
  other.join();
}

// RFC 4231 test cases 1 and 2 (the region's pseudonyms are HMAC-SHA-256).
TEST(HmacSha256Test, Rfc4231KnownAnswers) {
  auto hmac = [](std::string_view key, std::string_view msg) {
    SecretBytes k(key.size());
    std::memcpy(k.mutable_data(), key.data(), key.size());
    Sha256Digest d = HmacSha256(k, msg);
    return HexEncode(std::string_view(reinterpret_cast<const char*>(d.data()), d.size()));
  };
  EXPECT_EQ(hmac(std::string(20, '\x0b'), "Hi There"),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  EXPECT_EQ(hmac("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(X25519Test, Rfc7748PublicKey) {
  ASSERT_OK_AND_ASSIGN(std::string pk, X25519PublicKeyOf(SecretFromHex(
                                            "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")));
  EXPECT_EQ(HexEncode(pk), "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
}

TEST(X25519Test, SealOpensOnlyForTheRecipientAndUnchanged) {
  X25519KeyPair alice = GenerateX25519KeyPair();
  X25519KeyPair mallory = GenerateX25519KeyPair();
  ASSERT_OK_AND_ASSIGN(std::string ct, SealTo(alice.public_key, "fragment"));
  EXPECT_EQ(ct.size(), 8 + kSealOverheadBytes);
  EXPECT_EQ(*OpenSealed(alice, ct), "fragment");
  EXPECT_THAT(OpenSealed(mallory, ct), StatusIs(StatusCode::kUnauthenticated));
  for (size_t bit = 0; bit < ct.size() * 8; ++bit) {
    std::string bad = ct;
    bad[bit / 8] = static_cast<char>(bad[bit / 8] ^ (1 << (bit % 8)));
    EXPECT_THAT(OpenSealed(alice, bad), StatusIs(StatusCode::kUnauthenticated)) << bit;
  }
  for (size_t len = 0; len < ct.size(); ++len) {
    Status s = OpenSealed(alice, ct.substr(0, len)).status();
    EXPECT_TRUE(s.code() == StatusCode::kUnauthenticated || s.code() == StatusCode::kInvalidArgument) << s;
  }
}

// Every public-key operation is counted once, refused ones too
// (core/base/operation_counts.h: exchange_bench's crypto floor and /metrics).
TEST(PublicKeyOperationCountTest, EachOperationCountsOnce) {
  auto count = [](PublicKeyOperation op) { return PublicKeyOperationCount(op); };
  const Ed25519KeyPair kp = GenerateEd25519KeyPair();
  const X25519KeyPair xk = GenerateX25519KeyPair();
  const uint64_t sign0 = count(PublicKeyOperation::kSign), verify0 = count(PublicKeyOperation::kVerify);
  const uint64_t seal0 = count(PublicKeyOperation::kSeal), open0 = count(PublicKeyOperation::kOpen);
  const std::string sig = Ed25519Sign(kp.secret_key, "m");
  EXPECT_THAT(Ed25519Verify(kp.public_key, "m", sig), IsOk());
  EXPECT_THAT(Ed25519Verify(kp.public_key, "other", sig), ::testing::Not(IsOk()));
  auto sealed = SealTo(xk.public_key, "m");
  ASSERT_THAT(sealed, IsOk());
  EXPECT_THAT(OpenSealed(xk, *sealed), IsOk());
  EXPECT_EQ(count(PublicKeyOperation::kSign) - sign0, 1u);
  EXPECT_EQ(count(PublicKeyOperation::kVerify) - verify0, 2u);
  EXPECT_EQ(count(PublicKeyOperation::kSeal) - seal0, 1u);
  EXPECT_EQ(count(PublicKeyOperation::kOpen) - open0, 1u);
  EXPECT_EQ(PublicKeyOperationName(PublicKeyOperation::kOpen), "box_seal_open");
}

TEST(SecretBytesTest, Base64RoundTripAndConstantTimeCompare) {
  SecretBytes a = SecretFromHex("00112233445566778899aabbccddeeff");
  SecretBytes text = a.ToBase64();
  ASSERT_OK_AND_ASSIGN(SecretBytes b, SecretBytes::FromBase64(text.view(), 16));
  EXPECT_TRUE(a.ConstantTimeEquals(b));
  b.mutable_data()[15] ^= 1;
  EXPECT_FALSE(a.ConstantTimeEquals(b));
  EXPECT_THAT(SecretBytes::FromBase64(text.view(), 32), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(SecretBytes::FromBase64("!!!!", 3), StatusIs(StatusCode::kInvalidArgument));
}

TEST(SecretBytesTest, MovedFromIsEmpty) {
  SecretBytes a(32);
  SecretBytes b = std::move(a);
  EXPECT_EQ(a.size(), 0u);  // NOLINT(bugprone-use-after-move): the contract
  EXPECT_EQ(b.size(), 32u);
}

TEST(RandomTest, MessageIdsAre128BitAndDistinct) {
  std::string a = NewMessageId();
  std::string b = NewMessageId();
  EXPECT_EQ(a.size(), 16u);
  EXPECT_NE(a, b);
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp
