#include "options.h"

namespace ctxrun {

ContextPtr make_run_context(const RunOptions& options) {
  ContextPtr ctx = background();
  if (options.inherited_deadline)
    ctx = with_deadline(ctx, *options.inherited_deadline, "inherited deadline @" + options.inherited_text);
  if (options.deadline) ctx = with_deadline(ctx, *options.deadline, "deadline " + options.deadline_text);
  if (options.timeout) ctx = with_timeout(ctx, *options.timeout, "timeout " + options.timeout_text);
  return with_cancel(ctx);
}

Command make_command(const RunOptions& options, std::optional<pid_t> enclosing,
                     std::function<void(const std::string&)> trace) {
  return Command{.argv = options.command,
                 .stop = {.signal = options.signal, .grace = options.kill_after},
                 .orphans = options.orphans,
                 .tree = options.tree,
                 .enclosing = {.pid = enclosing, .shared_deadline = options.inherited_deadline},
                 .trace = std::move(trace)};
}

}  // namespace ctxrun
