// Casus: one case as its coordinator works on it. The head (purpose, phase,
// who coordinates, deadlines, a pending handover), the people in it, the
// partners, every answer as a table with who signed it and until when it may
// be kept, the refusals with their reason and rule, one timeline of
// everything that happened, and a small form for each action the CLI offers
// (`ketenpoort case phase|consent|gatekeeper|add-subject|admit|remove-partner|
// handover|cancel-handover|close`).
//
// What may follow what is decided by the case library and the gateway (one
// truth): the forms check only what a person typed (a date, a BSN's
// elfproef, a choice from the policy's lists); a refusal comes back from the
// client in words and is shown next to the form. Values from outside (names,
// fragment values, reasons) reach the template as data and are escaped there.
// The log names ids only.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <regex>
#include <set>

#include "case/case_chain.h"
#include "case/case_facts.h"
#include "case/subject_role.h"
#include "client/read_log.h"
#include "console/consent_view.h"
#include "console/desk.h"
#include "console/page_watch.h"
#include "console/view.h"
#include "core/base/encoding.h"
#include "core/base/time_format.h"
#include "core/crypto/secret_bytes.h"

namespace kp::console {
namespace {

namespace v1 = ketenpoort::v1;

constexpr int kDefaultOfferDays = 7;
constexpr int kMaxOfferDays = 30;  // cases::kMaxOfferMs

// Reason codes for the commands that carry one. The policy lists none of
// these (only referral and decline reasons); the code goes to the gateway
// (a-z0-9-, no free text: cases::CheckReasonCode), the label is what the
// coordinator reads.
struct ReasonCode {
  const char* code;
  const char* label;
};
constexpr ReasonCode kCloseReasons[] = {
    {"afgerond", "Afgerond: het plan van aanpak is uitgevoerd"},
    {"veiligheid-hersteld", "De veiligheid is duurzaam hersteld"},
    {"verhuisd-buiten-regio", "Het gezin is verhuisd buiten de regio"},
    {"overgedragen-aan-regulier", "Overgedragen aan de reguliere hulpverlening"},
};
constexpr ReasonCode kHandoverReasons[] = {
    {"overdracht-wijkteam", "Overdracht aan het lokale wijkteam"},
    {"overdracht-veilig-thuis", "Overdracht aan Veilig Thuis"},
    {"overdracht-veiligheidsteam", "Overdracht aan het Veiligheidsteam"},
    {"waarneming-afwezigheid", "Waarneming tijdens afwezigheid"},
};
constexpr ReasonCode kCancelReasons[] = {
    {"ander-besluit", "Anders besloten: de casus blijft bij mij"},
    {"verkeerde-collega", "Aan de verkeerde collega aangeboden"},
    {"waarneming-niet-nodig", "Waarneming is niet meer nodig"},
};
constexpr ReasonCode kRemoveReasons[] = {
    {"geen-rol-meer", "Heeft geen rol meer in het plan"},
    {"op-verzoek-partner", "Op verzoek van de partner"},
    {"ten-onrechte-toegelaten", "Ten onrechte toegelaten"},
};

template <size_t N>
bool IsCode(const ReasonCode (&codes)[N], const std::string& code) {
  return std::any_of(std::begin(codes), std::end(codes), [&](const ReasonCode& r) { return code == r.code; });
}

// A reason code as a coordinator reads it: our label, else the policy's name.
std::string ReasonText(const policy::Policy& p, const std::string& code) {
  for (const auto& r : kCloseReasons)
    if (code == r.code) return r.label;
  for (const auto& r : kHandoverReasons)
    if (code == r.code) return r.label;
  for (const auto& r : kCancelReasons)
    if (code == r.code) return r.label;
  for (const auto& r : kRemoveReasons)
    if (code == r.code) return r.label;
  return CodeText(p, code);
}

// A day that was typed and stored as the end of that day in UTC
// (ParseDateEndOfDayUtc): shown as that same day, whatever the local zone.
std::string UntilDayText(int64_t ms) {
  const std::string iso = FormatUtcDate(ms);  // JJJJ-MM-DD
  if (iso.size() != 10) return iso;
  return iso.substr(8, 2) + "-" + iso.substr(5, 2) + "-" + iso.substr(0, 4);
}

// "1 persoon", "3 personen".
std::string Count(size_t n, std::string_view one, std::string_view many) {
  return std::to_string(n) + " " + std::string(n == 1 ? one : many);
}

std::string Join(const std::vector<std::string>& items, std::string_view sep = ", ") {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += sep;
    out += item;
  }
  return out;
}

std::string CategoriesText(const policy::Policy& p, const std::vector<std::string>& ids) {
  std::vector<std::string> names;
  for (const auto& id : ids) names.push_back(CategoryText(p, id));
  return Join(names);
}

std::string RoleName(const policy::Policy& p, const std::string& role) {
  for (const auto& r : p.roles()) {
    if (r.id == role) return r.name.empty() ? r.id : r.name;
  }
  return role;
}

// A list of choices for a select, `chosen` marked.
mu::data Options(const std::vector<std::pair<std::string, std::string>>& items, const std::string& chosen) {
  mu::data list = mu::data::type::list;
  for (const auto& [value, label] : items) {
    mu::data o;
    o.set("waarde", value);
    o.set("label", label);
    o.set("gekozen", mu::data(value == chosen));
    list.push_back(o);
  }
  return list;
}

template <size_t N>
mu::data ReasonOptions(const ReasonCode (&codes)[N], const std::string& chosen) {
  std::vector<std::pair<std::string, std::string>> items;
  for (const auto& r : codes) items.emplace_back(r.code, r.label);
  return Options(items, chosen);
}

// --- what the page shows, read under the coordinator's lock

struct Answer {
  client::StoredFragment stored;  // its sealed copy wiped once read
  Result<client::Outcome> read = client::Outcome{};
  std::string partner;  // the source partner's id
  // Why its content is not shown: the read log could not record the
  // showing (client/read_log.h); `read` then holds that error, not the content.
  std::string not_shown;
};

struct CaseData {
  client::CaseInfo info;
  std::optional<client::KnownStatus> status;
  std::optional<cases::CaseFacts> facts;
  std::string facts_problem;  // why there are no facts
  bool unsure = false;        // the last command got no clear answer
  std::vector<v1::Subject> subjects;
  std::vector<client::RequestInfo> requests;
  std::map<std::string, int64_t> approval_until;  // request id -> the source decides by (§3.10)
  std::set<std::string> watch_ids;                 // requests that are watches (Laten volgen)
  std::vector<Answer> answers;
  std::vector<cases::ChainCommand> commands;
  std::vector<std::pair<std::string, std::string>> successors;  // who may take the case over: (id, label)

  CaseData() = default;
  CaseData(CaseData&&) = default;
  CaseData& operator=(CaseData&&) = default;
  ~CaseData() {
    for (auto& s : subjects) client::WipeSubject(&s);
  }
};

// The participants the case may be handed to: coordinators other than me,
// whom the policy lets take this case over (cases::MayTakeOver: an acute
// case only to the policy's hand_over_to partners).
std::vector<std::pair<std::string, std::string>> Successors(const Desk& desk, const client::Coordinator& c,
                                                            const std::optional<cases::CaseFacts>& facts) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [id, entry] : c.registry().entries()) {
    if (entry.card.kind != ParticipantKind::kCoordinator || id == desk.me()) continue;
    const bool may = facts.has_value() ? cases::MayTakeOver(desk.policy(), *facts, entry).ok()
                                       : cases::MayCoordinate(desk.policy(), entry);
    if (!may) continue;
    out.emplace_back(id,
                     id + " — " + PartnerText(desk.policy(), entry.card.partner) +
                         (entry.role.empty() ? std::string() : ", " + RoleName(desk.policy(), entry.role)));
  }
  return out;
}

