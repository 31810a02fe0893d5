// The times the tests share, defined once instead of in thirty test files.
// Each test file names the ones it uses with a using-declaration
// (`using test::kNow;`).
#ifndef KETENPOORT_TESTS_TESTING_TEST_TIME_H_
#define KETENPOORT_TESTS_TESTING_TEST_TIME_H_

#include <cstdint>

namespace kp::test {

// "Now" for the tests that run on a fake clock: 2026-11-22.
inline constexpr int64_t kNow = 1795357974123;
inline constexpr int64_t kHour = 3'600'000;
inline constexpr int64_t kDay = 24 * kHour;
// How long a test waits for something a real region does (an answer, a
// delivery, a notice) before it fails.
inline constexpr int kWaitMs = 8000;
// How long a test waits for something on loopback in its own process (a
// frame, a handshake).
inline constexpr int kDeadlineMs = 5000;
// How long a test waits for a real gateway or agent process (to start, to
// exit, to restore): generous for sanitizer builds; met in seconds normally.
inline constexpr int kProcessDeadlineMs = 60'000;

}  // namespace kp::test

#endif  // KETENPOORT_TESTS_TESTING_TEST_TIME_H_
