// The coordinator client against a hostile gateway: a real CURVE ROUTER on
// 127.0.0.1 holding the gateway's keys, driven by the test, that hands the
// coordinator forged, tampered, misdirected and replayed answers. Nothing of
// that may be stored or shown as a fragment; the genuine answer afterwards
// still is.
#include "client/coordinator.h"

#include <spdlog/spdlog.h>

#include <thread>


#include "core/crypto/random.h"
#include "core/envelope/sealed.h"
#include "core/transport/router_server.h"
#include "core/transport/zap_handler.h"
#include "core/transport/transport_context.h"
#include "case/case_chain.h"
#include "case/commitment.h"
#include "tests/testing/case_chain_builder.h"
#include "tests/testing/region.h"
#include "tests/testing/status_matchers.h"

namespace kp::client {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

namespace v1 = ketenpoort::v1;
using testing::IsOk;
using testing::Region;

constexpr char kCase[] = "VT-2026-0042";
constexpr char kCanaryName[] = "CANARY-NAAM-Testmans";

class HostileGatewayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("null"));
    ASSERT_OK_AND_ASSIGN(region_, Region::Create(dir_.path(), SystemClock::Get()));
    TransportPeers peers;
    const Identity& me = region_->identity(Region::kCoordinator);
    peers[me.transport().public_key] = {me.id(), "coordinator", "veiligheidsteam", "casusregisseur"};
    ASSERT_OK_AND_ASSIGN(zap_, ZapHandler::Create(context_.get(), peers));
    const Identity& gw = region_->identity("gateway");
    ASSERT_OK_AND_ASSIGN(router_, RouterServer::Create(context_.get(), *zap_, gw.transport().public_key,
                                                       gw.transport().secret_key, RouterOptions{}));
    ClientConfig config = region_->CoordinatorConfig();
    config.gateway_endpoint = router_->endpoint();
    ASSERT_OK_AND_ASSIGN(coordinator_, Coordinator::Open(config, SystemClock::Get()));
    ASSERT_OK(coordinator_->Connect());
    // The case as if opened earlier (the store is the coordinator's own).
    ASSERT_OK(coordinator_->store().PutCase({kCase, "plan-van-aanpak", "acute-veiligheid", 1, false, {}}));
    v1::Subject s = testing::TestSubject("S1", v1::SUBJECT_ROLE_VICTIM, Region::kBsn, kCanaryName);
    ASSERT_OK(coordinator_->store().PutSubject(kCase, s));
    // Its history as this coordinator signed it and the gateway confirmed it.
    coordinator_signer_ = std::make_unique<EnvelopeSigner>(
        Region::kCoordinator, region_->identity(Region::kCoordinator).signing().secret_key, SystemClock::Get());
    chain_ = std::make_unique<testing::CaseChainBuilder>(*coordinator_signer_, kCase);
    chain_->Open("plan-van-aanpak", {s});
    chain_->Admit("politie");
    for (size_t i = 0; i < chain_->commands().size(); ++i) {
      ASSERT_OK(coordinator_->store().AppendCommand(kCase, i, cases::CommandHash(chain_->commands()[i]),
                                                    chain_->commands()[i]));
    }
    request_id_ = Request();
  }

  void TearDown() override {
    coordinator_.reset();
    router_.reset();
    zap_.reset();
  }

  // The next message the hostile gateway receives, past the CONFIG_FETCH
  // the client sends after its handshake (protocol §3.13).
  static bool IsConfigFetch(const std::string& payload) {
    v1::Envelope env;
    v1::Header header;
    return env.ParseFromString(payload) && header.ParseFromString(env.header()) &&
           header.kind() == v1::MESSAGE_KIND_CONFIG_FETCH;
  }
  auto NextMessage(int ms) {
    auto in = router_->Receive(ms);
    while (in.ok() && in->has_value() && IsConfigFetch((*in)->payload)) in = router_->Receive(ms);
    return in;
  }

  // Sends a request to the police; the hostile gateway takes it in.
  std::string Request(const std::string& partner = "politie") {
    auto id = coordinator_->SendRequest({kCase, partner, {"politie-incidenten"}, "plan-van-aanpak", {}, ""});
    EXPECT_THAT(id, IsOk());
    auto in = NextMessage(5000);
    EXPECT_THAT(in, IsOk());
    if (in.ok() && in->has_value()) {
      routing_id_ = (*in)->routing_id;
      request_bytes_ = (*in)->payload;
    }
    return id.value_or("");
  }

  EnvelopeSigner Signer(const std::string& id) const {
    return EnvelopeSigner(id, region_->identity(id).signing().secret_key, SystemClock::Get());
  }

  static v1::FragmentContent Content(const std::string& case_id = kCase, int64_t retain = 0) {
    v1::FragmentContent content;
    content.set_case_id(case_id);
    content.set_retain_until_ms(retain != 0 ? retain : SystemClock::Get().NowMillis() + 86'400'000);
    auto* cat = content.add_categories();
    cat->set_category("politie-incidenten");
    auto* rec = cat->add_records();
    rec->set_subject_ref("S1");
    auto* fv = rec->add_values();
    fv->set_field("datum");
    fv->set_value("2026-10-03");
    return content;
  }

  std::string SealedContent(const std::string& agent, const std::string& request_id,
                            const v1::FragmentContent& content) const {
    const Identity& me = region_->identity(Region::kCoordinator);
    auto sealed = SignAndSeal(Signer(agent), v1::MESSAGE_KIND_FRAGMENT_CONTENT, me.id(), me.sealing().public_key,
                              request_id, content.SerializeAsString());
    EXPECT_THAT(sealed, IsOk());
    return sealed.value_or("");
  }

  std::string Delivery(const std::string& agent, const std::string& request_id, const std::string& sealed,
                       const std::string& case_id = kCase) const {
    v1::FragmentDelivery d;
    d.set_request_id(request_id);
    d.set_case_id(case_id);
    d.add_categories("politie-incidenten");
    d.set_sealed_content(sealed);
    auto m = Signer(agent).Sign(v1::MESSAGE_KIND_FRAGMENT_DELIVERY, "", request_id, d.SerializeAsString());
    EXPECT_THAT(m, IsOk());
    return m.ok() ? m->bytes : "";
  }

  std::string GenuineDelivery() const {
    return Delivery("politie-agent", request_id_, SealedContent("politie-agent", request_id_, Content()));
  }

  std::string Refusal(const std::string& signer, v1::RefusedBy by, const std::string& request_id) const {
    v1::Refusal r;
    r.set_request_id(request_id);
    r.set_case_id(kCase);
    r.set_refused_by(by);
    r.set_reason("geen grondslag");
    const std::string to = signer == "gateway" ? Region::kCoordinator : "";
    auto m = Signer(signer).Sign(v1::MESSAGE_KIND_REFUSAL, to, request_id, r.SerializeAsString());
    EXPECT_THAT(m, IsOk());
    return m.ok() ? m->bytes : "";
  }

  // Sends every message, and lets the coordinator handle each; returns the
  // outcomes it reported.
  std::vector<Outcome> Feed(const std::vector<std::string>& messages) {
    std::vector<Outcome> outcomes;
    size_t handled = 0;
    for (size_t i = 0; i < messages.size(); i += 200) {
      const size_t end = std::min(messages.size(), i + 200);
      for (size_t j = i; j < end; ++j) EXPECT_OK(router_->Send(routing_id_, messages[j]));
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
      while (handled < end && std::chrono::steady_clock::now() < deadline) {
        auto n = coordinator_->Poll(100, [&](const Outcome& o) { outcomes.push_back(o); });
        EXPECT_THAT(n, IsOk());
        handled += n.value_or(0);
      }
      EXPECT_EQ(handled, end) << "the coordinator did not take every message in";
    }
    return outcomes;
  }

  // The request ids the coordinator acknowledged (DELIVERY_ACK) since the
  // last call, from what reached the hostile gateway within `ms`.
  std::vector<std::string> Acked(int ms = 300) {
    std::vector<std::string> ids;
    StaticKeyResolver keys;
    keys.Add(Region::kCoordinator, region_->identity(Region::kCoordinator).signing().public_key);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (std::chrono::steady_clock::now() < deadline) {
      auto in = router_->Receive(20);
      if (!in.ok() || !in->has_value()) continue;
      auto env = EnvelopeVerifier(keys, nullptr).Verify((*in)->payload);
      EXPECT_THAT(env, IsOk());
      if (!env.ok() || env->header.kind() != v1::MESSAGE_KIND_DELIVERY_ACK) continue;
      v1::DeliveryAck ack;
      EXPECT_OK(ParseBody(env->body, ack));
      for (const auto& id : ack.request_ids()) ids.push_back(id);
    }
    return ids;
  }

  RequestState State(const std::string& request_id) {
    auto r = coordinator_->store().GetRequest(request_id);
    EXPECT_THAT(r, IsOk());
    return r.ok() && r->has_value() ? (*r)->state : RequestState::kPending;
  }

  size_t FragmentsStored() {
    auto f = coordinator_->store().Fragments("");
    EXPECT_THAT(f, IsOk());
    return f.ok() ? f->size() : 0;
  }

  // The genuine delivery is still accepted: the request kept waiting.
  void ExpectGenuineStillAccepted() {
    auto outcomes = Feed({GenuineDelivery()});
    ASSERT_EQ(outcomes.size(), 1u);
    EXPECT_EQ(outcomes[0].kind, Outcome::Kind::kDelivered) << outcomes[0].error.ToString();
    EXPECT_EQ(State(request_id_), RequestState::kDelivered);
    EXPECT_EQ(FragmentsStored(), 1u);
  }

  // Plays the gateway for one CASE_FETCH of kCase: answers with `commands`
  // and `length`. Run on its own thread while the client waits.
  std::thread AnswerFetch(std::vector<std::string> commands, uint64_t length) {
    return std::thread([this, commands = std::move(commands), length] {
      StaticKeyResolver keys;
      keys.Add(Region::kCoordinator, region_->identity(Region::kCoordinator).signing().public_key);
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while (std::chrono::steady_clock::now() < deadline) {
        auto in = router_->Receive(50);
        if (!in.ok() || !in->has_value()) continue;
        auto env = EnvelopeVerifier(keys, nullptr).Verify((*in)->payload);
        if (!env.ok() || env->header.kind() != v1::MESSAGE_KIND_CASE_FETCH) continue;
        v1::CaseFetch fetch;
        EXPECT_OK(ParseBody(env->body, fetch));
        EXPECT_EQ(fetch.case_id(), kCase);
        v1::CaseChain chain;
        chain.set_case_id(kCase);
        chain.set_from(fetch.from());
        chain.set_length(length);
        for (size_t i = fetch.from(); i < commands.size(); ++i) chain.add_commands(commands[i]);
        auto m = Signer("gateway").Sign(v1::MESSAGE_KIND_CASE_CHAIN, Region::kCoordinator, env->header.message_id(),
                                        chain.SerializeAsString());
        EXPECT_OK(router_->Send((*in)->routing_id, m.value().bytes));
        return;
      }
      ADD_FAILURE() << "no case fetch came";
    });
  }

  testing::TempDir dir_;
  std::unique_ptr<Region> region_;
  TransportContext context_;
  std::unique_ptr<ZapHandler> zap_;
  std::unique_ptr<RouterServer> router_;
  std::unique_ptr<Coordinator> coordinator_;
  std::unique_ptr<EnvelopeSigner> coordinator_signer_;
  std::unique_ptr<testing::CaseChainBuilder> chain_;  // the case's history as the coordinator signed it
  std::string request_id_;
  std::string request_bytes_;  // the request as the gateway received it
  std::string routing_id_;
};

