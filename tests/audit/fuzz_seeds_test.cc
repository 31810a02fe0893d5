// The audit fuzzer's seed corpus (tests/audit/fuzz_corpus) is made by the
// real code: with KP_WRITE_AUDIT_SEEDS=1 this test (re)writes it; otherwise it
// checks the corpus is there and that its signed checkpoint still verifies
// with the fuzzer's fixed key, so seeds do not silently rot.
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core/audit/log_reader.h"
#include "core/audit/log_writer.h"
#include "core/audit/proof_json.h"
#include "core/audit/record_wire.h"
#include "core/base/file_util.h"
#include "tests/audit/audit_test_util.h"
#include "tests/testing/status_matchers.h"

namespace kp::audit {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

using ::kp::audit::testing::SampleRecord;
using ::kp::audit::testing::TestSigner;

std::string CorpusDir() { return ::kp::testing::SourceDir() + "/tests/audit/fuzz_corpus"; }

void WriteSeed(const std::string& name, char mode, const std::string& body) {
  std::ofstream(CorpusDir() + "/" + name, std::ios::binary) << mode << body;
}

TEST(AuditFuzzSeedsTest, CorpusIsPresentAndCurrent) {
  if (std::getenv("KP_WRITE_AUDIT_SEEDS") != nullptr) {
    ::kp::testing::TempDir tmp;
    std::string dir = tmp.path() + "/log";
    ManualClock clock(1'790'000'000'000);
    LogWriterOptions opts;
    opts.clock = &clock;
    {
      ASSERT_OK_AND_ASSIGN(auto w, LogWriter::Open(dir, TestSigner(), opts));
      for (int i = 0; i < 6; ++i) ASSERT_THAT(w->Append(SampleRecord(i, i == 1 ? clock.NowMillis() : 0)), ::kp::testing::IsOk());
      ASSERT_OK_AND_ASSIGN(EraseSummary s, w->EraseExpired(clock.NowMillis() + 1));
      ASSERT_EQ(s.erased, 1u);
      ASSERT_THAT(w->Close(), ::kp::testing::IsOk());
    }
    ASSERT_OK_AND_ASSIGN(std::string note, ReadFileBounded(dir + "/checkpoint", 65536));
    ASSERT_OK_AND_ASSIGN(std::string records, ReadFileBounded(dir + "/records", 1 << 20));
    ASSERT_OK_AND_ASSIGN(std::string vkey, ReadFileBounded(dir + "/log.vkey", 4096));
    ASSERT_OK_AND_ASSIGN(auto reader, LogReader::Open(dir));
    ASSERT_OK_AND_ASSIGN(auto incl, reader->InclusionProof(3, 7));
    ASSERT_OK_AND_ASSIGN(auto cons, reader->ConsistencyProof(3, 7));
    std::string r3 = *reader->RootAt(3);
    std::string r7 = *reader->RootAt(7);
    std::filesystem::create_directories(CorpusDir());
    WriteSeed("checkpoint.note", 'c', note);
    WriteSeed("verifier.key", 'k', vkey);
    WriteSeed("records.bin", 'r', records);
    WriteSeed("inclusion.json", 'p', FormatInclusionProofJson(3, 7, r7, *reader->LeafHash(3), incl, "seed"));
    WriteSeed("consistency.json", 'p', FormatConsistencyProofJson(3, 7, r3, r7, cons, "seed"));
    WriteSeed("consistency-null.json", 'p', "{\"size1\":1,\"size2\":1,\"root1\":\"\",\"root2\":\"\",\"proof\":null}");
    ketenpoort::v1::AuditRecord record = SampleRecord(3);
    record.set_index(3);  // as the writer sets it
    WriteSeed("record.pb", 'w', record.SerializeAsString());
  }
  ASSERT_OK_AND_ASSIGN(std::string note, ReadFileBounded(CorpusDir() + "/checkpoint.note", 65536));
  EXPECT_THAT(OpenCheckpoint(note.substr(1), TestSigner().verifier_key(), testing::kTestOrigin),
              ::kp::testing::IsOk());
  ASSERT_OK_AND_ASSIGN(std::string incl, ReadFileBounded(CorpusDir() + "/inclusion.json", 65536));
  EXPECT_EQ(CheckProofJson(incl.substr(1)).verdict, ProofVerdict::kValid);
  // The quick wire check's seed is a record it passes (the fuzzer then
  // mutates from the accepting path).
  ASSERT_OK_AND_ASSIGN(std::string record, ReadFileBounded(CorpusDir() + "/record.pb", 65536));
  uint64_t index = 0;
  int32_t event = 0;
  EXPECT_EQ(CheckAuditRecordWire(std::string_view(record).substr(1), &index, &event), WireCheck::kParses);
  EXPECT_EQ(index, 3u);
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp::audit
