// End to end: the demo's flow with the real gateway, the nine real agents and
// the real coordinator client, on CURVE sockets on 127.0.0.1, with the real
// clock; SQLite files and audit logs on disk. Includes the refusals (no
// consent, wrong phase, after closure), a gateway restart in the middle, an
// agent that comes online late, answers fetched from the inbox, and a second
// coordinating role of the policy (the wijkteam's casuscoördinator).
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <map>
#include <mutex>
#include <set>
#include <vector>

#include "client/audit_pull.h"
#include "client/gateway_connection.h"
#include "core/audit/log_reader.h"
#include "core/audit/log_verifier.h"
#include "core/base/time_format.h"
#include "tests/testing/region.h"
#include "tests/testing/capture_sink.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_time.h"

namespace kp {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

namespace v1 = ketenpoort::v1;
using client::Coordinator;
using client::Outcome;
using testing::IsOk;
using testing::Region;

using test::kWaitMs;
constexpr char kCanaryName[] = "CANARY-NAAM-de-Voorbeeld";
// Several words: a one-word justification does not count (policy::AssessJustification).
constexpr char kCanaryJustification[] = "CANARY-ONDERBOUWING wapen in huis gemeld bij de laatste melding";

using ::kp::testing::AllBytesUnder;
using ::kp::testing::CaptureSink;

class EndToEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sink_ = std::make_shared<CaptureSink>();
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("e2e", sink_));
    ASSERT_OK_AND_ASSIGN(region_, Region::Create(dir_.path(), SystemClock::Get()));
    ASSERT_OK(region_->StartGateway());
  }

  void TearDown() override {
    region_.reset();
    if (HasFailure()) std::cerr << "log:\n" << sink_->Text();
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("null"));
  }

  std::unique_ptr<Coordinator> Connect(const std::string& participant = Region::kCoordinator) {
    auto c = region_->ConnectAs(participant);
    EXPECT_THAT(c, IsOk());
    return c.ok() ? std::move(c).value() : nullptr;
  }

  // A case with S1 (victim, the BSN with data everywhere), S2 (child) and
  // S3 (suspected perpetrator), every partner admitted.
  std::string OpenFullCase(Coordinator& c) {
    std::vector<v1::Subject> subjects(3);
    subjects[0].set_role(v1::SUBJECT_ROLE_VICTIM);
    subjects[0].set_bsn(Region::kBsn);
    subjects[0].set_name(kCanaryName);
    subjects[0].set_date_of_birth("1990-01-01");
    subjects[1].set_role(v1::SUBJECT_ROLE_CHILD);
    subjects[1].set_bsn("999990020");
    subjects[2].set_role(v1::SUBJECT_ROLE_SUSPECTED_PERPETRATOR);
    subjects[2].set_bsn("999990031");
    auto opened = c.OpenCase("plan-van-aanpak", subjects);
    EXPECT_THAT(opened, IsOk());
    if (!opened.ok()) return "";
    EXPECT_EQ(opened->phase(), "acute-veiligheid");
    for (const auto& p : region_->partners()) EXPECT_OK(c.Admit(opened->case_id(), p).status());
    return opened->case_id();
  }

  Outcome Ask(Coordinator& c, const std::string& case_id, const std::string& partner,
              const std::vector<std::string>& categories, const std::string& purpose = "plan-van-aanpak",
              const std::string& justification = "") {
    auto id = c.SendRequest({case_id, partner, categories, purpose, {"S1"}, justification});
    EXPECT_THAT(id, IsOk());
    if (!id.ok()) return {};
    auto o = c.AwaitOutcome(*id, kWaitMs);
    EXPECT_THAT(o, IsOk()) << partner;
    return o.ok() ? *o : Outcome{};
  }

  static std::map<std::string, std::string> Fields(const Outcome& o, const std::string& category) {
    std::map<std::string, std::string> out;
    for (const auto& c : o.content.categories()) {
      if (c.category() != category) continue;
      for (const auto& r : c.records()) {
        for (const auto& fv : r.values()) out[fv.field()] = fv.value();
      }
    }
    return out;
  }

  std::vector<v1::AuditRecord> GatewayRecords() {
    std::vector<v1::AuditRecord> out;
    auto reader = audit::LogReader::Open(gateway::Gateway::AuditDir(region_->gateway_config()));
    EXPECT_THAT(reader, IsOk());
    if (!reader.ok()) return out;
    EXPECT_OK((*reader)->ForEachEntry([&](const audit::LogEntry& e) {
      out.push_back(e.record);
      return OkStatus();
    }));
    return out;
  }

  testing::TempDir dir_;
  std::shared_ptr<CaptureSink> sink_;
  std::unique_ptr<Region> region_;
};

TEST_F(EndToEndTest, TheDemoCaseThroughItsPhases) {
  ASSERT_OK(region_->StartAllAgents());
  auto c = Connect();
  ASSERT_NE(c, nullptr);
  const std::string case_id = OpenFullCase(*c);
  ASSERT_FALSE(case_id.empty());

  // Phase 1: every partner without an art. 9 condition answers, with only
  // the fields its rule allows. (The GGz, Novadic, the CIT, the Spoedplein
  // and Sterk Huis need consent for the plan; the municipality a later phase.)
  // Veilig Thuis' reporter is never shared: asked alone, it is refused.
  size_t delivered = 0;
  for (const auto& p : region_->partners()) {
    if (p == "ggz" || p == "novadic" || p == "gemeente" || p == "cit" || p == "spoedplein-etz" ||
        p == "sterk-huis") {
      continue;
    }
    std::vector<std::string> categories = region_->categories(p);
    std::erase(categories, "veilig-thuis-melder");
    Outcome o = Ask(*c, case_id, p, categories);
    ASSERT_EQ(o.kind, Outcome::Kind::kDelivered) << p << ": " << o.refusal.reason() << o.error.ToString();
    EXPECT_EQ(o.signer, p + "-agent");
    EXPECT_GT(o.retain_until_ms, SystemClock::Get().NowMillis());
    for (const auto& cat : o.content.categories()) {
      ASSERT_EQ(cat.records_size(), 1) << cat.category();
      for (const auto& fv : cat.records(0).values()) {
        EXPECT_NE(fv.value(), Region::kCanaryDropped) << "a field no rule allows was delivered";
      }
    }
    ++delivered;
  }
  Outcome melder = Ask(*c, case_id, "veilig-thuis", {"veilig-thuis-melder"});
  EXPECT_EQ(melder.kind, Outcome::Kind::kRefused);
  // The police without a justification: not the weapons field (R-POL-01).
  Outcome police = Ask(*c, case_id, "politie", {"politie-incidenten"});
  ASSERT_EQ(police.kind, Outcome::Kind::kDelivered);
  EXPECT_EQ(Fields(police, "politie-incidenten").count("wapens-aanwezig"), 0u);
  ++delivered;

  // GGz: refused for lack of consent, permitted once it is recorded.
  Outcome ggz = Ask(*c, case_id, "ggz", {"ggz-in-zorg"});
  ASSERT_EQ(ggz.kind, Outcome::Kind::kRefused);
  EXPECT_EQ(ggz.refusal.refused_by(), v1::REFUSED_BY_GATEWAY);
  EXPECT_NE(ggz.refusal.reason().find("consent"), std::string::npos) << ggz.refusal.reason();
  ASSERT_OK(c->RecordConsent(case_id, "S1", "plan-van-aanpak", SystemClock::Get().NowMillis() + 86'400'000).status());
  ggz = Ask(*c, case_id, "ggz", {"ggz-in-zorg"});
  ASSERT_EQ(ggz.kind, Outcome::Kind::kDelivered) << ggz.refusal.reason();
  EXPECT_EQ(Fields(ggz, "ggz-in-zorg").at("in-zorg"), std::string("in-zorg:") + Region::kBsn);
  ++delivered;

  // Acute danger: with a justification the weapons field comes too (R-POL-02).
  Outcome acute = Ask(*c, case_id, "politie", {"politie-incidenten"}, "acuut-gevaar-afwenden", kCanaryJustification);
  ASSERT_EQ(acute.kind, Outcome::Kind::kDelivered) << acute.refusal.reason();
  EXPECT_EQ(Fields(acute, "politie-incidenten").count("wapens-aanwezig"), 1u);
  ++delivered;

  // The municipality only from phase 2 on.
  Outcome early = Ask(*c, case_id, "gemeente", {"gemeente-ondersteuning"});
  EXPECT_EQ(early.kind, Outcome::Kind::kRefused);
  ASSERT_OK(c->ChangePhase(case_id, "stabiele-veiligheid").status());
  Outcome gemeente = Ask(*c, case_id, "gemeente", {"gemeente-ondersteuning"});
  EXPECT_EQ(gemeente.kind, Outcome::Kind::kDelivered) << gemeente.refusal.reason();
  ++delivered;
  // The acute purpose no longer holds in phase 2.
  Outcome late_acute = Ask(*c, case_id, "politie", {"politie-incidenten"}, "acuut-gevaar-afwenden", "x");
  EXPECT_EQ(late_acute.kind, Outcome::Kind::kRefused);

  // Closed: refused.
  ASSERT_OK_AND_ASSIGN(v1::CaseResult closed, c->Close(case_id, "veiligheid-hersteld"));
  EXPECT_EQ(closed.phase(), "gesloten");
  Outcome after = Ask(*c, case_id, "politie", {"politie-incidenten"});
  ASSERT_EQ(after.kind, Outcome::Kind::kRefused);
  EXPECT_NE(after.refusal.reason().find("closed"), std::string::npos) << after.refusal.reason();

  // The coordinator's store: every fragment kept, re-verified on reading.
  ASSERT_OK_AND_ASSIGN(auto fragments, c->store().Fragments(case_id));
  EXPECT_EQ(fragments.size(), delivered);
  for (const auto& f : fragments) EXPECT_THAT(c->ReadFragment(f), IsOk());
  ASSERT_OK_AND_ASSIGN(client::CaseInfo info, c->store().GetCase(case_id));
  EXPECT_TRUE(info.closed);
  EXPECT_EQ(info.partners.size(), region_->partners().size());

  // The privacy officer's copy of the gateway's log verifies against the
  // gateway's key, and holds the refusals and the deliveries.
  {
    const Identity& fg = region_->identity(Region::kPrivacyOfficer);
    ASSERT_OK_AND_ASSIGN(PublicCard gw, PublicCard::LoadFile(CardFilePath(region_->keys_dir(), "gateway")));
    ASSERT_OK_AND_ASSIGN(auto conn, client::GatewayConnection::Open(region_->endpoint(), gw, fg, SystemClock::Get()));
    ASSERT_OK(client::PullAuditLog(*conn, dir_.File("audit-copy"), kWaitMs).status());
    audit::VerifyReport report = audit::VerifyLog(dir_.File("audit-copy"), {});
    EXPECT_OK(report.status);
  }
  size_t refused = 0, delivered_events = 0;
  for (const auto& r : GatewayRecords()) {
    if (r.event() == v1::AUDIT_EVENT_DELIVERED) ++delivered_events;
    if (r.event() == v1::AUDIT_EVENT_DECISION && r.decision().verdict() == v1::AUDIT_VERDICT_DENY) ++refused;
  }
  EXPECT_EQ(delivered_events, delivered);
  EXPECT_GE(refused, 3u);  // no consent, gemeente in phase 1, acute in phase 2 (closure may be refused earlier)

  // No personal data in the clear: not in logs, not at the gateway, not in
  // the coordinator's store (subjects encrypted, fragments sealed).
  const std::string gateway_bytes = AllBytesUnder(region_->gateway_config().data_dir);
  const std::string store_bytes = AllBytesUnder(region_->CoordinatorConfig().store);
  const std::string logs = sink_->Text();
  for (const std::string& canary : {std::string(Region::kBsn), std::string(kCanaryName),
                                   std::string(kCanaryJustification), std::string("in-zorg:")}) {
    EXPECT_EQ(gateway_bytes.find(canary), std::string::npos) << canary << " at the gateway";
    EXPECT_EQ(store_bytes.find(canary), std::string::npos) << canary << " in the coordinator's store";
    EXPECT_EQ(logs.find(canary), std::string::npos) << canary << " in a log";
  }
}

TEST_F(EndToEndTest, SurvivesAGatewayRestartInTheMiddle) {
  ASSERT_OK(region_->StartAgent("politie"));
  auto c = Connect();
  ASSERT_NE(c, nullptr);
  const std::string case_id = OpenFullCase(*c);
  ASSERT_EQ(Ask(*c, case_id, "politie", {"politie-incidenten"}).kind, Outcome::Kind::kDelivered);

  region_->StopGateway();
  // While the gateway is down a command cannot be answered: it times out
  // (exit code 4 in the CLI), and a request waits in ZeroMQ's queue.
  auto id = c->SendRequest({case_id, "politie", {"politie-incidenten"}, "plan-van-aanpak", {"S1"}, ""});
  ASSERT_THAT(id, IsOk());
  ASSERT_OK(region_->StartGateway());

  // The case survived (SQLite), the same connection reconnects, the waiting
  // request is handled, the agent reconnects and answers.
  auto o = c->AwaitOutcome(*id, kWaitMs);
  ASSERT_THAT(o, IsOk());
  EXPECT_EQ(o->kind, Outcome::Kind::kDelivered) << o->refusal.reason() << o->error.ToString();
  ASSERT_OK(c->ChangePhase(case_id, "stabiele-veiligheid").status());
  EXPECT_EQ(Ask(*c, case_id, "politie", {"politie-incidenten"}).kind, Outcome::Kind::kDelivered);

  // A second client process (a new CLI run) sees the same case.
  auto c2 = Connect();
  ASSERT_NE(c2, nullptr);
  ASSERT_OK_AND_ASSIGN(client::CaseInfo info, c2->store().GetCase(case_id));
  EXPECT_EQ(info.phase, "stabiele-veiligheid");
  // The gateway's log verifies across the restart.
  EXPECT_OK(audit::VerifyLog(gateway::Gateway::AuditDir(region_->gateway_config()), {}).status);
}

