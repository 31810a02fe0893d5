#include <stdlib.h>

#include <cstdlib>
#include <filesystem>

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

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace kp::testing
