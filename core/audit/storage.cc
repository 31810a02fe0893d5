#include "core/audit/storage.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/base/file_util.h"

namespace kp::audit {
namespace {

Status Errno(std::string_view what, const std::string& path) {
  int e = errno;
  std::string msg = std::string(what) + " " + path + ": " + std::strerror(e);
  if (e == ENOENT) return NotFoundError(msg);
  if (e == EACCES || e == EPERM) return PermissionDeniedError(msg);
  return UnavailableError(msg);
}

class PosixLogFile final : public LogFile {
 public:
  PosixLogFile(int fd, std::string path, uint64_t size) : fd_(fd), path_(std::move(path)), size_(size) {}
  ~PosixLogFile() override { ::close(fd_); }

  Status Append(std::string_view data) override {
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n = ::pwrite(fd_, data.data() + done, data.size() - done, static_cast<off_t>(size_ + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        return Errno("cannot write", path_);
      }
      done += static_cast<size_t>(n);
    }
    size_ += data.size();
    return OkStatus();
  }

  Status ReadAt(uint64_t offset, size_t n, std::string& out) const override {
    // Clamp to the size this handle knows (appends by another handle show
    // up as a short read, never as a huge zero-filled buffer).
    struct stat st;
    uint64_t size = ::fstat(fd_, &st) == 0 ? static_cast<uint64_t>(st.st_size) : size_;
    n = offset >= size ? 0 : static_cast<size_t>(std::min<uint64_t>(n, size - offset));
    out.resize(n);
    size_t done = 0;
    while (done < n) {
      ssize_t r = ::pread(fd_, out.data() + done, n - done, static_cast<off_t>(offset + done));
      if (r < 0) {
        if (errno == EINTR) continue;
        return Errno("cannot read", path_);
      }
      if (r == 0) break;
      done += static_cast<size_t>(r);
    }
    out.resize(done);
    return OkStatus();
  }

  uint64_t Size() const override { return size_; }

  Status Truncate(uint64_t size) override {
    if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) return Errno("cannot truncate", path_);
    size_ = size;
    return OkStatus();
  }

  Status Sync() override {
    if (::fdatasync(fd_) != 0) return Errno("cannot sync", path_);
    return OkStatus();
  }

 private:
  int fd_;
  std::string path_;
  uint64_t size_;
};

class PosixFolderLock final : public FolderLock {
 public:
  explicit PosixFolderLock(int fd) : fd_(fd) {}
  ~PosixFolderLock() override {
    ::flock(fd_, LOCK_UN);
    ::close(fd_);
  }

 private:
  int fd_;
};

Status SyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Errno("cannot open folder", dir);
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return Errno("cannot sync folder", dir);
  return OkStatus();
}

std::string DirName(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
}

class PosixStorageImpl final : public Storage {
 public:
  Result<std::unique_ptr<LogFile>> OpenFile(const std::string& path, bool create) override {
    int flags = O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0);
    int fd = ::open(path.c_str(), flags, 0600);
    if (fd < 0) return Errno("cannot open", path);
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      Status s = Errno("cannot stat", path);
      ::close(fd);
      return s;
    }
    if (create) {
      Status s = SyncDir(DirName(path));
      if (!s.ok()) {
        ::close(fd);
        return s;
      }
    }
    return std::unique_ptr<LogFile>(new PosixLogFile(fd, path, static_cast<uint64_t>(st.st_size)));
  }

  Result<std::unique_ptr<LogFile>> OpenReadOnly(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Errno("cannot open", path);
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      Status s = Errno("cannot stat", path);
      ::close(fd);
      return s;
    }
    return std::unique_ptr<LogFile>(new PosixLogFile(fd, path, static_cast<uint64_t>(st.st_size)));
  }

  Status WriteFileAtomic(const std::string& path, std::string_view data) override {
    return WriteFileDurable(path, data, 0644, WriteMode::kReplace);
  }

  Result<std::string> ReadSmallFile(const std::string& path, size_t max_bytes) override {
    return ReadFileBounded(path, max_bytes);
  }

  bool Exists(const std::string& path) override {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0;
  }

  Status CreateDir(const std::string& path) override {
    if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) return Errno("cannot create folder", path);
    return OkStatus();
  }

  Result<std::vector<std::string>> ListDir(const std::string& path) override {
    DIR* d = ::opendir(path.c_str());
    if (d == nullptr) return Errno("cannot list folder", path);
    std::vector<std::string> names;
    while (struct dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name != "." && name != "..") names.push_back(std::move(name));
    }
    ::closedir(d);
    return names;
  }

  Status RemoveFile(const std::string& path) override {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return Errno("cannot remove", path);
    return OkStatus();
  }

  Status RenameDurable(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) return Errno("cannot rename", from);
    return SyncDir(DirName(to));
  }

  Result<std::unique_ptr<FolderLock>> LockFolder(const std::string& dir) override {
    std::string path = dir + "/LOCK";
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return Errno("cannot open", path);
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      ::close(fd);
      return UnavailableError("the audit log " + dir + " is open by another process (lock " + path + " is held)");
    }
    return std::unique_ptr<FolderLock>(new PosixFolderLock(fd));
  }
};

}  // namespace

Storage& PosixStorage() {
  static Storage* storage = new PosixStorageImpl();
  return *storage;
}

}  // namespace kp::audit
