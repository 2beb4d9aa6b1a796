// unique_fd: sole owner of one kernel file descriptor.
//
// Move-only. The destructor closes the descriptor and never retries close(): on Linux the descriptor
// is released even when close() reports EINTR, so a retry could close a descriptor that another part
// of the program has opened since. Every descriptor ctxrun creates is close-on-exec from the syscall
// that creates it (O_CLOEXEC, SFD_CLOEXEC, TFD_CLOEXEC, ...), so none leaks into the command.
#pragma once

#include <unistd.h>

#include <utility>

namespace ctxrun {

class unique_fd {
 public:
  unique_fd() noexcept = default;
  explicit unique_fd(int fd) noexcept : fd_(fd) {}
  unique_fd(unique_fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  unique_fd& operator=(unique_fd&& other) noexcept {
    if (this != &other) reset(std::exchange(other.fd_, -1));
    return *this;
  }
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  ~unique_fd() { reset(); }

  // The descriptor, or -1 when empty. Ownership stays here.
  int get() const noexcept { return fd_; }
  explicit operator bool() const noexcept { return fd_ >= 0; }

  // Closes the held descriptor (if any) and takes ownership of fd.
  void reset(int fd = -1) noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;  // -1 when empty
};

}  // namespace ctxrun
