#include "case/consent.h"

#include <string>

namespace kp::cases {

namespace v1 = ketenpoort::v1;

namespace {

bool IsLeap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int DaysIn(int y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m - 1];
}

struct Day {
  int y = 0, m = 0, d = 0;
};

// The UTC calendar day of a moment (Howard Hinnant's civil_from_days).
Day DayOf(int64_t ms) {
  int64_t z = (ms >= 0 ? ms : ms - 86'399'999) / 86'400'000 + 719'468;
  const int64_t era = (z >= 0 ? z : z - 146'096) / 146'097;
  const int64_t doe = z - era * 146'097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36'524 - doe / 146'096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  Day out;
  out.d = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  out.m = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  out.y = static_cast<int>(yoe + era * 400 + (out.m <= 2 ? 1 : 0));
  return out;
}

Result<Day> ParseDay(std::string_view s) {
  auto bad = [] { return InvalidArgumentError("a date of birth must be YYYY-MM-DD"); };
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return bad();
  int parts[3] = {0, 0, 0};
  size_t at = 0;
  for (int i = 0; i < 3; ++i) {
    const size_t len = i == 0 ? 4 : 2;
    for (size_t k = 0; k < len; ++k) {
      const char c = s[at + k];
      if (c < '0' || c > '9') return bad();
      parts[i] = parts[i] * 10 + (c - '0');
    }
    at += len + 1;
  }
  Day d{parts[0], parts[1], parts[2]};
  if (d.y < 1800 || d.m < 1 || d.m > 12 || d.d < 1 || d.d > DaysIn(d.y, d.m)) {
    return InvalidArgumentError("a date of birth must be a date that exists");
  }
  return d;
}

}  // namespace

Result<uint8_t> ConsentGivers(const google::protobuf::RepeatedField<int>& given_by) {
  uint8_t givers = 0;
  for (int g : given_by) {
    if (g == v1::CONSENT_GIVER_SUBJECT) {
      givers |= policy::kGiverSubject;
    } else if (g == v1::CONSENT_GIVER_PARENTS) {
      givers |= policy::kGiverParents;
    } else {
      return InvalidArgumentError("consent names an unknown giver");
    }
  }
  return givers == 0 ? uint8_t{policy::kGiverSubject} : givers;
}

Result<uint8_t> ParseGivenBy(std::string_view text) {
  uint8_t givers = 0;
  size_t at = 0;
  while (at <= text.size()) {
    size_t end = text.find(',', at);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view one = text.substr(at, end - at);
    if (one == "subject" || one == "betrokkene") {
      givers |= policy::kGiverSubject;
    } else if (one == "parents" || one == "ouders") {
      givers |= policy::kGiverParents;
    } else {
      return InvalidArgumentError("--given-by takes subject, parents, or subject,parents (not '" +
                                  std::string(one.substr(0, 32)) + "')");
    }
    at = end + 1;
  }
  return givers;
}

Result<int> AgeOn(std::string_view date_of_birth, int64_t at_ms) {
  KP_ASSIGN_OR_RETURN(Day born, ParseDay(date_of_birth));
  const Day on = DayOf(at_ms);
  // A 29 February birthday falls on 1 March in a year without one.
  Day birthday{on.y, born.m, born.d};
  if (born.m == 2 && born.d == 29 && !IsLeap(on.y)) birthday = {on.y, 3, 1};
  int age = on.y - born.y;
  if (on.m < birthday.m || (on.m == birthday.m && on.d < birthday.d)) --age;
  if (age < 0) return InvalidArgumentError("the date of birth lies after the moment asked");
  return age;
}

Status CheckStatedAges(const CaseFacts& facts, const v1::FragmentRequest& request, const v1::SubjectData& sealed,
                       int64_t now_ms) {
  for (const auto& s : sealed.subjects()) {
    // A consent the source partner recorded itself counts first (AskPolicy);
    // its age is the source's own word.
    auto own = facts.source_consents.find({request.source_partner(), s.ref(), request.purpose()});
    if (own != facts.source_consents.end() && own->second.valid_until_ms > now_ms) continue;
    auto it = facts.consents.find({s.ref(), request.purpose()});
    if (it == facts.consents.end() || it->second.valid_until_ms <= now_ms) continue;  // no consent counts
    const ConsentFact& c = it->second;
    auto mismatch = [&](std::string_view why) {
      return PermissionDeniedError("the consent of subject " + s.ref() + " for purpose " + request.purpose() +
                                   " " + std::string(why) + "; record it again with the right age");
    };
    if (s.date_of_birth().empty()) {
      if (c.age_years >= 0) {
        return mismatch("states an age, but no date of birth was sealed to this agent to check it against");
      }
      continue;
    }
    auto then = AgeOn(s.date_of_birth(), c.recorded_ms);
    auto before = AgeOn(s.date_of_birth(), c.recorded_ms - kAgeComputedBeforeSigningMs);
    if (!then.ok() || !before.ok()) {
      return mismatch("cannot be checked: the date of birth sealed to this agent is not a date before it");
    }
    if (c.age_years < 0) {
      if (*then < 18) return mismatch("states no age, but the date of birth sealed to this agent shows a minor");
      continue;
    }
    if (c.age_years != *then && c.age_years != *before) {
      return mismatch("states an age that does not match the date of birth sealed to this agent");
    }
  }
  return OkStatus();
}

}  // namespace kp::cases
