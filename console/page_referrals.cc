// Aanmeldingen: referrals from Veilig Thuis waiting for this coordinator
// (accept: the case opens; decline: with a reason from the policy), and
// those already decided, and the referrals this participant sent. Nieuwe
// casus: a case opened with a form for its subjects; for a role the policy
// marks acute, also an acute case (Samen op in Acuut). Aanmelden: for a role
// with refers_to, a referral with the same subject rows and checks.
// Overnemen: a case offered to this coordinator, taken over.
//
// The subjects' identifiers are shown and typed here, never logged, and
// wiped from the memory this file copied them into once the page is made
// (the client's store keeps them encrypted).
#include "console/page_referrals.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>

#include "case/subject_role.h"
#include "console/desk.h"
#include "console/view.h"
#include "core/base/encoding.h"
#include "core/crypto/secret_bytes.h"

namespace kp::console {

namespace v1 = ketenpoort::v1;

namespace {

constexpr size_t kMaxNameChars = 200;

void WipeString(std::string& s) {
  SecureWipe(s.data(), s.size());
  s.clear();
}

std::string Trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return "";
  return std::string(s.substr(first, s.find_last_not_of(" \t\r\n") - first + 1));
}

// "JJJJ-MM-DD" as a coordinator writes it: "DD-MM-JJJJ".
std::string BirthText(const std::string& iso) {
  if (iso.size() != 10 || iso[4] != '-' || iso[7] != '-') return iso;
  return iso.substr(8, 2) + "-" + iso.substr(5, 2) + "-" + iso.substr(0, 4);
}

// A client error in the words of the form: the gateway refused, could not be
// reached, or something on this computer failed.
std::string ClientErrorText(const Status& s) { return ClientProblemText(s).text; }

int ClientErrorStatus(const Status& s) { return ClientProblemText(s).http_status; }

// The partner's name of a participant, from the signed registry ("" when unknown).
std::string PartnerOf(const client::Coordinator& c, const policy::Policy& p, const std::string& participant) {
  auto entry = c.registry().Find(participant);
  if (!entry.ok() || (*entry)->card.partner.empty()) return "";
  return PartnerText(p, (*entry)->card.partner);
}

// A value a template tests with {{#key}}: set only when there is one (an
// empty string is true in mustache).
void SetIfAny(mu::data& d, const std::string& key, const std::string& text) {
  if (!text.empty()) d.set(key, text);
}

// ------------------------------------------------------------ Aanmeldingen

// A failed action on one referral, shown at that referral.
struct ReferralProblem {
  std::string hex;
  std::string text;
  std::string reason;          // the decline reason chosen
  bool reason_field = false;   // the message is about the reason select
};

// The subjects of a waiting referral as the table shows them. The
// identifiers are copied into `out` (the page) and wiped here.
mu::data ReferralSubjectRows(client::Coordinator& c, const client::ReferralInfo& r, bool* complete) {
  mu::data rows = mu::data::type::list;
  auto subjects = c.store().ReferralSubjects(r.id);
  *complete = subjects.ok() && !subjects->empty();
  if (!*complete) {
    // Only the refs and roles the signed referral names.
    for (const auto& sr : r.body.subjects()) {
      mu::data row;
      row.set("rol", std::string(RoleText(sr.role())));
      row.set("ref", sr.ref());
      rows.push_back(row);
    }
    return rows;
  }
  for (auto& s : *subjects) {
    mu::data row;
    row.set("rol", std::string(RoleText(s.role())));
    row.set("ref", s.ref());
    row.set("naam", s.name());
    row.set("geboortedatum", BirthText(s.date_of_birth()));
    row.set("bsn", MaskBsn(s.bsn()));
    rows.push_back(row);
    client::WipeSubject(&s);
  }
  return rows;
}

mu::data DeclineOptions(const policy::Policy& p, const std::string& chosen) {
  mu::data list = mu::data::type::list;
  for (const auto& code : p.referrals().decline_reasons) {
    mu::data o;
    o.set("waarde", code.id);
    o.set("tekst", code.name.empty() ? CodeText(p, code.id) : code.name);
    o.set("gekozen", mu::data(code.id == chosen));
    list.push_back(o);
  }
  return list;
}

mu::data WaitingReferral(Desk& desk, Page& page, client::Coordinator& c, const client::ReferralInfo& r,
                         const ReferralProblem& problem, int64_t now) {
  const auto& p = desk.policy();
  const std::string hex = HexEncode(r.id);
  mu::data d;
  d.set("hex", hex);
  d.set("kenmerk", r.body.reference());
  d.set("van", r.sender);
  SetIfAny(d, "partner", PartnerOf(c, p, r.sender));
  d.set("ontvangen", DateTimeText(r.at_ms));
  const int64_t lapses = r.at_ms + p.referrals().expire_days * kDay;
  d.set("termijn", TimeLeftText(lapses, now));
  d.set("termijn_tot", DateText(lapses));
  d.set("termijn_dringend", mu::data(lapses - now < 3 * kDay));
  d.set("doel", PurposeText(p, r.body.purpose()));
  mu::data reasons = mu::data::type::list;
  for (const auto& code : r.body.reason_codes()) reasons.push_back(mu::data("tekst", CodeText(p, code)));
  d.set("redenen", reasons);
  bool complete = false;
  d.set("personen", ReferralSubjectRows(c, r, &complete));
  d.set("gegevens_ontbreken", mu::data(!complete));
  const bool mine = problem.hex == hex;
  if (mine && !problem.reason_field) d.set("fout", problem.text);
  if (mine && problem.reason_field) d.set("reden_fout", problem.text);
  d.set("redenen_afwijzen", DeclineOptions(p, mine ? problem.reason : ""));
  mu::data accept, decline;
  desk.AddFormFields(page, accept);
  desk.AddFormFields(page, decline);
  d.set("accepteren", accept);
  d.set("afwijzen", decline);
  return d;
}

std::string DecisionText(const Desk& desk, const client::ReferralInfo& r) {
  switch (r.state) {
    case v1::REFERRAL_STATE_ACCEPTED: return "aangenomen";
    case v1::REFERRAL_STATE_DECLINED:
      return "afgewezen" + (r.reason_code.empty() ? std::string() : ": " + CodeText(desk.policy(), r.reason_code));
    case v1::REFERRAL_STATE_EXPIRED: return "verlopen: niemand besliste op tijd";
    default: return "onbekend";
  }
}

mu::data DecidedReferral(const Desk& desk, client::Coordinator& c, const client::ReferralInfo& r) {
  mu::data d;
  d.set("kenmerk", r.body.reference());
  d.set("van", r.sender);
  SetIfAny(d, "partner", PartnerOf(c, desk.policy(), r.sender));
  d.set("ontvangen", DateTimeText(r.at_ms));
  d.set("besluit", DecisionText(desk, r));
  if (!r.case_id.empty()) d.set("casus", r.case_id);
  if (!r.decided_by.empty()) d.set("door", r.decided_by == desk.me() ? std::string("u") : r.decided_by);
  if (r.decided_ms > 0) d.set("wanneer", DateTimeText(r.decided_ms));
  return d;
}

// A referral this participant sent: its state, and the case or why not.
mu::data SentReferral(const Desk& desk, const client::ReferralInfo& r) {
  mu::data d;
  d.set("kenmerk", r.body.reference());
  d.set("aan", PartnerText(desk.policy(), r.body.to_partner()));
  d.set("verstuurd", DateTimeText(r.at_ms));
  d.set("stand", std::string(ReferralStateText(r.state)));
  if (!r.case_id.empty()) d.set("casus", r.case_id);
  if (!r.reason_code.empty()) d.set("reden", CodeText(desk.policy(), r.reason_code));
  if (r.decided_ms > 0) d.set("wanneer", DateTimeText(r.decided_ms));
  return d;
}

// Fetches the inbox first (so a referral that just came shows), then lists.
void ShowReferrals(Desk& desk, Page& page, const ReferralProblem& problem = {}) {
  const int64_t now = desk.clock().NowMillis();
  mu::data d;
  Status listed = desk.With([&](client::Coordinator& c) -> Status {
    if (auto fetched = c.FetchInbox(""); !fetched.ok()) {
      d.set("ophalen_fout", "De nieuwste aanmeldingen konden niet worden opgehaald (" + fetched.status().message() +
                                "). U ziet wat al op deze computer stond.");
    }
    KP_ASSIGN_OR_RETURN(auto all, c.store().Referrals());
    std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.at_ms > b.at_ms; });
    mu::data waiting = mu::data::type::list, decided = mu::data::type::list, sent = mu::data::type::list;
    for (const auto& r : all) {
      if (!r.received) {  // sent by this participant (Aanmelden)
        sent.push_back(SentReferral(desk, r));
        continue;
      }
      if (r.state == v1::REFERRAL_STATE_WAITING) {
        waiting.push_back(WaitingReferral(desk, page, c, r, problem, now));
      } else {
        decided.push_back(DecidedReferral(desk, c, r));
      }
    }
    d.set("heeft_wachtend", mu::data(!waiting.is_empty_list()));
    d.set("wachtend", waiting);
    d.set("heeft_besloten", mu::data(!decided.is_empty_list()));
    d.set("besloten", decided);
    d.set("heeft_verstuurd", mu::data(!sent.is_empty_list()));
    d.set("verstuurd", sent);
    d.set("mag_aanmelden", mu::data(!ReferralPartners(c, desk.policy()).empty()));
    return OkStatus();
  });
  if (!listed.ok()) {
    spdlog::error("console: the referrals could not be read: {}", listed.message());
    desk.ShowMessage(page, 500, "Aanmeldingen",
                     "De aanmeldingen op deze computer konden niet worden gelezen: " + listed.message());
    return;
  }
  if (!problem.text.empty() && problem.hex.empty()) d.set("algemene_fout", problem.text);
  if (!problem.text.empty() && page.res.status == -1) page.res.status = 400;
  desk.Show(page, "Aanmeldingen", "referrals.mustache", d, "aanmeldingen");
}

