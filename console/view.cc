#include "console/view.h"

#include <ctime>

#include "case/subject_role.h"

namespace kp::console {
namespace {

namespace v1 = ketenpoort::v1;

std::tm LocalTime(int64_t ms) {
  const std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  localtime_r(&t, &tm);
  return tm;
}

std::string Plural(int64_t n, std::string_view one, std::string_view many) {
  return std::to_string(n) + " " + std::string(n == 1 ? one : many);
}

template <typename T>
const T* FindById(const std::vector<T>& items, std::string_view id) {
  for (const auto& item : items) {
    if (item.id == id) return &item;
  }
  return nullptr;
}

bool LeapYear(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

}  // namespace

std::string DateTimeText(int64_t ms) {
  const std::tm tm = LocalTime(ms);
  char buf[64];
  return std::string(buf, std::strftime(buf, sizeof buf, "%d-%m-%Y %H:%M", &tm));
}

std::string DateText(int64_t ms) {
  const std::tm tm = LocalTime(ms);
  char buf[64];
  return std::string(buf, std::strftime(buf, sizeof buf, "%d-%m-%Y", &tm));
}

std::string TimeLeftText(int64_t until_ms, int64_t now_ms) {
  const int64_t left = until_ms - now_ms;
  constexpr int64_t kMinute = 60 * 1000, kHour = 60 * kMinute;
  if (left < 0) return "verstreken";
  if (left >= 2 * kDay) return "nog " + Plural(left / kDay, "dag", "dagen");
  if (left >= kHour) return "nog " + Plural(left / kHour, "uur", "uur");
  return "nog " + Plural(left / kMinute, "minuut", "minuten");
}

std::string DaysText(int64_t since_ms, int64_t now_ms) {
  const int64_t days = (now_ms - since_ms) / kDay;
  if (days <= 0) return "vandaag";
  return Plural(days, "dag", "dagen");
}

std::string_view RoleText(v1::SubjectRole role) {
  switch (role) {
    case v1::SUBJECT_ROLE_VICTIM: return "slachtoffer";
    case v1::SUBJECT_ROLE_CHILD: return "kind";
    case v1::SUBJECT_ROLE_SUSPECTED_PERPETRATOR: return "vermoedelijke pleger";
    case v1::SUBJECT_ROLE_HOUSEMATE: return "huisgenoot";
    case v1::SUBJECT_ROLE_PARENT: return "ouder";
    default: return "onbekend";
  }
}

Result<v1::SubjectRole> RoleFromForm(std::string_view value) {
  const v1::SubjectRole role = cases::SubjectRoleFromId(value);
  if (role != v1::SUBJECT_ROLE_UNSPECIFIED) return role;
  return InvalidArgumentError("kies de rol van de persoon (slachtoffer, kind, vermoedelijke pleger, huisgenoot of ouder)");
}

std::string PartnerText(const policy::Policy& p, std::string_view id) {
  const auto* x = FindById(p.partners(), id);
  return x != nullptr && !x->name.empty() ? x->name : std::string(id);
}

std::string PhaseText(const policy::Policy& p, std::string_view id) {
  const auto* x = FindById(p.phases(), id);
  return x != nullptr && !x->name.empty() ? x->name : std::string(id);
}

std::string PurposeText(const policy::Policy& p, std::string_view id) {
  const auto* x = FindById(p.purposes(), id);
  return x != nullptr && !x->description.empty() ? x->description : std::string(id);
}

std::string CategoryText(const policy::Policy& p, std::string_view id) {
  const auto* x = FindById(p.categories(), id);
  return x != nullptr && !x->name.empty() ? x->name : std::string(id);
}

std::string LegalBasisText(const policy::Policy& p, std::string_view id) {
  const auto* x = FindById(p.legal_bases(), id);
  return x != nullptr && !x->citation.empty() ? x->citation : std::string(id);
}

std::string CodeText(const policy::Policy& p, std::string_view code) {
  for (const auto* list : {&p.referrals().reasons, &p.referrals().decline_reasons}) {
    const auto* x = FindById(*list, code);
    if (x != nullptr && !x->name.empty()) return x->name;
  }
  std::string text(code);
  for (char& c : text) {
    if (c == '-') c = ' ';
  }
  return text;
}

std::string NoticeTekst(const policy::Policy& p, const v1::CaseNotice& n, std::string_view me) {
  const std::string c = "casus " + n.case_id();
  const std::string by = n.by().empty() ? std::string("de klok") : n.by();
  const std::string why = n.reason_code().empty() ? std::string() : " (reden: " + CodeText(p, n.reason_code()) + ")";
  const std::string until = n.until_ms() > 0 ? DateTimeText(n.until_ms()) : std::string("?");
  switch (n.kind()) {
    case v1::NOTICE_KIND_ACUTE_OPENED:
      return "acute " + c + " is geopend door " + by + ", met uw organisatie erbij" +
             (n.phase().empty() ? "" : ", fase " + PhaseText(p, n.phase())) + "; het acute venster loopt tot " + until;
    case v1::NOTICE_KIND_HANDOVER_OFFERED:
      return c + " wordt u aangeboden door " + by + why + "; neem haar over voor " + until;
    case v1::NOTICE_KIND_HANDOVER_ACCEPTED:
      return by + " heeft " + c + " overgenomen; vanaf nu voert " + by + " de regie";
    case v1::NOTICE_KIND_HANDOVER_CANCELLED:
      return by + " heeft het aanbod van " + c + " aan u ingetrokken" + why + "; de casus blijft bij " + by;
    case v1::NOTICE_KIND_HANDOVER_LAPSED:
      return "het aanbod van " + c + " is op " + until + " verlopen zonder overname; de casus blijft bij de regisseur";
    case v1::NOTICE_KIND_STAND_IN_ENDED:
      return "de waarneming van " + c + " is op " + until + " afgelopen; de casus is terug bij de regisseur";
    case v1::NOTICE_KIND_APPROVAL_EXPIRED:
      return "een verzoek in " + c + " wachtte op goedkeuring van de bron en niemand besliste vóór " + until +
             "; het is geweigerd (goedkeuring verlopen)";
    case v1::NOTICE_KIND_ACUTE_WINDOW_ENDED:
      return "het acute venster van " + c + " is op " + until +
             " verstreken zonder overdracht: draag de casus over of sluit haar";
    case v1::NOTICE_KIND_PARTNER_REMOVED:
      return "uw organisatie is door " + by + " uit " + c + " gehaald" + why;
    case v1::NOTICE_KIND_HANDOVER_DATA_WITHHELD: {
      const std::string count = std::to_string(n.withheld()) + (n.withheld() == 1 ? " antwoord" : " antwoorden");
      if (!me.empty() && n.by() == me) {
        return count + " van " + c + " kwam(en) niet mee bij de overdracht: het beleid geeft ze uw rol nu niet; "
                       "vraag ze opnieuw op als u ze nodig heeft";
      }
      return count + " van " + c + " bleef (bleven) achter en is (zijn) verwijderd: het beleid geeft ze niet aan " +
             (n.by().empty() ? std::string("de nieuwe regisseur") : n.by());
    }
    default:
      return "een melding over " + c + " die deze versie niet kent";
  }
}

std::string_view ReferralStateText(v1::ReferralState state) {
  switch (state) {
    case v1::REFERRAL_STATE_WAITING: return "wacht op besluit";
    case v1::REFERRAL_STATE_ACCEPTED: return "geaccepteerd";
    case v1::REFERRAL_STATE_DECLINED: return "afgewezen";
    case v1::REFERRAL_STATE_EXPIRED: return "verlopen";
    default: return "nog niet bevestigd";
  }
}

ClientProblem ClientProblemText(const Status& s) {
  static constexpr std::string_view kGateway = "the gateway answered: ";
  const std::string& m = s.message();
  if (m.starts_with(kGateway)) return {"De gateway weigerde: " + m.substr(kGateway.size()), 409};
  switch (s.code()) {
    case StatusCode::kDeadlineExceeded:
      return {"De gateway antwoordde niet op tijd. Het is niet zeker of dit is uitgevoerd: vernieuw de pagina over "
              "een ogenblik. Voor de volgende opdracht haalt de console eerst de geschiedenis van de casus op.",
              503};
    case StatusCode::kUnavailable:
      return {"Geen verbinding met de gateway: er is niets verstuurd. Probeer het zo opnieuw. (" + m + ")", 503};
    case StatusCode::kFailedPrecondition:
      if (m.starts_with("not connected")) {
        return {"Geen verbinding met de gateway: er is niets verstuurd. Probeer het zo opnieuw.", 503};
      }
      return {"Dit kan nu niet: " + m, 409};
    case StatusCode::kPermissionDenied:
      return {"Dit kan nu niet: " + m, 409};
    default:
      return {"Dat lukte niet: " + m, 409};
  }
}

Result<std::string> CheckBsn(std::string_view typed) {
  std::string digits;
  for (char c : typed) {
    if (c == ' ' || c == '.') continue;
    if (c < '0' || c > '9') return InvalidArgumentError("een BSN bestaat alleen uit cijfers");
    digits.push_back(c);
  }
  if (digits.empty()) return InvalidArgumentError("vul het BSN in");
  if (digits.size() != 9) {
    return InvalidArgumentError("een BSN heeft 9 cijfers; dit zijn er " + std::to_string(digits.size()));
  }
  int sum = 0;
  for (int i = 0; i < 8; ++i) sum += (9 - i) * (digits[i] - '0');
  sum -= digits[8] - '0';
  if (sum % 11 != 0) {
    return InvalidArgumentError("dit BSN klopt niet (de elfproef faalt): controleer of er geen cijfer verkeerd is getypt");
  }
  return digits;
}

Result<std::string> CheckDate(std::string_view typed) {
  int d = 0, m = 0, y = 0;
  char tail = 0;
  const std::string s(typed);
  if (std::sscanf(s.c_str(), "%4d-%2d-%2d%c", &y, &m, &d, &tail) == 3 && s.size() == 10 && s[4] == '-') {
  } else if (std::sscanf(s.c_str(), "%2d-%2d-%4d%c", &d, &m, &y, &tail) == 3 && s.size() == 10 && s[2] == '-') {
  } else {
    return InvalidArgumentError("schrijf de datum als DD-MM-JJJJ, bijvoorbeeld 05-03-2014");
  }
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (y < 1900 || y > 2200 || m < 1 || m > 12 || d < 1 ||
      d > kDays[m - 1] + (m == 2 && LeapYear(y) ? 1 : 0)) {
    return InvalidArgumentError("die datum bestaat niet: " + s);
  }
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", y, m, d);
  return std::string(buf);
}

std::string MaskBsn(std::string_view bsn) {
  if (bsn.size() <= 4) return std::string(bsn.size(), '*');
  return std::string(bsn.size() - 4, '*') + std::string(bsn.substr(bsn.size() - 4));
}

}  // namespace kp::console
