// Words and numbers as a coordinator reads them (Dutch): dates, durations,
// subject roles, the policy's names for its ids, and the checks of what is
// typed in a form (BSN elfproef, dates). Pure functions.
#ifndef KETENPOORT_CONSOLE_VIEW_H_
#define KETENPOORT_CONSOLE_VIEW_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "core/base/status.h"
#include "ketenpoort/v1/messages.pb.h"
#include "policy/policy_engine.h"

namespace kp::console {

// One day in milliseconds, as the pages count deadlines and ages.
inline constexpr int64_t kDay = 24 * 3600 * 1000LL;

// "30-11-2026 14:05" and "30-11-2026", in the machine's local time zone.
std::string DateTimeText(int64_t ms);
std::string DateText(int64_t ms);
// What is left until `until_ms`: "nog 3 dagen", "nog 5 uur", "nog 20 minuten", "verstreken".
std::string TimeLeftText(int64_t until_ms, int64_t now_ms);
// How long something has been going: "vandaag", "1 dag", "12 dagen".
std::string DaysText(int64_t since_ms, int64_t now_ms);

// slachtoffer, kind, vermoedelijke pleger, huisgenoot, ouder.
std::string_view RoleText(ketenpoort::v1::SubjectRole role);
// The role from a form's value ("victim", "child", "suspected-perpetrator", "housemate", "parent").
Result<ketenpoort::v1::SubjectRole> RoleFromForm(std::string_view value);

// The policy's name for an id (the id itself when the policy has no such id).
std::string PartnerText(const policy::Policy& p, std::string_view id);
std::string PhaseText(const policy::Policy& p, std::string_view id);
std::string PurposeText(const policy::Policy& p, std::string_view id);
std::string CategoryText(const policy::Policy& p, std::string_view id);
std::string LegalBasisText(const policy::Policy& p, std::string_view id);  // its citation
// A reason code's Dutch name where the policy lists it (referral reasons and
// decline reasons), else the code with dashes as spaces.
std::string CodeText(const policy::Policy& p, std::string_view code);

// A case notice in Dutch, as the console shows it (the CLI's words are
// client::NoticeText). `me` tells a HANDOVER_DATA_WITHHELD notice to the new
// coordinator from the one to the former.
std::string NoticeTekst(const policy::Policy& p, const ketenpoort::v1::CaseNotice& notice, std::string_view me);
// wacht, geaccepteerd, afgewezen, verlopen.
std::string_view ReferralStateText(ketenpoort::v1::ReferralState state);

// A client error (client::Coordinator's Status) in the coordinator's words,
// and the HTTP status of the page that shows it: the gateway refused (409),
// could not be reached (503: nothing was sent), or did not answer in time
// (503: it is not certain whether it was done).
struct ClientProblem {
  std::string text;
  int http_status = 409;
};
ClientProblem ClientProblemText(const Status& status);

// A BSN as typed: nine digits (spaces and dots ignored) that pass the
// elfproef. InvalidArgument in Dutch, for the form.
Result<std::string> CheckBsn(std::string_view typed);
// A date typed as DD-MM-JJJJ (or the browser's date field's JJJJ-MM-DD): the
// canonical "JJJJ-MM-DD". InvalidArgument in Dutch.
Result<std::string> CheckDate(std::string_view typed);
// "*****1234": enough to tell two people apart on a screen.
std::string MaskBsn(std::string_view bsn);

}  // namespace kp::console

#endif  // KETENPOORT_CONSOLE_VIEW_H_