TEST_F(EndToEndTest, AnAgentThatComesOnlineLateAnswersIntoTheInbox) {
  std::string case_id, request_id;
  {
    auto c = Connect();
    ASSERT_NE(c, nullptr);
    case_id = OpenFullCase(*c);
    ASSERT_OK_AND_ASSIGN(request_id,
                         c->SendRequest({case_id, "om", {"om-voorwaarden"}, "plan-van-aanpak", {"S1"}, ""}));
    // The OM agent is offline: the gateway holds the request; nothing comes.
    auto none = c->AwaitOutcome(request_id, 300);
    EXPECT_EQ(none.status().code(), StatusCode::kDeadlineExceeded);
  }  // the coordinator goes away

  // The agent comes online, gets the held request and answers; the gateway
  // holds the delivery for the offline coordinator, who fetches it later.
  ASSERT_OK(region_->StartAgent("om"));
  auto c = Connect();
  ASSERT_NE(c, nullptr);
  std::vector<Outcome> outcomes;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kWaitMs);
  while (outcomes.empty() && std::chrono::steady_clock::now() < deadline) {
    ASSERT_OK_AND_ASSIGN(outcomes, c->FetchInbox(case_id));
  }
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0].request_id, request_id);
  EXPECT_EQ(outcomes[0].kind, Outcome::Kind::kDelivered) << outcomes[0].error.ToString();
  ASSERT_OK_AND_ASSIGN(auto request, c->store().GetRequest(request_id));
  ASSERT_TRUE(request.has_value());
  EXPECT_EQ(request->state, client::RequestState::kDelivered);
  // Fetching again brings nothing new.
  ASSERT_OK_AND_ASSIGN(auto again, c->FetchInbox(""));
  EXPECT_TRUE(again.empty());
}

