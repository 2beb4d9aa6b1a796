#include "runner.h"

#include <fcntl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <utility>

#include <fmt/format.h>

#include "ctxrun/duration.h"
#include "diagnose.h"
#include "event_loop.h"
#include "kill_phase.h"
#include "probe_set.h"
#include "reaper.h"
#include "relay.h"
#include "spawn.h"
#include "timer.h"

extern char** environ;

namespace ctxrun {
namespace {

using Clock = std::chrono::steady_clock;

std::string millis(std::chrono::nanoseconds d) { return fmt::format("{:.1f}ms", static_cast<double>(d.count()) / 1e6); }

// "1 process", "3 processes".
std::string processes(std::size_t n) { return fmt::format("{} process{}", n, n == 1 ? "" : "es"); }

std::string wait_status_text(int status) {
  return WIFEXITED(status) ? fmt::format("status {}", WEXITSTATUS(status))
                           : fmt::format("killed by {}", signal_name(WTERMSIG(status)));
}

wall_time wall_now() {
  return std::chrono::time_point_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now());
}

class Run {
 public:
  Run(const Command& cmd, ContextPtr ctx, SignalRegime& signals, ProcessTree& tree)
      : cmd_(cmd), ctx_(std::move(ctx)), signals_(signals), tree_(tree) {}

  Outcome go();

 private:
  enum class Phase { starting, running, leftovers, dumping, stopping, killing, done };

  template <typename... Args>
  void trace(fmt::format_string<Args...> format, Args&&... args) const {
    if (cmd_.trace) cmd_.trace(fmt::format(format, std::forward<Args>(args)...));
  }

  // Event handlers: they record; advance() decides.
  void handle_signals();
  void reap();
  void note_command_end();
  void note_tracked_ends();
  // Moves to the next phase as long as the state says so.
  void advance();
  void advance_once();

  // Transitions.
  void end_context();
  void end_by_idleness();
  void end_by_service();
  void end_by_ready_timeout();
  void before_stop(int first_signal);
  void describe_tree();
  void run_expiry_hook();
  void after_dump();
  void after_command_exit();
  void stop(int first_signal, std::optional<pid_t> skip_pgid);
  void kill();
  void finish();

  bool enclosing_teardown() const;
  // The relay (Command::watch): output came, the caller's side stopped or started taking it.
  void note_output();
  void note_blocked(bool blocked);
  void arm_watch_timers();
  void say_still_running();
  bool tree_gone() { return tree_.gone(reaper_.has_children()); }
  void count(const std::vector<ProcessInfo>& signalled);
  std::vector<std::string> command_environment() const;
  Status start_watch();
  // Spawning: the services, the exec: probes, the command. Each lands in the tree.
  std::variant<pid_t, SpawnFailure> spawn_into_tree(const std::vector<std::string>& argv, int stdin_fd, int stdout_fd,
                                                    int stderr_fd);
  // `sh -c command` in the tree, its end tracked by the reaper (a service, an exec: probe).
  Result<pid_t> spawn_shell(const std::string& command, int stdin_fd, int stdout_fd, int stderr_fd);
  Status start_services();
  Status start_probes();
  void start_command();
  void spawn_failed(std::string error);

  const Command& cmd_;
  ContextPtr ctx_;
  SignalRegime& signals_;
  ProcessTree& tree_;
  EventLoop loop_;
  Reaper reaper_;
  // The grace period's timer, then the kill phase's limit: made before the spawn, so that teardown
  // needs no descriptor it might not get (a caller that left ctxrun few).
  Timer timer_;
  bool timer_fired_ = false;
  // The CI guard: the relay, the idle limit's timer and the heartbeat's.
  std::unique_ptr<OutputRelay> relay_;
  std::optional<Timer> idle_timer_;       // made only with Command::watch.idle
  std::optional<Timer> heartbeat_timer_;  // made only with Command::watch.heartbeat
  bool idle_fired_ = false;
  int blocked_streams_ = 0;  // relayed streams whose reader takes nothing now
  Clock::time_point last_output_ = Clock::now();
  int pending_stop_signal_ = 0;  // the first signal, once the dump signal's wait is over
  Clock::time_point dump_began_;
  Outcome out_;
  Phase phase_ = Phase::running;
  Clock::time_point start_ = Clock::now();
  Clock::time_point stop_began_;
  bool ended_on_its_own_ = false;  // the command exited before the context ended
  bool escalate_ = false;          // a cancelling signal came during teardown: no more grace
  int cancel_signal_ = 0;          // the signal that cancelled, 0 if none
  bool cancel_from_terminal_ = false;
  bool cancel_from_enclosing_ = false;                   // sent by the enclosing ctxrun: stop by our own policy
  std::set<std::pair<pid_t, std::uint64_t>> torn_down_;  // distinct processes signalled
  // Services (Command::services): out_.services holds each one's report; the first to end on its own.
  std::vector<std::string> env_;  // the environment of everything spawned
  unique_fd dev_null_;            // the services' stdin; the exec: probes' stdin, stdout and stderr
  std::unique_ptr<ProbeSet> probes_;
  std::optional<std::size_t> service_ended_;
};

void Run::handle_signals() {
  bool tearing_down = phase_ == Phase::dumping || phase_ == Phase::stopping || phase_ == Phase::killing;
  signalfd_siginfo info;
  while (::read(signals_.fd(), &info, sizeof info) == sizeof info) {
    int sig = static_cast<int>(info.ssi_signo);
    if (sig == SIGCHLD) continue;  // reap() looks after children
    bool cancels = false;
    for (int s : kCancelSignals) cancels |= s == sig;
    if (!cancels) {
      if (auto command = reaper_.command()) {
        trace("passing {} on to the command (pid {})", signal_name(sig), *command);
        ::kill(*command, sig);
      }
      continue;
    }
    if (enclosing_teardown()) {
      // This run shares its deadline with an enclosing ctxrun (inherited), which tears its whole
      // tree down, this ctxrun included, when that deadline passes: its signal is the deadline's,
      // not a cancel, and not a "second signal" that would cut this run's own teardown short.
      trace("received {} as the shared deadline passes: the enclosing run's teardown", signal_name(sig));
      continue;
    }
    if (cancel_signal_ == 0 && (!ctx_->err() || tearing_down)) {
      if (!ctx_->err()) {
        cancel_signal_ = sig;
        // A signal the terminal generated (Ctrl-C, Ctrl-\, hangup) comes with SI_KERNEL; it has
        // gone to the whole foreground process group already.
        cancel_from_terminal_ = info.ssi_code == SI_KERNEL;
        // The enclosing ctxrun stops its tree by signalling this ctxrun alone (process_tree.h):
        // as a parent context cancels a child, whose own policy then decides how its tree stops.
        cancel_from_enclosing_ = cmd_.enclosing.pid && info.ssi_code == SI_USER &&
                                 static_cast<pid_t>(info.ssi_pid) == *cmd_.enclosing.pid;
        std::string cause = signal_name(sig);
        if (cancel_from_enclosing_) cause += " from the enclosing ctxrun";
        ctx_->cancel(cause);
        trace("received {}{}: context canceled", cause, cancel_from_terminal_ ? " from the terminal" : "");
      }
      if (tearing_down) escalate_ = true;  // cancelled while cleaning up leftovers: no grace
    } else if (tearing_down && !escalate_) {
      escalate_ = true;
      trace("received {} again: skipping the rest of the grace period", signal_name(sig));
    }
  }
}

bool Run::enclosing_teardown() const {
  auto deadline = ctx_->deadline();
  const auto& shared = cmd_.enclosing.shared_deadline;
  if (!deadline || !shared || *deadline != *shared) return false;
  auto now = std::chrono::time_point_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now());
  return now >= *deadline - kDeadlineSlack && now <= *deadline + kEnclosingTeardownWindow;
}

void Run::reap() {
  reaper_.reap();
  note_command_end();
  note_tracked_ends();
}

