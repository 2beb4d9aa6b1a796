// Timer: a one-shot CLOCK_MONOTONIC timerfd, made once and re-armed as often as needed, so that
// arming it never needs a descriptor that might not be there (a caller that left ctxrun few).
#pragma once

#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>

#include "ctxrun/unique_fd.h"

namespace ctxrun {

class Timer {
 public:
  // Makes the descriptor; check ok(), and error() for why not.
  Timer() : fd_(timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK)), error_(fd_ ? 0 : errno) {}

  bool ok() const noexcept { return static_cast<bool>(fd_); }
  int error() const noexcept { return error_; }
  // Readable once the timer has fired, until fired() or a re-arm.
  int fd() const noexcept { return fd_.get(); }

  // Fires `after` from now (at least 1 ns: zero would disarm it). Forgets an earlier firing.
  void arm(std::chrono::nanoseconds after) noexcept {
    itimerspec spec{};
    auto ns = std::max(after.count(), std::chrono::nanoseconds::rep{1});
    spec.it_value = {static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
    timerfd_settime(fd_.get(), 0, &spec, nullptr);
  }
  // Fires `after` from now, as given to the nanosecond (the kernel caps it at about 292 years).
  // A zero timespec disarms it.
  void arm(const timespec& after) noexcept {
    itimerspec spec{};
    spec.it_value = after;
    timerfd_settime(fd_.get(), 0, &spec, nullptr);
  }
  void disarm() noexcept {
    itimerspec none{};
    timerfd_settime(fd_.get(), 0, &none, nullptr);
  }
  // Whether it fired since it was armed; reading consumes the firing.
  bool fired() noexcept {
    std::uint64_t expirations = 0;
    return ::read(fd_.get(), &expirations, sizeof expirations) == sizeof expirations;
  }

 private:
  unique_fd fd_;
  int error_;  // errno of timerfd_create, 0 if it worked
};

}  // namespace ctxrun
