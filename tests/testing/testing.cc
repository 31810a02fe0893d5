#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "tests/testing/status_matchers.h"

namespace kp::testing {

std::string SourceDir() {
  const char* dir = std::getenv("KP_SOURCE_DIR");
  return dir != nullptr ? dir : ".";
}

TempDir::TempDir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string templ = std::string(tmp != nullptr ? tmp : "/tmp") + "/kp-test-XXXXXX";
  char* made = ::mkdtemp(templ.data());
  if (made == nullptr) std::abort();
  path_ = made;
}

std::string AllBytesUnder(const std::string& dir) {
  std::string all;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    std::ifstream in(e.path(), std::ios::binary);
    all += std::string(std::istreambuf_iterator<char>(in), {});
  }
  return all;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace kp::testing