// The referral named by the path (32 hex digits), in the store.
std::string ReferralIdOf(const Page& page) {
  auto id = HexDecode(page.PathPart(0));
  return id.ok() ? *id : std::string();
}

void AcceptReferral(Desk& desk, Page& page) {
  const std::string hex = page.PathPart(0);
  const std::string id = ReferralIdOf(page);
  std::string reference, partner;
  auto opened = desk.With([&](client::Coordinator& c) -> Result<v1::CaseResult> {
    KP_ASSIGN_OR_RETURN(auto r, c.store().GetReferral(id));
    if (!r.has_value() || !r->received) return NotFoundError("deze aanmelding staat niet op deze computer");
    reference = r->body.reference();
    partner = PartnerOf(c, desk.policy(), r->sender);
    return c.AcceptReferral(id);
  });
  if (!opened.ok()) {
    spdlog::warn("console: referral {} not accepted: {}", hex.substr(0, 12), opened.status().message());
    page.res.status = ClientErrorStatus(opened.status());
    ShowReferrals(desk, page, {hex, ClientErrorText(opened.status()), "", false});
    return;
  }
  spdlog::info("console: referral {} accepted: case {}", hex.substr(0, 12), opened->case_id());
  desk.Redirect(page, "/casus/" + opened->case_id(),
                "Casus " + opened->case_id() + " geopend op de aanmelding " + reference + " van " +
                    (partner.empty() ? std::string("Veilig Thuis") : partner) +
                    ". Laat nu de partners toe die aan deze casus meewerken.");
}

void DeclineReferral(Desk& desk, Page& page) {
  const std::string hex = page.PathPart(0);
  const std::string id = ReferralIdOf(page);
  const std::string reason = page.Value("reden");
  if (!policy::Policy::HasCode(desk.policy().referrals().decline_reasons, reason)) {
    ShowReferrals(desk, page, {hex, "kies waarom u de aanmelding afwijst", reason, true});
    return;
  }
  std::string reference;
  auto declined = desk.With([&](client::Coordinator& c) -> Result<v1::ReferralStatus> {
    KP_ASSIGN_OR_RETURN(auto r, c.store().GetReferral(id));
    if (!r.has_value() || !r->received) return NotFoundError("deze aanmelding staat niet op deze computer");
    reference = r->body.reference();
    return c.DeclineReferral(id, reason);
  });
  if (!declined.ok()) {
    spdlog::warn("console: referral {} not declined: {}", hex.substr(0, 12), declined.status().message());
    page.res.status = ClientErrorStatus(declined.status());
    ShowReferrals(desk, page, {hex, ClientErrorText(declined.status()), reason, false});
    return;
  }
  spdlog::info("console: referral {} declined ({})", hex.substr(0, 12), reason);
  desk.Redirect(page, "/aanmeldingen",
                "Aanmelding " + reference + " afgewezen: " + CodeText(desk.policy(), reason) +
                    ". De verwijzer krijgt dit bericht.");
}

// ------------------------------------------------------------ Nieuwe casus

std::string TodayIso(const Desk& desk) {
  auto today = CheckDate(DateText(desk.clock().NowMillis()));
  return today.ok() ? *today : std::string("2200-12-31");
}

mu::data PurposeOptions(const policy::Policy& p, const std::string& chosen) {
  mu::data list = mu::data::type::list;
  for (const auto& purpose : p.purposes()) {
    mu::data o;
    o.set("waarde", purpose.id);
    o.set("tekst", PurposeText(p, purpose.id));
    o.set("gekozen", mu::data(purpose.id == chosen));
    list.push_back(o);
  }
  return list;
}

mu::data RoleOptions(const std::string& chosen) {
  mu::data list = mu::data::type::list;
  for (const v1::SubjectRole role : cases::SubjectRoles()) {
    const std::string value(cases::SubjectRoleId(role));
    mu::data o;
    o.set("waarde", value);
    o.set("tekst", std::string(RoleText(role)));
    o.set("gekozen", mu::data(chosen == value));
    list.push_back(o);
  }
  return list;
}

// Which form new_case.mustache shows: Nieuwe casus, an acute case, or
// Aanmelden (a referral, with its own fields besides the same subjects).
enum class FormMode { kCase, kAcute, kReferral };

// The coordinator's role in the registry, read once per page under the lock.
struct MayDo {
  bool acute = false;
  std::vector<std::string> refer_to;
};
MayDo WhatMayIDo(Desk& desk) {
  return desk.With([&](client::Coordinator& c) {
    return MayDo{MayOpenAcuteCase(c, desk.policy()), ReferralPartners(c, desk.policy())};
  });
}

// "a, b en c" of the partners in a set (bits over the policy's partners).
std::string PartnerList(const policy::Policy& p, uint64_t set) {
  std::vector<std::string> names;
  for (size_t i = 0; i < p.partners().size() && i < 64; ++i) {
    if (set & (uint64_t{1} << i)) names.push_back(PartnerText(p, p.partners()[i].id));
  }
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += i + 1 == names.size() ? " en " : ", ";
    out += names[i];
  }
  return out;
}

// What opening an acute case does, in one sentence from the policy's acute block.
std::string AcuteExplanation(const policy::Policy& p) {
  const auto& a = p.acute();
  const int64_t hours = a.window_ms / (3600 * 1000LL);
  return "De casus begint in " + PhaseText(p, a.phase) + " en " + PartnerList(p, a.partners) +
         " worden meteen toegelaten (en krijgen direct bericht); binnen " + std::to_string(hours) +
         " uur draagt u haar over aan " + PartnerList(p, a.hand_over_to) +
         " of sluit u haar, daarna wordt elk verzoek geweigerd.";
}

// The purpose an acute case usually has, preselected when the policy knows it.
constexpr char kAcutePurpose[] = "acuut-gevaar-afwenden";

mu::data ReasonOptions(const policy::Policy& p, const std::vector<std::string>& chosen) {
  mu::data list = mu::data::type::list;
  for (const auto& code : p.referrals().reasons) {
    mu::data o;
    o.set("waarde", code.id);
    o.set("tekst", code.name.empty() ? CodeText(p, code.id) : code.name);
    o.set("gekozen", mu::data(std::find(chosen.begin(), chosen.end(), code.id) != chosen.end()));
    list.push_back(o);
  }
  return list;
}

mu::data TeamOptions(const policy::Policy& p, const std::vector<std::string>& partners, const std::string& chosen) {
  mu::data list = mu::data::type::list;
  for (const auto& id : partners) {
    mu::data o;
    o.set("waarde", id);
    o.set("tekst", PartnerText(p, id));
    o.set("gekozen", mu::data(id == chosen));
    list.push_back(o);
  }
  return list;
}