// The partner that answered: the one asked, or (a fragment handed over,
// whose request is not ours) the partner of the agent that signed it.
std::string PartnerOf(const client::Coordinator& c, const std::vector<client::RequestInfo>& requests,
                      const client::StoredFragment& f) {
  for (const auto& r : requests) {
    if (r.request_id == f.request_id) return r.partner;
  }
  auto it = c.registry().entries().find(f.source);
  return it == c.registry().entries().end() ? std::string() : it->second.card.partner;
}

Result<CaseData> LoadCase(Desk& desk, const std::string& id) {
  return desk.With([&](client::Coordinator& c) -> Result<CaseData> {
    CaseData d;
    KP_ASSIGN_OR_RETURN(d.info, c.store().GetCase(id));
    KP_ASSIGN_OR_RETURN(d.status, c.store().GetStatus(id));
    auto facts = c.LocalFacts(id, &desk.policy());
    if (facts.ok()) {
      d.facts = std::move(facts).value();
    } else {
      d.facts_problem = facts.status().message();
    }
    KP_ASSIGN_OR_RETURN(auto head, c.store().ChainHead(id));
    d.unsure = head.unsure;
    KP_ASSIGN_OR_RETURN(d.subjects, c.store().Subjects(id));
    KP_ASSIGN_OR_RETURN(d.requests, c.store().Requests(id));
    for (const auto& r : d.requests) {
      if (r.state != client::RequestState::kPending) continue;
      KP_ASSIGN_OR_RETURN(int64_t until, c.store().ApprovalWaitUntil(r.request_id));
      if (until > 0) d.approval_until[r.request_id] = until;
    }
    KP_ASSIGN_OR_RETURN(auto watches, c.store().Watches(id, desk.clock().NowMillis()));
    for (const auto& w : watches) d.watch_ids.insert(w.watch_id);
    KP_ASSIGN_OR_RETURN(auto fragments, c.store().Fragments(id));
    for (auto& f : fragments) {
      Answer a{f, c.ReadFragment(f), PartnerOf(c, d.requests, f)};
      SecureWipe(f.content.data(), f.content.size());
      SecureWipe(a.stored.content.data(), a.stored.content.size());
      a.stored.content.clear();
      d.answers.push_back(std::move(a));
    }
    // NEN 7513: every answer shown is in the coordinator's read log first;
    // a showing that cannot be recorded shows no content (fail closed).
    std::vector<const client::Outcome*> shown;
    for (const auto& a : d.answers) {
      if (a.read.ok()) shown.push_back(&*a.read);
    }
    if (Status logged = client::RecordShown(c, shown, "console: casuspagina", desk.clock()); !logged.ok()) {
      spdlog::error("console: case {}: {} answer(s) not shown: the read log did not record the showing (code {})",
                    id, shown.size(), static_cast<int>(logged.code()));
      for (auto& a : d.answers) {
        if (!a.read.ok()) continue;
        a.read = logged;
        a.not_shown = logged.message();
      }
    }
    KP_ASSIGN_OR_RETURN(auto chain, c.store().Chain(id));
    for (const auto& e : chain) {
      auto cmd = cases::ParseVerifiedCommand(e);
      if (cmd.ok()) d.commands.push_back(std::move(cmd).value());
    }
    d.successors = Successors(desk, c, d.facts);
    return d;
  });
}

// --- a form that went wrong: re-shown with the typed values and a message

struct Rejection {
  std::string form;     // which form ("fase", "persoon", ...)
  std::string field;    // which field is wrong ("" : the form as a whole)
  std::string message;  // Dutch
  int status = 400;
};

// The values of the form that went wrong; nothing for the others (a GET).
struct Typed {
  const Page& page;
  const Rejection* rejection;
  std::string operator()(const std::string& form, const std::string& name,
                         const std::string& otherwise = "") const {
    if (rejection == nullptr || rejection->form != form) return otherwise;
    return page.Value(name);
  }
  std::vector<std::string> All(const std::string& form, const std::string& name) const {
    if (rejection == nullptr || rejection->form != form) return {};
    return page.Values(name);
  }
};

// A form's data object: its own one-time form id, and the message when it is
// the one that went wrong (with the wrong field marked).
mu::data FormData(Desk& desk, const Page& page, const Rejection* rejection, const std::string& form) {
  mu::data f;
  desk.AddFormFields(page, f);
  if (rejection != nullptr && rejection->form == form) {
    f.set("fout", rejection->message);
    if (!rejection->field.empty()) f.set("fout_" + rejection->field, mu::data(true));
  }
  return f;
}

// --- the head

void AddHead(const Desk& desk, const CaseData& d, int64_t now, mu::data& out) {
  const auto& p = desk.policy();
  const v1::CaseStatus st = d.status.has_value() ? d.status->status : v1::CaseStatus();
  std::string phase = st.phase();
  if (phase.empty() && d.facts.has_value()) phase = d.facts->phase;
  if (phase.empty()) phase = d.info.phase;
  out.set("id", d.info.id);
  out.set("doel", PurposeText(p, d.info.purpose));
  out.set("fase", PhaseText(p, phase));
  out.set("geopend", DateTimeText(d.info.opened_ms));
  out.set("open_sinds", DaysText(d.info.opened_ms, now));
  out.set("gesloten", mu::data(d.info.closed));
  if (d.facts.has_value() && d.facts->closed) {
    out.set("gesloten_op",
            DateTimeText(d.facts->closed_ms) + " (" + ReasonText(p, d.facts->close_reason) + ")");
  }
  std::string by = d.facts.has_value() ? d.facts->CoordinatorAt(now) : st.coordinator();
  if (!by.empty()) {
    out.set("regisseur", by == desk.me() ? "u (" + by + ")" : by);
    if (d.facts.has_value()) out.set("regisseur_sinds", DateText(d.facts->CoordinatorSinceAt(now)));
  }
  if (d.facts.has_value()) {
    const cases::CaseFacts& f = *d.facts;
    if (!f.stand_in_for.empty() && by != f.stand_in_for && f.stand_in_until_ms > now) {
      out.set("waarneming",
              "waarneming voor " + f.stand_in_for + " tot en met " + UntilDayText(f.stand_in_until_ms));
    }
    if (!f.referral_reference.empty()) {
      out.set("aanmelding", f.referral_reference + " van " + f.referred_by);
    }
    if (const cases::HandoverOffer* o = f.PendingOfferAt(now)) {
      std::string text = "aangeboden aan " + o->to + " (" + ReasonText(p, o->reason) + ") op " +
                         DateTimeText(o->offered_ms) + "; het aanbod vervalt " + DateTimeText(o->expires_ms) +
                         ", " + TimeLeftText(o->expires_ms, now);
      if (o->stand_in_until_ms > 0) text += "; waarneming tot en met " + UntilDayText(o->stand_in_until_ms);
      out.set("overdracht", text);
    }
  } else if (!st.pending_handover_to().empty()) {
    out.set("overdracht", "aangeboden aan " + st.pending_handover_to() + "; het aanbod vervalt " +
                              DateTimeText(st.pending_handover_expires_ms()));
  }
  if (!d.info.closed) {
    if (st.acute_until_ms() > 0) {
      out.set("acuut",
              DateTimeText(st.acute_until_ms()) + " (" + TimeLeftText(st.acute_until_ms(), now) + ")");
      out.set("acuut_dringend", mu::data(st.acute_until_ms() - now < kDay));
    }
    if (st.coordination_ends_ms() > 0) {
      out.set("regie_eind", DateText(st.coordination_ends_ms()) + " (" +
                                TimeLeftText(st.coordination_ends_ms(), now) + ")");
      out.set("regie_dringend", mu::data(st.coordination_ends_ms() - now < 14 * kDay));
    }
  }
  if (d.status.has_value()) out.set("status_van", DateTimeText(d.status->at_ms));
  if (d.unsure) out.set("onzeker", mu::data(true));
  if (!d.facts.has_value()) out.set("geschiedenis_probleem", d.facts_problem);
}

// --- Betrokkenen

void AddSubjects(const Desk& desk, const CaseData& d, int64_t now, mu::data& out) {
  const auto& p = desk.policy();
  mu::data rows = mu::data::type::list;
  for (const auto& s : d.subjects) {
    mu::data row;
    row.set("ref", s.ref());
    row.set("rol", std::string(RoleText(s.role())));
    row.set("naam", s.name());
    if (auto dob = CheckDate(s.date_of_birth()); dob.ok()) {
      row.set("geboren", dob->substr(8, 2) + "-" + dob->substr(5, 2) + "-" + dob->substr(0, 4));
    } else {
      row.set("geboren", s.date_of_birth());
    }
    row.set("bsn", MaskBsn(s.bsn()));
    mu::data consents = mu::data::type::list;
    if (d.facts.has_value()) {
      for (const auto& [key, consent] : d.facts->consents) {
        if (key.first != s.ref()) continue;
        const int64_t until = consent.valid_until_ms;
        mu::data c;
        c.set("doel", PurposeText(p, key.second));
        c.set("tot", UntilDayText(until));
        c.set("door", GiversText(consent.givers));  // consent per subject (consent_view.h)
        if (consent.age_years >= 0) c.set("leeftijd", std::to_string(consent.age_years) + " jaar");
        c.set("verlopen", mu::data(until < now));
        consents.push_back(c);
      }
    }
    row.set("heeft_toestemming", mu::data(!consents.is_empty_list()));
    row.set("toestemmingen", consents);
    rows.push_back(row);
  }
  out.set("heeft_personen", mu::data(!d.subjects.empty()));
  out.set("personen", rows);
}

// The partners admitted now: the gateway's word when it gave one (an acute
// case admits the policy's acute partners), else the history's.
std::vector<std::string> Members(const CaseData& d) {
  if (d.status.has_value() && d.status->status.members_size() > 0) {
    return {d.status->status.members().begin(), d.status->status.members().end()};
  }
  if (d.facts.has_value()) {
    std::vector<std::pair<int64_t, std::string>> byTime;
    for (const auto& [partner, when] : d.facts->members) byTime.emplace_back(when, partner);
    std::sort(byTime.begin(), byTime.end());
    std::vector<std::string> out;
    for (auto& [when, partner] : byTime) out.push_back(partner);
    return out;
  }
  return d.info.partners;
}

void AddPartners(const Desk& desk, const CaseData& d, int64_t now, mu::data& out) {
  const auto& p = desk.policy();
  const std::vector<std::string> members = Members(d);
  mu::data rows = mu::data::type::list;
  for (const auto& m : members) {
    mu::data row;
    row.set("id", m);
    row.set("naam", PartnerText(p, m));
    if (d.facts.has_value()) {
      auto it = d.facts->members.find(m);
      if (it != d.facts->members.end()) row.set("sinds", DateText(it->second));
    }
    rows.push_back(row);
  }
  out.set("heeft_partners", mu::data(!members.empty()));
  out.set("partners", rows);
  mu::data approvals = mu::data::type::list;
  if (d.facts.has_value()) {
    for (const auto& [key, until] : d.facts->approvals) {
      const auto& [source, category, purpose] = key;
      mu::data a;
      a.set("partner", PartnerText(p, source));
      a.set("categorie", CategoryText(p, category));
      a.set("doel", PurposeText(p, purpose));
      a.set("tot", UntilDayText(until));
      a.set("verlopen", mu::data(until < now));
      approvals.push_back(a);
    }
  }
  out.set("heeft_akkoorden", mu::data(!approvals.is_empty_list()));
  out.set("akkoorden", approvals);
}

// --- Antwoorden and Weigeringen

// One category of a fragment as a table: a row per record, a column per
// field that occurs (the subject first), "–" where a record has no value.
mu::data CategoryTable(const Desk& desk, const CaseData& d, const v1::CategoryFragment& cat) {
  std::vector<std::string> columns;
  for (const auto& rec : cat.records()) {
    for (const auto& fv : rec.values()) {
      if (std::find(columns.begin(), columns.end(), fv.field()) == columns.end())
        columns.push_back(fv.field());
    }
  }
  mu::data heads = mu::data::type::list;
  for (const auto& col : columns) {
    mu::data h;
    std::string name = col;
    std::replace(name.begin(), name.end(), '_', ' ');
    h.set("naam", name);
    heads.push_back(h);
  }
  mu::data rows = mu::data::type::list;
  for (const auto& rec : cat.records()) {
    mu::data row;
    std::string who = rec.subject_ref();
    for (const auto& s : d.subjects) {
      if (s.ref() == rec.subject_ref()) who += " (" + std::string(RoleText(s.role())) + ")";
    }
    row.set("persoon", who);
    mu::data cells = mu::data::type::list;
    for (const auto& col : columns) {
      std::string value = "–";
      for (const auto& fv : rec.values()) {
        if (fv.field() == col) value = fv.value();
      }
      mu::data cell;
      cell.set("waarde", value);
      cells.push_back(cell);
    }
    row.set("cellen", cells);
    rows.push_back(row);
  }
  mu::data t;
  t.set("naam", CategoryText(desk.policy(), cat.category()));
  t.set("aantal", std::to_string(cat.records_size()));
  t.set("kolommen", heads);
  t.set("rijen", rows);
  t.set("heeft_rijen", mu::data(cat.records_size() > 0));
  return t;
}

// The rules a refusal's reason names ("rule X ..."), as far as the policy
// has them. The store keeps the reason, not the refusal's rule ids.
mu::data RulesNamedIn(const policy::Policy& p, const std::string& reason) {
  mu::data list = mu::data::type::list;
  static const std::regex kRule(R"(\brule ([A-Za-z0-9][A-Za-z0-9._-]*))");
  std::vector<std::string> seen;
  for (auto it = std::sregex_iterator(reason.begin(), reason.end(), kRule); it != std::sregex_iterator();
       ++it) {
    std::string id = (*it)[1];
    while (!id.empty() && (id.back() == '.' || id.back() == '-')) id.pop_back();
    if (std::find(seen.begin(), seen.end(), id) != seen.end()) continue;
    for (const auto& r : p.rules()) {
      if (r.id != id) continue;
      seen.push_back(id);
      mu::data rule;
      rule.set("id", id);
      if (!r.explanation.empty()) rule.set("uitleg", r.explanation);
      list.push_back(rule);
    }
  }
  return list;
}

void AddAnswers(Desk& desk, const Page& page, const CaseData& d, int64_t now, mu::data& out) {
  const auto& p = desk.policy();
  mu::data answers = mu::data::type::list;
  for (const auto& a : d.answers) {
    mu::data row;
    row.set("bron", a.partner.empty() ? a.stored.source : PartnerText(p, a.partner));
    // A term counted from the case's closure (protocol §3.3) runs once it closed.
    const std::optional<int64_t> keep_until = client::RetentionEnd(
        a.stored.retain_until_ms, a.stored.retain_after_closure_ms,
        d.facts.has_value() && d.facts->closed ? std::optional<int64_t>(d.facts->closed_ms) : std::nullopt);
    if (keep_until.has_value()) {
      row.set("bewaren_tot", DateText(*keep_until));
      row.set("bewaren_nog", TimeLeftText(*keep_until, now));
      row.set("bewaren_kort", mu::data(*keep_until - now < 14 * kDay));
    } else {
      row.set("bewaren_tot",
              std::to_string(a.stored.retain_after_closure_ms / kDay) + " dagen na sluiting van de casus");
      row.set("bewaren_nog", std::string("zolang de casus open is"));
      row.set("bewaren_kort", mu::data(false));
    }
    if (!a.stored.handed_by.empty()) row.set("overgedragen_door", a.stored.handed_by);
    if (!a.not_shown.empty()) {
      row.set("ondertekend_door", a.stored.source);
      row.set("niet_getoond", a.not_shown);
      answers.push_back(row);
      continue;
    }
    if (!a.read.ok()) {
      // The sealed copy did not open or verify: the store was changed or damaged.
      row.set("ondertekend_door", a.stored.source);
      row.set("probleem", a.read.status().message());
      answers.push_back(row);
      continue;
    }
    const client::Outcome& o = *a.read;
    row.set("ondertekend_door", o.signer);
    row.set("ondertekend", DateTimeText(o.signed_ms));
    mu::data cats = mu::data::type::list;
    for (const auto& cat : o.content.categories()) cats.push_back(CategoryTable(desk, d, cat));
    row.set("categorieen", cats);
    answers.push_back(row);
  }
  out.set("heeft_antwoorden", mu::data(!d.answers.empty()));
  out.set("antwoorden", answers);

  mu::data refused = mu::data::type::list, waiting = mu::data::type::list;
  for (const auto& r : d.requests) {
    mu::data row;
    row.set("partner", PartnerText(p, r.partner));
    row.set("categorieen", CategoriesText(p, r.categories));
    row.set("doel", PurposeText(p, r.purpose));
    row.set("gevraagd", DateTimeText(r.sent_ms));
    if (r.state == client::RequestState::kRefused || r.state == client::RequestState::kFailed) {
      row.set("geweigerd", r.answered_ms > 0 ? DateTimeText(r.answered_ms) : std::string("–"));
      row.set("reden", r.refusal);
      row.set("niet_verstuurd", mu::data(r.state == client::RequestState::kFailed));
      mu::data rules = RulesNamedIn(p, r.refusal);
      row.set("heeft_regels", mu::data(!rules.is_empty_list()));
      row.set("regels", rules);
      refused.push_back(row);
    } else if (r.state == client::RequestState::kPending) {
      row.set("sinds", DaysText(r.sent_ms, now));
      row.set("bevestigd", mu::data(r.accepted));
      if (auto a = d.approval_until.find(r.request_id); a != d.approval_until.end()) {
        row.set("goedkeuring_tot", DateTimeText(a->second));  // the source's professional decides first
      }
      if (!r.accepted && !r.refusal.empty()) row.set("waarom", r.refusal);
      // Not confirmed: the gateway may never have got it, so it can be sent
      // again (byte for byte: the gateway takes it once). A confirmed one
      // needs nothing: its answer comes by itself.
      if (!r.accepted && !d.info.closed) {
        row.set("verzoek", HexEncode(r.request_id));
        desk.AddFormFields(page, row);
      }
      waiting.push_back(row);
    }
  }
  out.set("heeft_weigeringen", mu::data(!refused.is_empty_list()));
  out.set("weigeringen", refused);
  out.set("heeft_wachtend", mu::data(!waiting.is_empty_list()));
  out.set("wachtend", waiting);
}

// --- Tijdlijn

struct Moment {
  int64_t at_ms = 0;
  std::string text;
  std::string who;   // "" when not known
  std::string kind;  // li class: "", "weigering", "overdracht", "antwoord"
};

std::string Who(const Desk& desk, const std::string& id) { return id == desk.me() ? "u" : id; }

std::string SubjectsText(const google::protobuf::RepeatedPtrField<v1::SubjectRef>& refs) {
  std::vector<std::string> items;
  for (const auto& s : refs) items.push_back(s.ref() + " (" + std::string(RoleText(s.role())) + ")");
  return Join(items);
}

// What a signed case command did, in Dutch.
Moment CommandMoment(const Desk& desk, const CaseData& d, const cases::ChainCommand& c) {
  const auto& p = desk.policy();
  const v1::CaseCommand& cmd = c.command;
  Moment m{c.signed_ms, "", Who(desk, c.signer), ""};
  switch (cmd.command_case()) {
    case v1::CaseCommand::kOpen: {
      m.text = "Casus geopend";
      if (cmd.open().acute()) m.text += " als acute casus (Samen op in Acuut)";
      if (!cmd.open().referral().empty() && d.facts.has_value() && !d.facts->referral_reference.empty()) {
        m.text += " op aanmelding " + d.facts->referral_reference + " van " + d.facts->referred_by;
      } else if (!cmd.open().referral().empty()) {
        m.text += " op een aanmelding";
      }
      m.text += " voor het doel: " + PurposeText(p, cmd.open().purpose()) +
                " Personen: " + SubjectsText(cmd.open().subjects()) + ".";
      break;
    }
    case v1::CaseCommand::kAdmit:
      m.text = PartnerText(p, cmd.admit().partner()) + " toegelaten tot de casus.";
      break;
    case v1::CaseCommand::kChangePhase:
      m.text = "Fase gewijzigd naar " + PhaseText(p, cmd.change_phase().phase()) + ".";
      break;
    case v1::CaseCommand::kRecordConsent:
      m.text = "Toestemming van " + cmd.record_consent().subject_ref() +
               " vastgelegd voor het doel: " + PurposeText(p, cmd.record_consent().purpose()) +
               " Geldig tot en met " + UntilDayText(cmd.record_consent().valid_until_ms()) + ".";
      break;
    case v1::CaseCommand::kWithdrawConsent:
      m.text = "Toestemming van " + cmd.withdraw_consent().subject_ref() +
               " ingetrokken voor het doel: " + PurposeText(p, cmd.withdraw_consent().purpose());
      break;
    case v1::CaseCommand::kGatekeeperApproval: {
      const auto& g = cmd.gatekeeper_approval();
      m.text = "Akkoord van de poortwachter vastgelegd: " + PartnerText(p, g.source_partner()) + " mag " +
               CategoriesText(p, {g.categories().begin(), g.categories().end()}) +
               " delen voor het doel: " + PurposeText(p, g.purpose()) + " Geldig tot en met " +
               UntilDayText(g.valid_until_ms()) + ".";
      break;
    }
    case v1::CaseCommand::kClose:
      m.text = "Casus gesloten: " + ReasonText(p, cmd.close().reason_code()) + ".";
      break;
    case v1::CaseCommand::kAddSubject:
      m.text = "Persoon " + cmd.add_subject().subject().ref() + " (" +
               std::string(RoleText(cmd.add_subject().subject().role())) + ") toegevoegd.";
      break;
    case v1::CaseCommand::kOfferHandover: {
      const auto& o = cmd.offer_handover();
      m.kind = "overdracht";
      m.text = (o.stand_in_until_ms() > 0 ? "Waarneming aangeboden aan " : "Overdracht aangeboden aan ") +
               o.to() + " (" + ReasonText(p, o.reason_code()) + "); het aanbod gold tot " +
               DateTimeText(o.expires_at_ms());
      if (o.stand_in_until_ms() > 0)
        m.text += "; waarneming tot en met " + UntilDayText(o.stand_in_until_ms());
      m.text += ".";
      break;
    }
    case v1::CaseCommand::kAcceptHandover:
      m.kind = "overdracht";
      m.text = "Overdracht aanvaard: " + Who(desk, c.signer) + " voert vanaf nu de regie.";
      break;
    case v1::CaseCommand::kCancelHandover:
      m.kind = "overdracht";
      m.text =
          "Aanbod tot overdracht ingetrokken (" + ReasonText(p, cmd.cancel_handover().reason_code()) + ").";
      break;
    case v1::CaseCommand::kRemovePartner:
      m.text = PartnerText(p, cmd.remove_partner().partner()) + " verwijderd uit de casus (" +
               ReasonText(p, cmd.remove_partner().reason_code()) + ").";
      break;
    default:
      m.text = "Opdracht " + cases::CommandName(cmd) + ".";
  }
  return m;
}