TEST_F(HostileGatewayTest, AGenuineDeliveryIsStoredOnceAndReplaysAreIgnored) {
  const std::string genuine = GenuineDelivery();
  auto first = Feed({genuine});
  ASSERT_EQ(first.size(), 1u);
  ASSERT_EQ(first[0].kind, Outcome::Kind::kDelivered) << first[0].error.ToString();
  EXPECT_EQ(first[0].signer, "politie-agent");
  EXPECT_EQ(first[0].content.categories(0).records(0).values(0).value(), "2026-10-03");
  // Stored, so acknowledged: the gateway may drop its held copy.
  EXPECT_THAT(Acked(), ::testing::ElementsAre(request_id_));
  // The same bytes again, and a freshly signed second answer: the request is
  // no longer waiting, so neither is reported or stored.
  EXPECT_TRUE(Feed({genuine, GenuineDelivery(), Refusal("gateway", v1::REFUSED_BY_GATEWAY, request_id_)}).empty());
  // Second copies are acknowledged too, so the gateway stops resending them.
  EXPECT_THAT(Acked(), ::testing::Each(request_id_));
  EXPECT_EQ(FragmentsStored(), 1u);
  EXPECT_EQ(State(request_id_), RequestState::kDelivered);
  // What is stored reads back, verified again.
  ASSERT_OK_AND_ASSIGN(auto fragments, coordinator_->store().Fragments(kCase));
  ASSERT_OK_AND_ASSIGN(Outcome again, coordinator_->ReadFragment(fragments[0]));
  EXPECT_EQ(again.content.SerializeAsString(), first[0].content.SerializeAsString());
}

