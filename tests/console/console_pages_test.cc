// The console's pages over HTTP against a real region (gateway and, where
// needed, the police's agent on loopback): bad input gets a Dutch message
// next to its field and changes nothing; a form sent twice opens one case;
// values from outside (a partner's answer, a name typed with markup) are
// shown as text, never as HTML; and no BSN, name, date of birth or
// fragment value reaches the log (issue 15, "Tests"; docs/console.md).
#include <chrono>
#include <fstream>
#include <regex>
#include <set>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "console/console.h"
#include "core/base/time_format.h"
#include "tests/console/console_fixture.h"
#include "tests/testing/region.h"
#include "tests/testing/status_matchers.h"

namespace kp::console {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

using ::testing::HasSubstr;
using ::testing::Not;
using testing::Region;

constexpr char kPurpose[] = "veiligheidstaxatie";
constexpr char kChildBsn[] = "999990020";
// Canaries: what the coordinator types and what the police's records hold.
// None of them may reach the log; the pages must show them (as text).
constexpr char kCanaryName[] = "CANARY-NAAM-Console";
constexpr char kCanaryBirthTyped[] = "12-04-1988";
constexpr char kCanaryBirthIso[] = "1988-04-12";
constexpr char kMarkupName[] = "<i>Jan</i> \"de\" Vries";
constexpr char kHtmlValue[] =
    "CANARY-FRAGMENT <script>document.title='GEHACKT'</script><b>vet</b> & \"aanhalingstekens\" <img src=x>";

// As the templates escape ({{x}}, kainjow's html_escape).
std::string Escaped(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
  return out;
}

// The form with id `id` on a page, up to its end; "" when absent.
std::string FormHtml(const std::string& html, const std::string& id) {
  return ConsoleFixture::Section(html, "id=\"" + id + "\" method=\"post\"", "</form>");
}

std::string Timeline(const std::string& html) {
  return ConsoleFixture::Section(html, "<ol class=\"tijdlijn\"", "</ol>");
}

// A typed value as a page shows it back: on Nieuwe casus by the field's id,
// on the case page by its name.
std::string FieldWithValue(const std::string& id, const std::string& value) {
  return "id=\"" + id + "\" value=\"" + Escaped(value) + "\"";
}
std::string InputWithValue(const std::string& name, const std::string& value) {
  return "name=\"" + name + "\" value=\"" + Escaped(value) + "\"";
}

class ConsolePagesTest : public ConsoleFixture {
 protected:
  // Every line, debug too: none may hold personal data.
  void SetUp() override { ASSERT_NO_FATAL_FAILURE(StartRegion(spdlog::level::trace)); }

  // The console for regisseur-01, after the agents a test needs.
  void StartConsole() {
    ASSERT_OK_AND_ASSIGN(auto coordinator, region_->Coordinator(0));
    ASSERT_NO_FATAL_FAILURE(ConsoleFixture::StartConsole(std::move(coordinator)));
  }

  httplib::Result PostRaw(const std::string& path, const httplib::Params& form) { return Post(path, cookie_, form); }

  // The cases on Mijn casussen (open and closed).
  std::set<std::string> CaseIds() {
    const std::string html = GetPage("/");
    std::set<std::string> ids;
    static const std::regex kCase(R"re(<td><a href="/casus/([A-Za-z0-9._-]+)">)re");
    for (auto it = std::sregex_iterator(html.begin(), html.end(), kCase); it != std::sregex_iterator(); ++it) {
      ids.insert((*it)[1]);
    }
    return ids;
  }

  // The new-case form: a victim with the canary BSN, name and birth date,
  // and a child whose name holds markup.
  static httplib::Params FamilyForm() {
    return {{"doel", kPurpose},      {"aantal", "4"},           {"actie", "openen"},
            {"rol1", "victim"},      {"bsn1", Region::kBsn},    {"naam1", kCanaryName},
            {"geboortedatum1", kCanaryBirthTyped},              {"rol2", "child"},
            {"bsn2", kChildBsn},     {"naam2", kMarkupName},    {"geboortedatum2", "03-09-2015"}};
  }