// Roles come from the policy: the wijkteam's casuscoördinator (partner
// gemeente, role casuscoordinator, `coordinates: true`) opens and runs a case
// of its own through the same client library, and gets exactly what the
// rules written for its role allow (R-VT-WIJK-01, R-JB-WIJK-01); the gateway
// and the agents decide it from the policy, with no role name in their code.
TEST_F(EndToEndTest, TheWijkteamsCasuscoordinatorCoordinatesACaseUnderItsOwnRules) {
  ASSERT_OK(region_->StartAgent("veilig-thuis"));
  ASSERT_OK(region_->StartAgent("jeugdbescherming"));
  auto c = Connect(Region::kWijkteamCoordinator);
  ASSERT_NE(c, nullptr);
  std::vector<v1::Subject> subjects(2);
  subjects[0].set_role(v1::SUBJECT_ROLE_VICTIM);
  subjects[0].set_bsn(Region::kBsn);
  subjects[0].set_name(kCanaryName);
  subjects[1].set_role(v1::SUBJECT_ROLE_CHILD);
  subjects[1].set_bsn("999990020");
  ASSERT_OK_AND_ASSIGN(v1::CaseResult opened, c->OpenCase("plan-van-aanpak", subjects));
  const std::string case_id = opened.case_id();
  EXPECT_EQ(opened.phase(), "acute-veiligheid");
  ASSERT_OK(c->Admit(case_id, "veilig-thuis").status());
  ASSERT_OK(c->Admit(case_id, "jeugdbescherming").status());

  // The acute phase stays with the Veiligheidsteam: the reason names the
  // wijkteam's rule and the phases it holds in.
  Outcome acute = Ask(*c, case_id, "veilig-thuis", {"veilig-thuis-veiligheidsbeoordeling"});
  ASSERT_EQ(acute.kind, Outcome::Kind::kRefused);
  EXPECT_EQ(acute.refusal.refused_by(), v1::REFUSED_BY_GATEWAY);
  EXPECT_NE(acute.refusal.reason().find("rule R-VT-WIJK-01 allows it only in phases risicogestuurde-zorg, herstel"),
            std::string::npos)
      << acute.refusal.reason();

  ASSERT_OK(c->ChangePhase(case_id, "risicogestuurde-zorg").status());

  // Delivered, signed by the source's agent (which checked the chain and the
  // policy itself), with only the fields R-VT-WIJK-01 allows.
  Outcome assessment = Ask(*c, case_id, "veilig-thuis", {"veilig-thuis-veiligheidsbeoordeling"});
  ASSERT_EQ(assessment.kind, Outcome::Kind::kDelivered)
      << assessment.refusal.reason() << assessment.error.ToString();
  EXPECT_EQ(assessment.signer, "veilig-thuis-agent");
  const auto fields = Fields(assessment, "veilig-thuis-veiligheidsbeoordeling");
  EXPECT_EQ(fields, (std::map<std::string, std::string>{
                        {"oordeel", std::string("oordeel:") + Region::kBsn},
                        {"datum-beoordeling", std::string("datum-beoordeling:") + Region::kBsn},
                        {"veiligheidsafspraken", std::string("veiligheidsafspraken:") + Region::kBsn}}));
  Outcome measures = Ask(*c, case_id, "jeugdbescherming", {"jeugdbescherming-maatregelen"});
  ASSERT_EQ(measures.kind, Outcome::Kind::kDelivered) << measures.refusal.reason() << measures.error.ToString();
  EXPECT_EQ(Fields(measures, "jeugdbescherming-maatregelen").at("maatregel"),
            std::string("maatregel:") + Region::kBsn);

  // Veilig Thuis' reports are for the casusregisseur only: refused by the
  // policy although the partner is admitted and its agent is online.
  Outcome reports = Ask(*c, case_id, "veilig-thuis", {"veilig-thuis-meldingen"});
  ASSERT_EQ(reports.kind, Outcome::Kind::kRefused);
  EXPECT_EQ(reports.refusal.refused_by(), v1::REFUSED_BY_GATEWAY);
  EXPECT_NE(reports.refusal.reason().find(
                "no rule permits veilig-thuis to share veilig-thuis-meldingen with gemeente/casuscoordinator"),
            std::string::npos)
      << reports.refusal.reason();

  // The fragments are kept and re-verify; the gateway's log names the
  // wijkteam's rules in its permits.
  ASSERT_OK_AND_ASSIGN(auto fragments, c->store().Fragments(case_id));
  EXPECT_EQ(fragments.size(), 2u);
  for (const auto& f : fragments) EXPECT_THAT(c->ReadFragment(f), IsOk());
  std::set<std::string> permitting;
  for (const auto& r : GatewayRecords()) {
    if (r.event() != v1::AUDIT_EVENT_DECISION || r.decision().verdict() != v1::AUDIT_VERDICT_PERMIT) continue;
    EXPECT_EQ(r.recipient_partner(), "gemeente");
    for (const auto& id : r.decision().rule_ids()) permitting.insert(id);
  }
  EXPECT_EQ(permitting, (std::set<std::string>{"R-JB-WIJK-01", "R-VT-WIJK-01"}));
}

TEST_F(EndToEndTest, ARoleWithoutCoordinatesCannotOpenACase) {
  auto c = Connect(Region::kNonCoordinator);
  ASSERT_NE(c, nullptr);
  std::vector<v1::Subject> subjects(1);
  subjects[0].set_role(v1::SUBJECT_ROLE_VICTIM);
  subjects[0].set_bsn(Region::kBsn);
  auto opened = c->OpenCase("plan-van-aanpak", subjects);
  EXPECT_THAT(opened, testing::StatusIs(StatusCode::kPermissionDenied, "may not open cases"));
  EXPECT_NE(opened.status().message().find(Region::kNonCoordinatorRole), std::string::npos)
      << opened.status().ToString();
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp
