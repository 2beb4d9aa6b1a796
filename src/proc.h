// Reading the process table from /proc, and signalling one process without pid-reuse races.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "ctxrun/process_info.h"

namespace ctxrun {

// Whether /proc is this process's own: a procfs mounted for its PID namespace, so that /proc/PID
// names the process that has PID here. False when /proc is missing, an empty directory, or the
// procfs of another PID namespace (a container started with the host's /proc, `unshare --pid`
// without --mount-proc): then nothing in /proc may be taken to describe a pid of ours. Decided once.
bool proc_is_ours() noexcept;
// Why not, for messages: "/proc is not mounted", "/proc belongs to another PID namespace"; "" if ours.
const char* proc_problem() noexcept;

// The process `pid`, or nullopt if there is none (or it could not be read).
std::optional<ProcessInfo> read_process(pid_t pid);

// Every process (thread-group leader) on the system, or nullopt if /proc cannot be read.
std::optional<std::vector<ProcessInfo>> scan_processes();

// Calls `each(pin, process)` for every process (thread-group leader) in /proc, in pid order. `pin`
// is a pidfd opened before `process` was read (-1 if none could be opened): whenever the pinned
// process is still alive, `process` describes it, not a later process that took its pid. False if
// /proc cannot be read.
bool for_each_pinned(const std::function<void(int pin, const ProcessInfo& process)>& each);

// This process's children now (zombies included), from /proc/self/task/PID/children; nullopt where
// /proc is not ours or the kernel does not offer that file.
std::optional<std::vector<pid_t>> own_children();

// The live descendants of this process, found by following /proc/PID/task/TID/children down from
// its own children (their descendants left out for `skip`): a read of two files per process, where
// scan_processes() reads one per process of the whole system. nullopt when there are more than
// `limit` of them (the scan is then the cheaper way), when a file cannot be read for a reason other
// than its process being gone, or where /proc is not ours. A process forked after its parent's
// children file was read is not seen, as a scan does not see one forked after it.
std::optional<std::vector<ProcessInfo>> walk_descendants(std::size_t limit, std::optional<pid_t> skip);

// The processes in `all` whose chain of parents leads to `root` (root itself excluded).
std::vector<ProcessInfo> descendants_of(pid_t root, const std::vector<ProcessInfo>& all);

// Whether `p` is another ctxrun (either personality): its executable is the same file as this
// process's. Only a process whose name could be ctxrun's is looked at closely.
bool is_ctxrun(const ProcessInfo& p);
// Whether process `pid` runs this process's executable (a ctxrun, or a ctxrun's guardian): one
// stat() of /proc/PID/exe, for callers that have no name to look at first.
bool runs_ctxrun_executable(pid_t pid);

// Sends `sig` to the process `p` names, only if that process still exists: a pidfd is opened and
// the start time compared, so a pid that was reaped and reused by another process is never
// signalled. With `then_cont`, SIGCONT follows on the same pidfd (a stopped process must see the
// signal). Returns true if the signal was sent. Only "no such process" counts as gone: when the
// pidfd or /proc cannot be opened for another reason (EMFILE, ENOMEM), the signal still goes, by
// the best means left. A process that `p` says is this process's own child is signalled by pid with
// no check: the caller must not have reaped since `p` was read (an unreaped child's pid is pinned).
bool signal_process(const ProcessInfo& p, int sig, bool then_cont) noexcept;

// pidfd_open(2) and pidfd_send_signal(2): -1 with errno on failure (ENOSYS before Linux 5.3).
int open_pidfd(pid_t pid) noexcept;
int send_signal_pidfd(int pidfd, int sig) noexcept;

}  // namespace ctxrun
