// KP_UNDER_ASAN: defined when this file is compiled with AddressSanitizer,
// by GCC (__SANITIZE_ADDRESS__) or by clang (__has_feature), so that a test
// can sample less or skip a memory limit that ASan's shadow memory and
// quarantine would break (`./run test --sanitize` builds with clang).
#ifndef KETENPOORT_TESTS_TESTING_SANITIZERS_H_
#define KETENPOORT_TESTS_TESTING_SANITIZERS_H_

#if defined(__SANITIZE_ADDRESS__)
#define KP_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KP_UNDER_ASAN 1
#endif
#endif

#endif  // KETENPOORT_TESTS_TESTING_SANITIZERS_H_