TEST_F(HostileGatewayTest, EveryFlippedBitAndTruncationOfADeliveryIsRefused) {
  const std::string genuine = GenuineDelivery();
  std::vector<std::string> bad;
  for (size_t bit = 0; bit < genuine.size() * 8; ++bit) {
    std::string m = genuine;
    m[bit / 8] = static_cast<char>(m[bit / 8] ^ (1 << (bit % 8)));
    bad.push_back(std::move(m));
  }
  for (size_t len = 0; len < genuine.size(); ++len) bad.push_back(genuine.substr(0, len));
  for (const Outcome& o : Feed(bad)) {
    EXPECT_NE(o.kind, Outcome::Kind::kDelivered) << "a tampered delivery was accepted";
  }
  EXPECT_EQ(FragmentsStored(), 0u);
  EXPECT_EQ(State(request_id_), RequestState::kPending);
  ExpectGenuineStillAccepted();
}

TEST_F(HostileGatewayTest, EveryFlippedBitOfTheSealedContentIsRefusedEvenWhenReSigned) {
  const std::string sealed = SealedContent("politie-agent", request_id_, Content());
  std::vector<std::string> bad;
  for (size_t bit = 0; bit < sealed.size() * 8; ++bit) {
    std::string s = sealed;
    s[bit / 8] = static_cast<char>(s[bit / 8] ^ (1 << (bit % 8)));
    bad.push_back(Delivery("politie-agent", request_id_, s));
  }
  for (size_t len = 0; len < sealed.size(); len += 7) {
    bad.push_back(Delivery("politie-agent", request_id_, sealed.substr(0, len)));
  }
  auto outcomes = Feed(bad);
  EXPECT_EQ(outcomes.size(), bad.size());
  for (const Outcome& o : outcomes) {
    ASSERT_EQ(o.kind, Outcome::Kind::kError);
    EXPECT_FALSE(o.error.ok());
  }
  EXPECT_EQ(FragmentsStored(), 0u);
  ExpectGenuineStillAccepted();
}

TEST_F(HostileGatewayTest, AnswersFromTheWrongSignerOrForAnotherBindingAreRefused) {
  const std::string other_request = NewMessageId();
  // Exactly one of retain_until_ms and retain_after_closure_ms (protocol §3.3).
  v1::FragmentContent no_date = Content();
  no_date.clear_retain_until_ms();
  v1::FragmentContent both = Content();
  both.set_retain_after_closure_ms(30 * 86'400'000LL);
  v1::FragmentContent negative = Content();
  negative.set_retain_until_ms(-30 * 86'400'000LL);
  std::vector<std::string> bad = {
      // Another agent answers the police request, with content it signed itself.
      Delivery("ggz-agent", request_id_, SealedContent("ggz-agent", request_id_, Content())),
      // The police agent's genuine content, but sealed for another request.
      Delivery("politie-agent", request_id_, SealedContent("politie-agent", other_request, Content())),
      // Content about another case; an outer body naming another case.
      Delivery("politie-agent", request_id_, SealedContent("politie-agent", request_id_, Content("VT-2026-9999"))),
      Delivery("politie-agent", request_id_, SealedContent("politie-agent", request_id_, Content()), "VT-2026-9999"),
      // No retention date; both a date and a term from closure; a negative one.
      Delivery("politie-agent", request_id_, SealedContent("politie-agent", request_id_, no_date)),
      Delivery("politie-agent", request_id_, SealedContent("politie-agent", request_id_, both)),
      Delivery("politie-agent", request_id_, SealedContent("politie-agent", request_id_, negative)),
      // A refusal signed by an agent that was not asked; a gateway refusal
      // that claims to be the agent's.
      Refusal("ggz-agent", v1::REFUSED_BY_AGENT, request_id_),
      Refusal("gateway", v1::REFUSED_BY_AGENT, request_id_),
  };
  {
    // A category that was not asked for.
    v1::FragmentContent extra = Content();
    extra.add_categories()->set_category("ggz-in-zorg");
    bad.push_back(Delivery("politie-agent", request_id_, SealedContent("politie-agent", request_id_, extra)));
  }
  auto outcomes = Feed(bad);
  ASSERT_EQ(outcomes.size(), bad.size());
  for (size_t i = 0; i < outcomes.size(); ++i) {
    EXPECT_EQ(outcomes[i].kind, Outcome::Kind::kError) << "answer " << i << " was accepted";
    EXPECT_EQ(outcomes[i].error.code(), StatusCode::kUnauthenticated) << i << ": " << outcomes[i].error.ToString();
  }
  // Answers to a request this coordinator never made are not even reported.
  EXPECT_TRUE(Feed({Delivery("politie-agent", other_request, SealedContent("politie-agent", other_request, Content())),
                    Refusal("gateway", v1::REFUSED_BY_GATEWAY, other_request)})
                  .empty());
  EXPECT_EQ(FragmentsStored(), 0u);
  EXPECT_EQ(State(request_id_), RequestState::kPending);
  EXPECT_TRUE(Acked().empty()) << "an answer that did not verify was acknowledged";

  // The gateway's own refusal is taken.
  auto refused = Feed({Refusal("gateway", v1::REFUSED_BY_GATEWAY, request_id_)});
  ASSERT_EQ(refused.size(), 1u);
  EXPECT_EQ(refused[0].kind, Outcome::Kind::kRefused);
  EXPECT_EQ(refused[0].refusal.reason(), "geen grondslag");
  EXPECT_EQ(State(request_id_), RequestState::kRefused);
  EXPECT_THAT(Acked(), ::testing::ElementsAre(request_id_));
}

