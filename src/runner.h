// The runner: one command under one context, from spawn to an empty tree (the library's
// run_command and the ctxrun tool both run through it).
//
// run() is a state machine with named phases, driven by one EventLoop (event_loop.h) in one thread:
// the signalfd (cancelling, forwarded and SIGCHLD signals), the context's done_fd (its deadline
// timers), the tree backend's change descriptor and one timerfd (the grace, then the kill phase's
// limit). It never sleeps and never polls on a period. The phases:
//
//   running  ── the command exits ──> (leftovers: --orphans=wait) ──> stopping ──> killing ──> done
//      └──── the context ends (deadline, cancel) ─────────────────────┘
//
//  - running: the command runs; forwarded signals go to it; a cancelling signal cancels the context.
//  - leftovers: the command exited and OrphanPolicy::wait waits for what it left, still bounded by
//    the context.
//  - stopping: the first signal went to every process of the tree once (each followed by SIGCONT);
//    the grace period runs (ended early when the tree is gone, cut short by a second cancelling
//    signal).
//  - killing: SIGKILL sweeps until nothing of the tree is left (kill_phase.h, shared with the
//    timeout personality); survivors after kKillPhaseLimit are reported in the outcome.
#pragma once

#include <chrono>

#include "ctxrun/command.h"
#include "ctxrun/context.h"
#include "ctxrun/outcome.h"
#include "process_tree.h"
#include "signal_regime.h"

namespace ctxrun {

// In a nested run whose deadline is the one shared with the enclosing ctxrun, a cancelling signal
// that arrives from kDeadlineSlack before that deadline to kEnclosingTeardownWindow after it is
// taken as the enclosing ctxrun's teardown of the same deadline: the run ends as
// DeadlineExceeded, as the enclosing one does, with its own grace period, rather than as Canceled
// or cut short.
inline constexpr std::chrono::milliseconds kDeadlineSlack{10};
inline constexpr std::chrono::seconds kEnclosingTeardownWindow{2};

// Runs cmd.argv under `ctx` and returns what happened. `signals` must be installed and `tree` made
// before the call. Never throws: anything that goes wrong is an Outcome with Ending::error, after
// the tree is torn down. Says each step to cmd.trace, if set.
Outcome run(const Command& cmd, ContextPtr ctx, SignalRegime& signals, ProcessTree& tree) noexcept;

}  // namespace ctxrun
