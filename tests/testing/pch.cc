// The translation unit that builds the tests' shared precompiled header
// (kp_test_pch in tests/CMakeLists.txt); it has no code of its own.
