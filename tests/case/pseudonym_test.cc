// The region's pseudonym key file (case/pseudonym.h): written 0600 and never
// over an existing file, refused when group or others may read it, and a
// damaged file (every bit flipped, every length cut) either refused with a
// clear message or, when only a comment was hit, the very same key. The
// client's side (SubjectPseudonyms, AddPseudonyms) and the copying side
// (CopySubjects: only what has a pseudonym's shape, a few per subject).
#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "case/pseudonym.h"
#include "core/base/file_util.h"
#include "tests/testing/status_matchers.h"

namespace kp::cases {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

namespace v1 = ketenpoort::v1;
using ::testing::HasSubstr;
using testing::IsOk;
using testing::TempDir;

constexpr int64_t kCreatedMs = 1795357974123;

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteRaw(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  ::chmod(path.c_str(), 0600);
}

v1::Subject Person(const std::string& ref, const std::string& bsn, const std::string& name, const std::string& dob) {
  v1::Subject s;
  s.set_ref(ref);
  s.set_role(v1::SUBJECT_ROLE_VICTIM);
  s.set_bsn(bsn);
  s.set_name(name);
  s.set_date_of_birth(dob);
  return s;
}

class PseudonymKeyFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(key_, GeneratePseudonymKey("hvb-2026-1", kCreatedMs));
    path_ = dir_.File("region.pseudonym-key");
    ASSERT_OK(WritePseudonymKeyFile(key_, path_));
    original_ = Slurp(path_);
  }

  TempDir dir_;
  PseudonymKey key_;
  std::string path_;
  std::string original_;
};

TEST_F(PseudonymKeyFileTest, WrittenPrivateAndReadBack) {
  struct stat st{};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_OK_AND_ASSIGN(PseudonymKey back, LoadPseudonymKeyFile(path_));
  EXPECT_EQ(back.id, "hvb-2026-1");
  EXPECT_EQ(back.created_ms, kCreatedMs);
  EXPECT_EQ(back.key.view(), key_.key.view());
  EXPECT_THAT(original_, HasSubstr("check: " + PseudonymKeyCheck(key_) + "\n"));
  // The same key, the same pseudonyms.
  const auto p1 = Pseudonym(key_, v1::PSEUDONYM_BASIS_BSN, "999990019");
  const auto p2 = Pseudonym(back, v1::PSEUDONYM_BASIS_BSN, "999990019");
  EXPECT_EQ(p1.value(), p2.value());
  EXPECT_EQ(p1.value().size(), kPseudonymBytes);
}

TEST_F(PseudonymKeyFileTest, NeverOverwritten) {
  ASSERT_OK_AND_ASSIGN(PseudonymKey other, GeneratePseudonymKey("hvb-2027-1", kCreatedMs));
  EXPECT_FALSE(WritePseudonymKeyFile(other, path_).ok());
  EXPECT_EQ(Slurp(path_), original_);
}

TEST_F(PseudonymKeyFileTest, RefusedWhenOthersMayReadIt) {
  ASSERT_EQ(::chmod(path_.c_str(), 0644), 0);
  auto got = LoadPseudonymKeyFile(path_);
  ASSERT_FALSE(got.ok());
  EXPECT_THAT(got.status().message(), HasSubstr(path_));
}

TEST_F(PseudonymKeyFileTest, RefusedWhenNotAKeyFile) {
  const std::string other = dir_.File("identity.secret");
  WriteRaw(other, "kind: ketenpoort-identity\nid: regisseur-01\n");
  auto got = LoadPseudonymKeyFile(other);
  ASSERT_FALSE(got.ok());
  EXPECT_THAT(got.status().message(), HasSubstr("not a Ketenpoort pseudonym key file"));
  EXPECT_FALSE(LoadPseudonymKeyFile(dir_.File("missing")).ok());
}

TEST_F(PseudonymKeyFileTest, AnotherKeyUnderTheSameIdIsRefused) {
  // The key line of a second key under the same id: its check does not match.
  ASSERT_OK_AND_ASSIGN(PseudonymKey other, GeneratePseudonymKey("hvb-2026-1", kCreatedMs));
  const std::string other_path = dir_.File("other.pseudonym-key");
  ASSERT_OK(WritePseudonymKeyFile(other, other_path));
  const std::string theirs = Slurp(other_path);
  auto key_line = [](const std::string& t) {
    const size_t at = t.find("\nkey: ");
    return t.substr(at, t.find('\n', at + 1) - at);
  };
  std::string mixed = original_;
  mixed.replace(mixed.find(key_line(original_)), key_line(original_).size(), key_line(theirs));
  WriteRaw(path_, mixed);
  auto got = LoadPseudonymKeyFile(path_);
  ASSERT_FALSE(got.ok());
  EXPECT_THAT(got.status().message(), HasSubstr("check value does not match"));
}

TEST_F(PseudonymKeyFileTest, EveryFlippedBitRefusedOrHarmless) {
  size_t refused = 0, harmless = 0;
  // Every bit from the first field on; in the two comment lines above it
  // every 16th byte (they are free text: a flip there is always harmless).
  const size_t fields = original_.find("kind: ");
  ASSERT_NE(fields, std::string::npos);
  for (size_t i = 0; i < original_.size(); i += (i < fields ? 16 : 1)) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string damaged = original_;
      damaged[i] = static_cast<char>(damaged[i] ^ (1 << bit));
      WriteRaw(path_, damaged);
      auto got = LoadPseudonymKeyFile(path_);
      if (!got.ok()) {
        ++refused;
        EXPECT_THAT(got.status().message(), HasSubstr(path_)) << "byte " << i << " bit " << bit;
        continue;
      }
      // Loaded: then it is exactly the key that was written (a comment or
      // trailing space was hit), never another key under its id.
      ++harmless;
      EXPECT_EQ(got->id, key_.id) << "byte " << i << " bit " << bit;
      EXPECT_EQ(got->created_ms, key_.created_ms) << "byte " << i << " bit " << bit;
      EXPECT_EQ(got->key.view(), key_.key.view()) << "byte " << i << " bit " << bit;
    }
  }
  EXPECT_GT(refused, 0u);
  EXPECT_GT(harmless, 0u);  // the comment lines
}

