// ProcessInfo: one process as /proc/PID/stat shows it (a survivor of teardown, in Outcome).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

namespace ctxrun {

struct ProcessInfo {
  pid_t pid = 0;
  pid_t ppid = 0;
  pid_t pgid = 0;                // 0: a group whose leader is outside our PID namespace
  char state = '?';              // R, S, D, T, t, Z, X, ...
  std::uint64_t start_time = 0;  // clock ticks after boot: with pid, names one process for good
  std::string name;              // comm, at most 15 characters
};

}  // namespace ctxrun
