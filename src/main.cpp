// ctxrun: run a command under a context (deadline, cancellation) and tear down its whole tree.
// main() is the table of contents; each step lives in its own file.
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "ctxrun/cli.h"
#include "ctxrun/log.h"
#include "ctxrun/announce.h"
#include "ctxrun/runner.h"

int main(int argc, char** argv) {
  using namespace ctxrun;
  // 1. Signals first, so that nothing that arrives from here on is lost.
  auto signals = SignalRegime::install();
  if (!signals) {
    log::error("cannot set up signal handling: {}", std::strerror(errno));
    return 125;
  }
  // 2. The command line.
  auto parsed = parse_command_line(argc, argv);
  if (auto* exit_now = std::get_if<ExitNow>(&parsed)) return exit_now->status;
  auto& options = std::get<RunOptions>(parsed);
  // 3. The context: deadline and timeout, earliest wins.
  ContextPtr ctx = make_run_context(options);
  // 4. The tree backend (before the spawn: the subreaper flag must be set first).
  std::string why;
  auto made = make_process_tree(options.tree, why);
  if (auto* error = std::get_if<std::string>(&made)) {
    log::error("{}", *error);
    return 125;
  }
  auto tree = std::move(std::get<std::unique_ptr<ProcessTree>>(made));
  log::verbose("tree backend: {}", why.empty() ? tree->name() : why);
  // 5. Run until the tree is gone; then release the backend (a cgroup leaf is removed) before
  //    ctxrun ends, which may be by a signal that runs no destructor.
  Outcome outcome = run(options, ctx, *signals, *tree);
  tree.reset();
  // 6. Say why, and end as the contract says.
  announce(outcome);
  ExitPlan plan = plan_exit(outcome, options.preserve_status);
  if (plan.die_of_signal != 0 && getpid() != 1) SignalRegime::die_of(plan.die_of_signal);
  return plan.status;
}
