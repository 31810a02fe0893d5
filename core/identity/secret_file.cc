#include "core/identity/secret_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/base/file_util.h"

namespace kp {

Result<SecretBytes> ReadSecretFile(const std::string& path, size_t max_bytes, std::string_view what) {
  const std::string name = std::string(what) + " " + path;
  Status mode = CheckSecretFileMode(path);
  if (mode.code() == StatusCode::kNotFound) return NotFoundError(name + " not found");
  KP_RETURN_IF_ERROR(mode);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) return NotFoundError(name + " not found");
    return UnavailableError("cannot open " + name + ": " + std::strerror(errno));
  }
  SecretBytes buf(max_bytes + 1);
  size_t got = 0;
  while (got < buf.size()) {
    ssize_t n = ::read(fd, buf.mutable_data() + got, buf.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      return UnavailableError("cannot read " + name + ": " + std::strerror(errno));
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  if (got > max_bytes) return InvalidArgumentError(name + " is too large (at most " + std::to_string(max_bytes) + " bytes)");
  SecretBytes out(got);
  if (got > 0) std::memcpy(out.mutable_data(), buf.data(), got);
  return out;
}

}  // namespace kp
