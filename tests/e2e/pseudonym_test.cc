// Subject pseudonyms end to end (issue 17 §3; docs/protocol.md, "Subject
// pseudonyms"): the coordinator's client fills every SubjectRef it signs with
// the subjects' keyed pseudonyms under the region's key; the real gateway
// copies them into every record of the exchange (case opened, subject added,
// decision, forwarded, delivered, push decided/forwarded/received, referral
// received, agent refusal, expiry) and the real agents into their own
// records — equal to what the privacy officer computes from the person's
// identifiers with the same key, so `audit subject` finds them. No BSN or
// name in the gateway's files or any log line. A coordinator's client
// without the key does not open.
#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include "agent/agent.h"
#include "core/audit/log_reader.h"
#include "gateway/gateway.h"
#include "tests/testing/capture_sink.h"
#include "tests/testing/plan_push.h"
#include "tests/testing/region.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_time.h"

namespace kp {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

namespace v1 = ketenpoort::v1;
using client::Coordinator;
using client::Outcome;
using ::testing::HasSubstr;
using testing::IsOk;
using testing::Region;

using test::kWaitMs;
constexpr char kCanaryName[] = "CANARY-NAAM-Pseudoniem";
constexpr char kSuspectBsn[] = "999990032";  // passes the elfproef
constexpr char kLateName[] = "CANARY-NAAM-Later";

v1::Subject Person(v1::SubjectRole role, const std::string& bsn, const std::string& name, const std::string& dob) {
  v1::Subject s;
  s.set_role(role);
  s.set_bsn(bsn);
  s.set_name(name);
  s.set_date_of_birth(dob);
  return s;
}

// The lookup keys a privacy officer computes from one person's identifiers.
std::set<std::string> LookupKeys(const cases::PseudonymKey& key, const v1::Subject& s) {
  std::set<std::string> out;
  for (const auto& p : cases::SubjectPseudonyms(key, s)) out.insert(cases::PseudonymLookupKey(p));
  return out;
}

// The lookup keys a record carries for subject `ref`.
std::set<std::string> LookupKeysIn(const v1::AuditRecord& r, const std::string& ref) {
  std::set<std::string> out;
  for (const auto& s : r.subjects()) {
    if (s.ref() != ref) continue;
    for (const auto& p : s.pseudonyms()) out.insert(cases::PseudonymLookupKey(p));
  }
  return out;
}

std::vector<v1::AuditRecord> Records(const std::string& dir) {
  std::vector<v1::AuditRecord> out;
  auto reader = audit::LogReader::Open(dir);
  EXPECT_THAT(reader, IsOk()) << dir;
  if (!reader.ok()) return out;
  EXPECT_OK((*reader)->ForEachEntry([&](const audit::LogEntry& e) {
    out.push_back(e.record);
    return OkStatus();
  }));
  return out;
}

const v1::AuditRecord* Find(const std::vector<v1::AuditRecord>& records, v1::AuditEvent event,
                            const std::string& message_id = "") {
  for (const auto& r : records) {
    if (r.event() == event && (message_id.empty() || r.message_id() == message_id)) return &r;
  }
  return nullptr;
}

class PseudonymExchangeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sink_ = std::make_shared<testing::CaptureSink>();
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("pseudonym", sink_));
    ASSERT_OK_AND_ASSIGN(region_, Region::Create(dir_.path(), SystemClock::Get()));
    std::filesystem::create_directories(dir_.File("sink"));
    region_->SetAgentConfigHook([this](const std::string& partner, agent::AgentConfig& c) {
      c.sink.folder = dir_.File("sink");
      c.sink.retry_ms = 100;
      c.watch_interval_ms = 100;
      if (partner != "politie" || incidents_.empty()) return;
      agent::ConnectorConfig db;  // the police's own register, which can tell changes
      db.kind = agent::ConnectorConfig::Kind::kSqlite;
      db.database = incidents_;
      db.query = "SELECT datum, incidentsoort FROM incidenten WHERE bsn = :bsn";
      db.changed_query =
          "SELECT geregistreerd_ms AS changed_at_ms FROM incidenten WHERE bsn = :bsn AND geregistreerd_ms > :since";
      c.sources["politie-incidenten"] = db;
    });
    ASSERT_OK(region_->StartGateway());
    victim_ = Person(v1::SUBJECT_ROLE_VICTIM, Region::kBsn, kCanaryName, "1990-01-01");
    suspect_ = Person(v1::SUBJECT_ROLE_SUSPECTED_PERPETRATOR, kSuspectBsn, "", "");
  }

  void TearDown() override {
    region_.reset();
    if (HasFailure()) std::cerr << "log:\n" << sink_->Text();
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("null"));
  }

  std::vector<v1::AuditRecord> GatewayRecords() {
    return Records(gateway::Gateway::AuditDir(region_->gateway_config()));
  }
  std::vector<v1::AuditRecord> AgentRecords(const std::string& partner) {
    return Records(agent::Agent::AuditDir(region_->AgentConfigFor(partner)));
  }

  // Every record of `records` about `message_id` (of the events given) names
  // exactly `refs`, each with the pseudonyms the officer computes.
  void ExpectSubjects(const v1::AuditRecord* r, const std::vector<std::pair<std::string, v1::Subject>>& refs,
                      const std::string& what) {
    ASSERT_NE(r, nullptr) << what;
    ASSERT_EQ(r->subjects_size(), static_cast<int>(refs.size())) << what << ": " << r->DebugString();
    for (size_t i = 0; i < refs.size(); ++i) {
      EXPECT_EQ(r->subjects(static_cast<int>(i)).ref(), refs[i].first) << what;
      const auto want = LookupKeys(region_->pseudonym_key(), refs[i].second);
      EXPECT_FALSE(want.empty()) << what;
      EXPECT_EQ(LookupKeysIn(*r, refs[i].first), want) << what << " " << refs[i].first;
    }
  }

  void ExpectNoCanary() {
    const std::string files = testing::AllBytesUnder(region_->gateway_config().data_dir);
    for (const char* canary : {Region::kBsn, kCanaryName, kSuspectBsn, kLateName}) {
      EXPECT_EQ(files.find(canary), std::string::npos) << canary << " in the gateway's files";
      EXPECT_EQ(sink_->Text().find(canary), std::string::npos) << canary << " in a log line";
    }
  }

  void Sql(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(incidents_.c_str(), &db), SQLITE_OK);
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    sqlite3_close(db);
  }

  testing::TempDir dir_;
  std::shared_ptr<testing::CaptureSink> sink_;
  std::unique_ptr<Region> region_;
  v1::Subject victim_, suspect_;
  std::string incidents_;  // the police's SQLite register, when a test uses one
};

