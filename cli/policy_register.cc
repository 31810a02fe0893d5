#include "cli/policy_register.h"

#include <algorithm>
#include <bit>
#include <cctype>
#include <iterator>
#include <string_view>

#include "core/audit/report.h"
#include "core/base/clock.h"

namespace kp::cli {
namespace {
// Its own namespace: kp_cli compiles in unity batches, where the anonymous
// namespaces of several cli/*.cc files are one.
namespace art30 {

using policy::Policy;
using audit::HtmlEscape;

constexpr char kStyle[] = R"(
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1400px}
h1{font-size:1.5em}h2{border-bottom:2px solid #ccc;padding-bottom:.2em;margin-top:2em}h3{margin-top:1.5em}
table{border-collapse:collapse;width:100%;margin:.5em 0 1.5em}th,td{border:1px solid #ccc;padding:.3em .5em;text-align:left;vertical-align:top;font-size:.88em}
th{background:#f0f0f0}td.id,span.id{font-family:monospace;font-size:.85em;color:#5f6368}
.badge{display:inline-block;border-radius:3px;padding:0 .3em;margin:0 .2em .1em 0;font-size:.8em;color:#fff;background:#5f6368;white-space:nowrap}
.art9{background:#a142f4}.art10{background:#d93025}.wpg,.wjsg{background:#1a73e8}.avg{background:#188038}
.notify{background:#e37400}.never{background:#000;white-space:normal}
.missing{color:#d93025;font-weight:bold}.draft{background:#fce8e6;border:2px solid #d93025;padding:1em}
.note{background:#f6f6f6;padding:.6em 1em;border-left:4px solid #ccc}
ul.fields{margin:.1em 0 .3em 1.1em;padding:0;font-size:.9em;color:#444}dl.meta dt{font-weight:bold;float:left;width:14em}dl.meta dd{margin-left:14em}
nav a{margin-right:1em}.cond{margin-top:.4em;font-size:.92em;color:#444}span.rule,td.id{white-space:nowrap}
th.w-cat{width:18%}th.w-basis{width:20%}
)";

uint64_t Bit(size_t i) { return uint64_t{1} << i; }

std::string Esc(std::string_view s) { return HtmlEscape(s); }

// "Naam (id)", or the id alone when the policy gives no name.
std::string Named(const std::string& name, const std::string& id) {
  if (name.empty()) return "<span class=\"id\">" + Esc(id) + "</span>";
  return Esc(name) + " <span class=\"id\">(" + Esc(id) + ")</span>";
}

std::string PartnerText(const Policy& p, int i) { return Named(p.partners()[i].name, p.partners()[i].id); }

std::string RegimeName(Policy::Regime r) {
  switch (r) {
    case Policy::Regime::kWpg: return "Wpg";
    case Policy::Regime::kWjsg: return "Wjsg";
    case Policy::Regime::kAvg: break;
  }
  return "AVG";
}

std::string RegimeBadge(Policy::Regime r) {
  std::string name = RegimeName(r);
  std::string cls = name;
  std::transform(cls.begin(), cls.end(), cls.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return "<span class=\"badge " + cls + "\" title=\"regime\">" + name + "</span>";
}

std::string CategoryFlags(const Policy::Category& c) {
  std::string out;
  if (c.art9) out += "<span class=\"badge art9\" title=\"bijzondere persoonsgegevens\">art. 9</span>";
  if (c.art10) out += "<span class=\"badge art10\" title=\"strafrechtelijke gegevens\">art. 10</span>";
  return out + RegimeBadge(c.regime);
}

// "365 dagen (1 jaar)".
std::string Days(int days) {
  std::string out = std::to_string(days) + (days == 1 ? " dag" : " dagen");
  if (days >= 365 && days % 365 == 0) out += " (" + std::to_string(days / 365) + " jaar)";
  return out;
}

std::string ConditionText(policy::Condition c) {
  switch (c) {
    case policy::kConditionMember: return "de ontvanger is lid van de casus";
    case policy::kConditionConsent: return "toestemming van de betrokkene";
    case policy::kConditionGatekeeper: return "goedkeuring van een poortwachter";
    case policy::kConditionJustification: return "schriftelijke onderbouwing";
    case policy::kConditionWeighing: return "afweging conflict van plichten (vijf vragen)";
    case policy::kConditionSourceApproval: return "goedkeuring van de eigen hulpverlener van de bron";
  }
  return std::string(policy::ConditionName(c));
}

std::string Conditions(uint8_t bits) {
  std::string out;
  for (uint8_t c = 1; c != 0 && c <= policy::kAllConditions; c = static_cast<uint8_t>(c << 1)) {
    if ((bits & c) == 0) continue;
    out += (out.empty() ? "" : "; ") + ConditionText(static_cast<policy::Condition>(c));
  }
  return out.empty() ? "geen" : out;
}

constexpr std::string_view kSubjectRoleDutch[] = {"slachtoffer", "kind", "vermoedelijke pleger", "huisgenoot",
                                                  "ouder"};
static_assert(std::size(kSubjectRoleDutch) == policy::kSubjectRoleCount);

std::string Subjects(uint8_t roles) {
  if (roles == 0) return "alle betrokkenen van de casus";
  std::string out;
  for (int i = 0; i < policy::kSubjectRoleCount; ++i) {
    if ((roles & Bit(static_cast<size_t>(i))) == 0) continue;
    out += (out.empty() ? "" : ", ") + std::string(kSubjectRoleDutch[i]);
  }
  return "alleen als elke betrokkene " + out + " is";
}

// The names of the set bits of `set` over `names` (id and name), one per line.
template <typename T>
std::string NameList(const std::vector<T>& items, uint64_t set, std::string (*name)(const T&)) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if ((set & Bit(i)) == 0) continue;
    out += (out.empty() ? "" : "<br>") + name(items[i]);
  }
  return out;
}

std::string PartnerName(const Policy::Partner& x) { return Named(x.name, x.id); }
// A phase by its name alone (the ids add nothing a reader needs here).
std::string PhaseName(const Policy::Phase& x) { return Esc(x.name.empty() ? x.id : x.name); }
std::string PurposeName(const Policy::Purpose& x) {
  return x.description.empty() ? "<span class=\"id\">" + Esc(x.id) + "</span>"
                               : Esc(x.description) + " <span class=\"id\">(" + Esc(x.id) + ")</span>";
}
std::string CategoryName(const Policy::Category& x) { return Named(x.name, x.id); }
std::string PurposeLink(const Policy::Purpose& x) { return "<a href=\"#doel-" + Esc(x.id) + "\">" + Esc(x.id) + "</a>"; }

uint64_t AllBits(size_t n) { return n >= 64 ? ~uint64_t{0} : Bit(n) - 1; }

std::string Phases(const Policy& p, uint64_t set) {
  uint64_t open = 0;
  for (size_t i = 0; i < p.phases().size(); ++i) {
    if (!p.phases()[i].closed) open |= Bit(i);
  }
  if ((set & open) == open) return "alle open fasen";
  return NameList(p.phases(), set, PhaseName);
}

std::string Recipients(const Policy& p, const Policy::Rule& r) {
  std::string out;
  for (const auto& t : r.to) {
    std::string one;
    if (t.partner < 0) {
      one = t.role < 0 ? "elke partner" : "elke partner, alleen als " + Named(p.roles()[t.role].name, p.roles()[t.role].id);
    } else if (t.role < 0) {
      one = PartnerText(p, t.partner);
    } else {
      // "Casusregisseur van het Veiligheidsteam (veiligheidsteam/casusregisseur)": the role's name says the partner.
      const auto& role = p.roles()[t.role];
      const auto& partner = p.partners()[t.partner];
      one = Named(role.name.empty() ? partner.name + " / " + role.id : role.name, partner.id + "/" + role.id);
    }
    out += (out.empty() ? "" : "<br>") + one;
  }
  return out;
}

// How long the recipient may keep what it received under rule `r`.
std::string Retention(const Policy& p, const Policy::Rule& r) {
  std::string out;
  if (r.retention_dossier) {
    out = "de wettelijke dossiertermijn van de ontvanger:";
    for (const auto& t : r.to) {
      if (t.partner < 0) continue;
      const auto& to = p.partners()[t.partner];
      out += "<br>" + Esc(to.name.empty() ? to.id : to.name) + ": " + Days(to.dossier_retention_days) + " (" +
             Esc(to.dossier_basis) + ")";
    }
    return out;
  }
  out = Days(r.retention_days) + (r.retention_from_closure ? " na het sluiten van de casus" : " na ontvangst");
  return out;
}

bool RuleTouches(const Policy::Rule& r, int partner) {
  if (partner < 0) return true;
  if ((r.from & Bit(static_cast<size_t>(partner))) != 0) return true;
  return std::any_of(r.to.begin(), r.to.end(), [&](const Policy::Target& t) { return t.partner < 0 || t.partner == partner; });
}

uint64_t RecipientPartners(const Policy& p, const Policy::Rule& r) {
  uint64_t out = 0;
  for (const auto& t : r.to) out |= t.partner < 0 ? AllBits(p.partners().size()) : Bit(static_cast<size_t>(t.partner));
  return out;
}

// Whether `field` (-1: the whole category) of category `c` is never shared.
const Policy::NeverShared* NeverEntry(const Policy& p, int c, int field) {
  for (const auto& n : p.never_shared()) {
    if (n.category == c && (n.field < 0 || n.field == field)) return &n;
  }
  return nullptr;
}

// The category's fields a rule lets go, with never-shared fields left out
// (the engine never sends them either).
std::string RuleCategory(const Policy& p, const Policy::Rule& r, int c) {
  const auto& cat = p.categories()[c];
  std::string out = CategoryName(cat) + " " + CategoryFlags(cat);
  uint64_t fields = AllBits(cat.fields.size());
  for (const auto& [ci, bits] : r.fields) {
    if (ci == c) fields = bits;
  }
  std::string list;
  for (size_t f = 0; f < cat.fields.size(); ++f) {
    if ((fields & Bit(f)) == 0 || NeverEntry(p, c, static_cast<int>(f)) != nullptr) continue;
    list += "<li>" + Esc(cat.fields[f]) + "</li>";
  }
  return out + "<ul class=\"fields\">" + list + "</ul>";
}

std::string LegalBasisText(const Policy& p, int b) {
  if (b < 0) return "<span class=\"missing\">geen</span>";
  const auto& basis = p.legal_bases()[b];
  std::string out = Esc(basis.citation.empty() ? basis.id : basis.citation) + " <span class=\"id\">(" +
                    Esc(basis.id) + ")</span>";
  if (basis.art9_ground) out += " <span class=\"badge art9\">grond art. 9</span>";
  if (basis.art10_ground) out += " <span class=\"badge art10\">grond art. 10</span>";
  return out + " " + RegimeBadge(basis.regime);
}

std::string RuleObligations(const Policy::Rule& r) {
  std::string out;
  if (r.no_onward_sharing) out += "niet verder verstrekken";
  if (r.notify_privacy_officer) {
    out += std::string(out.empty() ? "" : "<br>") + "<span class=\"badge notify\">FG wordt ingelicht</span>";
  }
  return out;
}

void Section(std::string& h, const char* anchor, const std::string& title) {
  h += "<h2 id=\"" + std::string(anchor) + "\">" + title + "</h2>";
}

void Controllers(const Policy& p, uint64_t shown, uint64_t sends, uint64_t receives, std::string& h) {
  Section(h, "verantwoordelijken", "1. Verwerkingsverantwoordelijken en functionarissen gegevensbescherming");
  h += "<p>Elke partner is verwerkingsverantwoordelijke voor wat hij verstrekt en voor wat hij ontvangt en "
       "bewaart (AVG art. 4 punt 7 en art. 30 lid 1 sub a). Wie de Ketenpoort-gateway beheert, verwerkt alleen "
       "metadata (wie vraagt wat van wie, waarom, de beslissing) en het auditlog, niet de inhoud; het convenant legt "
       "vast of die beheerder verwerker is (art. 28) of gezamenlijk verantwoordelijke (art. 26).</p>";
  h += "<table id=\"controllers\"><tr><th>Partner</th><th>Verwerkingsverantwoordelijke</th>"
       "<th>Functionaris gegevensbescherming</th><th>Rol in dit beleid</th><th>Wettelijke dossiertermijn</th></tr>";
  for (size_t i = 0; i < p.partners().size(); ++i) {
    if ((shown & Bit(i)) == 0) continue;
    const auto& x = p.partners()[i];
    std::string role;
    if (sends & Bit(i)) role += "verstrekt";
    if (receives & Bit(i)) role += std::string(role.empty() ? "" : ", ") + "ontvangt";
    if (role.empty()) role = "verstrekt en ontvangt niets";
    h += "<tr><td>" + PartnerName(x) + "</td><td>" +
         (x.controller.empty() ? "<span class=\"missing\">niet vermeld in het beleid</span>" : Esc(x.controller)) +
         "</td><td>" + (x.dpo.empty() ? "<span class=\"missing\">niet vermeld in het beleid</span>" : Esc(x.dpo)) +
         "</td><td>" + role + "</td><td>" +
         (x.dossier_retention_days > 0 ? Days(x.dossier_retention_days) + " (" + Esc(x.dossier_basis) + ")" : "geen") +
         "</td></tr>";
  }
  h += "</table>";
}

void Purposes(const Policy& p, int only, std::string& h) {
  Section(h, "doelen", "2. Verwerkingen per doel");
  h += "<p>Per doel (doelbinding) elke verstrekking die het beleid toestaat: welke gegevens over wie, van welke "
       "bron aan welke ontvangers, op welke grondslag, in welke fase, onder welke voorwaarden en hoe lang de "
       "ontvanger ze bewaart. Wat hier niet staat, wordt geweigerd (standaard weigeren).</p>"
       "<p>Categorieën van betrokkenen: de personen over wie een casus gaat, elk met een rol: slachtoffer, kind, "
       "vermoedelijke pleger, huisgenoot of ouder. Een regel die rollen noemt, geldt alleen als elke betrokkene van "
       "het verzoek zo'n rol heeft.</p>";
  for (size_t u = 0; u < p.purposes().size(); ++u) {
    const auto& purpose = p.purposes()[u];
    // Rows by source (the policy's order of partners), then by rule id.
    std::vector<const Policy::Rule*> rules;
    for (const auto& r : p.rules()) {
      if (r.effect == policy::Effect::kPermit && (r.purposes & Bit(u)) != 0 && RuleTouches(r, only)) rules.push_back(&r);
    }
    std::stable_sort(rules.begin(), rules.end(), [](const Policy::Rule* x, const Policy::Rule* y) {
      return std::countr_zero(x->from) < std::countr_zero(y->from);
    });
    std::string rows;
    int count = 0;
    for (const Policy::Rule* rule : rules) {
      const Policy::Rule& r = *rule;
      std::string cats;
      for (size_t c = 0; c < p.categories().size(); ++c) {
        if ((r.categories & Bit(c)) == 0 || NeverEntry(p, static_cast<int>(c), -1) != nullptr) continue;
        cats += (cats.empty() ? "" : "<br>") + RuleCategory(p, r, static_cast<int>(c));
      }
      std::string conditions = Conditions(r.conditions);
      if ((r.conditions & policy::kConditionConsent) != 0 && r.legal_basis >= 0 &&
          p.legal_bases()[r.legal_basis].consent_by_source) {
        conditions += " (alleen een toestemming die de bron zelf vastlegde)";
      }
      if (r.within_hours_of_acute > 0) {
        conditions += "; binnen " + std::to_string(r.within_hours_of_acute) + " uur na het begin van de acute fase";
      }
      ++count;
      const std::string obligations = RuleObligations(r);
      rows += "<tr><td>" + cats + "</td><td>" + Esc(Subjects(r.subject_roles)) + "</td><td>" +
              NameList(p.partners(), r.from, PartnerName) + "</td><td>" + Recipients(p, r) + "</td><td>" +
              LegalBasisText(p, r.legal_basis) + "</td><td>" + Phases(p, r.phases) +
              "<div class=\"cond\">Voorwaarden: " + Esc(conditions) + "</div></td><td>" + Retention(p, r) +
              (obligations.empty() ? "" : "<div class=\"cond\">" + obligations + "</div>") +
              "</td><td class=\"id\">" + Esc(r.id) + "</td></tr>";
    }
    h += "<h3 id=\"doel-" + Esc(purpose.id) + "\">Doel: " + PurposeName(purpose) + "</h3>";
    if (count == 0) {
      h += "<p class=\"note\">Het beleid staat voor dit doel geen verstrekking toe" +
           std::string(only >= 0 ? " van of aan deze partner" : "") + ".</p>";
      continue;
    }
    h += "<table class=\"purpose\" data-purpose=\"" + Esc(purpose.id) +
         "\"><tr><th class=\"w-cat\">Categorieën van persoonsgegevens (velden)</th><th>Betrokkenen</th>"
         "<th>Bron (verstrekker)</th><th>Ontvangers</th><th class=\"w-basis\">Grondslag</th>"
         "<th>Fasen en voorwaarden</th><th>Bewaartermijn bij de ontvanger; verplichtingen</th><th>Regel</th></tr>" +
         rows + "</table>";
  }
}

void Categories(const Policy& p, int only, std::string& h) {
  Section(h, "categorieen", "3. Categorieën van persoonsgegevens");
  h += "<p>Art. 9: bijzondere persoonsgegevens (zoals gezondheid). Art. 10: persoonsgegevens van strafrechtelijke "
       "aard. Regime: AVG, of voor politie- en justitiegegevens de Wpg of de Wjsg.</p>";
  h += "<table id=\"categories\"><tr><th>Categorie</th><th>Bijzonder / regime</th><th>Houder (bron)</th>"
       "<th>Velden</th><th>Verstrekt voor</th><th>Ontvangers</th></tr>";
  for (size_t c = 0; c < p.categories().size(); ++c) {
    const auto& cat = p.categories()[c];
    uint64_t purposes = 0, recipients = 0;
    bool touches = only < 0 || cat.owner == only;
    for (const auto& r : p.rules()) {
      if (r.effect != policy::Effect::kPermit || (r.categories & Bit(c)) == 0 || !RuleTouches(r, only)) continue;
      purposes |= r.purposes;
      recipients |= RecipientPartners(p, r);
      touches = true;
    }
    if (!touches) continue;
    const auto* whole = NeverEntry(p, static_cast<int>(c), -1);
    std::string fields;
    for (size_t f = 0; f < cat.fields.size(); ++f) {
      const auto* never = whole == nullptr ? NeverEntry(p, static_cast<int>(c), static_cast<int>(f)) : nullptr;
      fields += "<li>" + Esc(cat.fields[f]) +
                (never != nullptr ? " <span class=\"badge never\">nooit gedeeld (" + Esc(never->id) + ")</span>" : "") +
                "</li>";
    }
    std::string owner = cat.owner >= 0 ? PartnerText(p, cat.owner) : "niet vermeld";
    h += "<tr><td>" + CategoryName(cat) +
         (whole != nullptr ? " <span class=\"badge never\">nooit gedeeld (" + Esc(whole->id) + ")</span>" : "") +
         "</td><td>" + CategoryFlags(cat) + "</td><td>" + owner + "</td><td>" +
         (fields.empty() ? std::string("geen velden") : "<ul class=\"fields\">" + fields + "</ul>") + "</td><td>" + (purposes == 0 ? "niet verstrekt" : NameList(p.purposes(), purposes, PurposeLink)) +
         "</td><td>" + (recipients == 0 ? "niemand" : NameList(p.partners(), recipients, PartnerName)) + "</td></tr>";
  }
  h += "</table>";
}

void NeverShared(const Policy& p, std::string& h) {
  Section(h, "nooit", "4. Nooit gedeeld");
  if (p.never_shared().empty()) {
    h += "<p class=\"note\">Het beleid noemt geen gegevens die nooit gedeeld worden.</p>";
    return;
  }
  h += "<p>Deze gegevens deelt Ketenpoort nooit, welke regel het ook zou toestaan.</p>";
  h += "<table id=\"never\"><tr><th>Categorie of veld</th><th>Reden</th><th>Id</th></tr>";
  for (const auto& n : p.never_shared()) {
    std::string what = "onbekend";
    if (n.category >= 0) {
      const auto& cat = p.categories()[n.category];
      what = n.field < 0 ? "de hele categorie " + CategoryName(cat)
                         : "veld " + Esc(cat.fields[n.field]) + " van " + CategoryName(cat);
    }
    h += "<tr><td>" + what + "</td><td>" + (n.reason.empty() ? std::string("geen reden vermeld") : Esc(n.reason)) +
         "</td><td class=\"id\">" + Esc(n.id) + "</td></tr>";
  }
  h += "</table>";
}

void Forbidden(const Policy& p, int only, std::string& h) {
  Section(h, "verboden", "5. Verboden verstrekkingen");
  std::string rows;
  for (const auto& r : p.rules()) {
    if (r.effect != policy::Effect::kDeny || !RuleTouches(r, only)) continue;
    const bool all_from = r.from == AllBits(p.partners().size());
    const bool all_purposes = (r.purposes & AllBits(p.purposes().size())) == AllBits(p.purposes().size());
    std::string subjects = r.subject_roles == 0 ? "alle betrokkenen" : Subjects(r.subject_roles);
    rows += "<tr><td>" + (all_from ? std::string("elke partner") : NameList(p.partners(), r.from, PartnerName)) +
            "</td><td>" + Recipients(p, r) + "</td><td>" + NameList(p.categories(), r.categories, CategoryName) +
            "</td><td>" + (all_purposes ? std::string("elk doel") : NameList(p.purposes(), r.purposes, PurposeName)) +
            "</td><td>" + Phases(p, r.phases) + "</td><td>" + Esc(subjects) + "</td><td>" +
            (r.explanation.empty() ? std::string("geen toelichting") : Esc(r.explanation)) +
            "</td><td class=\"id\">" + Esc(r.id) + "</td></tr>";
  }
  if (rows.empty()) {
    h += "<p class=\"note\">Het beleid heeft geen verbodsregels" + std::string(only >= 0 ? " voor deze partner" : "") +
         "; alles wat niet is toegestaan, wordt geweigerd.</p>";
    return;
  }
  h += "<p>Een verbodsregel gaat voor elke toestemmingsregel.</p>";
  h += "<table id=\"forbidden\"><tr><th>Van</th><th>Aan</th><th>Categorieën</th><th>Doelen</th><th>Fasen</th>"
       "<th>Betrokkenen</th><th>Toelichting</th><th>Regel</th></tr>" +
       rows + "</table>";
}

void LegalBases(const Policy& p, int only, std::string& h) {
  Section(h, "grondslagen", "6. Grondslagen");
  h += "<table id=\"bases\"><tr><th>Grondslag</th><th>Verstrekkers</th><th>Categorieën</th><th>Langste "
       "bewaartermijn</th><th>Vereist</th><th>Gebruikt door</th></tr>";
  for (size_t b = 0; b < p.legal_bases().size(); ++b) {
    const auto& basis = p.legal_bases()[b];
    std::string rules;
    for (const auto& r : p.rules()) {
      if (r.legal_basis == static_cast<int>(b) && RuleTouches(r, only)) {
        rules += (rules.empty() ? "" : ", ") + ("<span class=\"rule\">" + Esc(r.id) + "</span>");
      }
    }
    if (only >= 0 && rules.empty() && (basis.senders & Bit(static_cast<size_t>(only))) == 0) continue;
    std::string required = Conditions(basis.required_conditions);
    if (basis.consent_by_source) required += "; alleen toestemming die de bron zelf vastlegde";
    h += "<tr><td>" + LegalBasisText(p, static_cast<int>(b)) + "</td><td>" +
         NameList(p.partners(), basis.senders, PartnerName) + "</td><td>" +
         NameList(p.categories(), basis.categories, CategoryName) + "</td><td>" +
         (basis.max_retention_days > 0 ? Days(basis.max_retention_days) : std::string("niet beperkt")) +
         (basis.allows_dossier_retention ? "; of de wettelijke dossiertermijn van de ontvanger" : "") + "</td><td>" +
         Esc(required) + "</td><td>" + (rules.empty() ? "door geen regel gebruikt" : rules) + "</td></tr>";
  }
  h += "</table>";
  const auto& consent = p.consent();
  if (!consent.defined) return;
  // Who must consent at which age, and for how long a consent counts.
  std::string bands;
  int from = 0;
  for (const auto& band : consent.age_rule) {
    std::string who;
    if (band.givers & policy::kGiverSubject) who = "de betrokkene zelf";
    if (band.givers & policy::kGiverParents) who += std::string(who.empty() ? "" : " en ") + "de gezaghebbende ouders";
    const std::string ages = band.below < 0 ? (from == 0 ? std::string("elke leeftijd") : "vanaf " + std::to_string(from) + " jaar")
                                            : (from == 0 ? "jonger dan " + std::to_string(band.below) + " jaar"
                                                         : std::to_string(from) + " tot " + std::to_string(band.below) + " jaar");
    bands += "<li>" + ages + ": " + who + "</li>";
    if (band.below >= 0) from = band.below;
  }
  h += "<h3 id=\"toestemming\">Toestemming</h3><p>Waar een regel toestemming vraagt, telt per betrokkene een "
       "toestemming voor het doel van het verzoek" +
       (consent.max_days > 0 ? ", ten hoogste " + Days(consent.max_days) + " na het vastleggen" : std::string()) +
       ". Wie toestemming geeft:</p><ul id=\"consent\">" + (bands.empty() ? "<li>de betrokkene zelf</li>" : bands) +
       "</ul>";
}

void Fixed(std::string& h) {
  Section(h, "doorgifte", "7. Doorgifte aan derde landen");
  h += "<p>Het beleid staat alleen verstrekking toe aan de partners in dit register. Ketenpoort geeft geen "
       "persoonsgegevens door aan een derde land of een internationale organisatie (AVG art. 30 lid 1 sub e); "
       "elke partner bevestigt dat ook voor zijn eigen systemen.</p>";
  Section(h, "beveiliging", "8. Technische en organisatorische beveiligingsmaatregelen");
  h += "<ul>"
       "<li>Standaard weigeren: alleen wat een regel van dit beleid toestaat wordt verstrekt, en alleen de velden die "
       "de regel noemt (dataminimalisatie).</li>"
       "<li>De gateway beslist op metadata en ziet de inhoud niet: de bron ondertekent elk antwoord en versleutelt het "
       "voor de vragende coördinator alleen (einde-tot-eindeversleuteling); de identificerende gegevens van "
       "betrokkenen reizen versleuteld.</li>"
       "<li>Elke deelnemer heeft eigen sleutels; verbindingen zijn versleuteld en wederzijds geauthenticeerd.</li>"
       "<li>Elk verzoek, elke beslissing en elke verstrekking staat in een onweerlegbaar auditlog (Merkle-boom met "
       "ondertekende controlepunten) dat de functionaris gegevensbescherming zelf kan controleren.</li>"
       "<li>De ontvanger bewaart verstrekte gegevens versleuteld en wist ze na de bewaartermijn hierboven.</li>"
       "</ul>";
}

// The partners the page is about (all, or `only` and its counterparts), and
// which of them the permit rules shown let disclose and receive.
struct Shown {
  uint64_t partners = 0, sends = 0, receives = 0;
};
Shown ShownPartners(const Policy& p, int only) {
  Shown s;
  for (const auto& r : p.rules()) {
    if (r.effect != policy::Effect::kPermit || !RuleTouches(r, only)) continue;
    s.sends |= r.from;
    s.receives |= RecipientPartners(p, r);
  }
  s.partners = only < 0 ? AllBits(p.partners().size()) : (s.sends | s.receives | Bit(static_cast<size_t>(only)));
  return s;
}

std::vector<std::string> WithoutController(const Policy& policy, const std::string& only_partner) {
  std::vector<std::string> out;
  const int only = only_partner.empty() ? -1 : policy.PartnerIndex(only_partner);
  if (!only_partner.empty() && only < 0) return out;
  const uint64_t shown = ShownPartners(policy, only).partners;
  for (size_t i = 0; i < policy.partners().size(); ++i) {
    if ((shown & Bit(i)) != 0 && policy.partners()[i].controller.empty()) out.push_back(policy.partners()[i].id);
  }
  return out;
}

Result<std::string> Render(const Policy& p, const RegisterOptions& options) {
  int only = -1;
  if (!options.partner.empty()) {
    only = p.PartnerIndex(options.partner);
    if (only < 0) return InvalidArgumentError("the policy has no partner '" + options.partner + "'");
  }
  const Shown shown = ShownPartners(p, only);
  const std::vector<std::string> missing = WithoutController(p, options.partner);
  if (!missing.empty() && !options.draft) {
    std::string names;
    for (const auto& m : missing) names += (names.empty() ? "" : ", ") + m;
    return FailedPreconditionError("the register needs every partner's controller; the policy has no 'controller:' for " +
                                   names + " (add it, or pass --draft for a draft marked incomplete)");
  }

  const std::string title = p.title().empty() ? p.id() : p.title();
  std::string h;
  h.reserve(64 * 1024);
  h += "<!DOCTYPE html><html lang=\"nl\"><head><meta charset=\"utf-8\"><title>Register van verwerkingsactiviteiten — " +
       Esc(title) + "</title><style>" + kStyle + "</style></head><body>";
  h += "<h1>Register van verwerkingsactiviteiten — " + Esc(title) + "</h1>";
  if (!missing.empty()) {
    std::string names;
    for (const auto& m : missing) names += (names.empty() ? "" : ", ") + PartnerText(p, p.PartnerIndex(m));
    h += "<div class=\"draft\" id=\"draft\"><strong>CONCEPT — onvolledig.</strong> Het beleid noemt geen "
         "verwerkingsverantwoordelijke voor: " + names + ". Dit register is pas volledig als elke partner een "
         "<code>controller:</code> heeft.</div>";
  }
  if (only >= 0) {
    h += "<p><strong>Alleen het deel van partner " + PartnerText(p, only) +
         "</strong>: de verstrekkingen die deze partner doet of ontvangt.</p>";
  }
  h += "<p>Afgeleid uit het deelbeleid (AVG art. 30; voor gegevens onder de Wpg of de Wjsg: richtlijn (EU) "
       "2016/680 art. 24). Het register zegt wat het beleid toestaat; wat er werkelijk is gedeeld, staat in het "
       "auditlog (<code>ketenpoort audit report</code>).</p>";
  h += "<dl class=\"meta\"><dt>Beleid</dt><dd>" + Esc(p.id()) + "</dd><dt>Versie</dt><dd>" +
       (p.version().empty() ? std::string("niet vermeld") : Esc(p.version())) +
       "</dd><dt>In het auditlog</dt><dd><code>" + Esc(p.version().empty() ? p.id() : p.id() + " " + p.version()) +
       "</code> (policy_version van elke beslissing)</dd><dt>SHA-256 van het beleid</dt><dd><code>" +
       Esc(p.sha256_hex()) + "</code></dd><dt>Bestand</dt><dd><code>" + Esc(p.source_name()) +
       "</code></dd><dt>Opgesteld</dt><dd>" + Esc(FormatRfc3339Millis(options.generated_at_millis)) + "</dd></dl>";
  if (!p.description().empty()) h += "<p>" + Esc(p.description()) + "</p>";
  h += "<nav><a href=\"#verantwoordelijken\">Verantwoordelijken</a><a href=\"#doelen\">Doelen</a>"
       "<a href=\"#categorieen\">Categorieën</a><a href=\"#nooit\">Nooit gedeeld</a><a href=\"#verboden\">Verboden</a>"
       "<a href=\"#grondslagen\">Grondslagen</a><a href=\"#doorgifte\">Doorgifte</a><a href=\"#beveiliging\">Beveiliging</a></nav>";
  Controllers(p, shown.partners, shown.sends, shown.receives, h);
  Purposes(p, only, h);
  Categories(p, only, h);
  NeverShared(p, h);
  Forbidden(p, only, h);
  LegalBases(p, only, h);
  Fixed(h);
  h += "</body></html>\n";
  return h;
}

}  // namespace art30
}  // namespace

std::vector<std::string> PartnersWithoutController(const policy::Policy& policy, const std::string& only_partner) {
  return art30::WithoutController(policy, only_partner);
}

Result<std::string> RenderPolicyRegister(const policy::Policy& policy, const RegisterOptions& options) {
  return art30::Render(policy, options);
}

}  // namespace kp::cli
