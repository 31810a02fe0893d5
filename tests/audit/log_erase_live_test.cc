// Erasure beside a running writer (issue 17 §6, LogWriter::EraseExpiredBodies):
// while the records file is rewritten, appends, buffered appends and staged
// records go on; what was appended meanwhile is neither erased nor lost; the
// log verifies against a checkpoint signed before, an inclusion proof made
// before still verifies, and the log opens again without a rebuild.
#include <atomic>
#include <filesystem>
#include <functional>
#include <string>

#include "core/audit/log_reader.h"
#include "core/audit/log_verifier.h"
#include "core/audit/log_writer.h"
#include "core/audit/merkle.h"
#include "tests/audit/audit_test_util.h"
#include "tests/testing/status_matchers.h"

namespace kp::audit {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

using ::kp::audit::testing::SampleRecord;
using ::kp::audit::testing::TestSigner;
using ::kp::testing::IsOk;

// Real files; `on_rewrite` runs when the eraser opens its temporary file,
// i.e. in the middle of an erasure, with the writer's lock not held.
class HookedStorage final : public Storage {
 public:
  std::function<void()> on_rewrite;
  int rewrites_seen = 0;

  Result<std::unique_ptr<LogFile>> OpenFile(const std::string& path, bool create) override {
    if (path.ends_with(".erase-tmp")) {
      ++rewrites_seen;
      if (on_rewrite) on_rewrite();
    }
    return real().OpenFile(path, create);
  }
  Result<std::unique_ptr<LogFile>> OpenReadOnly(const std::string& path) override {
    return real().OpenReadOnly(path);
  }
  Status WriteFileAtomic(const std::string& path, std::string_view data) override {
    return real().WriteFileAtomic(path, data);
  }
  Result<std::string> ReadSmallFile(const std::string& path, size_t max_bytes) override {
    return real().ReadSmallFile(path, max_bytes);
  }
  bool Exists(const std::string& path) override { return real().Exists(path); }
  Status CreateDir(const std::string& path) override { return real().CreateDir(path); }
  Result<std::vector<std::string>> ListDir(const std::string& path) override { return real().ListDir(path); }
  Status RemoveFile(const std::string& path) override { return real().RemoveFile(path); }
  Status RenameDurable(const std::string& from, const std::string& to) override {
    return real().RenameDurable(from, to);
  }
  Result<std::unique_ptr<FolderLock>> LockFolder(const std::string& dir) override {
    return real().LockFolder(dir);
  }

 private:
  static Storage& real() { return PosixStorage(); }
};

class LogEraseLiveTest : public ::testing::Test {
 protected:
  std::string dir() const { return tmp_.path() + "/log"; }

  std::unique_ptr<LogWriter> Open() {
    LogWriterOptions options;
    options.clock = &clock_;
    options.storage = &storage_;
    auto w = LogWriter::Open(dir(), TestSigner(), options);
    EXPECT_THAT(w, IsOk());
    return w.ok() ? std::move(w).value() : nullptr;
  }

