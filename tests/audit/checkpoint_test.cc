// C2SP signed-note checkpoints: round trip, the exact text, verifier keys,
// witness cosignatures, and the Tink treatment (flip every bit, truncate at
// every length: never accepted, never a crash).
#include "core/audit/checkpoint.h"

#include "core/audit/merkle.h"
#include "core/base/encoding.h"
#include "tests/audit/audit_test_util.h"
#include "tests/testing/status_matchers.h"

namespace kp::audit {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

using ::kp::audit::testing::kTestOrigin;
using ::kp::audit::testing::TestSigner;
using ::kp::testing::IsOk;
using ::kp::testing::StatusIs;

Checkpoint Sample() { return Checkpoint{kTestOrigin, 42, std::string(32, '\x11'), {}}; }

TEST(AuditCheckpointTest, SignedNoteHasTheC2spShape) {
  LogSigner signer = TestSigner();
  std::string note = signer.Sign(Sample());
  std::string body = std::string(kTestOrigin) + "\n42\n" + Base64Encode(std::string(32, '\x11')) + "\n\n";
  ASSERT_EQ(note.substr(0, body.size()), body);
  std::string sig_prefix = "\xE2\x80\x94 " + std::string(kTestOrigin) + " ";
  EXPECT_EQ(note.substr(body.size(), sig_prefix.size()), sig_prefix);
  ASSERT_OK_AND_ASSIGN(SignedNote parsed, ParseSignedNote(note));
  ASSERT_EQ(parsed.signatures.size(), 1u);
  EXPECT_EQ(parsed.signatures[0].key_hash, signer.verifier_key().key_hash);
  EXPECT_EQ(parsed.signatures[0].signature.size(), 64u);
  ASSERT_OK_AND_ASSIGN(Checkpoint cp, OpenCheckpoint(note, signer.verifier_key(), kTestOrigin));
  EXPECT_EQ(cp.size, 42u);
  EXPECT_EQ(cp.root, std::string(32, '\x11'));
}

TEST(AuditCheckpointTest, VerifierKeyRoundTripsAndPinsItsHash) {
  LogSigner signer = TestSigner();
  std::string text = FormatVerifierKey(signer.verifier_key());
  EXPECT_EQ(text.substr(0, std::string(kTestOrigin).size() + 1), std::string(kTestOrigin) + "+");
  ASSERT_OK_AND_ASSIGN(NoteVerifierKey k, ParseVerifierKey(text + "\n"));
  EXPECT_EQ(k.public_key, signer.public_key());
  EXPECT_EQ(k.key_hash, NoteKeyHash(kTestOrigin, signer.public_key()));
  std::string wrong_hash = text;
  size_t plus = wrong_hash.find('+');
  wrong_hash[plus + 1] = wrong_hash[plus + 1] == '0' ? '1' : '0';
  EXPECT_THAT(ParseVerifierKey(wrong_hash), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseVerifierKey("no plus signs"), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(MakeVerifierKey("bad name", signer.public_key()), StatusIs(StatusCode::kInvalidArgument));
}

TEST(AuditCheckpointTest, OtherKeyOrOriginIsRefused) {
  LogSigner signer = TestSigner();
  LogSigner other = TestSigner(9);
  std::string note = signer.Sign(Sample());
  EXPECT_THAT(OpenCheckpoint(note, other.verifier_key(), kTestOrigin), StatusIs(StatusCode::kUnauthenticated));
  EXPECT_THAT(OpenCheckpoint(note, signer.verifier_key(), "another.example/log"),
              StatusIs(StatusCode::kUnauthenticated));
  // Same key under another name: the key hash differs, so no signature matches.
  ASSERT_OK_AND_ASSIGN(NoteVerifierKey renamed, MakeVerifierKey("renamed", signer.public_key()));
  EXPECT_THAT(OpenCheckpoint(note, renamed, ""), StatusIs(StatusCode::kUnauthenticated));
}

TEST(AuditCheckpointTest, WitnessCosignaturesAreIgnoredButOursIsRequired) {
  LogSigner signer = TestSigner();
  LogSigner witness = TestSigner(9, "witness.example");
  std::string note = signer.Sign(Sample());
  std::string witnessed = witness.Sign(Checkpoint{"witness.example", 1, std::string(32, 'w'), {}});
  std::string witness_line = witnessed.substr(witnessed.find("\n\n") + 2);
  std::string cosigned = note + witness_line;
  EXPECT_THAT(OpenCheckpoint(cosigned, signer.verifier_key(), kTestOrigin), IsOk());
  std::string only_witness = note.substr(0, note.find("\n\n") + 2) + witness_line;
  EXPECT_THAT(OpenCheckpoint(only_witness, signer.verifier_key(), kTestOrigin),
              StatusIs(StatusCode::kUnauthenticated));
}

TEST(AuditCheckpointTest, EveryFlippedBitIsRejected) {
  LogSigner signer = TestSigner();
  std::string note = signer.Sign(Sample());
  for (size_t i = 0; i < note.size() * 8; ++i) {
    std::string bad = note;
    bad[i / 8] ^= static_cast<char>(1 << (i % 8));
    auto r = OpenCheckpoint(bad, signer.verifier_key(), kTestOrigin);
    // A flip in base64 padding bits may decode to the same bytes; anything
    // accepted must then be the same checkpoint.
    if (r.ok()) {
      EXPECT_EQ(r->size, 42u) << "bit " << i;
      EXPECT_EQ(r->root, std::string(32, '\x11')) << "bit " << i;
    }
  }
}

TEST(AuditCheckpointTest, EveryTruncationIsRejected) {
  LogSigner signer = TestSigner();
  std::string note = signer.Sign(Sample());
  for (size_t n = 0; n < note.size(); ++n) {
    EXPECT_FALSE(OpenCheckpoint(note.substr(0, n), signer.verifier_key(), kTestOrigin).ok()) << "length " << n;
  }
}

TEST(AuditCheckpointTest, MalformedBodiesAreInvalidArgument) {
  EXPECT_THAT(ParseCheckpointBody("origin\n01\n" + Base64Encode(std::string(32, 'a')) + "\n"),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseCheckpointBody("origin\n1\nAAAA\n"), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseCheckpointBody("origin\n99999999999999999999999\n" + Base64Encode(std::string(32, 'a')) + "\n"),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseCheckpointBody("origin\n1\n"), StatusIs(StatusCode::kInvalidArgument));
  ASSERT_OK_AND_ASSIGN(Checkpoint c,
                       ParseCheckpointBody("origin\n1\n" + Base64Encode(std::string(32, 'a')) + "\next one\n"));
  EXPECT_EQ(c.extensions.size(), 1u);
  EXPECT_THAT(ParseSignedNote("text\n\n\xE2\x80\x94 name AAAA\n"), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseSignedNote(std::string(kMaxNoteBytes + 1, 'a')), StatusIs(StatusCode::kInvalidArgument));
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp::audit
