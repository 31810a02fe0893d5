// Consent per subject and the conflict-of-duties weighing as a coordinator
// reads and types them (Dutch): who gave a consent, the subject's age, the
// policy's age rule in words, and the five questions of the weighing (the
// KNMG stappenplan) with the approver. Pure functions (console/, issue 16).
#ifndef KETENPOORT_CONSOLE_CONSENT_VIEW_H_
#define KETENPOORT_CONSOLE_CONSENT_VIEW_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/status.h"
#include "ketenpoort/v1/messages.pb.h"
#include "policy/policy_engine.h"

namespace kp::console {

// "de betrokkene", "de ouders", "de betrokkene en de ouders".
std::string GiversText(uint8_t givers);
// The form's "gegeven_door": "betrokkene", "ouders" or "beide".
Result<uint8_t> GiversFromForm(std::string_view value);
// The form's choices: (value, label), in that order.
std::vector<std::pair<std::string, std::string>> GiverItems();

// The subject's age in whole years at `now_ms` from the date of birth the
// console holds (cases::AgeOn); nothing without a readable one.
std::optional<int> AgeOf(const std::vector<ketenpoort::v1::Subject>& subjects, const std::string& ref,
                         int64_t now_ms);

// The policy's age rule in a sentence ("jonger dan 12 jaar: de ouders; ...");
// empty when the policy has none.
std::string AgeRuleText(const policy::Policy& p);

// One question of the weighing: the form field's name, the Weighing field
// it fills, the question in Dutch.
struct WeighingQuestion {
  std::string_view name;
  std::string_view question;
  std::string* (*field)(ketenpoort::v1::Weighing*);
};
// The five questions and the approver, in the order of the stappenplan.
const std::vector<WeighingQuestion>& WeighingQuestions();

}  // namespace kp::console

#endif  // KETENPOORT_CONSOLE_CONSENT_VIEW_H_
