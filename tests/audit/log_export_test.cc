// Reading a real log folder for the privacy officer's pull: the listing
// shows every file a pull may name (small ones inline), chunks read back the
// larger ones, and no name leads out of the folder.
#include "core/audit/log_export.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "core/audit/log_writer.h"
#include "core/base/file_util.h"
#include "tests/audit/audit_test_util.h"
#include "tests/testing/status_matchers.h"

namespace kp::audit {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

using ::kp::audit::testing::SampleRecord;
using ::kp::audit::testing::TestSigner;
using ::kp::testing::IsOk;
using ::kp::testing::StatusIs;

class LogExportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto writer = LogWriter::Open(dir(), TestSigner());
    ASSERT_THAT(writer, IsOk());
    for (int i = 0; i < 5; ++i) ASSERT_THAT((*writer)->Append(SampleRecord(i)), IsOk());
    ASSERT_THAT((*writer)->Checkpoint(), IsOk());
    ASSERT_OK((*writer)->Close());
  }
  std::string dir() const { return tmp_.path() + "/log"; }

  ::kp::testing::TempDir tmp_;
};

TEST_F(LogExportTest, TheListingShowsTheLogFilesSmallOnesInlineButNotTheLock) {
  ASSERT_OK(WriteFileDurable(dir() + "/big.bin", std::string(100, 'x'), 0600, WriteMode::kReplace));
  auto files = ListLogFolder(dir(), 64);
  ASSERT_THAT(files, IsOk());
  ASSERT_GE(files->size(), 3u);
  bool big = false;
  for (size_t i = 0; i < files->size(); ++i) {
    const LogFolderFile& f = (*files)[i];
    EXPECT_NE(f.name, "LOCK");
    EXPECT_TRUE(IsExportableLogPath(f.name)) << f.name;
    if (i > 0) {
      EXPECT_LT((*files)[i - 1].name, f.name);  // by name
    }
    EXPECT_EQ(f.size, std::filesystem::file_size(dir() + "/" + f.name)) << f.name;
    EXPECT_EQ(f.inlined, f.size <= 64) << f.name;
    if (f.inlined) {
      EXPECT_EQ(f.content.size(), f.size);
    }
    big |= f.name == "big.bin" && !f.inlined && f.content.empty();
  }
  EXPECT_TRUE(big);
}

TEST_F(LogExportTest, ChunksReadBackALargeFileWhole) {
  const std::string data(2500, 'q');
  ASSERT_OK(WriteFileDurable(dir() + "/records.extra", data, 0600, WriteMode::kReplace));
  std::string copy;
  for (uint64_t offset = 0;; offset += 1000) {
    auto chunk = ReadLogFileChunk(dir(), "records.extra", offset, 1000);
    ASSERT_THAT(chunk, IsOk());
    if (chunk->empty()) break;
    copy += *chunk;
  }
  EXPECT_EQ(copy, data);
}

TEST_F(LogExportTest, NoNameLeadsOutOfTheFolder) {
  for (const char* name : {"", "/etc/passwd", "../cases.db", "a/../../x", "LOCK", "Records", "a b", "x\\y"}) {
    EXPECT_FALSE(IsExportableLogPath(name)) << name;
    EXPECT_THAT(ReadLogFileChunk(dir(), name, 0, 10), StatusIs(StatusCode::kInvalidArgument)) << name;
  }
  EXPECT_FALSE(IsExportableLogPath(std::string(129, 'a')));
  EXPECT_THAT(ReadLogFileChunk(dir(), "no-such-file", 0, 10), StatusIs(StatusCode::kNotFound));
  // A symbolic link inside the folder is not followed out of it.
  ASSERT_EQ(::symlink("/etc/hostname", (dir() + "/link").c_str()), 0);
  EXPECT_THAT(ReadLogFileChunk(dir(), "link", 0, 10), StatusIs(StatusCode::kNotFound));
}

TEST_F(LogExportTest, AFolderThatCannotBeListedIsUnavailable) {
  EXPECT_THAT(ListLogFolder(tmp_.path() + "/missing"), StatusIs(StatusCode::kUnavailable));
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp::audit
