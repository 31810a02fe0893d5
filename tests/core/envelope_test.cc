#include "core/envelope/envelope.h"

#include "core/crypto/ed25519.h"
#include "core/crypto/random.h"
#include "core/envelope/message_kinds.h"
#include "core/envelope/sealed.h"
#include "ketenpoort/v1/messages.pb.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_time.h"

namespace kp {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

namespace v1 = ketenpoort::v1;
using ::kp::testing::IsOk;
using ::kp::testing::StatusIs;

using test::kNow;

bool IsRefusalCode(const Status& s) {
  return s.code() == StatusCode::kUnauthenticated || s.code() == StatusCode::kInvalidArgument;
}

class EnvelopeTest : public ::testing::Test {
 protected:
  EnvelopeTest()
      : clock_(kNow),
        coordinator_(GenerateEd25519KeyPair()),
        agent_(GenerateEd25519KeyPair()),
        agent_seal_(GenerateX25519KeyPair()),
        coordinator_seal_(GenerateX25519KeyPair()),
        replay_(clock_, {.window_ms = 60'000, .max_entries = 1000}),
        coordinator_signer_("regisseur-01", coordinator_.secret_key, clock_),
        agent_signer_("politie-agent", agent_.secret_key, clock_),
        verifier_(keys_, &replay_) {
    keys_.Add("regisseur-01", coordinator_.public_key);
    keys_.Add("politie-agent", agent_.public_key);
  }

  std::string RequestBody() {
    v1::FragmentRequest req;
    req.set_case_id("VT-2026-0001");
    req.set_source_partner("politie");
    req.add_categories("incidenten");
    req.set_purpose("veiligheidsplan");
    return req.SerializeAsString();
  }

  SignedMessage SignRequest() {
    auto m = coordinator_signer_.Sign(v1::MESSAGE_KIND_FRAGMENT_REQUEST, "", "", RequestBody());
    KP_CHECK(m.ok());
    return *m;
  }

  ManualClock clock_;
  Ed25519KeyPair coordinator_, agent_;
  X25519KeyPair agent_seal_, coordinator_seal_;
  StaticKeyResolver keys_;
  ReplayGuard replay_;
  EnvelopeSigner coordinator_signer_, agent_signer_;
  EnvelopeVerifier verifier_;
};

TEST_F(EnvelopeTest, SignedEnvelopeVerifies) {
  SignedMessage m = SignRequest();
  ASSERT_OK_AND_ASSIGN(VerifiedEnvelope env, verifier_.Verify(m.bytes));
  EXPECT_EQ(env.header.sender(), "regisseur-01");
  EXPECT_EQ(env.header.kind(), v1::MESSAGE_KIND_FRAGMENT_REQUEST);
  EXPECT_EQ(env.header.message_id(), m.message_id);
  EXPECT_EQ(env.header.sent_at_ms(), kNow);
  EXPECT_EQ(env.body, RequestBody());
  v1::FragmentRequest req;
  ASSERT_OK(ParseBody(env.body, req));
  EXPECT_EQ(req.case_id(), "VT-2026-0001");
}

TEST_F(EnvelopeTest, EveryFlippedBitIsRefused) {
  SignedMessage m = SignRequest();
  for (size_t bit = 0; bit < m.bytes.size() * 8; ++bit) {
    std::string bad = m.bytes;
    bad[bit / 8] = static_cast<char>(bad[bit / 8] ^ (1 << (bit % 8)));
    EnvelopeVerifier fresh(keys_, nullptr);
    Status s = fresh.Verify(bad).status();
    EXPECT_TRUE(IsRefusalCode(s)) << "bit " << bit << ": " << s;
  }
}

TEST_F(EnvelopeTest, EveryTruncationIsRefused) {
  SignedMessage m = SignRequest();
  for (size_t len = 0; len < m.bytes.size(); ++len) {
    EnvelopeVerifier fresh(keys_, nullptr);
    Status s = fresh.Verify(m.bytes.substr(0, len)).status();
    EXPECT_TRUE(IsRefusalCode(s)) << "length " << len << ": " << s;
  }
}

TEST_F(EnvelopeTest, TrailingOrNonCanonicalBytesAreRefused) {
  SignedMessage m = SignRequest();
  EXPECT_THAT(verifier_.Verify(m.bytes + std::string("\x20\x01", 2)), StatusIs(StatusCode::kInvalidArgument));
  // The same fields in another order: a different byte string, refused.
  v1::Envelope env;
  ASSERT_TRUE(env.ParseFromString(m.bytes));
  std::string reordered;
  reordered += std::string("\x1a\x40", 2) + env.signature();
  reordered += std::string("\x0a", 1) + static_cast<char>(env.header().size()) + env.header();
  v1::Envelope body_only;
  body_only.set_body(env.body());
  reordered += body_only.SerializeAsString();
  EXPECT_THAT(verifier_.Verify(reordered), StatusIs(StatusCode::kInvalidArgument, "well-formed"));
}

TEST_F(EnvelopeTest, UnknownSenderIsUnauthenticated) {
  Ed25519KeyPair stranger = GenerateEd25519KeyPair();
  EnvelopeSigner signer("onbekend", stranger.secret_key, clock_);
  auto m = signer.Sign(v1::MESSAGE_KIND_HEARTBEAT, "", "", "");
  EXPECT_THAT(verifier_.Verify(m->bytes), StatusIs(StatusCode::kUnauthenticated, "not enrolled"));
}

TEST_F(EnvelopeTest, SigningAsAnotherParticipantIsRefused) {
  // The agent's key, but the coordinator's id in the header.
  EnvelopeSigner forger("regisseur-01", agent_.secret_key, clock_);
  auto m = forger.Sign(v1::MESSAGE_KIND_FRAGMENT_REQUEST, "", "", RequestBody());
  EXPECT_THAT(verifier_.Verify(m->bytes), StatusIs(StatusCode::kUnauthenticated));
  // A genuine envelope relayed by someone other than its signer.
  SignedMessage real = SignRequest();
  EXPECT_THAT(verifier_.Verify(real.bytes, {.expected_sender = "politie-agent"}),
              StatusIs(StatusCode::kUnauthenticated, "signed by"));
}

TEST_F(EnvelopeTest, SignatureIsBoundToTheKind) {
  // Re-label a signed heartbeat as a fragment request: the kind's label is
  // part of the signing input, so the signature no longer verifies.
  auto hb = coordinator_signer_.Sign(v1::MESSAGE_KIND_HEARTBEAT, "", "", "");
  v1::Envelope env;
  ASSERT_TRUE(env.ParseFromString(hb->bytes));
  v1::Header header;
  ASSERT_TRUE(header.ParseFromString(env.header()));
  EXPECT_EQ(wire::SigningInput(v1::MESSAGE_KIND_HEARTBEAT, env.header(), env.body()).substr(0, 28),
            std::string("ketenpoort/v1/sig/heartbeat\0", 28));
  header.set_kind(v1::MESSAGE_KIND_FRAGMENT_REQUEST);
  env.set_header(header.SerializeAsString());
  EXPECT_THAT(verifier_.Verify(env.SerializeAsString()), StatusIs(StatusCode::kUnauthenticated));
  EXPECT_THAT(verifier_.Verify(hb->bytes, {.expected_kind = v1::MESSAGE_KIND_FRAGMENT_REQUEST}),
              StatusIs(StatusCode::kInvalidArgument, "expected a fragment-request"));
}

TEST_F(EnvelopeTest, ReplayIsRefused) {
  SignedMessage m = SignRequest();
  EXPECT_THAT(verifier_.Verify(m.bytes), IsOk());
  EXPECT_THAT(verifier_.Verify(m.bytes), StatusIs(StatusCode::kUnauthenticated, "replay"));
}

TEST_F(EnvelopeTest, StaleAndFutureTimestampsAreRefused) {
  SignedMessage old = SignRequest();
  clock_.Advance(60'001);
  EXPECT_THAT(verifier_.Verify(old.bytes), StatusIs(StatusCode::kUnauthenticated, "outside the allowed"));
  ManualClock ahead(kNow + 10 * 60'000);
  EnvelopeSigner future("regisseur-01", coordinator_.secret_key, ahead);
  auto m = future.Sign(v1::MESSAGE_KIND_HEARTBEAT, "", "", "");
  EXPECT_THAT(verifier_.Verify(m->bytes), StatusIs(StatusCode::kUnauthenticated, "clock"));
}

TEST_F(EnvelopeTest, SizeLimitsAreCheckedBeforeParsing) {
  EXPECT_THAT(verifier_.Verify(std::string(wire::kMaxEnvelopeBytes + 1, '\0')),
              StatusIs(StatusCode::kInvalidArgument, "exceeds the limit"));
  EXPECT_THAT(coordinator_signer_.Sign(v1::MESSAGE_KIND_HEARTBEAT, "", "", std::string(70'000, 'x')),
              StatusIs(StatusCode::kInvalidArgument, "exceeds the limit"));
  EXPECT_THAT(coordinator_signer_.Sign(v1::MESSAGE_KIND_FRAGMENT_DELIVERY, "", "", std::string(70'000, 'x')),
              IsOk());
}

TEST_F(EnvelopeTest, UnknownFieldsInTheBodyAreRefused) {
  std::string body = RequestBody() + std::string("\xf8\x07\x01", 3);  // field 127, varint 1
  v1::FragmentRequest req;
  EXPECT_THAT(ParseBody(body, req), StatusIs(StatusCode::kInvalidArgument));
}

// Key rotation (docs/formats.md §2.4): a participant with two cards in the
// registry signs with either key; a key past its card's expiry is refused.
TEST_F(EnvelopeTest, EitherKeyOfARotationVerifiesAndAnExpiredOneIsRefused) {
  Ed25519KeyPair next = GenerateEd25519KeyPair();
  StaticKeyResolver keys;
  keys.AddKey("regisseur-01", coordinator_.public_key, kNow + 1000);
  keys.AddKey("regisseur-01", next.public_key, kNow + 100'000);
  EnvelopeVerifier verifier(keys, nullptr);
  EnvelopeSigner with_next("regisseur-01", next.secret_key, clock_);
  ASSERT_OK_AND_ASSIGN(SignedMessage by_next, with_next.Sign(v1::MESSAGE_KIND_FRAGMENT_REQUEST, "", "", RequestBody()));
  EXPECT_OK(verifier.Verify(SignRequest().bytes).status());
  EXPECT_OK(verifier.Verify(by_next.bytes).status());
  // Another key of the same id is still refused.
  Ed25519KeyPair stranger = GenerateEd25519KeyPair();
  EnvelopeSigner with_stranger("regisseur-01", stranger.secret_key, clock_);
  ASSERT_OK_AND_ASSIGN(SignedMessage forged,
                       with_stranger.Sign(v1::MESSAGE_KIND_FRAGMENT_REQUEST, "", "", RequestBody()));
  EXPECT_THAT(verifier.Verify(forged.bytes), StatusIs(StatusCode::kUnauthenticated));
  // From the old card's expiry only the new key verifies; after both, none.
  clock_.Advance(1000);
  EXPECT_THAT(verifier.Verify(SignRequest().bytes), StatusIs(StatusCode::kUnauthenticated));
  ASSERT_OK_AND_ASSIGN(by_next, with_next.Sign(v1::MESSAGE_KIND_FRAGMENT_REQUEST, "", "", RequestBody()));
  EXPECT_OK(verifier.Verify(by_next.bytes).status());
  clock_.Advance(100'000);
  ASSERT_OK_AND_ASSIGN(by_next, with_next.Sign(v1::MESSAGE_KIND_FRAGMENT_REQUEST, "", "", RequestBody()));
  EXPECT_THAT(verifier.Verify(by_next.bytes), StatusIs(StatusCode::kUnauthenticated, "expired"));
}

TEST_F(EnvelopeTest, EveryKindHasABodyTypeAndALabel) {
  for (int k = v1::MessageKind_MIN + 1; k <= v1::MessageKind_MAX; ++k) {
    auto kind = static_cast<v1::MessageKind>(k);
    EXPECT_NE(NewBodyFor(kind), nullptr) << k;
    ASSERT_OK_AND_ASSIGN(v1::MessageKind parsed, ParseKindLabel(wire::KindLabel(kind)));
    EXPECT_EQ(parsed, kind);
  }
  EXPECT_EQ(NewBodyFor(v1::MESSAGE_KIND_UNSPECIFIED), nullptr);
}

// ---------------------------------------------------------------- sealing

class SealedTest : public EnvelopeTest {
 protected:
  std::string Content() {
    v1::FragmentContent c;
    c.set_case_id("VT-2026-0001");
    auto* cat = c.add_categories();
    cat->set_category("incidenten");
    auto* v = cat->add_records()->add_values();
    v->set_field("samenvatting");
    v->set_value("CANARY-fragment-content");
    return c.SerializeAsString();
  }
  SealedExpectations Want() {
    return {v1::MESSAGE_KIND_FRAGMENT_CONTENT, "regisseur-01", request_id_, "politie-agent"};
  }
  std::string request_id_ = NewMessageId();
};

TEST_F(SealedTest, OpensForTheNamedRecipientAndRequest) {
  ASSERT_OK_AND_ASSIGN(std::string sealed, SignAndSeal(agent_signer_, v1::MESSAGE_KIND_FRAGMENT_CONTENT,
                                                       "regisseur-01", coordinator_seal_.public_key,
                                                       request_id_, Content()));
  EXPECT_EQ(sealed.find("CANARY"), std::string::npos);
  ASSERT_OK_AND_ASSIGN(VerifiedEnvelope env, OpenAndVerify(coordinator_seal_, keys_, sealed, Want()));
  EXPECT_EQ(env.body, Content());
  EXPECT_EQ(env.header.request_id(), request_id_);
}

TEST_F(SealedTest, EveryFlippedBitAndTruncationIsRefused) {
  ASSERT_OK_AND_ASSIGN(std::string sealed, SignAndSeal(agent_signer_, v1::MESSAGE_KIND_FRAGMENT_CONTENT,
                                                       "regisseur-01", coordinator_seal_.public_key,
                                                       request_id_, Content()));
  for (size_t bit = 0; bit < sealed.size() * 8; ++bit) {
    std::string bad = sealed;
    bad[bit / 8] = static_cast<char>(bad[bit / 8] ^ (1 << (bit % 8)));
    EXPECT_THAT(OpenAndVerify(coordinator_seal_, keys_, bad, Want()), StatusIs(StatusCode::kUnauthenticated))
        << bit;
  }
  for (size_t len = 0; len < sealed.size(); ++len) {
    Status s = OpenAndVerify(coordinator_seal_, keys_, sealed.substr(0, len), Want()).status();
    EXPECT_TRUE(IsRefusalCode(s)) << len << ": " << s;
  }
}

TEST_F(SealedTest, ReSealingToSomeoneElseIsNoticed) {
  // The coordinator opens a fragment and re-seals the same signed inner
  // envelope to another party: its header still names regisseur-01.
  auto inner = agent_signer_.Sign(v1::MESSAGE_KIND_FRAGMENT_CONTENT, "regisseur-01", request_id_, Content());
  X25519KeyPair third = GenerateX25519KeyPair();
  ASSERT_OK_AND_ASSIGN(std::string resealed, SealTo(third.public_key, inner->bytes));
  SealedExpectations want = Want();
  want.my_id = "regisseur-02";
  EXPECT_THAT(OpenAndVerify(third, keys_, resealed, want), StatusIs(StatusCode::kUnauthenticated, "addressed to"));
}

TEST_F(SealedTest, AKeyRingOpensWithAnyOfItsPairsAndNothingElse) {
  X25519KeyPair next = GenerateX25519KeyPair();
  X25519KeyPair stranger = GenerateX25519KeyPair();
  ASSERT_OK_AND_ASSIGN(std::string sealed, SignAndSeal(agent_signer_, v1::MESSAGE_KIND_FRAGMENT_CONTENT,
                                                       "regisseur-01", next.public_key, request_id_, Content()));
  const SealedExpectations want = Want();
  EXPECT_THAT(OpenAndVerify(coordinator_seal_, keys_, sealed, want), StatusIs(StatusCode::kUnauthenticated));
  EXPECT_OK(OpenAndVerify({&coordinator_seal_, &next}, keys_, sealed, want).status());
  EXPECT_THAT(OpenAndVerify({&coordinator_seal_, &stranger}, keys_, sealed, want),
              StatusIs(StatusCode::kUnauthenticated));
  EXPECT_THAT(OpenAndVerify(std::vector<const X25519KeyPair*>{}, keys_, sealed, want),
              StatusIs(StatusCode::kUnauthenticated));
}

TEST_F(SealedTest, AnotherRequestOrSignerIsRefused) {
  ASSERT_OK_AND_ASSIGN(std::string sealed, SignAndSeal(agent_signer_, v1::MESSAGE_KIND_FRAGMENT_CONTENT,
                                                       "regisseur-01", coordinator_seal_.public_key,
                                                       request_id_, Content()));
  SealedExpectations other_request = Want();
  other_request.request_id = NewMessageId();
  EXPECT_THAT(OpenAndVerify(coordinator_seal_, keys_, sealed, other_request),
              StatusIs(StatusCode::kUnauthenticated, "another request"));
  SealedExpectations other_signer = Want();
  other_signer.expected_sender = "om-agent";
  EXPECT_THAT(OpenAndVerify(coordinator_seal_, keys_, sealed, other_signer),
              StatusIs(StatusCode::kUnauthenticated));
  EXPECT_THAT(OpenAndVerify(agent_seal_, keys_, sealed, Want()), StatusIs(StatusCode::kUnauthenticated));
}

// ------------------------------------------------------------ replay guard

TEST(ReplayGuardTest, ForgetsIdsOnlyWhenTheyWouldBeStaleAnyway) {
  ManualClock clock(kNow);
  ReplayGuard guard(clock, {.window_ms = 1000, .max_entries = 100});
  EXPECT_THAT(guard.Check("a", "id-1", kNow), IsOk());
  clock.Advance(999);
  EXPECT_THAT(guard.Check("a", "id-1", kNow), StatusIs(StatusCode::kUnauthenticated, "replay"));
  clock.Advance(2);
  EXPECT_THAT(guard.Check("b", "id-2", kNow + 1001), IsOk());
  EXPECT_EQ(guard.size(), 1u);  // id-1 left with its window
  EXPECT_THAT(guard.Check("a", "id-1", kNow), StatusIs(StatusCode::kUnauthenticated, "outside"));
}

TEST(ReplayGuardTest, SameIdFromAnotherSenderIsNotAReplay) {
  ManualClock clock(kNow);
  ReplayGuard guard(clock, {.window_ms = 1000, .max_entries = 100});
  EXPECT_THAT(guard.Check("a", "id", kNow), IsOk());
  EXPECT_THAT(guard.Check("b", "id", kNow), IsOk());
}

TEST(ReplayGuardTest, MemoryIsBoundedAndAFullTableNeverAdmitsAReplay) {
  ManualClock clock(kNow);
  ReplayGuard guard(clock, {.window_ms = 60'000, .max_entries = 10});
  for (int i = 0; i < 25; ++i) {
    EXPECT_THAT(guard.Check("a", "id-" + std::to_string(i), kNow + i), IsOk()) << i;
    EXPECT_LE(guard.size(), 10u);
  }
  // Every id seen is refused: either remembered, or below the raised floor.
  for (int i = 0; i < 25; ++i) {
    EXPECT_THAT(guard.Check("a", "id-" + std::to_string(i), kNow + i), StatusIs(StatusCode::kUnauthenticated));
  }
  EXPECT_EQ(guard.floor_ms(), kNow + 14);  // ids 0..14 were evicted
  EXPECT_THAT(guard.Check("a", "new", kNow + 100), IsOk());
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp
