// The register of processing activities (cli/policy_register.h) made from a
// policy: every section and every permit rule of the example policy, the
// controllers, retention as the rule counts it, never-shared fields left out,
// one partner's part, hostile strings escaped, and no register without the
// controllers unless it is a draft marked so. The page in a browser:
// register_browser_test.py.
#include "cli/policy_register.h"

#include <fstream>
#include <iterator>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/audit/report.h"
#include "policy/policy_loader.h"
#include "tests/policy/test_policy.h"
#include "tests/testing/status_matchers.h"

namespace kp::cli {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

using ::kp::testing::IsOk;
using ::kp::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

std::shared_ptr<const policy::Policy> Load(std::string_view text) {
  auto p = policy::LoadPolicy(text, "register-test.yaml", policy::testing::kFakeSha256);
  EXPECT_THAT(p, IsOk());
  return p.ok() ? *p : nullptr;
}

std::shared_ptr<const policy::Policy> Example() {
  std::ifstream in(::kp::testing::SourceDir() + "/policy/examples/veiligheidsteam-hvb.yaml");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_FALSE(text.empty());
  return Load(text);
}

std::string Render(const policy::Policy& p, RegisterOptions o = {}) {
  auto html = RenderPolicyRegister(p, o);
  EXPECT_THAT(html, IsOk());
  return html.ok() ? *html : "";
}

// The text of the table row that holds `rule_id` (its last cell).
std::string RowOf(const std::string& html, const std::string& rule_id) {
  const std::string cell = "<td class=\"id\">" + rule_id + "</td></tr>";
  const size_t end = html.find(cell);
  if (end == std::string::npos) return "";
  const size_t begin = html.rfind("<tr>", end);
  return html.substr(begin, end + cell.size() - begin);
}

constexpr std::string_view kTiny = R"(policy:
  id: tiny
  version: "1"
  title: Klein <b>beleid</b>
partners:
  - id: a
    name: Partner "A" & zonen
    controller: Stichting <script>alert(1)</script>
    dpo: fg@a.example
  - id: b
    name: Partner B
    controller: Gemeente B
  - id: c
    name: Partner C
    controller: Stichting C
phases:
  - id: open
purposes:
  - id: doel
    description: Een doel <i>met</i> opmaak
  - id: leeg
    description: Een doel zonder regels
categories:
  - id: cat
    name: Categorie <x>
    owner: a
    fields: [veld-1, geheim]
    art9: true
legal_bases:
  - id: basis
    citation: Wet <y> art. 1 & 2
    senders: [a]
    categories: [cat]
    max_retention_days: 30
    requires: [consent]
    art9_ground: true
never_shared:
  - id: N-1
    field: cat.geheim
    reason: Nooit <z>.
rules:
  - id: R-1
    effect: permit
    from: a
    to: b
    categories: [cat]
    purposes: [doel]
    legal_basis: basis
    obligations:
      fields:
        cat: [veld-1]
      retention_days: 30
      notify_privacy_officer: true
    explanation: Uitleg <u>.
  - id: F-1
    effect: forbid
    from: a
    to: c
    categories: [cat]
    explanation: Niet aan C <v>.
)";

TEST(PolicyRegisterTest, TheLoaderKeepsControllerDpoVersionTitleAndDescription) {
  auto p = Load(kTiny);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->version(), "1");
  EXPECT_EQ(p->title(), "Klein <b>beleid</b>");
  EXPECT_EQ(p->description(), "");
  EXPECT_EQ(p->partners()[0].controller, "Stichting <script>alert(1)</script>");
  EXPECT_EQ(p->partners()[0].dpo, "fg@a.example");
  EXPECT_EQ(p->partners()[1].dpo, "");
  // Free text, but text: a list is a lint error at its place.
  std::string text(kTiny);
  text.replace(text.find("    controller: Gemeente B"), std::string("    controller: Gemeente B").size(),
               "    controller: [Gemeente, B]");
  auto bad = policy::LoadPolicy(text, "register-test.yaml", policy::testing::kFakeSha256);
  EXPECT_THAT(bad, StatusIs(StatusCode::kInvalidArgument, "1 error(s)"));
}

TEST(PolicyRegisterTest, ExamplePolicyHasEverySectionEveryPermitRuleAndEveryController) {
  auto p = Example();
  ASSERT_NE(p, nullptr);
  const std::string html = Render(*p);
  for (const char* anchor : {"verantwoordelijken", "doelen", "categorieen", "nooit", "verboden", "grondslagen",
                             "doorgifte", "beveiliging"}) {
    EXPECT_THAT(html, HasSubstr(std::string("id=\"") + anchor + "\"")) << anchor;
  }
  for (const auto& purpose : p->purposes()) {
    EXPECT_THAT(html, HasSubstr("data-purpose=\"" + purpose.id + "\"")) << purpose.id;
  }
  for (const auto& rule : p->rules()) {
    EXPECT_THAT(RowOf(html, rule.id), Not(::testing::IsEmpty())) << rule.id;
  }
  for (const auto& partner : p->partners()) {
    ASSERT_FALSE(partner.controller.empty()) << partner.id;  // the example names every controller
    EXPECT_THAT(html, HasSubstr(audit::HtmlEscape(partner.controller))) << partner.id;
  }
  for (const auto& n : p->never_shared()) EXPECT_THAT(html, HasSubstr(n.id));
  EXPECT_THAT(html, HasSubstr(p->sha256_hex()));
  EXPECT_THAT(html, HasSubstr("2026.1-example"));
  EXPECT_THAT(html, Not(HasSubstr("CONCEPT")));
  EXPECT_THAT(html, Not(HasSubstr("<script")));
  EXPECT_THAT(html, Not(HasSubstr("niet vermeld in het beleid")));
}

TEST(PolicyRegisterTest, RetentionIsCountedAsTheRuleCountsIt) {
  auto p = Example();
  ASSERT_NE(p, nullptr);
  const std::string html = Render(*p);
  // From closure (R-VT-PLAN-01), the recipient's dossier term (R-VT-PLAN-02),
  // and from delivery (R-POL-01).
  EXPECT_THAT(RowOf(html, "R-VT-PLAN-01"), HasSubstr("90 dagen na het sluiten van de casus"));
  EXPECT_THAT(RowOf(html, "R-VT-PLAN-02"), HasSubstr("7300 dagen (20 jaar) (Jeugdwet art. 7.3.8 lid 3"));
  EXPECT_THAT(RowOf(html, "R-POL-01"), HasSubstr("180 dagen na ontvangst"));
  // Regime and art. 9/10 flags, the legal basis' citation, the notify flag.
  EXPECT_THAT(RowOf(html, "R-OM-01"), HasSubstr("Wjsg art. 39f"));
  EXPECT_THAT(RowOf(html, "R-OM-01"), HasSubstr(">art. 10<"));
  EXPECT_THAT(RowOf(html, "R-OM-01"), HasSubstr(">Wjsg<"));
  EXPECT_THAT(RowOf(html, "R-GGZ-02"), HasSubstr(">art. 9<"));
  EXPECT_THAT(RowOf(html, "R-GGZ-02"), HasSubstr("FG wordt ingelicht"));
  EXPECT_THAT(RowOf(html, "R-GGZ-02"), HasSubstr("afweging conflict van plichten"));
  EXPECT_THAT(RowOf(html, "R-OM-02"), HasSubstr("vermoedelijke pleger"));
  EXPECT_THAT(RowOf(html, "R-STERK-01"), HasSubstr("alleen een toestemming die de bron zelf vastlegde"));
}

TEST(PolicyRegisterTest, ConsentRulesAndTheVersionAsTheLogWritesIt) {
  auto p = Example();
  ASSERT_NE(p, nullptr);
  const std::string html = Render(*p);
  EXPECT_THAT(html, HasSubstr("ten hoogste 365 dagen (1 jaar) na het vastleggen"));
  EXPECT_THAT(html, HasSubstr("<li>jonger dan 12 jaar: de gezaghebbende ouders</li>"));
  EXPECT_THAT(html, HasSubstr("<li>12 tot 16 jaar: de betrokkene zelf en de gezaghebbende ouders</li>"));
  EXPECT_THAT(html, HasSubstr("<li>vanaf 16 jaar: de betrokkene zelf</li>"));
  // The policy_version a decision record carries (case/decision.cc), so the
  // register and the audit report can be matched.
  EXPECT_THAT(html, HasSubstr("<code>veiligheidsteam-hvb 2026.1-example</code>"));
}

TEST(PolicyRegisterTest, NeverSharedFieldsAreMarkedAndNeverListedAsDisclosed) {
  auto p = Load(kTiny);
  ASSERT_NE(p, nullptr);
  const std::string html = Render(*p);
  const std::string row = RowOf(html, "R-1");
  EXPECT_THAT(row, HasSubstr("<li>veld-1</li>"));
  EXPECT_THAT(row, Not(HasSubstr("geheim")));
  EXPECT_THAT(html, HasSubstr("geheim <span class=\"badge never\">nooit gedeeld (N-1)</span>"));
  EXPECT_THAT(html, HasSubstr("Het beleid staat voor dit doel geen verstrekking toe"));  // purpose "leeg"
}

TEST(PolicyRegisterTest, EveryStringFromThePolicyIsEscaped) {
  auto p = Load(kTiny);
  ASSERT_NE(p, nullptr);
  const std::string html = Render(*p);
  for (const char* raw : {"<script", "<b>", "<i>", "<x>", "<y>", "<z>", "<u>", "<v>", "\"A\"", "& zonen"}) {
    EXPECT_THAT(html, Not(HasSubstr(raw))) << raw;
  }
  for (const char* escaped : {"Stichting &lt;script&gt;alert(1)&lt;/script&gt;", "Klein &lt;b&gt;beleid&lt;/b&gt;",
                              "Partner &quot;A&quot; &amp; zonen", "Wet &lt;y&gt; art. 1 &amp; 2",
                              "Niet aan C &lt;v&gt;."}) {
    EXPECT_THAT(html, HasSubstr(escaped)) << escaped;
  }
}

TEST(PolicyRegisterTest, OnePartnersPartShowsOnlyItsDisclosures) {
  auto p = Example();
  ASSERT_NE(p, nullptr);
  RegisterOptions o;
  o.partner = "sterk-huis";
  const std::string html = Render(*p, o);
  EXPECT_THAT(RowOf(html, "R-STERK-01"), Not(::testing::IsEmpty()));
  EXPECT_THAT(RowOf(html, "R-POL-01"), ::testing::IsEmpty());
  EXPECT_THAT(html, HasSubstr("Stichting Sterk Huis"));
  EXPECT_THAT(html, HasSubstr("centrumgemeente van het Zorg- en Veiligheidshuis"));  // the recipient's controller
  EXPECT_THAT(html, Not(HasSubstr("Stichting Reclassering Nederland")));

  o.partner = "nobody";
  EXPECT_THAT(RenderPolicyRegister(*p, o), StatusIs(StatusCode::kInvalidArgument, "no partner 'nobody'"));
}

TEST(PolicyRegisterTest, NoRegisterWithoutTheControllersUnlessADraft) {
  const std::string text = std::string(kTiny).replace(std::string(kTiny).find("    controller: Gemeente B\n"),
                                                      std::string("    controller: Gemeente B\n").size(), "");
  auto p = Load(text);
  ASSERT_NE(p, nullptr);
  EXPECT_THAT(RenderPolicyRegister(*p, {}), StatusIs(StatusCode::kFailedPrecondition, "no 'controller:' for b"));
  EXPECT_EQ(PartnersWithoutController(*p, ""), std::vector<std::string>{"b"});
  // Partner c's part leaves b out: complete for c.
  RegisterOptions o;
  o.partner = "c";
  EXPECT_THAT(RenderPolicyRegister(*p, o), IsOk());
  o.partner = "";
  o.draft = true;
  const std::string html = Render(*p, o);
  EXPECT_THAT(html, HasSubstr("CONCEPT — onvolledig"));
  EXPECT_THAT(html, HasSubstr("niet vermeld in het beleid"));
}

// A policy with no names, descriptions, version or explanations: every
// cell still says something (a reader cannot tell an empty cell from a bug).
TEST(PolicyRegisterTest, ABarePolicyLeavesNoCellEmpty) {
  auto p = Load(R"(policy:
  id: bare
partners:
  - id: a
    controller: A
  - id: b
    controller: B
phases:
  - id: open
purposes:
  - id: doel
categories:
  - id: cat
    fields: [veld]
legal_bases:
  - id: basis
    citation: Wet
    senders: [a]
    categories: [cat]
    max_retention_days: 30
rules:
  - id: R-1
    effect: permit
    from: a
    to: b
    categories: [cat]
    purposes: [doel]
    legal_basis: basis
    obligations:
      fields:
        cat: [veld]
      retention_days: 30
  - id: F-1
    effect: forbid
    from: b
    categories: [cat]
)");
  ASSERT_NE(p, nullptr);
  const std::string html = Render(*p);
  EXPECT_THAT(html, Not(HasSubstr("<td></td>")));
  EXPECT_THAT(html, Not(HasSubstr("<td><br>")));
  EXPECT_THAT(html, HasSubstr("geen toelichting"));
  EXPECT_THAT(html, HasSubstr("Versie</dt><dd>niet vermeld"));
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp::cli
