// GoogleTest matchers that print the failing Status:
//   EXPECT_THAT(DoIt(), IsOk());
//   EXPECT_THAT(Verify(bad), StatusIs(kp::StatusCode::kUnauthenticated));
//   ASSERT_OK_AND_ASSIGN(auto value, MakeValue());
#ifndef KETENPOORT_TESTS_TESTING_STATUS_MATCHERS_H_
#define KETENPOORT_TESTS_TESTING_STATUS_MATCHERS_H_

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/base/status.h"

namespace kp::testing {

inline const Status& GetStatus(const Status& s) { return s; }
template <typename T>
Status GetStatus(const Result<T>& r) {
  return r.status();
}

MATCHER(IsOk, "is OK") {
  Status s = ::kp::testing::GetStatus(arg);
  if (!s.ok()) *result_listener << "status is " << s.ToString();
  return s.ok();
}

MATCHER_P(StatusIs, code, "has status code " + std::string(::kp::StatusCodeName(code))) {
  Status s = ::kp::testing::GetStatus(arg);
  *result_listener << "status is " << s.ToString();
  return s.code() == code;
}

MATCHER_P2(StatusIs, code, substring,
           "has status code " + std::string(::kp::StatusCodeName(code)) + " and a message containing \"" +
               std::string(substring) + "\"") {
  Status s = ::kp::testing::GetStatus(arg);
  *result_listener << "status is " << s.ToString();
  return s.code() == code && s.message().find(substring) != std::string::npos;
}

// The source tree (tests run from it; set by kp_test as KP_SOURCE_DIR).
std::string SourceDir();

// Every regular file under `dir` (recursively), read whole and joined: for
// canary checks that something never reaches a disk.
std::string AllBytesUnder(const std::string& dir);

// A fresh folder under $TMPDIR, mode 0700, removed when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace kp::testing

#define KP_TESTING_CONCAT_INNER_(a, b) a##b
#define KP_TESTING_CONCAT_(a, b) KP_TESTING_CONCAT_INNER_(a, b)
#define ASSERT_OK_AND_ASSIGN(lhs, expr) \
  ASSERT_OK_AND_ASSIGN_IMPL_(KP_TESTING_CONCAT_(kp_test_result_, __LINE__), lhs, expr)
#define ASSERT_OK_AND_ASSIGN_IMPL_(tmp, lhs, expr)          \
  auto tmp = (expr);                                        \
  ASSERT_TRUE(tmp.ok()) << tmp.status().ToString();         \
  lhs = std::move(tmp).value()
#define ASSERT_OK(expr) ASSERT_THAT((expr), ::kp::testing::IsOk())
#define EXPECT_OK(expr) EXPECT_THAT((expr), ::kp::testing::IsOk())

#endif  // KETENPOORT_TESTS_TESTING_STATUS_MATCHERS_H_
