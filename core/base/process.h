// Process hardening shared by every Ketenpoort binary.
#ifndef KETENPOORT_CORE_BASE_PROCESS_H_
#define KETENPOORT_CORE_BASE_PROCESS_H_

#include "core/base/status.h"

namespace kp {

// Disables core dumps (RLIMIT_CORE = 0) and marks the process non-dumpable
// (PR_SET_DUMPABLE 0, which also blocks ptrace by other users' processes), so
// that secret keys never land in a core file. Call first thing in main().
Status DisableCoreDumps();

}  // namespace kp

#endif  // KETENPOORT_CORE_BASE_PROCESS_H_
