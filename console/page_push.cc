// Versturen naar partner (issue 16 §2, docs/console.md): from a case, the
// coordinator sends a partner what the policy lets it send (the
// veiligheidsplan to the police under R-VT-PLAN-01): choose the purpose and
// subjects, see per admitted partner and category what the policy says
// (rule, legal basis, retention), choose one, fill in the category's fields
// the policy allows, and send; the case page lists what was sent and its
// state (verstuurd, aangenomen, ontvangen, geweigerd).
//
// One truth: every choice, rule, basis, field and term shown here is
// client::Coordinator::PushChoices / PushDecision, the gateway's own
// decision path (case/push.h) on this client's copy of the case. This page
// never decides; it asks again when the form is sent, and the gateway and the
// partner's agent decide again when it arrives.
//
// Routes: GET /casus/{id}/versturen (choices, then the chosen one's fields),
// POST /casus/{id}/versturen (send, wait briefly for the partner's
// confirmation, then the case page). What is typed is personal data: shown
// back only on a refused form, never logged, wiped once the page is made.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "console/desk.h"
#include "console/view.h"
#include "core/base/encoding.h"
#include "core/crypto/secret_bytes.h"

namespace kp::console {
namespace {

namespace v1 = ketenpoort::v1;

constexpr int kSendWaitMs = 5000;
constexpr size_t kMaxFieldChars = 4000;

void Wipe(std::string& s) {
  SecureWipe(s.data(), s.size());
  s.clear();
}

struct SubjectRow {
  std::string ref, role, name;
  ~SubjectRow() { Wipe(name); }
};

struct PushCase {
  client::CaseInfo info;
  cases::CaseFacts facts;
  std::vector<SubjectRow> subjects;
};

Result<PushCase> LoadCase(Desk& desk, const std::string& id) {
  return desk.With([&](client::Coordinator& c) -> Result<PushCase> {
    PushCase pc;
    KP_ASSIGN_OR_RETURN(pc.info, c.store().GetCase(id));
    KP_ASSIGN_OR_RETURN(pc.facts, c.LocalFacts(id, &desk.policy()));
    auto kept = c.store().Subjects(id);
    pc.subjects.resize(pc.facts.subjects.size());
    for (size_t i = 0; i < pc.facts.subjects.size(); ++i) {
      const auto& s = pc.facts.subjects[i];
      pc.subjects[i].ref = s.ref;
      pc.subjects[i].role = std::string(RoleText(s.role));
      if (kept.ok()) {
        for (const auto& k : *kept) {
          if (k.ref() == s.ref) pc.subjects[i].name = k.name();
        }
      }
    }
    if (kept.ok()) {
      for (auto& k : *kept) client::WipeSubject(&k);
    }
    return pc;
  });
}

// What the coordinator chose so far.
struct PushForm {
  std::string purpose;
  std::vector<std::string> refs;
  std::string partner, category;  // keuze = "partner/category"
  std::vector<std::pair<std::string, std::string>> values;  // field -> as typed
  std::string keep_days;
  ~PushForm() {
    for (auto& [f, v] : values) Wipe(v);
  }
};

PushForm ReadForm(const Page& page) {
  PushForm f;
  f.purpose = page.Value("doel");
  for (auto& ref : page.Values("betrokkene")) {
    if (std::find(f.refs.begin(), f.refs.end(), ref) == f.refs.end()) f.refs.push_back(std::move(ref));
  }
  const std::string keuze = page.Value("keuze");
  if (const size_t slash = keuze.find('/'); slash != std::string::npos) {
    f.partner = keuze.substr(0, slash);
    f.category = keuze.substr(slash + 1);
  }
  f.keep_days = page.Value("bewaren");
  return f;
}

std::string Join(const std::vector<std::string_view>& v, const std::string& sep) {
  std::string out;
  for (auto s : v) out += (out.empty() ? "" : sep) + std::string(s);
  return out;
}

// "90 dagen", "90 dagen na het sluiten van de casus".
std::string TermText(const policy::Decision& d) {
  if (d.obligations.retention_days <= 0) return "geen termijn in het beleid";
  return std::to_string(d.obligations.retention_days) + " dagen" +
         (d.obligations.retention_from_closure ? " na het sluiten van de casus" : "");
}

std::vector<std::string_view> AllowedFields(const policy::Decision& d, const std::string& category) {
  for (const auto& cf : d.obligations.fields) {
    if (cf.category == category) return cf.fields;
  }
  return {};
}

void AddChoices(Desk& desk, const PushCase& pc, const PushForm& f, const std::vector<client::PushChoice>& choices,
                mu::data& data) {
  const policy::Policy& p = desk.policy();
  mu::data allowed{mu::data::type::list}, refused{mu::data::type::list};
  size_t n_allowed = 0, n_refused = 0;
  for (const auto& c : choices) {
    mu::data row;
    row.set("partner", PartnerText(p, c.partner));
    row.set("categorie", CategoryText(p, c.category));
    if (c.decision.effect == policy::Effect::kPermit) {
      row.set("waarde", c.partner + "/" + c.category);
      row.set("gekozen", mu::data(c.partner == f.partner && c.category == f.category));
      row.set("regels", Join(c.decision.rule_ids, ", "));
      std::vector<std::string> bases;
      for (auto b : c.decision.legal_bases) bases.push_back(LegalBasisText(p, b));
      std::string basis;
      for (const auto& b : bases) basis += (basis.empty() ? "" : "; ") + b;
      row.set("grondslag", basis);
      row.set("termijn", TermText(c.decision));
      allowed.push_back(row);
      ++n_allowed;
    } else if (!c.decision.rule_ids.empty()) {  // refused by a rule: worth saying why
      row.set("regels", Join(c.decision.rule_ids, ", "));
      row.set("waarom", c.decision.reason);
      refused.push_back(row);
      ++n_refused;
    }
  }
  (void)pc;
  data.set("keuzes", allowed);
  data.set("heeft_keuzes", mu::data(n_allowed > 0));
  data.set("geweigerd", refused);
  data.set("heeft_geweigerd", mu::data(n_refused > 0));
  data.set("aantal_geweigerd", std::to_string(n_refused));
}

// The form of the chosen partner and category: its fields, the term, what
// the policy says.
void AddChosen(Desk& desk, const PushForm& f, const policy::Decision& d, mu::data& data) {
  const policy::Policy& p = desk.policy();
  mu::data chosen;
  chosen.set("waarde", f.partner + "/" + f.category);
  chosen.set("partner", PartnerText(p, f.partner));
  chosen.set("categorie", CategoryText(p, f.category));
  chosen.set("regels", Join(d.rule_ids, ", "));
  std::string basis;
  for (auto b : d.legal_bases) basis += (basis.empty() ? "" : "; ") + LegalBasisText(p, b);
  chosen.set("grondslag", basis);
  chosen.set("termijn", TermText(d));
  chosen.set("geen_verder_delen", mu::data(d.obligations.no_onward_sharing));
  const int max_days = d.obligations.retention_days > 0 ? d.obligations.retention_days : 365;
  chosen.set("max_dagen", std::to_string(max_days));
  chosen.set("na_sluiten", mu::data(d.obligations.retention_from_closure));
  chosen.set("bewaren", f.keep_days.empty() ? std::to_string(max_days) : f.keep_days);
  mu::data fields{mu::data::type::list};
  for (auto field : AllowedFields(d, f.category)) {
    mu::data row;
    row.set("naam", std::string(field));
    row.set("id", "veld-" + std::string(field));
    std::string typed;  // always set: mustache would take the parent's "inhoud" otherwise
    for (const auto& [name, value] : f.values) {
      if (name == field) typed = value;
    }
    row.set("inhoud", typed);
    Wipe(typed);
    fields.push_back(row);
  }
  chosen.set("velden", fields);
  data.set("gekozen", chosen);
}

void ShowPage(Desk& desk, Page& page, const std::string& id, PushForm& f, const std::string& problem, int status) {
  auto loaded = LoadCase(desk, id);
  if (!loaded.ok()) {
    desk.ShowMessage(page, loaded.status().code() == StatusCode::kNotFound ? 404 : 500, "Casus " + id,
                     "Deze casus staat niet op deze computer of kon niet worden gelezen.");
    return;
  }
  const PushCase& pc = *loaded;
  const policy::Policy& p = desk.policy();
  mu::data data;
  data.set("id", id);
  data.set("fase", PhaseText(p, pc.facts.phase));
  if (f.purpose.empty()) f.purpose = pc.info.purpose;
  mu::data purposes{mu::data::type::list};
  for (const auto& purpose : p.purposes()) {
    mu::data o;
    o.set("waarde", purpose.id);
    o.set("tekst", PurposeText(p, purpose.id));
    o.set("gekozen", mu::data(purpose.id == f.purpose));
    purposes.push_back(o);
  }
  data.set("doelen", purposes);
  data.set("doel", f.purpose);
  const bool shown = !page.Value("getoond").empty() || !f.refs.empty();
  if (f.refs.empty() && !shown) {
    for (const auto& s : pc.subjects) f.refs.push_back(s.ref);
  }
  mu::data subjects{mu::data::type::list}, chosen_subjects{mu::data::type::list};
  for (const auto& s : pc.subjects) {
    mu::data row;
    row.set("ref", s.ref);
    row.set("rol", s.role);
    if (!s.name.empty()) row.set("naam", s.name);
    const bool ticked = std::find(f.refs.begin(), f.refs.end(), s.ref) != f.refs.end();
    row.set("aangevinkt", mu::data(ticked));
    subjects.push_back(row);
    if (ticked) chosen_subjects.push_back(row);
  }
  data.set("betrokkenen", subjects);
  data.set("gekozen_betrokkenen", chosen_subjects);
  if (!problem.empty()) data.set("fout", problem);
  if (pc.facts.closed) {
    data.set("geblokkeerd", std::string("De casus is gesloten: er gaat niets meer naar partners."));
  } else if (!f.refs.empty()) {
    auto choices = desk.With([&](client::Coordinator& c) { return c.PushChoices(id, f.purpose, f.refs, p); });
    if (!choices.ok()) {
      data.set("geblokkeerd", ClientProblemText(choices.status()).text);
    } else {
      data.set("tabel", mu::data(true));
      AddChoices(desk, pc, f, *choices, data);
      data.set("geen_partners", mu::data(pc.facts.members.size() <= 1));
      for (const auto& c : *choices) {
        if (c.partner == f.partner && c.category == f.category && c.decision.effect == policy::Effect::kPermit) {
          AddChosen(desk, f, c.decision, data);
        }
      }
    }
  }
  desk.AddFormFields(page, data);
  if (status != 200) page.res.status = status;
  desk.Show(page, "Versturen naar partner — casus " + id, "push.mustache", data);
}

void Send(Desk& desk, Page& page) {
  const std::string id = page.PathPart(0);
  PushForm f = ReadForm(page);
  if (f.purpose.empty() || f.refs.empty() || f.partner.empty() || f.category.empty()) {
    return ShowPage(desk, page, id, f, "Kies een doel, de betrokkenen en wat u verstuurt.", 400);
  }
  client::PushSpec spec;
  spec.case_id = id;
  spec.to_partner = f.partner;
  spec.purpose = f.purpose;
  spec.subject_refs = f.refs;
  spec.content.add_categories()->set_category(f.category);
  // Ask the policy again, now: the fields it allows and the term.
  auto decided = desk.With([&](client::Coordinator& c) { return c.PushDecision(spec, desk.policy()); });
  if (!decided.ok() || decided->effect != policy::Effect::kPermit) {
    return ShowPage(desk, page, id, f,
                    "Het beleid staat dit nu niet toe: " +
                        (decided.ok() ? decided->reason : ClientProblemText(decided.status()).text),
                    409);
  }
  bool any = false;
  for (auto field : AllowedFields(*decided, f.category)) {
    std::string value = page.Value("veld-" + std::string(field));
    if (value.size() > kMaxFieldChars) {
      Wipe(value);
      return ShowPage(desk, page, id, f, "Een veld is langer dan " + std::to_string(kMaxFieldChars) + " tekens.", 400);
    }
    if (!policy::HasNonBlank(value)) continue;
    any = true;
    f.values.emplace_back(std::string(field), std::move(value));
  }
  if (!any) return ShowPage(desk, page, id, f, "Vul ten minste één veld in.", 400);
  const int max_days = decided->obligations.retention_days > 0 ? decided->obligations.retention_days : 365;
  int days = max_days;
  if (!f.keep_days.empty()) {
    days = std::atoi(f.keep_days.c_str());
    if (days <= 0 || days > max_days) {
      return ShowPage(desk, page, id, f,
                      "Bewaren: een aantal dagen van 1 tot en met " + std::to_string(max_days) +
                          " (de termijn van het beleid).",
                      400);
    }
  }
  spec.keep_days = days;
  spec.keep_from_closure = decided->obligations.retention_from_closure;  // as the policy counts it (§3.3)
  auto* cat = spec.content.mutable_categories(0);
  for (const auto& ref : f.refs) {
    auto* rec = cat->add_records();
    rec->set_subject_ref(ref);
    for (const auto& [field, value] : f.values) {
      auto* fv = rec->add_values();
      fv->set_field(field);
      fv->set_value(value);
    }
  }
  auto sent = desk.With([&](client::Coordinator& c) { return c.Push(spec, kSendWaitMs); });
  for (auto& r : *cat->mutable_records()) {
    for (auto& fv : *r.mutable_values()) Wipe(*fv.mutable_value());
  }
  if (!sent.ok()) {
    const ClientProblem problem = ClientProblemText(sent.status());
    return ShowPage(desk, page, id, f, problem.text, problem.http_status);
  }
  desk.Changed();
  const std::string to = PartnerText(desk.policy(), f.partner);
  std::string flash;
  if (sent->state == "received") {
    flash = CategoryText(desk.policy(), f.category) + " is ontvangen door " + to + ".";
  } else if (sent->state == "refused") {
    flash = "Niet ontvangen door " + to + ": geweigerd (" + sent->reason + ").";
  } else {
    flash = "Verstuurd aan " + to + "; de bevestiging van de partner komt later (zie Verstuurd aan partners).";
  }
  desk.Redirect(page, "/casus/" + id, flash);
}

std::string PushStateText(const client::PushInfo& p) {
  if (p.state == "received") return "ontvangen";
  if (p.state == "refused") return "geweigerd";
  if (p.state == "accepted") return "aangenomen door de gateway";
  return "verstuurd";
}

}  // namespace

void AddPushes(Desk& desk, const std::string& case_id, mu::data& data) {
  auto pushes = desk.With([&](client::Coordinator& c) { return c.Pushes(case_id); });
  if (!pushes.ok()) return;
  const policy::Policy& p = desk.policy();
  mu::data rows{mu::data::type::list};
  for (const auto& push : *pushes) {
    mu::data row;
    row.set("partner", PartnerText(p, push.to_partner));
    std::string cats;
    for (const auto& c : push.categories) cats += (cats.empty() ? "" : ", ") + CategoryText(p, c);
    row.set("gegevens", cats);
    row.set("verstuurd", DateTimeText(push.sent_ms));
    row.set("status", PushStateText(push));
    row.set("klasse", push.state == "received" ? "groen" : push.state == "refused" ? "rood" : "let-op");
    if (!push.reason.empty()) row.set("reden", push.reason);
    rows.push_back(row);
  }
  data.set("verstuurd", rows);
  data.set("heeft_verstuurd", mu::data(!pushes->empty()));
}

void RegisterPushPages(Desk& desk) {
  constexpr const char* kPath = R"(/casus/([A-Za-z0-9._-]+)/versturen)";
  desk.Get(kPath, [](Desk& d, Page& page) {
    PushForm f = ReadForm(page);
    ShowPage(d, page, page.PathPart(0), f, "", 200);
  });
  desk.Post(kPath, [](Desk& d, Page& page) { Send(d, page); });
}

}  // namespace kp::console
