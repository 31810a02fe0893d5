// The case-chain fuzzer's seed corpus: written with KP_WRITE_CORPUS=1,
// checked otherwise; every seed must fold (so the fuzzer reaches the rules).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "case/case_chain.h"
#include "core/base/encoding.h"
#include "core/base/file_util.h"
#include "core/crypto/sha256.h"
#include "ketenpoort/v1/messages.pb.h"
#include "policy/policy_loader.h"
#include "tests/fuzz/case_chain_fuzz_seeds.h"
#include "tests/testing/status_matchers.h"

namespace kp {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

std::string CorpusDir() { return testing::SourceDir() + "/tests/fuzz/case_chain_corpus"; }

TEST(CaseChainCorpusTest, EverySeedIsAChainTheAgentAccepts) {
  auto policy = policy::LoadPolicyFile(testing::SourceDir() + "/policy/examples/veiligheidsteam-hvb.yaml",
                                       [](std::string_view t) { return HexEncode(Sha256String(t)); });
  ASSERT_THAT(policy, testing::IsOk());
  if (std::getenv("KP_WRITE_CORPUS") != nullptr) {
    std::filesystem::create_directories(CorpusDir());
    for (const auto& [name, bytes] : fuzz::CaseChainSeeds()) {
      ASSERT_OK(WriteFileDurable(CorpusDir() + "/" + name, bytes, 0644, WriteMode::kReplace));
    }
  }
  for (const auto& [name, bytes] : fuzz::CaseChainSeeds()) {
    ASSERT_OK_AND_ASSIGN(std::string stored, ReadFileBounded(CorpusDir() + "/" + name, 1 << 20));
    EXPECT_EQ(stored, bytes) << name << " is out of date; run with KP_WRITE_CORPUS=1";
    ketenpoort::v1::CaseChain chain;
    ASSERT_TRUE(chain.ParseFromString(stored)) << name;
    cases::ChainChecker checker(fuzz::GetFuzzKeys().resolver,
                                cases::FoldContext{policy->get(), fuzz::FuzzParticipant});
    auto facts = checker.Check(chain.commands(), {fuzz::kFuzzCase, cases::CommandHash(chain.commands().rbegin()[0]),
                                                  static_cast<uint64_t>(chain.commands_size())});
    EXPECT_THAT(facts, testing::IsOk()) << name;
  }
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp
