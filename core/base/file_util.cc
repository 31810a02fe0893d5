#include "core/base/file_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

namespace kp {
namespace {

std::string Errno(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}

std::string OctalMode(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

Status WriteAll(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return UnavailableError(Errno("cannot write", path));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return OkStatus();
}

Status FsyncDir(const std::string& path) {
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return UnavailableError(Errno("cannot open folder", dir));
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return UnavailableError(Errno("cannot fsync folder", dir));
  return OkStatus();
}

}  // namespace

Result<std::string> ReadFileBounded(const std::string& path, size_t max_bytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return NotFoundError("file not found: " + path);
    return UnavailableError(Errno("cannot open", path));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    Status s = UnavailableError(Errno("cannot stat", path));
    ::close(fd);
    return s;
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return InvalidArgumentError(path + " is not a regular file");
  }
  if (static_cast<size_t>(st.st_size) > max_bytes) {
    ::close(fd);
    return InvalidArgumentError(path + " is too large (" + std::to_string(st.st_size) +
                                " bytes, at most " + std::to_string(max_bytes) + " expected)");
  }
  std::string out;
  out.resize(std::min(static_cast<size_t>(st.st_size), max_bytes) + 1);
  size_t got = 0;
  while (got < out.size()) {
    ssize_t n = ::read(fd, out.data() + got, out.size() - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      Status s = UnavailableError(Errno("cannot read", path));
      ::close(fd);
      return s;
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  if (got > max_bytes) return InvalidArgumentError(path + " is too large");
  out.resize(got);
  return out;
}

Status WriteFileDurable(const std::string& path, std::string_view data, mode_t mode, WriteMode how) {
  std::string target = how == WriteMode::kCreateExclusive ? path : path + ".tmp";
  int flags = O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW;
  flags |= how == WriteMode::kCreateExclusive ? O_EXCL : O_TRUNC;
  int fd = ::open(target.c_str(), flags, mode);
  if (fd < 0) {
    if (errno == EEXIST) return AlreadyExistsError(path + " already exists; refusing to overwrite it");
    return UnavailableError(Errno("cannot create", target));
  }
  // The umask may have narrowed `mode`; never widened. Set it exactly.
  Status s = ::fchmod(fd, mode) == 0 ? OkStatus() : UnavailableError(Errno("cannot chmod", target));
  if (s.ok()) s = WriteAll(fd, data, target);
  if (s.ok() && ::fdatasync(fd) != 0) s = UnavailableError(Errno("cannot fsync", target));
  ::close(fd);
  if (s.ok() && how == WriteMode::kReplace && ::rename(target.c_str(), path.c_str()) != 0) {
    s = UnavailableError(Errno("cannot rename onto", path));
  }
  if (s.ok()) s = FsyncDir(path);
  if (!s.ok()) ::unlink(target.c_str());
  return s;
}

Status CheckDirNotGroupOrWorldWritable(const std::string& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    if (errno == ENOENT) return NotFoundError("folder not found: " + dir);
    return UnavailableError(Errno("cannot stat", dir));
  }
  if (!S_ISDIR(st.st_mode)) return InvalidArgumentError(dir + " is not a folder");
  if (st.st_mode & (S_IWGRP | S_IWOTH)) {
    return FailedPreconditionError("folder " + dir + " can be written by other users (mode " +
                                 OctalMode(st.st_mode) +
                                 "); use a folder only its owner can write, e.g. chmod 700");
  }
  return OkStatus();
}

Status CheckSecretFileMode(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return NotFoundError("file not found: " + path);
    return UnavailableError(Errno("cannot stat", path));
  }
  if (!S_ISREG(st.st_mode)) return InvalidArgumentError(path + " is not a regular file");
  if (st.st_mode & (S_IRWXG | S_IRWXO)) {
    return FailedPreconditionError("secret key file " + path + " is readable or writable by other users (mode " +
                                 OctalMode(st.st_mode) + "); fix it with: chmod 600 " + path);
  }
  return OkStatus();
}

}  // namespace kp
