#include "core/audit/report.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <vector>

#include "core/audit/record_text.h"
#include "core/base/clock.h"
#include "core/base/encoding.h"

namespace kp::audit {
namespace {

using ketenpoort::v1::AuditRecord;

constexpr char kStyle[] = R"(
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}
h1{font-size:1.5em}h2{border-bottom:2px solid #ccc;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;width:100%;margin:.5em 0 1.5em}th,td{border:1px solid #ccc;padding:.3em .5em;text-align:left;vertical-align:top;font-size:.9em}
th{background:#f0f0f0}.ok{background:#e6f4ea;border:2px solid #34a853;padding:1em}.bad{background:#fce8e6;border:2px solid #d93025;padding:1em}
tr.refused td{background:#fce8e6}.badge{display:inline-block;border-radius:3px;padding:0 .3em;margin-left:.2em;font-size:.8em;color:#fff;background:#5f6368}
.art9{background:#a142f4}.art10{background:#d93025}.wpg{background:#1a73e8}pre{background:#f6f6f6;padding:.5em;overflow-x:auto}
.warn{color:#b06000}
)";

bool IsRefusal(const AuditRecord& r) {
  return r.event() == ketenpoort::v1::AUDIT_EVENT_REFUSED ||
         (r.has_decision() && r.decision().verdict() == ketenpoort::v1::AUDIT_VERDICT_DENY);
}

bool IsDisclosure(const AuditRecord& r) { return r.event() == ketenpoort::v1::AUDIT_EVENT_DELIVERED; }

std::string Categories(const AuditRecord& r) {
  std::string out;
  for (const auto& c : r.categories()) {
    if (!out.empty()) out += "<br>";
    out += HtmlEscape(c.name());
    std::string cls = DataClassName(c.data_class());
    if (!cls.empty()) out += "<span class=\"badge " + cls + "\">" + cls + "</span>";
    if (c.regime() == ketenpoort::v1::DATA_REGIME_POLICE_JUSTICE) out += "<span class=\"badge wpg\">Wpg/Wjsg</span>";
  }
  return out;
}

std::string Rules(const AuditRecord& r) {
  std::string out;
  for (const auto& id : r.decision().rule_ids()) out += (out.empty() ? "" : ", ") + HtmlEscape(id);
  return out;
}

std::string Time(int64_t ms) { return FormatRfc3339Millis(ms); }

std::string Timeline(const std::vector<AuditRecord>& records) {
  if (records.empty()) return "";
  int64_t lo = records.front().time_unix_millis();
  int64_t hi = records.back().time_unix_millis();
  for (const auto& r : records) {
    lo = std::min(lo, r.time_unix_millis());
    hi = std::max(hi, r.time_unix_millis());
  }
  const double width = 900;
  std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"960\" height=\"70\" role=\"img\" "
                    "aria-label=\"timeline\"><line x1=\"30\" y1=\"35\" x2=\"930\" y2=\"35\" stroke=\"#999\"/>";
  for (const auto& r : records) {
    double x = 30 + (hi == lo ? width / 2 : width * static_cast<double>(r.time_unix_millis() - lo) /
                                                  static_cast<double>(hi - lo));
    std::string color = IsRefusal(r) ? "#d93025" : IsDisclosure(r) ? "#34a853" : "#5f6368";
    double y = IsRefusal(r) ? 50 : IsDisclosure(r) ? 20 : 35;
    char buf[160];
    std::snprintf(buf, sizeof(buf), "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"5\" fill=\"%s\">", x, y, color.c_str());
    svg += buf;
    svg += "<title>#" + std::to_string(r.index()) + " " + HtmlEscape(EventName(r.event())) + " " +
           HtmlEscape(Time(r.time_unix_millis())) + "</title></circle>";
  }
  svg += "<text x=\"30\" y=\"68\" font-size=\"10\">" + HtmlEscape(Time(lo)) +
         "</text><text x=\"930\" y=\"68\" font-size=\"10\" text-anchor=\"end\">" + HtmlEscape(Time(hi)) +
         "</text></svg>";
  return svg;
}

std::string Flow(const std::vector<AuditRecord>& records) {
  std::map<std::pair<std::string, std::string>, std::pair<int, int>> edges;  // (disclosed, refused)
  std::set<std::string> partners;
  for (const auto& r : records) {
    if (r.source_partner().empty() || r.recipient_partner().empty()) continue;
    if (!IsDisclosure(r) && !IsRefusal(r)) continue;
    partners.insert(r.source_partner());
    partners.insert(r.recipient_partner());
    auto& e = edges[{r.source_partner(), r.recipient_partner()}];
    (IsDisclosure(r) ? e.first : e.second)++;
  }
  if (partners.empty()) return "<p>No disclosures or refusals between partners.</p>";
  std::vector<std::string> names(partners.begin(), partners.end());
  std::map<std::string, std::pair<double, double>> pos;
  const double cx = 300, cy = 200, radius = 150;
  for (size_t i = 0; i < names.size(); ++i) {
    double a = 2 * M_PI * static_cast<double>(i) / static_cast<double>(names.size()) - M_PI / 2;
    pos[names[i]] = {cx + radius * std::cos(a), cy + radius * std::sin(a)};
  }
  std::string svg =
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"600\" height=\"400\" role=\"img\" aria-label=\"flow\">"
      "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"6\" markerHeight=\"6\" "
      "orient=\"auto\"><path d=\"M0,0L10,5L0,10z\" fill=\"#555\"/></marker></defs>";
  char buf[400];
  for (const auto& [edge, counts] : edges) {
    auto [x1, y1] = pos[edge.first];
    auto [x2, y2] = pos[edge.second];
    double dx = x2 - x1, dy = y2 - y1, len = std::max(1.0, std::hypot(dx, dy));
    // Stop short of the node circles; offset a little so a->b and b->a differ.
    double ox = -dy / len * 6, oy = dx / len * 6;
    double sx = x1 + dx / len * 28 + ox, sy = y1 + dy / len * 28 + oy;
    double ex = x2 - dx / len * 28 + ox, ey = y2 - dy / len * 28 + oy;
    bool refused_only = counts.first == 0;
    std::snprintf(buf, sizeof(buf),
                  "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"%s "
                  "marker-end=\"url(#arrow)\"/><text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" fill=\"#222\">",
                  sx, sy, ex, ey, refused_only ? "#d93025" : "#34a853",
                  refused_only ? " stroke-dasharray=\"5,4\"" : "", (sx + ex) / 2 + ox, (sy + ey) / 2 + oy);
    svg += buf;
    svg += std::to_string(counts.first) + " disclosed";
    if (counts.second > 0) svg += ", " + std::to_string(counts.second) + " refused";
    svg += "</text>";
  }
  for (const auto& name : names) {
    auto [x, y] = pos[name];
    std::snprintf(buf, sizeof(buf),
                  "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"26\" fill=\"#e8f0fe\" stroke=\"#1a73e8\"/>"
                  "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\">",
                  x, y, x, y + 4);
    svg += buf;
    svg += HtmlEscape(name) + "</text>";
  }
  svg += "</svg>";
  return svg;
}

std::string CaseSection(const std::string& case_id, const std::vector<AuditRecord>& records) {
  std::string h = "<h2>Case " + HtmlEscape(case_id) + "</h2>";
  h += "<h3>Timeline</h3>" + Timeline(records);
  h += "<p><small>green (top): disclosure delivered; red (bottom): refused; grey: other events</small></p>";
  h += "<h3>Flow between partners</h3>" + Flow(records);
  h += "<h3>Disclosures</h3><table><tr><th>#</th><th>when</th><th>from</th><th>to</th><th>categories</th>"
       "<th>purpose</th><th>legal basis</th><th>phase</th><th>rules</th><th>size</th></tr>";
  int disclosures = 0;
  for (const auto& r : records) {
    if (!IsDisclosure(r)) continue;
    ++disclosures;
    h += "<tr><td>" + std::to_string(r.index()) + "</td><td>" + HtmlEscape(Time(r.time_unix_millis())) +
         "</td><td>" + HtmlEscape(r.source_partner()) + "</td><td>" + HtmlEscape(r.recipient_partner()) +
         "</td><td>" + Categories(r) + "</td><td>" + HtmlEscape(r.purpose()) + "</td><td>" +
         HtmlEscape(r.legal_basis()) + "</td><td>" + HtmlEscape(r.phase()) + "</td><td>" + Rules(r) + "</td><td>" +
         std::to_string(r.payload().ciphertext_bytes()) + " B</td></tr>";
  }
  if (disclosures == 0) h += "<tr><td colspan=\"10\">none</td></tr>";
  h += "</table><h3>Refused requests</h3><table><tr><th>#</th><th>when</th><th>from</th><th>to</th>"
       "<th>categories</th><th>purpose</th><th>reason</th><th>rules</th></tr>";
  int refusals = 0;
  for (const auto& r : records) {
    if (!IsRefusal(r)) continue;
    ++refusals;
    std::string reason = r.reason().empty() ? r.decision().reason() : r.reason();
    h += "<tr class=\"refused\"><td>" + std::to_string(r.index()) + "</td><td>" +
         HtmlEscape(Time(r.time_unix_millis())) + "</td><td>" + HtmlEscape(r.source_partner()) + "</td><td>" +
         HtmlEscape(r.recipient_partner()) + "</td><td>" + Categories(r) + "</td><td>" + HtmlEscape(r.purpose()) +
         "</td><td><strong>" + HtmlEscape(reason) + "</strong></td><td>" + Rules(r) + "</td></tr>";
  }
  if (refusals == 0) h += "<tr><td colspan=\"8\">none</td></tr>";
  h += "</table><h3>All events</h3><table><tr><th>#</th><th>when</th><th>event</th><th>actor</th>"
       "<th>decision</th><th>legal basis</th></tr>";
  for (const auto& r : records) {
    h += std::string(IsRefusal(r) ? "<tr class=\"refused\">" : "<tr>") + "<td>" + std::to_string(r.index()) +
         "</td><td>" + HtmlEscape(Time(r.time_unix_millis())) + "</td><td>" + HtmlEscape(EventName(r.event())) +
         "</td><td>" + HtmlEscape(r.actor().participant_id()) +
         (r.actor().role().empty() ? "" : " (" + HtmlEscape(r.actor().role()) + ")") + "</td><td>" +
         HtmlEscape(VerdictName(r.decision().verdict())) + "</td><td>" + HtmlEscape(r.legal_basis()) + "</td></tr>";
  }
  h += "</table>";
  return h;
}

}  // namespace

std::string HtmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

Result<std::string> RenderHtmlReport(const LogReader& reader, const VerifyReport& v, const ReportOptions& options) {
  std::map<std::string, std::vector<AuditRecord>> cases;
  uint64_t erased = 0;
  uint64_t total = 0;
  KP_RETURN_IF_ERROR(reader.ForEachEntry([&](const LogEntry& e) {
    ++total;
    if (e.erased) {
      ++erased;
      return OkStatus();
    }
    if (!options.case_id.empty() && e.record.case_id() != options.case_id) return OkStatus();
    cases[e.record.case_id()].push_back(e.record);
    return OkStatus();
  }));

  std::string h = "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Ketenpoort audit report";
  if (!options.case_id.empty()) h += " — " + HtmlEscape(options.case_id);
  h += "</title><style>" + std::string(kStyle) + "</style></head><body>";
  h += "<h1>Ketenpoort audit report" + (options.case_id.empty() ? "" : " — case " + HtmlEscape(options.case_id)) +
       "</h1>";
  h += "<p>Log <code>" + HtmlEscape(reader.dir()) + "</code>, origin <code>" + HtmlEscape(v.origin) +
       "</code>. Generated " + HtmlEscape(FormatRfc3339Millis(options.generated_at_millis)) + ".</p>";
  if (v.status.ok()) {
    h += "<div class=\"ok\"><strong>Verified.</strong> " + std::to_string(v.records) + " records (" +
         std::to_string(v.tombstones) + " erased after their retention ended), " + std::to_string(v.checkpoints) +
         " signed checkpoints" +
         (v.pinned_checkpoints > 0 ? ", " + std::to_string(v.pinned_checkpoints) + " witnessed checkpoints" : "") +
         "; every record matches the Merkle tree and every signature verifies.";
  } else {
    h += "<div class=\"bad\"><strong>VERIFICATION FAILED.</strong> " + HtmlEscape(v.status.message());
    if (v.first_bad_index.has_value()) h += " (first bad index: " + std::to_string(*v.first_bad_index) + ")";
    h += " Nothing below can be relied on.";
  }
  for (const auto& w : v.warnings) h += "<p class=\"warn\">" + HtmlEscape(w) + "</p>";
  if (v.latest.has_value()) {
    h += "<p>Latest checkpoint (size " + std::to_string(v.latest->size) + ", root " +
         HtmlEscape(HexEncode(v.latest->root)) + "):</p><pre>" + HtmlEscape(v.latest_note) + "</pre>";
  }
  h += "</div>";
  h += "<p>" + std::to_string(total) + " entries in the log, " + std::to_string(erased) + " erased; " +
       std::to_string(cases.size()) + " case(s) in this report.</p>";
  for (const auto& [case_id, records] : cases) {
    h += CaseSection(case_id.empty() ? "(no case: log-wide events)" : case_id, records);
  }
  h += "</body></html>\n";
  return h;
}

}  // namespace kp::audit
