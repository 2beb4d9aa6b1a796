// The runner: one command under one context, from spawn to an empty tree.
//
// run() drives everything in one thread, blocked in poll() on file descriptors only: the
// signalfd (cancelling, forwarded and SIGCHLD signals), the context's done_fd (its deadline timers)
// and, during teardown, a grace timerfd. It never sleeps and never polls on a period.
//
// Teardown, whenever the context ends (and for leftovers under OrphanPolicy::kill): the first
// signal to every process of the tree once, each followed by SIGCONT; the grace period (ended
// early when the tree is gone, cut short by a second cancelling signal); then SIGKILL sweeps until
// nothing of the tree is left, every zombie reaped. If processes are still there
// kKillPhaseLimit after the first SIGKILL (uninterruptible sleep), they are reported as survivors.
#pragma once

#include <chrono>

#include "ctxrun/context.h"
#include "ctxrun/options.h"
#include "ctxrun/outcome.h"
#include "ctxrun/process_tree.h"
#include "ctxrun/signals.h"

namespace ctxrun {

inline constexpr std::chrono::seconds kKillPhaseLimit{10};

// In a nested run whose deadline is the inherited one, a cancelling signal that arrives from
// kDeadlineSlack before that deadline to kEnclosingTeardownWindow after it is taken as the
// enclosing ctxrun's teardown of the same deadline: the run ends as DeadlineExceeded, as the
// enclosing one does, with its own grace period, rather than as Canceled or cut short.
inline constexpr std::chrono::milliseconds kDeadlineSlack{10};
inline constexpr std::chrono::seconds kEnclosingTeardownWindow{2};

// The context of a run: background, then the inherited deadline (CTXRUN_DEADLINE), then
// --deadline, then --timeout, then cancellable. The earliest deadline wins.
ContextPtr make_run_context(const RunOptions& options);

// Runs options.command under `ctx` and returns what happened. `signals` must be installed and
// `tree` made before the call. Never throws: anything that goes wrong is an Outcome with
// Ending::error, after the tree is torn down.
Outcome run(const RunOptions& options, ContextPtr ctx, SignalRegime& signals, ProcessTree& tree) noexcept;

}  // namespace ctxrun
