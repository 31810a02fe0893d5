// The case library with real keys, a real signed registry and the example
// policy: what a case command means, which may follow which, and how an
// agent catches a gateway that shows it a case history other than the one
// the coordinator signed its request on.
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <filesystem>

#include "case/case_chain.h"
#include "case/commitment.h"
#include "case/decision.h"
#include "case/referral.h"
#include "core/base/encoding.h"
#include "core/base/file_util.h"
#include "core/base/operation_counts.h"
#include "core/crypto/sha256.h"
#include "core/identity/identity.h"
#include "policy/policy_loader.h"
#include "tests/testing/case_chain_builder.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_time.h"

namespace kp::cases {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

namespace v1 = ketenpoort::v1;
using ::kp::testing::CaseChainBuilder;
using ::kp::testing::IsOk;
using ::kp::testing::StatusIs;
using ::kp::testing::TestSubject;

using test::kNow;
using test::kDay;
constexpr char kCase[] = "VT-2026-0007";
constexpr char kPurpose[] = "plan-van-aanpak";

class CaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("null"));
    ::chmod(dir_.path().c_str(), 0700);
    const std::string reg = dir_.File("registry");
    std::filesystem::create_directories(reg);
    for (auto [id, kind, partner] : std::vector<std::tuple<std::string, ParticipantKind, std::string>>{
             {"enrolment-hvb", ParticipantKind::kEnrolment, ""},
             {"regisseur-01", ParticipantKind::kCoordinator, "veiligheidsteam"},
             {"regisseur-02", ParticipantKind::kCoordinator, "veiligheidsteam"},
             {"medewerker-vt", ParticipantKind::kCoordinator, "veiligheidsteam"},
             {"politie-agent", ParticipantKind::kAgent, "politie"},
             {"vt-01", ParticipantKind::kCoordinator, "veilig-thuis"},
             {"acuut-01", ParticipantKind::kCoordinator, "politie"},
             {"wijk-01", ParticipantKind::kCoordinator, "gemeente"}}) {
      auto idn = Identity::Generate(id, kind, partner, kNow);
      ASSERT_THAT(idn, IsOk());
      if (kind != ParticipantKind::kEnrolment) {
        ASSERT_OK(WriteFileDurable(CardFilePath(reg, id), idn->MakeCard().ToYaml(), 0644,
                                   WriteMode::kCreateExclusive));
        keys_.Add(id, idn->signing().public_key);
      }
      ids_.emplace(id, std::move(idn).value());
      signers_.emplace(id, std::make_unique<EnvelopeSigner>(id, ids_.at(id).signing().secret_key, clock_));
    }
    // medewerker-vt is enrolled in a role the policy does not let coordinate.
    ASSERT_OK(Registry::Sign(reg, ids_.at("enrolment-hvb").signing().secret_key,
                             {{"regisseur-01", "casusregisseur"},
                              {"regisseur-02", "casusregisseur"},
                              {"medewerker-vt", "secretariaat"},
                              {"vt-01", "vt-medewerker"},
                              {"acuut-01", "politie-acuut"},
                              {"wijk-01", "casuscoordinator"}},
                             "hart-van-brabant", kNow));
    auto registry = Registry::Load(reg, ids_.at("enrolment-hvb").signing().public_key);
    ASSERT_THAT(registry, IsOk());
    registry_ = std::make_unique<Registry>(std::move(registry).value());
    auto policy = policy::LoadPolicyFile(testing::SourceDir() + "/policy/examples/veiligheidsteam-hvb.yaml",
                                         [](std::string_view t) { return HexEncode(Sha256String(t)); });
    ASSERT_THAT(policy, IsOk());
    policy_ = *policy;
    ctx_ = FoldContext::Of(policy_.get(), *registry_);
    victim_ = TestSubject("S1", v1::SUBJECT_ROLE_VICTIM, "999990019", "Anna Canary", "1990-01-01");
    child_ = TestSubject("S2", v1::SUBJECT_ROLE_CHILD, "999990020", "Bo Canary", "2018-05-05");
  }

  const EnvelopeSigner& Signer(const std::string& id) { return *signers_.at(id); }

  CaseChainBuilder OpenCase() {
    CaseChainBuilder b(Signer("regisseur-01"), kCase);
    b.Open(kPurpose, {victim_, child_});
    b.Admit("politie");
    return b;
  }

  Result<CaseFacts> Fold(const CaseChainBuilder& b) { return FoldVerified(ctx_, b.commands(), kCase); }

  ChainHead HeadOf(const CaseChainBuilder& b) { return {kCase, b.head(), b.length()}; }

  // A handover offer to `to`, lapsing in 7 days; stand-in until `until_ms` when not 0.
  const std::string& Offer(CaseChainBuilder& b, const std::string& to, int64_t until_ms = 0) {
    return b.Add([&](v1::CaseCommand& c) {
      auto* o = c.mutable_offer_handover();
      o->set_to(to);
      o->set_reason_code("naar-wijkteam");
      o->set_expires_at_ms(clock_.NowMillis() + 7 * kDay);
      o->set_stand_in_until_ms(until_ms);
    });
  }
  const std::string& Accept(CaseChainBuilder& b, const std::string& offer_envelope) {
    return b.Add(
        [&](v1::CaseCommand& c) { c.mutable_accept_handover()->set_offer(CommandHash(offer_envelope)); });
  }

  // Veilig Thuis' signed referral of `subjects` to the Veiligheidsteam, with a
  // (stand-in) sealed copy for each of `copies`.
  std::string Referral(const std::vector<v1::Subject>& subjects,
                       const std::vector<std::string>& copies = {"regisseur-01"},
                       const std::string& signer = "vt-01", const std::string& purpose = kPurpose) {
    v1::Referral r;
    r.set_reference("VT-MB-2026-0815");
    r.set_to_partner("veiligheidsteam");
    r.set_purpose(purpose);
    r.add_reason_codes("herhaald-geweld");
    r.add_reason_codes("kinderen-betrokken");
    for (const auto& subj : subjects) *r.add_subjects() = testing::CommittedRef(subj);
    for (const auto& c : copies) {
      auto* copy = r.add_sealed();
      copy->set_participant(c);
      copy->set_sealed("sealed subject data for " + c);
    }
    auto m = Signer(signer).Sign(v1::MESSAGE_KIND_REFERRAL, "", "", r.SerializeAsString());
    EXPECT_TRUE(m.ok());
    return m.ok() ? m->bytes : std::string();
  }
  void OpenOn(CaseChainBuilder& b, const std::string& referral, const std::vector<v1::Subject>& subjects) {
    b.Add([&](v1::CaseCommand& c) {
      c.mutable_open()->set_purpose(kPurpose);
      for (const auto& subj : subjects) *c.mutable_open()->add_subjects() = testing::CommittedRef(subj);
      c.mutable_open()->set_referral(referral);
    });
  }

  testing::TempDir dir_;
  ManualClock clock_{kNow};
  std::map<std::string, Identity> ids_;
  std::map<std::string, std::unique_ptr<EnvelopeSigner>> signers_;
  StaticKeyResolver keys_;
  std::unique_ptr<Registry> registry_;
  std::shared_ptr<const policy::Policy> policy_;
  FoldContext ctx_;
  v1::Subject victim_, child_;
};

