#include "console/consent_view.h"

#include <algorithm>

#include "case/consent.h"

namespace kp::console {

namespace v1 = ketenpoort::v1;

std::string GiversText(uint8_t givers) {
  if (givers == (policy::kGiverSubject | policy::kGiverParents)) return "de betrokkene en de ouders";
  return givers == policy::kGiverParents ? "de ouders" : "de betrokkene";
}

Result<uint8_t> GiversFromForm(std::string_view value) {
  if (value == "betrokkene") return uint8_t{policy::kGiverSubject};
  if (value == "ouders") return uint8_t{policy::kGiverParents};
  if (value == "beide") return uint8_t{policy::kGiverSubject | policy::kGiverParents};
  return InvalidArgumentError("kies wie de toestemming gaf");
}

std::vector<std::pair<std::string, std::string>> GiverItems() {
  return {{"betrokkene", "de betrokkene zelf"},
          {"ouders", "de ouders of de voogd (met gezag)"},
          {"beide", "de betrokkene én de ouders"}};
}

std::optional<int> AgeOf(const std::vector<v1::Subject>& subjects, const std::string& ref, int64_t now_ms) {
  auto s = std::find_if(subjects.begin(), subjects.end(), [&](const v1::Subject& x) { return x.ref() == ref; });
  if (s == subjects.end() || s->date_of_birth().empty()) return std::nullopt;
  auto age = cases::AgeOn(s->date_of_birth(), now_ms);
  if (!age.ok()) return std::nullopt;
  return *age;
}

std::string AgeRuleText(const policy::Policy& p) {
  std::string out;
  for (const auto& band : p.consent().age_rule) {
    if (!out.empty()) out += "; ";
    out += band.below >= 0 ? "jonger dan " + std::to_string(band.below) + " jaar" : "daarboven";
    out += ": " + GiversText(band.givers);
  }
  return out;
}

const std::vector<WeighingQuestion>& WeighingQuestions() {
  static const std::vector<WeighingQuestion> kQuestions = {
      {"afweging_toestemming", "Waarom is geen toestemming gevraagd, of waarom is die niet gegeven?",
       [](v1::Weighing* w) { return w->mutable_consent(); }},
      {"afweging_schade", "Welke ernstige schade ontstaat als u de informatie niet deelt, en voor wie?",
       [](v1::Weighing* w) { return w->mutable_harm(); }},
      {"afweging_andere_weg", "Waarom is er geen andere weg om die schade af te wenden?",
       [](v1::Weighing* w) { return w->mutable_no_other_way(); }},
      {"afweging_effect", "Hoe voorkomt of beperkt het delen die schade?",
       [](v1::Weighing* w) { return w->mutable_effect(); }},
      {"afweging_minimum", "Waarom zijn juist deze gegevens het minimum dat nodig is?",
       [](v1::Weighing* w) { return w->mutable_minimum(); }},
      {"afweging_door", "Wie heeft de afweging gemaakt (naam en functie)?",
       [](v1::Weighing* w) { return w->mutable_approver(); }},
  };
  return kQuestions;
}

}  // namespace kp::console