TEST_F(HostileGatewayTest, TheStoreHoldsNoPersonalDataInTheClear) {
  ASSERT_EQ(Feed({GenuineDelivery()}).size(), 1u);
  const std::string all = testing::AllBytesUnder(region_->CoordinatorConfig().store);
  EXPECT_EQ(all.find(Region::kBsn), std::string::npos);
  EXPECT_EQ(all.find(kCanaryName), std::string::npos);
  EXPECT_EQ(all.find("2026-10-03"), std::string::npos);  // the fragment's content
  // ...yet the coordinator reads both back.
  ASSERT_OK_AND_ASSIGN(auto subjects, coordinator_->store().Subjects(kCase));
  ASSERT_EQ(subjects.size(), 1u);
  EXPECT_EQ(subjects[0].name(), kCanaryName);
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp::client

namespace kp::client {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

class AcceptanceTest : public HostileGatewayTest {
 protected:
  std::string Accepted(const std::string& signer, const std::string& request_id, uint64_t audit_index = 7) const {
    v1::RequestAccepted a;
    a.set_request_id(request_id);
    a.set_audit_index(audit_index);
    const std::string to = signer == "gateway" ? Region::kCoordinator : "";
    auto m = Signer(signer).Sign(v1::MESSAGE_KIND_ACCEPTED, to, request_id, a.SerializeAsString());
    EXPECT_THAT(m, IsOk());
    return m.ok() ? m->bytes : "";
  }
  bool IsAccepted(const std::string& request_id) {
    auto r = coordinator_->store().GetRequest(request_id);
    EXPECT_THAT(r, IsOk());
    return r.ok() && r->has_value() && (*r)->accepted;
  }
};

TEST_F(AcceptanceTest, OnlyTheGatewaysOwnAcceptanceMarksARequestAccepted) {
  EXPECT_FALSE(IsAccepted(request_id_));
  Feed({Accepted("politie-agent", request_id_)});  // an agent cannot speak for the gateway
  EXPECT_FALSE(IsAccepted(request_id_));
  Feed({Accepted("gateway", NewMessageId())});  // another request: changes nothing here
  EXPECT_FALSE(IsAccepted(request_id_));
  Feed({Accepted("gateway", request_id_)});
  EXPECT_TRUE(IsAccepted(request_id_));
  EXPECT_EQ(State(request_id_), RequestState::kPending);  // accepted is not answered
  ExpectGenuineStillAccepted();
}

TEST_F(AcceptanceTest, ARequestTheGatewayCouldNotSaveStaysWaitingAndGoesAgainByteForByte) {
  v1::Error e;
  e.set_code(v1::ERROR_CODE_UNAVAILABLE);
  e.set_message("the gateway could not save its case state; nothing of this message was done; send it again later");
  auto m = Signer("gateway").Sign(v1::MESSAGE_KIND_ERROR, Region::kCoordinator, request_id_, e.SerializeAsString());
  ASSERT_THAT(m, IsOk());
  auto outcomes = Feed({m->bytes});
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0].error.code(), StatusCode::kUnavailable);
  EXPECT_EQ(State(request_id_), RequestState::kPending);  // not failed: it can go again
  EXPECT_FALSE(IsAccepted(request_id_));
  ASSERT_OK(coordinator_->Resend(request_id_));
  auto in = NextMessage(5000);
  ASSERT_THAT(in, IsOk());
  ASSERT_TRUE(in->has_value());
  EXPECT_EQ((*in)->payload, request_bytes_);  // the same request, not a new one
  Feed({Accepted("gateway", request_id_)});
  EXPECT_TRUE(IsAccepted(request_id_));
  ExpectGenuineStillAccepted();
  EXPECT_EQ(coordinator_->Resend(request_id_).code(), StatusCode::kFailedPrecondition);  // answered: nothing to resend
}

// After every handshake the waiting requests go again, byte for byte
// (client/resend_waiting.cc). The gateway's ACCEPTED naming its original
// decision is nothing new; one naming another decision says the gateway had
// lost the request (restored from a backup) and took it as new.
class ResendAfterHandshakeTest : public AcceptanceTest {
 protected:
  // Connects again, as after a gateway restart, and returns what the
  // client sent on the new connection (past its CONFIG_FETCH).
  std::string Reconnect() {
    EXPECT_OK(coordinator_->Connect());
    auto in = NextMessage(5000);
    EXPECT_THAT(in, IsOk());
    if (!in.ok() || !in->has_value()) return "";
    routing_id_ = (*in)->routing_id;
    return (*in)->payload;
  }
};