  ::kp::testing::TempDir tmp_;
  ManualClock clock_{1795357974123};
  HookedStorage storage_;
};

TEST_F(LogEraseLiveTest, AppendsGoOnDuringTheRewriteAndNothingAppendedMeanwhileIsErasedOrLost) {
  auto w = Open();
  const int64_t now = clock_.NowMillis();
  // 20 records, every other one with a retention that ends at `now`.
  for (int i = 0; i < 20; ++i) ASSERT_THAT(w->Append(SampleRecord(i, i % 2 == 0 ? now : 0)), IsOk());
  ASSERT_OK_AND_ASSIGN(std::string before_note, w->Checkpoint());
  ASSERT_OK_AND_ASSIGN(auto before, LogReader::Open(dir()));
  ASSERT_OK_AND_ASSIGN(std::string root20, before->RootAt(20));
  ASSERT_OK_AND_ASSIGN(auto proof7, before->InclusionProof(7, 20));  // a record that stays
  ASSERT_OK_AND_ASSIGN(std::string leaf7, before->LeafHash(7));
  ASSERT_OK_AND_ASSIGN(auto proof4, before->InclusionProof(4, 20));  // one that goes
  ASSERT_OK_AND_ASSIGN(std::string leaf4, before->LeafHash(4));
  before.reset();

  // In the middle of the rewrite: an acknowledged append, a buffered one
  // and a staged one — all with a retention already over, which must not
  // matter: they came after the erasure's checkpoint.
  storage_.on_rewrite = [&] {
    EXPECT_THAT(w->Append(SampleRecord(20, now)), IsOk());
    EXPECT_THAT(w->AppendBuffered(SampleRecord(21, now)), IsOk());
    auto staged = w->Stage(SampleRecord(22, now));
    EXPECT_THAT(staged, IsOk());
    if (staged.ok()) {
      EXPECT_THAT(w->AppendStaged({*staged}), IsOk());
    }
  };
  ASSERT_OK_AND_ASSIGN(EraseSummary s, w->EraseExpiredBodies(now));
  storage_.on_rewrite = nullptr;
  // A crash now (the folder as it is on disk) recovers from the state the
  // erasure wrote: only the records after its prefix are read again.
  const std::string crashed = tmp_.path() + "/crashed";
  std::filesystem::copy(dir(), crashed, std::filesystem::copy_options::recursive);
  {
    LogWriterOptions plain;
    plain.clock = &clock_;
    ASSERT_OK_AND_ASSIGN(auto reopened, LogWriter::Open(crashed, TestSigner(), plain));
    EXPECT_EQ(reopened->size(), 23u);
    EXPECT_EQ(reopened->recovered_records(), 3u);
    EXPECT_EQ(reopened->cut_tail_bytes(), 0u);
  }
  EXPECT_THAT(VerifyLog(crashed, VerifyOptions{}).status, IsOk());
  EXPECT_EQ(storage_.rewrites_seen, 1);
  EXPECT_EQ(s.erased, 10u);
  EXPECT_EQ(s.first_index, 0u);
  EXPECT_EQ(s.last_index, 18u);
  EXPECT_EQ(s.erasure_record_index, 0u);  // the bodies only: no record appended
  EXPECT_EQ(w->size(), 23u);
  EXPECT_EQ(w->rewrites(), 1u);
  ASSERT_THAT(w->Append(SampleRecord(23)), IsOk());  // and on it goes
  ASSERT_THAT(w->Checkpoint(), IsOk());

  VerifyOptions options;
  options.pinned_checkpoints = {before_note};
  VerifyReport rep = VerifyLog(dir(), options);
  ASSERT_THAT(rep.status, IsOk());
  EXPECT_EQ(rep.records, 24u);
  EXPECT_EQ(rep.tombstones, 10u);

  ASSERT_OK_AND_ASSIGN(auto after, LogReader::Open(dir()));
  ASSERT_OK_AND_ASSIGN(std::string root20_after, after->RootAt(20));
  EXPECT_EQ(root20_after, root20);
  EXPECT_THAT(VerifyInclusion(7, 20, leaf7, proof7, root20_after), IsOk());
  EXPECT_THAT(VerifyInclusion(4, 20, leaf4, proof4, root20_after), IsOk());  // an erased one's proof too
  std::vector<uint64_t> erased;
  std::vector<uint64_t> kept;
  ASSERT_THAT(after->ForEachEntry([&](const LogEntry& e) {
    (e.erased ? erased : kept).push_back(e.index);
    if (!e.erased) {
      EXPECT_EQ(e.record.index(), e.index);
    }
    return OkStatus();
  }),
              IsOk());
  EXPECT_EQ(erased, (std::vector<uint64_t>{0, 2, 4, 6, 8, 10, 12, 14, 16, 18}));
  EXPECT_EQ(kept, (std::vector<uint64_t>{1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23}));
  after.reset();

  // Reopened, it starts from its state point (no rebuild, no torn tail).
  ASSERT_THAT(w->Close(), IsOk());
  w = Open();
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->size(), 24u);
  EXPECT_EQ(w->recovered_records(), 0u);
  EXPECT_EQ(w->cut_tail_bytes(), 0u);

  // A second sweep erases what expired since, records 20..22 among them.
  ASSERT_OK_AND_ASSIGN(EraseSummary second, w->EraseExpiredBodies(now));
  EXPECT_EQ(second.erased, 3u);
  EXPECT_EQ(second.first_index, 20u);
  EXPECT_EQ(second.last_index, 22u);
  ASSERT_THAT(w->Close(), IsOk());
  EXPECT_THAT(VerifyLog(dir(), options).status, IsOk());
}

TEST_F(LogEraseLiveTest, NothingExpiredLeavesTheFileAloneAndNoTemporaryFile) {
  auto w = Open();
  const int64_t now = clock_.NowMillis();
  for (int i = 0; i < 5; ++i) ASSERT_THAT(w->Append(SampleRecord(i, now + 1000)), IsOk());
  ASSERT_OK_AND_ASSIGN(EraseSummary s, w->EraseExpiredBodies(now));
  EXPECT_EQ(s.erased, 0u);
  EXPECT_EQ(w->rewrites(), 0u);
  EXPECT_FALSE(PosixStorage().Exists(dir() + "/records.erase-tmp"));
  ASSERT_THAT(w->Close(), IsOk());
  EXPECT_THAT(w->EraseExpiredBodies(now + 1000), ::kp::testing::StatusIs(StatusCode::kFailedPrecondition));
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp::audit