// The form with what was typed (the identifiers are copied into the page,
// then the form is wiped by the caller). `referral` only for kReferral.
void ShowNewCase(Desk& desk, Page& page, const NewCaseForm& form, const std::string& problem = "",
                 FormMode mode = FormMode::kCase, const ReferralForm* referral = nullptr) {
  const policy::Policy& p = desk.policy();
  const MayDo may = WhatMayIDo(desk);
  const bool acute_possible = may.acute && p.acute().defined;
  if (mode == FormMode::kAcute && !acute_possible) mode = FormMode::kCase;  // a forged post, shown refused
  mu::data d;
  d.set("doelen", PurposeOptions(p, form.purpose));
  SetIfAny(d, "doel_fout", form.purpose_error);
  SetIfAny(d, "personen_fout", form.subjects_error);
  SetIfAny(d, "fout", problem);
  d.set("annuleren", "/");
  std::string title = "Nieuwe casus", nav = "nieuw";
  switch (mode) {
    case FormMode::kCase:
      d.set("gewoon", mu::data(true));
      d.set("pad", "/casus/nieuw");
      d.set("formulier_id", "nieuwe-casus");
      d.set("knop", "Casus openen");
      d.set("knop_id", "casus-openen");
      if (acute_possible) {
        d.set("acuut_mogelijk", mu::data(true));
        d.set("acuut_uitleg", AcuteExplanation(p));
      }
      break;
    case FormMode::kAcute:
      title = "Acute casus openen";
      d.set("acuut", mu::data(true));
      d.set("acuut_uitleg", AcuteExplanation(p));
      d.set("pad", "/casus/nieuw");
      d.set("formulier_id", "acute-casus");
      d.set("knop", "Acute casus openen");
      d.set("knop_id", "acute-casus-openen");
      d.set("annuleren", "/casus/nieuw");
      break;
    case FormMode::kReferral: {
      title = "Aanmelden bij het Veiligheidsteam";
      nav = "aanmelden";
      const ReferralForm empty;
      const ReferralForm& r = referral ? *referral : empty;
      d.set("aanmelding", mu::data(true));
      d.set("pad", "/aanmelden");
      d.set("formulier_id", "aanmelden");
      d.set("knop", "Aanmelding versturen");
      d.set("knop_id", "aanmelding-versturen");
      d.set("kenmerk", r.reference);
      SetIfAny(d, "kenmerk_fout", r.reference_error);
      d.set("teams", TeamOptions(p, may.refer_to, r.to));
      SetIfAny(d, "team_fout", r.to_error);
      d.set("redenen", ReasonOptions(p, r.reasons));
      SetIfAny(d, "redenen_fout", r.reasons_error);
      break;
    }
  }
  mu::data rows = mu::data::type::list;
  for (size_t i = 0; i < form.rows.size(); ++i) {
    const SubjectRow& r = form.rows[i];
    mu::data row;
    row.set("n", std::to_string(i + 1));
    row.set("rollen", RoleOptions(r.role));
    row.set("bsn", r.bsn);
    row.set("naam", r.name);
    row.set("geboortedatum", r.birth);
    SetIfAny(row, "rol_fout", r.role_error);
    SetIfAny(row, "bsn_fout", r.bsn_error);
    SetIfAny(row, "naam_fout", r.name_error);
    SetIfAny(row, "datum_fout", r.birth_error);
    rows.push_back(row);
  }
  d.set("rijen", rows);
  d.set("aantal", std::to_string(form.rows.size()));
  d.set("meer_mogelijk", mu::data(form.rows.size() < kNewCaseMaxRows));
  desk.Show(page, title, "new_case.mustache", d, nav);
}

size_t RowsOf(const Page& page) {
  size_t n = kNewCaseRows;
  try {
    n = std::stoul(page.Value("aantal"));
  } catch (...) {
  }
  return std::clamp<size_t>(n, 1, kNewCaseMaxRows);
}

// GET /casus/nieuw, and ?acuut=ja for an acute case (only for an acute role).
void NewCaseFormPage(Desk& desk, Page& page) {
  NewCaseForm empty;
  empty.rows.resize(kNewCaseRows);
  const bool acute = page.Value("acuut") == "ja";  // ShowNewCase shows it only to an acute role
  if (acute && desk.policy().PurposeIndex(kAcutePurpose) >= 0) empty.purpose = kAcutePurpose;
  ShowNewCase(desk, page, empty, "", acute ? FormMode::kAcute : FormMode::kCase);
}

// The subjects' part of a posted form (Nieuwe casus, acute, Aanmelden).
// `more`: more rows were asked for, nothing is checked.
NewCaseForm ReadSubjectsPosted(Desk& desk, const Page& page, bool* more) {
  *more = page.Value("actie") == "meer";
  size_t rows = RowsOf(page);
  if (*more) rows = std::min(rows + kNewCaseRows, kNewCaseMaxRows);
  NewCaseForm form = ReadNewCaseForm(
      desk.policy(), [&](const std::string& name) { return page.Value(name); }, rows, TodayIso(desk));
  if (*more) {
    for (auto& r : form.rows) r.role_error = r.bsn_error = r.name_error = r.birth_error = "";
    form.purpose_error = form.subjects_error = "";
  }
  return form;
}

size_t CountPersons(const NewCaseForm& form) {
  return static_cast<size_t>(
      std::count_if(form.rows.begin(), form.rows.end(), [](const SubjectRow& r) { return !r.empty; }));
}

std::string PersonsText(size_t count) { return std::to_string(count) + (count == 1 ? " persoon" : " personen"); }

