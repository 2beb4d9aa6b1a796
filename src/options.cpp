#include "options.h"

#include <algorithm>

namespace ctxrun {

ContextPtr make_run_context(const RunOptions& options, std::chrono::steady_clock::time_point started) {
  ContextPtr ctx = background();
  if (options.inherited_deadline)
    ctx = with_deadline(ctx, *options.inherited_deadline, "inherited deadline @" + options.inherited_text);
  if (options.deadline) ctx = with_deadline(ctx, *options.deadline, "deadline " + options.deadline_text);
  if (options.timeout) {
    // Counted from ctxrun's start, not from the end of option parsing: `-t 0.2` ends 0.2 s after
    // ctxrun was started, however long reading the command line took (at least 1 ns: never none).
    auto spent = std::chrono::steady_clock::now() - started;
    auto left = std::max(*options.timeout - std::chrono::duration_cast<std::chrono::nanoseconds>(spent),
                         std::chrono::nanoseconds(1));
    ctx = with_timeout(ctx, left, "timeout " + options.timeout_text);
  }
  return with_cancel(ctx);
}

Command make_command(const RunOptions& options, std::optional<pid_t> enclosing,
                     std::function<void(const std::string&)> trace,
                     std::function<void(const std::string&)> diagnostics) {
  return Command{.argv = options.command,
                 .stop = {.signal = options.signal, .grace = options.kill_after},
                 .orphans = options.orphans,
                 .tree = options.tree,
                 .enclosing = {.pid = enclosing, .shared_deadline = options.inherited_deadline},
                 .trace = std::move(trace),
                 .watch = {.idle = options.idle, .idle_text = options.idle_text, .heartbeat = options.heartbeat},
                 .before_stop = {.describe_tree = options.diagnose,
                                 .hook = options.on_expire,
                                 .hook_limit = options.on_expire_timeout,
                                 .dump_signal = options.dump_signal,
                                 .dump_wait = options.dump_wait},
                 .diagnostics = std::move(diagnostics),
                 .services = options.services,
                 .ready = options.ready,
                 .label_services = options.label_services};
}

}  // namespace ctxrun