  // Opens a case through the form; its id ("" on failure).
  std::string OpenCase() {
    const std::string form = GetPage("/casus/nieuw");
    auto res = Submit("/casus/nieuw", form, FamilyForm());
    EXPECT_TRUE(res);
    if (!res) return "";
    EXPECT_EQ(res->status, 303) << res->body;
    const std::string to = res->get_header_value("Location");
    EXPECT_THAT(to, ::testing::StartsWith("/casus/"));
    return to.size() > 7 ? to.substr(7) : "";
  }

  // A bad new-case form: 400, the general line, the message at `field_id`
  // (e.g. "bsn1-fout") holding `message`, and no case opened.
  void ExpectRefusedForm(const httplib::Params& form, const std::string& field_id, const std::string& message) {
    SCOPED_TRACE(field_id);
    auto res = Submit("/casus/nieuw", GetPage("/casus/nieuw"), form);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400);
    EXPECT_EQ(res->get_header_value("Location"), "");
    EXPECT_THAT(res->body, HasSubstr("Er is geen casus geopend"));
    EXPECT_THAT(res->body, HasSubstr("<p class=\"veldfout\" id=\"" + field_id + "\">" + Escaped(message)));
    EXPECT_THAT(res->body, HasSubstr("aria-describedby=\"" + field_id + "\""));
    EXPECT_TRUE(CaseIds().empty()) << "a case was opened";
    last_refused_ = res->body;
  }

  std::string last_refused_;  // the last refused new-case form
};

TEST_F(ConsolePagesTest, ABadNewCaseFormSaysWhatIsWrongAndOpensNothing) {
  ASSERT_NO_FATAL_FAILURE(StartConsole());
  ASSERT_TRUE(CaseIds().empty());

  httplib::Params form = FamilyForm();
  auto set = [](httplib::Params f, const std::string& name, const std::string& value) {
    f.erase(name);
    f.emplace(name, value);
    return f;
  };

  // An invalid BSN (elfproef): the message at it, everything typed kept.
  ExpectRefusedForm(set(form, "bsn1", "123456789"), "bsn1-fout",
                    "dit BSN klopt niet (de elfproef faalt)");
  EXPECT_THAT(last_refused_, HasSubstr(FieldWithValue("bsn1", "123456789")));
  EXPECT_THAT(last_refused_, HasSubstr(FieldWithValue("naam1", kCanaryName)));
  EXPECT_THAT(last_refused_, HasSubstr(FieldWithValue("geboortedatum1", kCanaryBirthTyped)));
  EXPECT_THAT(last_refused_, HasSubstr(FieldWithValue("bsn2", kChildBsn)));
  EXPECT_THAT(last_refused_, HasSubstr(FieldWithValue("naam2", kMarkupName)));
  EXPECT_THAT(last_refused_, HasSubstr("<option value=\"veiligheidstaxatie\" selected>"));
  EXPECT_THAT(last_refused_, Not(HasSubstr("id=\"bsn2-fout\""))) << "only the wrong field is marked";
  ExpectRefusedForm(set(form, "bsn1", "12345678"), "bsn1-fout", "een BSN heeft 9 cijfers; dit zijn er 8");

  // No purpose.
  ExpectRefusedForm(set(form, "doel", ""), "doel-fout", "kies het doel van de casus");
  EXPECT_THAT(last_refused_, HasSubstr(FieldWithValue("naam1", kCanaryName)));
  ExpectRefusedForm(set(form, "doel", "iets-anders"), "doel-fout", "dit doel staat niet in het beleid");

  // A date in the wrong form, a day that does not exist, a day to come.
  ExpectRefusedForm(set(form, "geboortedatum1", "1988/04/12"), "geboortedatum1-fout",
                    "schrijf de datum als DD-MM-JJJJ");
  EXPECT_THAT(last_refused_, HasSubstr(FieldWithValue("geboortedatum1", "1988/04/12")));
  ExpectRefusedForm(set(form, "geboortedatum1", "31-02-2014"), "geboortedatum1-fout",
                    "die datum bestaat niet: 31-02-2014");
  ExpectRefusedForm(set(form, "geboortedatum2", "01-01-2190"), "geboortedatum2-fout",
                    "een geboortedatum ligt niet in de toekomst");

  // No subject at all; a row with a BSN but no role.
  ExpectRefusedForm({{"doel", kPurpose}, {"aantal", "4"}, {"actie", "openen"}, {"rol1", "victim"}}, "personen-fout",
                    "vul ten minste één persoon in");
  ExpectRefusedForm(set(form, "rol2", ""), "rol2-fout", "kies de rol van de persoon");

  // The form as shown again is the one to correct: its fresh one-time id works.
  auto corrected = Submit("/casus/nieuw", last_refused_, form);
  ASSERT_TRUE(corrected);
  EXPECT_EQ(corrected->status, 303) << corrected->body;
  EXPECT_EQ(CaseIds().size(), 1u);
}

TEST_F(ConsolePagesTest, TheSameFormSentTwiceOpensOneCase) {
  ASSERT_NO_FATAL_FAILURE(StartConsole());
  const std::string page = GetPage("/casus/nieuw");
  auto [csrf, id] = FormFields(page);
  httplib::Params form = FamilyForm();
  form.emplace("csrf", csrf);
  form.emplace("formulier", id);

  auto first = PostRaw("/casus/nieuw", form);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 303) << first->body;
  EXPECT_THAT(first->get_header_value("Location"), ::testing::StartsWith("/casus/"));
  auto second = PostRaw("/casus/nieuw", form);  // the double click, or Back and send again
  ASSERT_TRUE(second);
  EXPECT_EQ(second->status, 409);
  EXPECT_THAT(second->body, HasSubstr("Al verstuurd"));
  EXPECT_EQ(second->get_header_value("Location"), "");

  const auto ids = CaseIds();
  ASSERT_EQ(ids.size(), 1u);
  EXPECT_EQ("/casus/" + *ids.begin(), first->get_header_value("Location"));
}

TEST_F(ConsolePagesTest, ABadCaseActionSaysWhatIsWrongAndChangesNothing) {
  ASSERT_NO_FATAL_FAILURE(StartConsole());
  const std::string id = OpenCase();
  ASSERT_FALSE(id.empty());
  const std::string path = "/casus/" + id;
  const std::string before = GetPage(path);
  const std::string timeline = Timeline(before);
  ASSERT_THAT(timeline, HasSubstr("Casus geopend"));
  const std::string people = Section(before, "<table id=\"betrokkenen\"", "</table>");
  ASSERT_THAT(people, HasSubstr(Escaped(kCanaryName)));
  const std::string partners = Section(before, "<h2>Partners</h2>", "<div class=\"rij casus-partners\">");

  struct Bad {
    std::string action, form;  // route, the form's id on the page
    httplib::Params fields;
    std::string message;       // next to the form
    std::string kept;          // a typed value shown back ("" : none to check)
  };
  const std::string next_year = std::to_string(std::stoi(FormatUtcDate(SystemClock::Get().NowMillis()).substr(0, 4)) + 1);
  const std::vector<Bad> bad = {
      {"fase", "fase", {{"fase", "bestaat-niet"}}, "kies de nieuwe fase uit de lijst", ""},
      {"fase", "fase", {{"fase", "gesloten"}}, "kies de nieuwe fase uit de lijst", ""},
      {"toestemming", "toestemming", {{"persoon", "S1"}, {"doel", kPurpose}, {"tot", next_year + "/12/31"}},
       "schrijf de datum als DD-MM-JJJJ", InputWithValue("tot", next_year + "/12/31")},
      {"toestemming", "toestemming", {{"persoon", "S1"}, {"doel", kPurpose}, {"tot", "31-02-" + next_year}},
       "die datum bestaat niet: 31-02-" + next_year, InputWithValue("tot", "31-02-" + next_year)},
      {"toestemming", "toestemming", {{"persoon", "S1"}, {"doel", kPurpose}, {"tot", "01-01-2020"}},
       "deze datum is al voorbij", InputWithValue("tot", "01-01-2020")},
      {"toestemming", "toestemming", {{"persoon", "S1"}, {"doel", ""}, {"tot", "31-12-" + next_year}},
       "kies het doel waarvoor de toestemming geldt", ""},
      {"poortwachter", "poortwachter",
       {{"partner", "politie"}, {"doel", kPurpose}, {"tot", "31-12-" + next_year}},
       "kies ten minste één soort gegevens", ""},
      {"persoon", "persoon",
       {{"rol", "housemate"}, {"bsn", "123456789"}, {"naam", kCanaryName}, {"geboortedatum", "01-01-1990"}},
       "dit BSN klopt niet (de elfproef faalt)", InputWithValue("naam", kCanaryName)},
      {"persoon", "persoon",
       {{"rol", "housemate"}, {"bsn", "111222333"}, {"naam", "Piet"}, {"geboortedatum", "1990/01/01"}},
       "schrijf de datum als DD-MM-JJJJ", InputWithValue("geboortedatum", "1990/01/01")},
      {"toelaten", "toelaten", {{"partner", "bestaat-niet"}}, "kies de partner die u wilt toelaten", ""},
      {"sluiten", "sluiten", {{"reden", "afgerond"}}, "vink aan dat u weet dat hierna niets meer kan worden opgevraagd",
       ""},
  };
  for (const Bad& b : bad) {
    SCOPED_TRACE(b.action + ": " + b.message);
    auto res = Submit(path + "/" + b.action, GetPage(path), b.fields);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400);
    EXPECT_EQ(res->get_header_value("Location"), "");
    const std::string form = FormHtml(res->body, b.form);
    ASSERT_FALSE(form.empty()) << res->body;
    EXPECT_THAT(form, HasSubstr("<p class=\"veldfout\" role=\"alert\">" + Escaped(b.message)));
    EXPECT_THAT(form, HasSubstr("aria-invalid=\"true\""));
    if (!b.kept.empty()) {
      EXPECT_THAT(form, HasSubstr(b.kept));
    }
    // Nothing happened: the shown page and the page anew have the same history.
    EXPECT_EQ(Timeline(res->body), timeline);
  }
  const std::string after = GetPage(path);
  EXPECT_EQ(Timeline(after), timeline);
  EXPECT_EQ(Section(after, "<table id=\"betrokkenen\"", "</table>"), people);
  EXPECT_EQ(Section(after, "<h2>Partners</h2>", "<div class=\"rij casus-partners\">"), partners);
  EXPECT_THAT(after, HasSubstr("<dt>Fase</dt><dd>Fase 1 - acute veiligheid</dd>"));
  EXPECT_THAT(after, Not(HasSubstr("<span class=\"label rood\">gesloten</span>")));
  EXPECT_EQ(CaseIds().size(), 1u);

  // The control: a good action does change the timeline.
  auto good = Submit(path + "/fase", after, {{"fase", "stabiele-veiligheid"}});
  ASSERT_TRUE(good);
  EXPECT_EQ(good->status, 303) << good->body;
  const std::string changed = GetPage(path);
  EXPECT_NE(Timeline(changed), timeline);
  EXPECT_THAT(Timeline(changed), HasSubstr("Fase gewijzigd naar Fase 2 - stabiele veiligheid."));
}

// The police's records hold markup and a script; the coordinator opens a
// case through the form (a name with markup), admits the police, records the
// gatekeeper's approval and asks — all through the console. The pages show
// every value as text; the log holds none of them.
TEST_F(ConsolePagesTest, ValuesFromOutsideAreShownAsTextAndNeverLogged) {
  for (const auto& category : region_->categories("politie")) {
    const std::string file = dir_.path() + "/data/" + category + "/" + Region::kBsn + ".json";
    std::ifstream in(file);
    ASSERT_TRUE(in) << file;
    nlohmann::json records = nlohmann::json::parse(in);
    for (auto& record : records) {
      for (auto& [field, value] : record.items()) {
        if (field != "interne-notitie") value = kHtmlValue;
      }
    }
    std::ofstream(file) << records.dump();
  }
  ASSERT_OK(region_->StartAgent("politie"));
  ASSERT_NO_FATAL_FAILURE(StartConsole());

  // A refused form carries the canaries too: its path must not log them either.
  httplib::Params wrong = FamilyForm();
  wrong.erase("geboortedatum2");
  wrong.emplace("geboortedatum2", "2015/09/03");
  auto refused = Submit("/casus/nieuw", GetPage("/casus/nieuw"), wrong);
  ASSERT_TRUE(refused);
  ASSERT_EQ(refused->status, 400);
  EXPECT_THAT(refused->body, HasSubstr(FieldWithValue("naam2", kMarkupName)));
  EXPECT_THAT(refused->body, Not(HasSubstr(kMarkupName)));

  const std::string id = OpenCase();
  ASSERT_FALSE(id.empty());
  const std::string path = "/casus/" + id;
  auto admitted = Submit(path + "/toelaten", GetPage(path), {{"partner", "politie"}});
  ASSERT_TRUE(admitted);
  ASSERT_EQ(admitted->status, 303) << admitted->body;
  const std::string next_year = std::to_string(std::stoi(FormatUtcDate(SystemClock::Get().NowMillis()).substr(0, 4)) + 1);
  auto approved = Submit(path + "/poortwachter", GetPage(path),
                         {{"partner", "politie"},
                          {"categorie", "politie-incidenten"},
                          {"doel", kPurpose},
                          {"tot", "31-12-" + next_year}});
  ASSERT_TRUE(approved);
  ASSERT_EQ(approved->status, 303) << approved->body;

  // Informatie opvragen: the case's purpose, every subject, "Vraag alle toegelaten partners".
  const std::string ask = GetPage(path + "/opvragen");
  EXPECT_THAT(ask, HasSubstr(Escaped(kMarkupName)));
  EXPECT_THAT(ask, Not(HasSubstr(kMarkupName)));
  httplib::Params send = {{"doel", kPurpose}, {"alle", "1"}};
  static const std::regex kSubject(R"re(type="checkbox" name="betrokkene" value="([A-Za-z0-9]+)")re");
  for (auto it = std::sregex_iterator(ask.begin(), ask.end(), kSubject); it != std::sregex_iterator(); ++it) {
    send.emplace("betrokkene", (*it)[1]);
  }
  ASSERT_EQ(send.count("betrokkene"), 2u) << ask;
  auto sent = Submit(path + "/opvragen", ask, send);
  ASSERT_TRUE(sent);
  ASSERT_EQ(sent->status, 303) << sent->body;

  // The answer may come after the page: look again for a few seconds.
  std::string page;
  for (int i = 0; i < 50; ++i) {
    page = GetPage(path);
    if (page.find("CANARY-FRAGMENT") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_THAT(page, HasSubstr("<table id=\"antwoorden\"")) << page;
  EXPECT_THAT(page, HasSubstr("<td class=\"waarde\">" + Escaped(kHtmlValue) + "</td>"));
  EXPECT_THAT(page, HasSubstr("&lt;script&gt;document.title=&apos;GEHACKT&apos;&lt;/script&gt;"));
  for (const char* raw : {"<script>document.title", "GEHACKT'", "<b>vet</b>", "<img src=x>", "\"aanhalingstekens\""}) {
    EXPECT_THAT(page, Not(HasSubstr(raw))) << raw;
  }
  // The names as typed, as text.
  const std::string people = Section(page, "<table id=\"betrokkenen\"", "</table>");
  EXPECT_THAT(people, HasSubstr("<td>" + Escaped(kMarkupName) + "</td>"));
  EXPECT_THAT(people, HasSubstr("<td>" + std::string(kCanaryName) + "</td>"));
  EXPECT_THAT(people, HasSubstr("<td>" + std::string(kCanaryBirthTyped) + "</td>"));
  EXPECT_THAT(page, Not(HasSubstr("<i>Jan</i>")));
  // The BSN is shown masked on the case page (the form showed it whole).
  EXPECT_THAT(people, HasSubstr("*****0019"));

  // Before the poller's first connection the layout says "offline" without
  // a reason: no dangling ": ." (console.cc, a section over an empty string).
  EXPECT_THAT(pages_, Not(HasSubstr("Geen verbinding met de gateway: .")));

  // The canaries are real: the pages showed them ...
  for (const std::string& shown : {std::string(kCanaryName), std::string(Region::kBsn), std::string(kChildBsn),
                                   std::string(kCanaryBirthTyped), std::string("CANARY-FRAGMENT")}) {
    EXPECT_THAT(pages_, HasSubstr(shown));
  }
  // ... and the log holds none of them.
  server_.reset();  // every thread that might log has stopped
  const std::string log = sink_->Text();
  EXPECT_THAT(log, HasSubstr("console: case " + id)) << "the log was captured";
  for (const std::string& secret :
       {std::string(kCanaryName), std::string(Region::kBsn), std::string(kChildBsn), std::string(kCanaryBirthTyped),
        std::string(kCanaryBirthIso), std::string("03-09-2015"), std::string("2015-09-03"), std::string("2015/09/03"),
        std::string("Jan</i>"), std::string("de\" Vries"), std::string("CANARY-FRAGMENT"), std::string("GEHACKT"),
        std::string("aanhalingstekens")}) {
    EXPECT_THAT(log, Not(HasSubstr(secret))) << "the log holds " << secret;
  }
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp::console