// Services and exec: probes that ended. A service that ends while the command has not (before it
// started, or while it runs) and the context still stands ends the run (errgroup); one that ends
// in the teardown, or after the command, was stopped.
void Run::note_tracked_ends() {
  for (auto [pid, status] : reaper_.take_ended()) {
    if (probes_ && probes_->exec_ended(pid, status)) continue;
    for (std::size_t i = 0; i < out_.services.size(); ++i) {
      auto& service = out_.services[i];
      if (service.pid != pid) continue;
      service.status = status;
      bool on_its_own = (phase_ == Phase::starting || phase_ == Phase::running) && !out_.command_reaped &&
                        !ctx_->err() && !idle_fired_;
      service.stopped = !on_its_own;
      trace("service '{}' (pid {}) ended: {}", service.name, pid, wait_status_text(status));
      if (on_its_own && !service_ended_) service_ended_ = i;
    }
  }
}

// Records the command's end once the reaper has seen it (here, or in the kill phase).
void Run::note_command_end() {
  if (out_.command_reaped || !reaper_.command_status()) return;
  out_.command_reaped = true;
  out_.command_status = *reaper_.command_status();
  trace("command exited after {}: {}", millis(Clock::now() - start_), wait_status_text(out_.command_status));
}

void Run::arm_watch_timers() {
  if (idle_timer_ && blocked_streams_ == 0) idle_timer_->arm(*cmd_.watch.idle);
  if (heartbeat_timer_) heartbeat_timer_->arm(*cmd_.watch.heartbeat);
}

void Run::note_output() {
  last_output_ = Clock::now();
  out_.output.last_output = std::chrono::time_point_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now());
  // Once the run is ending (a thread dump relayed during --dump-signal): no idleness, no heartbeat.
  if (phase_ == Phase::starting || phase_ == Phase::running || phase_ == Phase::leftovers) arm_watch_timers();
}

// A slow reader downstream is not a silent command: while the caller's side takes nothing, the idle
// clock stands still, and it starts again from the whole limit once the reader takes more.
void Run::note_blocked(bool blocked) {
  blocked_streams_ += blocked ? 1 : -1;
  if (!idle_timer_ || (phase_ != Phase::starting && phase_ != Phase::running && phase_ != Phase::leftovers)) return;
  if (blocked_streams_ > 0) idle_timer_->disarm();
  else idle_timer_->arm(*cmd_.watch.idle);
}

void Run::say_still_running() {
  auto now = Clock::now();
  std::string command;
  for (const auto& arg : cmd_.argv) {
    if (!command.empty()) command += ' ';
    for (char c : arg) command += static_cast<unsigned char>(c) < 0x20 ? '?' : c;
  }
  auto tenths = [](Clock::duration d) {
    return format_duration(std::chrono::duration_cast<std::chrono::milliseconds>(d) / 100 * 100);
  };
  std::string line = fmt::format("ctxrun: still running: {} ({} elapsed, no output for {}, {})\n", command,
                                 tenths(now - start_), tenths(now - last_output_), processes(tree_.members().size()));
  relay_->write_stderr_line(line);
  heartbeat_timer_->arm(*cmd_.watch.heartbeat);  // and again after as long without output
}

void Run::count(const std::vector<ProcessInfo>& signalled) {
  for (const auto& p : signalled) torn_down_.emplace(p.pid, p.start_time);
}

void Run::advance() {
  for (Phase before = phase_;; before = phase_) {
    advance_once();
    if (phase_ == before || phase_ == Phase::done) return;
  }
}

void Run::advance_once() {
  switch (phase_) {
    case Phase::starting:
      if (service_ended_) end_by_service();
      else if (ctx_->err()) end_context();
      else if (idle_fired_) end_by_idleness();
      else if (probes_->expired()) end_by_ready_timeout();
      else if (probes_->ready()) start_command();
      return;
    case Phase::running:
      if (service_ended_ && !out_.command_reaped) {
        end_by_service();
      } else if (idle_fired_ && !out_.command_reaped) {
        end_by_idleness();
      } else if (out_.command_reaped) {
        // A command killed by a signal once the context is done (a timer not yet read, an
        // enclosing ctxrun's teardown that reached the command first) was ended by the context.
        if (WIFSIGNALED(out_.command_status) && ctx_->err()) end_context();
        else after_command_exit();
      } else if (ctx_->err()) {
        end_context();
      }
      return;
    case Phase::leftovers:
      if (tree_gone()) finish();
      else if (ctx_->err()) end_context();
      else if (idle_fired_) end_by_idleness();
      return;
    case Phase::dumping:
      if (out_.command_reaped || timer_fired_ || escalate_) after_dump();
      return;
    case Phase::stopping:
      if (tree_gone()) {
        trace("tree gone {} into the grace period", millis(Clock::now() - stop_began_));
        finish();
      } else if (timer_fired_) {
        trace("grace period of {} over", format_duration(*cmd_.stop.grace));
        kill();
      } else if (escalate_) {
        kill();
      }
      return;
    case Phase::killing:
    case Phase::done: return;
  }
}

void Run::end_context() {
  loop_.unwatch(ctx_->done_fd());  // readable for good now
  auto err = ctx_->err();
  out_.ending = err == context_errc::deadline_exceeded ? Ending::deadline_exceeded : Ending::canceled;
  out_.cause = ctx_->cause();
  out_.cancel_signal = cancel_signal_;
  ended_on_its_own_ = false;
  trace("{} after {} ({})", err.message(), millis(Clock::now() - start_), out_.cause);
  // A cancel by signal sends that signal first (sparing the terminal's foreground group, which had
  // it already: ctxrun's own group, whatever number /proc shows for it, 0 included); a cancel of
  // the context itself (a library caller's cancel()) or by the enclosing ctxrun: the stop policy's.
  if (out_.ending == Ending::canceled && cancel_signal_ != 0 && !cancel_from_enclosing_)
    stop(cancel_signal_, cancel_from_terminal_ ? std::optional<pid_t>(getpgrp()) : std::nullopt);
  else if (out_.ending == Ending::deadline_exceeded) before_stop(cmd_.stop.signal);
  else stop(cmd_.stop.signal, std::nullopt);
}

// A service ended on its own: the run is over (Go's errgroup: the first failure cancels the rest).
void Run::end_by_service() {
  const auto& service = out_.services[*service_ended_];
  out_.ending = Ending::service_failed;
  out_.failed_service = service_ended_;
  int status = *service.status;
  out_.cause = fmt::format("service '{}' {} {}", service.name,
                           WIFEXITED(status) ? fmt::format("exited with status {}", WEXITSTATUS(status))
                                             : fmt::format("was killed by {}", signal_name(WTERMSIG(status))),
                           out_.command_started ? "while the command ran" : "before the command started");
  ended_on_its_own_ = false;
  trace("{}: tearing everything down", out_.cause);
  stop(cmd_.stop.signal, std::nullopt);
}

void Run::end_by_ready_timeout() {
  out_.ending = Ending::deadline_exceeded;
  out_.cause = *probes_->expired();
  ended_on_its_own_ = false;
  trace("context deadline exceeded after {} ({})", millis(Clock::now() - start_), out_.cause);
  before_stop(cmd_.stop.signal);
}

void Run::end_by_idleness() {
  out_.ending = Ending::deadline_exceeded;
  out_.cause = "no output for " + cmd_.watch.idle_text;
  out_.idle_expired = true;
  ended_on_its_own_ = false;
  trace("context deadline exceeded after {} ({})", millis(Clock::now() - start_), out_.cause);
  before_stop(cmd_.stop.signal);
}

// The run ends by a deadline or by idleness: what the caller asked to know of the tree as it
// stands, before anything of it is signalled (Command::before_stop).
void Run::before_stop(int first_signal) {
  loop_.unwatch(ctx_->done_fd());
  for (auto* timer : {&idle_timer_, &heartbeat_timer_})
    if (*timer) (*timer)->disarm();
  const auto& what = cmd_.before_stop;
  if (what.describe_tree && cmd_.diagnostics) describe_tree();
  if (what.hook) run_expiry_hook();
  if (what.dump_signal && reaper_.command()) {
    trace("sending {} to the command (pid {}) and waiting up to {} for it", signal_name(*what.dump_signal),
          *reaper_.command(), format_duration(what.dump_wait));
    ::kill(*reaper_.command(), *what.dump_signal);  // not reaped: the pid is still the command's
    out_.dump = DumpReport{.signal = *what.dump_signal};
    pending_stop_signal_ = first_signal;
    dump_began_ = Clock::now();
    timer_fired_ = false;
    timer_.arm(what.dump_wait);
    phase_ = Phase::dumping;
    return;
  }
  stop(first_signal, std::nullopt);
}

void Run::describe_tree() {
  std::vector<pid_t> pids;
  for (const auto& p : tree_.members()) pids.push_back(p.pid);
  cmd_.diagnostics("the tree before teardown:");
  for (const auto& line : describe_processes(pids)) cmd_.diagnostics(format_tree_line(line));
}

void Run::run_expiry_hook() {
  std::string pids;
  for (const auto& p : tree_.members()) pids += (pids.empty() ? "" : " ") + std::to_string(p.pid);
  std::vector<std::string> env{"CTXRUN_PIDS=" + pids,
                               "CTXRUN_MAIN_PID=" + (reaper_.command() ? std::to_string(*reaper_.command()) : "")};
  if (auto cgroup = tree_.cgroup_path(); !cgroup.empty()) env.push_back("CTXRUN_CGROUP=" + cgroup);
  const auto& hook = *cmd_.before_stop.hook;
  trace("running the --on-expire hook, for at most {}: {}", format_duration(cmd_.before_stop.hook_limit), hook);
  HookReport report{.command = hook};
  auto ran = run_hook(hook, env, cmd_.before_stop.hook_limit, 2, &signals_);
  if (auto* result = std::get_if<HookResult>(&ran)) {
    report.status = result->status;
    report.seconds = result->seconds;
    report.timed_out = result->timed_out;
    trace("the hook {} after {:.1f}s", result->timed_out ? "was killed at its limit" : "ended", result->seconds);
  } else {
    trace("the hook could not run: {}", std::get<std::string>(ran));
  }
  out_.on_expire = std::move(report);
}

void Run::after_dump() {
  out_.dump->main_exited = out_.command_reaped;
  out_.dump->waited_seconds = std::chrono::duration<double>(Clock::now() - dump_began_).count();
  stop(pending_stop_signal_, std::nullopt);
}

void Run::after_command_exit() {
  ended_on_its_own_ = true;
  out_.ending = WIFSIGNALED(out_.command_status) ? Ending::signaled : Ending::exited;
  switch (cmd_.orphans) {
    case OrphanPolicy::leave: finish(); return;
    case OrphanPolicy::kill:
      if (tree_gone()) return finish();
      trace("the command left processes behind: tearing them down (--orphans=kill)");
      stop(cmd_.stop.signal, std::nullopt);
      return;
    case OrphanPolicy::wait:
      if (tree_gone()) return finish();
      trace("waiting for the processes the command left behind (--orphans=wait)");
      phase_ = Phase::leftovers;
      return;
  }
}

void Run::stop(int first_signal, std::optional<pid_t> skip_pgid) {
  // From here on the context's end, idleness, heartbeats and probes change nothing.
  loop_.unwatch(ctx_->done_fd());
  if (probes_) probes_->stop();
  if (relay_) relay_->close_child_ends();  // the command will not start now
  for (auto* timer : {&idle_timer_, &heartbeat_timer_})
    if (*timer) loop_.unwatch((*timer)->fd());
  phase_ = Phase::stopping;
  stop_began_ = Clock::now();
  auto began = std::chrono::time_point_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now());
  if (first_signal == SIGKILL) return kill();
  // The grace runs from the moment teardown starts, not from when the last process of a big tree
  // has been signalled (as GNU timeout arms -k before it signals). Without one, the first signal
  // alone, for as long as it takes.
  timer_fired_ = false;
  if (cmd_.stop.grace) timer_.arm(*cmd_.stop.grace);
  else timer_.disarm();
  bool then_cont = first_signal != SIGCONT && first_signal != SIGSTOP;
  auto signalled = tree_.signal_all(first_signal, then_cont, skip_pgid);
  count(signalled);
  auto took = Clock::now() - stop_began_;
  out_.teardown.push_back(
      {.signal = first_signal, .processes = static_cast<int>(signalled.size()), .took = took, .began = began});
  trace("{}{} to {}{} in {} ({} backend)", signal_name(first_signal), then_cont ? " and SIGCONT" : "",
        processes(signalled.size()), skip_pgid ? " (not to the terminal's foreground group, which had it already)" : "",
        millis(took), tree_.name());
  reap();
  if (tree_gone()) {
    trace("tree gone after {}", millis(Clock::now() - stop_began_));
    finish();
  }
}

void Run::kill() {
  phase_ = Phase::killing;
  auto began = std::chrono::time_point_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now());
  auto result = kill_phase(tree_, reaper_, timer_, signals_.fd(), [this] { handle_signals(); });
  note_command_end();
  note_tracked_ends();
  count(result.killed);
  out_.survivors = std::move(result.survivors);
  out_.teardown.push_back(
      {.signal = SIGKILL, .processes = static_cast<int>(result.killed.size()), .took = result.took, .began = began});
  trace("SIGKILL to {} in {} sweep{}; {} after {}", processes(result.killed.size()), result.sweeps,
        result.sweeps == 1 ? "" : "s",
        out_.survivors.empty() ? "tree gone" : processes(out_.survivors.size()) + " left", millis(result.took));
  for (const auto& p : out_.survivors) trace("process {} ({}) survived teardown (state {})", p.pid, p.name, p.state);
  finish();
}

void Run::finish() {
  phase_ = Phase::done;
  // The command ended on its own, but a cancelling signal came while its leftovers were handled.
  if (ended_on_its_own_ && cancel_signal_ != 0) {
    out_.ending = Ending::canceled;
    out_.cause = signal_name(cancel_signal_);
    out_.cancel_signal = cancel_signal_;
  }
}

// The relay and the timers of Command::watch, before the spawn.
Status Run::start_watch() {
  out_.idle_limit = cmd_.watch.idle;
  for (auto [wanted, timer] : {std::pair{cmd_.watch.idle.has_value(), &idle_timer_},
                               std::pair{cmd_.watch.heartbeat.has_value(), &heartbeat_timer_}}) {
    if (!wanted) continue;
    timer->emplace();
    if (!(*timer)->ok()) return fmt::format("cannot create a timer: {}", std::strerror((*timer)->error()));
  }
  // The heartbeat's line must start a line: the relay then knows each stream's last byte.
  bool watch_main = cmd_.watch.idle || cmd_.watch.heartbeat;
  auto made = OutputRelay::make(cmd_.watch.heartbeat.has_value(), watch_main);
  if (auto* error = std::get_if<std::string>(&made)) return *error;
  relay_ = std::move(std::get<std::unique_ptr<OutputRelay>>(made));
  out_.output.relayed = true;
  out_.output.merged = relay_->merged();
  if (watch_main && (isatty(1) || isatty(2)))
    trace("the command's output now goes through a pipe, not the terminal: it may buffer or drop colour");
  return std::nullopt;
}

std::vector<std::string> Run::command_environment() const {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e)
    if (std::strncmp(*e, "CTXRUN_DEADLINE=", 16) != 0) env.emplace_back(*e);
  if (auto deadline = ctx_->deadline()) env.push_back("CTXRUN_DEADLINE=" + format_unix(*deadline));
  return env;
}

std::variant<pid_t, SpawnFailure> Run::spawn_into_tree(const std::vector<std::string>& argv, int stdin_fd,
                                                       int stdout_fd, int stderr_fd) {
  auto spawned = spawn(SpawnRequest{.argv = argv,
                                    .env = env_,
                                    .signals = signals_,
                                    .tree = tree_,
                                    .stdout_fd = stdout_fd,
                                    .stderr_fd = stderr_fd,
                                    .stdin_fd = stdin_fd});
  if (auto* pid = std::get_if<pid_t>(&spawned)) tree_.started(*pid);
  return spawned;
}

