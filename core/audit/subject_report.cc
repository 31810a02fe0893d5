#include "core/audit/subject_report.h"

#include <time.h>

#include <algorithm>
#include <map>
#include <thread>
#include <unordered_map>

#include "core/audit/log_reader.h"
#include "core/audit/record_text.h"
#include "core/audit/report.h"

namespace kp::audit {
namespace {

namespace v1 = ketenpoort::v1;
using v1::AuditRecord;

std::string JoinIds(const std::vector<std::string>& ids) {
  std::string out;
  for (const auto& id : ids) out += (out.empty() ? "" : ", ") + id;
  return out;
}

// What the draft may show of a record: no subjects (refs, pseudonyms), no
// free text (a reason may name another subject), no people's ids.
void Sanitize(AuditRecord* r) {
  r->clear_subjects();
  r->clear_reason();
  r->clear_actor();
  r->clear_payload();
  r->clear_referral();
  r->clear_handover();
  r->clear_erasure();
  if (r->has_decision()) r->mutable_decision()->clear_reason();
}

// Handover data is one when its record names the partner it went to.
bool IsDisclosure(const AuditRecord& r) {
  return r.event() == v1::AUDIT_EVENT_DELIVERED || r.event() == v1::AUDIT_EVENT_PUSH_RECEIVED ||
         r.event() == v1::AUDIT_EVENT_RECEIVED ||
         (r.event() == v1::AUDIT_EVENT_HANDOVER_DATA && !r.recipient_partner().empty());
}

bool IsRefusal(const AuditRecord& r) {
  return r.event() == v1::AUDIT_EVENT_REFUSED || r.event() == v1::AUDIT_EVENT_SOURCE_DECLINED ||
         (r.has_decision() && r.decision().verdict() == v1::AUDIT_VERDICT_DENY);
}

// Fills what a later record of an exchange lacks from the earlier one that
// had it (a delivery logged before deliveries carried purpose and basis).
void FillFrom(const AuditRecord& from, AuditRecord* r) {
  if (r->purpose().empty()) r->set_purpose(from.purpose());
  if (r->legal_basis().empty()) r->set_legal_basis(from.legal_basis());
  if (r->phase().empty()) r->set_phase(from.phase());
  if (r->categories().empty()) *r->mutable_categories() = from.categories();
  if (!r->has_decision() && from.has_decision()) *r->mutable_decision() = from.decision();
  if (r->source_partner().empty()) r->set_source_partner(from.source_partner());
  if (r->recipient_partner().empty()) r->set_recipient_partner(from.recipient_partner());
}

Status ScanLog(const std::string& dir, const SubjectQuery& query, size_t log_index, SubjectFindings* out) {
  KP_ASSIGN_OR_RETURN(std::unique_ptr<LogReader> reader, LogReader::Open(dir));
  // Per exchange (message id): the hit that gave purpose and basis, and the
  // one that gave the decision.
  std::unordered_map<std::string, size_t> first_of;
  std::unordered_map<std::string, size_t> decision_of;
  std::string key;
  Status s = reader->ForEachEntry([&](const LogEntry& e) -> Status {
    if (e.erased) return OkStatus();
    const AuditRecord& r = e.record;
    bool about = false;
    for (const auto& subject : r.subjects()) {
      for (const auto& p : subject.pseudonyms()) {
        key.clear();
        AppendPseudonymLookupKey(p, &key);
        if (query.lookup_keys.count(key) != 0) {
          about = true;
        } else if (std::find(query.key_ids.begin(), query.key_ids.end(), p.key_id()) == query.key_ids.end()) {
          if (out->other_key_ids.size() < 16) out->other_key_ids.insert(p.key_id());
        }
      }
    }
    bool via = false;
    if (!about && r.subjects().empty() && !r.message_id().empty()) {
      via = first_of.count(r.message_id()) != 0 || decision_of.count(r.message_id()) != 0;
    }
    if (!about && !via) return OkStatus();
    SubjectHit hit;
    hit.log = log_index;
    hit.via_exchange = via;
    hit.record = r;
    Sanitize(&hit.record);
    const size_t at = out->hits.size();
    if (!r.message_id().empty()) {
      auto first = first_of.find(r.message_id());
      if (first != first_of.end()) {
        FillFrom(out->hits[first->second].record, &hit.record);
      } else if (!r.purpose().empty() || about) {
        first_of.emplace(r.message_id(), at);
      }
      auto dec = decision_of.find(r.message_id());
      if (dec != decision_of.end() && !hit.record.has_decision()) {
        *hit.record.mutable_decision() = out->hits[dec->second].record.decision();
      } else if (dec == decision_of.end() && r.has_decision()) {
        decision_of.emplace(r.message_id(), at);
      }
    }
    out->hits.push_back(std::move(hit));
    return OkStatus();
  });
  if (!s.ok()) return Status(s.code(), "audit log " + dir + " could not be read: " + s.message());
  return OkStatus();
}

// "30-11-2026 14:03 UTC".
std::string DutchTime(int64_t ms) {
  time_t t = static_cast<time_t>(ms / 1000);
  struct tm tm {};
  gmtime_r(&t, &tm);
  char buf[32];
  strftime(buf, sizeof(buf), "%d-%m-%Y %H:%M", &tm);
  return std::string(buf) + " UTC";
}

std::string DutchDate(int64_t ms) {
  time_t t = static_cast<time_t>(ms / 1000);
  struct tm tm {};
  gmtime_r(&t, &tm);
  char buf[16];
  strftime(buf, sizeof(buf), "%d-%m-%Y", &tm);
  return buf;
}

std::string DutchEvent(const AuditRecord& r) {
  switch (r.event()) {
    case v1::AUDIT_EVENT_CASE_OPENED:
      return "Casus geopend";
    case v1::AUDIT_EVENT_ACUTE_OPENED:
      return "Acute casus geopend";
    case v1::AUDIT_EVENT_REFERRAL_RECEIVED:
      return "Aanmelding ontvangen";
    case v1::AUDIT_EVENT_REFERRAL_ACCEPTED:
      return "Aanmelding aangenomen";
    case v1::AUDIT_EVENT_REFERRAL_DECLINED:
      return "Aanmelding afgewezen";
    case v1::AUDIT_EVENT_REFERRAL_EXPIRED:
      return "Aanmelding verlopen";
    case v1::AUDIT_EVENT_HANDOVER_ACCEPTED:
      return "Casus overgedragen aan een andere regisseur";
    case v1::AUDIT_EVENT_CASE_CLOSED:
      return "Casus gesloten";
    case v1::AUDIT_EVENT_SUBJECT_ADDED:
      return "Toegevoegd aan de casus";
    case v1::AUDIT_EVENT_CONSENT_RECORDED:
    case v1::AUDIT_EVENT_SOURCE_CONSENT_RECORDED:
      return "Toestemming vastgelegd";
    case v1::AUDIT_EVENT_CONSENT_WITHDRAWN:
    case v1::AUDIT_EVENT_SOURCE_CONSENT_WITHDRAWN:
      return "Toestemming ingetrokken";
    case v1::AUDIT_EVENT_REQUEST:
      return "Verzoek om informatie";
    case v1::AUDIT_EVENT_DECISION:
      return r.decision().verdict() == v1::AUDIT_VERDICT_DENY ? "Getoetst aan het convenant: geweigerd"
                                                                 : "Getoetst aan het convenant: toegestaan";
    case v1::AUDIT_EVENT_FORWARDED:
      return "Verzoek doorgestuurd naar de bron";
    case v1::AUDIT_EVENT_DELIVERED:
      return "Informatie verstrekt";
    case v1::AUDIT_EVENT_RECEIPT:
      return "Ontvangstbevestiging aan de bron";
    case v1::AUDIT_EVENT_REFUSED:
      return "Geweigerd";
    case v1::AUDIT_EVENT_EXPIRED:
      return "Verlopen zonder verstrekking";
    case v1::AUDIT_EVENT_HANDOVER_DATA:
      return "Overgedragen aan de nieuwe regisseur";
    case v1::AUDIT_EVENT_HANDOVER_DATA_WITHHELD:
      return "Niet overgedragen (niet toegestaan)";
    case v1::AUDIT_EVENT_WATCH_STARTED:
      return "Volgen gestart bij de bron";
    case v1::AUDIT_EVENT_SIGNAL:
      return "Signaal van de bron (zonder inhoud)";
    case v1::AUDIT_EVENT_WATCH_ENDED:
      return "Volgen beëindigd";
    case v1::AUDIT_EVENT_PUSH_FORWARDED:
      return "Informatie verzonden aan een partner";
    case v1::AUDIT_EVENT_PUSH_RECEIVED:
      return "Informatie ontvangen door de partner";
    case v1::AUDIT_EVENT_RECEIVED:
      return "Informatie ontvangen door de partner";
    case v1::AUDIT_EVENT_APPROVAL_PENDING:
      return "Wacht op goedkeuring van de bron";
    case v1::AUDIT_EVENT_SOURCE_APPROVED:
      return "Goedgekeurd door de bron";
    case v1::AUDIT_EVENT_SOURCE_DECLINED:
      return "Afgewezen door de bron";
    case v1::AUDIT_EVENT_APPROVAL_EXPIRED:
      return "Goedkeuring verlopen";
    case v1::AUDIT_EVENT_PRIVACY_OFFICER_NOTIFIED:
      return "Functionaris gegevensbescherming geïnformeerd";
    case v1::AUDIT_EVENT_FRAGMENT_SHOWN:
      return "Ingezien door een professional";
    default:
      return EventName(r.event());
  }
}

// A log's origin as the draft names it: a coordinator's read log is named
// after its partner, not the professional whose log it is
// ("ketenpoort.P/read-log/ID" -> "ketenpoort.P/read-log").
std::string PublicOrigin(const std::string& origin) {
  const size_t at = origin.find("/read-log/");
  return at == std::string::npos ? origin : origin.substr(0, at + std::string_view("/read-log").size());
}

std::string CategoryCell(const v1::AuditCategory& c) {
  std::string out = HtmlEscape(c.name());
  if (c.data_class() == v1::DATA_CLASS_SPECIAL_ART9) out += " <span class=\"b art9\">bijzonder, art. 9</span>";
  if (c.data_class() == v1::DATA_CLASS_CRIMINAL_ART10) out += " <span class=\"b art10\">strafrechtelijk, art. 10</span>";
  if (c.regime() == v1::DATA_REGIME_POLICE_JUSTICE) out += " <span class=\"b wpg\">Wpg/Wjsg</span>";
  return out;
}

std::string Categories(const AuditRecord& r) {
  std::string out;
  for (const auto& c : r.categories()) out += (out.empty() ? "" : "<br>") + CategoryCell(c);
  return out;
}

std::string Retention(const AuditRecord& r) {
  const auto& o = r.decision().obligations();
  if (o.retention_days() > 0) {
    return std::to_string(o.retention_days()) +
           (o.retention_from_closure() ? " dagen na het sluiten van de casus" : " dagen na verstrekking");
  }
  if (r.retention_until_unix_millis() > 0) return "tot " + DutchDate(r.retention_until_unix_millis());
  return "";
}

// Joins a set as "a, b en c".
std::string DutchList(const std::set<std::string>& items) {
  std::string out;
  size_t i = 0;
  for (const auto& s : items) {
    if (i > 0) out += i + 1 == items.size() ? " en " : ", ";
    out += HtmlEscape(s);
    ++i;
  }
  return out;
}

constexpr char kStyle[] = R"(
body{font-family:system-ui,sans-serif;margin:2em auto;color:#222;max-width:1100px;padding:0 1em;line-height:1.45}
h1{font-size:1.5em}h2{font-size:1.15em;border-bottom:2px solid #ccc;padding-bottom:.2em;margin-top:1.8em}
.concept{background:#fef7e0;border:2px solid #e37400;padding:.7em 1em;font-weight:bold}
.verantwoording{background:#e6f4ea;border:1px solid #34a853;padding:.6em 1em;font-size:.9em}
table{border-collapse:collapse;width:100%;margin:.5em 0 1.2em}th,td{border:1px solid #ccc;padding:.3em .5em;text-align:left;vertical-align:top;font-size:.88em}
th{background:#f0f0f0}td.pad{overflow-wrap:anywhere}tr.geweigerd td{background:#fce8e6}tr.verstrekt td:nth-child(2){font-weight:bold}
.b{display:inline-block;border-radius:3px;padding:0 .3em;font-size:.8em;color:#fff;background:#5f6368;white-space:nowrap}
.art9{background:#a142f4}.art10{background:#d93025}.wpg{background:#1a73e8}.invullen{background:#fff3b0}
td.when,td.case{white-space:nowrap;overflow-wrap:normal}
table.records th,table.records td{font-size:.78em;padding:.25em .3em}.klein{font-size:.85em;color:#5f6368}
)";

}  // namespace

void AppendPseudonymLookupKey(const v1::SubjectPseudonym& p, std::string* out) {
  out->append(p.key_id());
  out->push_back('\0');
  out->push_back(static_cast<char>(p.basis()));
  out->append(p.value());
}

Result<SubjectFindings> FindSubjectRecords(const std::vector<SubjectLog>& logs, const SubjectQuery& query) {
  if (logs.empty()) return InvalidArgumentError("no audit log folder given");
  if (query.lookup_keys.empty()) return InvalidArgumentError("no pseudonym to look for");
  SubjectFindings out;
  uint64_t total = 0;
  for (size_t i = 0; i < logs.size(); ++i) {
    const SubjectLog& log = logs[i];
    // Verification and the scan read the folder at the same time (two
    // cores: the lookup takes as long as the longer of the two); nothing is
    // kept from a log that does not verify, and only records it verified.
    out.logs.push_back({.dir = log.dir});
    VerifyReport rep;
    std::thread verifier([&rep, &log] { rep = VerifyLog(log.dir, log.verify); });
    const size_t first_hit = out.hits.size();
    Status scanned = ScanLog(log.dir, query, i, &out);
    verifier.join();
    if (!rep.status.ok()) {
      std::string where =
          rep.first_bad_index.has_value() ? " (first bad index " + std::to_string(*rep.first_bad_index) + ")" : "";
      return Status(rep.status.code(), "audit log " + log.dir + " does not verify: " + rep.status.message() + where +
                                           "; nothing was listed (get a sound copy of this log, or leave it out)");
    }
    KP_RETURN_IF_ERROR(scanned);
    // Records appended after the verifier's pass (a live folder) are not listed.
    auto unverified = std::find_if(out.hits.begin() + static_cast<std::ptrdiff_t>(first_hit), out.hits.end(),
                                   [&](const SubjectHit& h) { return h.record.index() >= rep.records; });
    out.hits.erase(unverified, out.hits.end());
    SubjectLogSummary& sum = out.logs[i];
    sum.origin = rep.origin;
    sum.key_from_folder = rep.key_from_folder;
    sum.records = rep.records;
    sum.tombstones = rep.tombstones;
    sum.checkpoints = rep.checkpoints;
    sum.latest_checkpoint_size = rep.latest.has_value() ? rep.latest->size : 0;
    sum.warnings = rep.warnings;
    sum.matched = out.hits.size() - first_hit;
    total += rep.records;
  }
  if (out.hits.empty()) {
    std::string msg = "no record under key(s) " + JoinIds(query.key_ids) + " for this person in " +
                      std::to_string(logs.size()) + " log(s) (" + std::to_string(total) +
                      " records); is this the right key? A wrong key cannot be told apart from a person without "
                      "records";
    if (!out.other_key_ids.empty()) {
      msg += "; the logs also hold pseudonyms under key(s) " +
             JoinIds(std::vector<std::string>(out.other_key_ids.begin(), out.other_key_ids.end())) +
             " that were not given";
    }
    return NotFoundError(msg + ". No file was written");
  }
  return out;
}

std::string RenderSubjectAnswer(const SubjectFindings& f, const SubjectAnswerOptions& options) {
  // Disclosures once per exchange, however many logs hold them.
  struct Disclosure {
    const AuditRecord* r;
  };
  std::vector<Disclosure> disclosures;
  std::set<std::string> seen_disclosures;
  std::set<std::string> refused_exchanges;
  for (size_t i = 0; i < f.hits.size(); ++i) {
    const AuditRecord& r = f.hits[i].record;
    std::string id = r.message_id().empty() ? "#" + std::to_string(f.hits[i].log) + ":" + std::to_string(r.index())
                                            : r.message_id() + "|" + r.recipient_partner();
    if (IsDisclosure(r) && seen_disclosures.insert(id).second) disclosures.push_back({&r});
    if (IsRefusal(r)) refused_exchanges.insert(id);
  }

  struct Purpose {
    std::set<std::string> partners;
    size_t disclosed = 0;
  };
  std::map<std::pair<std::string, std::string>, Purpose> purposes;
  for (const SubjectHit& h : f.hits) {
    const AuditRecord& r = h.record;
    if (r.purpose().empty() && r.legal_basis().empty()) continue;
    Purpose& p = purposes[{r.purpose(), r.legal_basis()}];
    if (!r.source_partner().empty()) p.partners.insert(r.source_partner());
    if (!r.recipient_partner().empty()) p.partners.insert(r.recipient_partner());
  }
  struct Category {
    const v1::AuditCategory* c;
    std::set<std::string> sources, recipients;
  };
  std::map<std::string, Category> categories;
  struct Party {
    std::set<std::string> categories;
    size_t count = 0;
    int64_t first = 0, last = 0;
  };
  std::map<std::string, Party> recipients, sources;
  std::map<std::tuple<std::string, std::string, std::string>, size_t> retention;  // recipient, categories, term
  for (const Disclosure& d : disclosures) {
    const AuditRecord& r = *d.r;
    if (!r.purpose().empty() || !r.legal_basis().empty()) ++purposes[{r.purpose(), r.legal_basis()}].disclosed;
    std::set<std::string> names;
    for (const auto& c : r.categories()) {
      auto [it, inserted] = categories.try_emplace(c.name(), Category{&c, {}, {}});
      it->second.sources.insert(r.source_partner());
      it->second.recipients.insert(r.recipient_partner());
      names.insert(c.name());
    }
    for (auto* party : {&recipients[r.recipient_partner()], &sources[r.source_partner()]}) {
      party->categories.insert(names.begin(), names.end());
      ++party->count;
      if (party->first == 0 || r.time_unix_millis() < party->first) party->first = r.time_unix_millis();
      party->last = std::max(party->last, r.time_unix_millis());
    }
    std::string cats;
    for (const auto& n : names) cats += (cats.empty() ? "" : ", ") + n;
    ++retention[{r.recipient_partner(), cats, Retention(r)}];
  }

  // A purpose without a basis (the case's own, from case opened) is left
  // out where the same purpose appears with its basis.
  for (auto it = purposes.begin(); it != purposes.end();) {
    const bool bare = it->first.second.empty() && it->second.disclosed == 0;
    bool covered = false;
    for (const auto& [key, p] : purposes) covered |= key.first == it->first.first && !key.second.empty();
    it = bare && covered ? purposes.erase(it) : std::next(it);
  }
  const std::string controller = options.controller.empty()
                                     ? "<span class=\"invullen\">[naam verwerkingsverantwoordelijke]</span>"
                                     : HtmlEscape(options.controller);
  std::string h =
      "<!DOCTYPE html><html lang=\"nl\"><head><meta charset=\"utf-8\"><title>Concept-antwoord inzageverzoek "
      "(art. 15 AVG)</title><style>" +
      std::string(kStyle) + "</style></head><body>";
  h += "<p class=\"concept\">CONCEPT — door de functionaris gegevensbescherming te controleren en aan te vullen "
       "voordat het wordt verzonden.</p>";
  h += "<h1>Antwoord op het verzoek om inzage (artikel 15 AVG)</h1>";
  h += "<p>Verwerkingsverantwoordelijke: " + controller + "<br>Datum verzoek: <span class=\"invullen\">[datum]"
       "</span><br>Opgesteld: " + HtmlEscape(DutchTime(options.generated_at_millis)) + "</p>";
  h += "<p>De persoon heeft gevraagd of en welke persoonsgegevens over de persoon worden verwerkt in de "
       "gegevensuitwisseling van het Veiligheidshuis (Ketenpoort). Dit antwoord noemt alleen gegevens over de "
       "persoon zelf. Het burgerservicenummer, de naam en gegevens over andere personen staan er niet in.</p>";
  h += "<p>Er zijn <strong>" + std::to_string(f.hits.size()) + "</strong> vastleggingen over de persoon gevonden, "
       "waarvan <strong>" + std::to_string(disclosures.size()) + "</strong> verstrekkingen van informatie" +
       (refused_exchanges.empty() ? "" : " en <strong>" + std::to_string(refused_exchanges.size()) +
                                             "</strong> geweigerde verzoeken of verstrekkingen (daarbij is niets "
                                             "verstrekt)") + ".</p>";

  h += "<h2>a. Doeleinden en grondslag van de verwerking</h2>";
  if (purposes.empty()) {
    h += "<p>In de vastleggingen staat geen doel of grondslag.</p>";
  } else {
    h += "<table><tr><th>Doel</th><th>Grondslag</th><th>Betrokken organisaties</th><th>Verstrekkingen</th></tr>";
    for (const auto& [key, p] : purposes) {
      h += "<tr><td>" + HtmlEscape(key.first) + "</td><td>" + HtmlEscape(key.second) + "</td><td>" +
           DutchList(p.partners) + "</td><td>" + std::to_string(p.disclosed) + "</td></tr>";
    }
    h += "</table>";
  }

  h += "<h2>b. Categorieën van persoonsgegevens</h2>";
  if (categories.empty()) {
    h += "<p>Er is geen informatie over de persoon verstrekt.</p>";
  } else {
    h += "<table><tr><th>Categorie</th><th>Verstrekt door</th><th>Aan</th></tr>";
    for (const auto& [name, c] : categories) {
      h += "<tr><td>" + CategoryCell(*c.c) + "</td><td>" + DutchList(c.sources) + "</td><td>" +
           DutchList(c.recipients) + "</td></tr>";
    }
    h += "</table><p class=\"klein\">Art. 9: bijzondere persoonsgegevens (bijvoorbeeld gezondheid). Art. 10: "
         "strafrechtelijke gegevens. Wpg/Wjsg: politie- of justitiegegevens; voor dat deel gelden de Wet "
         "politiegegevens en de Wet justitiële en strafvorderlijke gegevens, en beslist de politie of het "
         "Openbaar Ministerie over inzage.</p>";
  }

  h += "<h2>c. Ontvangers</h2>";
  if (recipients.empty()) {
    h += "<p>Er zijn geen gegevens over de persoon aan anderen verstrekt.</p>";
  } else {
    h += "<table><tr><th>Ontvanger</th><th>Categorieën</th><th>Aantal</th><th>Periode</th></tr>";
    for (const auto& [name, p] : recipients) {
      h += "<tr><td>" + HtmlEscape(name) + "</td><td>" + DutchList(p.categories) + "</td><td>" +
           std::to_string(p.count) + "</td><td class=\"when\">" + HtmlEscape(DutchDate(p.first)) +
           (DutchDate(p.first) == DutchDate(p.last) ? "" : " – " + HtmlEscape(DutchDate(p.last))) + "</td></tr>";
    }
    h += "</table>";
  }

  h += "<h2>d. Bewaartermijn</h2>";
  if (retention.empty()) {
    h += "<p>Er is niets verstrekt waarvoor een bewaartermijn geldt.</p>";
  } else {
    h += "<table><tr><th>Ontvanger</th><th>Categorieën</th><th>Bewaartermijn bij de ontvanger</th></tr>";
    for (const auto& [key, n] : retention) {
      const std::string& term = std::get<2>(key);
      h += "<tr><td>" + HtmlEscape(std::get<0>(key)) + "</td><td>" + HtmlEscape(std::get<1>(key)) + "</td><td>" +
           (term.empty() ? "<span class=\"invullen\">[niet vastgelegd: navragen bij de ontvanger]</span>"
                         : HtmlEscape(term)) +
           "</td></tr>";
    }
    h += "</table><p class=\"klein\">De vastleggingen zelf (zonder inhoud) worden in het logboek bewaard tot het "
         "einde van hun bewaartermijn en daarna gewist.</p>";
  }

  h += "<h2>e. Rechten van de persoon</h2><p>De persoon kan de verwerkingsverantwoordelijke vragen om:</p><ul>"
       "<li><strong>rectificatie</strong>: onjuiste gegevens laten verbeteren of aanvullen (artikel 16 AVG);</li>"
       "<li><strong>wissen</strong>: gegevens laten verwijderen (artikel 17 AVG);</li>"
       "<li><strong>beperking</strong> van de verwerking (artikel 18 AVG);</li>"
       "<li><strong>bezwaar</strong> maken tegen de verwerking (artikel 21 AVG).</li></ul>"
       "<p>Een verzoek over gegevens van een bron richt de persoon bij voorkeur ook aan die organisatie; "
       "de verwerkingsverantwoordelijke stuurt het zo nodig door.</p>";
  h += "<h2>f. Klacht bij de Autoriteit Persoonsgegevens</h2><p>De persoon kan een klacht indienen bij de "
       "Autoriteit Persoonsgegevens (autoriteitpersoonsgegevens.nl), Postbus 93374, 2509 AJ Den Haag.</p>";

  h += "<h2>g. Bron van de gegevens</h2>";
  if (sources.empty()) {
    h += "<p>Er zijn geen gegevens over de persoon van andere organisaties verkregen.</p>";
  } else {
    h += "<table><tr><th>Bron</th><th>Categorieën</th><th>Aantal verstrekkingen</th></tr>";
    for (const auto& [name, p] : sources) {
      h += "<tr><td>" + HtmlEscape(name) + "</td><td>" + DutchList(p.categories) + "</td><td>" +
           std::to_string(p.count) + "</td></tr>";
    }
    h += "</table>";
  }

  h += "<h2>h. Geautomatiseerde besluitvorming</h2><p>Er worden geen besluiten over de persoon genomen die "
       "uitsluitend op geautomatiseerde verwerking berusten (artikel 22 AVG). Ketenpoort toetst elk verzoek "
       "automatisch aan het convenant; wat er met de informatie gebeurt, beslissen professionals. "
       "<span class=\"invullen\">[controleren]</span></p>";

  h += "<h2>Overzicht van alle vastleggingen</h2><table class=\"records\"><tr><th>Datum</th><th>Gebeurtenis</th><th>Casus</th>"
       "<th>Bron</th><th>Ontvanger</th><th>Categorieën</th><th>Doel</th><th>Grondslag</th><th>Logboek</th></tr>";
  std::vector<const SubjectHit*> by_time;
  for (const SubjectHit& hit : f.hits) by_time.push_back(&hit);
  std::stable_sort(by_time.begin(), by_time.end(), [](const SubjectHit* a, const SubjectHit* b) {
    return a->record.time_unix_millis() < b->record.time_unix_millis();
  });
  for (const SubjectHit* hp : by_time) {
    const SubjectHit& hit = *hp;
    const AuditRecord& r = hit.record;
    std::string cls = IsRefusal(r) ? " class=\"geweigerd\"" : IsDisclosure(r) ? " class=\"verstrekt\"" : "";
    h += "<tr" + cls + "><td class=\"when\">" + HtmlEscape(DutchDate(r.time_unix_millis())) + "<br>" +
         HtmlEscape(DutchTime(r.time_unix_millis()).substr(11)) + "</td><td>" +
         HtmlEscape(DutchEvent(r)) + "</td><td class=\"case\">" + HtmlEscape(r.case_id()) + "</td><td>" +
         HtmlEscape(r.source_partner()) + "</td><td>" + HtmlEscape(r.recipient_partner()) + "</td><td>" +
         Categories(r) + "</td><td>" + HtmlEscape(r.purpose()) + "</td><td>" + HtmlEscape(r.legal_basis()) +
         "</td><td class=\"when\">" + std::to_string(hit.log + 1) + " #" + std::to_string(r.index()) + "</td></tr>";
  }
  h += "</table>";

  h += "<h2>Verantwoording</h2><div class=\"verantwoording\"><p>Dit overzicht is gemaakt uit de volgende "
       "logboeken. Elk logboek is eerst volledig gecontroleerd (elke vastlegging tegen de Merkle-boom, elke "
       "handtekening); een logboek dat niet klopte, is geweigerd. De kolom Logboek hierboven noemt het nummer "
       "van het logboek en de plaats van de vastlegging daarin.</p><table><tr><th>Logboek</th><th>Herkomst</th>"
       "<th>Vastleggingen</th><th>Gewist na bewaartermijn</th><th>Over de persoon</th><th>Sleutel</th></tr>";
  uint64_t tombstones = 0;
  for (size_t i = 0; i < f.logs.size(); ++i) {
    const SubjectLogSummary& l = f.logs[i];
    tombstones += l.tombstones;
    h += "<tr><td>" + std::to_string(i + 1) + "</td><td class=\"pad\">" + HtmlEscape(PublicOrigin(l.origin)) +
         "</td><td>" +
         std::to_string(l.records) + "</td><td>" + std::to_string(l.tombstones) + "</td><td>" +
         std::to_string(l.matched) + "</td><td>" +
         (l.key_from_folder ? "uit de map (log.vkey)" : "vastgepinde sleutel") + "</td></tr>";
  }
  h += "</table>";
  for (size_t i = 0; i < f.logs.size(); ++i) {
    const SubjectLogSummary& l = f.logs[i];
    if (l.records > l.latest_checkpoint_size) {
      h += "<p>Let op: de laatste " + std::to_string(l.records - l.latest_checkpoint_size) + " vastleggingen van logboek " +
           std::to_string(i + 1) + " vallen nog niet onder een ondertekend controlepunt (een kopie van een logboek "
           "in gebruik); ze kloppen met de Merkle-boom in de map, maar een handtekening bevestigt ze nog niet.</p>";
    }
  }
  if (tombstones > 0) {
    h += "<p>" + std::to_string(tombstones) + " vastleggingen waren al gewist omdat hun bewaartermijn voorbij was; "
         "over die vastleggingen kan dit overzicht niets zeggen.</p>";
  }
  if (!f.other_key_ids.empty()) {
    h += "<p>De logboeken bevatten ook pseudoniemen onder sleutel(s) " +
         HtmlEscape(JoinIds(std::vector<std::string>(f.other_key_ids.begin(), f.other_key_ids.end()))) +
         " die niet zijn gebruikt: vastleggingen onder die sleutels ontbreken in dit overzicht.</p>";
  }
  h += "</div></body></html>\n";
  return h;
}

}  // namespace kp::audit