void AddTimeline(const Desk& desk, const CaseData& d, mu::data& out) {
  const auto& p = desk.policy();
  std::vector<Moment> moments;
  for (const auto& c : d.commands) moments.push_back(CommandMoment(desk, d, c));
  if (d.facts.has_value()) {
    // A stand-in's end is no command: the case came back by itself.
    for (const auto& h : d.facts->handovers) {
      if (h.stand_in_until_ms > 0 && h.stand_in_until_ms < desk.clock().NowMillis()) {
        moments.push_back(
            {h.stand_in_until_ms,
             "De waarneming van " + h.to + " is afgelopen; de regie is terug bij " + Who(desk, h.from) + ".",
             "", "overdracht"});
      }
    }
  }
  std::map<std::string, int64_t> received;
  for (const auto& a : d.answers) received[a.stored.request_id] = a.stored.received_ms;
  for (const auto& r : d.requests) {
    const std::string asked = PartnerText(p, r.partner) + ": " + CategoriesText(p, r.categories);
    const bool watch = d.watch_ids.count(r.request_id) > 0;
    const std::string sent = watch ? "Volgen gevraagd bij " : "Informatie opgevraagd bij ";
    moments.push_back({r.sent_ms, sent + asked + ".", "u", ""});
    switch (r.state) {
      case client::RequestState::kDelivered: {
        auto it = received.find(r.request_id);
        const int64_t at =
            r.answered_ms > 0 ? r.answered_ms : (it != received.end() ? it->second : r.sent_ms);
        if (watch) {  // the agent keeps the watch: its confirmation is no answer
          moments.push_back({at, "Volgen bevestigd door " + PartnerText(p, r.partner) + ".", r.agent, ""});
          break;
        }
        moments.push_back({at, "Antwoord ontvangen van " + asked + ".", r.agent, "antwoord"});
        break;
      }
      case client::RequestState::kRefused:
        moments.push_back({r.answered_ms, "Weigering van het verzoek aan " + asked + ". Reden: " + r.refusal,
                           "", "weigering"});
        break;
      case client::RequestState::kFailed:
        moments.push_back({r.answered_ms, "Het verzoek aan " + asked + " is niet afgehandeld: " + r.refusal,
                           "", "weigering"});
        break;
      case client::RequestState::kPending:
        break;
    }
  }
  for (const auto& a : d.answers) {
    if (a.stored.handed_by.empty()) continue;
    moments.push_back(
        {a.stored.received_ms,
         "Antwoord van " + a.stored.source + " ontvangen bij de overdracht van " + a.stored.handed_by + ".",
         "", "overdracht"});
  }
  std::stable_sort(moments.begin(), moments.end(),
                   [](const Moment& a, const Moment& b) { return a.at_ms < b.at_ms; });
  mu::data list = mu::data::type::list;
  for (const auto& m : moments) {
    mu::data item;
    item.set("wanneer", DateTimeText(m.at_ms));
    item.set("tekst", m.text);
    if (!m.who.empty()) item.set("wie", m.who);
    if (!m.kind.empty()) item.set("klasse", m.kind);
    list.push_back(item);
  }
  out.set("heeft_tijdlijn", mu::data(!moments.empty()));
  out.set("tijdlijn", list);
}

// --- the actions' forms

std::vector<std::pair<std::string, std::string>> PurposeItems(const policy::Policy& p) {
  std::vector<std::pair<std::string, std::string>> items;
  for (const auto& x : p.purposes()) items.emplace_back(x.id, PurposeText(p, x.id));
  return items;
}

std::vector<std::pair<std::string, std::string>> PartnerItems(const policy::Policy& p,
                                                              const std::vector<std::string>& except = {}) {
  std::vector<std::pair<std::string, std::string>> items;
  for (const auto& x : p.partners()) {
    if (std::find(except.begin(), except.end(), x.id) != except.end()) continue;
    items.emplace_back(x.id, PartnerText(p, x.id));
  }
  return items;
}

void AddForms(Desk& desk, const Page& page, const Rejection* rej, const CaseData& d, int64_t now,
              mu::data& out) {
  const auto& p = desk.policy();
  const Typed typed{page, rej};
  const std::string coordinator = d.facts.has_value()    ? d.facts->CoordinatorAt(now)
                                  : d.status.has_value() ? d.status->status.coordinator()
                                                         : std::string();
  const bool mine = !d.info.closed && coordinator == desk.me();
  out.set("acties", mu::data(mine));
  if (!d.info.closed && !mine) {
    out.set("niet_mijn", coordinator.empty() ? std::string("onbekend") : coordinator);
  }
  if (!mine) return;

  std::string current_phase = d.facts.has_value() ? d.facts->phase : d.info.phase;
  if (d.status.has_value() && !d.status->status.phase().empty()) current_phase = d.status->status.phase();
  {
    mu::data f = FormData(desk, page, rej, "fase");
    std::vector<std::pair<std::string, std::string>> items;
    for (const auto& ph : p.phases()) {
      if (!ph.closed && ph.id != current_phase) items.emplace_back(ph.id, PhaseText(p, ph.id));
    }
    f.set("opties", Options(items, typed("fase", "fase")));
    out.set("f_fase", f);
  }
  std::vector<std::pair<std::string, std::string>> refs;
  if (d.facts.has_value()) {
    for (const auto& s : d.facts->subjects) {
      const std::optional<int> age = AgeOf(d.subjects, s.ref, now);
      refs.emplace_back(s.ref, s.ref + " (" + std::string(RoleText(s.role)) +
                                   (age.has_value() ? ", " + std::to_string(*age) + " jaar" : std::string()) + ")");
    }
  }
  {
    mu::data f = FormData(desk, page, rej, "toestemming");
    f.set("personen", Options(refs, typed("toestemming", "persoon")));
    f.set("doelen", Options(PurposeItems(p), typed("toestemming", "doel", d.info.purpose)));
    f.set("tot", typed("toestemming", "tot"));
    f.set("gevers", Options(GiverItems(), typed("toestemming", "gegeven_door", "betrokkene")));
    if (std::string rule = AgeRuleText(p); !rule.empty()) f.set("leeftijdsregel", rule);
    out.set("f_toestemming", f);
  }
  if (d.facts.has_value() && !d.facts->consents.empty()) {
    mu::data f = FormData(desk, page, rej, "intrekken");
    std::vector<std::pair<std::string, std::string>> items;
    for (const auto& [key, consent] : d.facts->consents) {
      items.emplace_back(key.first + "|" + key.second, key.first + " — " + PurposeText(p, key.second) +
                                                           " (tot en met " + UntilDayText(consent.valid_until_ms) + ")");
    }
    f.set("toestemmingen", Options(items, typed("intrekken", "toestemming")));
    out.set("f_intrekken", f);
  }
  {
    mu::data f = FormData(desk, page, rej, "poortwachter");
    f.set("partners", Options(PartnerItems(p), typed("poortwachter", "partner")));
    const std::vector<std::string> chosen = typed.All("poortwachter", "categorie");
    mu::data cats = mu::data::type::list;
    for (const auto& cat : p.categories()) {
      mu::data o;
      o.set("waarde", cat.id);
      o.set("label", CategoryText(p, cat.id));
      o.set("gekozen", mu::data(std::find(chosen.begin(), chosen.end(), cat.id) != chosen.end()));
      cats.push_back(o);
    }
    f.set("categorieen", cats);
    f.set("doelen", Options(PurposeItems(p), typed("poortwachter", "doel", d.info.purpose)));
    f.set("tot", typed("poortwachter", "tot"));
    out.set("f_poortwachter", f);
  }
  {
    mu::data f = FormData(desk, page, rej, "persoon");
    std::vector<std::pair<std::string, std::string>> roles;
    for (const v1::SubjectRole role : cases::SubjectRoles()) {
      roles.emplace_back(cases::SubjectRoleId(role), RoleText(role));
    }
    f.set("rollen", Options(roles, typed("persoon", "rol")));
    f.set("bsn", typed("persoon", "bsn"));
    f.set("naam", typed("persoon", "naam"));
    f.set("geboortedatum", typed("persoon", "geboortedatum"));
    out.set("f_persoon", f);
  }
  const std::vector<std::string> members = Members(d);
  const auto admissible = PartnerItems(p, members);
  if (!admissible.empty()) {
    mu::data f = FormData(desk, page, rej, "toelaten");
    f.set("partners", Options(admissible, typed("toelaten", "partner")));
    out.set("f_toelaten", f);
  }
  if (!members.empty()) {
    mu::data f = FormData(desk, page, rej, "verwijderen");
    std::vector<std::pair<std::string, std::string>> items;
    for (const auto& m : members) items.emplace_back(m, PartnerText(p, m));
    f.set("partners", Options(items, typed("verwijderen", "partner")));
    f.set("redenen", ReasonOptions(kRemoveReasons, typed("verwijderen", "reden")));
    out.set("f_verwijderen", f);
  }
  const bool pending = d.facts.has_value() && d.facts->PendingOfferAt(now) != nullptr;
  if (pending) {
    mu::data f = FormData(desk, page, rej, "overdracht-intrekken");
    f.set("redenen", ReasonOptions(kCancelReasons, typed("overdracht-intrekken", "reden")));
    out.set("f_overdracht_intrekken", f);
  } else {
    mu::data f = FormData(desk, page, rej, "overdragen");
    f.set("naar", Options(d.successors, typed("overdragen", "naar")));
    f.set("heeft_naar", mu::data(!d.successors.empty()));
    f.set("redenen", ReasonOptions(kHandoverReasons, typed("overdragen", "reden")));
    f.set("waarneming_tot", typed("overdragen", "waarneming_tot"));
    f.set("dagen", typed("overdragen", "dagen", std::to_string(kDefaultOfferDays)));
    out.set("f_overdragen", f);
  }
  {
    mu::data f = FormData(desk, page, rej, "sluiten");
    f.set("redenen", ReasonOptions(kCloseReasons, typed("sluiten", "reden")));
    out.set("f_sluiten", f);
  }
}

// "Bijwerken" on the head, and the message of "Opnieuw versturen" above the
// waiting requests when it went wrong (each waiting row has its own form).
void AddRefreshForms(Desk& desk, const Page& page, const Rejection* rej, mu::data& out) {
  out.set("f_bijwerken", FormData(desk, page, rej, "bijwerken"));
  if (rej != nullptr && rej->form == "opnieuw") out.set("opnieuw_fout", rej->message);
}

// --- the page

void ShowCase(Desk& desk, Page& page, const std::string& id, const Rejection* rej = nullptr) {
  const int64_t now = desk.clock().NowMillis();
  auto loaded = LoadCase(desk, id);
  if (!loaded.ok()) {
    if (loaded.status().code() == StatusCode::kNotFound) {
      desk.ShowMessage(page, 404, "Casus niet gevonden",
                       "Casus " + id +
                           " staat niet op deze computer. Misschien is hij overgedragen en zijn de "
                           "gegevens verwijderd, of is het nummer verkeerd overgenomen.");
      return;
    }
    spdlog::error("console: case {} could not be read (code {})", id,
                  static_cast<int>(loaded.status().code()));
    desk.ShowMessage(page, 500, "Casus " + id,
                     "Deze casus kon op deze computer niet worden gelezen: " + loaded.status().message());
    return;
  }
  const CaseData& d = *loaded;
  mu::data data;
  AddHead(desk, d, now, data);
  AddSubjects(desk, d, now, data);
  AddPartners(desk, d, now, data);
  AddAnswers(desk, page, d, now, data);
  AddRefreshForms(desk, page, rej, data);
  AddTimeline(desk, d, data);
  data.set("signalen_html", SignalsSection(desk, id, d.info.purpose,  // Signalen (page_watch.cc)
                                            !d.info.closed && (!d.facts.has_value() || d.facts->CoordinatorAt(now) == desk.me())));
  AddPushes(desk, id, data);  // Verstuurd aan partners (page_push.cc)
  AddForms(desk, page, rej, d, now, data);
  if (rej != nullptr) page.res.status = rej->status;
  desk.Show(page, "Casus " + id, "case.mustache", data);
  // What was shown counts as seen: "nieuw antwoord" on Mijn casussen resets.
  if (Status s = desk.With([&](client::Coordinator& c) { return c.store().MarkCaseSeen(id, now); });
      !s.ok()) {
    spdlog::warn("console: case {} could not be marked as seen (code {})", id, static_cast<int>(s.code()));
  }
}

void Reject(Desk& desk, Page& page, const std::string& id, Rejection rej) {
  spdlog::info("console: case {}: form {} not taken ({})", id, rej.form, rej.status);
  ShowCase(desk, page, id, &rej);
}

// A client error in words for the form: a refusal by the gateway, no
// connection, no clear answer, or something else.
Rejection ClientRejection(const std::string& form, const Status& s) {
  ClientProblem problem = ClientProblemText(s);
  return {form, "", std::move(problem.text), problem.http_status};
}

// Runs a client call for case `id`: on success back to the case with
// `flash`, else the case again with the message next to the form.
void Act(Desk& desk, Page& page, const std::string& id, const std::string& form,
         const std::function<Status(client::Coordinator&)>& call, const std::function<std::string()>& flash) {
  const Status s = desk.With([&](client::Coordinator& c) -> Status {
    if (auto known = c.store().GetCase(id); !known.ok()) return known.status();
    return call(c);
  });
  if (s.code() == StatusCode::kNotFound &&
      s.message().find("not in this coordinator's store") != std::string::npos) {
    desk.ShowMessage(page, 404, "Casus niet gevonden", "Casus " + id + " staat niet op deze computer.");
    return;
  }
  if (!s.ok()) {
    spdlog::info("console: case {}: {} refused (code {})", id, form, static_cast<int>(s.code()));
    const Rejection rej = ClientRejection(form, s);
    ShowCase(desk, page, id, &rej);
    return;
  }
  spdlog::info("console: case {}: {} done", id, form);
  desk.Changed();
  desk.Redirect(page, "/casus/" + id, flash());
}

// A date typed in a form that must lie in the future: the end of that day, UTC.
Result<int64_t> FutureDay(const std::string& typed, int64_t now) {
  KP_ASSIGN_OR_RETURN(std::string day, CheckDate(typed));
  KP_ASSIGN_OR_RETURN(int64_t end, ParseDateEndOfDayUtc(day));
  if (end <= now) return InvalidArgumentError("deze datum is al voorbij: kies een dag na vandaag");
  return end;
}

bool HasPurpose(const policy::Policy& p, const std::string& id) { return p.PurposeIndex(id) >= 0; }

// --- the actions

void PostPhase(Desk& desk, Page& page) {
  const std::string id = page.PathPart(0), phase = page.Value("fase");
  const int i = desk.policy().PhaseIndex(phase);
  if (i < 0 || desk.policy().phases()[static_cast<size_t>(i)].closed) {
    return Reject(desk, page, id, {"fase", "fase", "kies de nieuwe fase uit de lijst"});
  }
  Act(
      desk, page, id, "fase", [&](client::Coordinator& c) { return c.ChangePhase(id, phase).status(); },
      [&] { return "Fase gewijzigd naar " + PhaseText(desk.policy(), phase) + "."; });
}

