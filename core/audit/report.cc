#include "core/audit/report.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <set>
#include <unordered_map>
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
table.story td.when{white-space:nowrap}table.story td.lane{font-size:.85em;text-align:center;vertical-align:middle}
td.phase{background:#e8f0fe}td.coord{background:#fef7e0}td.acute{background:#fbd3cf;font-weight:bold}
td.acute-over{background:#d93025;color:#fff;font-weight:bold}td.closed{background:#e0e0e0}
tr.flagged td{background:#fef7e0}tr.why td{font-size:.85em;color:#7a4a00;border-top:none}.badge.flag{background:#e37400;margin:1px 0 0}
table.disclosures td{font-size:.8em;overflow-wrap:anywhere}table.disclosures td:nth-child(2){overflow-wrap:normal}
table.totals td.n,table.totals th.n{text-align:right}tr.total td{font-weight:bold;border-top:2px solid #999}
span.said{font-weight:normal;color:#5f6368;font-size:.85em}tr.exchanges td{color:#5f6368;font-size:.8em;background:#fafafa}tr.moment td.what{font-weight:bold}
tr.handover td{border-top:3px solid #e37400}.legend span{display:inline-block;padding:0 .4em;margin-right:.6em;font-size:.85em}
)";

bool IsRefusal(const AuditRecord& r) {
  return r.event() == ketenpoort::v1::AUDIT_EVENT_REFUSED ||
         (r.has_decision() && r.decision().verdict() == ketenpoort::v1::AUDIT_VERDICT_DENY);
}

// A push the recipient's agent took (protocol §3.9) is a disclosure from the
// coordinator's partner to the recipient as a delivery is: PUSH_RECEIVED
// (39) in the gateway's log, RECEIVED (46) in the agent's own. A push only
// forwarded (38) is not yet one.
bool IsDisclosure(const AuditRecord& r) {
  return r.event() == ketenpoort::v1::AUDIT_EVENT_DELIVERED || r.event() == ketenpoort::v1::AUDIT_EVENT_PUSH_RECEIVED ||
         r.event() == ketenpoort::v1::AUDIT_EVENT_RECEIVED;
}

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

namespace v1 = ketenpoort::v1;

// The case's marked moments: the events that change who is in the case, who
// coordinates it, its phase or its acute window, and the referral it came from.
bool IsMoment(const AuditRecord& r) {
  switch (r.event()) {
    case v1::AUDIT_EVENT_CASE_OPENED:
    case v1::AUDIT_EVENT_PARTNER_ADMITTED:
    case v1::AUDIT_EVENT_PHASE_CHANGED:
    case v1::AUDIT_EVENT_CASE_CLOSED:
    case v1::AUDIT_EVENT_CONSENT_RECORDED:
    case v1::AUDIT_EVENT_SUBJECT_ADDED:
    case v1::AUDIT_EVENT_CONSENT_WITHDRAWN:
    case v1::AUDIT_EVENT_REFERRAL_RECEIVED:
    case v1::AUDIT_EVENT_REFERRAL_ACCEPTED:
    case v1::AUDIT_EVENT_REFERRAL_DECLINED:
    case v1::AUDIT_EVENT_REFERRAL_EXPIRED:
    case v1::AUDIT_EVENT_HANDOVER_OFFERED:
    case v1::AUDIT_EVENT_HANDOVER_ACCEPTED:
    case v1::AUDIT_EVENT_HANDOVER_CANCELLED:
    case v1::AUDIT_EVENT_HANDOVER_LAPSED:
    case v1::AUDIT_EVENT_STAND_IN_ENDED:
    case v1::AUDIT_EVENT_ACUTE_OPENED:
    case v1::AUDIT_EVENT_ACUTE_WINDOW_ENDED:
    case v1::AUDIT_EVENT_PARTNER_REMOVED:
    case v1::AUDIT_EVENT_HANDOVER_DATA:
    case v1::AUDIT_EVENT_HANDOVER_DATA_WITHHELD:
    case v1::AUDIT_EVENT_WATCH_STARTED:  // watches (protocol §3.8); signals are exchanges
    case v1::AUDIT_EVENT_WATCH_ENDED:
    case v1::AUDIT_EVENT_SOURCE_CONSENT_RECORDED:  // consent the source records (protocol §3.10)
    case v1::AUDIT_EVENT_SOURCE_CONSENT_WITHDRAWN:
      return true;
    default:
      return false;
  }
}

bool IsHandoverMoment(const AuditRecord& r) {
  return r.event() == v1::AUDIT_EVENT_HANDOVER_ACCEPTED || r.event() == v1::AUDIT_EVENT_STAND_IN_ENDED;
}

// Short label of a marked moment for the timeline picture.
std::string MomentLabel(const AuditRecord& r) {
  const auto& h = r.handover();
  const bool stand_in = h.stand_in_until_unix_millis() != 0;
  switch (r.event()) {
    case v1::AUDIT_EVENT_CASE_OPENED:
      return "case opened";
    case v1::AUDIT_EVENT_PARTNER_ADMITTED:
      return "+ " + r.recipient_partner();
    case v1::AUDIT_EVENT_PARTNER_REMOVED:
      return "removed " + (r.recipient_partner().empty() ? r.source_partner() : r.recipient_partner());
    case v1::AUDIT_EVENT_PHASE_CHANGED:
      return "phase " + r.phase();
    case v1::AUDIT_EVENT_CASE_CLOSED:
      return "case closed";
    case v1::AUDIT_EVENT_REFERRAL_RECEIVED:
      return "referral received" + (r.referral().reference().empty() ? "" : " " + r.referral().reference());
    case v1::AUDIT_EVENT_REFERRAL_ACCEPTED:
      return "referral accepted";
    case v1::AUDIT_EVENT_REFERRAL_DECLINED:
      return "referral declined";
    case v1::AUDIT_EVENT_REFERRAL_EXPIRED:
      return "referral lapsed";
    case v1::AUDIT_EVENT_HANDOVER_OFFERED:
      return std::string(stand_in ? "stand-in" : "handover") + " offered to " + h.to();
    case v1::AUDIT_EVENT_HANDOVER_ACCEPTED:
      return std::string(stand_in ? "stand-in: " : "handover: ") + h.from() + " \u2192 " + h.to();
    case v1::AUDIT_EVENT_HANDOVER_CANCELLED:
      return "offer cancelled";
    case v1::AUDIT_EVENT_HANDOVER_LAPSED:
      return "offer lapsed";
    case v1::AUDIT_EVENT_STAND_IN_ENDED:
      return "stand-in ended: back to " + h.to();
    case v1::AUDIT_EVENT_ACUTE_OPENED:
      return "acute case opened";
    case v1::AUDIT_EVENT_ACUTE_WINDOW_ENDED:
      return "acute window ended";
    case v1::AUDIT_EVENT_HANDOVER_DATA:
      return "handover data to " + h.to();
    case v1::AUDIT_EVENT_HANDOVER_DATA_WITHHELD:
      return "handover data withheld from " + h.to();
    case v1::AUDIT_EVENT_WATCH_STARTED:
      return "watch at " + r.source_partner();
    case v1::AUDIT_EVENT_WATCH_ENDED:
      return "watch ended at " + r.source_partner();
    case v1::AUDIT_EVENT_SOURCE_CONSENT_RECORDED:
      return "consent at " + r.source_partner();
    case v1::AUDIT_EVENT_SOURCE_CONSENT_WITHDRAWN:
      return "consent withdrawn at " + r.source_partner();
    default:
      return EventName(r.event());
  }
}

// Display width of a label in pixels at font-size 11 (DejaVu Sans is about
// 6.5 px a character: a generous estimate so
// placed labels never touch; arrows and accents count as one character).
double LabelWidth(const std::string& text) {
  size_t chars = 0;
  for (unsigned char c : text) chars += (c & 0xC0) != 0x80 ? 1 : 0;
  return 7.0 * static_cast<double>(chars) + 4;
}

// A label of the timeline: its text spans [a, b) and a leader line runs down
// at x from the moment's marker to its row.
struct LabelSpan {
  double x, a, b;
};

// Puts each label on the first row where it keeps 8 px from every label
// already on that row, no earlier leader line runs through it to a lower row,
// and its own leader line runs through no label on a row above. Returns the
// row of each, in input order (labels come in time order, so left to right).
std::vector<int> PlaceLabels(const std::vector<LabelSpan>& spans) {
  std::vector<int> out;
  // A leader crosses a label unless it is that label's own line or one at the
  // same x (lines on top of each other), or passes outside it.
  auto clear_of = [](double x, const LabelSpan& l) {
    return std::abs(x - l.x) < 0.5 || x < l.a - 4 || x > l.b + 4;
  };
  int rows = 0;
  for (const LabelSpan& s : spans) {
    int chosen = -1;
    for (int row = 0; row <= rows && chosen < 0; ++row) {
      bool free = true;
      for (size_t j = 0; j < out.size() && free; ++j) {
        const LabelSpan& o = spans[j];
        if (out[j] == row && s.a < o.b + 8 && o.a < s.b + 8) free = false;  // same row: apart
        if (out[j] > row && !clear_of(o.x, s)) free = false;                // its leader would cross us
        if (out[j] < row && !clear_of(s.x, o)) free = false;                // our leader would cross it
      }
      if (free) chosen = row;
    }
    // No row without a crossing: the first row where the label itself fits
    // (a crossing leader runs behind the label's white backing).
    for (int row = 0; chosen < 0; ++row) {
      bool free = true;
      for (size_t j = 0; j < out.size() && free; ++j) {
        if (out[j] == row && s.a < spans[j].b + 8 && spans[j].a < s.b + 8) free = false;
      }
      if (free) chosen = row;
    }
    out.push_back(chosen);
    rows = std::max(rows, chosen + 1);
  }
  return out;
}

// One row of the case's story: a marked moment, or the exchanges between two.
struct StoryRow {
  const AuditRecord* moment = nullptr;
  int64_t at = 0;
  int delivered = 0, refused = 0, other = 0;
  uint64_t first_index = 0, last_index = 0;
  // The case's state during this row (after the moment).
  std::string phase, coordinator, acute;
  std::string coordinator_class = "coord", acute_class = "acute";
  std::string note;  // appended to the moment's detail
};

std::string Ms(int64_t ms) {
  std::string t = FormatRfc3339Millis(ms);
  return t.size() >= 16 ? t.substr(0, 10) + " " + t.substr(11, 5) + " UTC" : t;
}

// The case's records in the order things happened (a moment the gateway
// recorded after the fact at the moment itself), grouped into story rows, with
// the phase, the coordinator and the acute window as each row leaves them.
std::vector<StoryRow> Story(const std::vector<AuditRecord>& records) {
  std::vector<const AuditRecord*> order;
  for (const auto& r : records) order.push_back(&r);
  std::stable_sort(order.begin(), order.end(), [](const AuditRecord* a, const AuditRecord* b) {
    int64_t ta = IsMoment(*a) ? MomentMillis(*a) : a->time_unix_millis();
    int64_t tb = IsMoment(*b) ? MomentMillis(*b) : b->time_unix_millis();
    return ta != tb ? ta < tb : a->index() < b->index();
  });
  std::vector<StoryRow> rows;
  std::string phase, coordinator, acute, coord_class = "coord", acute_class = "acute";
  bool acute_open = false, closed = false;
  for (const AuditRecord* r : order) {
    if (!IsMoment(*r)) {
      if (rows.empty() || rows.back().moment != nullptr) {
        StoryRow row;
        row.at = r->time_unix_millis();
        row.first_index = r->index();
        rows.push_back(row);
      }
      StoryRow& row = rows.back();
      row.last_index = r->index();
      (IsDisclosure(*r) ? row.delivered : IsRefusal(*r) ? row.refused : row.other)++;
      row.phase = phase, row.coordinator = coordinator, row.acute = acute;
      row.coordinator_class = coord_class, row.acute_class = acute_class;
      continue;
    }
    StoryRow row;
    row.moment = r;
    row.at = MomentMillis(*r);
    row.first_index = row.last_index = r->index();
    const auto& h = r->handover();
    switch (r->event()) {
      case v1::AUDIT_EVENT_CASE_OPENED:
      case v1::AUDIT_EVENT_REFERRAL_ACCEPTED:
      case v1::AUDIT_EVENT_ACUTE_OPENED:
        if (!r->phase().empty()) phase = r->phase();
        if (coordinator.empty() || r->event() == v1::AUDIT_EVENT_ACUTE_OPENED) {
          coordinator = r->actor().participant_id();
        }
        if (r->event() == v1::AUDIT_EVENT_ACUTE_OPENED) {
          acute_open = true;
          acute = "acute window" + (r->acute_until_unix_millis() != 0 ? " until " + Ms(r->acute_until_unix_millis())
                                                                      : std::string());
          acute_class = "acute";
        }
        break;
      case v1::AUDIT_EVENT_PHASE_CHANGED:
        phase = r->phase();
        break;
      case v1::AUDIT_EVENT_HANDOVER_ACCEPTED:
        coordinator = h.to() + (h.stand_in_until_unix_millis() != 0
                                    ? " (stand-in for " + h.from() + " until " + Ms(h.stand_in_until_unix_millis()) + ")"
                                    : "");
        if (acute_open) {
          row.note = "this handover ends the acute window";
        } else if (!acute.empty()) {
          row.note = "this handover ends the refusals since the acute window ended";
        }
        acute_open = false;
        acute.clear();
        break;
      case v1::AUDIT_EVENT_STAND_IN_ENDED:  // from the stand-in back to whom it stood in for
        coordinator = h.to();
        break;
      case v1::AUDIT_EVENT_ACUTE_WINDOW_ENDED:
        acute_open = false;
        acute = "acute window ended without a handover: requests refused";
        acute_class = "acute-over";
        break;
      case v1::AUDIT_EVENT_CASE_CLOSED:
        closed = true;
        if (acute_open) {
          acute_open = false;
          row.note = "closing ends the acute window";
        }
        acute.clear();
        break;
      default:
        break;
    }
    row.phase = phase;
    row.coordinator = closed ? "(closed)" : coordinator;
    coord_class = closed ? "closed" : "coord";
    row.coordinator_class = coord_class;
    row.acute = acute;
    row.acute_class = acute_class;
    rows.push_back(row);
  }
  return rows;
}

// A lane column of the story table: equal neighbouring values share one cell.
std::vector<std::string> LaneCells(const std::vector<std::string>& values, const std::vector<std::string>& classes) {
  std::vector<std::string> cells(values.size());
  for (size_t i = 0; i < values.size();) {
    size_t j = i + 1;
    while (j < values.size() && values[j] == values[i] && classes[j] == classes[i]) ++j;
    std::string cls = values[i].empty() ? "lane" : "lane " + classes[i];
    cells[i] = "<td class=\"" + cls + "\" rowspan=\"" + std::to_string(j - i) + "\">" + HtmlEscape(values[i]) + "</td>";
    i = j;
  }
  return cells;
}

std::string StoryTable(const std::vector<StoryRow>& rows) {
  std::vector<std::string> phases, coords, acutes, pc, cc, ac;
  for (const auto& row : rows) {
    phases.push_back(row.phase);
    pc.push_back("phase");
    coords.push_back(row.coordinator);
    cc.push_back(row.coordinator_class);
    acutes.push_back(row.acute);
    ac.push_back(row.acute_class);
  }
  auto phase_cells = LaneCells(phases, pc), coord_cells = LaneCells(coords, cc), acute_cells = LaneCells(acutes, ac);
  // A case that was never acute has no acute window column.
  const bool acute = std::any_of(acutes.begin(), acutes.end(), [](const std::string& a) { return !a.empty(); });
  if (!acute) std::fill(acute_cells.begin(), acute_cells.end(), "");
  std::string h = "<table class=\"story\"><tr><th>when</th><th>#</th><th>what happened</th><th>by</th><th>phase</th>"
                  "<th>coordinator</th>" +
                  std::string(acute ? "<th>acute window</th>" : "") + "</tr>";
  for (size_t i = 0; i < rows.size(); ++i) {
    const StoryRow& row = rows[i];
    if (row.moment == nullptr) {
      std::string what;
      if (row.delivered > 0) what += std::to_string(row.delivered) + " disclosure(s) delivered";
      if (row.refused > 0) what += std::string(what.empty() ? "" : ", ") + std::to_string(row.refused) + " refused";
      if (row.other > 0) {
        what += std::string(what.empty() ? "" : ", ") + std::to_string(row.other) + " other exchange record(s)";
      }
      h += "<tr class=\"exchanges\"><td class=\"when\">" + HtmlEscape(Ms(row.at)) + "</td><td>" +
           std::to_string(row.first_index) + (row.last_index != row.first_index ? "–" + std::to_string(row.last_index) : "") +
           "</td><td colspan=\"2\">" + HtmlEscape(what) + " (see the tables below)</td>";
    } else {
      const AuditRecord& r = *row.moment;
      std::string detail = RecordDetail(r);
      if (!row.note.empty()) detail += (detail.empty() ? "" : "; ") + row.note;
      // What the writer said besides (a status text of ids and codes).
      std::string said = detail.empty() ? "" : r.reason();
      if (detail.empty()) detail = r.reason();
      std::string by = r.actor().participant_id();
      if (!r.actor().partner().empty()) by += " (" + r.actor().partner() + ")";
      h += std::string(IsHandoverMoment(r) ? "<tr class=\"moment handover\">" : "<tr class=\"moment\">") +
           "<td class=\"when\">" + HtmlEscape(Ms(row.at)) + "</td><td>" + std::to_string(r.index()) +
           "</td><td class=\"what\">" + HtmlEscape(EventName(r.event())) + "<br><span style=\"font-weight:normal\">" +
           HtmlEscape(detail) + "</span>" +
           (said.empty() ? "" : "<br><span class=\"said\">" + HtmlEscape(said) + "</span>") + "</td><td>" +
           HtmlEscape(by) + "</td>";
    }
    h += phase_cells[i] + coord_cells[i] + acute_cells[i] + "</tr>";
  }
  h += "</table>";
  return h;
}

// The case on one time axis: lanes for phase, coordinator and acute window,
// the exchanges as dots (delivered green above, refused red below), and every
// marked moment as a diamond with its label on the first free label row, so
// labels never overlap however close the moments are.
std::string Timeline(const std::vector<AuditRecord>& records, const std::vector<StoryRow>& rows) {
  if (records.empty()) return "";
  int64_t lo = INT64_MAX, hi = INT64_MIN;
  for (const auto& r : records) {
    lo = std::min({lo, r.time_unix_millis(), MomentMillis(r)});
    hi = std::max(hi, r.time_unix_millis());
    // An acute window shows its whole planned length.
    if (r.event() == v1::AUDIT_EVENT_ACUTE_OPENED) hi = std::max(hi, r.acute_until_unix_millis());
  }
  const int64_t last = hi;
  hi += (hi - lo) / 25;  // room after the last moment for the segment it begins
  const double x0 = 130, x1 = 930;
  auto X = [&](int64_t t) {
    return hi == lo ? (x0 + x1) / 2
                    : x0 + (x1 - x0) * static_cast<double>(t - lo) / static_cast<double>(hi - lo);
  };
  char buf[512];
  std::string body, lane_labels;
  // Lanes.
  struct Lane {
    const char* name;
    double y;
    std::string StoryRow::*value;
    std::string StoryRow::*cls;
  };
  static const std::string kPhaseClass = "phase";
  const Lane lanes[] = {{"phase", 8, &StoryRow::phase, nullptr},
                        {"coordinator", 32, &StoryRow::coordinator, &StoryRow::coordinator_class},
                        {"acute window", 56, &StoryRow::acute, &StoryRow::acute_class}};
  for (const Lane& lane : lanes) {
    // A lane with nothing in it (no coordinator outside a case) is left out.
    if (std::none_of(rows.begin(), rows.end(), [&](const StoryRow& row) { return !(row.*(lane.value)).empty(); })) {
      continue;
    }
    std::snprintf(buf, sizeof(buf), "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\" fill=\"#444\">",
                  x0 - 8, lane.y + 13);
    body += buf + HtmlEscape(lane.name) + "</text>";
    for (size_t i = 0; i < rows.size();) {
      size_t j = i + 1;
      auto cls = [&](size_t k) { return lane.cls == nullptr ? kPhaseClass : rows[k].*(lane.cls); };
      while (j < rows.size() && rows[j].*(lane.value) == rows[i].*(lane.value) && cls(j) == cls(i)) ++j;
      const std::string& text = rows[i].*(lane.value);
      if (!text.empty()) {
        double a = X(rows[i].at), b = j < rows.size() ? X(rows[j].at) : x1;
        if (b - a < 3) b = a + 3;
        std::string c = cls(i);
        const char* fill = c == "phase"        ? "#d2e3fc"
                           : c == "coord"      ? "#feefc3"
                           : c == "acute"      ? "#f6aea9"
                           : c == "acute-over" ? "#d93025"
                                               : "#e0e0e0";
        std::snprintf(buf, sizeof(buf),
                      "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"18\" fill=\"%s\" stroke=\"#fff\"><title>",
                      a, lane.y, b - a, fill);
        body += buf + HtmlEscape(text) + "</title></rect>";
        // The whole text, or a shorter one (a stand-in without its dates,
        // then the id alone), or none when even that does not fit; the lines
        // of handover moments run behind it (a halo in the segment's colour).
        std::string shown = text;
        if (size_t p = shown.find(" (stand-in for "); p != std::string::npos && LabelWidth(shown) > b - a - 4) {
          shown = shown.substr(0, p) + " (stand-in)";
          if (LabelWidth(shown) > b - a - 4) shown = shown.substr(0, p);
        }
        if (LabelWidth(shown) <= b - a - 4) {
          std::snprintf(buf, sizeof(buf),
                        "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" fill=\"%s\" stroke=\"%s\" stroke-width=\"4\" "
                        "paint-order=\"stroke\">",
                        a + 3, lane.y + 13, c == "acute-over" ? "#fff" : "#222", fill);
          lane_labels += buf + HtmlEscape(shown) + "</text>";
        }
      }
      i = j;
    }
  }
  // Exchanges.
  const double ex_y = 100;
  std::snprintf(buf, sizeof(buf),
                "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\" fill=\"#444\">exchanges</text>"
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ccc\"/>",
                x0 - 8, ex_y + 4, x0, ex_y, x1, ex_y);
  body += buf;
  for (const auto& r : records) {
    if (IsMoment(r)) continue;
    std::string color = IsRefusal(r) ? "#d93025" : IsDisclosure(r) ? "#34a853" : "#9aa0a6";
    double y = IsRefusal(r) ? ex_y + 10 : IsDisclosure(r) ? ex_y - 10 : ex_y;
    std::snprintf(buf, sizeof(buf), "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\">", X(r.time_unix_millis()), y,
                  color.c_str());
    body += buf;
    body += "<title>#" + std::to_string(r.index()) + " " + HtmlEscape(EventName(r.event())) + " " +
            HtmlEscape(Time(r.time_unix_millis())) + "</title></circle>";
  }
  // Marked moments and their labels.
  const double m_y = 136, label_top = 160, row_h = 16;
  std::snprintf(buf, sizeof(buf),
                "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\" fill=\"#444\">moments</text>"
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#999\"/>",
                x0 - 8, m_y + 4, x0, m_y, x1, m_y);
  body += buf;
  std::vector<LabelSpan> spans;
  std::vector<const StoryRow*> moments;
  for (const auto& row : rows) {
    if (row.moment == nullptr) continue;
    double x = X(row.at), w = LabelWidth(MomentLabel(*row.moment));
    bool right = x + w <= x1 + 25;
    spans.push_back({x, right ? x + 2 : x - 2 - w, right ? x + 2 + w : x - 2});
    moments.push_back(&row);
  }
  std::vector<int> label_rows = PlaceLabels(spans);
  std::string labels;
  int max_row = -1;
  for (size_t i = 0; i < moments.size(); ++i) {
    const AuditRecord& r = *moments[i]->moment;
    double x = X(moments[i]->at);
    bool handover = IsHandoverMoment(r);
    bool acute = r.event() == v1::AUDIT_EVENT_ACUTE_OPENED || r.event() == v1::AUDIT_EVENT_ACUTE_WINDOW_ENDED;
    const char* color = handover ? "#e37400" : acute ? "#d93025" : r.event() == v1::AUDIT_EVENT_REFERRAL_RECEIVED ||
                                                                        r.event() == v1::AUDIT_EVENT_REFERRAL_ACCEPTED
                                                                    ? "#1a73e8"
                                                                    : "#5f6368";
    double ly = label_top + row_h * label_rows[i];
    max_row = std::max(max_row, label_rows[i]);
    if (handover) {  // the marked moment, through every lane
      std::snprintf(buf, sizeof(buf),
                    "<line x1=\"%.1f\" y1=\"4\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\" "
                    "stroke-dasharray=\"4,3\"/>",
                    x, x, m_y, color);
      body += buf;
    }
    bool left = spans[i].a < x;
    std::snprintf(buf, sizeof(buf),
                  "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#bbb\"/>"
                  "<path d=\"M%.1f,%.1fl6,6l-6,6l-6,-6z\" fill=\"%s\"><title>",
                  x, m_y + 6, x, ly - 10, x, m_y - 6, color);
    body += buf + HtmlEscape(RecordDetail(r)) + "</title></path>";
    // Labels go on top of every line, each on a white backing.
    std::snprintf(buf, sizeof(buf),
                  "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"14\" fill=\"#fff\"/>"
                  "<text class=\"moment-label\" x=\"%.1f\" y=\"%.1f\" font-size=\"11\" fill=\"%s\" "
                  "text-anchor=\"%s\">",
                  spans[i].a - 1, ly - 11, spans[i].b - spans[i].a + 2, left ? x - 2 : x + 2, ly, color,
                  left ? "end" : "start");
    labels += buf + HtmlEscape(MomentLabel(r)) + "</text>";
  }
  body += lane_labels + labels;
  double height = label_top + row_h * (max_row + 1) + 14;
  std::snprintf(buf, sizeof(buf),
                "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" fill=\"#444\">", x0, height - 4);
  body += buf + HtmlEscape(Ms(lo)) + "</text>";
  std::snprintf(buf, sizeof(buf), "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" text-anchor=\"end\" fill=\"#444\">",
                X(last), height - 4);
  body += buf + HtmlEscape(Ms(last)) + "</text>";
  std::snprintf(buf, sizeof(buf),
                "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 960 %.0f\" width=\"100%%\" "
                "style=\"max-width:1200px;font-family:system-ui,sans-serif\" role=\"img\" aria-label=\"case timeline\">",
                height);
  return buf + body + "</svg>";
}

// Width in pixels of `text` at `font_px` in DejaVu Sans (the flow picture
// names that font first; Verdana, its twin, and the narrower fonts a viewer
// may have instead fit inside it): per-character advance widths rounded up
// from the font's metrics, and 4 px to spare.
double TextWidth(std::string_view text, double font_px) {
  double em = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if ((c & 0xC0) == 0x80) continue;  // a continuation byte: counted with its lead
    if (c >= 0x80) {
      em += 1.0;  // arrows, accents: a whole em
    } else if (std::strchr("il.,:;|!'`", c) != nullptr) {
      em += 0.33;
    } else if (std::strchr("jfrt()[]{} ", c) != nullptr) {
      em += 0.44;
    } else if (c == '-' || c == '/' || c == '_') {
      em += c == '_' ? 0.5 : 0.42;
    } else if (c == 'm' || c == 'w' || c == 'M' || c == 'W') {
      em += 1.0;
    } else if (c >= 'A' && c <= 'Z') {
      em += 0.8;
    } else {
      em += 0.66;  // digits 0.64, most lowercase 0.62
    }
  }
  return em * font_px + 4;
}

struct Box {
  double x0, y0, x1, y1;
  bool Hits(const Box& o, double pad) const {
    return x0 < o.x1 + pad && o.x0 < x1 + pad && y0 < o.y1 + pad && o.y0 < y1 + pad;
  }
};

// One arrow of the flow picture: who disclosed to whom, how often, and how
// often that was refused.
struct FlowEdge {
  std::string from, to;
  int disclosed = 0, refused = 0;
  std::string label;  // as placed; empty: not labelled in the picture (the table has it)
  Box box{};
};

std::string FlowLabel(const FlowEdge& e) {
  std::string t = std::to_string(e.disclosed) + " disclosed";
  if (e.refused > 0) t += ", " + std::to_string(e.refused) + " refused";
  return t;
}

std::string FlowShortLabel(const FlowEdge& e) {
  return e.refused > 0 ? std::to_string(e.disclosed) + "/" + std::to_string(e.refused) : std::to_string(e.disclosed);
}

// The flow picture: partners on a circle wide enough that no two names
// touch, an arrow per direction, and each arrow's label on the first spot
// along it (middle first, then outwards, on its own side) whose box meets no
// node, no other label and stays in the picture; a shorter label ("3/1":
// disclosed/refused) where the whole one finds no spot, and none where
// neither does. The table under it always has every count.
std::string Flow(const std::vector<AuditRecord>& records) {
  std::map<std::pair<std::string, std::string>, FlowEdge> by_pair;
  std::set<std::string> partners;
  for (const auto& r : records) {
    if (r.source_partner().empty() || r.recipient_partner().empty()) continue;
    if (!IsDisclosure(r) && !IsRefusal(r)) continue;
    partners.insert(r.source_partner());
    partners.insert(r.recipient_partner());
    FlowEdge& e = by_pair[{r.source_partner(), r.recipient_partner()}];
    e.from = r.source_partner();
    e.to = r.recipient_partner();
    (IsDisclosure(r) ? e.disclosed : e.refused)++;
  }
  if (partners.empty()) return "<p>No disclosures or refusals between partners.</p>";
  // A partner is a rounded box around its name (at least kNodeW wide).
  constexpr double kFont = 11, kLabelH = 15, kNodeW = 52, kNodeH = 15;  // kNodeH: half its height
  std::vector<std::string> names(partners.begin(), partners.end());
  const size_t n = names.size();
  std::vector<double> half(n);  // half the width of each node's box
  double widest = 0;
  for (size_t i = 0; i < n; ++i) {
    half[i] = std::max(kNodeW, TextWidth(names[i], kFont) + 8) / 2;
    widest = std::max(widest, half[i]);
  }
  // A circle on which no two node boxes meet (grown until they do not).
  double radius = n <= 1 ? 0 : std::max(150.0, (2 * widest + 16) / (2 * std::sin(M_PI / static_cast<double>(n))));
  std::vector<Box> nodes(n);
  std::vector<std::pair<double, double>> at(n);
  const double margin = widest + 60;
  for (int grow = 0; grow < 40; ++grow) {
    const double c = radius + margin;
    for (size_t i = 0; i < n; ++i) {
      // From the top, clockwise; two partners side by side.
      double a = 2 * M_PI * static_cast<double>(i) / static_cast<double>(n) + (n == 2 ? M_PI : -M_PI / 2);
      at[i] = {c + radius * std::cos(a), c + radius * std::sin(a)};
      nodes[i] = {at[i].first - half[i], at[i].second - kNodeH, at[i].first + half[i], at[i].second + kNodeH};
    }
    bool clear = true;
    for (size_t i = 0; i < n && clear; ++i) {
      for (size_t j = i + 1; j < n && clear; ++j) clear = !nodes[i].Hits(nodes[j], 8);
    }
    if (clear) break;
    radius *= 1.1;
  }
  const double size = 2 * (radius + margin);
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < n; ++i) index[names[i]] = i;

  std::vector<FlowEdge> edges;
  for (auto& [pair, e] : by_pair) edges.push_back(e);
  // The busiest arrows choose their spots first.
  std::stable_sort(edges.begin(), edges.end(), [](const FlowEdge& a, const FlowEdge& b) {
    return a.disclosed + a.refused > b.disclosed + b.refused;
  });
  std::vector<Box> placed;
  struct Line {
    double sx, sy, ex, ey, nx, ny;
  };
  std::vector<Line> lines;
  for (FlowEdge& e : edges) {
    auto [x1, y1] = at[index[e.from]];
    auto [x2, y2] = at[index[e.to]];
    double dx = x2 - x1, dy = y2 - y1, len = std::max(1.0, std::hypot(dx, dy));
    // From box edge to box edge; to one side so a->b and b->a differ.
    double ux = dx / len, uy = dy / len, nx = -uy, ny = ux;
    auto edge = [&](size_t i) {  // centre to the box's border along the line
      return std::min(std::abs(ux) < 1e-9 ? 1e9 : half[i] / std::abs(ux), std::abs(uy) < 1e-9 ? 1e9 : kNodeH / std::abs(uy));
    };
    const double out = edge(index[e.from]) + 2, in = edge(index[e.to]) + 4;
    Line l{x1 + ux * out + nx * 6, y1 + uy * out + ny * 6, x2 - ux * in + nx * 6, y2 - uy * in + ny * 6, nx, ny};
    lines.push_back(l);
    static constexpr double kAlong[] = {0.5, 0.42, 0.58, 0.34, 0.66, 0.26, 0.74, 0.18, 0.82};
    static constexpr double kSide[] = {9, 20, 0, -11};  // near its line, or it reads as another arrow's
    for (const std::string& text : {FlowLabel(e), FlowShortLabel(e)}) {
      const double w = TextWidth(text, kFont);
      for (double side : kSide) {
        for (double t : kAlong) {
          double cx = l.sx + (l.ex - l.sx) * t + nx * side, cy = l.sy + (l.ey - l.sy) * t + ny * side;
          Box b{cx - w / 2, cy - kLabelH / 2, cx + w / 2, cy + kLabelH / 2};
          if (b.x0 < 2 || b.y0 < 2 || b.x1 > size - 2 || b.y1 > size - 2) continue;
          bool free = true;
          for (const Box& nb : nodes) free = free && !b.Hits(nb, 3);
          for (const Box& pb : placed) free = free && !b.Hits(pb, 3);
          if (!free) continue;
          e.label = text;
          e.box = b;
          placed.push_back(b);
          break;
        }
        if (!e.label.empty()) break;
      }
      if (!e.label.empty()) break;
    }
  }
  // The picture is cut to what it shows: nodes, labels and a little room.
  Box used{size, size, 0, 0};
  auto extend = [&used](const Box& b) {
    used = {std::min(used.x0, b.x0), std::min(used.y0, b.y0), std::max(used.x1, b.x1), std::max(used.y1, b.y1)};
  };
  for (const Box& b : nodes) extend(b);
  for (const Box& b : placed) extend(b);
  used = {std::max(0.0, used.x0 - 10), std::max(0.0, used.y0 - 10), used.x1 + 10, used.y1 + 10};
  char buf[600];
  std::snprintf(buf, sizeof(buf),
                "<svg class=\"flow\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"%.0f %.0f %.0f %.0f\" width=\"%.0f\" "
                "style=\"max-width:100%%;height:auto;font-family:'DejaVu Sans',Verdana,sans-serif\" role=\"img\" "
                "aria-label=\"flow between partners\">"
                "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"6\" "
                "markerHeight=\"6\" orient=\"auto\"><path d=\"M0,0L10,5L0,10z\" fill=\"#555\"/></marker></defs>",
                used.x0, used.y0, used.x1 - used.x0, used.y1 - used.y0, std::min(used.x1 - used.x0, 1100.0));
  std::string svg = buf;
  for (size_t i = 0; i < edges.size(); ++i) {
    const FlowEdge& e = edges[i];
    const Line& l = lines[i];
    const bool refused_only = e.disclosed == 0;
    std::snprintf(buf, sizeof(buf),
                  "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"%s "
                  "marker-end=\"url(#arrow)\"><title>",
                  l.sx, l.sy, l.ex, l.ey, refused_only ? "#d93025" : "#34a853",
                  refused_only ? " stroke-dasharray=\"5,4\"" : "");
    svg += buf + HtmlEscape(e.from + " \u2192 " + e.to + ": " + FlowLabel(e)) + "</title></line>";
  }
  for (const FlowEdge& e : edges) {  // labels above every line, each on a white backing
    if (e.label.empty()) continue;
    std::snprintf(buf, sizeof(buf),
                  "<rect class=\"flow-label-box\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#fff\" "
                  "fill-opacity=\"0.9\"/><text class=\"flow-label\" x=\"%.1f\" y=\"%.1f\" font-size=\"%.0f\" "
                  "text-anchor=\"middle\" fill=\"%s\">",
                  e.box.x0, e.box.y0, e.box.x1 - e.box.x0, e.box.y1 - e.box.y0, (e.box.x0 + e.box.x1) / 2,
                  e.box.y1 - 4, kFont, e.disclosed == 0 ? "#a50e0e" : "#222");
    svg += buf + HtmlEscape(e.label) + "<title>" + HtmlEscape(e.from + " \u2192 " + e.to) + "</title></text>";
  }
  for (size_t i = 0; i < n; ++i) {
    auto [x, y] = at[i];
    std::snprintf(buf, sizeof(buf),
                  "<g class=\"flow-node\"><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" rx=\"8\" "
                  "fill=\"#e8f0fe\" stroke=\"#1a73e8\"/><text x=\"%.1f\" y=\"%.1f\" font-size=\"%.0f\" "
                  "text-anchor=\"middle\">",
                  x - half[i], y - kNodeH, 2 * half[i], 2 * kNodeH, x, y + 4, kFont);
    svg += buf + HtmlEscape(names[i]) + "</text></g>";
  }
  svg += "</svg>";
  // Every arrow's counts, whether or not its label found a spot.
  std::string table = "<table class=\"flows\"><tr><th>from</th><th>to</th><th>disclosed</th><th>refused</th></tr>";
  int unlabelled = 0, short_labels = 0;
  for (const auto& [pair, e0] : by_pair) {
    const FlowEdge* e = &e0;
    for (const FlowEdge& pe : edges) {
      if (pe.from == e0.from && pe.to == e0.to) e = &pe;
    }
    unlabelled += e->label.empty() ? 1 : 0;
    short_labels += !e->label.empty() && e->label != FlowLabel(*e) ? 1 : 0;
    table += "<tr><td>" + HtmlEscape(e->from) + "</td><td>" + HtmlEscape(e->to) + "</td><td>" +
             std::to_string(e->disclosed) + "</td><td>" + std::to_string(e->refused) + "</td></tr>";
  }
  table += "</table>";
  std::string note;
  if (short_labels > 0) note += " Short labels read disclosed/refused.";
  if (unlabelled > 0) {
    note += " " + std::to_string(unlabelled) + " arrow(s) had no room for a label; the table has their counts.";
  }
  return svg + (note.empty() ? "" : "<p class=\"legend\"><small>" + HtmlEscape(note.substr(1)) + "</small></p>") +
         table;
}

// Referrals that never became a case (declined, lapsed, or still waiting):
// one row per referral, its last event deciding the outcome.
std::string ReferralTable(const std::vector<AuditRecord>& records) {
  std::map<std::string, std::vector<const AuditRecord*>> by_id;
  std::vector<std::string> order;
  for (const auto& r : records) {
    if (!r.has_referral()) continue;
    std::string key = r.referral().referral_id().empty() ? r.referral().reference() : r.referral().referral_id();
    if (by_id.find(key) == by_id.end()) order.push_back(key);
    by_id[key].push_back(&r);
  }
  if (order.empty()) return "";
  std::string h = "<h3>Referrals without a case</h3><table><tr><th>received</th><th>reference</th><th>from</th>"
                  "<th>to</th><th>reasons</th><th>subjects</th><th>outcome</th><th>#</th></tr>";
  for (const auto& key : order) {
    const auto& evs = by_id[key];
    const AuditRecord* received = nullptr;
    for (const auto* r : evs) {
      if (r->event() == v1::AUDIT_EVENT_REFERRAL_RECEIVED) received = r;
    }
    const AuditRecord& first = received != nullptr ? *received : *evs.front();
    const AuditRecord& last = *evs.back();
    std::string outcome = "waiting for a coordinator";
    if (last.event() == v1::AUDIT_EVENT_REFERRAL_DECLINED) {
      outcome = "declined by " + last.actor().participant_id() + " on " + Ms(last.time_unix_millis()) +
                (last.referral().decline_reason().empty() ? "" : ", reason: " + last.referral().decline_reason());
    } else if (last.event() == v1::AUDIT_EVENT_REFERRAL_EXPIRED) {
      outcome = "lapsed on " + Ms(last.time_unix_millis()) + ", no coordinator decided";
    } else if (last.event() == v1::AUDIT_EVENT_REFERRAL_ACCEPTED) {
      outcome = "accepted by " + last.actor().participant_id();
    }
    std::string reasons, indexes;
    for (const auto& c : first.referral().reason_codes()) reasons += (reasons.empty() ? "" : ", ") + c;
    for (const auto* r : evs) indexes += (indexes.empty() ? "" : ", ") + std::to_string(r->index());
    h += std::string(last.event() == v1::AUDIT_EVENT_REFERRAL_DECLINED ? "<tr class=\"refused\">" : "<tr>") + "<td>" +
         HtmlEscape(Ms(first.time_unix_millis())) + "</td><td>" + HtmlEscape(first.referral().reference()) +
         "</td><td>" + HtmlEscape(first.referral().referrer()) + "</td><td>" + HtmlEscape(first.recipient_partner()) +
         "</td><td>" + HtmlEscape(reasons) + "</td><td>" + std::to_string(first.referral().subjects()) + "</td><td>" +
         HtmlEscape(outcome) + "</td><td>" + HtmlEscape(indexes) + "</td></tr>";
  }
  h += "</table>";
  return h;
}

// One line on top of a case: where it came from and where it stands.
std::string CaseSummary(const std::vector<AuditRecord>& records, const std::vector<StoryRow>& rows) {
  std::string out;
  for (const auto& r : records) {
    if (r.event() == v1::AUDIT_EVENT_REFERRAL_ACCEPTED || (out.empty() && r.event() == v1::AUDIT_EVENT_REFERRAL_RECEIVED)) {
      out = "Opened on referral " + r.referral().reference() + " from " + r.referral().referrer() + ".";
    }
  }
  for (const auto& r : records) {
    if (r.event() == v1::AUDIT_EVENT_ACUTE_OPENED) {
      out += std::string(out.empty() ? "" : " ") + "Opened as an acute case by " + r.actor().participant_id() + ".";
      break;
    }
  }
  int handovers = 0, stand_ins = 0;
  for (const auto& r : records) {
    if (r.event() != v1::AUDIT_EVENT_HANDOVER_ACCEPTED) continue;
    (r.handover().stand_in_until_unix_millis() != 0 ? stand_ins : handovers)++;
  }
  if (handovers > 0) out += std::string(out.empty() ? "" : " ") + "Handed over " + std::to_string(handovers) + " time(s).";
  if (stand_ins > 0) out += std::string(out.empty() ? "" : " ") + std::to_string(stand_ins) + " stand-in(s).";
  if (!rows.empty()) {
    const StoryRow& last = rows.back();
    if (!last.coordinator.empty()) out += std::string(out.empty() ? "" : " ") + "Coordinator now: " + last.coordinator + ".";
    if (!last.phase.empty()) out += " Phase: " + last.phase + ".";
    if (!last.acute.empty()) out += " " + std::string(1, static_cast<char>(std::toupper(last.acute[0]))) + last.acute.substr(1) + ".";
  }
  return out.empty() ? "" : "<p>" + HtmlEscape(out) + "</p>";
}

std::string Details(const AuditRecord& r) {
  std::string d = RecordDetail(r);
  if (d.empty()) return r.reason();
  return r.reason().empty() ? d : d + " — " + r.reason();
}

// Why a disclosure is listed first: the policy asked to tell the privacy
// officer, or the permit rested on a written justification or on a
// conflict-of-duties weighing. Each as (badge, why).
std::vector<std::pair<std::string, std::string>> Flags(const AuditRecord& r) {
  std::vector<std::pair<std::string, std::string>> out;
  const auto& d = r.decision();
  if (d.obligations().notify_privacy_officer()) {
    std::string rules;
    for (const auto& id : d.rule_ids()) rules += (rules.empty() ? "" : ", ") + id;
    out.push_back({"notify privacy officer",
                   "the policy asks to notify the privacy officer" + (rules.empty() ? "" : " (rule " + rules + ")")});
  }
  if (d.justification() == v1::AUDIT_JUSTIFICATION_WEIGHING) {
    out.push_back({"conflict of duties", "permitted on a conflict-of-duties weighing (KNMG), not on consent"});
  } else if (d.justification() == v1::AUDIT_JUSTIFICATION_TEXT) {
    out.push_back({"justification", "permitted on the coordinator's written justification"});
  }
  return out;
}

std::string PolicyCell(const AuditRecord& r) {
  const auto& d = r.decision();
  if (!d.policy_version().empty()) return HtmlEscape(d.policy_version());
  if (!d.policy_sha256().empty()) {
    return "<span title=\"SHA-256 of the policy text\">sha256 " + HtmlEscape(HexEncode(d.policy_sha256()).substr(0, 12)) +
           "\u2026</span>";
  }
  return "";
}

std::string Kept(const AuditRecord& r) {
  const auto& ob = r.decision().obligations();
  if (ob.retention_days() == 0) return "";
  return std::to_string(ob.retention_days()) + " days" + (ob.retention_from_closure() ? " after closure" : "");
}

// The disclosures, the flagged ones first (marked, with why), then the rest
// in log order. `with_case`: a column for the case (the list on top).
std::string DisclosureTable(const std::vector<AuditRecord>& records, bool with_case) {
  std::vector<const AuditRecord*> flagged, plain;
  for (const auto& r : records) {
    if (!IsDisclosure(r)) continue;
    (Flags(r).empty() ? plain : flagged).push_back(&r);
  }
  if (with_case && flagged.empty()) return "";
  std::string h = "<table class=\"disclosures\"><tr><th>#</th><th>when</th>" +
                  std::string(with_case ? "<th>case</th>" : "") +
                  "<th>from</th><th>to</th><th>categories</th><th>purpose</th><th>legal basis</th><th>phase</th>"
                  "<th>rules</th><th>policy</th><th>kept</th><th>size</th></tr>";
  const int columns = with_case ? 13 : 12;
  auto row = [&](const AuditRecord& r) {
    auto flags = Flags(r);
    std::string badges, why;
    for (const auto& [badge, reason] : flags) {
      badges += "<span class=\"badge flag\">" + HtmlEscape(badge) + "</span>";
      why += (why.empty() ? "" : "; ") + reason;
    }
    h += std::string(flags.empty() ? "<tr>" : "<tr class=\"flagged\">") + "<td>" + std::to_string(r.index()) +
         badges + "</td><td>" + HtmlEscape(Time(r.time_unix_millis())) + "</td>" +
         (with_case ? "<td>" + HtmlEscape(r.case_id()) + "</td>" : "") + "<td>" + HtmlEscape(r.source_partner()) +
         "</td><td>" + HtmlEscape(r.recipient_partner()) + "</td><td>" + Categories(r) + "</td><td>" +
         HtmlEscape(r.purpose()) + "</td><td>" + HtmlEscape(r.legal_basis()) + "</td><td>" + HtmlEscape(r.phase()) +
         "</td><td>" + Rules(r) + "</td><td>" + PolicyCell(r) + "</td><td>" + HtmlEscape(Kept(r)) + "</td><td>" +
         std::to_string(r.payload().ciphertext_bytes()) + " B</td></tr>";
    if (!why.empty()) {
      h += "<tr class=\"flagged why\"><td colspan=\"" + std::to_string(columns) + "\">Why listed first: " +
           HtmlEscape(why) + "</td></tr>";
    }
  };
  for (const auto* r : flagged) row(*r);
  for (const auto* r : plain) row(*r);
  if (flagged.empty() && plain.empty()) h += "<tr><td colspan=\"" + std::to_string(columns) + "\">none</td></tr>";
  return h + "</table>";
}

// More cases than this in one report (a partner's or a period's over a
// year): each case gets its summary, disclosures and refusals only — the
// totals and the marked disclosures on top stay complete, and `--case ID`
// draws one case whole. 8,000 cases drawn whole are some 75 MB of HTML that
// no one reads.
constexpr size_t kMaxWholeCases = 100;

std::string CaseSection(const std::string& case_id, const std::vector<AuditRecord>& records, bool is_case,
                        bool compact) {
  std::string h = "<h2>Case " + HtmlEscape(case_id) + "</h2>";
  if (compact) {
    if (is_case) h += CaseSummary(records, Story(records));
  } else if (is_case) {
    std::vector<StoryRow> rows = Story(records);
    h += CaseSummary(records, rows);
    h += "<h3>Timeline</h3>" + Timeline(records, rows);
    h += "<p class=\"legend\"><small>Lanes: phase (blue), coordinator (yellow), acute window (red; dark red once it "
         "ended without a handover); a segment too narrow for its name is named in the case story below. "
         "Exchanges: green (above) disclosure delivered, red (below) refused, grey other. Moments: orange a "
         "handover (dashed line through the lanes), blue the referral, red the acute window, grey other.</small></p>";
    h += "<h3>Case story</h3>" + StoryTable(rows);
  } else {
    h += ReferralTable(records);
    h += "<h3>Timeline</h3>" + Timeline(records, Story(records));
  }
  if (!compact) h += "<h3>Flow between partners</h3>" + Flow(records);
  h += "<h3>Disclosures</h3>" + DisclosureTable(records, false);
  h += "<h3>Refused requests</h3><table><tr><th>#</th><th>when</th><th>from</th><th>to</th>"
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
  h += "</table>";
  if (compact) return h;
  h += "<h3>All events</h3><table><tr><th>#</th><th>when</th><th>event</th><th>actor</th>"
       "<th>decision</th><th>legal basis</th><th>details</th></tr>";
  for (const auto& r : records) {
    h += std::string(IsRefusal(r) ? "<tr class=\"refused\">" : "<tr>") + "<td>" + std::to_string(r.index()) +
         "</td><td>" + HtmlEscape(Time(r.time_unix_millis())) + "</td><td>" + HtmlEscape(EventName(r.event())) +
         "</td><td>" + HtmlEscape(r.actor().participant_id()) +
         (r.actor().role().empty() ? "" : " (" + HtmlEscape(r.actor().role()) + ")") + "</td><td>" +
         HtmlEscape(VerdictName(r.decision().verdict())) + "</td><td>" + HtmlEscape(r.legal_basis()) + "</td><td>" +
         HtmlEscape(Details(r)) + "</td></tr>";
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

namespace {

// What a disclosure record written by an older gateway lacks, taken from
// the DECISION record of the same exchange (same message id).
struct DecidedAs {
  std::string purpose, legal_basis, phase;
  v1::AuditDecision decision;
  std::vector<v1::AuditCategory> categories;
};

// Fills in `r` what it lacks from `d`; true when anything was filled.
bool Complete(AuditRecord* r, const DecidedAs& d) {
  bool filled = false;
  auto fill = [&](const std::string& have, const std::string& from, auto set) {
    if (have.empty() && !from.empty()) {
      (r->*set)(from);
      filled = true;
    }
  };
  fill(r->purpose(), d.purpose, static_cast<void (AuditRecord::*)(const std::string&)>(&AuditRecord::set_purpose));
  fill(r->legal_basis(), d.legal_basis,
       static_cast<void (AuditRecord::*)(const std::string&)>(&AuditRecord::set_legal_basis));
  fill(r->phase(), d.phase, static_cast<void (AuditRecord::*)(const std::string&)>(&AuditRecord::set_phase));
  auto* rd = r->mutable_decision();
  if (rd->rule_ids().empty() && rd->policy_sha256().empty()) {
    *rd = d.decision;
    filled = filled || !d.decision.rule_ids().empty();
  } else {
    if (rd->policy_version().empty() && !d.decision.policy_version().empty()) {
      rd->set_policy_version(d.decision.policy_version());
      filled = true;
    }
    if (rd->justification() == v1::AUDIT_JUSTIFICATION_NONE && d.decision.justification() != rd->justification()) {
      rd->set_justification(d.decision.justification());
      filled = true;
    }
  }
  for (auto& c : *r->mutable_categories()) {
    if (c.data_class() != v1::DATA_CLASS_UNSPECIFIED) continue;
    for (const auto& dc : d.categories) {
      if (dc.name() == c.name()) {
        c.set_data_class(dc.data_class());
        c.set_regime(dc.regime());
        filled = filled || dc.data_class() != v1::DATA_CLASS_UNSPECIFIED;
      }
    }
  }
  return filled;
}

bool Involves(const AuditRecord& r, const std::string& partner) {
  return r.source_partner() == partner || r.recipient_partner() == partner || r.actor().partner() == partner;
}

// Counts of one row of a totals table.
struct Tally {
  int disclosed = 0, received = 0, refused_asked_by = 0, refused_asked_of = 0;
};

std::string N(int n) { return n == 0 ? "<td class=\"n\">\u2013</td>" : "<td class=\"n\">" + std::to_string(n) + "</td>"; }

// `exchanges`: the table's total row counts these instead of summing the rows
// (a category table, where a disclosure of several categories is in several
// rows, totals each disclosure once, as the counterpart table does).
std::string TallyTable(const std::string& key, const std::map<std::string, Tally>& rows, const std::string& partner,
                       const std::map<std::string, Tally>* exchanges = nullptr) {
  std::string h = "<table class=\"totals\"><tr><th>" + HtmlEscape(key) + "</th><th class=\"n\">disclosed by " +
                  HtmlEscape(partner) + "</th><th class=\"n\">received by " + HtmlEscape(partner) +
                  "</th><th class=\"n\">refused to " + HtmlEscape(partner) + " (it asked)</th><th class=\"n\">refused "
                  "when asked of " + HtmlEscape(partner) + "</th></tr>";
  Tally total;
  for (const auto& [name, t] : rows) {
    h += "<tr><td>" + HtmlEscape(name) + "</td>" + N(t.disclosed) + N(t.received) + N(t.refused_asked_by) +
         N(t.refused_asked_of) + "</tr>";
  }
  for (const auto& [name, t] : exchanges != nullptr ? *exchanges : rows) {
    total.disclosed += t.disclosed, total.received += t.received;
    total.refused_asked_by += t.refused_asked_by, total.refused_asked_of += t.refused_asked_of;
  }
  h += "<tr class=\"total\"><td>" + std::string(exchanges != nullptr ? "total (each exchange once)" : "total") + "</td>" + N(total.disclosed) + N(total.received) + N(total.refused_asked_by) +
       N(total.refused_asked_of) + "</tr></table>";
  return h;
}

// `--partner P`: what P disclosed, received and was refused, by category and
// by counterpart. A disclosure of several categories counts once in each
// category's row and once in its counterpart's.
std::string PartnerTotals(const std::string& partner, const std::map<std::string, std::vector<AuditRecord>>& cases) {
  std::map<std::string, Tally> by_category, by_counterpart;
  for (const auto& [id, records] : cases) {
    for (const auto& r : records) {
      const bool out = r.source_partner() == partner, in = r.recipient_partner() == partner;
      if (!out && !in) continue;
      const std::string& other = out ? r.recipient_partner() : r.source_partner();
      if (IsDisclosure(r)) {
        for (const auto& c : r.categories()) (out ? by_category[c.name()].disclosed : by_category[c.name()].received)++;
        (out ? by_counterpart[other].disclosed : by_counterpart[other].received)++;
      } else if (IsRefusal(r)) {
        // A refusal's source is the partner asked, its recipient the one that asked.
        for (const auto& c : r.categories()) {
          (in ? by_category[c.name()].refused_asked_by : by_category[c.name()].refused_asked_of)++;
        }
        (in ? by_counterpart[other].refused_asked_by : by_counterpart[other].refused_asked_of)++;
      }
    }
  }
  if (by_category.empty() && by_counterpart.empty()) {
    return "<p>" + HtmlEscape(partner) + " disclosed, received and was refused nothing in this report's records.</p>";
  }
  return "<h3>By category</h3>" + TallyTable("category", by_category, partner, &by_counterpart) +
         "<p class=\"legend\"><small>A disclosure or refusal of several categories counts in each category's row; "
         "the total counts each once.</small></p><h3>By counterpart</h3>" +
         TallyTable("counterpart", by_counterpart, partner);
}

// Per case: disclosures, refusals, the categories disclosed and the
// partners that disclosed or received, with a total row.
std::string CaseTotals(const std::map<std::string, std::vector<AuditRecord>>& cases) {
  std::string h = "<table class=\"totals\"><tr><th>case</th><th class=\"n\">disclosures</th><th class=\"n\">refused"
                  "</th><th>categories disclosed</th><th>from \u2192 to</th></tr>";
  int all_disclosed = 0, all_refused = 0;
  std::map<std::string, int> all_categories;
  for (const auto& [id, records] : cases) {
    int disclosed = 0, refused = 0;
    std::map<std::string, int> categories, pairs;
    for (const auto& r : records) {
      if (IsDisclosure(r)) {
        ++disclosed;
        for (const auto& c : r.categories()) ++categories[c.name()], ++all_categories[c.name()];
        ++pairs[r.source_partner() + " \u2192 " + r.recipient_partner()];
      } else if (IsRefusal(r)) {
        ++refused;
      }
    }
    if (disclosed == 0 && refused == 0) continue;
    all_disclosed += disclosed, all_refused += refused;
    std::string cats, who;
    for (const auto& [c, k] : categories) cats += (cats.empty() ? "" : ", ") + c + " \u00d7" + std::to_string(k);
    for (const auto& [p, k] : pairs) who += (who.empty() ? "" : ", ") + p + " \u00d7" + std::to_string(k);
    h += "<tr><td>" + HtmlEscape(id.empty() ? "(no case)" : id) + "</td>" + N(disclosed) + N(refused) + "<td>" +
         HtmlEscape(cats) + "</td><td>" + HtmlEscape(who) + "</td></tr>";
  }
  std::string cats;
  for (const auto& [c, k] : all_categories) cats += (cats.empty() ? "" : ", ") + c + " \u00d7" + std::to_string(k);
  h += "<tr class=\"total\"><td>total</td>" + N(all_disclosed) + N(all_refused) + "<td>" + HtmlEscape(cats) +
       "</td><td></td></tr></table>";
  return h;
}

// Every report: disclosures and refusals by category and by from -> to.
std::string ExchangeTotals(const std::map<std::string, std::vector<AuditRecord>>& cases) {
  std::map<std::string, std::pair<int, int>> by_category, by_pair;  // (disclosed, refused)
  for (const auto& [id, records] : cases) {
    for (const auto& r : records) {
      const bool disclosed = IsDisclosure(r);
      if (!disclosed && !IsRefusal(r)) continue;
      for (const auto& c : r.categories()) (disclosed ? by_category[c.name()].first : by_category[c.name()].second)++;
      auto& pair = by_pair[r.source_partner() + " \u2192 " + r.recipient_partner()];
      (disclosed ? pair.first : pair.second)++;
    }
  }
  if (by_pair.empty()) return "<p>No disclosures or refusals in this report's records.</p>";
  // The total row counts each exchange once (from the from -> to rows: a
  // disclosure of several categories is in several category rows).
  int exchanges_disclosed = 0, exchanges_refused = 0;
  for (const auto& [name, n] : by_pair) exchanges_disclosed += n.first, exchanges_refused += n.second;
  auto table = [&](const std::string& key, const std::map<std::string, std::pair<int, int>>& rows, bool per_category) {
    std::string h = "<table class=\"totals\"><tr><th>" + key +
                    "</th><th class=\"n\">disclosed</th><th class=\"n\">refused</th></tr>";
    for (const auto& [name, n] : rows) h += "<tr><td>" + HtmlEscape(name) + "</td>" + N(n.first) + N(n.second) + "</tr>";
    return h + "<tr class=\"total\"><td>" + (per_category ? "total (each exchange once)" : "total") + "</td>" +
           N(exchanges_disclosed) + N(exchanges_refused) + "</tr></table>";
  };
  return "<h3>By category</h3>" + table("category", by_category, true) +
         "<p class=\"legend\"><small>A disclosure or refusal of several categories counts in each category's row; "
         "the total counts each once.</small></p><h3>From \u2192 to</h3>" + table("from \u2192 to", by_pair, false);
}

std::string Scope(const ReportOptions& o) {
  std::string s;
  if (!o.case_id.empty()) s += " case " + o.case_id + ",";
  if (!o.partner.empty()) s += " partner " + o.partner + ",";
  if (o.from_millis != 0 || o.to_millis != 0) {
    s += std::string(" records") + (o.from_millis != 0 ? " from " + FormatRfc3339Millis(o.from_millis) : "") +
         (o.to_millis != 0 ? " before " + FormatRfc3339Millis(o.to_millis) : "") + ",";
  }
  if (!s.empty()) s.pop_back();
  return s;
}

}  // namespace

Result<int64_t> ParseReportTime(std::string_view text, bool end_of_period) {
  auto bad = [&] {
    return InvalidArgumentError("'" + std::string(text.substr(0, 64)) +
                                "' is not a date (2026-11-22) or an RFC 3339 time (2026-11-22T14:30:00Z, "
                                "2026-11-22T15:30:00.250+01:00)");
  };
  auto digits = [&](size_t pos, size_t n, int& out) {
    if (pos + n > text.size()) return false;
    out = 0;
    for (size_t i = pos; i < pos + n; ++i) {
      if (text[i] < '0' || text[i] > '9') return false;
      out = out * 10 + (text[i] - '0');
    }
    return true;
  };
  int year, month, day;
  if (text.size() < 10 || !digits(0, 4, year) || text[4] != '-' || !digits(5, 2, month) || text[7] != '-' ||
      !digits(8, 2, day) || year < 1970 || month < 1 || month > 12 || day < 1 || day > 31) {
    return bad();
  }
  // Days since the epoch (proleptic Gregorian; Howard Hinnant's days_from_civil).
  auto days_from_civil = [](int64_t y, int64_t m, int64_t d) {
    y -= m <= 2;
    const int64_t era = y / 400;
    const int64_t yoe = y - era * 400;
    const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
  };
  static constexpr int kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  if (day > kDays[month - 1] || (month == 2 && day == 29 && !leap)) return bad();
  constexpr int64_t kDayMs = 86'400'000;
  int64_t ms = days_from_civil(year, month, day) * kDayMs;
  if (text.size() == 10) return end_of_period ? ms + kDayMs : ms;  // a date: --to takes the whole day
  int hour, minute, second;
  if ((text[10] != 'T' && text[10] != 't' && text[10] != ' ') || !digits(11, 2, hour) || text.size() < 19 ||
      text[13] != ':' || !digits(14, 2, minute) || text[16] != ':' || !digits(17, 2, second) || hour > 23 ||
      minute > 59 || second > 60) {
    return bad();
  }
  ms += ((hour * 60 + minute) * 60 + std::min(second, 59)) * int64_t{1000};
  size_t pos = 19;
  if (pos < text.size() && text[pos] == '.') {
    size_t first = ++pos;
    int64_t frac = 0, scale = 100;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      frac += (text[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == first || pos - first > 9) return bad();
    ms += frac;
  }
  if (pos == text.size()) return bad();  // RFC 3339 needs the offset
  if ((text[pos] == 'Z' || text[pos] == 'z') && pos + 1 == text.size()) return ms;
  int oh, om;
  if (pos + 6 != text.size() || (text[pos] != '+' && text[pos] != '-') || !digits(pos + 1, 2, oh) ||
      text[pos + 3] != ':' || !digits(pos + 4, 2, om) || oh > 23 || om > 59) {
    return bad();
  }
  const int64_t offset = (oh * 60 + om) * int64_t{60'000};
  return text[pos] == '+' ? ms - offset : ms + offset;
}

Result<std::string> RenderHtmlReport(const LogReader& reader, const VerifyReport& v, const ReportOptions& options) {
  if (options.from_millis != 0 && options.to_millis != 0 && options.to_millis <= options.from_millis) {
    return InvalidArgumentError("the period is empty: --to (" + FormatRfc3339Millis(options.to_millis) +
                                ") is not after --from (" + FormatRfc3339Millis(options.from_millis) + ")");
  }
  std::map<std::string, std::vector<AuditRecord>> cases;
  // Referral events written before the case existed (received) carry no case
  // id: they belong to the case whose referral-accepted record names the same
  // referral id.
  std::vector<AuditRecord> caseless_referrals;
  std::map<std::string, std::string> case_of_referral;
  // Permitting decisions by message id, to complete an older gateway's
  // disclosure records (no purpose, basis, phase or rules of their own).
  std::unordered_map<std::string, DecidedAs> decided;
  std::set<std::string> partners_seen;
  std::set<std::string> involved_cases;  // --partner: the cases it takes part in
  uint64_t erased = 0, total = 0, completed = 0;
  const bool by_partner = !options.partner.empty();
  auto in_period = [&](const AuditRecord& r) {
    const int64_t t = IsMoment(r) ? MomentMillis(r) : r.time_unix_millis();
    return (options.from_millis == 0 || t >= options.from_millis) && (options.to_millis == 0 || t < options.to_millis);
  };
  // Whether the record goes in: its case, its time and, with --partner, the
  // partner's exchanges and every marked moment of a case (the partner's
  // cases are known only at the end; moments are few).
  auto keep = [&](const AuditRecord& r, const std::string& case_id) {
    if (!options.case_id.empty() && case_id != options.case_id) return false;
    if (!in_period(r)) return false;
    if (!by_partner) return true;
    if (Involves(r, options.partner)) {
      involved_cases.insert(case_id);
      return true;
    }
    // Another partner's moment that is itself a refusal (handover data
    // withheld) is theirs, not the case's context.
    return IsMoment(r) && !IsRefusal(r) && !IsDisclosure(r);
  };
  KP_RETURN_IF_ERROR(reader.ForEachEntry([&](const LogEntry& e) {
    ++total;
    if (e.erased) {
      ++erased;
      return OkStatus();
    }
    const AuditRecord& r = e.record;
    if (!r.source_partner().empty()) partners_seen.insert(r.source_partner());
    if (!r.recipient_partner().empty()) partners_seen.insert(r.recipient_partner());
    if (r.event() == v1::AUDIT_EVENT_DECISION && r.decision().verdict() == v1::AUDIT_VERDICT_PERMIT &&
        !r.message_id().empty() && (!by_partner || Involves(r, options.partner)) &&
        (options.case_id.empty() || r.case_id() == options.case_id)) {
      DecidedAs& d = decided[r.message_id()];
      d.purpose = r.purpose();
      d.legal_basis = r.legal_basis();
      d.phase = r.phase();
      d.decision = r.decision();
      d.categories.assign(r.categories().begin(), r.categories().end());
    }
    if (r.has_referral() && !r.referral().referral_id().empty()) {
      if (!r.case_id().empty()) {
        case_of_referral.emplace(r.referral().referral_id(), r.case_id());
      } else {
        caseless_referrals.push_back(r);
        return OkStatus();
      }
    }
    if (!keep(r, r.case_id())) return OkStatus();
    AuditRecord& kept = cases[r.case_id()].emplace_back(r);
    if (IsDisclosure(kept) && !kept.message_id().empty()) {
      if (auto it = decided.find(kept.message_id()); it != decided.end() && Complete(&kept, it->second)) ++completed;
    }
    return OkStatus();
  }));
  for (auto& r : caseless_referrals) {
    auto it = case_of_referral.find(r.referral().referral_id());
    std::string id = it == case_of_referral.end() ? "" : it->second;
    if (!keep(r, id)) continue;
    cases[id].push_back(std::move(r));
  }
  if (by_partner) {
    for (auto it = cases.begin(); it != cases.end();) {
      it = involved_cases.count(it->first) != 0 ? std::next(it) : cases.erase(it);
    }
  }
  if (cases.empty()) {
    std::string msg = "no records";
    if (!options.case_id.empty()) msg += " of case " + options.case_id;
    if (by_partner) msg += " involving partner " + options.partner;
    if (options.from_millis != 0) msg += " from " + FormatRfc3339Millis(options.from_millis);
    if (options.to_millis != 0) msg += " before " + FormatRfc3339Millis(options.to_millis);
    msg += " in " + reader.dir() + " (" + std::to_string(total) + " entries, " + std::to_string(erased) + " erased)";
    if (by_partner && partners_seen.count(options.partner) == 0 && !partners_seen.empty()) {
      std::string names;
      for (const auto& p : partners_seen) names += (names.empty() ? "" : ", ") + p;
      msg += "; partner " + options.partner + " appears nowhere in it (partners in it: " + names + ")";
    }
    return NotFoundError(msg + "; no report written");
  }
  for (auto& [id, records] : cases) {
    std::stable_sort(records.begin(), records.end(),
                     [](const AuditRecord& a, const AuditRecord& b) { return a.index() < b.index(); });
  }

  const std::string scope = Scope(options);
  std::string h = "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Ketenpoort audit report";
  if (!scope.empty()) h += " \u2014" + HtmlEscape(scope);
  h += "</title><style>" + std::string(kStyle) + "</style></head><body>";
  h += "<h1>Ketenpoort audit report" + (scope.empty() ? "" : " \u2014" + HtmlEscape(scope)) + "</h1>";
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
       std::to_string(cases.size()) + " case(s) in this report" +
       (scope.empty() ? "" : " (" + HtmlEscape(scope.substr(1)) + ")") + ".";
  if (by_partner) {
    h += " Each case shows " + HtmlEscape(options.partner) +
         "'s exchanges and the case's marked moments (phases, handovers, acute windows).";
  }
  h += "</p>";
  if (completed > 0) {
    h += "<p class=\"warn\">" + std::to_string(completed) +
         " disclosure record(s) written without purpose, legal basis, phase, rules or policy version of their own "
         "(an older gateway) are shown with those of their decision record (the same message id).</p>";
  }
  const bool compact = cases.size() > kMaxWholeCases;
  if (compact) {
    h += "<p class=\"warn\">" + std::to_string(cases.size()) + " cases: each is listed with its summary, disclosures "
         "and refusals; the totals and the marked disclosures below cover them all. <code>--case ID</code> draws one "
         "case whole (timeline, story, flow picture, every event).</p>";
  }
  // Totals, then the disclosures a privacy officer looks at first.
  if (by_partner) h += "<h2>Totals for partner " + HtmlEscape(options.partner) + "</h2>" + PartnerTotals(options.partner, cases);
  if (!by_partner) h += "<h2>Totals</h2>" + ExchangeTotals(cases);
  if (options.case_id.empty()) h += "<h2>Totals per case</h2>" + CaseTotals(cases);
  std::vector<AuditRecord> flagged;
  for (const auto& [id, records] : cases) {
    for (const auto& r : records) {
      if (IsDisclosure(r) && !Flags(r).empty()) flagged.push_back(r);
    }
  }
  if (!flagged.empty()) {
    h += "<h2>Disclosures to review first</h2><p>" + std::to_string(flagged.size()) +
         " disclosure(s) the policy flagged to notify the privacy officer, or permitted on a written justification or "
         "a conflict-of-duties weighing.</p>" + DisclosureTable(flagged, true);
  }
  for (const auto& [case_id, records] : cases) {
    h += CaseSection(case_id.empty() ? "(no case: log-wide events)" : case_id, records, !case_id.empty(), compact);
  }
  h += "</body></html>\n";
  return h;
}

}  // namespace kp::audit
