// ctxrun: run a command under a context (deadline, cancellation) and tear down its whole tree.
// main() is the table of contents; each step lives in its own file.
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <random>

#include "ctxrun/cli.h"
#include "ctxrun/guardian.h"
#include "ctxrun/log.h"
#include "ctxrun/announce.h"
#include "ctxrun/runner.h"

namespace {

// Gives this run its id and adds it to CTXRUN_RUN_ID, which the command inherits.
std::string mark_run() {
  std::string id = fmt::format("{}-{:x}", getpid(), std::random_device()());
  const char* inherited = std::getenv("CTXRUN_RUN_ID");
  setenv("CTXRUN_RUN_ID", ctxrun::make_run_marker(inherited ? inherited : "", id).c_str(), 1);
  return id;
}

}  // namespace

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
  // 4. The guardian that finishes teardown if ctxrun is killed; started before ctxrun becomes a
  //    subreaper, so that it is not ctxrun's child. The run marker tells it the tree's processes.
  auto guardian = Guardian::start();
  if (!guardian) log::verbose("no guardian ({}): if ctxrun is killed, only the command dies with it",
                              std::strerror(errno));
  std::string run_id = mark_run();
  if (guardian) guardian->order("marker " + run_id);
  // 5. The tree backend (before the spawn: the subreaper flag must be set first).
  if (int error = become_subreaper()) log::verbose("cannot become a child subreaper: {}", std::strerror(error));
  std::string why;
  auto made = make_process_tree(options.tree, why);
  if (auto* error = std::get_if<std::string>(&made)) {
    log::error("{}", *error);
    return 125;
  }
  auto tree = std::move(std::get<std::unique_ptr<ProcessTree>>(made));
  log::verbose("tree backend: {}", why.empty() ? tree->name() : why);
  if (auto order = tree->guardian_order(); guardian && !order.empty()) guardian->order(order);
  // 6. Run until the tree is gone; then release the backend (a cgroup leaf is removed) and the
  //    guardian before ctxrun ends, which may be by a signal that runs no destructor.
  Outcome outcome = run(options, ctx, *signals, *tree);
  tree.reset();
  if (guardian) guardian->release();
  // 7. Say why, and end as the contract says.
  announce(outcome);
  ExitPlan plan = plan_exit(outcome, options.preserve_status);
  if (plan.die_of_signal != 0 && getpid() != 1) SignalRegime::die_of(plan.die_of_signal);
  return plan.status;
}
