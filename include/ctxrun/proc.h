// Reading the process table from /proc, and signalling one process without pid-reuse races.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ctxrun {

// One process as /proc/PID/stat shows it.
struct ProcessInfo {
  pid_t pid = 0;
  pid_t ppid = 0;
  pid_t pgid = 0;
  char state = '?';             // R, S, D, T, t, Z, X, ...
  std::uint64_t start_time = 0; // clock ticks after boot: with pid, names one process for good
  std::string name;             // comm, at most 15 characters
};

// The process `pid`, or nullopt if there is none (or it could not be read).
std::optional<ProcessInfo> read_process(pid_t pid);

// Every process (thread-group leader) on the system, or nullopt if /proc cannot be read.
std::optional<std::vector<ProcessInfo>> scan_processes();

// The processes in `all` whose chain of parents leads to `root` (root itself excluded).
std::vector<ProcessInfo> descendants_of(pid_t root, const std::vector<ProcessInfo>& all);

// Sends `sig` to the process `p` names, only if that process still exists: a pidfd is opened and
// the start time compared, so a pid that was reaped and reused by another process is never
// signalled. With `then_cont`, SIGCONT follows on the same pidfd (a stopped process must see the
// signal). Returns true if the signal was sent.
bool signal_process(const ProcessInfo& p, int sig, bool then_cont) noexcept;

}  // namespace ctxrun