TEST_F(PseudonymExchangeTest, RequestPushAndCaseCommandsCarryThePseudonymsTheOfficerComputes) {
  ASSERT_OK(region_->StartAgent("politie"));
  ASSERT_OK_AND_ASSIGN(auto c, region_->Coordinator());
  ASSERT_OK_AND_ASSIGN(v1::CaseResult opened, c->OpenCase("plan-van-aanpak", {victim_, suspect_}));
  const std::string case_id = opened.case_id();
  ASSERT_OK(c->Admit(case_id, "politie").status());
  const v1::Subject late = Person(v1::SUBJECT_ROLE_CHILD, "", kLateName, "2016-05-12");
  std::string late_ref;
  ASSERT_OK(c->AddSubject(case_id, late, &late_ref).status());
  EXPECT_EQ(late_ref, "S3");
  ASSERT_OK(c->RecordConsent(case_id, "S1", "plan-van-aanpak", SystemClock::Get().NowMillis() + 86'400'000LL)
                .status());

  // A request about the victim and the suspect, answered by the police.
  ASSERT_OK_AND_ASSIGN(std::string request_id,
                       c->SendRequest({case_id, "politie", {"politie-incidenten"}, "plan-van-aanpak", {"S1", "S2"}, ""}));
  ASSERT_OK_AND_ASSIGN(Outcome answered, c->AwaitOutcome(request_id, kWaitMs));
  ASSERT_EQ(answered.kind, Outcome::Kind::kDelivered) << answered.refusal.reason();

  // The plan sent to the police, about the victim.
  ASSERT_OK_AND_ASSIGN(client::PushInfo pushed, c->Push(testing::PlanPush(case_id, "politie"), kWaitMs));
  ASSERT_EQ(pushed.state, "received") << pushed.reason;

  const std::vector<std::pair<std::string, v1::Subject>> asked = {{"S1", victim_}, {"S2", suspect_}};
  const auto g = GatewayRecords();
  const v1::AuditRecord* opened_rec = nullptr;
  for (const auto& r : g) {
    if (r.event() == v1::AUDIT_EVENT_CASE_OPENED && r.case_id() == case_id) opened_rec = &r;
  }
  ExpectSubjects(opened_rec, asked, "CASE_OPENED");
  const v1::AuditRecord* added = nullptr;
  for (const auto& r : g) {
    if (r.event() == v1::AUDIT_EVENT_SUBJECT_ADDED && r.case_id() == case_id) added = &r;
  }
  ExpectSubjects(added, {{"S3", late}}, "SUBJECT_ADDED");
  // The late subject has only a name and date of birth: one pseudonym.
  ASSERT_NE(added, nullptr);
  ASSERT_EQ(added->subjects(0).pseudonyms_size(), 1);
  EXPECT_EQ(added->subjects(0).pseudonyms(0).basis(), v1::PSEUDONYM_BASIS_NAME_AND_BIRTH_DATE);
  EXPECT_EQ(added->subjects(0).pseudonyms(0).key_id(), Region::kPseudonymKeyId);

  const v1::AuditRecord* consent = nullptr;
  for (const auto& r : g) {
    if (r.event() == v1::AUDIT_EVENT_CONSENT_RECORDED && r.case_id() == case_id) consent = &r;
  }
  ExpectSubjects(consent, {{"S1", victim_}}, "CONSENT_RECORDED (from the case's history)");
  ExpectSubjects(Find(g, v1::AUDIT_EVENT_DECISION, request_id), asked, "request DECISION");
  ExpectSubjects(Find(g, v1::AUDIT_EVENT_FORWARDED, request_id), asked, "FORWARDED");
  ExpectSubjects(Find(g, v1::AUDIT_EVENT_DELIVERED, request_id), asked, "gateway DELIVERED");
  ExpectSubjects(Find(g, v1::AUDIT_EVENT_DECISION, pushed.push_id), {{"S1", victim_}}, "push DECISION");
  ExpectSubjects(Find(g, v1::AUDIT_EVENT_PUSH_FORWARDED, pushed.push_id), {{"S1", victim_}}, "PUSH_FORWARDED");
  ExpectSubjects(Find(g, v1::AUDIT_EVENT_PUSH_RECEIVED, pushed.push_id), {{"S1", victim_}}, "PUSH_RECEIVED");

  const auto a = AgentRecords("politie");
  ExpectSubjects(Find(a, v1::AUDIT_EVENT_DELIVERED, request_id), asked, "agent DELIVERED");
  ExpectSubjects(Find(a, v1::AUDIT_EVENT_RECEIVED, pushed.push_id), {{"S1", victim_}}, "agent RECEIVED");

  // Found by a lookup from the identifiers alone, the BSN or the name and
  // date of birth: no record names the victim's pseudonym for another ref.
  const auto victim_keys = LookupKeys(region_->pseudonym_key(), victim_);
  size_t about_victim = 0;
  for (const auto& r : g) {
    for (const auto& s : r.subjects()) {
      for (const auto& p : s.pseudonyms()) {
        if (victim_keys.count(cases::PseudonymLookupKey(p)) == 0) continue;
        ++about_victim;
        EXPECT_EQ(s.ref(), "S1");
      }
    }
  }
  EXPECT_GE(about_victim, 8u);
  ExpectNoCanary();
}

