// ctxrun: run a command under a context (deadline, cancellation) and tear down its whole tree.
// main() is the table of contents; each step lives in its own file.
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <chrono>
#include <cstring>
#include <random>

#include "ctxrun/cli.h"
#include "ctxrun/gnu_timeout.h"
#include "ctxrun/guardian.h"
#include "ctxrun/log.h"
#include "ctxrun/remaining.h"
#include "ctxrun/report.h"
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
  // 0. Invoked as `timeout`: GNU timeout's command line and behaviour (gnu_timeout.h).
  if (gnu::invoked_as_timeout(argv[0])) return gnu::timeout_main(argc, argv);
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
  // 3. The context: inherited deadline, --deadline and --timeout; the earliest wins.
  auto started = std::chrono::time_point_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now());
  auto started_steady = std::chrono::steady_clock::now();
  ContextPtr ctx = make_run_context(options);
  if (options.remaining) return print_remaining(ctx->deadline(), options.remaining_format);
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
  Outcome outcome;
  std::string backend = "none";
  if (auto* error = std::get_if<std::string>(&made)) {
    outcome.error = *error;  // Ending::error: 125
  } else {
    auto tree = std::move(std::get<std::unique_ptr<ProcessTree>>(made));
    backend = tree->name();
    log::verbose("tree backend: {}", why.empty() ? backend : why);
    if (auto order = tree->guardian_order(); guardian && !order.empty()) guardian->order(order);
    // 6. Run until the tree is gone; then release the backend (a cgroup leaf is removed) and the
    //    guardian before ctxrun ends, which may be by a signal that runs no destructor.
    outcome = run(options, ctx, *signals, *tree);
  }
  if (guardian) guardian->release();
  // 7. Say why, write the report, and end as the contract says.
  announce(outcome);
  ExitPlan plan = plan_exit(outcome, options.preserve_status);
  if (!options.report_path.empty()) {
    auto error = write_report(options.report_path,
                              ReportFacts{.options = options, .outcome = outcome, .exit = plan, .started = started,
                                          .elapsed = std::chrono::steady_clock::now() - started_steady,
                                          .deadline = ctx->deadline(), .tree_backend = backend});
    if (!error.empty()) log::error("{}", error);
  }
  if (plan.die_of_signal != 0 && getpid() != 1) SignalRegime::die_of(plan.die_of_signal);
  return plan.status;
}
