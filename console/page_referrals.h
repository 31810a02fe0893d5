// The form of Nieuwe casus (page_referrals.cc), read and checked apart from
// HTTP so its checks can be tested alone: the purpose from the policy, and
// rows of subjects (role, BSN, name, date of birth), of which empty rows are
// skipped. What was typed is kept beside each message, to show the form
// again; the subjects go to Coordinator::OpenCase only when every row checks.
//
// The form holds BSNs and names in memory: Wipe() overwrites them, and the
// page calls it once the form is shown or the case opened.
#ifndef KETENPOORT_CONSOLE_PAGE_REFERRALS_H_
#define KETENPOORT_CONSOLE_PAGE_REFERRALS_H_

#include <functional>
#include <string>
#include <vector>

#include "client/coordinator.h"
#include "ketenpoort/v1/messages.pb.h"
#include "policy/policy_engine.h"

namespace kp::console {

// What this coordinator's role (its entry in the signed registry, read in
// the policy) lets it do besides coordinating: open an acute case (Samen op
// in Acuut), and refer families to the coordinators of these partners (ids,
// the policy's order). The gateway decides; these only choose what is shown.
bool MayOpenAcuteCase(const client::Coordinator& c, const policy::Policy& p);
std::vector<std::string> ReferralPartners(const client::Coordinator& c, const policy::Policy& p);

// The Aanmelden form (GET/POST /aanmelden) besides its purpose and subjects
// (those are Nieuwe casus' fields and checks, ReadNewCaseForm): Veilig
// Thuis' own reference (kenmerk: a-z A-Z 0-9 - / _, at most 64), the team
// (one of `partners`) and at least one reason from the policy (redenen).
inline constexpr size_t kMaxReferenceChars = 64;
struct ReferralForm {
  std::string reference, reference_error;
  std::string to, to_error;
  std::vector<std::string> reasons;
  std::string reasons_error;
  bool ok() const { return reference_error.empty() && to_error.empty() && reasons_error.empty(); }
};
ReferralForm ReadReferralForm(const policy::Policy& policy, const std::vector<std::string>& partners,
                              const std::string& reference, const std::string& to,
                              const std::vector<std::string>& reasons);

// Rows the form shows at first, and at most (a case has at most 32 subjects,
// case/case_facts.h kMaxSubjects).
inline constexpr size_t kNewCaseRows = 4;
inline constexpr size_t kNewCaseMaxRows = 32;

// One subject row as typed, with a Dutch message per field ("" when fine).
struct SubjectRow {
  std::string role, bsn, name, birth;            // as typed (bsn, birth: trimmed)
  std::string role_error, bsn_error, name_error, birth_error;
  bool empty = true;                             // nothing typed but perhaps a role
  ketenpoort::v1::Subject subject;               // when checked: the canonical values
  bool ok() const { return role_error.empty() && bsn_error.empty() && name_error.empty() && birth_error.empty(); }
};

struct NewCaseForm {
  std::string purpose, purpose_error;
  std::vector<SubjectRow> rows;
  std::string subjects_error;  // e.g. no subject at all
  bool ok() const;
  // The checked subjects, in row order (empty rows skipped). Only when ok().
  std::vector<ketenpoort::v1::Subject> Subjects() const;
  // Overwrites every identifier typed or checked.
  void Wipe();
};

// Reads fields doel, rol1.., bsn1.., naam1.., geboortedatum1.. through
// `value` (the form's value of a name, "" when absent) for `rows` rows.
// `today` ("JJJJ-MM-DD") bounds a date of birth.
NewCaseForm ReadNewCaseForm(const policy::Policy& policy, const std::function<std::string(const std::string&)>& value,
                            size_t rows, const std::string& today);

}  // namespace kp::console

#endif  // KETENPOORT_CONSOLE_PAGE_REFERRALS_H_