TEST_F(PseudonymExchangeTest, RefusalsAndExpiryCarryThemToo) {
  // The police's agent is away: the request waits and expires.
  region_->gateway_config().request_expiry_ms = 300;
  region_->StopGateway();
  ASSERT_OK(region_->StartGateway());
  ASSERT_OK_AND_ASSIGN(auto c, region_->Coordinator());
  ASSERT_OK_AND_ASSIGN(v1::CaseResult opened, c->OpenCase("plan-van-aanpak", {victim_, suspect_}));
  const std::string case_id = opened.case_id();
  ASSERT_OK(c->Admit(case_id, "politie").status());
  // Refused at the gateway: the GGz is not admitted and needs consent.
  ASSERT_OK_AND_ASSIGN(std::string refused_id,
                       c->SendRequest({case_id, "ggz", {"ggz-behandeldossier"}, "plan-van-aanpak", {"S2"}, ""}));
  ASSERT_OK_AND_ASSIGN(Outcome refused, c->AwaitOutcome(refused_id, kWaitMs));
  EXPECT_EQ(refused.kind, Outcome::Kind::kRefused);
  ASSERT_OK_AND_ASSIGN(std::string expiring_id,
                       c->SendRequest({case_id, "politie", {"politie-incidenten"}, "plan-van-aanpak", {"S1"}, ""}));
  ASSERT_OK_AND_ASSIGN(Outcome expired, c->AwaitOutcome(expiring_id, kWaitMs));
  EXPECT_EQ(expired.kind, Outcome::Kind::kRefused);

  const auto g = GatewayRecords();
  const v1::AuditRecord* refusal = nullptr;
  for (const auto& r : g) {
    if (r.message_id() == refused_id && (r.event() == v1::AUDIT_EVENT_REFUSED || r.event() == v1::AUDIT_EVENT_DECISION)) {
      refusal = &r;
    }
  }
  ExpectSubjects(refusal, {{"S2", suspect_}}, "refused request");
  ExpectSubjects(Find(g, v1::AUDIT_EVENT_EXPIRED, expiring_id), {{"S1", victim_}}, "EXPIRED");
  ExpectNoCanary();
}