TEST_F(ResendAfterHandshakeTest, AWaitingRequestGoesAgainAndOnlyANewDecisionIsNews) {
  Feed({Accepted("gateway", request_id_, 7)});
  EXPECT_EQ(Reconnect(), request_bytes_);
  Feed({Accepted("gateway", request_id_, 7)});  // the gateway held it: nothing new
  EXPECT_TRUE(coordinator_->TakeNews().resent_after_restore.empty());
  EXPECT_EQ(State(request_id_), RequestState::kPending);

  EXPECT_EQ(Reconnect(), request_bytes_);
  Feed({Accepted("gateway", request_id_, 3)});  // a restored gateway took it as new
  News news = coordinator_->TakeNews();
  ASSERT_EQ(news.resent_after_restore.size(), 1u);
  EXPECT_EQ(news.resent_after_restore[0].request_id, request_id_);
  EXPECT_EQ(news.resent_after_restore[0].case_id, kCase);
  EXPECT_EQ(State(request_id_), RequestState::kPending);  // its answer is still to come
  ExpectGenuineStillAccepted();
  // Answered: not sent again at the next handshake (an acknowledgement may come).
  EXPECT_OK(coordinator_->Connect());
  for (auto in = NextMessage(500); in.ok() && in->has_value(); in = NextMessage(500)) {
    v1::Envelope env;
    v1::Header header;
    ASSERT_TRUE(env.ParseFromString((*in)->payload) && header.ParseFromString(env.header()));
    EXPECT_NE(header.kind(), v1::MESSAGE_KIND_FRAGMENT_REQUEST);
  }
}

TEST_F(ResendAfterHandshakeTest, ALostRequestTheGatewayRefusesAgainFailsWithANotice) {
  Feed({Accepted("gateway", request_id_, 7)});
  EXPECT_EQ(Reconnect(), request_bytes_);
  v1::Error e;
  e.set_code(v1::ERROR_CODE_UNAUTHENTICATED);
  e.set_message("the message's timestamp is outside the accepted window");
  auto m = Signer("gateway").Sign(v1::MESSAGE_KIND_ERROR, Region::kCoordinator, request_id_, e.SerializeAsString());
  ASSERT_THAT(m, IsOk());
  Feed({m->bytes});
  EXPECT_EQ(State(request_id_), RequestState::kFailed);
  auto r = coordinator_->store().GetRequest(request_id_);
  ASSERT_TRUE(r.ok() && r->has_value());
  EXPECT_NE((*r)->refusal.find("restored from a backup"), std::string::npos) << (*r)->refusal;
  News news = coordinator_->TakeNews();
  ASSERT_EQ(news.expired_after_restore.size(), 1u);
  EXPECT_EQ(news.expired_after_restore[0].request_id, request_id_);
  EXPECT_TRUE(news.resent_after_restore.empty());
}

// The client signs only on a history it checked (protocol §3.5): a case whose
// last command got no clear answer is fetched and checked first.
TEST_F(HostileGatewayTest, AnUnsureCaseIsFetchedAndCheckedBeforeAnythingIsSignedOnIt) {
  // The gateway took a phase change whose confirmation never came.
  chain_->Phase("herstel");
  ASSERT_OK(coordinator_->store().SetChainUnsure(kCase, true));
  std::thread gateway = AnswerFetch(chain_->commands(), chain_->length());
  auto sent = coordinator_->SendRequest({kCase, "politie", {"politie-incidenten"}, "plan-van-aanpak", {}, ""});
  gateway.join();
  ASSERT_THAT(sent, IsOk());
  auto in = router_->Receive(5000);
  ASSERT_THAT(in, IsOk());
  ASSERT_TRUE(in->has_value());
  StaticKeyResolver keys;
  keys.Add(Region::kCoordinator, region_->identity(Region::kCoordinator).signing().public_key);
  auto env = EnvelopeVerifier(keys, nullptr).Verify((*in)->payload);
  ASSERT_THAT(env, IsOk());
  v1::FragmentRequest req;
  ASSERT_OK(ParseBody(env->body, req));
  EXPECT_EQ(req.case_head(), chain_->head());  // signed on the checked head
  EXPECT_EQ(req.case_length(), 3u);
  auto head = coordinator_->store().ChainHead(kCase);
  ASSERT_THAT(head, IsOk());
  EXPECT_FALSE(head->unsure);
  EXPECT_EQ(head->length, 3u);
}

TEST_F(HostileGatewayTest, AHistoryWithoutACommandTheClientSignedIsRefused) {
  std::thread gateway = AnswerFetch({chain_->commands()[0]}, 1);  // the admission left out
  auto synced = coordinator_->SyncCase(kCase);
  gateway.join();
  EXPECT_THAT(synced, testing::StatusIs(StatusCode::kDataLoss, "lacks command 1 that you signed"));
  auto head = coordinator_->store().ChainHead(kCase);
  ASSERT_THAT(head, IsOk());
  EXPECT_EQ(head->length, 2u);  // what it knows stays
}