TEST_F(CaseTest, FoldsTheCommandsIntoTheCaseFacts) {
  CaseChainBuilder b = OpenCase();
  clock_.Advance(1000);
  b.Phase("stabiele-veiligheid");
  b.Consent("S1", kPurpose, kNow + 30 * kDay);
  b.Consent("S2", kPurpose, kNow + 30 * kDay);
  b.Add([](v1::CaseCommand& c) {
    auto* g = c.mutable_gatekeeper_approval();
    g->set_source_partner("ggz");
    g->add_categories("ggz-in-zorg");
    g->set_purpose(kPurpose);
    g->set_valid_until_ms(kNow + 10 * kDay);
  });
  auto f = Fold(b);
  ASSERT_THAT(f, IsOk());
  EXPECT_EQ(f->case_id, kCase);
  EXPECT_EQ(f->coordinator, "regisseur-01");
  EXPECT_EQ(f->purpose, kPurpose);
  EXPECT_EQ(f->phase, "stabiele-veiligheid");
  EXPECT_EQ(f->phase_since_ms, kNow + 1000);
  EXPECT_EQ(f->opened_ms, kNow);
  EXPECT_TRUE(f->IsMember("politie"));
  EXPECT_FALSE(f->IsMember("ggz"));
  ASSERT_EQ(f->subjects.size(), 2u);
  EXPECT_EQ(f->Subject("S2")->role, v1::SUBJECT_ROLE_CHILD);
  EXPECT_TRUE(f->HasConsent({"S1", "S2"}, kPurpose, kNow));
  EXPECT_FALSE(f->HasConsent({"S1", "S2"}, kPurpose, kNow + 31 * kDay));  // expired by then
  EXPECT_TRUE(f->HasApproval("ggz", {"ggz-in-zorg"}, kPurpose, kNow));
  EXPECT_FALSE(f->HasApproval("ggz", {"ggz-in-zorg"}, "veiligheidstaxatie", kNow));
  EXPECT_EQ(f->length, 6u);
  EXPECT_EQ(f->head, b.head());

  auto summary = [&](size_t i) {
    return CommandSummary(ParseVerifiedCommand(b.commands()[i]).value().command);
  };
  EXPECT_EQ(summary(0), "plan-van-aanpak; S1 S2");
  EXPECT_EQ(summary(1), "politie");
  EXPECT_EQ(summary(2), "stabiele-veiligheid");
  EXPECT_EQ(summary(3), "S1 plan-van-aanpak until 2026-12-22");
  EXPECT_EQ(summary(5), "ggz ggz-in-zorg plan-van-aanpak until 2026-12-02");

  b.Withdraw("S2", kPurpose);
  b.Close();
  f = Fold(b);
  ASSERT_THAT(f, IsOk());
  EXPECT_FALSE(f->HasConsent({"S1", "S2"}, kPurpose, kNow));
  EXPECT_TRUE(f->HasConsent({"S1"}, kPurpose, kNow));
  EXPECT_TRUE(f->closed);
  EXPECT_EQ(f->phase, "gesloten");
}

TEST_F(CaseTest, OnlyARoleThePolicyLetsCoordinateOpensACase) {
  CaseChainBuilder b(Signer("medewerker-vt"), kCase);
  b.Open(kPurpose, {victim_});
  EXPECT_THAT(Fold(b), StatusIs(StatusCode::kFailedPrecondition, "may not open cases"));
  EXPECT_TRUE(MayCoordinate(*policy_, **registry_->Find("regisseur-01")));
  EXPECT_FALSE(MayCoordinate(*policy_, **registry_->Find("medewerker-vt")));
  EXPECT_FALSE(MayCoordinate(*policy_, **registry_->Find("politie-agent")));
}

TEST_F(CaseTest, AnotherCoordinatorCannotChangeTheCase) {
  CaseChainBuilder b = OpenCase();
  b.SignWith(Signer("regisseur-02"));
  b.Phase("herstel");
  EXPECT_THAT(Fold(b), StatusIs(StatusCode::kFailedPrecondition, "only the coordinator of case"));
}

TEST_F(CaseTest, CommandsMustFollowInOrder) {
  CaseChainBuilder b = OpenCase();
  // Signed on a stale head: the same previous as the admission.
  b.Add([&](v1::CaseCommand& c) {
    v1::CaseCommand open;
    c.mutable_change_phase()->set_phase("herstel");
    c.set_previous(CommandHash(b.commands()[0]));
  });
  EXPECT_THAT(Fold(b), StatusIs(StatusCode::kFailedPrecondition, "does not follow"));

  CaseChainBuilder skip = OpenCase();
  skip.Add([](v1::CaseCommand& c) {
    c.mutable_change_phase()->set_phase("herstel");
    c.set_sequence(7);
  });
  EXPECT_THAT(Fold(skip), StatusIs(StatusCode::kFailedPrecondition, "arrives where number 2 belongs"));

  CaseChainBuilder twice = OpenCase();
  twice.Add([&](v1::CaseCommand& c) {
    c.clear_case_id();
    c.mutable_open()->set_purpose(kPurpose);
    *c.mutable_open()->add_subjects() = testing::CommittedRef(victim_);
  });
  EXPECT_THAT(Fold(twice), StatusIs(StatusCode::kFailedPrecondition, "only the first command"));
}

TEST_F(CaseTest, NothingFollowsAClose) {
  CaseChainBuilder b = OpenCase();
  b.Close();
  b.Admit("om");
  EXPECT_THAT(Fold(b), StatusIs(StatusCode::kFailedPrecondition, "is closed"));
}

TEST_F(CaseTest, SubjectsNeedARoleAUniqueReferenceAndACommitment) {
  v1::Subject no_role = TestSubject("S1", v1::SUBJECT_ROLE_UNSPECIFIED, "999990019");
  CaseChainBuilder a(Signer("regisseur-01"), kCase);
  a.Add([&](v1::CaseCommand& c) {
    c.mutable_open()->set_purpose(kPurpose);
    auto* r = c.mutable_open()->add_subjects();
    r->set_ref("S1");
    r->set_commitment(std::string(32, 'x'));
  });
  EXPECT_THAT(Fold(a), StatusIs(StatusCode::kFailedPrecondition, "has no role"));

  CaseChainBuilder twice(Signer("regisseur-01"), kCase);
  twice.Open(kPurpose, {victim_, victim_});
  EXPECT_THAT(Fold(twice), StatusIs(StatusCode::kFailedPrecondition, "already has a subject S1"));

  CaseChainBuilder bare(Signer("regisseur-01"), kCase);
  bare.Add([&](v1::CaseCommand& c) {
    c.mutable_open()->set_purpose(kPurpose);
    auto* r = c.mutable_open()->add_subjects();
    r->set_ref("S1");
    r->set_role(v1::SUBJECT_ROLE_VICTIM);
  });
  EXPECT_THAT(Fold(bare), StatusIs(StatusCode::kFailedPrecondition, "without the 32-byte commitment"));

  CaseChainBuilder none(Signer("regisseur-01"), kCase);
  none.Open(kPurpose, {});
  EXPECT_THAT(Fold(none), StatusIs(StatusCode::kFailedPrecondition, "1 to 32 subjects"));

  CaseChainBuilder consent = OpenCase();
  consent.Consent("S9", kPurpose, kNow + kDay);
  EXPECT_THAT(Fold(consent), StatusIs(StatusCode::kFailedPrecondition, "has no subject S9"));

  CaseChainBuilder added = OpenCase();
  v1::Subject third = TestSubject("S3", v1::SUBJECT_ROLE_HOUSEMATE, "999990032");
  added.Add([&](v1::CaseCommand& c) {
    *c.mutable_add_subject()->mutable_subject() = testing::CommittedRef(third);
  });
  added.Consent("S3", kPurpose, kNow + kDay);
  auto f = Fold(added);
  ASSERT_THAT(f, IsOk());
  EXPECT_EQ(f->subjects.size(), 3u);
  EXPECT_TRUE(f->HasConsent({"S3"}, kPurpose, kNow));
}

TEST_F(CaseTest, TheCommitmentFormatIsFixed) {
  // Pins the bytes of protocol §3.5 so an independent implementation can
  // check itself: SHA-256 of the label, the salt and the length-prefixed
  // fields, computed here by hand.
  v1::Subject s;
  s.set_ref("S1");
  s.set_role(v1::SUBJECT_ROLE_VICTIM);
  s.set_bsn("999990019");
  s.set_name("Anna");
  s.set_date_of_birth("1990-01-01");
  s.set_salt(std::string(32, '\x01'));
  std::string input("ketenpoort/v1/subject-commitment\0", 33);
  input += std::string(32, '\x01');
  AppendLengthPrefixed(input, "S1");
  AppendU32BE(input, 1);
  AppendLengthPrefixed(input, "999990019");
  AppendLengthPrefixed(input, "Anna");
  AppendLengthPrefixed(input, "1990-01-01");
  auto c = SubjectCommitment(s);
  ASSERT_THAT(c, IsOk());
  EXPECT_EQ(HexEncode(*c), HexEncode(Sha256String(input)));
  EXPECT_EQ(HexEncode(*c), "a92b2c83071d7eeef68fcef4c412ab7e6fcd5fe6c098105672a003e206617541")
      << "the commitment of the documented example (docs/protocol.md §3.5) changed";
  s.set_salt("short");
  EXPECT_THAT(SubjectCommitment(s), StatusIs(StatusCode::kInvalidArgument, "salt"));
}

v1::FragmentRequest Asking(const std::vector<v1::Subject>& subjects) {
  v1::FragmentRequest r;
  r.set_case_id(kCase);
  r.set_source_partner("politie");
  r.add_categories("politie-incidenten");
  r.set_purpose(kPurpose);
  for (const auto& s : subjects) {
    auto* ref = r.add_subjects();
    ref->set_ref(s.ref());
    ref->set_role(s.role());
  }
  return r;
}

v1::SubjectData Sealed(const std::vector<v1::Subject>& subjects) {
  v1::SubjectData d;
  d.set_case_id(kCase);
  for (const auto& s : subjects) *d.add_subjects() = s;
  return d;
}

TEST_F(CaseTest, SealedIdentifiersMustOpenTheCasesCommitments) {
  auto f = Fold(OpenCase());
  ASSERT_THAT(f, IsOk());
  EXPECT_OK(CheckSealedSubjects(*f, Asking({victim_}), Sealed({victim_})));
  EXPECT_OK(CheckSealedSubjects(*f, Asking({victim_, child_}), Sealed({child_, victim_})));

  v1::Subject other = victim_;
  other.set_bsn("999990032");  // someone else under the victim's reference
  EXPECT_THAT(CheckSealedSubjects(*f, Asking({victim_}), Sealed({other})),
              StatusIs(StatusCode::kPermissionDenied, "not the ones the coordinator committed to"));
  v1::Subject resalted = victim_;
  resalted.set_salt(NewSubjectSalt());
  EXPECT_THAT(CheckSealedSubjects(*f, Asking({victim_}), Sealed({resalted})),
              StatusIs(StatusCode::kPermissionDenied, "committed"));
  v1::Subject stranger = TestSubject("S9", v1::SUBJECT_ROLE_VICTIM, "999990044");
  EXPECT_THAT(CheckSealedSubjects(*f, Asking({stranger}), Sealed({stranger})),
              StatusIs(StatusCode::kInvalidArgument, "has no subject S9"));
  EXPECT_THAT(CheckRequestSubjects(*f, Asking({stranger})),
              StatusIs(StatusCode::kInvalidArgument, "no subject S9"));
  v1::Subject wrong_role = victim_;
  wrong_role.set_role(v1::SUBJECT_ROLE_HOUSEMATE);
  EXPECT_THAT(CheckRequestSubjects(*f, Asking({wrong_role})),
              StatusIs(StatusCode::kInvalidArgument, "another role"));
  v1::Subject no_role = victim_;
  no_role.set_role(v1::SUBJECT_ROLE_UNSPECIFIED);
  EXPECT_THAT(CheckRequestSubjects(*f, Asking({no_role})),
              StatusIs(StatusCode::kInvalidArgument, "has no role"));
  EXPECT_THAT(CheckRequestSubjects(*f, Asking({})), StatusIs(StatusCode::kInvalidArgument, "at least one"));
  EXPECT_THAT(CheckSealedSubjects(*f, Asking({victim_, child_}), Sealed({victim_})),
              StatusIs(StatusCode::kInvalidArgument, "does not match"));
}

TEST_F(CaseTest, TheWholeChainUpToTheSignedHeadPasses) {
  CaseChainBuilder b = OpenCase();
  b.Phase("stabiele-veiligheid");
  ChainChecker checker(keys_, ctx_);
  auto f = checker.Check(b.commands(), HeadOf(b));
  ASSERT_THAT(f, IsOk());
  EXPECT_EQ(f->phase, "stabiele-veiligheid");
  EXPECT_EQ(checker.cached(), 1u);
  // The same head again is answered from what was checked.
  EXPECT_THAT(checker.Check(std::vector<std::string>{}, HeadOf(b)), IsOk());
  checker.Clear();
  EXPECT_THAT(checker.Check(std::vector<std::string>{}, HeadOf(b)),
              StatusIs(StatusCode::kFailedPrecondition, "left commands out"));
}

uint64_t Verifies() { return PublicKeyOperationCount(PublicKeyOperation::kVerify); }

// Each request of a case shows its whole history: a command is verified
// once, also across a new head and a switch of the policy or registry.
TEST_F(CaseTest, AGrowingCaseVerifiesOnlyItsNewCommands) {
  CaseChainBuilder b = OpenCase();
  ChainChecker checker(keys_, ctx_);
  uint64_t before = Verifies();
  ASSERT_THAT(checker.Check(b.commands(), HeadOf(b)), IsOk());
  EXPECT_EQ(Verifies() - before, 2u);
  EXPECT_EQ(checker.verified_commands(), 2u);
  b.Phase("stabiele-veiligheid");
  before = Verifies();
  auto f = checker.Check(b.commands(), HeadOf(b));
  ASSERT_THAT(f, IsOk());
  EXPECT_EQ(f->phase, "stabiele-veiligheid");
  EXPECT_EQ(Verifies() - before, 1u);
  checker.SetContext(ctx_);  // forgets the heads, not which signatures verified
  before = Verifies();
  EXPECT_THAT(checker.Check(b.commands(), HeadOf(b)), IsOk());
  EXPECT_EQ(Verifies() - before, 0u);
}

// A remembered verification is of exact bytes and one key: it never
// accepts what a fresh verification would refuse.
TEST_F(CaseTest, ARememberedVerificationNeverAcceptsWhatWouldBeRefused) {
  CaseChainBuilder b = OpenCase();
  b.Phase("herstel");
  VerifiedCommands verified;
  for (const auto& c : b.commands()) ASSERT_THAT(VerifyCommand(keys_, c, verified), IsOk());
  ASSERT_EQ(verified.size(), 3u);
  const std::string last = b.commands().back();
  for (size_t bit = 0; bit < last.size() * 8; ++bit) {
    std::string flipped = last;
    flipped[bit / 8] = static_cast<char>(flipped[bit / 8] ^ (1 << (bit % 8)));
    ASSERT_FALSE(VerifyCommand(keys_, flipped, verified).ok()) << "bit " << bit;
  }
  for (size_t len = 0; len < last.size(); ++len) {
    ASSERT_FALSE(VerifyCommand(keys_, last.substr(0, len), verified).ok()) << "cut at " << len;
  }
  EXPECT_EQ(verified.size(), 3u);  // no refusal was remembered

  // The same case, another phase, under the original signature.
  v1::Envelope env;
  ASSERT_TRUE(env.ParseFromString(last));
  v1::CaseCommand cmd;
  ASSERT_TRUE(cmd.ParseFromString(env.body()));
  ASSERT_EQ(cmd.case_id(), kCase);
  cmd.mutable_change_phase()->set_phase("stabiele-veiligheid");
  env.set_body(cmd.SerializeAsString());
  const std::string tampered = env.SerializeAsString();
  EXPECT_THAT(VerifyCommand(keys_, tampered, verified), StatusIs(StatusCode::kUnauthenticated));
  ChainChecker checker(keys_, ctx_);
  ASSERT_THAT(checker.Check(b.commands(), HeadOf(b)), IsOk());
  std::vector<std::string> shown = b.commands();
  shown.back() = tampered;
  EXPECT_THAT(checker.Check(shown, ChainHead{kCase, CommandHash(tampered), b.length()}),
              StatusIs(StatusCode::kUnauthenticated, "command 2 of the case does not verify"));

  // The signer's key is no longer the registry's, or has expired: refused.
  StaticKeyResolver replaced = keys_;
  replaced.Add("regisseur-01", ids_.at("regisseur-02").signing().public_key);
  EXPECT_THAT(VerifyCommand(replaced, last, verified), StatusIs(StatusCode::kUnauthenticated));
  StaticKeyResolver expired;
  expired.AddKey("regisseur-01", ids_.at("regisseur-01").signing().public_key, kNow - 1);
  EXPECT_THAT(VerifyCommand(expired, last, verified), StatusIs(StatusCode::kUnauthenticated));
  // With the key in force it is still accepted, without verifying again.
  const uint64_t before = Verifies();
  EXPECT_THAT(VerifyCommand(keys_, last, verified), IsOk());
  EXPECT_EQ(Verifies() - before, 0u);
}

TEST_F(CaseTest, RememberedVerificationsAreBounded) {
  CaseChainBuilder b = OpenCase();
  b.Phase("herstel");
  VerifiedCommands verified(2);
  for (const auto& c : b.commands()) ASSERT_THAT(VerifyCommand(keys_, c, verified), IsOk());
  EXPECT_EQ(verified.size(), 2u);
  EXPECT_EQ(verified.KeyOf(CommandHash(b.commands()[0])), nullptr);  // the oldest went
  ASSERT_NE(verified.KeyOf(CommandHash(b.commands()[2])), nullptr);
  EXPECT_EQ(*verified.KeyOf(CommandHash(b.commands()[2])), ids_.at("regisseur-01").signing().public_key);
}

