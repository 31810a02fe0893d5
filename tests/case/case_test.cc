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
#include "core/base/encoding.h"
#include "core/base/file_util.h"
#include "core/crypto/sha256.h"
#include "core/identity/identity.h"
#include "policy/policy_loader.h"
#include "tests/testing/case_chain_builder.h"
#include "tests/testing/status_matchers.h"

namespace kp::cases {
namespace {

namespace v1 = ketenpoort::v1;
using ::kp::testing::CaseChainBuilder;
using ::kp::testing::IsOk;
using ::kp::testing::StatusIs;
using ::kp::testing::TestSubject;

constexpr int64_t kNow = 1795357974123;  // 2026-11-22
constexpr int64_t kDay = 86'400'000;
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
             {"politie-agent", ParticipantKind::kAgent, "politie"}}) {
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
                              {"medewerker-vt", "secretariaat"}},
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
  added.Add([&](v1::CaseCommand& c) { *c.mutable_add_subject()->mutable_subject() = testing::CommittedRef(third); });
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
  EXPECT_THAT(CheckRequestSubjects(*f, Asking({stranger})), StatusIs(StatusCode::kInvalidArgument, "no subject S9"));
  v1::Subject wrong_role = victim_;
  wrong_role.set_role(v1::SUBJECT_ROLE_HOUSEMATE);
  EXPECT_THAT(CheckRequestSubjects(*f, Asking({wrong_role})), StatusIs(StatusCode::kInvalidArgument, "another role"));
  v1::Subject no_role = victim_;
  no_role.set_role(v1::SUBJECT_ROLE_UNSPECIFIED);
  EXPECT_THAT(CheckRequestSubjects(*f, Asking({no_role})), StatusIs(StatusCode::kInvalidArgument, "has no role"));
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
    EXPECT_THAT(checker.Check(shown, HeadOf(b)), StatusIs(StatusCode::kFailedPrecondition, "left commands out"));
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
  EXPECT_THAT(CheckAsker(*policy_, *f, "regisseur-01", asker, r, kNow), StatusIs(StatusCode::kPermissionDenied, "admit"));
  r.set_source_partner("politie");
  policy::Request pr = AskPolicy(*f, r, asker, "", kNow);
  EXPECT_EQ(pr.phase, "acute-veiligheid");
  EXPECT_EQ(pr.to_role, "casusregisseur");
  EXPECT_TRUE(pr.requester_is_member);
  EXPECT_FALSE(pr.consent_recorded);
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

}  // namespace
}  // namespace kp::cases