TEST_F(HostileGatewayTest, AHistoryWithAForgedOrAlteredCommandIsRefused) {
  // A closure the gateway signed itself: not the coordinator's command.
  testing::CaseChainBuilder forged = *chain_;
  EnvelopeSigner gateway_key = Signer("gateway");
  forged.SignWith(gateway_key);
  forged.Close();
  std::thread gateway = AnswerFetch(forged.commands(), forged.length());
  EXPECT_THAT(coordinator_->SyncCase(kCase), testing::StatusIs(StatusCode::kUnauthenticated, "does not check"));
  gateway.join();

  std::vector<std::string> altered = chain_->commands();
  altered[1][altered[1].size() / 2] ^= 0x01;
  gateway = AnswerFetch(altered, altered.size());
  EXPECT_THAT(coordinator_->SyncCase(kCase), testing::StatusIs(StatusCode::kUnauthenticated, "does not check"));
  gateway.join();
}

// ------------------------------------------------- referrals and handovers

namespace hostile_flow {

// A referral signed by Veilig Thuis with `sealed_subject` sealed to the
// coordinator and `committed` in the clear.
std::string Referral(const Region& region, const v1::Subject& committed, const v1::Subject& sealed_subject) {
  const std::string id = NewMessageId();
  EnvelopeSigner vt(Region::kVeiligThuisCoordinator,
                    region.identity(Region::kVeiligThuisCoordinator).signing().secret_key, SystemClock::Get());
  v1::Referral r;
  r.set_reference("VT-HOSTILE-1");
  r.set_to_partner("veiligheidsteam");
  r.set_purpose("plan-van-aanpak");
  r.add_reason_codes("herhaald-geweld");
  auto* ref = r.add_subjects();
  ref->set_ref(committed.ref());
  ref->set_role(committed.role());
  ref->set_commitment(cases::SubjectCommitment(committed).value());
  v1::SubjectData data;
  *data.add_subjects() = sealed_subject;
  const Identity& me = region.identity(Region::kCoordinator);
  auto copy = SignAndSeal(vt, v1::MESSAGE_KIND_SUBJECT_DATA, me.id(), me.sealing().public_key, id,
                          data.SerializeAsString());
  EXPECT_THAT(copy, IsOk());
  auto* c = r.add_sealed();
  c->set_participant(me.id());
  c->set_sealed(copy.value_or(""));
  auto m = vt.Sign(v1::MESSAGE_KIND_REFERRAL, "", "", r.SerializeAsString(), id);
  EXPECT_THAT(m, IsOk());
  return m.ok() ? m->bytes : "";
}

}  // namespace hostile_flow

TEST_F(HostileGatewayTest, AReferralWhoseSealedSubjectsDoNotOpenItsCommitmentsIsNotKept) {
  v1::Subject s = testing::TestSubject("S1", v1::SUBJECT_ROLE_VICTIM, Region::kBsn, kCanaryName);
  v1::Subject other = testing::TestSubject("S1", v1::SUBJECT_ROLE_VICTIM, "999990020", "CANARY-ANDER");
  other.set_salt(s.salt());
  const std::string forged = hostile_flow::Referral(*region_, s, other);
  std::string bent = hostile_flow::Referral(*region_, s, s);
  bent[bent.size() / 2] ^= 1;
  Feed({forged, bent});
  News news = coordinator_->TakeNews();
  ASSERT_EQ(news.problems.size(), 1u);
  EXPECT_THAT(news.problems[0], testing::StatusIs(StatusCode::kUnauthenticated));
  ASSERT_OK_AND_ASSIGN(auto kept, coordinator_->store().Referrals());
  EXPECT_TRUE(kept.empty());
  // The genuine one is kept, its subjects encrypted.
  Feed({hostile_flow::Referral(*region_, s, s)});
  EXPECT_TRUE(coordinator_->TakeNews().problems.empty());
  ASSERT_OK_AND_ASSIGN(kept, coordinator_->store().Referrals());
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_EQ(kept[0].state, v1::REFERRAL_STATE_WAITING);
}

TEST_F(HostileGatewayTest, AHandoverPartTheHistoryDoesNotShowIsNotTaken) {
  // Another enrolled coordinator "hands over" this case with a subject of
  // its own and a fragment: no offer of it to me is in the case's history.
  const Identity& me = region_->identity(Region::kCoordinator);
  EnvelopeSigner wijk(Region::kWijkteamCoordinator,
                      region_->identity(Region::kWijkteamCoordinator).signing().secret_key, SystemClock::Get());
  v1::HandoverData data;
  data.set_case_id(kCase);
  data.set_offer(std::string(32, 'x'));
  *data.add_subjects() = testing::TestSubject("S9", v1::SUBJECT_ROLE_CHILD, "999990020", "CANARY-NIET-VAN-DE-CASUS");
  const std::string part_id = NewMessageId();
  auto sealed = SignAndSeal(wijk, v1::MESSAGE_KIND_HANDOVER_DATA, me.id(), me.sealing().public_key, part_id,
                            data.SerializeAsString());
  ASSERT_OK(sealed.status());
  v1::HandoverPackage pkg;
  pkg.set_case_id(kCase);
  pkg.set_to(me.id());
  pkg.set_offer(data.offer());
  pkg.set_part(1);
  pkg.set_parts(1);
  pkg.set_sealed(*sealed);
  auto m = wijk.Sign(v1::MESSAGE_KIND_HANDOVER_PACKAGE, "", "", pkg.SerializeAsString(), part_id);
  ASSERT_OK(m.status());
  Feed({m->bytes});
  ASSERT_OK_AND_ASSIGN(auto subjects, coordinator_->store().Subjects(kCase));
  EXPECT_EQ(subjects.size(), 1u);
  for (const auto& s : subjects) EXPECT_NE(s.ref(), "S9");
  EXPECT_EQ(FragmentsStored(), 0u);
  ASSERT_OK_AND_ASSIGN(auto parts, coordinator_->store().HandoverParts(kCase, data.offer()));
  EXPECT_EQ(parts.first, 0u);
}

TEST_F(HostileGatewayTest, AHandoverPartMustCarryExactlyTheFragmentOfTheRequestItNames) {
  // The case went to the wijkteam and came back to me: an offer by it to me
  // that I accepted, so its parts are mine to take, if they are well formed.
  const Identity& me = region_->identity(Region::kCoordinator);
  EnvelopeSigner wijk(Region::kWijkteamCoordinator,
                      region_->identity(Region::kWijkteamCoordinator).signing().secret_key, SystemClock::Get());
  const int64_t week = SystemClock::Get().NowMillis() + 7 * 86'400'000LL;
  auto offer = [&](const std::string& to) {
    return [to, week](v1::CaseCommand& c) {
      c.mutable_offer_handover()->set_to(to);
      c.mutable_offer_handover()->set_reason_code("overdracht");
      c.mutable_offer_handover()->set_expires_at_ms(week);
    };
  };
  auto accept = [](const std::string& offered) {
    return [h = cases::CommandHash(offered)](v1::CaseCommand& c) { c.mutable_accept_handover()->set_offer(h); };
  };
  const std::string away = chain_->Add(offer(Region::kWijkteamCoordinator));
  chain_->SignWith(wijk);
  chain_->Add(accept(away));
  const std::string back = chain_->Add(offer(me.id()));
  chain_->SignWith(*coordinator_signer_);
  chain_->Add(accept(back));
  for (size_t i = 2; i < chain_->commands().size(); ++i) {
    ASSERT_OK(coordinator_->store().AppendCommand(kCase, i, cases::CommandHash(chain_->commands()[i]),
                                                  chain_->commands()[i]));
  }
  const std::string offer_hash = cases::CommandHash(back);
  auto part = [&](const std::string& request_id, const std::vector<std::string>& fragment_ids, uint32_t n) {
    v1::HandoverData data;
    data.set_case_id(kCase);
    data.set_offer(offer_hash);
    for (const auto& id : fragment_ids) {
      v1::HandedFragment* h = data.add_fragments();
      h->set_request_id(id);
      h->set_source("politie");
      h->set_content("not checked before the part's shape");
    }
    const std::string part_id = NewMessageId();
    auto sealed = SignAndSeal(wijk, v1::MESSAGE_KIND_HANDOVER_DATA, me.id(), me.sealing().public_key, part_id,
                              data.SerializeAsString());
    EXPECT_OK(sealed.status());
    v1::HandoverPackage pkg;
    pkg.set_case_id(kCase);
    pkg.set_to(me.id());
    pkg.set_offer(offer_hash);
    pkg.set_part(n);
    pkg.set_parts(4);
    pkg.set_sealed(sealed.value_or(""));
    pkg.set_request_id(request_id);
    auto m = wijk.Sign(v1::MESSAGE_KIND_HANDOVER_PACKAGE, "", "", pkg.SerializeAsString(), part_id);
    EXPECT_OK(m.status());
    return m.ok() ? m->bytes : std::string();
  };
  const std::string asked(16, 'a'), other(16, 'b');
  // A fragment under a request the part does not name (one the gateway may
  // have kept back), two fragments under one request, none, and a fragment
  // in the part that names no request.
  Feed({part(asked, {other}, 2), part(asked, {asked, other}, 3), part(asked, {}, 4), part("", {other}, 1)});
  News news = coordinator_->TakeNews();
  ASSERT_EQ(news.problems.size(), 4u);
  for (const auto& p : news.problems) {
    EXPECT_THAT(p, testing::StatusIs(StatusCode::kInvalidArgument, "not taken"));
    EXPECT_EQ(p.message().find(kCanaryName), std::string::npos);
  }
  EXPECT_EQ(FragmentsStored(), 0u);
  ASSERT_OK_AND_ASSIGN(auto parts, coordinator_->store().HandoverParts(kCase, offer_hash));
  EXPECT_EQ(parts.first, 0u);
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp::client
