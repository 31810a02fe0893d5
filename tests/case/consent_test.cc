// Consent per subject (case/consent.h): the age from a date of birth, the
// givers from the wire, and the agent's check of a stated age against the
// date of birth sealed to it.
#include "case/consent.h"

#include <gtest/gtest.h>

#include "core/base/time_format.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_time.h"

namespace kp::cases {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

namespace v1 = ketenpoort::v1;
using testing::IsOk;
using testing::StatusIs;

using test::kDay;
// 2026-11-30T12:00:00Z
constexpr int64_t kNoon = 1'796'040'000'000;

TEST(AgeOn, CountsWholeYearsOnTheUtcDay) {
  EXPECT_EQ(AgeOn("2013-11-30", kNoon).value(), 13);  // the birthday itself
  EXPECT_EQ(AgeOn("2013-12-01", kNoon).value(), 12);  // tomorrow
  EXPECT_EQ(AgeOn("2013-11-29", kNoon).value(), 13);
  EXPECT_EQ(AgeOn("2026-11-30", kNoon).value(), 0);
  EXPECT_EQ(AgeOn("1926-01-01", kNoon).value(), 100);
}

TEST(AgeOn, ALeapDayBirthdayCountsFromTheFirstOfMarch) {
  const int64_t feb28_2027 = kNoon + 90 * kDay;  // 2027-02-28
  ASSERT_EQ(FormatUtcDate(feb28_2027), "2027-02-28");
  EXPECT_EQ(AgeOn("2012-02-29", feb28_2027).value(), 14);
  EXPECT_EQ(AgeOn("2012-02-29", feb28_2027 + kDay).value(), 15);  // 2027-03-01
}

TEST(AgeOn, RefusesWhatIsNotADateBeforeTheDay) {
  for (const char* bad : {"", "2013-13-01", "2013-02-30", "2011-02-29", "13-11-2013", "2013/11/30", "2013-11-3x",
                          "2013-11-300", "1700-01-01"}) {
    EXPECT_THAT(AgeOn(bad, kNoon), StatusIs(StatusCode::kInvalidArgument)) << bad;
  }
  EXPECT_THAT(AgeOn("2026-12-01", kNoon), StatusIs(StatusCode::kInvalidArgument));
}

// The date of birth comes sealed from the coordinator: every truncation and
// every flipped bit of a good one is refused or read as another date that
// exists, never a crash or a negative age.
TEST(AgeOn, EveryTruncationAndEveryFlippedBitIsRefusedOrAnotherRealDate) {
  const std::string good = "2013-11-30";
  for (size_t n = 0; n < good.size(); ++n) {
    EXPECT_THAT(AgeOn(good.substr(0, n), kNoon), StatusIs(StatusCode::kInvalidArgument)) << n;
  }
  for (size_t i = 0; i < good.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string flipped = good;
      flipped[i] = static_cast<char>(flipped[i] ^ (1 << bit));
      auto age = AgeOn(flipped, kNoon);
      if (age.ok()) {
        EXPECT_GE(*age, 0) << i << ":" << bit;
        EXPECT_LE(*age, 2026 - 1800) << i << ":" << bit;
      } else {
        EXPECT_THAT(age, StatusIs(StatusCode::kInvalidArgument)) << i << ":" << bit;
      }
    }
  }
}

TEST(ConsentGivers, EmptyIsTheSubjectsAndUnknownIsRefused) {
  google::protobuf::RepeatedField<int> given;
  EXPECT_EQ(ConsentGivers(given).value(), policy::kGiverSubject);
  given.Add(v1::CONSENT_GIVER_PARENTS);
  EXPECT_EQ(ConsentGivers(given).value(), policy::kGiverParents);
  given.Add(v1::CONSENT_GIVER_SUBJECT);
  EXPECT_EQ(ConsentGivers(given).value(), policy::kGiverSubject | policy::kGiverParents);
  given.Add(7);
  EXPECT_THAT(ConsentGivers(given), StatusIs(StatusCode::kInvalidArgument));
}

TEST(ParseGivenBy, NamesTheSubjectTheParentsOrBothAndRefusesAnythingElse) {
  EXPECT_EQ(ParseGivenBy("subject").value(), policy::kGiverSubject);
  EXPECT_EQ(ParseGivenBy("ouders").value(), policy::kGiverParents);
  EXPECT_EQ(ParseGivenBy("subject,parents").value(), policy::kGiverSubject | policy::kGiverParents);
  for (const char* bad : {"", "guardian", "subject,", "subject parents"}) {
    EXPECT_THAT(ParseGivenBy(bad), StatusIs(StatusCode::kInvalidArgument)) << bad;
  }
}

class StatedAges : public ::testing::Test {
 protected:
  StatedAges() {
    request_.set_purpose("plan-van-aanpak");
    request_.set_source_partner("ggz");
    auto* s = sealed_.add_subjects();
    s->set_ref("S2");
    s->set_date_of_birth("2013-11-30");
  }
  void Consent(int age, int64_t recorded_ms = kNoon) {
    ConsentFact c;
    c.valid_until_ms = kNoon + 30 * kDay;
    c.age_years = age;
    c.recorded_ms = recorded_ms;
    facts_.consents[{"S2", "plan-van-aanpak"}] = c;
  }
  Status Check() { return CheckStatedAges(facts_, request_, sealed_, kNoon + kDay); }

  CaseFacts facts_;
  v1::FragmentRequest request_;
  v1::SubjectData sealed_;
};

TEST_F(StatedAges, TheRightAgeOrNoConsentPasses) {
  EXPECT_OK(Check());  // no consent: nothing to check
  Consent(13);
  EXPECT_OK(Check());
}

TEST_F(StatedAges, AnAgeComputedJustBeforeABirthdayPasses) {
  // Signed 2 minutes into the birthday, computed just before midnight.
  const int64_t midnight = kNoon - 12 * 3600 * 1000;
  Consent(12, midnight + 2 * 60 * 1000);
  EXPECT_OK(Check());
  Consent(12, midnight + 10 * 60 * 1000);
  EXPECT_THAT(Check(), StatusIs(StatusCode::kPermissionDenied));
}

TEST_F(StatedAges, AWrongAgeIsRefusedNamingTheSubjectNotTheAge) {
  Consent(20);
  Status s = Check();
  EXPECT_THAT(s, StatusIs(StatusCode::kPermissionDenied));
  EXPECT_NE(s.message().find("S2"), std::string::npos);
  EXPECT_EQ(s.message().find("20"), std::string::npos) << s.message();
  EXPECT_EQ(s.message().find("2013"), std::string::npos) << s.message();
}

TEST_F(StatedAges, NoAgeForAMinorIsRefusedForAnAdultItPasses) {
  Consent(-1);
  EXPECT_THAT(Check(), StatusIs(StatusCode::kPermissionDenied));
  sealed_.mutable_subjects(0)->set_date_of_birth("1990-01-01");
  EXPECT_OK(Check());
}

TEST_F(StatedAges, AnAgeWithoutADateOfBirthOrWithABadOneIsRefused) {
  Consent(13);
  sealed_.mutable_subjects(0)->clear_date_of_birth();
  EXPECT_THAT(Check(), StatusIs(StatusCode::kPermissionDenied));
  sealed_.mutable_subjects(0)->set_date_of_birth("30-11-2013");
  EXPECT_THAT(Check(), StatusIs(StatusCode::kPermissionDenied));
}

TEST_F(StatedAges, ExpiredOrSourceRecordedConsentsAreNotChecked) {
  Consent(20);
  facts_.consents.begin()->second.valid_until_ms = kNoon;  // over before the request
  EXPECT_OK(Check());
  Consent(20);
  ConsentFact own;
  own.valid_until_ms = kNoon + 30 * kDay;
  facts_.source_consents[{"ggz", "S2", "plan-van-aanpak"}] = own;
  EXPECT_OK(Check());
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp::cases