// A gateway that withholds the newest command (a phase change, a closure, a
// consent withdrawal) shows a chain that stops short of the head the
// coordinator signed.
TEST_F(CaseTest, AWithheldLastCommandIsCaught) {
  for (const std::string what : {"phase", "close", "withdraw"}) {
    SCOPED_TRACE(what);
    CaseChainBuilder b = OpenCase();
    b.Consent("S1", kPurpose, kNow + kDay);
    if (what == "phase") b.Phase("herstel");
    if (what == "close") b.Close();
    if (what == "withdraw") b.Withdraw("S1", kPurpose);
    std::vector<std::string> shown(b.commands().begin(), b.commands().end() - 1);
    ChainChecker checker(keys_, ctx_);
    EXPECT_THAT(checker.Check(shown, HeadOf(b)),
                StatusIs(StatusCode::kFailedPrecondition, "left commands out"));
    // Nor can it pass the shorter chain off as complete by lying about the length.
    ChainHead lie = HeadOf(b);
    lie.length -= 1;
    EXPECT_THAT(checker.Check(shown, lie), StatusIs(StatusCode::kFailedPrecondition, "does not end at"));
  }
}

TEST_F(CaseTest, AWithheldCommandInTheMiddleIsCaught) {
  CaseChainBuilder b = OpenCase();
  b.Consent("S1", kPurpose, kNow + kDay);
  b.Withdraw("S1", kPurpose);
  b.Phase("herstel");
  std::vector<std::string> shown = b.commands();
  shown.erase(shown.begin() + 3);  // the withdrawal
  shown.push_back(b.commands().back());
  ChainChecker checker(keys_, ctx_);
  EXPECT_THAT(checker.Check(shown, HeadOf(b)), StatusIs(StatusCode::kInvalidArgument, "cannot follow"));
  std::vector<std::string> swapped = b.commands();
  std::swap(swapped[2], swapped[3]);
  EXPECT_THAT(checker.Check(swapped, HeadOf(b)), StatusIs(StatusCode::kInvalidArgument, "cannot follow"));
}

TEST_F(CaseTest, EveryFlippedBitOrTruncationOfACommandIsRefused) {
  CaseChainBuilder b = OpenCase();
  b.Phase("herstel");
  const ChainHead want = HeadOf(b);
  for (size_t which = 0; which < b.commands().size(); ++which) {
    const std::string& original = b.commands()[which];
    for (size_t bit = 0; bit < original.size() * 8; ++bit) {
      std::vector<std::string> shown = b.commands();
      shown[which][bit / 8] = static_cast<char>(shown[which][bit / 8] ^ (1 << (bit % 8)));
      ChainChecker checker(keys_, ctx_);
      ASSERT_FALSE(checker.Check(shown, want).ok()) << "command " << which << " bit " << bit;
    }
    for (size_t len = 0; len < original.size(); ++len) {
      std::vector<std::string> shown = b.commands();
      shown[which].resize(len);
      ChainChecker checker(keys_, ctx_);
      ASSERT_FALSE(checker.Check(shown, want).ok()) << "command " << which << " cut at " << len;
    }
  }
  ChainChecker checker(keys_, ctx_);
  EXPECT_THAT(checker.Check(b.commands(), want), IsOk());
}

TEST_F(CaseTest, ACommandSignedByAnyoneElseIsRefused) {
  CaseChainBuilder b = OpenCase();
  b.SignWith(Signer("regisseur-02"));
  b.Phase("herstel");
  ChainChecker checker(keys_, ctx_);
  EXPECT_THAT(checker.Check(b.commands(), HeadOf(b)), StatusIs(StatusCode::kPermissionDenied, "command 2"));
}

TEST_F(CaseTest, TheDecisionRestsOnTheFoldedFacts) {
  CaseChainBuilder b = OpenCase();
  auto f = Fold(b);
  ASSERT_THAT(f, IsOk());
  const RegistryEntry& asker = **registry_->Find("regisseur-01");
  v1::FragmentRequest r = Asking({victim_});
  EXPECT_OK(CheckAsker(*policy_, *f, "regisseur-01", asker, r, kNow));
  EXPECT_THAT(CheckAsker(*policy_, *f, "regisseur-02", **registry_->Find("regisseur-02"), r, kNow),
              StatusIs(StatusCode::kPermissionDenied, "do not coordinate"));
  r.set_source_partner("ggz");
  EXPECT_THAT(CheckAsker(*policy_, *f, "regisseur-01", asker, r, kNow),
              StatusIs(StatusCode::kPermissionDenied, "admit"));
  r.set_source_partner("politie");
  policy::Request pr = AskPolicy(*f, r, asker, policy::Justification::kNone, kNow);
  EXPECT_EQ(pr.phase, "acute-veiligheid");
  EXPECT_EQ(pr.to_role, "casusregisseur");
  EXPECT_TRUE(pr.requester_is_member);
  EXPECT_FALSE(policy_->ConsentHolds(pr, false, nullptr));
  policy::Decision d = policy_->Decide(pr);
  ASSERT_EQ(d.effect, policy::Effect::kPermit) << d.reason;
  v1::Decision wire;
  ToWire(d, &wire);
  EXPECT_EQ(wire.effect(), v1::EFFECT_PERMIT);
  EXPECT_EQ(wire.legal_basis(), JoinLegalBases(d));
  v1::AuditRecord rec;
  ToAudit(d, &rec);
  EXPECT_EQ(rec.decision().verdict(), v1::AUDIT_VERDICT_PERMIT);
  EXPECT_FALSE(rec.decision().obligations().allowed_fields().empty());
}

// --- issue 14: handovers, stand-ins, acute cases, referrals, a living case ---

TEST_F(CaseTest, AHandoverIsAnOfferAndAnAcceptanceAfterWhichOnlyTheNewCoordinatorActs) {
  CaseChainBuilder b = OpenCase();
  b.Phase("risicogestuurde-zorg");
  clock_.Advance(kDay);
  const std::string offer = Offer(b, "wijk-01");
  auto f = Fold(b);
  ASSERT_THAT(f, IsOk());
  EXPECT_EQ(f->coordinator, "regisseur-01");  // not yet
  ASSERT_NE(f->PendingOfferAt(kNow + kDay), nullptr);
  EXPECT_EQ(f->PendingOfferAt(kNow + kDay)->to, "wijk-01");
  EXPECT_EQ(f->PendingOfferAt(kNow + 9 * kDay), nullptr);  // lapsed by then

  clock_.Advance(3600'000);
  b.SignWith(Signer("wijk-01"));
  Accept(b, offer);
  f = Fold(b);
  ASSERT_THAT(f, IsOk());
  EXPECT_EQ(f->coordinator, "wijk-01");
  EXPECT_EQ(f->coordinator_since_ms, kNow + kDay + 3600'000);
  ASSERT_EQ(f->handovers.size(), 1u);
  EXPECT_EQ(f->handovers[0].from, "regisseur-01");
  EXPECT_EQ(f->handovers[0].to, "wijk-01");
  EXPECT_EQ(f->handovers[0].reason, "naar-wijkteam");
  EXPECT_EQ(f->handovers[0].offered_ms, kNow + kDay);
  EXPECT_FALSE(f->offer.has_value());
  EXPECT_EQ(CommandSummary(ParseVerifiedCommand(offer).value().command),
            "to wijk-01 (naar-wijkteam), offer open until 2026-11-30");

  // The former coordinator can no longer change the case; the new one can.
  CaseChainBuilder old = b;
  old.SignWith(Signer("regisseur-01"));
  old.Phase("herstel");
  EXPECT_THAT(Fold(old), StatusIs(StatusCode::kFailedPrecondition, "only the coordinator of case"));
  b.Phase("herstel");
  EXPECT_THAT(Fold(b), IsOk());

  v1::FragmentRequest r = Asking({victim_});
  f = Fold(b);
  EXPECT_THAT(CheckAsker(*policy_, *f, "regisseur-01", **registry_->Find("regisseur-01"), r, kNow + 2 * kDay),
              StatusIs(StatusCode::kPermissionDenied, "(wijk-01 does)"));
  EXPECT_OK(CheckAsker(*policy_, *f, "wijk-01", **registry_->Find("wijk-01"), r, kNow + 2 * kDay));
  // The wijkteam's coordination lasts at most 548 days.
  EXPECT_THAT(CheckAsker(*policy_, *f, "wijk-01", **registry_->Find("wijk-01"), r, kNow + 550 * kDay),
              StatusIs(StatusCode::kFailedPrecondition, "your coordination of case VT-2026-0007"));
  v1::CaseStatus st = CaseStatusAt(*policy_, ctx_, *f, kNow + 2 * kDay);
  EXPECT_EQ(st.coordinator(), "wijk-01");
  EXPECT_EQ(st.coordination_ends_ms(), kNow + kDay + 3600'000 + 548 * kDay);
  EXPECT_EQ(st.phase(), "herstel");
}

TEST_F(CaseTest, AHandoverGoesOnlyToWhomThePolicyLetsCoordinateAndOnlyTheOfferedAccepts) {
  for (const char* to : {"medewerker-vt", "politie-agent", "acuut-01", "regisseur-01", "nobody"}) {
    CaseChainBuilder b = OpenCase();
    Offer(b, to);
    EXPECT_THAT(Fold(b), StatusIs(StatusCode::kFailedPrecondition)) << to;
  }
  CaseChainBuilder b = OpenCase();
  const std::string offer = Offer(b, "wijk-01");
  CaseChainBuilder other = b;
  other.SignWith(Signer("regisseur-02"));
  Accept(other, offer);
  EXPECT_THAT(Fold(other),
              StatusIs(StatusCode::kFailedPrecondition, "is offered to wijk-01, not to regisseur-02"));

  CaseChainBuilder wrong = b;
  wrong.SignWith(Signer("wijk-01"));
  Accept(wrong, b.commands()[0]);
  EXPECT_THAT(Fold(wrong), StatusIs(StatusCode::kFailedPrecondition, "another handover offer"));

  CaseChainBuilder late = b;
  clock_.Advance(8 * kDay);
  late.SignWith(Signer("wijk-01"));
  Accept(late, offer);
  EXPECT_THAT(Fold(late), StatusIs(StatusCode::kFailedPrecondition, "lapsed"));
  clock_.Advance(-8 * kDay);

  CaseChainBuilder cancelled = b;
  cancelled.Add([](v1::CaseCommand& c) { c.mutable_cancel_handover()->set_reason_code("toch-niet"); });
  ASSERT_THAT(Fold(cancelled), IsOk());
  cancelled.SignWith(Signer("wijk-01"));
  Accept(cancelled, offer);
  EXPECT_THAT(Fold(cancelled), StatusIs(StatusCode::kFailedPrecondition, "no handover offer to accept"));

  CaseChainBuilder free_text = OpenCase();
  free_text.Add([&](v1::CaseCommand& c) {
    c.mutable_offer_handover()->set_to("wijk-01");
    c.mutable_offer_handover()->set_reason_code("Anna moved to Tilburg");
    c.mutable_offer_handover()->set_expires_at_ms(kNow + kDay);
  });
  EXPECT_THAT(Fold(free_text), StatusIs(StatusCode::kFailedPrecondition, "never free text"));

  CaseChainBuilder too_long = OpenCase();
  too_long.Add([&](v1::CaseCommand& c) {
    c.mutable_offer_handover()->set_to("wijk-01");
    c.mutable_offer_handover()->set_reason_code("naar-wijkteam");
    c.mutable_offer_handover()->set_expires_at_ms(kNow + 31 * kDay);
  });
  EXPECT_THAT(Fold(too_long), StatusIs(StatusCode::kFailedPrecondition, "within 30 days"));
}

TEST_F(CaseTest, AStandInGivesTheCaseBackByItself) {
  CaseChainBuilder b = OpenCase();
  const std::string offer = Offer(b, "regisseur-02", kNow + 14 * kDay);
  b.SignWith(Signer("regisseur-02"));
  Accept(b, offer);
  auto f = Fold(b);
  ASSERT_THAT(f, IsOk());
  EXPECT_EQ(f->CoordinatorAt(kNow + kDay), "regisseur-02");
  EXPECT_EQ(f->CoordinatorAt(kNow + 14 * kDay), "regisseur-01");
  EXPECT_EQ(f->stand_in_for, "regisseur-01");

  // During the stand-in only the stand-in acts; the stand-in cannot pass it on.
  CaseChainBuilder during = b;
  during.SignWith(Signer("regisseur-01"));
  during.Phase("herstel");
  EXPECT_THAT(Fold(during), StatusIs(StatusCode::kFailedPrecondition, "only the coordinator"));
  CaseChainBuilder pass_on = b;
  Offer(pass_on, "wijk-01");
  EXPECT_THAT(Fold(pass_on), StatusIs(StatusCode::kFailedPrecondition, "can only give the case back"));

  // After its end the case is back, without a command.
  clock_.Advance(15 * kDay);
  CaseChainBuilder after = b;
  after.Phase("herstel");
  EXPECT_THAT(Fold(after), StatusIs(StatusCode::kFailedPrecondition,
                                    "only the coordinator of case VT-2026-0007 (regisseur-01)"));
  b.SignWith(Signer("regisseur-01"));
  b.Phase("herstel");
  f = Fold(b);
  ASSERT_THAT(f, IsOk());
  EXPECT_EQ(f->coordinator, "regisseur-01");
  EXPECT_TRUE(f->stand_in_for.empty());
  ASSERT_EQ(f->handovers.size(), 2u);
  EXPECT_EQ(f->handovers[1].reason, "einde-waarneming");
  EXPECT_EQ(f->handovers[1].from, "regisseur-02");
}

TEST_F(CaseTest, AnAcuteCaseOpensWithItsPartnersAndEndsItsWindowWithAHandover) {
  CaseChainBuilder b(Signer("acuut-01"), kCase);
  b.Add([&](v1::CaseCommand& c) {
    c.mutable_open()->set_purpose("acuut-gevaar-afwenden");
    c.mutable_open()->set_acute(true);
    *c.mutable_open()->add_subjects() = testing::CommittedRef(victim_);
  });
  auto f = Fold(b);
  ASSERT_THAT(f, IsOk());
  EXPECT_TRUE(f->acute);
  EXPECT_EQ(f->phase, "acute-veiligheid");
  EXPECT_EQ(f->acute_until_ms, kNow + 72 * 3600'000LL);
  EXPECT_TRUE(f->IsMember("politie"));
  EXPECT_TRUE(f->IsMember("veilig-thuis"));
  EXPECT_TRUE(f->IsMember("cit"));
  EXPECT_EQ(CommandSummary(ParseVerifiedCommand(b.commands()[0]).value().command),
            "acuut-gevaar-afwenden; S1; acute");

  v1::FragmentRequest r = Asking({victim_});
  r.set_source_partner("veilig-thuis");
  const RegistryEntry& police = **registry_->Find("acuut-01");
  EXPECT_OK(CheckAsker(*policy_, *f, "acuut-01", police, r, kNow + 3600'000));
  EXPECT_THAT(
      CheckAsker(*policy_, *f, "acuut-01", police, r, kNow + 73 * 3600'000LL),
      StatusIs(StatusCode::kFailedPrecondition,
               "the acute window of case VT-2026-0007 ended on 2026-11-25T14:32:54Z without a handover to "
               "veilig-thuis or veiligheidsteam"));
  EXPECT_EQ(CaseStatusAt(*policy_, ctx_, *f, kNow).acute_until_ms(), kNow + 72 * 3600'000LL);

  // Only a role marked acute opens one; a handover goes to Veilig Thuis or the Veiligheidsteam.
  CaseChainBuilder not_acute(Signer("regisseur-01"), kCase);
  not_acute.Add([&](v1::CaseCommand& c) {
    c.mutable_open()->set_purpose("acuut-gevaar-afwenden");
    c.mutable_open()->set_acute(true);
    *c.mutable_open()->add_subjects() = testing::CommittedRef(victim_);
  });
  EXPECT_THAT(Fold(not_acute), StatusIs(StatusCode::kFailedPrecondition, "may not open acute cases"));
  CaseChainBuilder police_opens_normal(Signer("acuut-01"), kCase);
  police_opens_normal.Open(kPurpose, {victim_});
  EXPECT_THAT(Fold(police_opens_normal), StatusIs(StatusCode::kFailedPrecondition, "may not open cases"));
  CaseChainBuilder to_wijk = b;
  Offer(to_wijk, "wijk-01");
  EXPECT_THAT(Fold(to_wijk), StatusIs(StatusCode::kFailedPrecondition,
                                      "handed over to a coordinator of veilig-thuis or veiligheidsteam"));

  // The next morning: handed over to Veilig Thuis, whose coordinator may ask after the window.
  clock_.Advance(10 * 3600'000LL);
  const std::string offer = Offer(b, "vt-01");
  b.SignWith(Signer("vt-01"));
  Accept(b, offer);
  f = Fold(b);
  ASSERT_THAT(f, IsOk());
  EXPECT_EQ(f->coordinator, "vt-01");
  EXPECT_EQ(f->acute_until_ms, 0);
  EXPECT_EQ(f->acute_handed_over_ms, kNow + 10 * 3600'000LL);
  EXPECT_FALSE(f->AcuteWindowOver(kNow + 100 * 3600'000LL));
  r.set_source_partner("politie");
  EXPECT_OK(CheckAsker(*policy_, *f, "vt-01", **registry_->Find("vt-01"), r, kNow + 100 * 3600'000LL));
  EXPECT_EQ(CaseStatusAt(*policy_, ctx_, *f, kNow).acute_until_ms(), 0);
}

TEST_F(CaseTest, ACaseOpensOnAReferralWithItsSubjectsAndTheReferrerAdmitted) {
  const std::string referral = Referral({victim_, child_}, {"regisseur-01", "regisseur-02"});
  auto verified = VerifyReferral(referral, ctx_);
  ASSERT_THAT(verified, IsOk());
  EXPECT_EQ(verified->sender, "vt-01");
  EXPECT_EQ(verified->sender_partner, "veilig-thuis");
  EXPECT_EQ(verified->referral.reference(), "VT-MB-2026-0815");

  CaseChainBuilder b(Signer("regisseur-02"), kCase);
  OpenOn(b, referral, {victim_, child_});
  auto f = Fold(b);
  ASSERT_THAT(f, IsOk());
  EXPECT_EQ(f->referral_reference, "VT-MB-2026-0815");
  EXPECT_EQ(f->referred_by, "vt-01");
  EXPECT_EQ(f->referral_id, verified->id);
  EXPECT_TRUE(f->IsMember("veilig-thuis"));
  EXPECT_EQ(f->subjects.size(), 2u);
  EXPECT_EQ(CommandSummary(ParseVerifiedCommand(b.commands()[0]).value().command),
            "plan-van-aanpak; S1 S2; on a referral");

  // Exactly the referral's subjects, its purpose, and a copy for the opener.
  CaseChainBuilder fewer(Signer("regisseur-01"), kCase);
  OpenOn(fewer, referral, {victim_});
  EXPECT_THAT(Fold(fewer), StatusIs(StatusCode::kFailedPrecondition, "exactly the referral's subjects"));
  v1::Subject other_salt = child_;
  other_salt.set_salt(NewSubjectSalt());
  CaseChainBuilder swapped(Signer("regisseur-01"), kCase);
  OpenOn(swapped, referral, {victim_, other_salt});
  EXPECT_THAT(Fold(swapped), StatusIs(StatusCode::kFailedPrecondition, "exactly the referral's subjects"));
  CaseChainBuilder not_for_me(Signer("regisseur-01"), kCase);
  OpenOn(not_for_me, Referral({victim_}, {"regisseur-02"}), {victim_});
  EXPECT_THAT(Fold(not_for_me), StatusIs(StatusCode::kFailedPrecondition, "not sent to regisseur-01"));
  CaseChainBuilder other_purpose(Signer("regisseur-01"), kCase);
  OpenOn(other_purpose, Referral({victim_}, {"regisseur-01"}, "vt-01", "veiligheidstaxatie"), {victim_});
  EXPECT_THAT(Fold(other_purpose), StatusIs(StatusCode::kFailedPrecondition, "the referral's purpose"));
  // Only a role with refers_to refers.
  EXPECT_THAT(VerifyReferral(Referral({victim_}, {"regisseur-01"}, "regisseur-02"), ctx_),
              StatusIs(StatusCode::kPermissionDenied, "may not refer families to veiligheidsteam"));
  CaseChainBuilder by_coordinator(Signer("regisseur-01"), kCase);
  OpenOn(by_coordinator, Referral({victim_}, {"regisseur-01"}, "regisseur-02"), {victim_});
  EXPECT_THAT(Fold(by_coordinator), StatusIs(StatusCode::kFailedPrecondition, "may not refer"));
}

TEST_F(CaseTest, AMalformedReferralIsRefusedWithAReason) {
  auto bad = [&](const std::function<void(v1::Referral&)>& change) {
    v1::Referral r;
    r.set_reference("VT-MB-2026-0815");
    r.set_to_partner("veiligheidsteam");
    r.set_purpose(kPurpose);
    r.add_reason_codes("herhaald-geweld");
    *r.add_subjects() = testing::CommittedRef(victim_);
    r.add_sealed()->set_participant("regisseur-01");
    r.mutable_sealed(0)->set_sealed("x");
    change(r);
    return VerifyReferral(
        Signer("vt-01").Sign(v1::MESSAGE_KIND_REFERRAL, "", "", r.SerializeAsString())->bytes, ctx_);
  };
  EXPECT_OK(bad([](v1::Referral&) {}));
  EXPECT_THAT(bad([](v1::Referral& r) { r.set_reference("Anna de Vries"); }),
              StatusIs(StatusCode::kInvalidArgument, "reference"));
  EXPECT_THAT(bad([](v1::Referral& r) { r.clear_reason_codes(); }),
              StatusIs(StatusCode::kInvalidArgument, "reason"));
  EXPECT_THAT(bad([](v1::Referral& r) { r.add_reason_codes("zomaar"); }),
              StatusIs(StatusCode::kInvalidArgument, "not one of the policy's referral reasons"));
  EXPECT_THAT(bad([](v1::Referral& r) { r.add_reason_codes("herhaald-geweld"); }),
              StatusIs(StatusCode::kInvalidArgument, "twice"));
  EXPECT_THAT(bad([](v1::Referral& r) { r.clear_subjects(); }),
              StatusIs(StatusCode::kInvalidArgument, "subjects"));
  EXPECT_THAT(bad([](v1::Referral& r) { r.mutable_subjects(0)->clear_commitment(); }),
              StatusIs(StatusCode::kInvalidArgument, "commitment"));
  EXPECT_THAT(bad([](v1::Referral& r) { r.clear_sealed(); }),
              StatusIs(StatusCode::kInvalidArgument, "sealed"));
  EXPECT_THAT(bad([](v1::Referral& r) { r.set_to_partner("buurtvereniging"); }),
              StatusIs(StatusCode::kInvalidArgument, "not a partner"));
  EXPECT_THAT(bad([](v1::Referral& r) { r.set_purpose("nieuwsgierigheid"); }),
              StatusIs(StatusCode::kInvalidArgument, "purpose"));
  // A command envelope is not a referral, even when validly signed.
  EXPECT_THAT(VerifyReferral(OpenCase().commands()[0], ctx_), StatusIs(StatusCode::kUnauthenticated));
}

TEST_F(CaseTest, EveryFlippedBitOrTruncationOfAReferralIsRefused) {
  const std::string referral = Referral({victim_});
  ASSERT_THAT(VerifyReferral(referral, ctx_), IsOk());
  for (size_t i = 0; i < referral.size() * 8; ++i) {
    std::string t = referral;
    t[i / 8] = static_cast<char>(t[i / 8] ^ (1 << (i % 8)));
    EXPECT_FALSE(VerifyReferral(t, ctx_).ok()) << "bit " << i;
  }
  for (size_t n = 0; n < referral.size(); ++n) {
    EXPECT_FALSE(VerifyReferral(referral.substr(0, n), ctx_).ok()) << "length " << n;
  }
}

TEST_F(CaseTest, APartnerLeavesTheCaseAndPhasesRecordWhenTheyBegan) {
  CaseChainBuilder b = OpenCase();
  clock_.Advance(kDay);
  b.Phase("stabiele-veiligheid");
  clock_.Advance(kDay);
  b.Add([](v1::CaseCommand& c) {
    c.mutable_remove_partner()->set_partner("politie");
    c.mutable_remove_partner()->set_reason_code("geen-rol-meer");
  });
  auto f = Fold(b);
  ASSERT_THAT(f, IsOk());
  EXPECT_FALSE(f->IsMember("politie"));
  EXPECT_EQ(f->removed.at("politie"), kNow + 2 * kDay);
  ASSERT_EQ(f->phases.size(), 2u);
  EXPECT_EQ(f->phases[0].phase, "acute-veiligheid");
  EXPECT_EQ(f->phases[0].since_ms, kNow);
  EXPECT_EQ(f->phases[1].phase, "stabiele-veiligheid");
  EXPECT_EQ(f->phases[1].since_ms, kNow + kDay);
  v1::FragmentRequest r = Asking({victim_});
  EXPECT_THAT(CheckAsker(*policy_, *f, "regisseur-01", **registry_->Find("regisseur-01"), r, kNow + 3 * kDay),
              StatusIs(StatusCode::kPermissionDenied, "it was removed"));
  CaseChainBuilder again = b;
  again.Add([](v1::CaseCommand& c) {
    c.mutable_remove_partner()->set_partner("politie");
    c.mutable_remove_partner()->set_reason_code("geen-rol-meer");
  });
  EXPECT_THAT(Fold(again), StatusIs(StatusCode::kFailedPrecondition, "is not admitted"));
  b.Admit("politie");
  f = Fold(b);
  ASSERT_THAT(f, IsOk());
  EXPECT_TRUE(f->IsMember("politie"));
  EXPECT_EQ(f->removed.count("politie"), 0u);
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp::cases
