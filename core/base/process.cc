#include "core/base/process.h"

#include <sys/prctl.h>
#include <sys/resource.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace kp {

Status DisableCoreDumps() {
  struct rlimit rl {0, 0};
  if (::setrlimit(RLIMIT_CORE, &rl) != 0) {
    return InternalError(std::string("cannot disable core dumps: ") + std::strerror(errno));
  }
  if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
    return InternalError(std::string("cannot mark process non-dumpable: ") + std::strerror(errno));
  }
  return OkStatus();
}

}  // namespace kp