// POST /casus/nieuw: OpenCase, or with acuut=ja OpenAcuteCase. A role that
// may not open an acute case never gets that form; if it is posted anyway,
// the gateway refuses it and the page says so (the console decides nothing).
void OpenCasePage(Desk& desk, Page& page) {
  const bool acute = page.Value("acuut") == "ja";
  const FormMode mode = acute ? FormMode::kAcute : FormMode::kCase;
  bool more = false;
  NewCaseForm form = ReadSubjectsPosted(desk, page, &more);
  if (more) {  // more rows asked for: nothing is checked yet, nothing opened
    ShowNewCase(desk, page, form, "", mode);
    form.Wipe();
    return;
  }
  if (!form.ok()) {
    page.res.status = 400;
    ShowNewCase(desk, page, form, "Er is geen casus geopend: verbeter wat hieronder rood is gemarkeerd.", mode);
    form.Wipe();
    return;
  }
  auto opened = desk.With([&](client::Coordinator& c) {
    return acute ? c.OpenAcuteCase(form.purpose, form.Subjects()) : c.OpenCase(form.purpose, form.Subjects());
  });
  if (!opened.ok()) {
    spdlog::warn("console: a{} case was not opened: {}", acute ? "n acute" : "", opened.status().message());
    page.res.status = ClientErrorStatus(opened.status());
    ShowNewCase(desk, page, form, ClientErrorText(opened.status()), mode);
    form.Wipe();
    return;
  }
  const size_t count = CountPersons(form);
  form.Wipe();
  spdlog::info("console: {}case {} opened with {} subject(s)", acute ? "acute " : "", opened->case_id(), count);
  if (acute) {
    desk.Redirect(page, "/casus/" + opened->case_id(),
                  "Acute casus " + opened->case_id() + " geopend met " + PersonsText(count) + ": " +
                      PartnerList(desk.policy(), desk.policy().acute().partners) +
                      " zijn toegelaten. Draag haar op tijd over of sluit haar.");
    return;
  }
  desk.Redirect(page, "/casus/" + opened->case_id(),
                "Casus " + opened->case_id() + " geopend met " + PersonsText(count) +
                    ". Laat nu de partners toe die aan deze casus meewerken.");
}

// ------------------------------------------------------------ Aanmelden

void ReferralFormPage(Desk& desk, Page& page) {
  if (WhatMayIDo(desk).refer_to.empty()) {
    desk.ShowMessage(page, 403, "Aanmelden", "Uw rol meldt geen gezinnen aan bij een ander team.");
    return;
  }
  NewCaseForm empty;
  empty.rows.resize(kNewCaseRows);
  ShowNewCase(desk, page, empty, "", FormMode::kReferral);
}

// POST /aanmelden: checks everything, then SendReferral; nothing is sent
// while any field is wrong.
void SendReferralPage(Desk& desk, Page& page) {
  const MayDo may = WhatMayIDo(desk);
  ReferralForm referral =
      ReadReferralForm(desk.policy(), may.refer_to, Trim(page.Value("kenmerk")), page.Value("team"), page.Values("reden"));
  bool more = false;
  NewCaseForm form = ReadSubjectsPosted(desk, page, &more);
  if (more) {
    referral.reference_error = referral.to_error = referral.reasons_error = "";
    ShowNewCase(desk, page, form, "", FormMode::kReferral, &referral);
    form.Wipe();
    return;
  }
  if (!form.ok() || !referral.ok()) {
    page.res.status = 400;
    ShowNewCase(desk, page, form, "Er is niets verstuurd: verbeter wat hieronder rood is gemarkeerd.",
                FormMode::kReferral, &referral);
    form.Wipe();
    return;
  }
  client::ReferralSpec spec{referral.reference, referral.to, form.purpose, referral.reasons};
  auto sent = desk.With([&](client::Coordinator& c) { return c.SendReferral(spec, form.Subjects()); });
  if (!sent.ok()) {
    spdlog::warn("console: a referral was not sent: {}", sent.status().message());
    page.res.status = ClientErrorStatus(sent.status());
    ShowNewCase(desk, page, form, ClientErrorText(sent.status()), FormMode::kReferral, &referral);
    form.Wipe();
    return;
  }
  const size_t count = CountPersons(form);
  form.Wipe();
  spdlog::info("console: a referral to {} sent with {} subject(s)", referral.to, count);
  desk.Redirect(page, "/aanmeldingen",
                "Aanmelding " + referral.reference + " verstuurd met " + PersonsText(count) + "; de regisseurs van " +
                    PartnerText(desk.policy(), referral.to) + " beslissen of zij de casus openen.");
}

// ------------------------------------------------------------ Overnemen

std::vector<Notice> NoticesAbout(const Desk& desk, const std::string& case_id) {
  std::vector<Notice> out;
  for (auto& n : desk.Notices()) {
    if (n.case_id == case_id) out.push_back(std::move(n));
  }
  return out;
}

