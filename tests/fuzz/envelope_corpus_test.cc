// The envelope fuzzer's seed corpus: one valid envelope per message kind,
// signed with the fuzzer's fixed keys, plus a sealed fragment. This test
// checks that every seed still verifies (so the corpus reaches deep code) and,
// with KP_WRITE_CORPUS=1, rewrites the corpus folder.
#include <cstdlib>
#include <filesystem>

#include "core/base/file_util.h"
#include "core/envelope/message_kinds.h"
#include "core/envelope/sealed.h"
#include "ketenpoort/v1/messages.pb.h"
#include "tests/fuzz/envelope_fuzz_keys.h"
#include "tests/testing/status_matchers.h"

namespace kp {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

namespace v1 = ketenpoort::v1;

std::string CorpusDir() { return testing::SourceDir() + "/tests/fuzz/envelope_corpus"; }

std::string BodyFor(v1::MessageKind kind) {
  switch (kind) {
    case v1::MESSAGE_KIND_FRAGMENT_REQUEST: {
      v1::FragmentRequest r;
      r.set_case_id("VT-2026-0001");
      r.set_source_partner("politie");
      r.add_categories("incidenten");
      r.set_purpose("veiligheidsplan");
      auto* s = r.add_subjects();
      s->set_ref("S1");
      s->set_role(v1::SUBJECT_ROLE_VICTIM);
      r.set_sealed_subjects(std::string(80, '\x5a'));
      r.set_case_head(std::string(32, '\x33'));
      r.set_case_length(2);
      return r.SerializeAsString();
    }
    case v1::MESSAGE_KIND_CASE_COMMAND: {
      v1::CaseCommand c;
      c.set_case_id("VT-2026-0001");
      c.mutable_admit()->set_partner("ggz");
      c.set_previous(std::string(32, '\x44'));
      c.set_sequence(1);
      return c.SerializeAsString();
    }
    case v1::MESSAGE_KIND_REFUSAL: {
      v1::Refusal r;
      r.set_request_id(std::string(16, '\x22'));
      r.set_reason("geen toestemming vastgelegd");
      r.add_rule_ids("R-GGZ-01");
      return r.SerializeAsString();
    }
    case v1::MESSAGE_KIND_HEARTBEAT: {
      v1::Heartbeat h;
      h.set_sequence(7);
      return h.SerializeAsString();
    }
    case v1::MESSAGE_KIND_CONFIG_FETCH: {
      v1::ConfigFetch f;
      f.set_registry_serial(3);
      f.set_policy_serial(2);
      return f.SerializeAsString();
    }
    case v1::MESSAGE_KIND_CONFIG_BUNDLE: {
      v1::ConfigBundle b;
      b.set_registry_manifest("ketenpoort-registry v1\nserial: 4\n");
      auto* card = b.add_cards();
      card->set_name("politie-agent.card");
      card->set_content("ketenpoort-card: 2\n");
      b.set_policy_manifest("ketenpoort-policy-bundle v1\n");
      return b.SerializeAsString();
    }
    default:
      return "";
  }
}

struct Seed {
  std::string name;
  std::string bytes;
};

std::vector<Seed> MakeSeeds() {
  const fuzz::FuzzKeys& keys = fuzz::GetFuzzKeys();
  ManualClock clock(fuzz::kFuzzNowMs);
  EnvelopeSigner coordinator("regisseur-01", keys.coordinator.secret_key, clock);
  EnvelopeSigner agent("politie-agent", keys.agent.secret_key, clock);
  std::vector<Seed> seeds;
  for (int k = v1::MessageKind_MIN + 1; k <= v1::MessageKind_MAX; ++k) {
    auto kind = static_cast<v1::MessageKind>(k);
    std::string id(16, static_cast<char>(k));
    auto m = coordinator.Sign(kind, "", "", BodyFor(kind), id);
    seeds.push_back({std::string(wire::KindLabel(kind)) + ".env", m.value().bytes});
  }
  // Sealed boxes are randomised; the fixed copy in the repo stays valid.
  auto sealed = SignAndSeal(agent, v1::MESSAGE_KIND_FRAGMENT_CONTENT, "regisseur-01", keys.recipient_seal.public_key,
                            std::string(16, '\x11'), "");
  seeds.push_back({"sealed-fragment.bin", sealed.value()});
  return seeds;
}

TEST(EnvelopeCorpusTest, EverySeedVerifiesWithTheFuzzKeys) {
  const fuzz::FuzzKeys& keys = fuzz::GetFuzzKeys();
  if (std::getenv("KP_WRITE_CORPUS") != nullptr) {
    std::filesystem::create_directories(CorpusDir());
    for (const auto& s : MakeSeeds()) {
      ASSERT_OK(WriteFileDurable(CorpusDir() + "/" + s.name, s.bytes, 0644, WriteMode::kReplace));
    }
  }
  int envelopes = 0;
  for (const auto& s : MakeSeeds()) {
    ASSERT_OK_AND_ASSIGN(std::string bytes, ReadFileBounded(CorpusDir() + "/" + s.name, 1 << 20));
    if (s.name.ends_with(".env")) {
      EXPECT_EQ(bytes, s.bytes) << s.name << " is out of date; run with KP_WRITE_CORPUS=1";
      ManualClock clock(fuzz::kFuzzNowMs);
      EnvelopeVerifier verifier(keys.resolver, nullptr);
      EXPECT_THAT(verifier.Verify(bytes), testing::IsOk()) << s.name;
      ++envelopes;
    } else {
      EXPECT_THAT(OpenAndVerify(keys.recipient_seal, keys.resolver, bytes,
                                {v1::MESSAGE_KIND_FRAGMENT_CONTENT, "regisseur-01", std::string(16, '\x11'), ""}),
                  testing::IsOk());
    }
  }
  EXPECT_EQ(envelopes, v1::MessageKind_MAX);
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp
