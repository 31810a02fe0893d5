// Mijn casussen: every case with its phase, how long it has been open, the
// time left, answers that came in since it was last looked at, requests
// still waiting, fragments that must go soon; cases offered to this
// coordinator; referrals waiting; notices. And /live, the event stream that
// tells an open page that something came in.
#include <spdlog/spdlog.h>

#include "console/desk.h"
#include "console/view.h"

namespace kp::console {
namespace {

namespace v1 = ketenpoort::v1;

constexpr int64_t kExpiringWithin = 14 * kDay;
constexpr int kLiveKeepAliveMs = 15000;

// The deadline a coordinator must watch: an acute window, else the end of
// their coordination; empty when neither applies.
void AddDeadline(const v1::CaseStatus& st, int64_t now, mu::data& row) {
  if (st.acute_until_ms() > 0) {
    row.set("termijn", "acuut venster " + TimeLeftText(st.acute_until_ms(), now));
    row.set("termijn_tot", DateTimeText(st.acute_until_ms()));
    row.set("termijn_dringend", mu::data(st.acute_until_ms() - now < kDay));
  } else if (st.coordination_ends_ms() > 0) {
    row.set("termijn", "regie " + TimeLeftText(st.coordination_ends_ms(), now));
    row.set("termijn_tot", DateText(st.coordination_ends_ms()));
    row.set("termijn_dringend", mu::data(st.coordination_ends_ms() - now < 14 * kDay));
  }
}

mu::data CaseRow(const Desk& desk, const client::CoordinatorStore::CaseSummary& c, int64_t now) {
  const auto& p = desk.policy();
  mu::data row;
  const v1::CaseStatus st = c.status.has_value() ? c.status->status : v1::CaseStatus();
  const std::string phase = st.phase().empty() ? c.info.phase : st.phase();
  row.set("id", c.info.id);
  row.set("doel", PurposeText(p, c.info.purpose));
  row.set("fase", PhaseText(p, phase));
  row.set("open", DaysText(c.info.opened_ms, now));
  row.set("geopend", DateText(c.info.opened_ms));
  if (!st.coordinator().empty()) {
    row.set("regisseur", st.coordinator() == desk.me() ? std::string("u") : st.coordinator());
  }
  row.set("partners", std::to_string(st.members_size() > 0 ? static_cast<size_t>(st.members_size()) : c.partners));
  row.set("wachtend", std::to_string(c.waiting));
  row.set("heeft_wachtend", mu::data(c.waiting > 0));
  row.set("nieuw", std::to_string(c.new_answers));
  row.set("heeft_nieuw", mu::data(c.new_answers > 0));
  row.set("verlopend", std::to_string(c.expiring));
  row.set("heeft_verlopend", mu::data(c.expiring > 0));
  if (!c.info.closed) AddDeadline(st, now, row);
  if (!st.pending_handover_to().empty()) {
    row.set("overdracht", "aangeboden aan " + st.pending_handover_to() + ", " +
                              TimeLeftText(st.pending_handover_expires_ms(), now));
  }
  return row;
}

void ShowCases(Desk& desk, Page& page) {
  const int64_t now = desk.clock().NowMillis();
  auto listed = desk.With([&](client::Coordinator& c) -> Result<std::pair<std::vector<client::CoordinatorStore::CaseSummary>, size_t>> {
    KP_ASSIGN_OR_RETURN(auto cases, c.store().CaseSummaries(now + kExpiringWithin));
    KP_ASSIGN_OR_RETURN(auto referrals, c.store().Referrals());
    size_t waiting = 0;
    for (const auto& r : referrals) {
      if (r.received && r.state == v1::REFERRAL_STATE_WAITING) ++waiting;
    }
    return std::make_pair(std::move(cases), waiting);
  });
  if (!listed.ok()) {
    spdlog::error("console: the case list could not be read: {}", listed.status().message());
    desk.ShowMessage(page, 500, "Mijn casussen", "De casussen op deze computer konden niet worden gelezen: " +
                                                      listed.status().message());
    return;
  }
  // Signals of watches since each case was last looked at (page_watch.cc).
  auto new_signals = desk.With([](client::Coordinator& c) { return c.store().NewSignalCounts(); });
  mu::data open = mu::data::type::list, closed = mu::data::type::list;
  for (const auto& c : listed->first) {
    mu::data row = CaseRow(desk, c, now);
    const size_t signals = new_signals.ok() && new_signals->count(c.info.id) ? new_signals->at(c.info.id) : 0;
    if (signals > 0) {
      row.set("signalen", signals == 1 ? std::string("nieuw signaal") : std::to_string(signals) + " nieuwe signalen");
    }
    (c.info.closed ? closed : open).push_back(row);
  }
  mu::data d;
  d.set("open", open);
  d.set("heeft_open", mu::data(!listed->first.empty() && !open.is_empty_list()));
  d.set("gesloten", closed);
  d.set("heeft_gesloten", mu::data(!closed.is_empty_list()));
  d.set("aantal_gesloten", std::to_string(closed.is_empty_list() ? 0 : listed->first.size()));
  d.set("aanmeldingen", listed->second == 1 ? std::string("Er wacht een aanmelding")
                                            : "Er wachten " + std::to_string(listed->second) + " aanmeldingen");
  d.set("heeft_aanmeldingen", mu::data(listed->second > 0));
  mu::data offers = mu::data::type::list, notices = mu::data::type::list;
  for (const auto& n : desk.Notices()) {
    mu::data item;
    item.set("wanneer", DateTimeText(n.at_ms));
    item.set("tekst", n.text);
    item.set("casus", n.case_id);
    item.set("heeft_casus", mu::data(!n.case_id.empty()));
    if (n.offer_to_me) offers.push_back(item);
    notices.push_back(item);
  }
  d.set("aanbiedingen", offers);
  d.set("heeft_aanbiedingen", mu::data(!offers.is_empty_list()));
  d.set("meldingen", notices);
  d.set("heeft_meldingen", mu::data(!notices.is_empty_list()));
  desk.Show(page, "Mijn casussen", "cases.mustache", d, "casussen");
}

}  // namespace

void RegisterCasesPages(Desk& desk) {
  desk.Get("/", ShowCases);
  // Server-sent events: "nieuw" with the new version whenever something
  // came in; a comment every 15 s keeps the connection open.
  desk.Get("/live", [](Desk& d, Page& page) {
    uint64_t seen = 0;
    try {
      seen = std::stoull(page.Value("sinds"));
    } catch (...) {
      seen = d.version();
    }
    page.res.set_header("X-Accel-Buffering", "no");
    page.res.set_chunked_content_provider(
        "text/event-stream", [&d, seen](size_t, httplib::DataSink& sink) mutable {
          if (d.stopping()) return false;
          const uint64_t now = d.AwaitChange(seen, kLiveKeepAliveMs);
          if (d.stopping()) return false;
          std::string event = now != seen ? "event: nieuw\ndata: " + std::to_string(now) + "\n\n" : ": nog hier\n\n";
          seen = now;
          return sink.write(event.data(), event.size());
        });
  });
}

}  // namespace kp::console
