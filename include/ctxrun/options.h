// RunOptions: everything the command line decides about one run. Filled by the CLI (cli.cpp),
// read by the runner. Build it with designated initializers: fields are never positional.
#pragma once

#include <signal.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "ctxrun/deadline.h"
#include "ctxrun/duration.h"
#include "ctxrun/process_tree.h"

namespace ctxrun {

// What happens to processes the command leaves behind when it exits before the context ends.
enum class OrphanPolicy {
  kill,   // torn down like the tree on a deadline: the context's scope has ended
  wait,   // waited for, still bounded by the deadline
  leave,  // left running; ctxrun exits at once
};

enum class Verbosity { quiet, normal, verbose };

struct RunOptions {
  std::optional<std::chrono::nanoseconds> timeout;  // --timeout; nullopt when none (or 0/inf)
  std::string timeout_text;                         // as written, for messages
  std::optional<wall_time> deadline;                // --deadline
  std::string deadline_text;
  std::optional<wall_time> inherited_deadline;      // CTXRUN_DEADLINE, unless --no-inherit
  std::string inherited_text;                       // its value, for messages
  int signal = SIGTERM;                             // first signal of teardown
  std::optional<std::chrono::nanoseconds> kill_after = std::chrono::seconds(10);  // nullopt: never
  OrphanPolicy orphans = OrphanPolicy::kill;
  bool preserve_status = false;
  TreeKind tree = TreeKind::automatic;
  Verbosity verbosity = Verbosity::normal;
  std::vector<std::string> command;                 // argv of the command; never empty when run
  std::string report_path;                          // --report: where to write the JSON outcome
  bool remaining = false;                           // --remaining: print the budget, run nothing
  std::string remaining_format = "seconds";         // --format: seconds, ms or go
  std::optional<pid_t> enclosing_ctxrun;            // the ctxrun whose tree this one is in (CTXRUN_RUN_ID)
};

}  // namespace ctxrun
