// Watches and content-free signals end to end (issue 16 §1, docs/protocol.md
// §3.8): the real gateway, the real police and OM agents, the coordinator's
// client, on CURVE sockets on 127.0.0.1, the police's own SQLite source.
// The coordinator asks the police to watch the suspected perpetrator; in the
// herstel phase (when the policy no longer lets incidents be shared) the
// police register a new incident, and the coordinator gets a signal — case,
// subject, category, when; no content. A forged signal from another agent, a
// signal for an ended watch and a watch longer than a year are refused; the
// case's closure ends the watch at the agent.
#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <filesystem>

#include "agent/watches.h"
#include "core/audit/log_reader.h"
#include "core/crypto/random.h"
#include "core/envelope/envelope.h"
#include "core/transport/dealer_client.h"
#include "core/transport/transport_context.h"
#include "gateway/gateway.h"
#include "tests/testing/capture_sink.h"
#include "tests/testing/region.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_time.h"

namespace kp {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

namespace v1 = ketenpoort::v1;
using client::Coordinator;
using testing::IsOk;
using testing::Region;

using test::kDay;
using test::kWaitMs;
constexpr char kPerpetratorBsn[] = "999990031";
constexpr char kCanaryName[] = "CANARY-NAAM-Pleger";

int64_t Now() { return SystemClock::Get().NowMillis(); }

class WatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sink_ = std::make_shared<testing::CaptureSink>();
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("watch", sink_));
    ASSERT_OK_AND_ASSIGN(region_, Region::Create(dir_.path(), SystemClock::Get()));
    // The police's own register: incidents with the moment each was registered.
    db_path_ = dir_.path() + "/politie-incidenten.db";
    Exec("CREATE TABLE incidenten(bsn TEXT, datum TEXT, incidentsoort TEXT, rol_betrokkene TEXT, "
         "geregistreerd_ms INTEGER)");
    Exec("INSERT INTO incidenten VALUES('" + std::string(kPerpetratorBsn) +
         "', '2026-03-01', 'bedreiging', 'verdachte', 1000)");
    region_->SetAgentConfigHook([this](const std::string& partner, agent::AgentConfig& c) {
      c.watch_interval_ms = 100;  // short, for the test; 30 s by default
      if (partner != "politie") return;
      agent::ConnectorConfig s;
      s.kind = agent::ConnectorConfig::Kind::kSqlite;
      s.database = db_path_;
      s.query = "SELECT datum, incidentsoort, rol_betrokkene AS \"rol-betrokkene\" FROM incidenten WHERE bsn = :bsn";
      s.changed_query =
          "SELECT geregistreerd_ms AS changed_at_ms FROM incidenten WHERE bsn = :bsn AND geregistreerd_ms > :since";
      c.sources["politie-incidenten"] = s;
    });
    ASSERT_OK(region_->StartGateway());
    ASSERT_OK(region_->StartAgent("politie"));
    ASSERT_OK(region_->StartAgent("om"));
  }

  void TearDown() override {
    region_.reset();
    if (HasFailure()) std::cerr << "log:\n" << sink_->Text();
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("null"));
  }

  void Exec(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(db_path_.c_str(), &db), SQLITE_OK);
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    sqlite3_close(db);
  }

  // A case in risicogestuurde-zorg: S1 the victim, S2 the suspected perpetrator.
  std::string OpenCase(Coordinator& c) {
    std::vector<v1::Subject> subjects(2);
    subjects[0].set_role(v1::SUBJECT_ROLE_VICTIM);
    subjects[0].set_bsn(Region::kBsn);
    subjects[1].set_role(v1::SUBJECT_ROLE_SUSPECTED_PERPETRATOR);
    subjects[1].set_bsn(kPerpetratorBsn);
    subjects[1].set_name(kCanaryName);
    auto opened = c.OpenCase("plan-van-aanpak", subjects);
    EXPECT_THAT(opened, IsOk());
    if (!opened.ok()) return "";
    const std::string id = opened->case_id();
    EXPECT_OK(c.Admit(id, "politie").status());
    EXPECT_OK(c.Admit(id, "om").status());
    EXPECT_OK(c.ChangePhase(id, "risicogestuurde-zorg").status());
    return id;
  }

  client::RequestSpec WatchSpec(const std::string& case_id, int64_t until_ms) {
    client::RequestSpec spec{case_id, "politie", {"politie-incidenten"}, "plan-van-aanpak", {"S2"}, "", {}};
    spec.watch_until_ms = until_ms;
    return spec;
  }

  // Sends a SIGNAL as `agent_id` (a raw connection with its keys) and
  // returns the gateway's answer (its kind and, for an ERROR, its code).
  std::pair<v1::MessageKind, int> SendSignalAs(const std::string& agent_id, const v1::Signal& signal) {
    const Identity& me = region_->identity(agent_id);
    TransportContext context;
    DealerOptions options;
    options.endpoint = region_->endpoint();
    options.server_public_key = region_->identity("gateway").transport().public_key;
    auto conn = DealerClient::Create(context.get(), me.transport().public_key, me.transport().secret_key, options);
    EXPECT_THAT(conn, IsOk());
    if (!conn.ok()) return {v1::MESSAGE_KIND_UNSPECIFIED, 0};
    EnvelopeSigner signer(agent_id, me.signing().secret_key, SystemClock::Get());
    auto m = signer.Sign(v1::MESSAGE_KIND_SIGNAL, "", signal.watch_id(), signal.SerializeAsString());
    EXPECT_THAT(m, IsOk());
    EXPECT_OK((*conn)->Send(m->bytes));
    const int64_t deadline = Now() + kWaitMs;
    while (Now() < deadline) {
      auto got = (*conn)->Receive(200);
      if (!got.ok() || !got->has_value()) continue;
      v1::Envelope env;
      v1::Header header;
      if (!env.ParseFromString(**got) || !header.ParseFromString(env.header())) continue;
      if (header.request_id() != m->message_id && header.request_id() != signal.watch_id()) continue;
      if (header.kind() == v1::MESSAGE_KIND_ERROR) {
        v1::Error err;
        err.ParseFromString(env.body());
        return {header.kind(), static_cast<int>(err.code())};
      }
      return {header.kind(), 0};
    }
    return {v1::MESSAGE_KIND_UNSPECIFIED, 0};
  }

  std::vector<v1::AuditRecord> GatewayRecords(const std::string& case_id) {
    std::vector<v1::AuditRecord> out;
    auto reader = audit::LogReader::Open(gateway::Gateway::AuditDir(region_->gateway_config()));
    EXPECT_THAT(reader, IsOk());
    if (!reader.ok()) return out;
    EXPECT_OK((*reader)->ForEachEntry([&](const audit::LogEntry& e) {
      if (e.record.case_id() == case_id) out.push_back(e.record);
      return OkStatus();
    }));
    return out;
  }

  // A watch of the suspected perpetrator's incidents, started at the police.
  std::string StartedWatch(Coordinator& c, const std::string& case_id) {
    auto id = c.Watch(WatchSpec(case_id, Now() + 30 * kDay));
    EXPECT_THAT(id, IsOk());
    if (!id.ok()) return "";
    auto started = c.AwaitOutcome(*id, kWaitMs);
    EXPECT_THAT(started, IsOk());
    if (!started.ok() || started->kind != client::Outcome::Kind::kDelivered) return "";
    return *id;
  }

  // Polls the coordinator until `done` holds or the wait is over.
  bool PollUntil(Coordinator& c, const std::function<bool()>& done) {
    for (const int64_t deadline = Now() + kWaitMs; Now() < deadline;) {
      if (done()) return true;
      EXPECT_OK(c.Poll(100, nullptr).status());
    }
    return done();
  }

  testing::TempDir dir_;
  std::string db_path_;
  std::shared_ptr<testing::CaptureSink> sink_;
  std::unique_ptr<Region> region_;
};

