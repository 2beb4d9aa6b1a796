#include "ctxrun/runner.h"

#include <poll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <utility>

#include "ctxrun/log.h"
#include "ctxrun/spawn.h"

extern char** environ;

namespace ctxrun {

ContextPtr make_run_context(const RunOptions& options) {
  ContextPtr ctx = background();
  if (options.inherited_deadline)
    ctx = with_deadline(ctx, *options.inherited_deadline, "inherited deadline @" + options.inherited_text);
  if (options.deadline) ctx = with_deadline(ctx, *options.deadline, "deadline " + options.deadline_text);
  if (options.timeout) ctx = with_timeout(ctx, *options.timeout, "timeout " + options.timeout_text);
  return with_cancel(ctx);
}

namespace {

using Clock = std::chrono::steady_clock;

std::string millis(std::chrono::nanoseconds d) {
  return fmt::format("{:.1f}ms", static_cast<double>(d.count()) / 1e6);
}

// "1 process", "3 processes".
std::string processes(std::size_t n) { return fmt::format("{} process{}", n, n == 1 ? "" : "es"); }

void disarm(int fd) {
  itimerspec none{};
  timerfd_settime(fd, 0, &none, nullptr);
}

// Arms the one-shot timer `fd` to fire `after` from now (re-arming resets what it counted).
void arm(int fd, std::chrono::nanoseconds after) {
  itimerspec spec{};
  auto ns = std::max(after.count(), std::chrono::nanoseconds::rep{1});
  spec.it_value = {static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
  timerfd_settime(fd, 0, &spec, nullptr);
}

class Run {
 public:
  Run(const RunOptions& options, ContextPtr ctx, SignalRegime& signals, ProcessTree& tree)
      : opt_(options), ctx_(std::move(ctx)), signals_(signals), tree_(tree) {}

  Outcome go();

 private:
  struct Woken {
    bool timer = false;  // the timer passed to wait_for fired
  };
  Woken wait_for(int timer_fd, bool watch_context);
  void handle_signals();
  bool enclosing_teardown() const;
  void reap();
  bool tree_gone() { return tree_.gone(has_children_); }
  void end_context();
  void after_command_exit();
  void teardown(int first_signal, std::optional<pid_t> skip_pgid);
  void kill_phase();
  void count(const std::vector<ProcessInfo>& signalled);
  std::vector<std::string> command_environment() const;

  const RunOptions& opt_;
  ContextPtr ctx_;
  SignalRegime& signals_;
  ProcessTree& tree_;
  // The grace period's timer, then the kill phase's limit: made before the spawn, so that teardown
  // needs no descriptor it might not get (a caller that left ctxrun few).
  unique_fd timer_;
  Outcome out_;
  Clock::time_point start_ = Clock::now();
  pid_t command_ = 0;         // the command's pid while it is not reaped; 0 after
  bool has_children_ = true;  // false once waitpid says ECHILD
  bool in_teardown_ = false;
  bool escalate_ = false;     // a cancelling signal came during teardown: no more grace
  int cancel_signal_ = 0;     // the signal that cancelled, 0 if none
  bool cancel_from_terminal_ = false;
  bool cancel_from_enclosing_ = false;  // sent by the enclosing ctxrun: stop by our own policy
  int adopted_reaped_ = 0;    // processes other than the command that ctxrun reaped (orphans)
  std::set<std::pair<pid_t, std::uint64_t>> torn_down_;  // distinct processes signalled
};

Run::Woken Run::wait_for(int timer_fd, bool watch_context) {
  pollfd fds[4] = {{signals_.fd(), POLLIN, 0}, {-1, POLLIN, 0}, {timer_fd, POLLIN, 0},
                   {tree_.change_fd(), POLLPRI, 0}};
  if (watch_context) fds[1].fd = ctx_->done_fd();
  while (::poll(fds, 4, -1) < 0 && errno == EINTR) {}
  // A tree change notification stays pending until gone() re-reads the backend's state.
  if (fds[3].revents & (POLLPRI | POLLERR)) tree_gone();
  return Woken{.timer = timer_fd >= 0 && (fds[2].revents & POLLIN) != 0};
}

void Run::handle_signals() {
  signalfd_siginfo info;
  while (::read(signals_.fd(), &info, sizeof info) == sizeof info) {
    int sig = static_cast<int>(info.ssi_signo);
    if (sig == SIGCHLD) continue;  // reap() looks after children
    bool cancels = false;
    for (int s : kCancelSignals) cancels |= s == sig;
    if (!cancels) {
      if (command_ != 0) {
        log::verbose("passing {} on to the command (pid {})", signal_name(sig), command_);
        ::kill(command_, sig);
      }
      continue;
    }
    if (enclosing_teardown()) {
      // This run shares its deadline with an enclosing ctxrun (inherited), which tears its whole
      // tree down, this ctxrun included, when that deadline passes: its signal is the deadline's,
      // not a cancel, and not a "second signal" that would cut this run's own teardown short.
      log::verbose("received {} as the shared deadline passes: the enclosing run's teardown", signal_name(sig));
      continue;
    }
    if (cancel_signal_ == 0 && (!ctx_->err() || in_teardown_)) {
      if (!ctx_->err()) {
        cancel_signal_ = sig;
        // A signal the terminal generated (Ctrl-C, Ctrl-\, hangup) comes with SI_KERNEL; it has
        // gone to the whole foreground process group already.
        cancel_from_terminal_ = info.ssi_code == SI_KERNEL;
        // The enclosing ctxrun stops its tree by signalling this ctxrun alone (process_tree.h):
        // as a parent context cancels a child, whose own policy then decides how its tree stops.
        cancel_from_enclosing_ = opt_.enclosing_ctxrun && info.ssi_code == SI_USER &&
                                 static_cast<pid_t>(info.ssi_pid) == *opt_.enclosing_ctxrun;
        std::string cause = signal_name(sig);
        if (cancel_from_enclosing_) cause += " from the enclosing ctxrun";
        ctx_->cancel(cause);
        log::verbose("received {}{}: context canceled", cause, cancel_from_terminal_ ? " from the terminal" : "");
      }
      if (in_teardown_) escalate_ = true;  // cancelled while cleaning up leftovers: no grace
    } else if (in_teardown_ && !escalate_) {
      escalate_ = true;
      log::verbose("received {} again: skipping the rest of the grace period", signal_name(sig));
    }
  }
}

bool Run::enclosing_teardown() const {
  auto deadline = ctx_->deadline();
  if (!deadline || !opt_.inherited_deadline || *deadline != *opt_.inherited_deadline) return false;
  auto now = std::chrono::time_point_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now());
  return now >= *deadline - kDeadlineSlack && now <= *deadline + kEnclosingTeardownWindow;
}

void Run::reap() {
  while (true) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid > 0) {
      if (pid != command_) ++adopted_reaped_;
      if (pid == command_) {
        out_.command_reaped = true;
        out_.command_status = status;
        command_ = 0;
        log::verbose("command exited after {}: {}", millis(Clock::now() - start_),
                     WIFEXITED(status) ? fmt::format("status {}", WEXITSTATUS(status))
                                       : fmt::format("killed by {}", signal_name(WTERMSIG(status))));
      }
      continue;
    }
    if (pid < 0 && errno == EINTR) continue;
    has_children_ = pid == 0;
    return;
  }
}

void Run::count(const std::vector<ProcessInfo>& signalled) {
  for (const auto& p : signalled) torn_down_.emplace(p.pid, p.start_time);
}

void Run::kill_phase() {
  auto began = Clock::now();
  arm(timer_.get(), kKillPhaseLimit);
  std::set<std::pair<pid_t, std::uint64_t>> killed;
  int sweeps = 0;
  while (true) {
    // Sweep again after every wake-up: a process forked after the last sweep may be there now.
    // Not needed where the backend's SIGKILL reaches later forks too (cgroup.kill).
    if (sweeps == 0 || !tree_.kill_is_final()) {
      auto signalled = tree_.signal_all(SIGKILL, false, std::nullopt);
      ++sweeps;
      for (const auto& p : signalled) killed.emplace(p.pid, p.start_time);
      count(signalled);
    }
    reap();
    if (tree_gone()) break;
    if (wait_for(timer_.get(), false).timer) {
      reap();
      if (tree_gone()) break;
      out_.survivors = tree_.members();
      break;
    }
    handle_signals();
  }
  auto took = Clock::now() - began;
  out_.teardown.push_back({.signal = SIGKILL, .processes = static_cast<int>(killed.size()), .took = took});
  log::verbose("SIGKILL to {} in {} sweep{}; {} after {}", processes(killed.size()), sweeps, sweeps == 1 ? "" : "s",
               out_.survivors.empty() ? "tree gone" : processes(out_.survivors.size()) + " left", millis(took));
  for (const auto& p : out_.survivors)
    log::error("process {} ({}) survived teardown (state {})", p.pid, p.name, p.state);
}

void Run::teardown(int first_signal, std::optional<pid_t> skip_pgid) {
  in_teardown_ = true;
  if (first_signal != SIGKILL) {
    auto began = Clock::now();
    // The grace runs from the moment teardown starts, not from when the last process of a big
    // tree has been signalled (as GNU timeout arms -k before it signals).
    if (opt_.kill_after) arm(timer_.get(), *opt_.kill_after);
    else disarm(timer_.get());  // no grace limit: the first signal alone, for as long as it takes
    bool then_cont = first_signal != SIGCONT && first_signal != SIGSTOP;
    auto signalled = tree_.signal_all(first_signal, then_cont, skip_pgid);
    count(signalled);
    auto took = Clock::now() - began;
    out_.teardown.push_back({.signal = first_signal, .processes = static_cast<int>(signalled.size()), .took = took});
    log::verbose("{}{} to {}{} in {} ({} backend)", signal_name(first_signal),
                 then_cont ? " and SIGCONT" : "", processes(signalled.size()),
                 skip_pgid ? " (not to the terminal's foreground group, which had it already)" : "",
                 millis(took), tree_.name());
    reap();
    if (tree_gone()) {
      log::verbose("tree gone after {}", millis(Clock::now() - began));
      return;
    }
    while (!escalate_) {
      if (wait_for(timer_.get(), false).timer) {
        log::verbose("grace period of {} over", format_duration(*opt_.kill_after));
        break;
      }
      handle_signals();
      reap();
      if (tree_gone()) {
        log::verbose("tree gone {} into the grace period", millis(Clock::now() - began));
        return;
      }
    }
  }
  kill_phase();
}

void Run::end_context() {
  auto err = ctx_->err();
  out_.ending = err == context_errc::deadline_exceeded ? Ending::deadline_exceeded : Ending::canceled;
  out_.cause = ctx_->cause();
  out_.cancel_signal = cancel_signal_;
  log::verbose("{} after {} ({})", err.message(), millis(Clock::now() - start_), out_.cause);
  // A cancel by signal sends that signal first (sparing the terminal's foreground group, which had
  // it already: ctxrun's own group, whatever number /proc shows for it, 0 included); a cancel of
  // the context itself (a library caller's cancel()) or by the enclosing ctxrun: --signal.
  if (out_.ending == Ending::canceled && cancel_signal_ != 0 && !cancel_from_enclosing_)
    teardown(cancel_signal_, cancel_from_terminal_ ? std::optional<pid_t>(getpgrp()) : std::nullopt);
  else teardown(opt_.signal, std::nullopt);
}

void Run::after_command_exit() {
  int status = out_.command_status;
  out_.ending = WIFSIGNALED(status) ? Ending::signaled : Ending::exited;
  switch (opt_.orphans) {
    case OrphanPolicy::leave:
      return;
    case OrphanPolicy::kill:
      if (tree_gone()) return;
      log::verbose("the command left processes behind: tearing them down (--orphans=kill)");
      teardown(opt_.signal, std::nullopt);
      break;
    case OrphanPolicy::wait:
      if (!tree_gone()) log::verbose("waiting for the processes the command left behind (--orphans=wait)");
      while (!tree_gone() && !ctx_->err()) {
        wait_for(-1, true);
        handle_signals();
        reap();
      }
      if (!tree_gone()) end_context();
      break;
  }
  if (cancel_signal_ != 0) {
    out_.ending = Ending::canceled;
    out_.cause = signal_name(cancel_signal_);
    out_.cancel_signal = cancel_signal_;
  }
}

std::vector<std::string> Run::command_environment() const {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e)
    if (std::strncmp(*e, "CTXRUN_DEADLINE=", 16) != 0) env.emplace_back(*e);
  if (auto deadline = ctx_->deadline()) env.push_back("CTXRUN_DEADLINE=" + format_unix(*deadline));
  return env;
}

Outcome Run::go() {
  if (ctx_->err()) {
    out_.ending = ctx_->err() == context_errc::deadline_exceeded ? Ending::deadline_exceeded : Ending::canceled;
    out_.cause = ctx_->cause();
    return out_;
  }
  timer_.reset(timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
  if (!timer_) {
    out_.ending = Ending::error;
    out_.error = fmt::format("cannot create a timer: {}", std::strerror(errno));
    return out_;
  }
  auto env = command_environment();
  auto spawned = spawn(SpawnRequest{.argv = opt_.command, .env = env, .signals = signals_, .tree = tree_});
  if (auto* failure = std::get_if<SpawnFailure>(&spawned)) {
    out_.ending = Ending::error;
    out_.spawn_exit = failure->exit_status();
    out_.tree_refused_command = failure->in_tree_setup;
    out_.error = failure->in_tree_setup
                     ? fmt::format("the command could not enter the {} tree: {}", tree_.name(), std::strerror(failure->error))
                 : failure->before_exec
                     ? fmt::format("cannot start command '{}': {}{}", opt_.command[0], failure->in_fork ? "fork: " : "",
                                   std::strerror(failure->error))
                     : fmt::format("failed to run command '{}': {}", opt_.command[0], std::strerror(failure->error));
    return out_;
  }
  command_ = std::get<pid_t>(spawned);
  out_.command_started = true;
  tree_.started(command_);
  log::verbose("started '{}' as pid {}", opt_.command[0], command_);

  while (command_ != 0 && !ctx_->err()) {
    wait_for(-1, true);
    handle_signals();
    reap();
  }
  // A command killed by a signal once the context is done (a timer not yet read, an enclosing
  // ctxrun's teardown that reached the command first) was ended by the context, not on its own.
  bool ended_by_context = command_ == 0 && WIFSIGNALED(out_.command_status) && ctx_->err();
  if (command_ == 0 && !ended_by_context) after_command_exit();
  else end_context();
  out_.processes_torn_down = static_cast<int>(torn_down_.size());
  log::verbose("reaped {} orphaned process{} besides the command", adopted_reaped_, adopted_reaped_ == 1 ? "" : "es");
  return out_;
}

}  // namespace

Outcome run(const RunOptions& options, ContextPtr ctx, SignalRegime& signals, ProcessTree& tree) noexcept {
  try {
    return Run(options, std::move(ctx), signals, tree).go();
  } catch (const std::exception& e) {
    // Only allocation can throw here. Whatever was started must still go.
    Outcome out;
    out.ending = Ending::error;
    out.error = fmt::format("internal error: {}", e.what());
    for (int i = 0; i < 3 && !tree.members().empty(); ++i) tree.signal_all(SIGKILL, false, std::nullopt);
    return out;
  }
}

}  // namespace ctxrun
