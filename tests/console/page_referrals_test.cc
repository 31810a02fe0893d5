// The Nieuwe casus form's checks (console/page_referrals.h): what opens a
// case, and every bad input that must show the form again with a message at
// its field and open nothing.
#include "console/page_referrals.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

#include "core/base/encoding.h"
#include "core/crypto/sha256.h"
#include "policy/policy_loader.h"
#include "tests/testing/status_matchers.h"

namespace kp::console {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

namespace v1 = ketenpoort::v1;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::IsOk;  // kp::testing

constexpr char kToday[] = "2026-11-30";

class NewCaseFormTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto policy = policy::LoadPolicyFile(testing::SourceDir() + "/policy/examples/veiligheidsteam-hvb.yaml",
                                         [](std::string_view t) { return HexEncode(Sha256String(t)); });
    ASSERT_THAT(policy, IsOk());
    policy_ = *policy;
  }

  NewCaseForm Read(size_t rows = kNewCaseRows) {
    return ReadNewCaseForm(
        *policy_, [this](const std::string& name) { return fields_.count(name) ? fields_.at(name) : std::string(); },
        rows, kToday);
  }

  void Person(int n, const std::string& role, const std::string& bsn, const std::string& name,
              const std::string& birth) {
    const std::string i = std::to_string(n);
    fields_["rol" + i] = role;
    fields_["bsn" + i] = bsn;
    fields_["naam" + i] = name;
    fields_["geboortedatum" + i] = birth;
  }

  std::shared_ptr<const policy::Policy> policy_;
  std::map<std::string, std::string> fields_;
};

TEST_F(NewCaseFormTest, GoodFormGivesCanonicalSubjectsAndSkipsEmptyRows) {
  fields_["doel"] = "plan-van-aanpak";
  Person(1, "victim", "9999 900.19", "  Sanne de Vries ", "12-04-1988");
  fields_["rol2"] = "child";  // a role alone: an empty row
  Person(3, "child", "999990020", "Mila de Vries", "2015-09-03");
  NewCaseForm form = Read();
  ASSERT_TRUE(form.ok());
  auto subjects = form.Subjects();
  ASSERT_EQ(subjects.size(), 2u);
  EXPECT_EQ(subjects[0].role(), v1::SUBJECT_ROLE_VICTIM);
  EXPECT_EQ(subjects[0].bsn(), "999990019");
  EXPECT_EQ(subjects[0].name(), "Sanne de Vries");
  EXPECT_EQ(subjects[0].date_of_birth(), "1988-04-12");
  EXPECT_EQ(subjects[1].role(), v1::SUBJECT_ROLE_CHILD);
  EXPECT_EQ(subjects[1].date_of_birth(), "2015-09-03");
  EXPECT_TRUE(subjects[0].ref().empty());  // the client assigns S1, S2, ...
}

TEST_F(NewCaseFormTest, ABsnOrANameIsEnoughAsOnTheCommandLine) {
  fields_["doel"] = "veiligheidstaxatie";
  Person(1, "housemate", "", "Onbekende huisgenoot", "");
  Person(2, "suspected-perpetrator", "999990032", "", "");
  NewCaseForm form = Read();
  EXPECT_TRUE(form.ok());
  EXPECT_EQ(form.Subjects().size(), 2u);
}

TEST_F(NewCaseFormTest, InvalidBsnIsNamedAtItsFieldAndKeptAsTyped) {
  fields_["doel"] = "plan-van-aanpak";
  Person(1, "victim", "123456789", "Sanne de Vries", "12-04-1988");
  NewCaseForm form = Read();
  EXPECT_FALSE(form.ok());
  EXPECT_THAT(form.rows[0].bsn_error, HasSubstr("elfproef"));
  EXPECT_EQ(form.rows[0].bsn, "123456789");
  EXPECT_TRUE(form.rows[0].name_error.empty());
  EXPECT_TRUE(form.purpose_error.empty());
}

TEST_F(NewCaseFormTest, EmptyOrUnknownPurposeIsRefused) {
  Person(1, "victim", "999990019", "Sanne de Vries", "");
  EXPECT_THAT(Read().purpose_error, HasSubstr("kies het doel"));
  fields_["doel"] = "iets-anders";
  EXPECT_THAT(Read().purpose_error, HasSubstr("niet in het beleid"));
  EXPECT_FALSE(Read().ok());
}

TEST_F(NewCaseFormTest, DateInTheWrongFormOrInTheFutureIsRefused) {
  fields_["doel"] = "plan-van-aanpak";
  Person(1, "victim", "999990019", "Sanne de Vries", "12/04/1988");
  EXPECT_THAT(Read().rows[0].birth_error, HasSubstr("DD-MM-JJJJ"));
  fields_["geboortedatum1"] = "31-02-1988";
  EXPECT_THAT(Read().rows[0].birth_error, HasSubstr("bestaat niet"));
  fields_["geboortedatum1"] = "01-12-2026";
  EXPECT_THAT(Read().rows[0].birth_error, HasSubstr("toekomst"));
  fields_["geboortedatum1"] = "30-11-2026";
  EXPECT_TRUE(Read().ok());
}

TEST_F(NewCaseFormTest, NoSubjectAtAllIsRefused) {
  fields_["doel"] = "plan-van-aanpak";
  NewCaseForm form = Read();
  EXPECT_FALSE(form.ok());
  EXPECT_THAT(form.subjects_error, HasSubstr("ten minste één persoon"));
}

TEST_F(NewCaseFormTest, RowWithoutRoleOrWithOnlyADateIsRefused) {
  fields_["doel"] = "plan-van-aanpak";
  Person(1, "", "999990019", "Sanne de Vries", "");
  Person(2, "child", "", "", "03-09-2015");
  NewCaseForm form = Read();
  EXPECT_FALSE(form.ok());
  EXPECT_THAT(form.rows[0].role_error, HasSubstr("rol"));
  EXPECT_THAT(form.rows[1].name_error, HasSubstr("BSN of een naam"));
}

TEST_F(NewCaseFormTest, NameWithControlCharactersOrTooLongIsRefused) {
  fields_["doel"] = "plan-van-aanpak";
  Person(1, "victim", "", std::string("Sanne\x01"), "");
  EXPECT_THAT(Read().rows[0].name_error, HasSubstr("stuurtekens"));
  fields_["naam1"] = std::string(201, 'a');
  EXPECT_THAT(Read().rows[0].name_error, HasSubstr("200"));
}

TEST_F(NewCaseFormTest, RowsAreBounded) {
  fields_["doel"] = "plan-van-aanpak";
  EXPECT_EQ(Read(0).rows.size(), 1u);
  EXPECT_EQ(Read(1000).rows.size(), kNewCaseMaxRows);
}

TEST_F(NewCaseFormTest, WipeLeavesNoIdentifier) {
  fields_["doel"] = "plan-van-aanpak";
  Person(1, "victim", "999990019", "Sanne de Vries", "12-04-1988");
  NewCaseForm form = Read();
  ASSERT_TRUE(form.ok());
  form.Wipe();
  for (const auto& r : form.rows) {
    EXPECT_THAT(r.bsn, IsEmpty());
    EXPECT_THAT(r.name, IsEmpty());
    EXPECT_THAT(r.birth, IsEmpty());
    EXPECT_THAT(r.subject.bsn(), IsEmpty());
    EXPECT_THAT(r.subject.name(), IsEmpty());
    EXPECT_THAT(r.subject.date_of_birth(), IsEmpty());
  }
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp::console