void ShowTakeOver(Desk& desk, Page& page, const std::string& case_id, const std::string& problem = "") {
  mu::data d;
  d.set("casus", case_id);
  mu::data offers = mu::data::type::list, others = mu::data::type::list;
  for (const auto& n : NoticesAbout(desk, case_id)) {
    mu::data item;
    item.set("wanneer", DateTimeText(n.at_ms));
    item.set("tekst", n.text);
    (n.offer_to_me ? offers : others).push_back(item);
  }
  d.set("heeft_aanbod", mu::data(!offers.is_empty_list()));
  d.set("aanbod", offers);
  d.set("heeft_meldingen", mu::data(!others.is_empty_list()));
  d.set("meldingen", others);
  SetIfAny(d, "fout", problem);
  // Taken over already (here, or an offer notice that is stale): no button.
  const int64_t now = desk.clock().NowMillis();
  auto facts = desk.With([&](client::Coordinator& c) { return c.LocalFacts(case_id); });
  if (facts.ok() && facts->CoordinatorAt(now) == desk.me()) d.set("al_van_u", mu::data(true));
  desk.Show(page, "Casus " + case_id + " overnemen", "take_over.mustache", d, "casussen");
}

void TakeOverPage(Desk& desk, Page& page) { ShowTakeOver(desk, page, page.PathPart(0)); }

void TakeOver(Desk& desk, Page& page) {
  const std::string case_id = page.PathPart(0);
  auto taken = desk.With([&](client::Coordinator& c) { return c.AcceptHandover(case_id); });
  if (!taken.ok()) {
    spdlog::warn("console: case {} not taken over: {}", case_id, taken.status().message());
    page.res.status = ClientErrorStatus(taken.status());
    ShowTakeOver(desk, page, case_id, ClientErrorText(taken.status()));
    return;
  }
  spdlog::info("console: case {} taken over ({} subject(s), {} fragment(s), {} withheld)", case_id, taken->subjects,
               taken->fragments, taken->withheld);
  mu::data d;
  d.set("casus", case_id);
  d.set("genomen", mu::data(true));
  d.set("fase", PhaseText(desk.policy(), taken->result.phase()));
  d.set("personen", std::to_string(taken->subjects));
  d.set("antwoorden", std::to_string(taken->fragments));
  d.set("delen", std::to_string(taken->parts_received));
  d.set("van_delen", std::to_string(taken->parts));
  if (taken->withheld > 0) {
    d.set("achtergebleven", taken->withheld == 1 ? std::string("1 antwoord bleef achter")
                                                 : std::to_string(taken->withheld) + " antwoorden bleven achter");
  }
  d.set("meer_volgt", mu::data(taken->parts == 0 || taken->parts_received + taken->withheld < taken->parts));
  desk.Show(page, "Casus " + case_id + " overgenomen", "take_over.mustache", d, "casussen");
}

}  // namespace

// ------------------------------------------------------------ the form

bool NewCaseForm::ok() const {
  if (!purpose_error.empty() || !subjects_error.empty()) return false;
  return std::all_of(rows.begin(), rows.end(), [](const SubjectRow& r) { return r.ok(); });
}

std::vector<v1::Subject> NewCaseForm::Subjects() const {
  std::vector<v1::Subject> out;
  for (const auto& r : rows) {
    if (!r.empty) out.push_back(r.subject);
  }
  return out;
}

void NewCaseForm::Wipe() {
  for (auto& r : rows) {
    for (std::string* s : {&r.role, &r.bsn, &r.name, &r.birth}) WipeString(*s);
    client::WipeSubject(&r.subject);
  }
}

namespace {

// One row: empty when no BSN, name or date was typed (a role alone is what
// the select starts with). A person needs a role and a BSN or a name, as on
// the command line (cli/coordinator_commands.cc); a BSN passes the
// elfproef, a date of birth is a real day not after today.
SubjectRow ReadRow(const std::function<std::string(const std::string&)>& value, size_t n, const std::string& today) {
  const std::string i = std::to_string(n);
  SubjectRow r;
  r.role = value("rol" + i);
  r.bsn = Trim(value("bsn" + i));
  r.name = Trim(value("naam" + i));
  r.birth = Trim(value("geboortedatum" + i));
  r.empty = r.bsn.empty() && r.name.empty() && r.birth.empty();
  if (r.empty) return r;
  auto role = RoleFromForm(r.role);
  if (role.ok()) {
    r.subject.set_role(*role);
  } else {
    r.role_error = role.status().message();
  }
  if (!r.bsn.empty()) {
    auto bsn = CheckBsn(r.bsn);
    if (bsn.ok()) {
      r.subject.set_bsn(*bsn);
    } else {
      r.bsn_error = bsn.status().message();
    }
  }
  if (r.name.size() > kMaxNameChars) {
    r.name_error = "een naam is hoogstens " + std::to_string(kMaxNameChars) + " tekens";
  } else if (std::any_of(r.name.begin(), r.name.end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; })) {
    r.name_error = "een naam bevat geen stuurtekens";
  } else {
    r.subject.set_name(r.name);
  }
  if (r.bsn.empty() && r.name.empty()) r.name_error = "vul een BSN of een naam in (liefst allebei)";
  if (!r.birth.empty()) {
    auto birth = CheckDate(r.birth);
    if (!birth.ok()) {
      r.birth_error = birth.status().message();
    } else if (*birth > today) {
      r.birth_error = "een geboortedatum ligt niet in de toekomst";
    } else {
      r.subject.set_date_of_birth(*birth);
    }
  }
  return r;
}

}  // namespace