void PostConsent(Desk& desk, Page& page) {
  const std::string id = page.PathPart(0), ref = page.Value("persoon"), purpose = page.Value("doel");
  if (ref.empty())
    return Reject(desk, page, id, {"toestemming", "persoon", "kies de persoon die toestemming gaf"});
  if (!HasPurpose(desk.policy(), purpose)) {
    return Reject(desk, page, id, {"toestemming", "doel", "kies het doel waarvoor de toestemming geldt"});
  }
  if (page.Value("tot").empty()) {
    return Reject(desk, page, id, {"toestemming", "tot", "vul in tot en met welke dag de toestemming geldt"});
  }
  auto until = FutureDay(page.Value("tot"), desk.clock().NowMillis());
  if (!until.ok()) return Reject(desk, page, id, {"toestemming", "tot", until.status().message()});
  auto givers = GiversFromForm(page.Value("gegeven_door"));
  if (!givers.ok()) return Reject(desk, page, id, {"toestemming", "gegeven_door", givers.status().message()});
  Act(
      desk, page, id, "toestemming",
      [&](client::Coordinator& c) { return c.RecordConsent(id, ref, purpose, *until, *givers).status(); },
      [&] {
        return "Toestemming van " + ref + ", gegeven door " + GiversText(*givers) + ", vastgelegd tot en met " +
               UntilDayText(*until) + ".";
      });
}

void PostWithdrawConsent(Desk& desk, Page& page) {
  const std::string id = page.PathPart(0), which = page.Value("toestemming");
  const size_t bar = which.find('|');
  if (bar == std::string::npos || bar == 0 || bar + 1 == which.size()) {
    return Reject(desk, page, id, {"intrekken", "toestemming", "kies de toestemming die wordt ingetrokken"});
  }
  const std::string ref = which.substr(0, bar), purpose = which.substr(bar + 1);
  Act(
      desk, page, id, "intrekken",
      [&](client::Coordinator& c) { return c.WithdrawConsent(id, ref, purpose).status(); },
      [&] { return "Toestemming van " + ref + " ingetrokken."; });
}

void PostGatekeeper(Desk& desk, Page& page) {
  const auto& p = desk.policy();
  const std::string id = page.PathPart(0), partner = page.Value("partner"), purpose = page.Value("doel");
  const std::vector<std::string> categories = page.Values("categorie");
  if (p.PartnerIndex(partner) < 0) {
    return Reject(desk, page, id, {"poortwachter", "partner", "kies de partner waarvoor het akkoord geldt"});
  }
  if (categories.empty()) {
    return Reject(desk, page, id, {"poortwachter", "categorie", "kies ten minste één soort gegevens"});
  }
  for (const auto& cat : categories) {
    if (p.CategoryIndex(cat) < 0) {
      return Reject(desk, page, id, {"poortwachter", "categorie", "kies de soorten gegevens uit de lijst"});
    }
  }
  if (!HasPurpose(p, purpose)) return Reject(desk, page, id, {"poortwachter", "doel", "kies het doel"});
  if (page.Value("tot").empty()) {
    return Reject(desk, page, id, {"poortwachter", "tot", "vul in tot en met welke dag het akkoord geldt"});
  }
  auto until = FutureDay(page.Value("tot"), desk.clock().NowMillis());
  if (!until.ok()) return Reject(desk, page, id, {"poortwachter", "tot", until.status().message()});
  Act(
      desk, page, id, "poortwachter",
      [&](client::Coordinator& c) {
        return c.RecordGatekeeperApproval(id, partner, categories, purpose, *until).status();
      },
      [&] {
        return "Akkoord van de poortwachter vastgelegd voor " + PartnerText(p, partner) + ", tot en met " +
               UntilDayText(*until) + ".";
      });
}

// The person typed in the form, checked as on the new-case form: a role,
// a BSN that passes the elfproef, a name, a date of birth not in the future.
Result<v1::Subject> SubjectFromForm(const Page& page, int64_t now, std::string* field) {
  v1::Subject s;
  *field = "rol";
  KP_ASSIGN_OR_RETURN(v1::SubjectRole role, RoleFromForm(page.Value("rol")));
  s.set_role(role);
  *field = "bsn";
  KP_ASSIGN_OR_RETURN(std::string bsn, CheckBsn(page.Value("bsn")));
  s.set_bsn(bsn);
  SecureWipe(bsn.data(), bsn.size());
  *field = "naam";
  std::string name = page.Value("naam");
  const auto first = name.find_first_not_of(" \t");
  if (first == std::string::npos) return InvalidArgumentError("vul de naam in");
  name = name.substr(first, name.find_last_not_of(" \t") - first + 1);
  if (name.size() > 200) return InvalidArgumentError("de naam is te lang (ten hoogste 200 tekens)");
  s.set_name(name);
  SecureWipe(name.data(), name.size());
  *field = "geboortedatum";
  if (page.Value("geboortedatum").empty()) return InvalidArgumentError("vul de geboortedatum in");
  KP_ASSIGN_OR_RETURN(std::string dob, CheckDate(page.Value("geboortedatum")));
  KP_ASSIGN_OR_RETURN(int64_t born, ParseDateEndOfDayUtc(dob));
  if (born - kDay > now) return InvalidArgumentError("de geboortedatum ligt in de toekomst");
  s.set_date_of_birth(dob);
  field->clear();
  return s;
}

void PostAddSubject(Desk& desk, Page& page) {
  const std::string id = page.PathPart(0);
  std::string field;
  auto subject = SubjectFromForm(page, desk.clock().NowMillis(), &field);
  if (!subject.ok()) return Reject(desk, page, id, {"persoon", field, subject.status().message()});
  std::string ref;
  const v1::SubjectRole role = subject->role();
  Act(
      desk, page, id, "persoon",
      [&](client::Coordinator& c) {
        Status s = c.AddSubject(id, *subject, &ref).status();
        client::WipeSubject(&*subject);
        return s;
      },
      [&] { return "Persoon " + ref + " (" + std::string(RoleText(role)) + ") toegevoegd aan de casus."; });
  if (subject.ok()) client::WipeSubject(&*subject);
}

void PostAdmit(Desk& desk, Page& page) {
  const std::string id = page.PathPart(0), partner = page.Value("partner");
  if (desk.policy().PartnerIndex(partner) < 0) {
    return Reject(desk, page, id, {"toelaten", "partner", "kies de partner die u wilt toelaten"});
  }
  Act(
      desk, page, id, "toelaten", [&](client::Coordinator& c) { return c.Admit(id, partner).status(); },
      [&] { return PartnerText(desk.policy(), partner) + " is toegelaten tot de casus."; });
}

void PostRemove(Desk& desk, Page& page) {
  const std::string id = page.PathPart(0), partner = page.Value("partner"), reason = page.Value("reden");
  if (desk.policy().PartnerIndex(partner) < 0) {
    return Reject(desk, page, id, {"verwijderen", "partner", "kies de partner die de casus verlaat"});
  }
  if (!IsCode(kRemoveReasons, reason))
    return Reject(desk, page, id, {"verwijderen", "reden", "kies een reden"});
  Act(
      desk, page, id, "verwijderen",
      [&](client::Coordinator& c) { return c.RemovePartner(id, partner, reason).status(); },
      [&] {
        return PartnerText(desk.policy(), partner) +
               " is uit de casus verwijderd en wordt niet meer gevraagd.";
      });
}

void PostHandover(Desk& desk, Page& page) {
  const std::string id = page.PathPart(0), to = page.Value("naar"), reason = page.Value("reden");
  const int64_t now = desk.clock().NowMillis();
  if (to.empty()) return Reject(desk, page, id, {"overdragen", "naar", "kies aan wie u de casus overdraagt"});
  if (!IsCode(kHandoverReasons, reason))
    return Reject(desk, page, id, {"overdragen", "reden", "kies een reden"});
  int days = 0;
  const std::string typed_days = page.Value("dagen");
  if (typed_days.empty() || typed_days.size() > 2 ||
      !std::all_of(typed_days.begin(), typed_days.end(), [](char ch) { return ch >= '0' && ch <= '9'; }) ||
      (days = std::stoi(typed_days)) < 1 || days > kMaxOfferDays) {
    return Reject(
        desk, page, id,
        {"overdragen", "dagen", "het aanbod blijft 1 tot " + std::to_string(kMaxOfferDays) + " dagen open"});
  }
  int64_t stand_in = 0;
  if (!page.Value("waarneming_tot").empty()) {
    auto until = FutureDay(page.Value("waarneming_tot"), now);
    if (!until.ok())
      return Reject(desk, page, id, {"overdragen", "waarneming_tot", until.status().message()});
    stand_in = *until;
  }
  const int64_t expires = now + int64_t{days} * kDay;
  client::HandoverSent sent;
  Act(
      desk, page, id, "overdragen",
      [&](client::Coordinator& c) -> Status {
        KP_ASSIGN_OR_RETURN(sent, c.OfferHandover(id, to, reason, expires, stand_in));
        return OkStatus();
      },
      [&] {
        std::string text = std::string(stand_in > 0 ? "Waarneming" : "Casus") + " aangeboden aan " + to +
                           "; het aanbod vervalt " + DateTimeText(expires) +
                           ". Mee: " + Count(sent.subjects, "persoon", "personen") + " en " +
                           Count(sent.fragments, "antwoord", "antwoorden") + ", versleuteld voor " + to +
                           "; de gateway laat alleen over wat het beleid de nieuwe regisseur geeft.";
        if (!sent.left_out.empty())
          text += " Niet mee: " + Count(sent.left_out.size(), "antwoord", "antwoorden") + ".";
        return text;
      });
}

void PostCancelHandover(Desk& desk, Page& page) {
  const std::string id = page.PathPart(0), reason = page.Value("reden");
  if (!IsCode(kCancelReasons, reason)) {
    return Reject(desk, page, id, {"overdracht-intrekken", "reden", "kies een reden"});
  }
  Act(
      desk, page, id, "overdracht-intrekken",
      [&](client::Coordinator& c) { return c.CancelHandover(id, reason).status(); },
      [] { return std::string("Het aanbod tot overdracht is ingetrokken; de casus blijft bij u."); });
}

void PostClose(Desk& desk, Page& page) {
  const std::string id = page.PathPart(0), reason = page.Value("reden");
  if (!IsCode(kCloseReasons, reason)) return Reject(desk, page, id, {"sluiten", "reden", "kies een reden"});
  if (page.Value("bevestig") != "ja") {
    return Reject(desk, page, id,
                  {"sluiten", "bevestig", "vink aan dat u weet dat hierna niets meer kan worden opgevraagd"});
  }
  Act(
      desk, page, id, "sluiten", [&](client::Coordinator& c) { return c.Close(id, reason).status(); },
      [&] {
        return "Casus gesloten (" + ReasonText(desk.policy(), reason) +
               "). Er kan niets meer worden opgevraagd; de antwoorden blijven tot hun bewaartermijn.";
      });
}

// "Bijwerken": the case's history from the gateway (SyncCase), then what the
// gateway held for this case while the console was away (FetchInbox).
void PostRefresh(Desk& desk, Page& page) {
  const std::string id = page.PathPart(0);
  std::string phase;
  size_t delivered = 0, refused = 0;
  Act(
      desk, page, id, "bijwerken",
      [&](client::Coordinator& c) -> Status {
        KP_ASSIGN_OR_RETURN(cases::CaseFacts facts, c.SyncCase(id));
        phase = facts.phase;
        KP_ASSIGN_OR_RETURN(std::vector<client::Outcome> outcomes, c.FetchInbox(id));
        for (const auto& o : outcomes) {
          if (o.kind == client::Outcome::Kind::kDelivered && !o.watch_started) ++delivered;
          if (o.kind == client::Outcome::Kind::kRefused) ++refused;
        }
        return OkStatus();
      },
      [&] {
        std::string text = "Bijgewerkt: fase " + PhaseText(desk.policy(), phase) + ", " +
                           Count(delivered, "nieuw antwoord", "nieuwe antwoorden");
        if (refused > 0) text += ", " + Count(refused, "nieuwe weigering", "nieuwe weigeringen");
        return text + ".";
      });
}

// What became of a request sent again, for the flash.
std::string ResentText(const policy::Policy& p, const std::string& partner,
                       const std::optional<client::Outcome>& outcome, bool accepted) {
  const std::string who = PartnerText(p, partner);
  if (!outcome.has_value()) {
    return accepted ? "Opnieuw verstuurd: de gateway heeft het verzoek aan " + who +
                          " nu bevestigd. Het antwoord komt vanzelf; het verschijnt op deze pagina."
                    : "Opnieuw verstuurd, maar de gateway heeft het verzoek aan " + who +
                          " nog niet bevestigd. Probeer het over een ogenblik nog eens.";
  }
  switch (outcome->kind) {
    case client::Outcome::Kind::kDelivered:
      return "Opnieuw verstuurd: het antwoord van " + who + " is binnen.";
    case client::Outcome::Kind::kRefused:
      return "Opnieuw verstuurd: " + who + " of de gateway weigerde het verzoek. Reden: " +
             outcome->refusal.reason();
    case client::Outcome::Kind::kError:
      break;
  }
  return "Opnieuw verstuurd, maar het verzoek aan " + who + " is niet afgehandeld: " + outcome->error.message();
}

// "Opnieuw versturen": a waiting request of this case that the gateway did
// not confirm is sent again, byte for byte; then a short wait for its answer.
void PostResend(Desk& desk, Page& page) {
  const std::string id = page.PathPart(0);
  const Rejection unknown{"opnieuw", "verzoek",
                          "Dit verzoek wacht niet op antwoord in deze casus; er is niets verstuurd."};
  auto raw = HexDecode(page.Value("verzoek"));
  if (!raw.ok() || raw->size() != 16) return Reject(desk, page, id, unknown);
  const std::string request_id = *raw;
  // Only a waiting request of this very case: a forged id, or one of
  // another case, sends nothing.
  auto request = desk.With([&](client::Coordinator& c) { return c.store().GetRequest(request_id); });
  if (!request.ok() || !request->has_value() || (*request)->case_id != id ||
      (*request)->state != client::RequestState::kPending) {
    return Reject(desk, page, id, unknown);
  }
  const std::string partner = (*request)->partner;
  std::optional<client::Outcome> outcome;
  bool accepted = false;
  Act(
      desk, page, id, "opnieuw",
      [&](client::Coordinator& c) -> Status {
        KP_RETURN_IF_ERROR(c.Resend(request_id));
        spdlog::info("console: case {}: request {} sent again", id, HexEncode(request_id));
        auto o = c.AwaitOutcome(request_id, desk.options().answer_wait_ms);
        if (o.ok()) {
          outcome = std::move(o).value();
        } else if (o.status().code() != StatusCode::kDeadlineExceeded) {
          return o.status();
        }
        auto now = c.store().GetRequest(request_id);
        accepted = now.ok() && now->has_value() && (*now)->accepted;
        return OkStatus();
      },
      [&] { return ResentText(desk.policy(), partner, outcome, accepted); });
}

}  // namespace

void RegisterCasePages(Desk& desk) {
  constexpr const char* kCase = R"(/casus/([A-Za-z0-9._-]+))";
  desk.Get(kCase, [](Desk& d, Page& page) { ShowCase(d, page, page.PathPart(0)); });
  const std::pair<const char*, Desk::Handler> actions[] = {
      {"/fase", PostPhase},
      {"/toestemming", PostConsent},
      {"/toestemming-intrekken", PostWithdrawConsent},
      {"/poortwachter", PostGatekeeper},
      {"/persoon", PostAddSubject},
      {"/toelaten", PostAdmit},
      {"/verwijderen", PostRemove},
      {"/overdragen", PostHandover},
      {"/overdracht-intrekken", PostCancelHandover},
      {"/sluiten", PostClose},
      {"/bijwerken", PostRefresh},
      {"/opnieuw", PostResend},
  };
  for (const auto& [path, handler] : actions) desk.Post(std::string(kCase) + path, handler);
}

}  // namespace kp::console
