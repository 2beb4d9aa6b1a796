#include "ctxrun/command.h"

#include <fmt/format.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <exception>
#include <iterator>
#include <memory>
#include <mutex>
#include <utility>
#include <variant>

#include "runner.h"
#include "signal_regime.h"

namespace ctxrun {
namespace {

// Held for a whole run: the signal regime and the subreaper flag are the process's, not the run's.
std::mutex g_run;

Outcome failed(std::string message) {
  Outcome out;
  out.ending = Ending::error;
  out.error = std::move(message);
  return out;
}

// What a run changes in the process, as it was before: the calling thread's signal mask, the
// dispositions of kCommandSignals (SignalRegime::install sets them) and the subreaper flag. Put
// back on destruction, after the regime's signalfd is closed.
class SavedProcessState {
 public:
  SavedProcessState() noexcept {
    pthread_sigmask(SIG_SETMASK, nullptr, &mask_);
    for (std::size_t i = 0; i < actions_.size(); ++i) sigaction(kCommandSignals[i], nullptr, &actions_[i]);
    int flag = 0;
    subreaper_known_ = prctl(PR_GET_CHILD_SUBREAPER, &flag) == 0;
    was_subreaper_ = flag != 0;
  }
  ~SavedProcessState() {
    // Dispositions before the mask: a signal still pending when the mask opens (one that came after
    // the run ended) meets the caller's own disposition, never the regime's no-op handler.
    for (std::size_t i = 0; i < actions_.size(); ++i) sigaction(kCommandSignals[i], &actions_[i], nullptr);
    pthread_sigmask(SIG_SETMASK, &mask_, nullptr);
    // Processes already re-parented to the caller stay its children; later orphans go elsewhere.
    if (subreaper_known_ && !was_subreaper_) prctl(PR_SET_CHILD_SUBREAPER, 0);
  }
  SavedProcessState(const SavedProcessState&) = delete;
  SavedProcessState& operator=(const SavedProcessState&) = delete;

 private:
  sigset_t mask_{};
  std::array<struct sigaction, std::size(kCommandSignals)> actions_{};
  bool subreaper_known_ = false;
  bool was_subreaper_ = false;
};

// The run itself, as main.cpp wires it: signals, subreaper, tree backend, runner. Every object it
// makes is gone when it returns (the cgroup leaf removed, the signalfd closed).
Outcome run_here(ContextPtr ctx, const Command& cmd) {
  // The runner cancels the context it is given when a cancelling signal arrives: give it a child,
  // so that the caller's context is never cancelled by the run.
  ContextPtr run_ctx = with_cancel(std::move(ctx));
  // The regime blocks kCommandSignals in this thread; the command must not start with them blocked
  // (the caller may have blocked them for its threads: block_command_signals).
  auto signals = SignalRegime::install(
      SignalSpec{.unblock_in_child = std::vector<int>(std::begin(kCommandSignals), std::end(kCommandSignals))});
  if (!signals) return failed(fmt::format("cannot set up signal handling: {}", std::strerror(errno)));
  // Failure is not fatal: make_process_tree takes it into account (automatic falls back).
  become_subreaper();
  std::string why;
  auto made = make_process_tree(TreeSetup{.kind = cmd.tree}, why);
  if (auto* error = std::get_if<std::string>(&made)) return failed(*error);
  auto tree = std::move(std::get<std::unique_ptr<ProcessTree>>(made));
  return run(cmd, std::move(run_ctx), *signals, *tree);
}

// The status a shell shows for a wait status: N, or 128+S.
int shell_status(int wait_status) noexcept {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return 125;
}

}  // namespace

int block_command_signals() noexcept {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : kCommandSignals) sigaddset(&set, sig);
  return pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

Outcome run_command(ContextPtr ctx, const Command& cmd) noexcept {
  try {
    if (!ctx) return failed("run_command: no context");
    if (cmd.argv.empty()) return failed("run_command: empty argv: no command to run");
    if (cmd.stop.signal < 1 || cmd.stop.signal >= NSIG)
      return failed(fmt::format("run_command: invalid stop signal {}", cmd.stop.signal));
    std::unique_lock lock(g_run, std::try_to_lock);
    if (!lock.owns_lock()) return failed("run_command: another run_command is running in this process");
    SavedProcessState saved;
    return run_here(std::move(ctx), cmd);
  } catch (const std::exception& e) {
    // Only allocation can throw here, and only before the command is spawned (run() never throws).
    return failed(fmt::format("run_command: {}", e.what()));
  }
}

int exit_status(const Outcome& outcome) noexcept {
  if (outcome.ending == Ending::canceled && outcome.cancel_signal == 0) {
    if (!outcome.survivors.empty() || !outcome.command_reaped) return 125;
    return shell_status(outcome.command_status);
  }
  return plan_exit(outcome, false).status;
}

}  // namespace ctxrun