NewCaseForm ReadNewCaseForm(const policy::Policy& policy, const std::function<std::string(const std::string&)>& value,
                            size_t rows, const std::string& today) {
  NewCaseForm form;
  form.purpose = value("doel");
  const bool known = std::any_of(policy.purposes().begin(), policy.purposes().end(),
                                 [&](const auto& p) { return p.id == form.purpose; });
  if (form.purpose.empty()) {
    form.purpose_error = "kies het doel van de casus";
  } else if (!known) {
    form.purpose_error = "dit doel staat niet in het beleid; kies er een uit de lijst";
  }
  rows = std::clamp<size_t>(rows, 1, kNewCaseMaxRows);
  for (size_t n = 1; n <= rows; ++n) form.rows.push_back(ReadRow(value, n, today));
  if (std::all_of(form.rows.begin(), form.rows.end(), [](const SubjectRow& r) { return r.empty; })) {
    form.subjects_error = "vul ten minste één persoon in";
  }
  return form;
}

// ------------------------------------------------------------ what my role may do

namespace {

// This participant's role and partner, from the signed registry.
std::pair<std::string, std::string> RoleAndPartner(const client::Coordinator& c) {
  auto entry = c.registry().Find(c.identity().id());
  if (!entry.ok()) return {};
  return {(*entry)->role, (*entry)->card.partner};
}

}  // namespace

bool MayOpenAcuteCase(const client::Coordinator& c, const policy::Policy& p) {
  const auto [role, partner] = RoleAndPartner(c);
  return !role.empty() && p.MayOpenAcute(role, partner);
}

std::vector<std::string> ReferralPartners(const client::Coordinator& c, const policy::Policy& p) {
  const auto [role, partner] = RoleAndPartner(c);
  std::vector<std::string> out;
  if (role.empty()) return out;
  for (const auto& to : p.partners()) {
    if (p.MayRefer(role, partner, to.id)) out.push_back(to.id);
  }
  return out;
}

ReferralForm ReadReferralForm(const policy::Policy& policy, const std::vector<std::string>& partners,
                              const std::string& reference, const std::string& to,
                              const std::vector<std::string>& reasons) {
  ReferralForm form;
  form.reference = reference;
  form.to = to;
  form.reasons = reasons;
  const bool allowed_chars = std::all_of(reference.begin(), reference.end(), [](unsigned char ch) {
    return std::isalnum(ch) || ch == '-' || ch == '/' || ch == '_';
  });
  if (reference.empty()) {
    form.reference_error = "vul het kenmerk van Veilig Thuis in";
  } else if (reference.size() > kMaxReferenceChars) {
    form.reference_error = "een kenmerk is hoogstens " + std::to_string(kMaxReferenceChars) + " tekens";
  } else if (!allowed_chars) {
    form.reference_error = "een kenmerk bevat alleen letters, cijfers en - / _";
  }
  if (std::find(partners.begin(), partners.end(), to) == partners.end()) {
    form.to_error = "kies het team waarbij u aanmeldt";
  }
  if (reasons.empty()) {
    form.reasons_error = "kies ten minste één reden";
  } else if (!std::all_of(reasons.begin(), reasons.end(),
                          [&](const std::string& r) { return policy::Policy::HasCode(policy.referrals().reasons, r); })) {
    form.reasons_error = "deze reden staat niet in het beleid; kies uit de lijst";
  }
  return form;
}

void RegisterReferralPages(Desk& desk) {
  desk.Get("/aanmelden", ReferralFormPage);
  desk.Post("/aanmelden", SendReferralPage);
  desk.Get("/aanmeldingen", [](Desk& d, Page& page) { ShowReferrals(d, page); });
  desk.Post(R"(/aanmeldingen/([0-9a-f]{32})/accepteren)", AcceptReferral);
  desk.Post(R"(/aanmeldingen/([0-9a-f]{32})/afwijzen)", DeclineReferral);
  desk.Get("/casus/nieuw", NewCaseFormPage);
  desk.Post("/casus/nieuw", OpenCasePage);
  // Before page_case.cc's /casus/{id}: the more specific pattern first.
  desk.Get(R"(/casus/([A-Za-z0-9._-]+)/overnemen)", TakeOverPage);
  desk.Post(R"(/casus/([A-Za-z0-9._-]+)/overnemen)", TakeOver);
}

}  // namespace kp::console
