// Diagnose before the kill (issue 12): a look at the tree as it stands, a hook run outside it, and a
// dump signal for the main command. Passive pieces: the runner decides when to call them (after the
// context ended by a deadline or idleness, before the first stop signal) and what to print.
//
// None of them reaps anything but its own child: the caller's Reaper (waitpid(-1)) owns every other
// one, the main command included.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "ctxrun/result.h"

namespace ctxrun {

class SignalRegime;

// One process as /proc shows it, for the tree printout.
struct TreeLine {
  pid_t pid = 0;
  pid_t ppid = 0;
  char state = '?';          // /proc/PID/stat: R, S, D, T, t, Z, ...
  std::string wchan;         // the kernel function it sleeps in, "-" when none (or hidden)
  double age_seconds = 0.0;  // since the process started (CLOCK_BOOTTIME, the clock of /proc/uptime)
  std::string command;       // its argv joined by spaces; "[comm]" when it has none (zombie, kernel)
};

// The processes `pids` name, as /proc shows them now. Empty when /proc is not ours (proc_is_ours()).
// A pid with no process (it vanished since it was listed) is skipped, as is a duplicate.
//
// Order: tree order, parents before children. The roots (a process whose parent is not among
// `pids`) come by pid; under each process its children, by pid, depth first. So the printout reads
// as the tree does and is the same for the same tree, whatever order `pids` came in.
//
// Allocates (may throw std::bad_alloc, like any std::string); no other failure: what cannot be read
// is shown as unknown ("-", "?", "[comm]").
std::vector<TreeLine> describe_processes(const std::vector<pid_t>& pids);

// One line, no newline: "  PID PPID STATE WCHAN AGE COMMAND", e.g. "  1234 1200 S do_wait 2.3s sh -c
// sleep 60". AGE has one decimal below a minute, then "4m12s", "1h2m3s". Control characters in the
// command (and wchan) are escaped, \n \t \r or \xNN, so that each process stays on one line.
std::string format_tree_line(const TreeLine& line);

// How a hook ended.
struct HookResult {
  std::optional<int> status;  // its wait status; nullopt only if it could not even be reaped after
                              // SIGKILL (uninterruptible sleep): the caller's Reaper gets it later
  double seconds = 0.0;       // from fork to its end
  bool timed_out = false;     // it was killed at the limit
};

// Runs `/bin/sh -c shell_command` and waits for it, at most `limit`.
//
// The hook gets the current environment plus `extra_env` ("NAME=value", replacing a variable of the
// same name), stdin /dev/null, stdout and stderr on `output_fd` (both on /dev/null if negative), a
// process group of its own, SIGKILL as parent-death signal, and no descriptor ctxrun opened (all are
// close-on-exec). Its signals: with `signals`, those ctxrun was started with (restore_in_child(): the
// start-up mask and ignored signals); without, an empty mask and the default action for every signal
// that is not ignored.
//
// Waiting is a poll() on a pidfd of the hook and a Timer: no sleeping, no period. At the limit the
// hook's whole process group is sent SIGKILL (timed_out). When the hook ends by itself, whatever it
// left in its group is sent SIGKILL too: the hook is outside the tree ctxrun tears down, so nothing
// else would stop it (and it could keep ctxrun's stderr open). A descendant that left the group
// (setsid) escapes; ctxrun, a subreaper, inherits and reaps it like any orphan.
//
// Reaps the hook (waitpid on its pid, never -1) and only it. Returns why not when the hook could
// not be started or watched: no fork, no pipe, /dev/null, /bin/sh missing, no pidfd (Linux < 5.3:
// then the hook is killed and reaped before returning). A shell command that fails, even one that
// sh cannot parse, is a hook that ran: its status says how (exit 2 for a syntax error).
//
// With TOSTOP set on a terminal that is `output_fd`, the hook (a background process group there)
// would be stopped by SIGTTOU on its first write and end at the limit.
Result<HookResult> run_hook(const std::string& shell_command, const std::vector<std::string>& extra_env,
                            std::chrono::nanoseconds limit, int output_fd,
                            const SignalRegime* signals = nullptr) noexcept;

// What became of the main command after the dump signal.
struct DumpResult {
  bool main_exited = false;     // it ended (it is left unreaped, a zombie, for the caller to reap)
  double waited_seconds = 0.0;  // how long this waited for it
};

// Sends `sig` to the main command alone (not its tree), then waits up to `wait` for it to end,
// without reaping it. With a pidfd of it (`pidfd_or_minus1` >= 0) the signal goes through the pidfd
// and the wait polls it; otherwise kill() and a pidfd opened here. Without any pidfd (Linux < 5.3,
// no descriptor left) it waits the whole `wait` on a Timer and then looks once (waitid WNOWAIT).
//
// Precondition: `main_pid` is the caller's child and not yet reaped, so the pid cannot name another
// process. A main command that has already ended counts as exited at once. The signal is not
// followed by SIGCONT: a stopped main command does not act on it until the teardown continues it.
DumpResult send_dump_signal(pid_t main_pid, int pidfd_or_minus1, int sig, std::chrono::nanoseconds wait) noexcept;

}  // namespace ctxrun
