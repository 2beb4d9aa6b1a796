#include "kill_phase.h"

#include <signal.h>

#include <set>
#include <utility>

#include "event_loop.h"

namespace ctxrun {

KillPhaseResult kill_phase(ProcessTree& tree, Reaper& reaper, Timer& timer, int signal_fd,
                           const std::function<void()>& on_signals) {
  auto began = std::chrono::steady_clock::now();
  KillPhaseResult result;
  std::set<std::pair<pid_t, std::uint64_t>> seen;
  bool limit_passed = false;
  timer.arm(kKillPhaseLimit);
  EventLoop loop;
  loop.watch(signal_fd, POLLIN, [&](short) { on_signals(); });
  loop.watch(timer.fd(), POLLIN, [&](short) { limit_passed = timer.fired(); });
  loop.watch(tree.change_fd(), POLLPRI, [](short) {});  // gone() below re-reads, which re-arms it
  while (true) {
    // Sweep again after every wake-up: a process forked after the last sweep may be there now.
    if (result.sweeps == 0 || !tree.kill_is_final()) {
      for (auto& p : tree.signal_all(SIGKILL, false, std::nullopt))
        if (seen.emplace(p.pid, p.start_time).second) result.killed.push_back(std::move(p));
      ++result.sweeps;
    }
    reaper.reap();
    if (tree.gone(reaper.has_children())) break;
    if (limit_passed) {
      result.survivors = tree.members();
      break;
    }
    loop.wait_once();
  }
  result.took = std::chrono::steady_clock::now() - began;
  return result;
}

}  // namespace ctxrun