TEST_F(PseudonymExchangeTest, AReferralTheCaseOpenedOnItAndItsHandoverCarryThem) {
  auto vt = region_->ConnectAs(Region::kVeiligThuisCoordinator);
  ASSERT_THAT(vt, IsOk());
  ASSERT_OK_AND_ASSIGN(v1::ReferralStatus sent,
                       (*vt)->SendReferral({"VT-MB-2026-0815", "veiligheidsteam", "plan-van-aanpak", {"herhaald-geweld"}},
                                           {victim_, suspect_}));
  ASSERT_OK_AND_ASSIGN(auto regisseur, region_->Coordinator());
  ASSERT_OK(regisseur->FetchInbox("").status());
  ASSERT_EQ(regisseur->TakeNews().referrals.size(), 1u);
  ASSERT_OK_AND_ASSIGN(v1::CaseResult opened, regisseur->AcceptReferral(sent.referral_id()));

  const std::vector<std::pair<std::string, v1::Subject>> family = {{"S1", victim_}, {"S2", suspect_}};
  const auto g = GatewayRecords();
  ExpectSubjects(Find(g, v1::AUDIT_EVENT_REFERRAL_RECEIVED), family, "REFERRAL_RECEIVED");
  const v1::AuditRecord* opened_rec = nullptr;
  for (const auto& r : g) {
    if (r.event() == v1::AUDIT_EVENT_CASE_OPENED && r.case_id() == opened.case_id()) opened_rec = &r;
  }
  ExpectSubjects(opened_rec, family, "CASE_OPENED on the referral");

  // Handed to the wijkteam's casuscoördinator: the subjects' data goes over,
  // and the release names them.
  ASSERT_OK(regisseur->ChangePhase(opened.case_id(), "risicogestuurde-zorg").status());
  ASSERT_OK(regisseur
                ->OfferHandover(opened.case_id(), Region::kWijkteamCoordinator, "naar-wijkteam",
                                SystemClock::Get().NowMillis() + 86'400'000LL, 0)
                .status());
  auto wijk = region_->ConnectAs(Region::kWijkteamCoordinator);
  ASSERT_THAT(wijk, IsOk());
  ASSERT_OK_AND_ASSIGN(client::HandoverTaken taken, (*wijk)->AcceptHandover(opened.case_id()));
  EXPECT_EQ(taken.subjects, 2u);
  ExpectSubjects(Find(GatewayRecords(), v1::AUDIT_EVENT_HANDOVER_DATA), family, "HANDOVER_DATA");
  ExpectNoCanary();
}

TEST_F(PseudonymExchangeTest, AWatchAndItsSignalCarryThem) {
  incidents_ = dir_.File("incidenten.db");
  Sql("CREATE TABLE incidenten(bsn TEXT, datum TEXT, incidentsoort TEXT, geregistreerd_ms INTEGER)");
  Sql("INSERT INTO incidenten VALUES('" + std::string(kSuspectBsn) + "', '2026-03-01', 'bedreiging', 1000)");
  ASSERT_OK(region_->StartAgent("politie"));
  ASSERT_OK_AND_ASSIGN(auto c, region_->Coordinator());
  ASSERT_OK_AND_ASSIGN(v1::CaseResult opened, c->OpenCase("plan-van-aanpak", {victim_, suspect_}));
  const std::string case_id = opened.case_id();
  ASSERT_OK(c->Admit(case_id, "politie").status());
  ASSERT_OK(c->ChangePhase(case_id, "risicogestuurde-zorg").status());
  client::RequestSpec spec{case_id, "politie", {"politie-incidenten"}, "plan-van-aanpak", {"S2"}, "", {}};
  spec.watch_until_ms = SystemClock::Get().NowMillis() + 30 * 86'400'000LL;
  ASSERT_OK_AND_ASSIGN(std::string watch_id, c->Watch(spec));
  ASSERT_OK_AND_ASSIGN(Outcome started, c->AwaitOutcome(watch_id, kWaitMs));
  ASSERT_TRUE(started.watch_started) << started.refusal.reason();
  Sql("INSERT INTO incidenten VALUES('" + std::string(kSuspectBsn) + "', '2026-11-30', 'mishandeling', " +
      std::to_string(SystemClock::Get().NowMillis()) + ")");
  std::vector<client::SignalInfo> signals;
  for (const int64_t until = SystemClock::Get().NowMillis() + kWaitMs;
       signals.empty() && SystemClock::Get().NowMillis() < until;) {
    ASSERT_OK(c->Poll(200, nullptr).status());
    ASSERT_OK_AND_ASSIGN(signals, c->store().Signals(case_id));
  }
  ASSERT_EQ(signals.size(), 1u);

  const std::vector<std::pair<std::string, v1::Subject>> watched = {{"S2", suspect_}};
  const auto g = GatewayRecords();
  ExpectSubjects(Find(g, v1::AUDIT_EVENT_DECISION, watch_id), watched, "watch DECISION");
  ExpectSubjects(Find(g, v1::AUDIT_EVENT_WATCH_STARTED, watch_id), watched, "gateway WATCH_STARTED");
  ExpectSubjects(Find(g, v1::AUDIT_EVENT_SIGNAL, watch_id), watched, "gateway SIGNAL (from the case's history)");
  const auto a = AgentRecords("politie");
  ExpectSubjects(Find(a, v1::AUDIT_EVENT_WATCH_STARTED, watch_id), watched, "agent WATCH_STARTED");
  ExpectSubjects(Find(a, v1::AUDIT_EVENT_SIGNAL, watch_id), watched, "agent SIGNAL");

  // The case closes: the watch ends at the gateway and at the agent.
  ASSERT_OK(c->Close(case_id, "veiligheid-hersteld").status());
  ExpectSubjects(Find(GatewayRecords(), v1::AUDIT_EVENT_WATCH_ENDED, watch_id), watched, "gateway WATCH_ENDED");
  std::vector<v1::AuditRecord> after;
  for (const int64_t until = SystemClock::Get().NowMillis() + kWaitMs;
       Find(after, v1::AUDIT_EVENT_WATCH_ENDED, watch_id) == nullptr && SystemClock::Get().NowMillis() < until;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the agent's log is written asynchronously
    after = AgentRecords("politie");
  }
  ExpectSubjects(Find(after, v1::AUDIT_EVENT_WATCH_ENDED, watch_id), watched, "agent WATCH_ENDED");
  ExpectNoCanary();
}

TEST_F(PseudonymExchangeTest, ACoordinatorWithoutTheKeyDoesNotOpen) {
  client::ClientConfig config = region_->CoordinatorConfig();
  config.pseudonym_key.clear();
  auto c = Coordinator::Open(config, SystemClock::Get());
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr("pseudonym_key"));
  // A key file others may read is refused too, naming the file.
  const std::string loose = dir_.File("loose.pseudonym-key");
  std::filesystem::copy_file(region_->pseudonym_key_path(), loose);
  std::filesystem::permissions(loose, std::filesystem::perms::owner_read | std::filesystem::perms::group_read);
  config.pseudonym_key = loose;
  c = Coordinator::Open(config, SystemClock::Get());
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr(loose));
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp
