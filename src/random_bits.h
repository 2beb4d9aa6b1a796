// 32 unpredictable bits for names (run ids, cgroup leaves), without std::random_device: that one
// opens /dev/urandom, which throws when no descriptor is left, and costs a file open per use.
#pragma once

#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <cstdint>

namespace ctxrun {

inline std::uint32_t random_bits() noexcept {
  std::uint32_t bits = 0;
  if (getrandom(&bits, sizeof bits, GRND_NONBLOCK) == static_cast<ssize_t>(sizeof bits)) return bits;
  // No entropy yet (early boot): still unique enough with the pid and the clock.
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<std::uint32_t>(now.tv_nsec) ^ (static_cast<std::uint32_t>(getpid()) << 16);
}

}  // namespace ctxrun
