// UniqueFd: owns a file descriptor and closes it when it goes out of scope
// (or on Close()). Move-only in spirit: neither copied nor moved.
#ifndef KETENPOORT_CORE_BASE_UNIQUE_FD_H_
#define KETENPOORT_CORE_BASE_UNIQUE_FD_H_

#include <unistd.h>

namespace kp {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { Close(); }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  int get() const { return fd_; }
  bool open() const { return fd_ >= 0; }
  void Reset(int fd) {
    Close();
    fd_ = fd;
  }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

}  // namespace kp

#endif  // KETENPOORT_CORE_BASE_UNIQUE_FD_H_