TEST_F(PseudonymKeyFileTest, EveryCutRefusedOrWhole) {
  for (size_t n = 0; n < original_.size(); ++n) {
    WriteRaw(path_, original_.substr(0, n));
    auto got = LoadPseudonymKeyFile(path_);
    if (!got.ok()) {
      EXPECT_THAT(got.status().message(), HasSubstr(path_)) << "cut at " << n;
      continue;
    }
    // Only the final newline may go.
    EXPECT_EQ(n, original_.size() - 1);
    EXPECT_EQ(got->key.view(), key_.key.view());
  }
}

TEST(SubjectPseudonymTest, SubjectsGetOnePerBasisTheyHaveDataFor) {
  ASSERT_OK_AND_ASSIGN(PseudonymKey key, GeneratePseudonymKey("hvb-2026-1", kCreatedMs));
  const auto both = SubjectPseudonyms(key, Person("S1", "999990019", "Demi  de Voorbeeld", "1990-01-01"));
  ASSERT_EQ(both.size(), 2u);
  EXPECT_EQ(both[0].basis(), v1::PSEUDONYM_BASIS_BSN);
  EXPECT_EQ(both[1].basis(), v1::PSEUDONYM_BASIS_NAME_AND_BIRTH_DATE);
  EXPECT_EQ(both[0].key_id(), "hvb-2026-1");
  // Canonical: spacing and case of the name, an 8-digit BSN, do not matter.
  const auto again = SubjectPseudonyms(key, Person("S9", "99999.0019", "demi de voorbeeld ", "1990-01-01"));
  ASSERT_EQ(again.size(), 2u);
  EXPECT_EQ(again[0].value(), both[0].value());
  EXPECT_EQ(again[1].value(), both[1].value());
  // Neither the BSN nor the name appears in a pseudonym.
  EXPECT_EQ(both[0].value().find("999990019"), std::string::npos);
  EXPECT_EQ(SubjectPseudonyms(key, Person("S2", "", "Kim", "")).size(), 0u);
  EXPECT_EQ(SubjectPseudonyms(key, Person("S3", "123456789", "", "")).size(), 0u);  // fails the elfproef
  // Another key, other pseudonyms.
  ASSERT_OK_AND_ASSIGN(PseudonymKey other, GeneratePseudonymKey("hvb-2027-1", kCreatedMs));
  EXPECT_NE(SubjectPseudonyms(other, Person("S1", "999990019", "", ""))[0].value(), both[0].value());
}

TEST(SubjectPseudonymTest, AddedToTheirRefsAndCopiedWithTheirShape) {
  ASSERT_OK_AND_ASSIGN(PseudonymKey key, GeneratePseudonymKey("hvb-2026-1", kCreatedMs));
  std::vector<v1::Subject> subjects = {Person("S1", "999990019", "Demi", "1990-01-01"),
                                       Person("S2", "999990020", "", "")};
  v1::FragmentRequest req;
  req.add_subjects()->set_ref("S2");
  req.add_subjects()->set_ref("S7");  // no subject here: left without
  AddPseudonyms(key, subjects, req.mutable_subjects());
  EXPECT_EQ(req.subjects(0).pseudonyms_size(), 1);
  EXPECT_EQ(req.subjects(1).pseudonyms_size(), 0);

  // Junk a sender put in is not copied; at most four per subject.
  auto* s = req.add_subjects();
  s->set_ref("S3");
  for (int i = 0; i < 6; ++i) *s->add_pseudonyms() = req.subjects(0).pseudonyms(0);
  auto* junk = req.add_subjects();
  junk->set_ref("S4");
  junk->add_pseudonyms()->set_value(std::string(5000, 'x'));
  auto* bad_id = junk->add_pseudonyms();
  *bad_id = req.subjects(0).pseudonyms(0);
  bad_id->set_key_id("Not A Key Id!");
  auto* no_basis = junk->add_pseudonyms();
  *no_basis = req.subjects(0).pseudonyms(0);
  no_basis->set_basis(v1::PSEUDONYM_BASIS_UNSPECIFIED);
  v1::AuditRecord rec;
  CopySubjects(req.subjects(), &rec);
  ASSERT_EQ(rec.subjects_size(), 4);
  EXPECT_EQ(rec.subjects(0).ref(), "S2");
  EXPECT_EQ(rec.subjects(0).pseudonyms(0).value(), req.subjects(0).pseudonyms(0).value());
  EXPECT_EQ(rec.subjects(1).pseudonyms_size(), 0);
  EXPECT_EQ(rec.subjects(2).pseudonyms_size(), 4);
  EXPECT_EQ(rec.subjects(3).pseudonyms_size(), 0);
  // The lookup key tells key, basis and value apart.
  EXPECT_NE(PseudonymLookupKey(rec.subjects(0).pseudonyms(0)), PseudonymLookupKey(*no_basis));
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp::cases
