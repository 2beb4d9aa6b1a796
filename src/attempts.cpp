#include "attempts.h"

#include <poll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string_view>

#include <fmt/format.h>

#include "diagnose.h"
#include "log.h"
#include "random_bits.h"
#include "timer.h"

namespace ctxrun {
namespace {

using Clock = std::chrono::steady_clock;

std::string tenths(std::chrono::nanoseconds d) {
  return fmt::format("{:.1f}s", std::chrono::duration<double>(d).count());
}

// "exit 1", "killed by SIGSEGV", "attempt timeout 2s", "no output for 1s".
std::string why_failed(const Outcome& o) {
  if (o.ending == Ending::deadline_exceeded || o.ending == Ending::service_failed) return o.cause;
  if (o.ending == Ending::signaled) return "killed by " + signal_name(WTERMSIG(o.command_status));
  if (o.ending == Ending::exited) return fmt::format("exit {}", WEXITSTATUS(o.command_status));
  return o.error.empty() ? std::string(ending_name(o.ending)) : o.error;
}

bool retryable(const RunOptions::Retry& r, const Outcome& o) {
  if (!o.survivors.empty()) return false;
  switch (o.ending) {
    case Ending::exited: {
      int status = WEXITSTATUS(o.command_status);
      // 126 and 127 say the command could not be run: another attempt would not change that.
      if (status == 0 || status == kExitCannotExecute || status == kExitNotFound) return false;
      return r.on_failure || std::find(r.on_exit.begin(), r.on_exit.end(), status) != r.on_exit.end();
    }
    case Ending::signaled: return r.on_failure || r.on_signal;
    case Ending::deadline_exceeded: return r.on_failure || (o.idle_expired ? r.on_idle : r.on_timeout);
    // The attempt is the whole group: a service that ended early failed it, and the next attempt starts
    // the services again.
    case Ending::service_failed: return r.on_failure;
    case Ending::canceled:
    case Ending::error: return false;  // a cancel; 125, 126, 127
  }
  return false;
}

// Under GitHub Actions, a workflow command on stdout.
void annotate(const char* level, const std::string& title, const std::string& text) {
  const char* actions = std::getenv("GITHUB_ACTIONS");
  if (!actions || std::string_view(actions) != "true") return;
  std::string line = fmt::format("::{} title=ctxrun: {}::{}\n", level, title, text);
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fflush(stdout);
}

enum class Waited { slept, canceled, deadline };

// Waits `delay` on a timerfd, the run's context and the signalfd: a cancelling signal ends the wait
// (and the run) at once; a forwarded one has no command to go to between attempts.
Waited wait_delay(std::chrono::nanoseconds delay, const ContextPtr& ctx, const SignalRegime& signals, int& signal) {
  Timer timer;
  if (!timer.ok()) return Waited::slept;  // no descriptor for a timer: retry at once rather than never
  timer.arm(delay);
  while (true) {
    pollfd fds[3] = {{timer.fd(), POLLIN, 0}, {ctx->done_fd(), POLLIN, 0}, {signals.fd(), POLLIN, 0}};
    while (::poll(fds, 3, -1) < 0 && errno == EINTR) {}
    signalfd_siginfo info;
    while (::read(signals.fd(), &info, sizeof info) == sizeof info) {
      int sig = static_cast<int>(info.ssi_signo);
      for (int s : kCancelSignals)
        if (s == sig) {
          signal = sig;
          return Waited::canceled;
        }
    }
    if (ctx->err()) return Waited::deadline;
    if (timer.fired()) return Waited::slept;
  }
}

}  // namespace

Outcome run_attempts(const RunOptions& options, const Command& command, const ContextPtr& ctx,
                     const SignalRegime& signals,
                     const std::function<Outcome(const Command&, const ContextPtr&)>& run_once, Attempts& attempts) {
  const auto& r = options.retry;
  std::mt19937_64 random([] {
    const char* seed = std::getenv("CTXRUN_RETRY_SEED");
    return seed ? std::strtoull(seed, nullptr, 10) : (static_cast<std::uint64_t>(random_bits()) << 32 | random_bits());
  }());
  struct stat st {};
  bool stdin_rewinds = fstat(0, &st) == 0 && S_ISREG(st.st_mode);
  setenv("CTXRUN_ATTEMPTS", std::to_string(r.attempts).c_str(), 1);
  Outcome outcome;
  // The cap of the delay after attempt n: delay * backoff^(n-1), at most max_delay; multiplied once
  // per attempt (std::pow would make every run load libm).
  const double max_delay_s = std::chrono::duration<double>(r.max_delay).count();
  double cap_s = std::min(max_delay_s, std::chrono::duration<double>(r.delay).count());
  for (int n = 1;; ++n) {
    setenv("CTXRUN_ATTEMPT", std::to_string(n).c_str(), 1);
    Command attempt = command;
    if (n > 1) {
      // The first attempt may have read stdin to its end: a regular file is read again from its
      // start, anything else is not for a second reader.
      if (stdin_rewinds) lseek(0, 0, SEEK_SET);
      else attempt.stdin_null = true;
    }
    // Each attempt a child context of the run's: its own deadline, never past the run's.
    ContextPtr attempt_ctx = r.attempt_timeout
                                 ? with_timeout(ctx, *r.attempt_timeout, "attempt timeout " + r.attempt_timeout_text)
                                 : with_cancel(ctx);
    auto start_wall = std::chrono::time_point_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now());
    auto start = Clock::now();
    outcome = run_once(attempt, attempt_ctx);
    attempts.records.push_back({.number = n, .outcome = outcome, .start = start_wall, .elapsed = Clock::now() - start});
    std::string failed = fmt::format("attempt {}/{} failed ({} after {})", n, r.attempts, why_failed(outcome),
                                     tenths(attempts.records.back().elapsed));
    if (outcome.ending == Ending::exited && WEXITSTATUS(outcome.command_status) == 0 && outcome.survivors.empty()) {
      attempts.stopped = "succeeded";
      return outcome;
    }
    if (outcome.ending == Ending::canceled) {
      attempts.stopped = "canceled";
      return outcome;
    }
    if (ctx->err()) {  // the run's own deadline: what ended the attempt ends the run
      attempts.stopped = "deadline";
      return outcome;
    }
    if (!retryable(r, outcome)) {
      attempts.stopped = "not retryable";
      return outcome;
    }
    if (n == r.attempts) {
      log::notice("{}; no attempts left", failed);
      annotate("error", fmt::format("attempt {}/{} failed", n, r.attempts), failed + "; no attempts left");
      attempts.stopped = "attempts exhausted";
      return outcome;
    }
    // Backoff, capped, then full jitter: uniform in [0, cap].
    double delay_s = r.jitter ? std::uniform_real_distribution<double>(0, cap_s)(random) : cap_s;
    cap_s = std::min(max_delay_s, cap_s * r.backoff);
    auto delay = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::duration<double>(delay_s));
    if (auto deadline = ctx->deadline()) {
      auto now = std::chrono::time_point_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now());
      if (now + delay >= *deadline) {
        log::notice("{}; not retrying: the next attempt would start past the deadline", failed);
        attempts.stopped = "deadline";
        return outcome;
      }
    }
    log::notice("{}; retrying in {}", failed, tenths(delay));
    annotate("warning", fmt::format("attempt {}/{} failed", n, r.attempts), failed + "; retrying in " + tenths(delay));
    if (r.on_retry) {
      auto left = ctx->deadline()
                      ? *ctx->deadline() -
                            std::chrono::time_point_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now())
                      : std::chrono::nanoseconds(std::chrono::hours(24 * 365));
      auto ran = run_hook(*r.on_retry, {}, std::max(left, std::chrono::nanoseconds(1)), 2, &signals);
      if (auto* error = std::get_if<std::string>(&ran)) log::notice("warning: --on-retry could not run: {}", *error);
      else if (auto& hook = std::get<HookResult>(ran); !hook.status || *hook.status != 0)
        log::notice("warning: --on-retry failed ({})", hook.timed_out ? std::string("killed at the deadline")
                                                       : !hook.status ? std::string("not reaped")
                                                       : WIFEXITED(*hook.status)
                                                           ? fmt::format("exit {}", WEXITSTATUS(*hook.status))
                                                           : "killed by " + signal_name(WTERMSIG(*hook.status)));
    }
    int signal = 0;
    switch (wait_delay(delay, ctx, signals, signal)) {
      case Waited::slept: break;
      case Waited::canceled:
        // ctxrun dies of the signal at once: nothing of the tree is left to tear down.
        outcome.ending = Ending::canceled;
        outcome.cancel_signal = signal;
        outcome.cause = signal_name(signal);
        outcome.processes_torn_down = 0;
        outcome.teardown.clear();
        attempts.stopped = "canceled";
        return outcome;
      case Waited::deadline: attempts.stopped = "deadline"; return outcome;
    }
  }
}

}  // namespace ctxrun
