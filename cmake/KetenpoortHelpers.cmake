# One helper pair keeps each target a few lines long and its dependencies
# explicit (after Tink's tink_cc_library / tink_cc_test).

add_library(kp_build_flags INTERFACE)
target_compile_options(kp_build_flags INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wcast-align
  -Wunused -Woverloaded-virtual -Wno-missing-field-initializers -Wformat=2
  $<$<BOOL:${KP_WERROR}>:-Werror>)
if(KP_SANITIZE)
  target_compile_options(kp_build_flags INTERFACE
    -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
  target_link_options(kp_build_flags INTERFACE -fsanitize=address,undefined)
endif()

# mold links a test binary in a third of GNU ld's time (tests/e2e/e2e_test:
# 0.45 s against 1.45 s, median of three); the tree links about ninety
# programs, twice in CI. GNU ld when mold is not installed.
find_program(KP_MOLD mold)
if(KP_MOLD)
  target_link_options(kp_build_flags INTERFACE -fuse-ld=mold)
endif()

if(KP_FUZZ)
  # Coverage instrumentation for every library, so the fuzzers see into them.
  target_compile_options(kp_build_flags INTERFACE -fsanitize=fuzzer-no-link,address,undefined)
  target_link_options(kp_build_flags INTERFACE -fsanitize=address,undefined)
endif()

# The libraries with the most sources that include the heaviest headers:
# they take most of a build's time (cli, gateway, agent, client; the console
# pages still share helper names in their anonymous namespaces).
set(KP_UNITY_LIBRARIES kp_cli kp_gateway kp_agent kp_client)

# kp_library(NAME SRCS ... DEPS ... [PRIVATE_DEPS ...])
function(kp_library NAME)
  cmake_parse_arguments(KP "" "" "SRCS;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(${NAME} STATIC ${KP_SRCS})
  # Unity batches: a library's sources are compiled a few at a time as one
  # file, so the heavy headers (protobuf, spdlog, CLI11, httplib) are parsed
  # once per batch instead of once per file. CI builds the tree twice on two
  # cores; this keeps it within its time (2,148 s measured on a fresh clone
  # without it). Only the libraries in KP_UNITY_LIBRARIES: a library joins
  # once no two of its sources define the same name in an anonymous namespace.
  if(NAME IN_LIST KP_UNITY_LIBRARIES)
    set_target_properties(${NAME} PROPERTIES UNITY_BUILD ${KP_UNITY_BUILD} UNITY_BUILD_BATCH_SIZE 6)
  endif()
  target_include_directories(${NAME} PUBLIC ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR})
  target_link_libraries(${NAME} PUBLIC ${KP_DEPS} PRIVATE kp_build_flags ${KP_PRIVATE_DEPS})
endfunction()

# Test sources are compiled for build time, not speed: the code they test is
# in the libraries, built with the build type's flags (RelWithDebInfo: -O2 -g).
# -O0 with line tables halves a test file's compile time (and -O1 makes GCC 12
# report false array bounds in std::string), and the tests
# share one precompiled header (GoogleTest, GoogleMock, spdlog, the generated
# protobuf headers: kp_test_pch in tests/CMakeLists.txt). CI builds the whole
# tree twice on two cores; this keeps that within its time.
add_library(kp_test_build_flags INTERFACE)
target_compile_options(kp_test_build_flags INTERFACE $<$<CONFIG:RelWithDebInfo>:-O0 -g1>)

# kp_test(NAME SRCS ... DEPS ...): a GoogleTest binary; each TEST is a ctest case.
function(kp_test NAME)
  cmake_parse_arguments(KP "" "" "SRCS;DEPS" ${ARGN})
  add_executable(${NAME} ${KP_SRCS})
  target_link_libraries(${NAME} PRIVATE ${KP_DEPS} kp_testing GTest::gmock GTest::gtest_main kp_build_flags kp_test_build_flags)
  target_precompile_headers(${NAME} REUSE_FROM kp_test_pch)
  gtest_discover_tests(${NAME}
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
    DISCOVERY_MODE PRE_TEST
    PROPERTIES ENVIRONMENT "KP_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
endfunction()

# kp_binary(NAME SRCS ... DEPS ...): a thin main.cc.
function(kp_binary NAME)
  cmake_parse_arguments(KP "" "" "SRCS;DEPS" ${ARGN})
  add_executable(${NAME} ${KP_SRCS})
  target_link_libraries(${NAME} PRIVATE ${KP_DEPS} kp_build_flags)
endfunction()

include(GoogleTest)

# kp_fuzzer(NAME SRCS ... DEPS ... CORPUS dir): a libFuzzer target
# (LLVMFuzzerTestOneInput). Plain builds get NAME_replay, which runs the input
# function over every file of the seed corpus and is registered with ctest, so
# the corpus is also a regression test. With -DKP_FUZZ=ON (clang) NAME itself
# is built with -fsanitize=fuzzer for real fuzzing (see tests/fuzz/README.md).
# The replay driver is compiled once for every fuzz target.
add_library(kp_fuzz_replay_main OBJECT ${PROJECT_SOURCE_DIR}/tests/fuzz/replay_main.cc)
target_link_libraries(kp_fuzz_replay_main PRIVATE kp_build_flags)

function(kp_fuzzer NAME)
  cmake_parse_arguments(KP "" "CORPUS" "SRCS;DEPS" ${ARGN})
  add_executable(${NAME}_replay ${KP_SRCS} $<TARGET_OBJECTS:kp_fuzz_replay_main>)
  target_link_libraries(${NAME}_replay PRIVATE ${KP_DEPS} kp_build_flags)
  add_test(NAME ${NAME}_corpus COMMAND ${NAME}_replay ${KP_CORPUS})
  if(KP_FUZZ)
    add_executable(${NAME} ${KP_SRCS})
    target_compile_options(${NAME} PRIVATE -fsanitize=fuzzer,address,undefined)
    target_link_options(${NAME} PRIVATE -fsanitize=fuzzer,address,undefined)
    target_link_libraries(${NAME} PRIVATE ${KP_DEPS} kp_build_flags)
    # `./run fuzz` reads this list: one "binary corpus-folder" per line.
    file(APPEND ${PROJECT_BINARY_DIR}/fuzzers.list "${CMAKE_CURRENT_BINARY_DIR}/${NAME} ${KP_CORPUS}\n")
  endif()
endfunction()
