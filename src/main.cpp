// ctxrun: run a command under a context (deadline, cancellation) and tear down its whole tree.
// main() is the table of contents; each step lives in its own file.
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <optional>
#include <string_view>
#include <system_error>

#include "announce.h"
#include "attempts.h"
#include "cgroup.h"
#include "cli.h"
#include "gnu_timeout.h"
#include "guardian.h"
#include "libcurl_twin.h"
#include "log.h"
#include "random_bits.h"
#include "remaining.h"
#include "report.h"
#include "runner.h"
#include "trace_span.h"
#include "values.h"

namespace ctxrun {
namespace {

// The pid of the ctxrun this one runs under, from the inherited CTXRUN_RUN_ID: its last id, which
// is "PID-RANDOM" (make_run_marker).
std::optional<pid_t> enclosing_ctxrun() {
  const char* inherited = std::getenv("CTXRUN_RUN_ID");
  if (!inherited || !*inherited) return std::nullopt;
  std::string_view ids(inherited);
  std::string_view last = ids.substr(ids.rfind(':') == std::string_view::npos ? 0 : ids.rfind(':') + 1);
  long pid = std::strtol(std::string(last.substr(0, last.find('-'))).c_str(), nullptr, 10);
  if (pid <= 0) return std::nullopt;
  return static_cast<pid_t>(pid);
}

// When this ctxrun started, for --timeout and the report.
using Started = StartTime;

// Writes the report, when one was asked for; one that cannot be written is one line on stderr and
// changes nothing else.
void report(const RunOptions& options, const Outcome& outcome, const ExitPlan& plan, const Started& started,
            std::optional<wall_time> deadline, const std::string& backend, const Attempts* attempts = nullptr) {
  if (options.report_path.empty()) return;
  auto error = write_report(options.report_path,
                            ReportFacts{.options = options,
                                        .outcome = outcome,
                                        .exit = plan,
                                        .started = started.wall,
                                        .elapsed = std::chrono::steady_clock::now() - started.steady,
                                        .deadline = deadline,
                                        .tree_backend = backend,
                                        .attempts = attempts});
  if (error) log::error("{}", *error);
}

// Appends this run's span to the trace file, when there is one; a failure is a warning and changes
// nothing else: the run is over.
void write_span(const std::optional<TraceRun>& trace, const RunOptions& options, const Outcome& outcome,
                const ExitPlan& plan, const Started& started, std::optional<wall_time> deadline,
                const std::string& backend, const Attempts* attempts) {
  if (!trace || !trace->sampled()) return;
  auto end = std::chrono::time_point_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now());
  std::string line = span_line(*trace, SpanFacts{.argv = options.command,
                                                 .with_argv = options.trace_argv,
                                                 .outcome = outcome,
                                                 .exit = plan,
                                                 .start = started.wall,
                                                 .end = end,
                                                 .deadline = deadline,
                                                 .tree_backend = backend,
                                                 .attempts = attempts});
  if (auto error = append_span(*trace, line)) log::error("warning: {}", *error);
}

// An ending in ctxrun's own error, with no command's outcome to tell (a usage error, an internal
// error): one line, the report if its path is known, 125.
int end_with_error(const std::string& message, const RunOptions& known, const Started& started) {
  log::error("{}", message);
  Outcome outcome;
  outcome.error = message;  // Ending::error
  ExitPlan plan = plan_exit(outcome, false);
  report(known, outcome, plan, started, std::nullopt, "none");
  return plan.status;
}

// Gives this run its id and adds it to CTXRUN_RUN_ID, which the command inherits.
std::string mark_run() {
  std::string id = fmt::format("{}-{:x}", getpid(), ctxrun::random_bits());
  const char* inherited = std::getenv("CTXRUN_RUN_ID");
  setenv("CTXRUN_RUN_ID", ctxrun::make_run_marker(inherited ? inherited : "", id).c_str(), 1);
  return id;
}

// ctxrun proper. `options` is filled as soon as the command line is read, so that main's last
// resort can still write the report.
int run_ctxrun(int argc, char** argv, RunOptions& options, const Started& started) {
#if CTXRUN_STATIC_PIE
  // 0. This static ctxrun cannot load libcurl: a run with a probe that needs it goes, before
  //    anything has been changed or started, to the dynamic twin (libcurl_twin.h). It comes back
  //    here only when there is no twin that runs.
  hand_over_to_libcurl_twin(argc, argv, started);
#endif
  // 1. Signals first, so that nothing that arrives from here on is lost. SIGPIPE is ignored: a
  //    message to a closed pipe must not kill ctxrun before it has torn the tree down (the command
  //    gets SIGPIPE back as ctxrun was started with it).
  auto signals = SignalRegime::install(SignalSpec{.ignore = {SIGPIPE}});
  if (!signals) {
    log::error("cannot set up signal handling: {}", std::strerror(errno));
    return 125;
  }
  // 2. The command line.
  auto parsed = parse_command_line(argc, argv);
  if (auto* exit_now = std::get_if<ExitNow>(&parsed)) {
    if (exit_now->error.empty()) return exit_now->status;
    return end_with_error(exit_now->error, exit_now->options, started);
  }
  options = std::get<RunOptions>(parsed);
#if CTXRUN_LIBCURL_TWIN
  log::verbose("running as {}, with libcurl for tcp:// and http(s):// probes", kLibcurlTwinName);
#elif CTXRUN_STATIC_PIE
  if (!libcurl_missing().empty()) log::verbose("without libcurl: {}", libcurl_missing());
#endif
  // 3. The context: inherited deadline, --deadline and --timeout; the earliest wins.
  ContextPtr ctx;
  try {
    ctx = make_run_context(options, started.steady);
  } catch (const std::system_error& e) {
    // Its descriptors could not be made (EMFILE, ENOMEM): a context that could never end is refused.
    return end_with_error(fmt::format("cannot make the context: {}", e.code().message()), options, started);
  }
  if (options.remaining) return print_remaining(ctx->deadline(), options.remaining_format);
  if (options.value_of) return print_value_of(*options.value_of);
  // 3b. Request-scoped values and the trace, for the command's environment; a trace file that
  //     cannot be written is refused now, before anything runs, not found out after the run.
  if (!options.values.empty())
    if (auto error = hand_on_values(options.values)) return end_with_error(*error, options, started);
  std::optional<TraceRun> span;
  if (!options.trace_file.empty()) {
    auto begun = start_trace(options.trace_file);
    if (auto* error = std::get_if<std::string>(&begun)) return end_with_error(*error, options, started);
    span.emplace(std::move(std::get<TraceRun>(begun)));
  }
  // 4. The guardian that finishes teardown if ctxrun is killed; started before ctxrun becomes a
  //    subreaper and before the tree is made, so that it is not part of the tree. The run marker
  //    tells it the tree's processes.
  std::optional<Guardian> guardian;
  auto started_guardian = Guardian::start();
  if (auto* made = std::get_if<Guardian>(&started_guardian)) guardian.emplace(std::move(*made));
  else log::verbose("{}: if ctxrun is killed, only the command dies with it", std::get<std::string>(started_guardian));
  auto enclosing = enclosing_ctxrun();  // before mark_run() adds this run's own id
  std::string run_id = mark_run();
  if (guardian) guardian->order("marker " + run_id);
  // 5. The tree backend (before the spawn: the subreaper flag must be set first).
  if (auto error = become_subreaper()) log::verbose("{}", *error);
  // The runner says each step only with -v: a plain run formats none of them.
  std::function<void(const std::string&)> trace;
  if (log::verbose_enabled()) trace = [](const std::string& step) { log::verbose("{}", step); };
  auto diagnostics = [](const std::string& line) { log::notice("{}", line); };
  Command command = make_command(options, enclosing, std::move(trace), diagnostics);
  TreeSetup setup{.kind = options.tree,
                  .tell_guardian =
                      [&](const std::string& order) {
                        if (guardian) guardian->order(order);
                      },
                  .own_helper = guardian ? guardian->pid() : std::nullopt};
  std::string backend = "none";
  // One run of the command: a tree backend (a fresh cgroup leaf each time), then the runner.
  auto run_once = [&](const Command& cmd, const ContextPtr& run_ctx) {
    Outcome outcome;
    for (bool skip_cgroup : {false, true}) {
      std::string why;
      auto made = make_process_tree(setup, why, skip_cgroup);
      if (auto* error = std::get_if<std::string>(&made)) {
        outcome.error = *error;  // Ending::error: 125
        break;
      }
      auto tree = std::move(std::get<std::unique_ptr<ProcessTree>>(made));
      backend = tree->name();
      log::verbose("tree backend: {}", why.empty() ? backend : why);
      // Nested on another backend than cgroup: an enclosing ctxrun's cgroup backend learns of this
      // run from a cgroup named after it (process_tree.h, "Nested runs"); a leaf says so already.
      // Whether this run is in an enclosing leaf, its own cgroup tells (not CTXRUN_RUN_ID, which
      // `env -i` or sudo clear).
      auto nested_mark = backend != std::string_view("cgroup") ? mark_nested_run(setup.tell_guardian) : std::nullopt;
      if (nested_mark) log::verbose("nested in a ctxrun's cgroup leaf: marked by {}", nested_mark->path());
      // 6. Run until the tree is gone; then release the backend (a cgroup leaf is removed).
      outcome = run(cmd, run_ctx, *signals, *tree);
      // `auto` chooses only what works for the command too: one that could not enter the leaf (a
      // delegated cgroup whose parent it may not leave) runs on the next backend.
      if (!outcome.tree_refused_command || options.tree != TreeKind::automatic || skip_cgroup) break;
      log::verbose("{}: trying without a cgroup", outcome.error);
    }
    return outcome;
  };
  Attempts attempts;
  Outcome outcome = options.retry.attempts > 1 ? run_attempts(options, command, ctx, *signals, run_once, attempts)
                                               : run_once(command, ctx);
  // The teardown is done (the tree gone, its leaf removed): the guardian dies meanwhile, and is
  // reaped before ctxrun ends, which may be by a signal that runs no destructor.
  if (guardian) guardian->dismiss();
  // 7. Say why, write the report and the span, and end as the contract says.
  announce(outcome);
  ExitPlan plan = plan_exit(outcome, options.preserve_status);
  const Attempts* all_attempts = options.retry.attempts > 1 ? &attempts : nullptr;
  report(options, outcome, plan, started, ctx->deadline(), backend, all_attempts);
  write_span(span, options, outcome, plan, started, ctx->deadline(), backend, all_attempts);
  if (guardian) guardian->release();
  if (plan.die_of_signal != 0 && getpid() != 1) SignalRegime::die_of(plan.die_of_signal);
  return plan.status;
}

// What an exception says, without the "ctxrun: " the library's own messages start with.
std::string what_of(const std::exception& e) {
  std::string_view what = e.what();
  if (what.starts_with("ctxrun: ")) what.remove_prefix(8);
  return std::string(what);
}

}  // namespace
}  // namespace ctxrun

int main(int argc, char** argv) {
  using namespace ctxrun;
  // Last resort: an exception (no descriptor or no memory left for the context, the command line
  // or a message) is one line and 125, never an abort. Unwinding to here runs every destructor: a
  // cgroup leaf is removed, the guardian released. No tree is running then: before run() nothing
  // has been started, run() itself never throws (it tears down what it started), and after it the
  // tree is gone.
  // 0. A guardian whose ctxrun is gone, in a fresh image of its own (guardian.h), which it names
  // ctxrun-guardian: a command line that merely starts with the option is a usage error as any.
  if (argc == 3 && std::strcmp(argv[0], "ctxrun-guardian") == 0 &&
      std::strcmp(argv[1], "--ctxrun-guardian-orders") == 0)
    return guardian_after_exec(argv[2]);
  // Invoked as `timeout`: GNU timeout's command line and behaviour (gnu_timeout.h).
  if (gnu::invoked_as_timeout(argv[0])) {
    try {
      return gnu::timeout_main(argc, argv);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s: internal error: %s\n", argv[0], log::one_line(what_of(e)).c_str());
      return 125;
    }
  }
  Started started;
#if CTXRUN_LIBCURL_TWIN
  if (auto handed_on = handed_on_start()) started = *handed_on;
#endif
  RunOptions options;  // once the command line is read: where the report of an internal error goes
  try {
    return run_ctxrun(argc, argv, options, started);
  } catch (const std::exception& e) {
    try {
      return end_with_error("internal error: " + what_of(e), options, started);
    } catch (...) {
      return 125;  // not even one line could be made
    }
  } catch (...) {
    log::error("internal error: unknown exception");
    return 125;
  }
}
