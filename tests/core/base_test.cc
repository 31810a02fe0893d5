#include <sys/stat.h>

#include "core/base/clock.h"
#include "core/base/encoding.h"
#include "core/base/file_util.h"
#include "core/base/status.h"
#include "tests/testing/status_matchers.h"

namespace kp {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

using ::kp::testing::IsOk;
using ::kp::testing::StatusIs;
using ::kp::testing::TempDir;

Result<int> Half(int x) {
  if (x % 2 != 0) return InvalidArgumentError("odd");
  return x / 2;
}

Result<int> Quarter(int x) {
  KP_ASSIGN_OR_RETURN(int h, Half(x));
  return Half(h);
}

TEST(StatusTest, OkHasNoMessage) {
  Status s(StatusCode::kOk, "ignored");
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.ToString(), "OK");
}

TEST(StatusTest, ToStringNamesTheCode) {
  EXPECT_EQ(UnauthenticatedError("bad signature").ToString(), "UNAUTHENTICATED: bad signature");
  EXPECT_EQ(DataLossError("x").WithContext("audit log").ToString(), "DATA_LOSS: audit log: x");
}

TEST(ResultTest, AssignOrReturnPropagatesTheError) {
  EXPECT_EQ(*Quarter(8), 2);
  EXPECT_THAT(Quarter(6), StatusIs(StatusCode::kInvalidArgument, "odd"));
}

TEST(ResultTest, BuiltFromOkStatusIsAnInternalError) {
  Result<int> r{OkStatus()};
  EXPECT_THAT(r, StatusIs(StatusCode::kInternal));
}

TEST(EncodingTest, HexRoundTrip) {
  EXPECT_EQ(HexEncode(std::string_view("\x00\xff\x10", 3)), "00ff10");
  EXPECT_EQ(*HexDecode("00FF10"), std::string("\x00\xff\x10", 3));
  EXPECT_THAT(HexDecode("abc"), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(HexDecode("zz"), StatusIs(StatusCode::kInvalidArgument));
}

TEST(EncodingTest, Base64KnownAnswers) {
  // RFC 4648 §10.
  const char* plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
  const char* encoded[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
  for (int i = 0; i < 7; ++i) {
    EXPECT_EQ(Base64Encode(plain[i]), encoded[i]);
    EXPECT_EQ(*Base64Decode(encoded[i]), plain[i]);
  }
}

TEST(EncodingTest, Base64RejectsNonCanonicalAndGarbage) {
  EXPECT_THAT(Base64Decode("Zh=="), StatusIs(StatusCode::kInvalidArgument));  // stray bits
  EXPECT_THAT(Base64Decode("Zg="), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(Base64Decode("Z=g="), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(Base64Decode("Zg==Zg=="), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(Base64Decode("Zm9v\n"), StatusIs(StatusCode::kInvalidArgument));
}

TEST(EncodingTest, Z85KnownAnswer) {
  // ZeroMQ RFC 32 test vector.
  const std::string data("\x86\x4F\xD2\x6F\xB5\x59\xF7\x5B", 8);
  EXPECT_EQ(*Z85Encode(data), "HelloWorld");
  EXPECT_EQ(*Z85Decode("HelloWorld"), data);
  EXPECT_THAT(Z85Encode("abc"), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(Z85Decode("Hello\"orld"), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(Z85Decode("#####"), StatusIs(StatusCode::kInvalidArgument));  // > 2^32-1
}

TEST(EncodingTest, LengthPrefixIsBigEndian) {
  std::string out;
  AppendLengthPrefixed(out, "ab");
  EXPECT_EQ(out, std::string("\x00\x00\x00\x02" "ab", 6));
  out.clear();
  AppendU64BE(out, 0x0102030405060708ULL);
  EXPECT_EQ(out, "\x01\x02\x03\x04\x05\x06\x07\x08");
}

TEST(ClockTest, FormatsUtcWithMillis) {
  EXPECT_EQ(FormatRfc3339Millis(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatRfc3339Millis(1795357974123), "2026-11-22T14:32:54.123Z");
  EXPECT_EQ(*ParseRfc3339Millis("2026-11-22T14:32:54.123Z"), 1795357974123);
  EXPECT_EQ(*ParseRfc3339Millis("1970-01-02"), 86400000);
  for (const char* bad : {"2026-02-31", "2026-11-22T14:32:54Z", "2026-13-01", "yesterday", "2026-11-22 ", ""}) {
    EXPECT_THAT(ParseRfc3339Millis(bad), StatusIs(StatusCode::kInvalidArgument)) << bad;
  }
  ManualClock clock(1000);
  clock.Advance(500);
  EXPECT_EQ(clock.NowMillis(), 1500);
}

TEST(FileUtilTest, CreateExclusiveRefusesToOverwrite) {
  TempDir dir;
  ASSERT_OK(WriteFileDurable(dir.File("a"), "one", 0600, WriteMode::kCreateExclusive));
  EXPECT_THAT(WriteFileDurable(dir.File("a"), "two", 0600, WriteMode::kCreateExclusive),
              StatusIs(StatusCode::kAlreadyExists, "refusing to overwrite"));
  EXPECT_EQ(*ReadFileBounded(dir.File("a"), 100), "one");
  ASSERT_OK(WriteFileDurable(dir.File("a"), "three", 0644, WriteMode::kReplace));
  EXPECT_EQ(*ReadFileBounded(dir.File("a"), 100), "three");
}

TEST(FileUtilTest, ModesAreExactAndChecked) {
  TempDir dir;
  ASSERT_OK(WriteFileDurable(dir.File("secret"), "k", 0600, WriteMode::kCreateExclusive));
  EXPECT_THAT(CheckSecretFileMode(dir.File("secret")), IsOk());
  ::chmod(dir.File("secret").c_str(), 0640);
  EXPECT_THAT(CheckSecretFileMode(dir.File("secret")), StatusIs(StatusCode::kFailedPrecondition, "chmod 600"));
  EXPECT_THAT(CheckSecretFileMode(dir.File("missing")), StatusIs(StatusCode::kNotFound));
}

TEST(FileUtilTest, GroupWritableFolderIsRefused) {
  TempDir dir;
  EXPECT_THAT(CheckDirNotGroupOrWorldWritable(dir.path()), IsOk());
  ::chmod(dir.path().c_str(), 0777);
  EXPECT_THAT(CheckDirNotGroupOrWorldWritable(dir.path()), StatusIs(StatusCode::kFailedPrecondition));
}

TEST(FileUtilTest, ReadIsBounded) {
  TempDir dir;
  ASSERT_OK(WriteFileDurable(dir.File("big"), std::string(1000, 'x'), 0600, WriteMode::kCreateExclusive));
  EXPECT_THAT(ReadFileBounded(dir.File("big"), 999), StatusIs(StatusCode::kInvalidArgument, "too large"));
  EXPECT_THAT(ReadFileBounded(dir.path(), 999), StatusIs(StatusCode::kInvalidArgument));
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp
