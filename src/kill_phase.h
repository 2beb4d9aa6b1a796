// The last step of every teardown, shared by both state machines (runner.cpp, the timeout
// personality): SIGKILL sweeps until nothing of the tree is left and every zombie is reaped. A
// backend whose SIGKILL reaches later forks too (cgroup.kill) is swept once; the others again
// after every wake-up, so a fork storm cannot outrun it. What is still there kKillPhaseLimit after
// the first SIGKILL (uninterruptible sleep) is reported as survivors, never silently dropped.
#pragma once

#include <chrono>
#include <functional>
#include <vector>

#include "ctxrun/process_info.h"
#include "process_tree.h"
#include "reaper.h"
#include "timer.h"

namespace ctxrun {

inline constexpr std::chrono::seconds kKillPhaseLimit{10};

struct KillPhaseResult {
  std::vector<ProcessInfo> killed;  // distinct processes SIGKILLed
  int sweeps = 0;
  std::vector<ProcessInfo> survivors;  // still there at the limit
  std::chrono::nanoseconds took{0};
};

// Blocks until the tree is gone or the limit passes, waiting on `signal_fd` (whose signals
// `on_signals` reads: nothing stops a kill phase, but they must be consumed), `timer` (re-armed
// for the limit) and the tree's change descriptor.
KillPhaseResult kill_phase(ProcessTree& tree, Reaper& reaper, Timer& timer, int signal_fd,
                           const std::function<void()>& on_signals);

}  // namespace ctxrun
