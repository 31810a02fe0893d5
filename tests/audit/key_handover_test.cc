// Key handovers (core/audit/key_handover.h): an audit log goes on across a
// change of its signing key (a key rotation, docs/formats.md §2.4) and
// verifies end to end; a handover that was changed, cut short, removed or
// forged is refused, and a retired key signs nothing after its handover.
#include "core/audit/key_handover.h"

#include <filesystem>
#include <fstream>

#include "core/audit/log_format.h"
#include "core/audit/log_verifier.h"
#include "core/audit/log_writer.h"
#include "tests/audit/audit_test_util.h"
#include "tests/testing/status_matchers.h"

namespace kp::audit {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

using ::kp::audit::testing::SampleRecord;
using ::kp::audit::testing::TestSigner;
using ::kp::testing::IsOk;
using ::kp::testing::StatusIs;
using ::testing::HasSubstr;

constexpr char kOld = 7;
constexpr char kNew = 9;
constexpr char kNewer = 11;
constexpr char kEvil = 13;

class KeyHandoverTest : public ::testing::Test {
 protected:
  std::string dir() const { return tmp_.path() + "/log"; }
  std::string File(const std::string& name) const { return dir() + "/" + name; }
  std::string Handover(uint64_t n) const {
    return File(std::string(kHandoversDirName) + "/" + HandoverFileName(n));
  }

  // Opens the log with key `seed`, the key ring holding `previous`, appends
  // `n` records with a checkpoint after every second, and closes it.
  void Run(char seed, std::vector<char> previous, int n) {
    LogWriterOptions options;
    options.clock = &clock_;
    for (char p : previous) options.previous_signers.push_back(std::make_shared<LogSigner>(TestSigner(p)));
    auto w = LogWriter::Open(dir(), TestSigner(seed), options);
    ASSERT_THAT(w, IsOk());
    for (int i = 0; i < n; ++i) {
      ASSERT_THAT((*w)->Append(SampleRecord(static_cast<int>((*w)->size()))), IsOk());
      if (i % 2 == 1) {
        ASSERT_THAT((*w)->Checkpoint(), IsOk());
      }
    }
    ASSERT_THAT((*w)->Close(), IsOk());
  }

  VerifyReport Verify(std::optional<char> pinned, std::vector<std::string> checkpoints = {}) {
    VerifyOptions opts;
    if (pinned.has_value()) opts.key = TestSigner(*pinned).verifier_key();
    opts.pinned_checkpoints = std::move(checkpoints);
    return VerifyLog(dir(), opts);
  }

  std::string ReadAll(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  void WriteAll(const std::string& path, const std::string& data) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << data;
  }

  ::kp::testing::TempDir tmp_;
  ManualClock clock_{1'790'000'000'000};
};

TEST_F(KeyHandoverTest, TheLogGoesOnUnderTheNewKeyAndVerifiesAcrossTheHandover) {
  Run(kOld, {}, 6);
  ASSERT_OK_AND_ASSIGN(std::string kept, PosixStorage().ReadSmallFile(File("checkpoint"), kMaxNoteBytes));
  Run(kNew, {kOld}, 5);
  EXPECT_EQ(ReadAll(File("log.vkey")), FormatVerifierKey(TestSigner(kNew).verifier_key()) + "\n");
  ASSERT_OK_AND_ASSIGN(KeyHandover h, OpenKeyHandover(ReadAll(Handover(0)), testing::kTestOrigin));
  EXPECT_EQ(h.checkpoint.size, 6u);
  EXPECT_EQ(h.from.public_key, TestSigner(kOld).public_key());
  EXPECT_EQ(h.to.public_key, TestSigner(kNew).public_key());

  // Pinned to the new key (the registry's card now), to the old one (a
  // checkpoint kept before), or the folder's own: all verify, end to end.
  for (std::optional<char> pin :
       {std::optional<char>(kNew), std::optional<char>(kOld), std::optional<char>()}) {
    VerifyReport rep = Verify(pin, {kept});
    EXPECT_THAT(rep.status, IsOk());
    EXPECT_EQ(rep.records, 11u);
    EXPECT_EQ(rep.key_handovers, 1u);
    EXPECT_EQ(rep.pinned_checkpoints, 1u);
  }
  // Opening again with the new key (the previous one gone) needs no handover.
  Run(kNew, {}, 1);
  EXPECT_FALSE(std::filesystem::exists(Handover(1)));
  // A second rotation: three keys, two handovers.
  Run(kNewer, {kNew}, 3);
  VerifyReport rep = Verify(kNewer, {kept});
  EXPECT_THAT(rep.status, IsOk());
  EXPECT_EQ(rep.key_handovers, 2u);
  EXPECT_EQ(rep.records, 15u);
}

TEST_F(KeyHandoverTest, WithoutThePreviousKeyInTheRingTheLogIsRefused) {
  Run(kOld, {}, 2);
  LogWriterOptions options;
  options.previous_signers.push_back(std::make_shared<LogSigner>(TestSigner(kNewer)));  // not the log's key
  EXPECT_THAT(LogWriter::Open(dir(), TestSigner(kNew), options),
              StatusIs(StatusCode::kFailedPrecondition, "not the previous key"));
  EXPECT_FALSE(std::filesystem::exists(Handover(0)));
}

TEST_F(KeyHandoverTest, EveryChangedOrCutByteOfAHandoverIsRefused) {
  Run(kOld, {}, 4);
  Run(kNew, {kOld}, 4);
  ASSERT_THAT(Verify(kNew).status, IsOk());
  const std::string good = ReadAll(Handover(0));
  for (size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x01);
    EXPECT_FALSE(OpenKeyHandover(bad, testing::kTestOrigin).ok()) << "byte " << i;
    if (i % 4 != 0) continue;  // the whole log for every fourth (quick)
    WriteAll(Handover(0), bad);
    EXPECT_FALSE(Verify(kNew).status.ok()) << "byte " << i;
  }
  for (size_t n = 0; n < good.size(); n += 7) {
    WriteAll(Handover(0), good.substr(0, n));
    EXPECT_FALSE(Verify(kNew).status.ok()) << "cut at " << n;
  }
  // A handover signed by the old key only (the new key's line dropped).
  const size_t second = good.rfind("\xE2\x80\x94 ");
  WriteAll(Handover(0), good.substr(0, second));
  EXPECT_THAT(Verify(kNew).status, StatusIs(StatusCode::kUnauthenticated, "hands over to"));
  // Removed: the old key's checkpoints no longer verify under the new key.
  std::filesystem::remove(Handover(0));
  EXPECT_THAT(Verify(kNew).status, StatusIs(StatusCode::kUnauthenticated));
  WriteAll(Handover(0), good);
  EXPECT_THAT(Verify(kNew).status, IsOk());
}

TEST_F(KeyHandoverTest, AForgedHandoverToAnotherKeyIsRefused) {
  Run(kOld, {}, 4);
  Run(kNew, {kOld}, 4);
  // Someone with the retired key hands the log over to a key of their own.
  ASSERT_OK_AND_ASSIGN(KeyHandover h, OpenKeyHandover(ReadAll(Handover(0)), testing::kTestOrigin));
  Checkpoint cp = h.checkpoint;
  cp.extensions.clear();
  WriteAll(Handover(0), SignKeyHandover(cp, TestSigner(kOld), TestSigner(kEvil)));
  EXPECT_THAT(Verify(kNew).status, StatusIs(StatusCode::kUnauthenticated, "is not one of the"));
  // A second handover that does not go on from the first.
  WriteAll(Handover(0), h.note);
  WriteAll(Handover(1), SignKeyHandover(cp, TestSigner(kOld), TestSigner(kNewer)));
  EXPECT_THAT(Verify(kNew).status, StatusIs(StatusCode::kDataLoss, "key chain is broken"));
  std::filesystem::remove(Handover(1));
  // A gap in the numbering.
  WriteAll(File(std::string(kHandoversDirName) + "/" + HandoverFileName(2)), h.note);
  EXPECT_THAT(Verify(kNew).status, StatusIs(StatusCode::kDataLoss, "without a gap"));
}

TEST_F(KeyHandoverTest, ARetiredKeySignsNothingAfterItsHandover) {
  Run(kOld, {}, 4);
  Run(kNew, {kOld}, 4);
  ASSERT_OK_AND_ASSIGN(std::string latest, PosixStorage().ReadSmallFile(File("checkpoint"), kMaxNoteBytes));
  ASSERT_OK_AND_ASSIGN(Checkpoint cp,
                       OpenCheckpoint(latest, TestSigner(kNew).verifier_key(), testing::kTestOrigin));
  ASSERT_EQ(cp.size, 8u);
  // The same (true) checkpoint, signed by the retired key: refused, as a
  // pinned checkpoint and in the folder.
  const std::string by_old = TestSigner(kOld).Sign(cp);
  EXPECT_THAT(Verify(kNew, {by_old}).status, StatusIs(StatusCode::kUnauthenticated, "key in force"));
  WriteAll(File("checkpoint"), by_old);
  EXPECT_THAT(Verify(kNew).status, StatusIs(StatusCode::kUnauthenticated, "key in force"));
  // Nor the new key before it: a checkpoint of size 2 by the new key.
  WriteAll(File("checkpoint"), latest);
  ASSERT_OK_AND_ASSIGN(std::string two, PosixStorage().ReadSmallFile(
                                            File("checkpoints/" + CheckpointFileName(2)), kMaxNoteBytes));
  ASSERT_OK_AND_ASSIGN(Checkpoint cp2,
                       OpenCheckpoint(two, TestSigner(kOld).verifier_key(), testing::kTestOrigin));
  EXPECT_THAT(Verify(kNew, {TestSigner(kNew).Sign(cp2)}).status, StatusIs(StatusCode::kUnauthenticated));
}

TEST_F(KeyHandoverTest, AHandoverACrashCutShortIsFinishedOnce) {
  Run(kOld, {}, 3);
  const std::string old_vkey = ReadAll(File("log.vkey"));
  Run(kNew, {kOld}, 0);  // the handover, nothing after it
  // As if the crash came before log.vkey was written, and had left a
  // temporary file behind.
  WriteAll(File("log.vkey"), old_vkey);
  WriteAll(Handover(1) + ".tmp", "half a handover");
  Run(kNew, {kOld}, 2);
  EXPECT_FALSE(std::filesystem::exists(Handover(1)));
  VerifyReport rep = Verify(kNew);
  EXPECT_THAT(rep.status, IsOk());
  EXPECT_EQ(rep.key_handovers, 1u);
  EXPECT_EQ(rep.records, 5u);
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp::audit
