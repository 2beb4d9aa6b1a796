// RunOptions: everything the command line decides about one run (the tool's side; the library's is
// Command). Filled by the CLI (cli.cpp); turned into the run's context and its Command here, so
// that data flows one way: argv → RunOptions → (context, Command) → run → Outcome → announcement,
// report, exit status. Build it with designated initializers: fields are never positional.
#pragma once

#include <signal.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ctxrun/command.h"
#include "ctxrun/context.h"
#include "ctxrun/deadline.h"
#include "ctxrun/duration.h"

namespace ctxrun {

enum class Verbosity { quiet, normal, verbose };

struct RunOptions {
  std::optional<std::chrono::nanoseconds> timeout;  // --timeout; nullopt when none (or 0/inf)
  std::string timeout_text;                         // as written, for messages
  std::optional<wall_time> deadline;                // --deadline
  std::string deadline_text;
  std::optional<wall_time> inherited_deadline;  // CTXRUN_DEADLINE, unless --no-inherit
  std::string inherited_text;                   // its value, for messages
  int signal = SIGTERM;                         // first signal of teardown
  std::optional<std::chrono::nanoseconds> kill_after = std::chrono::seconds(10);  // nullopt: never
  OrphanPolicy orphans = OrphanPolicy::kill;
  bool preserve_status = false;
  TreeKind tree = TreeKind::automatic;
  Verbosity verbosity = Verbosity::normal;
  std::vector<std::string> command;          // argv of the command; never empty when run
  std::string report_path;                   // --report: where to write the JSON outcome
  bool remaining = false;                    // --remaining: print the budget, run nothing
  std::string remaining_format = "seconds";  // --format: seconds, ms or go
  // The CI step guard.
  std::optional<std::chrono::nanoseconds> idle;  // --idle (--no-output-timeout); nullopt: none
  std::string idle_text;
  std::optional<std::chrono::nanoseconds> heartbeat;                      // --heartbeat
  bool diagnose = false;                                                  // --diagnose, or -v: the tree before teardown
  std::optional<std::string> on_expire;                                   // --on-expire CMD
  std::chrono::nanoseconds on_expire_timeout = std::chrono::seconds(30);  // --on-expire-timeout
  std::optional<int> dump_signal;                                         // --dump-signal SIG[:DURATION]
  std::chrono::nanoseconds dump_wait = std::chrono::seconds(5);
  // Services (--with, --ready, --ready-timeout, --ready-status, --label).
  std::vector<Service> services;
  Readiness ready;
  bool label_services = false;
  // Retry (attempts.h).
  struct Retry {
    int attempts = 1;  // total runs
    std::optional<std::chrono::nanoseconds> attempt_timeout;
    std::string attempt_timeout_text;
    // What is retried: failure (non-zero exit, a signal of its own, the attempt's timeout, idleness),
    // or the explicit items.
    bool on_failure = true;
    std::vector<int> on_exit;
    bool on_timeout = false, on_idle = false, on_signal = false;
    std::chrono::nanoseconds delay = std::chrono::seconds(1);
    double backoff = 2;
    std::chrono::nanoseconds max_delay = std::chrono::seconds(60);
    bool jitter = true;
    std::optional<std::string> on_retry;
  } retry;
  // Trace context (trace_span.h) and request-scoped values (values.h).
  std::string trace_file;                                   // --trace-file, else CTXRUN_TRACE_FILE; "": none
  bool trace_argv = false;                                  // --trace-argv: the whole argv in the span
  std::vector<std::pair<std::string, std::string>> values;  // --value KEY=VALUE, in order
  std::optional<std::string> value_of;                      // --value-of KEY: print it, run nothing
};

// The context of a run: background, then the inherited deadline (CTXRUN_DEADLINE), then
// --deadline, then --timeout (counted from `started`, ctxrun's start), then cancellable. The
// earliest deadline wins. Throws std::system_error when its descriptors cannot be made (context.h).
ContextPtr make_run_context(const RunOptions& options, std::chrono::steady_clock::time_point started);

// The command the options describe, for the runner. `enclosing` is the ctxrun this one runs
// under, if any (CTXRUN_RUN_ID); `trace` hears each step of the run (-v).
Command make_command(const RunOptions& options, std::optional<pid_t> enclosing,
                     std::function<void(const std::string&)> trace,
                     std::function<void(const std::string&)> diagnostics);

}  // namespace ctxrun
