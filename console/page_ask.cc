// Informatie opvragen: what the policy lets this coordinator ask in a case
// now, for a purpose and some of its subjects; the policy's own explanation
// of the chosen requests before they go; and sending them (one, several, or
// "Vraag alle toegelaten partners" in one action).
//
// One truth: every state, rule, legal basis, field and retention shown here
// is the case library's answer (cases::WhatMayBeAsked, cases::ExplainRequest
// on facts folded with the policy), which is the gateway's own decision
// path. This page only asks it and puts the answer in Dutch words; the
// gateway decides again when the request arrives.
//
// Routes: GET /casus/{id}/opvragen (the choices and the table of what may be
// asked), POST /casus/{id}/opvragen/uitleg (the explanation, or back to the
// choices), POST /casus/{id}/opvragen (send, wait briefly for the answers,
// then the case page).
//
// Subjects' names and the justification are shown, never logged; the
// justification is wiped from this file's copies once the page is made.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <map>
#include <utility>

#include "case/request_options.h"
#include "console/consent_view.h"
#include "console/desk.h"
#include "console/view.h"
#include "core/base/encoding.h"
#include "core/crypto/secret_bytes.h"

namespace kp::console {
namespace {

namespace v1 = ketenpoort::v1;
using cases::AskExplanation;
using cases::AskOption;
using cases::AskState;

constexpr size_t kMaxJustificationChars = 4000;
constexpr size_t kMaxPicked = 200;  // far more than a policy has partner × category pairs

// ------------------------------------------------------------ the form

void WipeString(std::string& s) {
  SecureWipe(s.data(), s.size());
  s.clear();
}

// A policy id as a form may carry it (a-z, 0-9, dash, dot, underscore).
bool IsId(std::string_view s) {
  return !s.empty() && s.size() <= 100 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
         });
}

// What the coordinator chose. The justification is wiped when it goes.
struct AskForm {
  std::string purpose;
  std::vector<std::string> refs;
  bool with_justification = false;  // "met onderbouwing" ticked
  std::string justification;        // as typed
  std::vector<std::string> picked;  // "partner/category"
  // "met afweging" ticked: the conflict-of-duties weighing (consent_view.h).
  bool with_weighing = false;
  v1::Weighing weighing;
  ~AskForm() {
    WipeString(justification);
    client::WipeWeighing(&weighing);
  }

  // The justification to send: none when it is only spaces.
  std::string ToSend() const { return policy::HasNonBlank(justification) ? justification : std::string(); }
  // The weighing to send: when ticked (the agent assesses it again).
  std::optional<v1::Weighing> WeighingToSend() const {
    return with_weighing ? std::optional<v1::Weighing>(weighing) : std::nullopt;
  }
  // What the table of choices assumes: what was ticked.
  policy::Justification Ticked() const {
    return with_weighing        ? policy::Justification::kWeighing
           : with_justification ? policy::Justification::kText
                                : policy::Justification::kNone;
  }
  // What the requests will declare, as the client sets it (Prepare).
  policy::Justification Declared() const {
    if (with_weighing) return policy::Justification::kWeighing;
    return policy::AssessJustification(justification, nullptr) != policy::Justification::kNone
               ? policy::Justification::kText
               : policy::Justification::kNone;
  }
  // Whether the typed weighing counts (policy::AssessJustification).
  bool WeighingComplete() const {
    const policy::WeighingAnswers a{weighing.consent(), weighing.harm(),    weighing.no_other_way(),
                                    weighing.effect(),  weighing.minimum(), weighing.approver()};
    return policy::AssessJustification("", &a) == policy::Justification::kWeighing;
  }
};

// Messages for the form, by field ("doel", "betrokkenen", "keuze",
// "onderbouwing"), and one above it ("algemeen").
using Problems = std::map<std::string, std::string>;

AskForm ReadForm(const Page& page) {
  AskForm f;
  f.purpose = page.Value("doel");
  for (auto& ref : page.Values("betrokkene")) {
    if (std::find(f.refs.begin(), f.refs.end(), ref) == f.refs.end()) f.refs.push_back(std::move(ref));
  }
  f.with_justification = page.Value("met_onderbouwing") == "1";
  if (f.with_justification) f.justification = page.Value("onderbouwing");
  f.with_weighing = page.Value("met_afweging") == "1";
  if (f.with_weighing) {
    for (const auto& q : WeighingQuestions()) *q.field(&f.weighing) = page.Value(std::string(q.name));
  }
  for (auto& p : page.Values("keuze")) {
    if (std::find(f.picked.begin(), f.picked.end(), p) == f.picked.end()) f.picked.push_back(std::move(p));
  }
  return f;
}

// ------------------------------------------------------------ the case

// A subject as the form shows it; the name is wiped when it goes.
struct SubjectRow {
  std::string ref, role, name;
  SubjectRow(std::string r, std::string ro, const std::string& n) : ref(std::move(r)), role(std::move(ro)), name(n) {}
  SubjectRow(const SubjectRow&) = delete;
  SubjectRow& operator=(const SubjectRow&) = delete;
  // A copy, and the source wiped (a moved-from string may keep its bytes).
  SubjectRow(SubjectRow&& o) noexcept : ref(std::move(o.ref)), role(std::move(o.role)), name(o.name) {
    WipeString(o.name);
  }
  SubjectRow& operator=(SubjectRow&&) = delete;
  ~SubjectRow() { WipeString(name); }
  // "Anna (slachtoffer)", or "S1 (slachtoffer)" when this computer has no name.
  std::string Text() const { return (name.empty() ? ref : name) + " (" + role + ")"; }
};

// What the page needs from the coordinator, read under its lock.
struct CaseContext {
  client::CaseInfo info;
  cases::CaseFacts facts;  // folded with the policy: phase, roles, acute window as the gateway reads them
  RegistryEntry me;
  std::vector<SubjectRow> subjects;  // in the case's order

  const SubjectRow* Subject(const std::string& ref) const {
    for (const auto& s : subjects) {
      if (s.ref == ref) return &s;
    }
    return nullptr;
  }
};

Result<CaseContext> LoadCase(Desk& desk, const std::string& id) {
  return desk.With([&](client::Coordinator& c) -> Result<CaseContext> {
    CaseContext ctx;
    KP_ASSIGN_OR_RETURN(ctx.info, c.store().GetCase(id));
    KP_ASSIGN_OR_RETURN(ctx.facts, c.LocalFacts(id, &desk.policy()));
    KP_ASSIGN_OR_RETURN(const RegistryEntry* entry, c.registry().Find(desk.me()));
    ctx.me = *entry;
    auto kept = c.store().Subjects(id);  // names; the refs and roles come from the signed history
    ctx.subjects.reserve(ctx.facts.subjects.size());
    for (const auto& s : ctx.facts.subjects) {
      std::string name;
      if (kept.ok()) {
        for (const auto& k : *kept) {
          if (k.ref() == s.ref) name = k.name();
        }
      }
      ctx.subjects.emplace_back(s.ref, std::string(RoleText(s.role)), name);
      WipeString(name);
    }
    if (kept.ok()) {
      for (auto& k : *kept) client::WipeSubject(&k);
    }
    return ctx;
  });
}

// The purpose and subjects make sense for this case; messages where not.
void CheckChoices(const Desk& desk, const CaseContext& ctx, const AskForm& f, Problems& problems) {
  const auto& purposes = desk.policy().purposes();
  if (f.purpose.empty()) {
    problems["doel"] = "Kies het doel waarvoor u de informatie nodig heeft.";
  } else if (std::none_of(purposes.begin(), purposes.end(), [&](const auto& p) { return p.id == f.purpose; })) {
    problems["doel"] = "Dit doel kent het beleid niet. Kies een doel uit de lijst.";
  }
  if (f.refs.empty()) {
    problems["betrokkenen"] = "Kies ten minste één betrokkene over wie u informatie vraagt.";
  } else {
    for (const auto& ref : f.refs) {
      if (ctx.facts.Subject(ref) == nullptr) {
        problems["betrokkenen"] = "Deze casus heeft geen betrokkene " + ref + ". Kies uit de lijst.";
      }
    }
  }
  if (f.with_justification && !policy::HasNonBlank(f.justification)) {
    problems["onderbouwing"] =
        "U koos 'met onderbouwing': schrijf op waarom u deze informatie nodig heeft (alleen spaties telt niet).";
  } else if (f.with_justification && policy::AssessJustification(f.justification, nullptr) ==
                                          policy::Justification::kNone) {
    problems["onderbouwing"] =
        "De onderbouwing zegt te weinig: schrijf in een paar woorden op waarom u deze informatie nodig heeft ('.', "
        "'n.v.t.', 'zie dossier' of één woord telt niet; de partner weigert het dan).";
  } else if (f.justification.size() > kMaxJustificationChars) {
    problems["onderbouwing"] = "De onderbouwing is te lang: ten hoogste " + std::to_string(kMaxJustificationChars) +
                               " tekens.";
  }
  if (f.with_weighing) {
    v1::Weighing copy = f.weighing;
    bool too_long = false;
    for (const auto& q : WeighingQuestions()) too_long = too_long || q.field(&copy)->size() > kMaxJustificationChars;
    client::WipeWeighing(&copy);
    if (too_long) {
      problems["afweging"] =
          "Een antwoord in de afweging is te lang: ten hoogste " + std::to_string(kMaxJustificationChars) + " tekens.";
    } else if (!f.WeighingComplete()) {
      problems["afweging"] =
          "U koos 'met afweging': beantwoord elk van de vijf vragen in woorden en noem wie de afweging maakte, met "
          "naam en functie ('n.v.t.', '-', 'geen' of 'zie dossier' telt niet; de partner weigert het dan).";
    }
  }
}

// Why nothing may be asked in this case now (CheckAsker's refusal), in the
// coordinator's words; the library's reason follows as it is.
std::string BlockedText(const Desk& desk, const CaseContext& ctx, const Status& s) {
  const int64_t now = desk.clock().NowMillis();
  std::string why;
  if (ctx.facts.closed) {
    why = "De casus is gesloten; er kan niets meer worden opgevraagd.";
  } else if (ctx.facts.CoordinatorAt(now) != desk.me()) {
    why = "U bent niet (meer) de casusregisseur van deze casus; alleen de casusregisseur vraagt informatie op.";
  } else if (ctx.facts.AcuteWindowOver(now)) {
    why = "Het acute venster van deze casus is op " + DateTimeText(ctx.facts.acute_until_ms) +
          " verstreken. Draag de casus over aan een casusregisseur om verder te gaan.";
  } else if (s.code() == StatusCode::kPermissionDenied) {
    why = "Het beleid staat u in deze casus nu geen verzoeken toe.";
  } else {
    why = "In deze casus kan nu niets worden opgevraagd.";
  }
  return why + " Reden: " + s.message();
}

// ------------------------------------------------------------ words

std::string StateText(AskState s) {
  switch (s) {
    case AskState::kAllowed:
      return "toegestaan";
    case AskState::kNeedsJustification:
      return "onderbouwing nodig";
    case AskState::kNeedsWeighing:
      return "afweging nodig";
    case AskState::kNeedsConsent:
      return "toestemming nodig";
    case AskState::kNeedsGatekeeper:
      return "akkoord poortwachter nodig";
    case AskState::kRefused:
      break;
  }
  return "niet toegestaan";
}

std::string StateClass(AskState s) {
  if (s == AskState::kAllowed) return "groen";
  if (s == AskState::kRefused) return "rood";
  return "let-op";
}

// A condition the policy still needs (policy::ConditionName), as a coordinator reads it.
std::string MissingText(const std::string& condition) {
  if (condition == "justification") return "een schriftelijke onderbouwing (vink 'met onderbouwing' aan)";
  if (condition == "weighing") {
    return "de afweging bij een conflict van plichten: de vijf vragen beantwoord en wie afwoog (vink 'met "
           "afweging' aan)";
  }
  if (condition == "consent") return "toestemming van elke gekozen betrokkene voor dit doel, vastgelegd in de casus";
  if (condition == "gatekeeper") return "een akkoord van de poortwachter van deze partner, vastgelegd in de casus";
  return condition;
}

std::string Join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (const auto& p : parts) {
    if (!out.empty()) out += sep;
    out += p;
  }
  return out;
}

std::string MissingList(const AskExplanation& e) {
  std::vector<std::string> parts;
  for (const auto& m : e.missing) parts.push_back(MissingText(m));
  return Join(parts, "; en ");
}

// "datum, incidentsoort, rol betrokkene": the policy's field ids as words.
std::string FieldsText(const std::vector<std::string>& fields) {
  std::vector<std::string> words;
  for (std::string f : fields) {
    std::replace(f.begin(), f.end(), '-', ' ');
    words.push_back(std::move(f));
  }
  return Join(words, ", ");
}

mu::data RuleRows(const AskExplanation& e) {
  mu::data rows = mu::data::type::list;
  for (const auto& r : e.rules) {
    mu::data row;
    row.set("regel", r.id);
    row.set("regel_uitleg", r.explanation);
    rows.push_back(row);
  }
  return rows;
}

std::string RuleIdsText(const AskExplanation& e) {
  std::vector<std::string> ids;
  for (const auto& r : e.rules) ids.push_back(r.id);
  return Join(ids, ", ");
}

// ------------------------------------------------------------ Informatie opvragen (the choices and the table)

// Adds the options to `d`: the table of what may be chosen, and the refused
// ones that name a rule. `without` (may be null): the same options asked
// without a justification, to tell what is allowed only thanks to it.
void AddOptions(const Desk& desk, const AskForm& f, const std::vector<AskOption>& options,
                const std::vector<AskOption>* without, mu::data& d) {
  const auto& p = desk.policy();
  std::map<std::pair<std::string, std::string>, AskState> plain;
  if (without != nullptr) {
    for (const auto& o : *without) plain[{o.partner, o.category}] = o.explanation.state;
  }
  mu::data rows = mu::data::type::list, refused = mu::data::type::list;
  size_t allowed = 0, refused_count = 0;
  for (const auto& o : options) {
    const AskExplanation& e = o.explanation;
    mu::data row;
    const std::string value = o.partner + "/" + o.category;
    row.set("waarde", value);
    row.set("partner", PartnerText(p, o.partner));
    row.set("categorie", CategoryText(p, o.category));
    row.set("regels", RuleRows(e));
    if (e.state == AskState::kRefused) {
      if (e.rules.empty()) continue;  // nothing in the policy to point at: not worth a line
      ++refused_count;
      refused.push_back(row);
      continue;
    }
    const bool sendable = e.state == AskState::kAllowed;
    if (sendable) ++allowed;
    auto before = plain.find({o.partner, o.category});
    const bool thanks_to_justification =
        sendable && before != plain.end() && before->second == AskState::kNeedsJustification;
    const bool thanks_to_weighing = sendable && before != plain.end() && before->second == AskState::kNeedsWeighing;
    row.set("status", thanks_to_weighing         ? std::string("toegestaan met uw afweging")
                      : thanks_to_justification ? std::string("toegestaan met uw onderbouwing")
                                                : StateText(e.state));
    row.set("klasse", StateClass(e.state));
    row.set("kiesbaar", mu::data(sendable));
    row.set("gekozen", mu::data(std::find(f.picked.begin(), f.picked.end(), value) != f.picked.end()));
    // (A section over a string renders even when it is empty: set only what there is.)
    if (!e.missing.empty()) row.set("nodig", MissingList(e));
    if (!e.rules.empty()) row.set("regel_ids", RuleIdsText(e));
    std::vector<std::string> bases;
    for (const auto& b : e.legal_bases) bases.push_back(b.citation.empty() ? b.id : b.citation);
    if (!bases.empty()) row.set("grondslag", Join(bases, "; "));
    rows.push_back(row);
  }
  d.set("mogelijk", rows);
  d.set("heeft_mogelijk", mu::data(!rows.is_empty_list()));
  d.set("geweigerd", refused);
  d.set("heeft_geweigerd", mu::data(refused_count > 0));
  d.set("aantal_geweigerd", std::to_string(refused_count));
  d.set("heeft_toegestaan", mu::data(allowed > 0));
}

// The hidden fields that carry the purpose, subjects and 'met onderbouwing'
// from one form to the next.
void AddCarried(const AskForm& f, mu::data& d) {
  d.set("doel", f.purpose);
  mu::data refs = mu::data::type::list;
  for (const auto& r : f.refs) {
    mu::data x;
    x.set("ref", r);
    refs.push_back(x);
  }
  d.set("gekozen_betrokkenen", refs);
  d.set("met_onderbouwing", mu::data(f.with_justification));
  // The weighing's questions with what was typed (shown in the form, carried
  // hidden from one form to the next).
  d.set("met_afweging", mu::data(f.with_weighing));
  mu::data questions = mu::data::type::list;
  v1::Weighing copy = f.weighing;
  for (const auto& q : WeighingQuestions()) {
    mu::data x;
    x.set("naam", std::string(q.name));
    x.set("vraag", std::string(q.question));
    x.set("antwoord", *q.field(&copy));
    questions.push_back(x);
  }
  client::WipeWeighing(&copy);
  d.set("afweging", questions);
}

void AddProblems(const Problems& problems, mu::data& d) {
  for (const auto& [field, text] : problems) d.set("fout_" + field, text);
}

// The page of choices. `problems` are shown at their fields; the table is
// made only for a valid purpose and subjects.
void ShowAsk(Desk& desk, Page& page, const std::string& id, const AskForm& f, Problems problems, int status) {
  auto ctx = LoadCase(desk, id);
  if (!ctx.ok()) {
    spdlog::warn("console: case {} could not be read for asking: {}", id, ctx.status().message());
    desk.ShowMessage(page, ctx.status().code() == StatusCode::kNotFound ? 404 : 500, "Informatie opvragen",
                     "Casus " + id + " staat niet (leesbaar) op deze computer: " + ctx.status().message());
    return;
  }
  const auto& p = desk.policy();
  mu::data d;
  d.set("id", id);
  d.set("fase", PhaseText(p, ctx->facts.phase));
  d.set("casusdoel", PurposeText(p, ctx->facts.purpose));

  mu::data purposes = mu::data::type::list;
  auto add_purpose = [&](const std::string& purpose_id, bool of_case) {
    mu::data x;
    x.set("waarde", purpose_id);
    std::string text = PurposeText(p, purpose_id);
    if (of_case) {
      if (text.ends_with('.')) text.pop_back();
      text += " (doel van de casus)";
    }
    x.set("tekst", text);
    x.set("gekozen", mu::data(purpose_id == f.purpose));
    purposes.push_back(x);
  };
  add_purpose(ctx->facts.purpose, true);
  for (const auto& purpose : p.purposes()) {
    if (purpose.id != ctx->facts.purpose) add_purpose(purpose.id, false);
  }
  d.set("doelen", purposes);

  mu::data subjects = mu::data::type::list;
  for (const auto& s : ctx->subjects) {
    mu::data row;
    row.set("ref", s.ref);
    row.set("rol", s.role);
    if (!s.name.empty()) row.set("naam", s.name);
    row.set("aangevinkt", mu::data(std::find(f.refs.begin(), f.refs.end(), s.ref) != f.refs.end()));
    subjects.push_back(row);
  }
  d.set("betrokkenen", subjects);
  AddCarried(f, d);
  d.set("onderbouwing", f.justification);

  Problems checked;
  CheckChoices(desk, *ctx, f, checked);
  checked.erase("onderbouwing");  // a blank justification does not hide the table
  checked.erase("afweging");      // nor an incomplete weighing
  if (checked.empty()) {
    const int64_t now = desk.clock().NowMillis();
    auto options = cases::WhatMayBeAsked(p, ctx->facts, desk.me(), ctx->me, f.purpose, f.refs, f.Ticked(), now);
    if (!options.ok() && options.status().code() == StatusCode::kInvalidArgument) {
      problems.emplace("algemeen", "Dat kan zo niet worden gevraagd: " + options.status().message());
    } else if (!options.ok()) {
      d.set("geblokkeerd", BlockedText(desk, *ctx, options.status()));
    } else {
      std::vector<AskOption> plain;
      const bool given = f.with_justification || f.with_weighing;
      if (given) {
        auto w = cases::WhatMayBeAsked(p, ctx->facts, desk.me(), ctx->me, f.purpose, f.refs, false, now);
        if (w.ok()) plain = std::move(w).value();
      }
      AddOptions(desk, f, *options, given ? &plain : nullptr, d);
      d.set("tabel", mu::data(true));
      d.set("geen_partners", mu::data(ctx->facts.members.empty()));
    }
  }
  if (!problems.empty() && problems.count("algemeen") == 0) {
    d.set("fout_algemeen", std::string("Er is niets verstuurd: kijk bij de rode meldingen hieronder wat er ontbreekt."));
  }
  AddProblems(problems, d);
  page.res.status = status;
  desk.Show(page, "Informatie opvragen", "ask.mustache", d);
}

// The first visit: the case's purpose, every subject, no justification.
// After "Toon wat mag" (getoond=1): what was chosen.
void HandleShow(Desk& desk, Page& page) {
  const std::string id = page.PathPart(0);
  AskForm f = ReadForm(page);
  Problems problems;
  if (page.Value("getoond") != "1") {
    auto ctx = LoadCase(desk, id);
    if (ctx.ok()) {
      f.purpose = ctx->facts.purpose;
      for (const auto& s : ctx->facts.subjects) f.refs.push_back(s.ref);
    }
    ShowAsk(desk, page, id, f, problems, 200);
    return;
  }
  f.justification.clear();  // a GET never carries it (it would stay in the browser's history)
  client::WipeWeighing(&f.weighing);
  ShowAsk(desk, page, id, f, problems, 200);
}

// ------------------------------------------------------------ the chosen requests

// One request per partner, with its categories, in the order chosen.
struct Group {
  std::string partner;
  std::vector<std::string> categories;
};

Result<std::vector<Group>> GroupPicked(const Desk& desk, const std::vector<std::string>& picked) {
  if (picked.size() > kMaxPicked) return InvalidArgumentError("Te veel keuzes in één keer.");
  std::vector<Group> groups;
  for (const auto& value : picked) {
    const size_t slash = value.find('/');
    const std::string partner = value.substr(0, slash);
    const std::string category = slash == std::string::npos ? "" : value.substr(slash + 1);
    if (!IsId(partner) || !IsId(category) || desk.policy().PartnerIndex(partner) < 0) {
      return InvalidArgumentError("Een keuze is niet te lezen. Kies opnieuw uit de tabel.");
    }
    auto g = std::find_if(groups.begin(), groups.end(), [&](const Group& x) { return x.partner == partner; });
    if (g == groups.end()) g = groups.insert(groups.end(), Group{partner, {}});
    g->categories.push_back(category);
  }
  return groups;
}

// The request as the gateway will read it (the client's Prepare builds the
// same one): the chosen subjects with their roles, justification present or not.
v1::FragmentRequest RequestFor(const CaseContext& ctx, const AskForm& f, const Group& g) {
  v1::FragmentRequest r;
  r.set_case_id(ctx.facts.case_id);
  r.set_source_partner(g.partner);
  for (const auto& c : g.categories) r.add_categories(c);
  r.set_purpose(f.purpose);
  const policy::Justification level = f.Declared();
  r.set_justification_present(level != policy::Justification::kNone);
  r.set_justification_kind(level == policy::Justification::kWeighing ? v1::JUSTIFICATION_KIND_WEIGHING
                           : level == policy::Justification::kText  ? v1::JUSTIFICATION_KIND_TEXT
                                                                    : v1::JUSTIFICATION_KIND_NONE);
  for (const auto& s : ctx.facts.subjects) {
    if (std::find(f.refs.begin(), f.refs.end(), s.ref) == f.refs.end()) continue;
    auto* ref = r.add_subjects();
    ref->set_ref(s.ref);
    ref->set_role(s.role);
  }
  return r;
}

struct Explained {
  Group group;
  Result<AskExplanation> explanation;
};

// Each chosen group explained by the policy. A group that needs the
// justification the coordinator did not write is a problem at that field.
std::vector<Explained> ExplainGroups(const Desk& desk, const CaseContext& ctx, const AskForm& f,
                                     const std::vector<Group>& groups, Problems& problems) {
  std::vector<Explained> out;
  const int64_t now = desk.clock().NowMillis();
  for (const auto& g : groups) {
    auto e = cases::ExplainRequest(desk.policy(), ctx.facts, desk.me(), ctx.me, RequestFor(ctx, f, g), now);
    if (e.ok() && e->state == AskState::kNeedsJustification && f.Declared() == policy::Justification::kNone) {
      problems["onderbouwing"] = "Voor " + PartnerText(desk.policy(), g.partner) +
                                 " is een schriftelijke onderbouwing nodig: vink 'met onderbouwing' aan, kies "
                                 "opnieuw en schrijf op waarom u dit nodig heeft.";
    }
    if (e.ok() && e->state == AskState::kNeedsWeighing) {
      problems["afweging"] = "Voor " + PartnerText(desk.policy(), g.partner) +
                             " is de afweging bij een conflict van plichten nodig: vink 'met afweging' aan, kies "
                             "opnieuw en beantwoord de vijf vragen.";
    }
    out.push_back({g, std::move(e)});
  }
  return out;
}

mu::data ExplanationData(const Desk& desk, const AskForm& f, const Explained& x) {
  const auto& p = desk.policy();
  mu::data d;
  d.set("partner", PartnerText(p, x.group.partner));
  std::vector<std::string> names;
  for (const auto& c : x.group.categories) names.push_back(CategoryText(p, c));
  d.set("categorieen", Join(names, ", "));
  if (!x.explanation.ok()) {
    d.set("status", std::string("kan niet"));
    d.set("klasse", std::string("rood"));
    d.set("geweigerd", mu::data(true));
    d.set("fout", "Dit verzoek kan zo niet worden gedaan: " + x.explanation.status().message());
    return d;
  }
  const AskExplanation& e = *x.explanation;
  d.set("status", StateText(e.state));
  d.set("klasse", StateClass(e.state));
  d.set("verstuurbaar", mu::data(e.state == AskState::kAllowed));
  d.set("geweigerd", mu::data(e.state == AskState::kRefused));
  d.set("regels", RuleRows(e));
  d.set("heeft_regels", mu::data(!e.rules.empty()));
  mu::data bases = mu::data::type::list;
  for (const auto& b : e.legal_bases) {
    mu::data row;
    row.set("grondslag_id", b.id);
    row.set("citaat", b.citation.empty() ? b.id : b.citation);
    bases.push_back(row);
  }
  d.set("grondslagen", bases);
  d.set("heeft_grondslagen", mu::data(!e.legal_bases.empty()));
  mu::data missing = mu::data::type::list;
  for (const auto& m : e.missing) missing.push_back(mu::data(MissingText(m)));
  d.set("nodig", missing);
  d.set("heeft_nodig", mu::data(!e.missing.empty()));
  d.set("onderbouwing_verzegeld", mu::data(policy::HasNonBlank(f.justification) && e.state != AskState::kRefused));
  d.set("afweging_verzegeld", mu::data(f.with_weighing && e.state != AskState::kRefused));
  mu::data fields = mu::data::type::list;
  for (const auto& c : e.fields) {
    mu::data row;
    row.set("veld_categorie", CategoryText(p, c.category));
    row.set("velden", FieldsText(c.fields));
    fields.push_back(row);
  }
  d.set("velden_per_categorie", fields);
  d.set("heeft_velden", mu::data(!e.fields.empty()));
  if (e.retention_days > 0) {
    d.set("bewaar_dagen", std::to_string(e.retention_days));
    d.set("bewaar_tot", DateText(desk.clock().NowMillis() + e.retention_days * kDay));
  }
  d.set("niet_doorgeven", mu::data(e.no_onward_sharing));
  d.set("privacy_officer", mu::data(e.notify_privacy_officer));
  d.set("reden", e.reason);
  return d;
}

// "Bekijk wat er gebeurt": the policy's explanation of each chosen request,
// with "Verstuur" for those it permits and "Terug" to the choices.
void HandleExplain(Desk& desk, Page& page) {
  const std::string id = page.PathPart(0);
  AskForm f = ReadForm(page);
  if (page.Value("terug") == "1") {
    ShowAsk(desk, page, id, f, {}, 200);
    return;
  }
  auto ctx = LoadCase(desk, id);
  if (!ctx.ok()) {
    ShowAsk(desk, page, id, f, {}, 404);
    return;
  }
  Problems problems;
  CheckChoices(desk, *ctx, f, problems);
  auto groups = GroupPicked(desk, f.picked);
  if (!groups.ok()) {
    problems["keuze"] = groups.status().message();
  } else if (groups->empty()) {
    problems["keuze"] = "Kies in de tabel ten minste één partner en soort gegevens.";
  }
  if (!problems.empty()) {
    ShowAsk(desk, page, id, f, std::move(problems), 400);
    return;
  }
  std::vector<Explained> explained = ExplainGroups(desk, *ctx, f, *groups, problems);
  if (!problems.empty()) {
    ShowAsk(desk, page, id, f, std::move(problems), 400);
    return;
  }
  const auto& p = desk.policy();
  mu::data d;
  d.set("id", id);
  d.set("doel_tekst", PurposeText(p, f.purpose));
  std::vector<std::string> about;
  for (const auto& r : f.refs) about.push_back(ctx->Subject(r) != nullptr ? ctx->Subject(r)->Text() : r);
  d.set("over", Join(about, ", "));
  mu::data requests = mu::data::type::list, send = mu::data::type::list, all = mu::data::type::list;
  size_t sendable = 0;
  for (const auto& x : explained) {
    requests.push_back(ExplanationData(desk, f, x));
    const bool ok = x.explanation.ok() && x.explanation->state == AskState::kAllowed;
    if (ok) ++sendable;
    for (const auto& c : x.group.categories) {
      mu::data v;
      v.set("waarde", x.group.partner + "/" + c);
      all.push_back(v);
      if (ok) send.push_back(v);
    }
  }
  d.set("verzoeken", requests);
  d.set("meer", mu::data(explained.size() > 1));
  d.set("met_onderbouwing_tekst", mu::data(policy::HasNonBlank(f.justification)));
  d.set("met_afweging_tekst", mu::data(f.with_weighing));
  // Two forms, each with its own one-time id: send, or back with everything as it was.
  mu::data send_form;
  AddCarried(f, send_form);
  send_form.set("keuzes", send);
  send_form.set("onderbouwing", f.ToSend());
  send_form.set("aantal", std::to_string(sendable));
  send_form.set("id", id);
  desk.AddFormFields(page, send_form);
  mu::data back_form;
  AddCarried(f, back_form);
  back_form.set("keuzes", all);
  back_form.set("onderbouwing", f.justification);
  back_form.set("id", id);
  desk.AddFormFields(page, back_form);
  if (sendable > 0) d.set("versturen", send_form);
  d.set("terug", back_form);
  d.set("niet_verstuurbaar", std::to_string(explained.size() - sendable));
  d.set("heeft_niet_verstuurbaar", mu::data(sendable < explained.size()));
  spdlog::info("console: case {}: {} request(s) explained, {} may be sent", id, explained.size(), sendable);
  desk.Show(page, "Bekijk wat er gebeurt", "ask_explain.mustache", d);
}

// ------------------------------------------------------------ sending

std::string Count(size_t n, std::string_view one, std::string_view many) {
  return std::to_string(n) + " " + std::string(n == 1 ? one : many);
}

// What became of the requests sent, for the flash on the case page.
struct Tally {
  size_t delivered = 0, refused = 0, failed = 0, waiting = 0;
  std::vector<std::string> refusals;  // "Politie: reason (regel R-1)"
};

// Waits up to `wait_ms` in all for the answers to `ids` (under the desk's
// lock: the coordinator is not shared meanwhile). An answer to one request
// that arrives while waiting for another is stored by the client, so each
// id is first looked up in the store.
Tally AwaitAnswers(const Desk& desk, client::Coordinator& c, const std::vector<std::string>& ids, int wait_ms) {
  Tally t;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
  auto refusal = [&](const std::string& partner, const std::string& reason, const std::string& rules) {
    const bool named = rules.empty() || reason.find(rules) != std::string::npos;
    t.refusals.push_back(PartnerText(desk.policy(), partner) + ": " + reason + (named ? "" : " (regel " + rules + ")"));
  };
  for (const auto& id : ids) {
    auto info = c.store().GetRequest(id);
    if (!info.ok() || !info->has_value()) {
      ++t.failed;
      continue;
    }
    client::RequestState state = (*info)->state;
    if (state == client::RequestState::kPending) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() > 0) {
        auto o = c.AwaitOutcome(id, static_cast<int>(left.count()));
        if (o.ok() && o->kind == client::Outcome::Kind::kRefused) {
          std::vector<std::string> rules(o->refusal.rule_ids().begin(), o->refusal.rule_ids().end());
          ++t.refused;
          refusal((*info)->partner, o->refusal.reason(), Join(rules, ", "));
          continue;
        }
        if (o.ok()) {
          ++(o->kind == client::Outcome::Kind::kDelivered ? t.delivered : t.failed);
          continue;
        }
        // No answer in time (it comes later to the case page), or receiving failed.
      }
      auto again = c.store().GetRequest(id);
      if (again.ok() && again->has_value()) state = (**again).state;
      if (state == client::RequestState::kPending) {
        ++t.waiting;
        continue;
      }
      info = std::move(again);
    }
    if (state == client::RequestState::kDelivered) ++t.delivered;
    if (state == client::RequestState::kFailed) ++t.failed;
    if (state == client::RequestState::kRefused) {
      ++t.refused;
      refusal((*info)->partner, (*info)->refusal, "");
    }
  }
  return t;
}

std::string TallyText(size_t sent, const Tally& t) {
  std::string text = Count(sent, "verzoek", "verzoeken") + " verstuurd: " +
                     Count(t.delivered, "antwoord", "antwoorden") + " binnen, " + std::to_string(t.refused) +
                     " geweigerd";
  if (t.failed > 0) text += ", " + std::to_string(t.failed) + " mislukt";
  if (t.waiting > 0) text += ", rest wacht";
  text += ".";
  if (!t.refusals.empty()) text += " De gateway of partner weigerde: " + Join(t.refusals, "; ") + ".";
  if (t.waiting > 0) text += " Antwoorden die nog komen, ziet u op deze pagina verschijnen.";
  return text;
}

// A client error when sending, in the coordinator's words.
std::string SendErrorText(const Status& s) { return ClientProblemText(s).text; }

// The specs for "Vraag alle toegelaten partners": every admitted partner,
// with every category the policy permits now for this purpose and these subjects.
std::vector<client::RequestSpec> AllAllowed(const Desk& desk, const CaseContext& ctx, const AskForm& f,
                                            Problems& problems) {
  std::vector<client::RequestSpec> specs;
  auto options = cases::WhatMayBeAsked(desk.policy(), ctx.facts, desk.me(), ctx.me, f.purpose, f.refs,
                                       f.Declared(), desk.clock().NowMillis());
  if (!options.ok()) {
    problems["algemeen"] = options.status().code() == StatusCode::kInvalidArgument
                               ? "Dat kan zo niet worden gevraagd: " + options.status().message()
                               : BlockedText(desk, ctx, options.status());
    return specs;
  }
  for (const auto& o : *options) {
    if (o.explanation.state != AskState::kAllowed) continue;
    if (specs.empty() || specs.back().partner != o.partner) {
      specs.push_back({ctx.facts.case_id, o.partner, {}, f.purpose, f.refs, f.ToSend(), f.WeighingToSend()});
    }
    specs.back().categories.push_back(o.category);
  }
  if (specs.empty()) {
    problems["keuze"] = "Er is nu bij geen enkele toegelaten partner iets dat zonder meer mag worden opgevraagd "
                        "voor dit doel en deze betrokkenen.";
  }
  return specs;
}

void WipeSpecs(std::vector<client::RequestSpec>& specs) {
  for (auto& s : specs) {
    WipeString(s.justification);
    if (s.weighing.has_value()) client::WipeWeighing(&*s.weighing);
  }
}

// "Verstuur" (the explained requests) or "Vraag alle toegelaten partners".
void HandleSend(Desk& desk, Page& page) {
  const std::string id = page.PathPart(0);
  AskForm f = ReadForm(page);
  const bool all = page.Value("alle") == "1";
  auto ctx = LoadCase(desk, id);
  if (!ctx.ok()) {
    ShowAsk(desk, page, id, f, {}, 404);
    return;
  }
  Problems problems;
  CheckChoices(desk, *ctx, f, problems);
  if (!problems.empty()) {
    ShowAsk(desk, page, id, f, std::move(problems), 400);
    return;
  }
  std::vector<client::RequestSpec> specs;
  if (all) {
    specs = AllAllowed(desk, *ctx, f, problems);
  } else {
    auto groups = GroupPicked(desk, f.picked);
    if (!groups.ok()) {
      problems["keuze"] = groups.status().message();
    } else if (groups->empty()) {
      problems["keuze"] = "Kies in de tabel ten minste één partner en soort gegevens.";
    } else {
      (void)ExplainGroups(desk, *ctx, f, *groups, problems);  // a justification it needs, but blank
      for (const auto& g : *groups) {
        specs.push_back({id, g.partner, g.categories, f.purpose, f.refs, f.ToSend(), f.WeighingToSend()});
      }
    }
  }
  if (!problems.empty()) {
    WipeSpecs(specs);
    ShowAsk(desk, page, id, f, std::move(problems), 400);
    return;
  }
  const int wait_ms = desk.options().answer_wait_ms;
  auto result = desk.With([&](client::Coordinator& c) -> Result<Tally> {
    KP_ASSIGN_OR_RETURN(std::vector<std::string> ids, c.SendRequests(specs));
    std::vector<std::string> hex;
    for (const auto& r : ids) hex.push_back(HexEncode(r));
    spdlog::info("console: case {}: {} request(s) sent ({})", id, ids.size(), Join(hex, ", "));
    return AwaitAnswers(desk, c, ids, wait_ms);
  });
  WipeSpecs(specs);
  if (!result.ok()) {
    spdlog::warn("console: case {}: sending {} request(s) failed: {}", id, specs.size(), result.status().message());
    problems["algemeen"] = SendErrorText(result.status());
    const int status = result.status().code() == StatusCode::kUnavailable ||
                               result.status().code() == StatusCode::kDeadlineExceeded ||
                               result.status().code() == StatusCode::kFailedPrecondition
                           ? 503
                           : 409;
    ShowAsk(desk, page, id, f, std::move(problems), status);
    return;
  }
  desk.Changed();
  desk.Redirect(page, "/casus/" + id, TallyText(specs.size(), *result));
}

}  // namespace

void RegisterAskPages(Desk& desk) {
  desk.Get(R"(/casus/([A-Za-z0-9._-]+)/opvragen)", HandleShow);
  desk.Post(R"(/casus/([A-Za-z0-9._-]+)/opvragen/uitleg)", HandleExplain);
  desk.Post(R"(/casus/([A-Za-z0-9._-]+)/opvragen)", HandleSend);
}

}  // namespace kp::console
