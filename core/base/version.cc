#include "core/base/version.h"

// Defined in the generated git_commit.cc (core/base/git_commit.cmake).
namespace kp::internal {
extern const char kGitCommit[];
}  // namespace kp::internal

namespace kp {

std::string_view Version() { return KP_VERSION; }

std::string_view GitCommit() { return internal::kGitCommit; }

std::string VersionLine(std::string_view program, uint32_t protocol_version) {
  std::string line(program);
  line += ' ';
  line += Version();
  line += " (commit ";
  line += GitCommit();
  line += ", protocol ";
  line += std::to_string(protocol_version);
  line += ')';
  return line;
}

}  // namespace kp
