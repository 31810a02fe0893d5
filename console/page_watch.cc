// Laten volgen (GET/POST /casus/ID/volgen) and the case page's Signalen
// section (page_watch.h). A watch is a request like any other: the gateway
// decides it by the policy and records it, so the form offers only the
// (partner, category) pairs the policy lets this coordinator ask now, for
// the purpose and subjects chosen — cases::WhatMayBeAsked, the same answer
// Informatie opvragen shows. A signal carries no content: the section links
// to Informatie opvragen with the partner, category and subject chosen.
#include "console/page_watch.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>

#include "case/request_options.h"
#include "console/assets.h"
#include "console/view.h"
#include "core/base/encoding.h"
#include "core/base/time_format.h"

namespace kp::console {
namespace {

namespace v1 = ketenpoort::v1;
using cases::AskOption;
using cases::AskState;

constexpr int64_t kMaxWatchDays = 365;   // the gateway's limit (protocol §3.8)
constexpr int64_t kDefaultDays = 30;
constexpr int kConfirmWaitMs = 3000;     // how long the page waits for the agents' confirmation

void Wipe(std::string& s) {
  std::fill(s.begin(), s.end(), '\0');
  s.clear();
}

// What the form carries.
struct WatchForm {
  std::string purpose;
  std::vector<std::string> refs;
  std::vector<std::string> picked;  // "partner/category"
  std::string until;                // as typed
};

WatchForm ReadForm(const Page& page) {
  WatchForm f;
  f.purpose = page.Value("doel");
  for (auto& r : page.Values("betrokkene")) {
    if (std::find(f.refs.begin(), f.refs.end(), r) == f.refs.end()) f.refs.push_back(std::move(r));
  }
  for (auto& p : page.Values("keuze")) {
    if (std::find(f.picked.begin(), f.picked.end(), p) == f.picked.end()) f.picked.push_back(std::move(p));
  }
  f.until = page.Value("tot");
  return f;
}

using Problems = std::map<std::string, std::string>;

struct SubjectRow {
  std::string ref, role, name;
};

// The case as the form needs it, read under the coordinator's lock.
struct WatchCase {
  client::CaseInfo info;
  cases::CaseFacts facts;  // folded with the policy (phase)
  RegistryEntry me;
  std::vector<SubjectRow> subjects;
  int64_t latest_end_ms = 0;  // the latest end the gateway takes now
  ~WatchCase() {
    for (auto& s : subjects) Wipe(s.name);
  }
};

Result<std::unique_ptr<WatchCase>> LoadWatchCase(Desk& desk, const std::string& id) {
  return desk.With([&](client::Coordinator& c) -> Result<std::unique_ptr<WatchCase>> {
    auto w = std::make_unique<WatchCase>();
    KP_ASSIGN_OR_RETURN(w->info, c.store().GetCase(id));
    KP_ASSIGN_OR_RETURN(w->facts, c.LocalFacts(id, &desk.policy()));
    KP_ASSIGN_OR_RETURN(const RegistryEntry* entry, c.registry().Find(desk.me()));
    w->me = *entry;
    auto kept = c.store().Subjects(id);
    for (const auto& s : w->facts.subjects) {
      SubjectRow row{s.ref, std::string(RoleText(s.role)), ""};
      if (kept.ok()) {
        for (const auto& k : *kept) {
          if (k.ref() == s.ref) row.name = k.name();
        }
      }
      w->subjects.push_back(std::move(row));
    }
    if (kept.ok()) {
      for (auto& k : *kept) client::WipeSubject(&k);
    }
    const int64_t now = desk.clock().NowMillis();
    int64_t latest = now + kMaxWatchDays * kDay;
    const int64_t coordination_ends =
        cases::CoordinationEndsAt(desk.policy(), cases::FoldContext::Of(&desk.policy(), c.registry()), w->facts, now);
    if (coordination_ends != 0) latest = std::min(latest, coordination_ends);
    if (w->facts.acute && w->facts.acute_handed_over_ms == 0 && w->facts.acute_until_ms != 0) {
      latest = std::min(latest, w->facts.acute_until_ms);
    }
    w->latest_end_ms = latest;
    return w;
  });
}

// The pairs the policy lets this coordinator ask now (no justification: a
// watch carries none), or why nothing may be asked.
Result<std::vector<AskOption>> Allowed(const Desk& desk, const WatchCase& w, const WatchForm& f) {
  KP_ASSIGN_OR_RETURN(auto options, cases::WhatMayBeAsked(desk.policy(), w.facts, desk.me(), w.me, f.purpose, f.refs,
                                                           false, desk.clock().NowMillis()));
  std::vector<AskOption> out;
  for (auto& o : options) {
    if (o.explanation.state == AskState::kAllowed) out.push_back(std::move(o));
  }
  return out;
}

// The purpose and subjects make sense for this case; messages where not.
void CheckChoices(const Desk& desk, const WatchCase& w, const WatchForm& f, Problems& problems) {
  const auto& purposes = desk.policy().purposes();
  if (std::none_of(purposes.begin(), purposes.end(), [&](const auto& p) { return p.id == f.purpose; })) {
    problems["doel"] = "Kies een doel uit de lijst.";
  }
  if (f.refs.empty()) {
    problems["betrokkenen"] = "Kies ten minste één betrokkene die de partner moet volgen.";
  }
  for (const auto& r : f.refs) {
    if (w.facts.Subject(r) == nullptr) problems["betrokkenen"] = "Deze casus heeft geen betrokkene " + r + ".";
  }
}

// The end date typed: the end of that day (UTC), after now and not after
// what the gateway takes.
Result<int64_t> CheckUntil(const std::string& typed, const WatchCase& w, int64_t now) {
  auto day = CheckDate(typed);
  if (!day.ok()) return day.status();
  auto end = ParseDateEndOfDayUtc(*day);
  if (!end.ok()) return InvalidArgumentError("Vul een geldige datum in (DD-MM-JJJJ).");
  if (*end <= now) return InvalidArgumentError("De einddatum moet in de toekomst liggen.");
  if (*end > w.latest_end_ms + kDay) {
    return InvalidArgumentError("Laten volgen kan tot uiterlijk " + DateText(w.latest_end_ms) +
                                " (ten hoogste een jaar, en niet na het einde van de regie of het acute venster).");
  }
  return std::min(*end, w.latest_end_ms);
}

void ShowForm(Desk& desk, Page& page, const std::string& id, const WatchForm& f, Problems problems, int status) {
  auto loaded = LoadWatchCase(desk, id);
  if (!loaded.ok()) {
    desk.ShowMessage(page, loaded.status().code() == StatusCode::kNotFound ? 404 : 500, "Laten volgen",
                     "Casus " + id + " staat niet (leesbaar) op deze computer: " + loaded.status().message());
    return;
  }
  const WatchCase& w = **loaded;
  const auto& p = desk.policy();
  const int64_t now = desk.clock().NowMillis();
  mu::data d;
  d.set("id", id);
  d.set("fase", PhaseText(p, w.facts.phase));
  mu::data purposes = mu::data::type::list;
  auto add_purpose = [&](const std::string& pid, bool of_case) {
    mu::data x;
    x.set("waarde", pid);
    x.set("tekst", PurposeText(p, pid) + (of_case ? " (doel van de casus)" : ""));
    x.set("gekozen", mu::data(pid == f.purpose));
    purposes.push_back(x);
  };
  add_purpose(w.facts.purpose, true);
  for (const auto& purpose : p.purposes()) {
    if (purpose.id != w.facts.purpose) add_purpose(purpose.id, false);
  }
  d.set("doelen", purposes);
  mu::data subjects = mu::data::type::list, carried = mu::data::type::list;
  for (const auto& s : w.subjects) {
    mu::data row;
    row.set("ref", s.ref);
    row.set("rol", s.role);
    if (!s.name.empty()) row.set("naam", s.name);
    const bool chosen = std::find(f.refs.begin(), f.refs.end(), s.ref) != f.refs.end();
    row.set("aangevinkt", mu::data(chosen));
    subjects.push_back(row);
    if (chosen) {
      mu::data c;
      c.set("ref", s.ref);
      carried.push_back(c);
    }
  }
  d.set("betrokkenen", subjects);
  d.set("gekozen_betrokkenen", carried);
  d.set("doel", f.purpose);
  d.set("tot", f.until.empty() ? FormatUtcDate(std::min(now + kDefaultDays * kDay, w.latest_end_ms)) : f.until);
  d.set("uiterlijk", DateText(w.latest_end_ms));

  Problems checked;
  CheckChoices(desk, w, f, checked);
  if (checked.empty()) {
    auto allowed = Allowed(desk, w, f);
    if (!allowed.ok()) {
      d.set("geblokkeerd", "U kunt in deze casus nu niemand laten volgen. Reden: " + allowed.status().message());
    } else {
      mu::data rows = mu::data::type::list;
      for (const auto& o : *allowed) {
        mu::data row;
        const std::string value = o.partner + "/" + o.category;
        row.set("waarde", value);
        row.set("partner", PartnerText(p, o.partner));
        row.set("categorie", CategoryText(p, o.category));
        row.set("gekozen", mu::data(std::find(f.picked.begin(), f.picked.end(), value) != f.picked.end()));
        std::string rules;
        for (const auto& r : o.explanation.rules) rules += (rules.empty() ? "" : ", ") + r.id;
        if (!rules.empty()) row.set("regels", rules);
        rows.push_back(row);
      }
      d.set("mogelijk", rows);
      d.set("heeft_mogelijk", mu::data(!rows.is_empty_list()));
      d.set("tabel", mu::data(true));
      desk.AddFormFields(page, d);
    }
  }
  for (const auto& [field, text] : checked) problems.emplace(field, text);
  for (const auto& [field, text] : problems) d.set("fout_" + field, text);
  page.res.status = status;
  desk.Show(page, "Laten volgen", "watch.mustache", d);
}

void HandleShow(Desk& desk, Page& page) {
  const std::string id = page.PathPart(0);
  WatchForm f = ReadForm(page);
  if (page.Value("getoond") != "1") {
    // The first visit: the case's purpose and every subject.
    auto w = LoadWatchCase(desk, id);
    if (w.ok()) {
      f.purpose = (*w)->facts.purpose;
      for (const auto& s : (*w)->facts.subjects) f.refs.push_back(s.ref);
    }
  }
  ShowForm(desk, page, id, f, {}, 200);
}

void HandleSend(Desk& desk, Page& page) {
  const std::string id = page.PathPart(0);
  const WatchForm f = ReadForm(page);
  auto loaded = LoadWatchCase(desk, id);
  if (!loaded.ok()) {
    desk.ShowMessage(page, loaded.status().code() == StatusCode::kNotFound ? 404 : 500, "Laten volgen",
                     "Casus " + id + " staat niet (leesbaar) op deze computer: " + loaded.status().message());
    return;
  }
  const WatchCase& w = **loaded;
  const int64_t now = desk.clock().NowMillis();
  Problems problems;
  CheckChoices(desk, w, f, problems);
  auto until = CheckUntil(f.until, w, now);
  if (!until.ok()) problems["tot"] = until.status().message();
  // Only what the policy lets this coordinator ask now, grouped by partner.
  std::vector<std::pair<std::string, std::vector<std::string>>> groups;
  if (problems.empty()) {
    auto allowed = Allowed(desk, w, f);
    if (!allowed.ok()) {
      problems["algemeen"] = "U kunt in deze casus nu niemand laten volgen: " + allowed.status().message();
    } else if (f.picked.empty()) {
      problems["keuze"] = "Kies welke partner welke gegevens volgt.";
    } else {
      for (const auto& picked : f.picked) {
        auto it = std::find_if(allowed->begin(), allowed->end(),
                               [&](const AskOption& o) { return o.partner + "/" + o.category == picked; });
        if (it == allowed->end()) {
          problems["keuze"] = "Dat mag u nu niet laten volgen; kies uit de lijst.";
          break;
        }
        auto g = std::find_if(groups.begin(), groups.end(), [&](const auto& x) { return x.first == it->partner; });
        if (g == groups.end()) {
          groups.emplace_back(it->partner, std::vector<std::string>{it->category});
        } else {
          g->second.push_back(it->category);
        }
      }
    }
  }
  if (!problems.empty()) {
    if (problems.count("algemeen") == 0) problems["algemeen"] = "Er is niets verstuurd: kijk bij de rode meldingen.";
    ShowForm(desk, page, id, f, problems, 400);
    return;
  }
  const auto& p = desk.policy();
  std::vector<std::string> kept, refused, waiting;
  Status failed;
  desk.With([&](client::Coordinator& c) -> void {
    std::vector<std::pair<std::string, std::string>> sent;  // (watch id, partner)
    for (const auto& [partner, categories] : groups) {
      client::RequestSpec spec{id, partner, categories, f.purpose, f.refs, "", {}};
      spec.watch_until_ms = *until;
      auto watch = c.Watch(spec);
      if (!watch.ok()) {
        failed = watch.status();
        break;
      }
      sent.emplace_back(*watch, partner);
    }
    const int64_t deadline = desk.clock().NowMillis() + kConfirmWaitMs;
    for (const auto& [watch_id, partner] : sent) {
      const int wait = static_cast<int>(std::max<int64_t>(1, deadline - desk.clock().NowMillis()));
      auto o = c.AwaitOutcome(watch_id, wait);
      const std::string who = PartnerText(p, partner);
      if (o.ok() && o->kind == client::Outcome::Kind::kDelivered) {
        kept.push_back(who);
      } else if (o.ok() && o->kind == client::Outcome::Kind::kRefused) {
        refused.push_back(who + " (" + o->refusal.reason() + ")");
      } else {
        waiting.push_back(who);
      }
    }
  });
  if (!failed.ok() && kept.empty() && refused.empty() && waiting.empty()) {
    const ClientProblem problem = ClientProblemText(failed);
    Problems shown{{"algemeen", "Niet verstuurd: " + problem.text}};
    ShowForm(desk, page, id, f, shown, problem.http_status);
    return;
  }
  auto join = [](const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
    return out;
  };
  std::string flash;
  if (!kept.empty()) flash += join(kept) + " volgt nu tot " + DateText(*until) + ". ";
  if (!refused.empty()) flash += "Geweigerd: " + join(refused) + ". ";
  if (!waiting.empty()) flash += "Verstuurd, de bevestiging volgt: " + join(waiting) + ". ";
  if (!failed.ok()) flash += "Niet alles verstuurd: " + ClientProblemText(failed).text;
  desk.Redirect(page, "/casus/" + id + "#signalen", flash);
}

std::string StateText(const client::WatchInfo& w) {
  switch (w.state) {
    case client::WatchState::kWaiting: return "wacht op bevestiging";
    case client::WatchState::kActive: return "volgt";
    case client::WatchState::kRefused: return "geweigerd";
    case client::WatchState::kEnded: break;
  }
  if (w.reason == "einddatum") return "beëindigd (einddatum)";
  if (w.reason == "casus-gesloten") return "beëindigd (casus gesloten)";
  if (w.reason == "partner-verwijderd") return "beëindigd (partner uit de casus)";
  if (w.reason == "door-bron-beeindigd") return "beëindigd door de partner";
  return "beëindigd";
}

std::string StateClass(const client::WatchInfo& w) {
  switch (w.state) {
    case client::WatchState::kActive: return "groen";
    case client::WatchState::kWaiting: return "let-op";
    case client::WatchState::kRefused: return "rood";
    case client::WatchState::kEnded: return "";
  }
  return "";
}

}  // namespace

std::string SignalsSection(Desk& desk, const std::string& case_id, const std::string& case_purpose, bool may_watch) {
  const auto& p = desk.policy();
  const int64_t now = desk.clock().NowMillis();
  struct Read {
    std::vector<client::WatchInfo> watches;
    std::vector<client::SignalInfo> signals;
    int64_t seen_ms = 0;
    std::map<std::string, std::string> subject_text;  // ref -> "Anna (slachtoffer)"
  };
  auto read = desk.With([&](client::Coordinator& c) -> Result<Read> {
    Read r;
    KP_ASSIGN_OR_RETURN(r.watches, c.store().Watches(case_id, now));
    KP_ASSIGN_OR_RETURN(r.signals, c.store().Signals(case_id, 200));
    KP_ASSIGN_OR_RETURN(r.seen_ms, c.store().CaseSeenMs(case_id));
    auto kept = c.store().Subjects(case_id);
    if (kept.ok()) {
      for (auto& s : *kept) {
        r.subject_text[s.ref()] = (s.name().empty() ? s.ref() : s.name()) + " (" + std::string(RoleText(s.role())) + ")";
        client::WipeSubject(&s);
      }
    }
    return r;
  });
  mu::data d;
  d.set("id", case_id);
  if (!read.ok()) {
    spdlog::warn("console: the signals of case {} could not be read (code {})", case_id,
                 static_cast<int>(read.status().code()));
    d.set("probleem", "De signalen konden op deze computer niet worden gelezen: " + read.status().message());
  } else {
    auto subject = [&](const std::string& ref) {
      auto it = read->subject_text.find(ref);
      return it == read->subject_text.end() ? ref : it->second;
    };
    mu::data signals = mu::data::type::list;
    for (const auto& s : read->signals) {
      mu::data row;
      row.set("partner", PartnerText(p, s.partner));
      row.set("categorie", CategoryText(p, s.category));
      row.set("betrokkene", subject(s.subject_ref));
      row.set("wanneer", DateTimeText(s.changed_at_ms));
      row.set("ontvangen", DateTimeText(s.received_ms));
      row.set("nieuw", mu::data(s.received_ms > read->seen_ms));
      row.set("opvragen", "/casus/" + case_id + "/opvragen?getoond=1&doel=" + case_purpose +
                              "&betrokkene=" + s.subject_ref + "&keuze=" + s.partner + "/" + s.category);
      row.set("mag_opvragen", mu::data(may_watch));
      signals.push_back(row);
    }
    d.set("signalen", signals);
    d.set("heeft_signalen", mu::data(!read->signals.empty()));
    mu::data watches = mu::data::type::list;
    for (const auto& w : read->watches) {
      mu::data row;
      row.set("partner", PartnerText(p, w.partner));
      std::string cats, subjects;
      for (const auto& c : w.categories) cats += (cats.empty() ? "" : ", ") + CategoryText(p, c);
      for (const auto& r : w.subject_refs) subjects += (subjects.empty() ? "" : ", ") + subject(r);
      row.set("categorieen", cats);
      row.set("betrokkenen", subjects);
      row.set("tot", DateText(w.until_ms));
      row.set("status", StateText(w));
      row.set("klasse", StateClass(w));
      if (w.state == client::WatchState::kRefused && !w.reason.empty()) row.set("reden", w.reason);
      watches.push_back(row);
    }
    d.set("volgen", watches);
    d.set("heeft_volgen", mu::data(!read->watches.empty()));
  }
  d.set("mag_volgen", mu::data(may_watch));
  auto it = Assets().find("signals.mustache");
  if (it == Assets().end()) return "";
  mu::mustache tmpl{std::string(it->second)};
  return tmpl.render(d);
}

void RegisterWatchPages(Desk& desk) {
  desk.Get(R"(/casus/([A-Za-z0-9._-]+)/volgen)", HandleShow);
  desk.Post(R"(/casus/([A-Za-z0-9._-]+)/volgen)", HandleSend);
}

}  // namespace kp::console