TEST_F(WatchTest, PoliceSignalANewIncidentAboutThePerpetratorInHerstelAndTheWatchEndsWithTheCase) {
  ASSERT_OK_AND_ASSIGN(auto c, region_->Coordinator());
  const std::string case_id = OpenCase(*c);
  ASSERT_FALSE(case_id.empty());

  // The watch: decided and audited like a request, kept by the agent.
  ASSERT_OK_AND_ASSIGN(std::string watch_id, c->Watch(WatchSpec(case_id, Now() + 30 * kDay)));
  ASSERT_OK_AND_ASSIGN(client::Outcome started, c->AwaitOutcome(watch_id, kWaitMs));
  ASSERT_EQ(started.kind, client::Outcome::Kind::kDelivered) << started.refusal.reason();
  EXPECT_TRUE(started.watch_started);
  EXPECT_EQ(started.signer, "politie-agent");

  // Herstel: incidents are no longer shared, but the watch goes on.
  ASSERT_OK(c->ChangePhase(case_id, "herstel").status());
  // The police register a new incident about the suspected perpetrator.
  Exec("INSERT INTO incidenten VALUES('" + std::string(kPerpetratorBsn) + "', '2026-11-30', 'mishandeling', 'verdachte', " +
       std::to_string(Now()) + ")");
  std::vector<client::SignalInfo> signals;
  const int64_t deadline = Now() + kWaitMs;
  while (signals.empty() && Now() < deadline) {
    ASSERT_OK(c->Poll(200, nullptr).status());
    ASSERT_OK_AND_ASSIGN(signals, c->store().Signals(case_id));
  }
  ASSERT_EQ(signals.size(), 1u);
  EXPECT_EQ(signals[0].watch_id, watch_id);
  EXPECT_EQ(signals[0].subject_ref, "S2");
  EXPECT_EQ(signals[0].category, "politie-incidenten");
  EXPECT_EQ(signals[0].partner, "politie");
  ASSERT_OK_AND_ASSIGN(auto watches, c->store().Watches(case_id, Now()));
  ASSERT_EQ(watches.size(), 1u);
  EXPECT_EQ(watches[0].state, client::WatchState::kActive);

  // Another agent cannot signal for the police's watch.
  v1::Signal forged;
  forged.set_watch_id(watch_id);
  forged.set_case_id(case_id);
  forged.set_kind(v1::SIGNAL_KIND_CHANGED);
  forged.set_subject_ref("S2");
  forged.set_category("politie-incidenten");
  forged.set_changed_at_ms(Now());
  auto [kind, code] = SendSignalAs("om-agent", forged);
  EXPECT_EQ(kind, v1::MESSAGE_KIND_ERROR);
  EXPECT_EQ(code, static_cast<int>(v1::ERROR_CODE_PERMISSION_DENIED));

  // The case closes: the watch ends, the police's agent forgets it.
  ASSERT_OK(c->Close(case_id, "veiligheid-hersteld").status());
  const std::string watches_db = region_->AgentConfigFor("politie").data_dir + "/watches.db";
  bool forgotten = false;
  for (int64_t until = Now() + kWaitMs; !forgotten && Now() < until;) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open_v2(watches_db.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
    sqlite3_stmt* q = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT count(*) FROM watches", -1, &q, nullptr), SQLITE_OK);
    forgotten = sqlite3_step(q) == SQLITE_ROW && sqlite3_column_int(q, 0) == 0;
    sqlite3_finalize(q);
    sqlite3_close(db);
    if (!forgotten) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(forgotten) << "the agent still keeps the watch of a closed case";
  ASSERT_OK_AND_ASSIGN(watches, c->store().Watches(case_id, Now()));
  EXPECT_EQ(watches[0].state, client::WatchState::kEnded);

  // A signal for the ended watch, even from the police, is refused.
  region_->StopAgent("politie");
  forged.set_changed_at_ms(Now());
  auto [kind2, code2] = SendSignalAs("politie-agent", forged);
  EXPECT_EQ(kind2, v1::MESSAGE_KIND_ERROR);
  EXPECT_EQ(code2, static_cast<int>(v1::ERROR_CODE_FAILED_PRECONDITION));

  // The privacy officer's record: started, one signal, ended.
  const auto records = GatewayRecords(case_id);
  int started_n = 0, signal_n = 0, ended_n = 0;
  for (const auto& r : records) {
    started_n += r.event() == v1::AUDIT_EVENT_WATCH_STARTED;
    signal_n += r.event() == v1::AUDIT_EVENT_SIGNAL;
    ended_n += r.event() == v1::AUDIT_EVENT_WATCH_ENDED;
  }
  EXPECT_EQ(started_n, 1);
  EXPECT_EQ(signal_n, 1);
  EXPECT_EQ(ended_n, 1);
  for (const char* canary : {kPerpetratorBsn, kCanaryName}) {
    EXPECT_EQ(sink_->Text().find(canary), std::string::npos) << canary << " in the log";
  }
}

TEST_F(WatchTest, AWatchLongerThanAYearIsRefusedByTheGateway) {
  ASSERT_OK_AND_ASSIGN(auto c, region_->Coordinator());
  const std::string case_id = OpenCase(*c);
  ASSERT_FALSE(case_id.empty());
  ASSERT_OK_AND_ASSIGN(std::string id, c->Watch(WatchSpec(case_id, Now() + 400 * kDay)));
  ASSERT_OK_AND_ASSIGN(client::Outcome o, c->AwaitOutcome(id, kWaitMs));
  ASSERT_EQ(o.kind, client::Outcome::Kind::kRefused);
  EXPECT_THAT(o.refusal.reason(), ::testing::HasSubstr("365 days"));
  ASSERT_OK_AND_ASSIGN(auto watches, c->store().Watches(case_id, Now()));
  ASSERT_EQ(watches.size(), 1u);
  EXPECT_EQ(watches[0].state, client::WatchState::kRefused);
}

// An agent that stops after sending a signal and before the gateway's
// receipt sends it again when it starts: the look that found the change has
// moved on, so only the kept signal can still tell the coordinator.
TEST_F(WatchTest, ASignalWithoutReceiptIsSentAgainAfterTheAgentRestarts) {
  ASSERT_OK_AND_ASSIGN(auto c, region_->Coordinator());
  const std::string case_id = OpenCase(*c);
  ASSERT_FALSE(case_id.empty());
  const std::string watch_id = StartedWatch(*c, case_id);
  ASSERT_FALSE(watch_id.empty());
  const std::string watches_db = region_->AgentConfigFor("politie").data_dir + "/watches.db";
  region_->StopAgent("politie");
  {
    // What the stopped agent left: the change found (last look moved past
    // it) and its signal sent, without receipt.
    ASSERT_OK_AND_ASSIGN(auto store, agent::WatchStore::Open(watches_db));
    ASSERT_OK_AND_ASSIGN(auto kept, store->Get(watch_id));
    ASSERT_TRUE(kept.has_value());
    v1::Signal sig;
    sig.set_watch_id(watch_id);
    sig.set_case_id(case_id);
    sig.set_kind(v1::SIGNAL_KIND_CHANGED);
    sig.set_subject_ref("S2");
    sig.set_category("politie-incidenten");
    sig.set_changed_at_ms(Now() - 500);
    sig.set_watch_until_ms(kept->until_ms);
    ASSERT_OK(store->KeepSignal(agent::OutgoingSignal{RandomBytes(16), watch_id, sig.SerializeAsString(), Now() - 400}));
    ASSERT_OK(store->SetLastLook(watch_id, Now()));
    ASSERT_OK_AND_ASSIGN(auto outgoing, store->Outgoing());
    ASSERT_EQ(outgoing.size(), 1u);
  }
  ASSERT_OK(region_->StartAgent("politie"));
  std::vector<client::SignalInfo> signals;
  ASSERT_TRUE(PollUntil(*c, [&] {
    auto got = c->store().Signals(case_id);
    if (got.ok()) signals = *got;
    return !signals.empty();
  })) << "the kept signal did not arrive after the restart";
  ASSERT_EQ(signals.size(), 1u);
  EXPECT_EQ(signals[0].subject_ref, "S2");
  EXPECT_EQ(signals[0].category, "politie-incidenten");
  // Receipted now: no longer kept.
  bool dropped = false;
  for (const int64_t until = Now() + kWaitMs; !dropped && Now() < until;) {
    auto store = agent::WatchStore::Open(watches_db);
    ASSERT_THAT(store, IsOk());
    auto outgoing = (*store)->Outgoing();
    dropped = outgoing.ok() && outgoing->empty();
    if (!dropped) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(dropped) << "the receipted signal is still kept";
}

// Every bit of a police SIGNAL envelope flipped, and every truncation of
// it, is refused with an ERROR (never a receipt, never a signal kept); the
// untouched envelope is still taken afterwards.
TEST_F(WatchTest, EveryFlippedBitOrTruncationOfASignalIsRefusedAndTheGatewayGoesOn) {
  ASSERT_OK_AND_ASSIGN(auto c, region_->Coordinator());
  const std::string case_id = OpenCase(*c);
  ASSERT_FALSE(case_id.empty());
  const std::string watch_id = StartedWatch(*c, case_id);
  ASSERT_FALSE(watch_id.empty());
  region_->StopAgent("politie");  // its identity is used on a raw connection below

  const Identity& me = region_->identity("politie-agent");
  TransportContext context;
  DealerOptions options;
  options.endpoint = region_->endpoint();
  options.server_public_key = region_->identity("gateway").transport().public_key;
  ASSERT_OK_AND_ASSIGN(auto conn,
                       DealerClient::Create(context.get(), me.transport().public_key, me.transport().secret_key, options));
  EnvelopeSigner signer("politie-agent", me.signing().secret_key, SystemClock::Get());
  v1::Signal sig;
  sig.set_watch_id(watch_id);
  sig.set_case_id(case_id);
  sig.set_kind(v1::SIGNAL_KIND_CHANGED);
  sig.set_subject_ref("S2");
  sig.set_category("politie-incidenten");
  sig.set_changed_at_ms(Now());
  ASSERT_OK_AND_ASSIGN(SignedMessage good, signer.Sign(v1::MESSAGE_KIND_SIGNAL, "", watch_id, sig.SerializeAsString()));

  std::vector<std::string> damaged;
  for (size_t bit = 0; bit < good.bytes.size() * 8; ++bit) {
    std::string bad = good.bytes;
    bad[bit / 8] = static_cast<char>(bad[bit / 8] ^ (1 << (bit % 8)));
    damaged.push_back(std::move(bad));
  }
  for (size_t n = 0; n < good.bytes.size(); ++n) damaged.push_back(good.bytes.substr(0, n));
  const size_t sent = damaged.size();
  // One ERROR for each; nothing else. Sent as fast as the queue takes them.
  size_t errors = 0, others = 0, next = 0;
  auto take = [&](int wait_ms) {
    auto got = conn->Receive(wait_ms);
    if (!got.ok() || !got->has_value()) return;
    v1::Envelope env;
    v1::Header header;
    if (!env.ParseFromString(**got) || !header.ParseFromString(env.header())) {
      ++others;
      return;
    }
    if (header.kind() == v1::MESSAGE_KIND_HEARTBEAT) return;
    (header.kind() == v1::MESSAGE_KIND_ERROR ? errors : others)++;
  };
  for (const int64_t deadline = Now() + 3 * kWaitMs; errors + others < sent && Now() < deadline;) {
    if (next < sent) {
      Status s = conn->Send(damaged[next]);
      if (s.ok()) {
        ++next;
        continue;
      }
      ASSERT_EQ(s.code(), StatusCode::kResourceExhausted) << s;
    }
    take(next < sent ? 5 : 100);
  }
  EXPECT_EQ(errors, sent);
  EXPECT_EQ(others, 0u) << "a damaged signal was answered with something other than an ERROR";
  ASSERT_OK_AND_ASSIGN(auto signals, c->store().Signals(case_id));
  EXPECT_TRUE(signals.empty());

  // The gateway goes on: the genuine signal is receipted.
  ASSERT_OK(conn->Send(good.bytes));
  bool receipted = false;
  for (const int64_t deadline = Now() + kWaitMs; !receipted && Now() < deadline;) {
    auto got = conn->Receive(100);
    if (!got.ok() || !got->has_value()) continue;
    v1::Envelope env;
    v1::Header header;
    if (env.ParseFromString(**got) && header.ParseFromString(env.header())) {
      receipted = header.kind() == v1::MESSAGE_KIND_RECEIPT && header.request_id() == watch_id;
    }
  }
  EXPECT_TRUE(receipted);
  EXPECT_TRUE(PollUntil(*c, [&] {
    auto got = c->store().Signals(case_id);
    return got.ok() && got->size() == 1;
  }));
}

// The gateway ends a watch when its partner is removed from the case, and
// the coordinator's client learns it from the gateway's notice.
TEST_F(WatchTest, RemovingThePartnerEndsTheWatchAtTheCoordinator) {
  ASSERT_OK_AND_ASSIGN(auto c, region_->Coordinator());
  const std::string case_id = OpenCase(*c);
  ASSERT_FALSE(case_id.empty());
  const std::string watch_id = StartedWatch(*c, case_id);
  ASSERT_FALSE(watch_id.empty());
  ASSERT_OK(c->RemovePartner(case_id, "politie", "geen-rol-meer").status());
  client::WatchInfo w;
  EXPECT_TRUE(PollUntil(*c, [&] {
    auto got = c->store().Watches(case_id, Now());
    if (got.ok() && !got->empty()) w = got->front();
    return w.state == client::WatchState::kEnded;
  })) << "state " << client::WatchStateName(w.state);
  EXPECT_EQ(w.reason, "partner-verwijderd");
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp
