// Outcome: what happened in one run, and the exit status that tells the caller (the table is in the
// README and ctxrun(1), EXIT STATUS).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ctxrun/deadline.h"
#include "ctxrun/process_info.h"

namespace ctxrun {

// The statuses ctxrun (and GNU timeout) reserve for themselves.
inline constexpr int kExitDeadlineExceeded = 124;
inline constexpr int kExitFailure = 125;        // ctxrun itself failed
inline constexpr int kExitCannotExecute = 126;  // the command was found but could not be executed
inline constexpr int kExitNotFound = 127;

enum class Ending {
  exited,             // the command exited (any status) before the context ended
  signaled,           // the command died of a signal on its own
  deadline_exceeded,  // the deadline passed
  canceled,           // a cancelling signal reached ctxrun, or (run_command) the caller's context was cancelled
  service_failed,     // a service (Command::services) ended on its own before the command did
  error,              // ctxrun could not do its job (bad usage, spawn failure, survivors)
};

// "exited", "signaled", "deadline_exceeded", "canceled", "error": the names --report uses.
const char* ending_name(Ending e) noexcept;

// One step of teardown: which signal went to how many processes, when the step began (wall clock,
// for a trace's events) and how long it took.
struct TeardownStep {
  int signal = 0;
  int processes = 0;
  std::chrono::nanoseconds took{0};
  wall_time began{};
};

// The relay's account (Command::watch): what came out of the tree, and when last.
struct OutputReport {
  bool relayed = false;
  bool merged = false;  // one pipe carried stdout and stderr (counted in stdout_bytes)
  std::uint64_t stdout_bytes = 0;
  std::uint64_t stderr_bytes = 0;
  std::optional<wall_time> last_output;
};

// The hook that ran before the teardown (Command::before_stop.hook).
struct HookReport {
  std::string command;
  std::optional<int> status;  // its wait status; nullopt if it could not be started
  double seconds = 0;
  bool timed_out = false;  // killed at its limit
};

// The dump signal sent before the teardown (Command::before_stop.dump_signal).
struct DumpReport {
  int signal = 0;
  double waited_seconds = 0;
  bool main_exited = false;  // the command ended within the wait
};

// A service of the run (Command::services) and how it ended.
struct ServiceReport {
  std::string name;
  std::string command;
  std::optional<pid_t> pid;  // nullopt: it could not be started
  std::optional<wall_time> started;
  std::optional<wall_time> ready;  // when every probe had succeeded (the command's start)
  std::optional<int> status;       // its wait status, once reaped
  bool stopped = false;            // it ended in ctxrun's teardown, not on its own
};

// A readiness probe (Command::ready) and how it went.
struct ProbeReport {
  std::string probe;
  bool ready = false;
  int attempts = 0;
  std::optional<double> ready_after_seconds;  // from the probes' start
  std::optional<std::string> last_error;      // the last failed attempt's reason
};

struct Outcome {
  Ending ending = Ending::error;
  std::string cause;                  // "timeout 2s", "SIGINT", ...: what ended the context
  int cancel_signal = 0;              // the signal that cancelled (Ending::canceled); 0 if a context's cancel() did
  bool command_reaped = false;        // command_status is valid
  int command_status = 0;             // raw wait status of the command
  int spawn_exit = 0;                 // 125/126/127 when the command could not be started
  bool command_started = false;       // false: the context ended (or spawn failed) before exec
  bool tree_refused_command = false;  // spawn failed as the command entered the tree (a cgroup leaf it may not join)
  std::vector<TeardownStep> teardown;
  int processes_torn_down = 0;         // distinct processes signalled by teardown
  std::vector<ProcessInfo> survivors;  // processes still there after the last teardown step
  std::string error;                   // for Ending::error
  OutputReport output;
  std::optional<std::chrono::nanoseconds> idle_limit;  // Command::watch.idle
  bool idle_expired = false;                           // the run ended by idleness
  std::optional<HookReport> on_expire;
  std::optional<DumpReport> dump;
  std::vector<ServiceReport> services;
  std::vector<ProbeReport> probes;
  // Ending::service_failed: the index in `services` of the one that ended the run.
  std::optional<std::size_t> failed_service;
};

// How ctxrun ends: exit with `status`, or, when `die_of_signal` is set, die of that signal (and
// exit with `status` = 128+N only if dying is impossible, as for PID 1).
struct ExitPlan {
  int status = 0;
  int die_of_signal = 0;
};

// The exit-status contract. `preserve_status`: on DeadlineExceeded, the command's own status.
ExitPlan plan_exit(const Outcome& outcome, bool preserve_status) noexcept;

}  // namespace ctxrun
