// The privacy officer's report on a case's life: the referral it came from,
// handovers and stand-ins as marked moments, acute windows, partners
// removed, phases; and the text `audit show` and the report give each of the
// new events. Logs are built with a manual clock, so every time is fixed.
// Set KP_REPORT_SAMPLE_DIR to keep the rendered reports (to look at them in a
// browser: docs/audit-log-format.md §11).
#include <cstdlib>
#include <fstream>
#include <regex>

#include "core/audit/log_reader.h"
#include "core/audit/log_verifier.h"
#include "core/audit/log_writer.h"
#include "core/audit/record_text.h"
#include "core/audit/report.h"
#include "tests/audit/audit_test_util.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_time.h"

namespace kp::audit {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

namespace v1 = ketenpoort::v1;
using ::kp::audit::testing::TestSigner;
using ::kp::testing::IsOk;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr int64_t kStart = 1'790'000'000'000;  // 2026-09-21T14:13:20Z
using test::kHour;
using test::kDay;

v1::AuditRecord Rec(v1::AuditEvent event, const std::string& case_id, const std::string& actor,
                    const std::string& partner) {
  v1::AuditRecord r;
  r.set_event(event);
  r.set_case_id(case_id);
  r.mutable_actor()->set_participant_id(actor);
  r.mutable_actor()->set_partner(partner);
  return r;
}

v1::AuditRecord Referral(v1::AuditEvent event, const std::string& case_id, const std::string& id,
                         const std::string& reference, const std::string& actor, const std::string& partner) {
  v1::AuditRecord r = Rec(event, case_id, actor, partner);
  auto* f = r.mutable_referral();
  f->set_referral_id(id);
  f->set_reference(reference);
  f->set_referrer("vt-medewerker-03");
  f->add_reason_codes("herhaald-geweld");
  f->add_reason_codes("kinderen-betrokken");
  f->set_subjects(3);
  r.set_recipient_partner("veiligheidshuis");
  return r;
}

v1::AuditRecord Handover(v1::AuditEvent event, const std::string& case_id, const std::string& actor,
                         const std::string& from, const std::string& to, const std::string& reason,
                         int64_t offered, int64_t expires, int64_t stand_in_until = 0) {
  v1::AuditRecord r = Rec(event, case_id, actor, "");
  auto* h = r.mutable_handover();
  h->set_from(from);
  h->set_to(to);
  h->set_reason_code(reason);
  h->set_offered_unix_millis(offered);
  h->set_expires_unix_millis(expires);
  h->set_stand_in_until_unix_millis(stand_in_until);
  return r;
}

v1::AuditRecord Exchange(v1::AuditEvent event, const std::string& case_id, const std::string& source) {
  v1::AuditRecord r = Rec(event, case_id, "vht-casusregisseur-01", "veiligheidshuis");
  r.set_source_partner(source);
  r.set_recipient_partner("veiligheidshuis");
  r.add_categories()->set_name(source + "-gegevens");
  r.set_purpose("veiligheidsplan");
  if (event == v1::AUDIT_EVENT_REFUSED) r.set_reason("no consent recorded");
  return r;
}

constexpr char kCase[] = "VHT-2026-0107";
constexpr char kAcute[] = "ACUUT-2026-0003";
constexpr char kLapsedAcute[] = "ACUUT-2026-0004";

class ReportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    LogWriterOptions opts;
    opts.clock = &clock_;
    opts.checkpoint_every_records = 16;
    opts.checkpoint_every_millis = INT64_MAX / 2;
    auto w = LogWriter::Open(dir(), TestSigner(), opts);
    ASSERT_THAT(w, IsOk());
    writer_ = std::move(w).value();

    // Veilig Thuis refers a family; the Veiligheidsteam accepts two hours later.
    At(0, Referral(v1::AUDIT_EVENT_REFERRAL_RECEIVED, "", "ref-1", "VT-2026-118", "vt-medewerker-03", "veilig-thuis"));
    At(2 * kHour, Referral(v1::AUDIT_EVENT_REFERRAL_ACCEPTED, kCase, "ref-1", "VT-2026-118", "vht-casusregisseur-01",
                           "veiligheidshuis"));
    auto open = Rec(v1::AUDIT_EVENT_CASE_OPENED, kCase, "vht-casusregisseur-01", "veiligheidshuis");
    open.set_phase("1-signalering");
    open.set_reason("3 subject(s) committed");
    At(2 * kHour, open);
    for (const char* p : {"veilig-thuis", "politie", "wijkteam"}) {
      auto admit = Rec(v1::AUDIT_EVENT_PARTNER_ADMITTED, kCase, "vht-casusregisseur-01", "veiligheidshuis");
      admit.set_recipient_partner(p);
      At(2 * kHour, admit);
    }
    At(3 * kHour, Exchange(v1::AUDIT_EVENT_DELIVERED, kCase, "politie"));
    At(3 * kHour, Exchange(v1::AUDIT_EVENT_DELIVERED, kCase, "veilig-thuis"));
    At(3 * kHour, Exchange(v1::AUDIT_EVENT_REFUSED, kCase, "wijkteam"));
    auto phase = Rec(v1::AUDIT_EVENT_PHASE_CHANGED, kCase, "vht-casusregisseur-01", "veiligheidshuis");
    phase.set_phase("3-plan-van-aanpak");
    At(5 * kDay, phase);
    // An offer nobody accepts lapses; one is cancelled; then the handover.
    At(6 * kDay, Handover(v1::AUDIT_EVENT_HANDOVER_OFFERED, kCase, "vht-casusregisseur-01", "vht-casusregisseur-01",
                          "wijkteam-02", "naar-wijkteam", Abs(6 * kDay), Abs(8 * kDay)));
    At(9 * kDay, Handover(v1::AUDIT_EVENT_HANDOVER_LAPSED, kCase, "gateway", "vht-casusregisseur-01", "wijkteam-02",
                          "naar-wijkteam", Abs(6 * kDay), Abs(8 * kDay)));
    At(10 * kDay, Handover(v1::AUDIT_EVENT_HANDOVER_OFFERED, kCase, "vht-casusregisseur-01", "vht-casusregisseur-01",
                           "wijkteam-01", "naar-wijkteam", Abs(10 * kDay), Abs(17 * kDay)));
    auto cancel = Handover(v1::AUDIT_EVENT_HANDOVER_CANCELLED, kCase, "vht-casusregisseur-01", "vht-casusregisseur-01",
                           "wijkteam-01", "naar-wijkteam", Abs(10 * kDay), Abs(17 * kDay));
    cancel.set_reason("verkeerde-ontvanger");
    At(10 * kDay + kHour, cancel);
    At(11 * kDay, Handover(v1::AUDIT_EVENT_HANDOVER_OFFERED, kCase, "vht-casusregisseur-01", "vht-casusregisseur-01",
                           "wijkteam-01", "naar-wijkteam", Abs(11 * kDay), Abs(18 * kDay)));
    At(12 * kDay, Handover(v1::AUDIT_EVENT_HANDOVER_ACCEPTED, kCase, "wijkteam-01", "vht-casusregisseur-01",
                           "wijkteam-01", "naar-wijkteam", Abs(11 * kDay), Abs(18 * kDay)));
    auto data = Handover(v1::AUDIT_EVENT_HANDOVER_DATA, kCase, "vht-casusregisseur-01", "vht-casusregisseur-01",
                         "wijkteam-01", "naar-wijkteam", Abs(11 * kDay), Abs(18 * kDay));
    data.mutable_payload()->set_ciphertext_bytes(48'213);
    At(12 * kDay + 60'000, data);
    // The police's answer stayed behind: the policy does not give it to the wijkteam.
    auto withheld = Handover(v1::AUDIT_EVENT_HANDOVER_DATA_WITHHELD, kCase, "gateway", "vht-casusregisseur-01",
                             "wijkteam-01", "", 0, 0);
    withheld.set_source_partner("politie");
    withheld.add_categories()->set_name("politie-incidenten");
    withheld.set_recipient_partner("wijkteam");
    withheld.set_reason("no rule permits it");
    At(12 * kDay + 60'001, withheld);
    // A stand-in for two weeks; the gateway notices its end a day late.
    At(40 * kDay, Handover(v1::AUDIT_EVENT_HANDOVER_OFFERED, kCase, "wijkteam-01", "wijkteam-01", "wijkteam-03",
                           "vakantie", Abs(40 * kDay), Abs(41 * kDay), Abs(54 * kDay)));
    At(40 * kDay + kHour, Handover(v1::AUDIT_EVENT_HANDOVER_ACCEPTED, kCase, "wijkteam-03", "wijkteam-01",
                                   "wijkteam-03", "vakantie", Abs(40 * kDay), Abs(41 * kDay), Abs(54 * kDay)));
    At(54 * kDay + 6 * kHour, Exchange(v1::AUDIT_EVENT_DELIVERED, kCase, "veilig-thuis"));
    // As the gateway writes it: from the stand-in to whom it stood in for.
    At(55 * kDay, Handover(v1::AUDIT_EVENT_STAND_IN_ENDED, kCase, "gateway", "wijkteam-03", "wijkteam-01",
                           "einde-waarneming", 0, 0, Abs(54 * kDay)));
    auto removed = Rec(v1::AUDIT_EVENT_PARTNER_REMOVED, kCase, "wijkteam-01", "gemeente");
    removed.set_recipient_partner("politie");
    removed.set_reason("geen-rol-meer");
    At(60 * kDay, removed);

    // Samen op in Acuut: opened by the police at night, handed to Veilig Thuis the next morning.
    auto acute = Rec(v1::AUDIT_EVENT_ACUTE_OPENED, kAcute, "politie-agent-12", "politie");
    acute.set_phase("acute-veiligheid");
    acute.set_acute_until_unix_millis(Abs(70 * kDay + 72 * kHour));
    At(70 * kDay, acute);
    for (const char* p : {"veilig-thuis", "cit"}) {
      auto admit = Rec(v1::AUDIT_EVENT_PARTNER_ADMITTED, kAcute, "politie-agent-12", "politie");
      admit.set_recipient_partner(p);
      admit.set_acute_until_unix_millis(Abs(70 * kDay + 72 * kHour));
      At(70 * kDay, admit);
    }
    At(70 * kDay + kHour, Exchange(v1::AUDIT_EVENT_DELIVERED, kAcute, "veilig-thuis"));
    At(70 * kDay + 2 * kHour, Handover(v1::AUDIT_EVENT_HANDOVER_OFFERED, kAcute, "politie-agent-12",
                                       "politie-agent-12", "vt-casusregisseur-07", "naar-veilig-thuis",
                                       Abs(70 * kDay + 2 * kHour), Abs(71 * kDay)));
    At(70 * kDay + 9 * kHour, Handover(v1::AUDIT_EVENT_HANDOVER_ACCEPTED, kAcute, "vt-casusregisseur-07",
                                       "politie-agent-12", "vt-casusregisseur-07", "naar-veilig-thuis",
                                       Abs(70 * kDay + 2 * kHour), Abs(71 * kDay)));

    // An acute case nobody handed over: its window ends, requests are refused.
    auto acute2 = Rec(v1::AUDIT_EVENT_ACUTE_OPENED, kLapsedAcute, "cit-medewerker-02", "cit");
    acute2.set_phase("acute-veiligheid");
    acute2.set_acute_until_unix_millis(Abs(80 * kDay + 72 * kHour));
    At(80 * kDay, acute2);
    auto ended = Rec(v1::AUDIT_EVENT_ACUTE_WINDOW_ENDED, kLapsedAcute, "gateway", "");
    ended.set_acute_until_unix_millis(Abs(80 * kDay + 72 * kHour));
    At(84 * kDay, ended);
    At(84 * kDay + kHour, Exchange(v1::AUDIT_EVENT_REFUSED, kLapsedAcute, "politie"));
    // Handed over late: the refusals end.
    At(85 * kDay, Handover(v1::AUDIT_EVENT_HANDOVER_ACCEPTED, kLapsedAcute, "vt-casusregisseur-07",
                           "cit-medewerker-02", "vt-casusregisseur-07", "naar-veilig-thuis", Abs(84 * kDay),
                           Abs(86 * kDay)));

    // Referrals that never became a case.
    At(90 * kDay, Referral(v1::AUDIT_EVENT_REFERRAL_RECEIVED, "", "ref-2", "VT-2026-131", "vt-medewerker-03",
                           "veilig-thuis"));
    auto declined = Referral(v1::AUDIT_EVENT_REFERRAL_DECLINED, "", "ref-2", "VT-2026-131", "vht-casusregisseur-01",
                             "veiligheidshuis");
    declined.mutable_referral()->set_decline_reason("geen-hoog-risico");
    At(91 * kDay, declined);
    At(92 * kDay, Referral(v1::AUDIT_EVENT_REFERRAL_RECEIVED, "", "ref-3", "VT-2026-140", "vt-medewerker-03",
                           "veilig-thuis"));
    At(106 * kDay, Referral(v1::AUDIT_EVENT_REFERRAL_EXPIRED, "", "ref-3", "VT-2026-140", "gateway", ""));
    ASSERT_THAT(writer_->Close(), IsOk());
  }

  static int64_t Abs(int64_t offset) { return kStart + offset; }
  void At(int64_t offset, const v1::AuditRecord& r) {
    clock_.Set(kStart + offset);
    ASSERT_THAT(writer_->Append(r), IsOk());
  }

  std::string Render(const std::string& case_id, const std::string& name) {
    VerifyOptions vopts;
    vopts.key = TestSigner().verifier_key();
    VerifyReport rep = VerifyLog(dir(), vopts);
    EXPECT_TRUE(rep.status.ok()) << rep.status.message();
    auto reader = LogReader::Open(dir());
    EXPECT_THAT(reader, IsOk());
    ReportOptions ropts;
    ropts.case_id = case_id;
    ropts.generated_at_millis = Abs(120 * kDay);
    auto html = RenderHtmlReport(**reader, rep, ropts);
    EXPECT_THAT(html, IsOk());
    if (const char* out = std::getenv("KP_REPORT_SAMPLE_DIR"); out != nullptr && html.ok()) {
      std::ofstream(std::string(out) + "/" + name + ".html") << *html;
    }
    return html.ok() ? *html : "";
  }

  // The case story table of a rendered case.
  static std::string StoryOf(const std::string& html) {
    size_t a = html.find("<h3>Case story</h3>");
    if (a == std::string::npos) return "";
    return html.substr(a, html.find("</table>", a) - a);
  }

  // Asserts that the needles appear in this order in the haystack.
  static void ExpectInOrder(const std::string& hay, const std::vector<std::string>& needles) {
    size_t at = 0;
    for (const auto& n : needles) {
      size_t f = hay.find(n, at);
      ASSERT_NE(f, std::string::npos) << "'" << n << "' not found after offset " << at;
      at = f + n.size();
    }
  }

  std::string dir() const { return tmp_.path() + "/log"; }

  ::kp::testing::TempDir tmp_;
  ManualClock clock_{kStart};
  std::unique_ptr<LogWriter> writer_;
};

TEST_F(ReportTest, CaseStoryShowsReferralHandoversStandInAndRemovalInOrder) {
  std::string story = StoryOf(Render(kCase, "referral-case"));
  ASSERT_FALSE(story.empty());
  ExpectInOrder(story, {
                           "referral-received",
                           "referral VT-2026-118 from vt-medewerker-03 to veiligheidshuis; reasons: herhaald-geweld, "
                           "kinderen-betrokken; 3 subject(s)",
                           "referral-accepted",
                           "accepted by vht-casusregisseur-01, case VHT-2026-0107 opened on it",
                           "case-opened",
                           "partner veilig-thuis admitted",
                           "partner politie admitted",
                           "partner wijkteam admitted",
                           "2 disclosure(s) delivered, 1 refused",
                           "phase 3-plan-van-aanpak",
                           "handover offered from vht-casusregisseur-01 to wijkteam-02; reason: naar-wijkteam",
                           "handover-lapsed",
                           "lapsed unaccepted at 2026-09-29 14:13 UTC; the case stays with vht-casusregisseur-01",
                           "handover-cancelled",
                           "reason: verkeerde-ontvanger",
                           "handover-accepted",
                           "handover from vht-casusregisseur-01 to wijkteam-01; reason: naar-wijkteam",
                           "wijkteam-01 coordinates from now",
                           "handover-data",
                           "48213 bytes",
                           "handover-data-withheld",
                           "handover data withheld from vht-casusregisseur-01 to wijkteam-01; answer of politie "
                           "(politie-incidenten); not for wijkteam; reason: no rule permits it",
                           "stand-in offered from wijkteam-01 to wijkteam-03; reason: vakantie; stand-in until "
                           "2026-11-14 14:13 UTC",
                           "stand-in from wijkteam-01 to wijkteam-03",
                           "stand-in-ended",
                           "the case is back with wijkteam-01",
                           // The gateway noticed the end a day late, after a delivery: the story puts the
                           // moment at the stand-in's end, before that delivery.
                           "1 disclosure(s) delivered",
                           "partner-removed",
                           "partner politie removed; reason: geen-rol-meer",
                       });
  // The coordinator lane: each coordinator one cell, in turn.
  ExpectInOrder(story, {">vht-casusregisseur-01</td>", ">wijkteam-01</td>",
                        ">wijkteam-03 (stand-in for wijkteam-01 until 2026-11-14 14:13 UTC)</td>",
                        ">wijkteam-01</td>"});
  ExpectInOrder(story, {">1-signalering</td>", ">3-plan-van-aanpak</td>"});
  // Handover moments are marked rows.
  EXPECT_THAT(story, HasSubstr("<tr class=\"moment handover\">"));
  // Another case's records stay out; a case never acute has no acute column.
  EXPECT_THAT(story, Not(HasSubstr(kAcute)));
  EXPECT_THAT(story, Not(HasSubstr("<th>acute window</th>")));
}

TEST_F(ReportTest, CaseSummaryNamesTheReferralAndWhereTheCaseStands) {
  std::string html = Render(kCase, "referral-case");
  EXPECT_THAT(html, HasSubstr("Opened on referral VT-2026-118 from vt-medewerker-03. Handed over 1 time(s). 1 stand-in(s). "
                              "Coordinator now: wijkteam-01. Phase: 3-plan-van-aanpak."));
}

TEST_F(ReportTest, AcuteWindowEndsWithTheHandover) {
  std::string story = StoryOf(Render(kAcute, "acute-case"));
  ExpectInOrder(story, {"acute-opened", "acute case opened by politie-agent-12 (politie) in phase acute-veiligheid; "
                                        "acute window until 2026-12-03 14:13 UTC",
                        "partner veilig-thuis admitted", "partner cit admitted", "1 disclosure(s) delivered",
                        "handover-offered", "handover-accepted", "this handover ends the acute window"});
  // The acute lane spans the rows up to the handover, then is empty.
  EXPECT_THAT(story, HasSubstr("<td class=\"lane acute\" rowspan=\"5\">acute window until 2026-12-03 14:13 UTC</td>"));
  EXPECT_THAT(story, HasSubstr(">vt-casusregisseur-07</td>"));
  EXPECT_THAT(story, HasSubstr("<th>acute window</th>"));
  EXPECT_THAT(story, Not(HasSubstr("acute-over")));
}

TEST_F(ReportTest, AcuteWindowEndedWithoutHandoverStandsOut) {
  std::string html = Render(kLapsedAcute, "acute-lapsed");
  std::string story = StoryOf(html);
  ExpectInOrder(story, {"acute-opened", "acute-window-ended",
                        "acute window ended at 2026-12-13 14:13 UTC without a handover; requests are refused",
                        "1 refused", "handover-accepted",
                        "this handover ends the refusals since the acute window ended"});
  EXPECT_THAT(story, HasSubstr("<td class=\"lane acute-over\" rowspan=\"2\">"));
  // The window's end is placed at its end, not when the gateway wrote it.
  EXPECT_THAT(story, HasSubstr("<td class=\"when\">2026-12-13 14:13 UTC</td>"));
}

TEST_F(ReportTest, ReferralsWithoutACaseAreListedWithTheirOutcome) {
  std::string html = Render("", "all");
  size_t nocase = html.find("<h2>Case (no case: log-wide events)</h2>");
  ASSERT_NE(nocase, std::string::npos);
  std::string section = html.substr(nocase, html.find("<h2>", nocase + 4) - nocase);
  EXPECT_THAT(section, HasSubstr("Referrals without a case"));
  EXPECT_THAT(section, HasSubstr("declined by vht-casusregisseur-01 on 2026-12-21 14:13 UTC, reason: geen-hoog-risico"));
  EXPECT_THAT(section, HasSubstr("lapsed on 2027-01-05 14:13 UTC, no coordinator decided"));
  // The accepted referral's receipt belongs to its case, not here.
  EXPECT_THAT(section, Not(HasSubstr("VT-2026-118")));
  EXPECT_THAT(html, HasSubstr("<h2>Case VHT-2026-0107</h2>"));
}

TEST_F(ReportTest, TimelineLabelsNeverOverlap) {
  for (const char* c : {kCase, kAcute, kLapsedAcute}) {
    std::string html = Render(c, "timeline");
    std::regex label("<text class=\"moment-label\" x=\"([0-9.]+)\" y=\"([0-9.]+)\"[^>]*text-anchor=\"(start|end)\">([^<]*)</text>");
    struct Box {
      double a, b, y;
    };
    std::vector<Box> boxes;
    for (std::sregex_iterator it(html.begin(), html.end(), label), end; it != end; ++it) {
      double x = std::stod((*it)[1]), y = std::stod((*it)[2]);
      // Width as rendered at 11 px is at most 7 px a character (HtmlEscape'd entities count as one).
      std::string text = std::regex_replace((*it)[4].str(), std::regex("&[a-z#0-9]+;"), "x");
      size_t chars = 0;
      for (unsigned char ch : text) chars += (ch & 0xC0) != 0x80 ? 1 : 0;
      double w = 7.0 * static_cast<double>(chars);
      boxes.push_back((*it)[3] == "start" ? Box{x, x + w, y} : Box{x - w, x, y});
    }
    EXPECT_GE(boxes.size(), 2u) << c;
    for (size_t i = 0; i < boxes.size(); ++i) {
      for (size_t j = i + 1; j < boxes.size(); ++j) {
        if (boxes[i].y != boxes[j].y) continue;
        EXPECT_TRUE(boxes[i].b <= boxes[j].a || boxes[j].b <= boxes[i].a)
            << c << ": labels " << i << " and " << j << " overlap on row " << boxes[i].y;
      }
    }
  }
}

TEST_F(ReportTest, ReportHoldsNoScriptsAndEscapesCodes) {
  std::string html = Render("", "all");
  EXPECT_THAT(html, Not(HasSubstr("<script")));
  EXPECT_THAT(html, Not(HasSubstr("src=")));
  // The handover arrow in a label is UTF-8, and the document says so.
  EXPECT_THAT(html, HasSubstr("<meta charset=\"utf-8\">"));
}

TEST_F(ReportTest, PartnerReportHasTotalsByCategoryAndCounterpartAndOnlyItsCases) {
  VerifyOptions vopts;
  vopts.key = TestSigner().verifier_key();
  VerifyReport rep = VerifyLog(dir(), vopts);
  auto reader = LogReader::Open(dir());
  ASSERT_THAT(reader, IsOk());
  ReportOptions o;
  o.partner = "wijkteam";
  auto html = RenderHtmlReport(**reader, rep, o);
  ASSERT_THAT(html, IsOk());
  EXPECT_THAT(*html, HasSubstr("<h1>Ketenpoort audit report \u2014 partner wijkteam</h1>"));
  EXPECT_THAT(*html, HasSubstr("<h2>Totals for partner wijkteam</h2>"));
  EXPECT_THAT(*html, HasSubstr("<h2>Case VHT-2026-0107</h2>"));
  EXPECT_THAT(*html, Not(HasSubstr("<h2>Case ACUUT-2026-0003</h2>")));  // wijkteam took no part
  // The wijkteam was asked once and refused (no consent): by category and by counterpart.
  EXPECT_THAT(*html, HasSubstr("<tr><td>wijkteam-gegevens</td><td class=\"n\">\u2013</td><td class=\"n\">\u2013</td>"
                               "<td class=\"n\">\u2013</td><td class=\"n\">1</td></tr>"));
  EXPECT_THAT(*html, HasSubstr("<tr><td>veiligheidshuis</td><td class=\"n\">\u2013</td><td class=\"n\">\u2013</td>"
                               "<td class=\"n\">\u2013</td><td class=\"n\">1</td></tr>"));
  // Other partners' exchanges in the case are left out; its moments stay.
  std::string section = html->substr(html->find("<h2>Case VHT-2026-0107</h2>"));
  EXPECT_THAT(section, Not(HasSubstr("politie-gegevens")));
  EXPECT_THAT(section, HasSubstr("handover-accepted"));

  o.partner = "politie";
  html = RenderHtmlReport(**reader, rep, o);
  ASSERT_THAT(html, IsOk());
  // Disclosed politie-gegevens once to the veiligheidshuis; refused once when asked in the lapsed acute case.
  EXPECT_THAT(*html, HasSubstr("<tr><td>politie-gegevens</td><td class=\"n\">1</td><td class=\"n\">\u2013</td>"
                               "<td class=\"n\">\u2013</td><td class=\"n\">1</td></tr>"));
}

TEST_F(ReportTest, PeriodReportCountsPerCase) {
  VerifyOptions vopts;
  vopts.key = TestSigner().verifier_key();
  VerifyReport rep = VerifyLog(dir(), vopts);
  auto reader = LogReader::Open(dir());
  ASSERT_THAT(reader, IsOk());
  ReportOptions o;
  o.from_millis = Abs(70 * kDay);
  o.to_millis = Abs(80 * kDay);
  auto html = RenderHtmlReport(**reader, rep, o);
  ASSERT_THAT(html, IsOk());
  EXPECT_THAT(*html, HasSubstr("<h2>Totals per case</h2>"));
  EXPECT_THAT(*html, HasSubstr("<h2>Case ACUUT-2026-0003</h2>"));
  EXPECT_THAT(*html, Not(HasSubstr("<h2>Case VHT-2026-0107</h2>")));
  EXPECT_THAT(*html, Not(HasSubstr("<h2>Case ACUUT-2026-0004</h2>")));  // opened on day 80: after the period
  EXPECT_THAT(*html, HasSubstr("<tr><td>ACUUT-2026-0003</td><td class=\"n\">1</td><td class=\"n\">\u2013</td>"
                               "<td>veilig-thuis-gegevens \u00d71</td>"));
  // And over the whole period, by category and by from -> to.
  EXPECT_THAT(*html, HasSubstr("<h2>Totals</h2><h3>By category</h3>"));
  EXPECT_THAT(*html, HasSubstr("<tr><td>veilig-thuis \u2192 veiligheidshuis</td><td class=\"n\">1</td>"
                               "<td class=\"n\">\u2013</td></tr>"));

  // One case's report has its totals too.
  o = ReportOptions();
  o.case_id = kLapsedAcute;
  html = RenderHtmlReport(**reader, rep, o);
  ASSERT_THAT(html, IsOk());
  EXPECT_THAT(*html, HasSubstr("<tr><td>politie-gegevens</td><td class=\"n\">\u2013</td><td class=\"n\">1</td></tr>"));
  EXPECT_THAT(*html, Not(HasSubstr("<h2>Totals per case</h2>")));
}

TEST_F(ReportTest, NothingToReportIsAnErrorThatSaysWhy) {
  VerifyOptions vopts;
  vopts.key = TestSigner().verifier_key();
  VerifyReport rep = VerifyLog(dir(), vopts);
  auto reader = LogReader::Open(dir());
  ASSERT_THAT(reader, IsOk());
  ReportOptions o;
  o.from_millis = Abs(200 * kDay);
  auto html = RenderHtmlReport(**reader, rep, o);
  ASSERT_FALSE(html.ok());
  EXPECT_EQ(html.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(html.status().message(), HasSubstr("no records from 2027-04-09T14:13:20.000Z"));
  EXPECT_THAT(html.status().message(), HasSubstr("no report written"));

  o = ReportOptions();
  o.partner = "ggz-breburg";
  html = RenderHtmlReport(**reader, rep, o);
  ASSERT_FALSE(html.ok());
  EXPECT_THAT(html.status().message(), HasSubstr("no records involving partner ggz-breburg"));
  EXPECT_THAT(html.status().message(), HasSubstr("appears nowhere in it (partners in it: cit, politie"));

  o = ReportOptions();
  o.case_id = "VHT-2099-0001";
  EXPECT_FALSE(RenderHtmlReport(**reader, rep, o).ok());

  o = ReportOptions();
  o.from_millis = Abs(2 * kDay);
  o.to_millis = Abs(kDay);
  html = RenderHtmlReport(**reader, rep, o);
  ASSERT_FALSE(html.ok());
  EXPECT_EQ(html.status().code(), StatusCode::kInvalidArgument);
}

// A small log of exchanges, written with a manual clock.
class DisclosureReportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    LogWriterOptions opts;
    opts.clock = &clock_;
    auto w = LogWriter::Open(dir(), TestSigner(), opts);
    ASSERT_THAT(w, IsOk());
    writer_ = std::move(w).value();
  }

  static v1::AuditRecord Decided(v1::AuditEvent event, const std::string& id, const std::string& source,
                                 const std::string& recipient, const std::string& rule) {
    v1::AuditRecord r;
    r.set_event(event);
    r.set_case_id("VT-2026-0042");
    r.set_message_id(id);
    r.mutable_actor()->set_participant_id(event == v1::AUDIT_EVENT_DECISION ? "vt-casusregisseur-07" : source + "-agent");
    r.mutable_actor()->set_partner(event == v1::AUDIT_EVENT_DECISION ? recipient : source);
    r.set_source_partner(source);
    r.set_recipient_partner(recipient);
    auto* c = r.add_categories();
    c->set_name(source + "-dossier");
    r.mutable_payload()->set_ciphertext_bytes(4096);
    if (event != v1::AUDIT_EVENT_DECISION) return r;  // an older gateway's delivery: ids, categories, size
    c->set_data_class(v1::DATA_CLASS_SPECIAL_ART9);
    c->set_regime(v1::DATA_REGIME_AVG);
    r.set_purpose("veiligheidsplan");
    r.set_legal_basis("jeugdwet-7-4-0");
    r.set_phase("acute-veiligheid");
    auto* d = r.mutable_decision();
    d->set_verdict(v1::AUDIT_VERDICT_PERMIT);
    d->add_rule_ids(rule);
    d->set_policy_sha256(std::string(32, '\x5a'));
    d->set_policy_version("veiligheidsteam-hvb 2026.1-example");
    d->mutable_obligations()->set_retention_days(365);
    return r;
  }

  void Write(const v1::AuditRecord& r) {
    clock_.Advance(60'000);
    ASSERT_THAT(writer_->Append(r), IsOk());
  }

  std::string Render(const std::string& name) {
    EXPECT_THAT(writer_->Close(), IsOk());
    VerifyOptions vopts;
    vopts.key = TestSigner().verifier_key();
    VerifyReport rep = VerifyLog(dir(), vopts);
    EXPECT_TRUE(rep.status.ok()) << rep.status.message();
    auto reader = LogReader::Open(dir());
    EXPECT_THAT(reader, IsOk());
    ReportOptions ropts;
    ropts.generated_at_millis = kStart;
    auto html = RenderHtmlReport(**reader, rep, ropts);
    EXPECT_THAT(html, IsOk());
    if (const char* out = std::getenv("KP_REPORT_SAMPLE_DIR"); out != nullptr && html.ok()) {
      std::ofstream(std::string(out) + "/" + name + ".html") << *html;
    }
    return html.ok() ? *html : "";
  }

  static void ExpectInOrder(const std::string& hay, const std::vector<std::string>& needles) {
    size_t at = 0;
    for (const auto& n : needles) {
      size_t f = hay.find(n, at);
      ASSERT_NE(f, std::string::npos) << "'" << n << "' not found after offset " << at;
      at = f + n.size();
    }
  }

  // The case's disclosures table.
  static std::string DisclosuresOf(const std::string& html) {
    size_t a = html.find("<h3>Disclosures</h3>");
    if (a == std::string::npos) return "";
    return html.substr(a, html.find("</table>", a) - a);
  }

  std::string dir() const { return tmp_.path() + "/log"; }

  ::kp::testing::TempDir tmp_;
  ManualClock clock_{kStart};
  std::unique_ptr<LogWriter> writer_;
};

TEST_F(DisclosureReportTest, AnOlderDeliveryIsCompletedFromItsDecision) {
  Write(Decided(v1::AUDIT_EVENT_DECISION, "req-1", "ggz", "veiligheidshuis", "R-GGZ-01"));
  Write(Decided(v1::AUDIT_EVENT_DELIVERED, "req-1", "ggz", "veiligheidshuis", "R-GGZ-01"));
  std::string table = DisclosuresOf(Render("older-delivery"));
  EXPECT_THAT(table, HasSubstr("<td>veiligheidsplan</td><td>jeugdwet-7-4-0</td><td>acute-veiligheid</td>"
                               "<td>R-GGZ-01</td><td>veiligheidsteam-hvb 2026.1-example</td><td>365 days</td>"));
  EXPECT_THAT(table, HasSubstr("ggz-dossier<span class=\"badge art9\">art9</span>"));
  EXPECT_THAT(table, Not(HasSubstr("<td></td>")));  // no empty cell where the log has a value
}

TEST_F(DisclosureReportTest, FlaggedDisclosuresComeFirstAndSayWhy) {
  auto plain = Decided(v1::AUDIT_EVENT_DECISION, "req-1", "politie", "veiligheidshuis", "R-POL-01");
  Write(plain);
  plain.set_event(v1::AUDIT_EVENT_DELIVERED);
  Write(plain);
  auto notify = Decided(v1::AUDIT_EVENT_DELIVERED, "req-2", "ggz", "veiligheidshuis", "R-GGZ-09");
  notify.CopyFrom(Decided(v1::AUDIT_EVENT_DECISION, "req-2", "ggz", "veiligheidshuis", "R-GGZ-09"));
  notify.set_event(v1::AUDIT_EVENT_DELIVERED);
  notify.mutable_decision()->mutable_obligations()->set_notify_privacy_officer(true);
  Write(notify);
  auto weighed = Decided(v1::AUDIT_EVENT_DECISION, "req-3", "huisarts", "veiligheidshuis", "R-HA-03");
  weighed.set_event(v1::AUDIT_EVENT_DELIVERED);
  weighed.mutable_decision()->set_justification(v1::AUDIT_JUSTIFICATION_WEIGHING);
  Write(weighed);
  auto justified = Decided(v1::AUDIT_EVENT_DECISION, "req-4", "school", "veiligheidshuis", "R-SCH-02");
  justified.set_event(v1::AUDIT_EVENT_PUSH_RECEIVED);
  justified.mutable_decision()->set_justification(v1::AUDIT_JUSTIFICATION_TEXT);
  Write(justified);
  std::string html = Render("flagged");
  std::string table = DisclosuresOf(html);
  ExpectInOrder(table, {"R-GGZ-09", "notify the privacy officer (rule R-GGZ-09)", "R-HA-03",
                        "conflict-of-duties weighing", "R-SCH-02", "written justification", "R-POL-01"});
  EXPECT_THAT(table, HasSubstr("<span class=\"badge flag\">notify privacy officer</span>"));
  EXPECT_THAT(table, HasSubstr("<span class=\"badge flag\">conflict of duties</span>"));
  // And across cases, on top.
  EXPECT_THAT(html, HasSubstr("<h2>Disclosures to review first</h2><p>3 disclosure(s)"));
  EXPECT_LT(html.find("Disclosures to review first"), html.find("<h2>Case VT-2026-0042</h2>"));
}

// A partner's report counts the same in its totals for the partner and per
// case: another partner's withheld handover data (a refusal that is also a
// marked moment) is not in it.
TEST_F(DisclosureReportTest, PartnerTotalsAndCaseTotalsAgree) {
  auto answer = Decided(v1::AUDIT_EVENT_DECISION, "req-1", "politie", "veiligheidshuis", "R-POL-01");
  answer.set_event(v1::AUDIT_EVENT_DELIVERED);
  Write(answer);
  for (const char* source : {"politie", "ggz"}) {
    auto withheld = Decided(v1::AUDIT_EVENT_HANDOVER_DATA_WITHHELD, std::string("req-w-") + source, source, "gemeente",
                            "R-X");
    withheld.mutable_decision()->set_verdict(v1::AUDIT_VERDICT_DENY);
    withheld.mutable_handover()->set_from("regisseur-01");
    withheld.mutable_handover()->set_to("wijkteam-01");
    Write(withheld);
  }
  EXPECT_THAT(writer_->Close(), IsOk());
  VerifyOptions vopts;
  vopts.key = TestSigner().verifier_key();
  VerifyReport rep = VerifyLog(dir(), vopts);
  auto reader = LogReader::Open(dir());
  ASSERT_THAT(reader, IsOk());
  ReportOptions o;
  o.partner = "politie";
  auto html = RenderHtmlReport(**reader, rep, o);
  ASSERT_THAT(html, IsOk());
  EXPECT_THAT(*html, HasSubstr("<tr><td>VT-2026-0042</td><td class=\"n\">1</td><td class=\"n\">1</td>"));
  EXPECT_THAT(*html, HasSubstr("<tr class=\"total\"><td>total</td><td class=\"n\">1</td><td class=\"n\">\u2013</td>"
                               "<td class=\"n\">\u2013</td><td class=\"n\">1</td></tr>"));
  EXPECT_THAT(*html, Not(HasSubstr("ggz-dossier")));
}

// A disclosure of two categories is in both categories' rows, but the
// category table's total counts it once, as the from -> to table does.
TEST_F(DisclosureReportTest, ACategoryTotalCountsEachExchangeOnce) {
  auto answer = Decided(v1::AUDIT_EVENT_DECISION, "req-2cat", "politie", "veiligheidshuis", "R-POL-01");
  answer.set_event(v1::AUDIT_EVENT_DELIVERED);
  answer.clear_categories();
  answer.add_categories()->set_name("politie-incidenten");
  answer.add_categories()->set_name("politie-aangiften");
  Write(answer);
  std::string html = Render("category-total");
  EXPECT_THAT(html, HasSubstr("<tr><td>politie-aangiften</td><td class=\"n\">1</td>"));
  EXPECT_THAT(html, HasSubstr("<tr><td>politie-incidenten</td><td class=\"n\">1</td>"));
  EXPECT_THAT(html, HasSubstr("<tr class=\"total\"><td>total (each exchange once)</td><td class=\"n\">1</td>"));
  EXPECT_THAT(html, Not(HasSubstr("<td class=\"n\">2</td>")));
}

// A report of many cases (a partner's year) lists each case's disclosures
// and refusals without drawing it; the totals and marked rows stay whole.
TEST_F(DisclosureReportTest, ManyCasesAreListedNotDrawn) {
  for (int i = 0; i < 101; ++i) {
    auto r = Decided(v1::AUDIT_EVENT_DECISION, "req-" + std::to_string(i), "politie", "veiligheidshuis", "R-POL-01");
    r.set_case_id("VT-2026-" + std::to_string(1000 + i));
    r.set_event(v1::AUDIT_EVENT_DELIVERED);
    if (i == 100) r.mutable_decision()->set_justification(v1::AUDIT_JUSTIFICATION_TEXT);
    Write(r);
  }
  std::string html = Render("many-cases");
  EXPECT_THAT(html, HasSubstr("101 cases: each is listed with its summary, disclosures and refusals"));
  EXPECT_THAT(html, Not(HasSubstr("<h3>Timeline</h3>")));
  EXPECT_THAT(html, Not(HasSubstr("<h3>All events</h3>")));
  EXPECT_THAT(html, HasSubstr("<h2>Case VT-2026-1100</h2>"));
  EXPECT_THAT(html, HasSubstr("<h2>Disclosures to review first</h2><p>1 disclosure(s)"));
  EXPECT_THAT(html, HasSubstr("<tr class=\"total\"><td>total</td><td class=\"n\">101</td>"));
}

// The flow picture of a dense case: 14 partners, most pairs exchanging.
TEST_F(DisclosureReportTest, FlowLabelsNeverOverlapInADenseCase) {
  std::vector<std::string> partners;
  for (int i = 0; i < 14; ++i) partners.push_back("partner-" + std::string(1, static_cast<char>('a' + i)) + "-regio");
  int n = 0;
  for (size_t i = 0; i < partners.size(); ++i) {
    for (size_t j = 0; j < partners.size(); ++j) {
      if (i == j || (i * 7 + j * 3) % 4 == 0) continue;
      auto r = Decided(v1::AUDIT_EVENT_DECISION, "req-" + std::to_string(++n), partners[i], partners[j], "R-1");
      r.set_event(v1::AUDIT_EVENT_DELIVERED);  // as the gateway writes it now: complete on its own
      Write(r);
      if ((i + j) % 5 == 0) {
        r.set_event(v1::AUDIT_EVENT_REFUSED);
        Write(r);
      }
    }
  }
  std::string html = Render("dense-flow");
  std::regex box("<rect class=\"flow-label-box\" x=\"([-0-9.]+)\" y=\"([-0-9.]+)\" width=\"([0-9.]+)\" "
                 "height=\"([0-9.]+)\"");
  struct Box {
    double x0, y0, x1, y1;
  };
  std::vector<Box> boxes;
  for (std::sregex_iterator it(html.begin(), html.end(), box), end; it != end; ++it) {
    double x = std::stod((*it)[1]), y = std::stod((*it)[2]);
    boxes.push_back({x, y, x + std::stod((*it)[3]), y + std::stod((*it)[4])});
  }
  EXPECT_GE(boxes.size(), 40u);  // most arrows have a label
  for (size_t i = 0; i < boxes.size(); ++i) {
    for (size_t j = i + 1; j < boxes.size(); ++j) {
      const Box &a = boxes[i], &b = boxes[j];
      EXPECT_TRUE(a.x1 <= b.x0 || b.x1 <= a.x0 || a.y1 <= b.y0 || b.y1 <= a.y0) << "labels " << i << " and " << j;
    }
  }
  // Every arrow's counts are in the table under the picture.
  EXPECT_THAT(html, HasSubstr("<table class=\"flows\">"));
}

TEST(ParseReportTimeTest, DatesAndRfc3339Times) {
  EXPECT_EQ(*ParseReportTime("2026-11-22", false), 1'795'305'600'000);
  EXPECT_EQ(*ParseReportTime("2026-11-22", true), 1'795'305'600'000 + 86'400'000);  // --to: the whole day
  EXPECT_EQ(*ParseReportTime("2026-11-22T14:30:00Z", false), 1'795'357'800'000);
  EXPECT_EQ(*ParseReportTime("2026-11-22T15:30:00+01:00", false), 1'795'357'800'000);
  EXPECT_EQ(*ParseReportTime("2026-11-22T09:30:00.250-05:00", false), 1'795'357'800'250);
  EXPECT_EQ(*ParseReportTime("2026-11-22T14:30:00.123456789Z", true), 1'795'357'800'123);
  EXPECT_EQ(*ParseReportTime("2024-02-29", false), 1'709'164'800'000);
  for (const char* bad : {"", "2026", "2026-13-01", "2026-02-29", "2026-11-31", "2026-11-22T14:30:00",
                          "2026-11-22T14:30Z", "2026-11-22T25:00:00Z", "2026-11-22T14:30:00.Z", "22-11-2026",
                          "2026-11-22T14:30:00+1:00", "2026-11-22T14:30:00Zjunk", "1969-12-31"}) {
    auto t = ParseReportTime(bad, false);
    ASSERT_FALSE(t.ok()) << bad;
    EXPECT_THAT(t.status().message(), HasSubstr("2026-11-22T14:30:00Z")) << bad;
  }
}

// A parser of what a person types: every truncation and every flipped bit
// of valid inputs gives a value or a clear error, never a crash.
TEST(ParseReportTimeTest, TruncatedAndFlippedInputsAreHandled) {
  for (std::string good : {"2026-11-22T15:30:00.250+01:00", "2026-11-22T14:30:00Z", "2026-11-22"}) {
    for (size_t len = 0; len < good.size(); ++len) {
      auto t = ParseReportTime(good.substr(0, len), false);
      if (!t.ok()) {
        EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
      }
    }
    for (size_t i = 0; i < good.size(); ++i) {
      for (int bit = 0; bit < 8; ++bit) {
        std::string s = good;
        s[i] = static_cast<char>(s[i] ^ (1 << bit));
        auto t = ParseReportTime(s, true);
        if (!t.ok()) {
          EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
        }
      }
    }
  }
}

TEST(RecordTextTest, NewEventsHaveNamesThatParseBack) {
  const std::vector<std::pair<v1::AuditEvent, std::string>> names = {
      {v1::AUDIT_EVENT_REFERRAL_RECEIVED, "referral-received"},
      {v1::AUDIT_EVENT_REFERRAL_ACCEPTED, "referral-accepted"},
      {v1::AUDIT_EVENT_REFERRAL_DECLINED, "referral-declined"},
      {v1::AUDIT_EVENT_HANDOVER_OFFERED, "handover-offered"},
      {v1::AUDIT_EVENT_HANDOVER_ACCEPTED, "handover-accepted"},
      {v1::AUDIT_EVENT_HANDOVER_CANCELLED, "handover-cancelled"},
      {v1::AUDIT_EVENT_HANDOVER_LAPSED, "handover-lapsed"},
      {v1::AUDIT_EVENT_STAND_IN_ENDED, "stand-in-ended"},
      {v1::AUDIT_EVENT_ACUTE_OPENED, "acute-opened"},
      {v1::AUDIT_EVENT_ACUTE_WINDOW_ENDED, "acute-window-ended"},
      {v1::AUDIT_EVENT_PARTNER_REMOVED, "partner-removed"},
      {v1::AUDIT_EVENT_HANDOVER_DATA, "handover-data"},
      {v1::AUDIT_EVENT_REFERRAL_EXPIRED, "referral-expired"},
      {v1::AUDIT_EVENT_HANDOVER_DATA_WITHHELD, "handover-data-withheld"},
  };
  for (const auto& [event, name] : names) {
    EXPECT_EQ(EventName(event), name);
    auto parsed = ParseEventName(name);
    ASSERT_THAT(parsed, IsOk());
    EXPECT_EQ(*parsed, event);
  }
}

TEST(RecordTextTest, DetailsNameTheFieldsInIdsOnly) {
  v1::AuditRecord declined = Referral(v1::AUDIT_EVENT_REFERRAL_DECLINED, "", "ref-2", "VT-2026-131",
                                      "vht-casusregisseur-01", "veiligheidshuis");
  declined.mutable_referral()->set_decline_reason("geen-hoog-risico");
  EXPECT_EQ(RecordDetail(declined),
            "referral VT-2026-131 from vt-medewerker-03; reasons: herhaald-geweld, kinderen-betrokken; 3 subject(s); "
            "declined by vht-casusregisseur-01, reason: geen-hoog-risico");
  v1::AuditRecord accepted = Handover(v1::AUDIT_EVENT_HANDOVER_ACCEPTED, "C", "b", "a", "b", "vakantie", kStart,
                                      kStart + kDay, kStart + 14 * kDay);
  EXPECT_EQ(RecordDetail(accepted),
            "stand-in from a to b; reason: vakantie; stand-in until 2026-10-05 14:13 UTC; offered 2026-09-21 14:13 "
            "UTC; b coordinates from now");
  v1::AuditRecord ended =
      Handover(v1::AUDIT_EVENT_STAND_IN_ENDED, "C", "gateway", "b", "a", "einde-waarneming", 0, 0, kStart + 14 * kDay);
  ended.set_time_unix_millis(kStart + 15 * kDay);
  EXPECT_EQ(RecordDetail(ended), "stand-in of b for a ended at 2026-10-05 14:13 UTC; the case is back with a");
  EXPECT_EQ(MomentMillis(ended), kStart + 14 * kDay);
  v1::AuditRecord lapsed = Handover(v1::AUDIT_EVENT_HANDOVER_LAPSED, "C", "gateway", "a", "b", "r", kStart,
                                    kStart + kDay);
  lapsed.set_time_unix_millis(kStart + 3 * kDay);
  EXPECT_EQ(MomentMillis(lapsed), kStart + kDay);
  v1::AuditRecord acute = Rec(v1::AUDIT_EVENT_ACUTE_OPENED, "C", "politie-agent-12", "politie");
  acute.set_acute_until_unix_millis(kStart + 3 * kDay);
  EXPECT_EQ(RecordDetail(acute), "acute case opened by politie-agent-12 (politie); acute window until 2026-09-24 "
                                 "14:13 UTC");
  // Handover data the policy kept back: whose answer, which categories, for
  // whom not, and why, in ids.
  v1::AuditRecord withheld = Handover(v1::AUDIT_EVENT_HANDOVER_DATA_WITHHELD, "C", "gateway", "a", "b", "", 0, 0);
  withheld.set_source_partner("politie");
  withheld.add_categories()->set_name("politie-incidenten");
  withheld.set_recipient_partner("gemeente");
  withheld.set_reason("no rule permits politie-incidenten from politie to gemeente/casuscoordinator");
  EXPECT_EQ(RecordDetail(withheld),
            "handover data withheld from a to b; answer of politie (politie-incidenten); not for gemeente; reason: no "
            "rule permits politie-incidenten from politie to gemeente/casuscoordinator");
  // Events without marked-moment fields have no detail line.
  EXPECT_EQ(RecordDetail(Rec(v1::AUDIT_EVENT_DELIVERED, "C", "x", "y")), "");
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp::audit
