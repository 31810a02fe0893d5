// What `--version` prints on every Ketenpoort binary: the release (the CMake
// project version), the git commit it was built from, and the wire protocol
// version it speaks (kp::wire::kProtocolVersion, docs/protocol.md). Partner IT
// quotes this line when they report a problem; the operator compares it
// across the region before and after an upgrade.
//
// The commit is written at build time (core/base/git_commit.cmake) into a
// generated file of its own library, kp_version, which only the binaries
// link: a new commit relinks three programs, not every test. -DKP_GIT_COMMIT=...
// names the commit instead (a build from a tarball); a tree without git and
// without it says "unknown". Thread-safe: constants only.
#ifndef KETENPOORT_CORE_BASE_VERSION_H_
#define KETENPOORT_CORE_BASE_VERSION_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace kp {

// The release, e.g. "0.1.0".
std::string_view Version();

// The commit, 12 hex digits, with "+dirty" when the tree had uncommitted
// changes to tracked files at build time; "unknown" without git.
std::string_view GitCommit();

// One line: "<program> <version> (commit <commit>, protocol <n>)".
// core/base sits below the envelope code, so the caller passes
// kp::wire::kProtocolVersion.
std::string VersionLine(std::string_view program, uint32_t protocol_version);

}  // namespace kp

#endif  // KETENPOORT_CORE_BASE_VERSION_H_