Result<pid_t> Run::spawn_shell(const std::string& command, int stdin_fd, int stdout_fd, int stderr_fd) {
  auto spawned = spawn_into_tree({"/bin/sh", "-c", command}, stdin_fd, stdout_fd, stderr_fd);
  if (auto* failure = std::get_if<SpawnFailure>(&spawned))
    return fmt::format("{}{}", failure->in_fork ? "fork: " : "", std::strerror(failure->error));
  pid_t pid = std::get<pid_t>(spawned);
  reaper_.track(pid);
  return pid;
}

// The services, in order, each through sh -c, its stdin /dev/null (the caller's is the command's).
Status Run::start_services() {
  for (const auto& service : cmd_.services) {
    OutputRelay::Labelled labelled;
    if (cmd_.label_services && relay_) {
      auto made = relay_->add_labelled("[" + service.name + "] ");
      if (auto* error = std::get_if<std::string>(&made)) return *error;
      labelled = std::move(std::get<OutputRelay::Labelled>(made));
    }
    int out = labelled.out ? labelled.out.get() : relay_ ? relay_->child_stdout() : -1;
    int err = labelled.err   ? labelled.err.get()
              : labelled.out ? labelled.out.get()
              : relay_       ? relay_->child_stderr()
                             : -1;
    auto spawned = spawn_shell(service.command, dev_null_.get(), out, err);
    if (auto* error = std::get_if<std::string>(&spawned))
      return fmt::format("cannot start service '{}': {}", service.name, *error);
    pid_t pid = std::get<pid_t>(spawned);
    out_.services.push_back({.name = service.name, .command = service.command, .pid = pid, .started = wall_now()});
    trace("started service '{}' as pid {}: {}", service.name, pid, service.command);
  }
  return std::nullopt;
}

Status Run::start_probes() {
  if (cmd_.ready.probes.empty()) return std::nullopt;
  ProbeSet::Hooks hooks{
      .start_exec =
          [this](const std::string& command) {
            int null = dev_null_.get();
            return spawn_shell(command, null, null, null);
          },
      .trace = cmd_.trace,
  };
  auto made = ProbeSet::make(cmd_.ready, loop_, std::move(hooks));
  if (auto* error = std::get_if<std::string>(&made)) return *error;
  probes_ = std::move(std::get<std::unique_ptr<ProbeSet>>(made));
  trace("waiting for {} probe{}, for at most {}", cmd_.ready.probes.size(), cmd_.ready.probes.size() == 1 ? "" : "s",
        cmd_.ready.limit_text);
  return std::nullopt;
}

// Something could not be started: nothing more is, and what was (the services) is torn down.
void Run::spawn_failed(std::string error) {
  out_.ending = Ending::error;
  out_.error = std::move(error);
  if (out_.services.empty()) {
    phase_ = Phase::done;
    return;
  }
  trace("{}: tearing the services down", out_.error);
  stop(cmd_.stop.signal, std::nullopt);
}

void Run::start_command() {
  phase_ = Phase::running;
  if (probes_) probes_->stop();
  auto now = wall_now();
  for (auto& service : out_.services) service.ready = now;
  unique_fd null_stdin;
  if (cmd_.stdin_null) {
    null_stdin.reset(open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (!null_stdin)
      return spawn_failed(fmt::format("cannot open /dev/null for the command's stdin: {}", std::strerror(errno)));
  }
  bool watch_main = cmd_.watch.idle || cmd_.watch.heartbeat;
  auto spawned = spawn_into_tree(cmd_.argv, null_stdin.get(), relay_ && watch_main ? relay_->child_stdout() : -1,
                                 relay_ && watch_main ? relay_->child_stderr() : -1);
  if (relay_) relay_->close_child_ends();
  if (auto* failure = std::get_if<SpawnFailure>(&spawned)) {
    out_.spawn_exit = failure->exit_status();
    out_.tree_refused_command = failure->in_tree_setup;
    const std::string& name = cmd_.argv[0];
    return spawn_failed(
        failure->in_tree_setup
            ? fmt::format("the command could not enter the {} tree: {}", tree_.name(), std::strerror(failure->error))
        : failure->before_exec ? fmt::format("cannot start command '{}': {}{}", name, failure->in_fork ? "fork: " : "",
                                             std::strerror(failure->error))
                               : fmt::format("failed to run command '{}': {}", name, std::strerror(failure->error)));
  }
  pid_t command = std::get<pid_t>(spawned);
  reaper_.expect(command);
  out_.command_started = true;
  trace("started '{}' as pid {}", cmd_.argv[0], command);
}

Outcome Run::go() {
  if (ctx_->err()) {
    out_.ending = ctx_->err() == context_errc::deadline_exceeded ? Ending::deadline_exceeded : Ending::canceled;
    out_.cause = ctx_->cause();
    return out_;
  }
  if (!timer_.ok()) {
    out_.ending = Ending::error;
    out_.error = fmt::format("cannot create a timer: {}", std::strerror(timer_.error()));
    return out_;
  }
  if (cmd_.watch.idle || cmd_.watch.heartbeat || (cmd_.label_services && !cmd_.services.empty())) {
    if (auto error = start_watch()) {
      out_.ending = Ending::error;
      out_.error = *error;
      return out_;
    }
  }
  env_ = command_environment();
  // Only what runs a process of ours needs it: a tcp:// or file:// probe alone works in a root
  // without /dev (a static ctxrun in an empty image).
  bool exec_probes = std::any_of(cmd_.ready.probes.begin(), cmd_.ready.probes.end(),
                                 [](const std::string& p) { return p.starts_with("exec:"); });
  if (!cmd_.services.empty() || exec_probes) {
    dev_null_.reset(open("/dev/null", O_RDWR | O_CLOEXEC));
    if (!dev_null_) {
      out_.ending = Ending::error;
      out_.error = fmt::format("cannot open /dev/null: {}", std::strerror(errno));
      return out_;
    }
  }
  if (relay_)
    relay_->attach(
        loop_, [this] { note_output(); }, [this](bool blocked) { note_blocked(blocked); });
  loop_.watch(signals_.fd(), POLLIN, [this](short) { handle_signals(); });
  loop_.watch(ctx_->done_fd(), POLLIN, [](short) {});  // advance() reads ctx_->err()
  loop_.watch(timer_.fd(), POLLIN, [this](short) { timer_fired_ = timer_.fired(); });
  // A tree change notification stays pending until gone() re-reads the backend's state.
  loop_.watch(tree_.change_fd(), POLLPRI, [this](short) { tree_gone(); });
  if (idle_timer_) loop_.watch(idle_timer_->fd(), POLLIN, [this](short) { idle_fired_ = idle_timer_->fired(); });
  if (heartbeat_timer_)
    loop_.watch(heartbeat_timer_->fd(), POLLIN, [this](short) {
      if (heartbeat_timer_->fired()) say_still_running();
    });
  if (relay_) arm_watch_timers();
  Status started = start_services();
  if (!started) started = start_probes();
  if (started) {
    spawn_failed(*started);
  } else if (probes_) {
    phase_ = Phase::starting;
    probes_->start();
  } else {
    start_command();
  }
  advance();
  while (phase_ != Phase::done) {
    loop_.wait_once();
    reap();
    advance();
  }
  if (relay_) {
    // What the tree wrote last goes out too, unless the context ends or a signal comes meanwhile.
    // (A deadline ending gives up on a reader that takes nothing at once; a cancelling signal meanwhile
    // too.)
    relay_->finish({signals_.fd(), ctx_->done_fd()}, [this] {
      handle_signals();
      return ctx_->err() || cancel_signal_ != 0 || out_.ending == Ending::deadline_exceeded;
    });
    out_.output.stdout_bytes = relay_->stdout_bytes();
    out_.output.stderr_bytes = relay_->stderr_bytes();
  }
  if (probes_) out_.probes = probes_->reports();
  out_.processes_torn_down = static_cast<int>(torn_down_.size());
  int orphans = reaper_.others_reaped();
  trace("reaped {} orphaned process{} besides the command", orphans, orphans == 1 ? "" : "es");
  return out_;
}

}  // namespace

Outcome run(const Command& cmd, ContextPtr ctx, SignalRegime& signals, ProcessTree& tree) noexcept {
  try {
    return Run(cmd, std::move(ctx), signals, tree).go();
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
