// The signal regime ctxrun runs under: which signals it takes, and how the command gets back the
// ones ctxrun started with.
#pragma once

#include <signal.h>

#include <iterator>
#include <optional>
#include <vector>

#include "ctxrun/signals.h"
#include "ctxrun/unique_fd.h"

namespace ctxrun {

// The signals that end the context as Canceled.
inline constexpr int kCancelSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
// The signals ctxrun passes on to the command.
inline constexpr int kForwardSignals[] = {SIGUSR1, SIGUSR2};

// SignalRegime: how ctxrun takes signals, and how the command gets back the ones ctxrun started with.
//
// ctxrun has no signal handlers that run: every signal it watches is blocked and read from a
// signalfd in the event loop (tini's and ninja's way: nothing is lost, nothing runs asynchronously).
// A no-op handler is installed for a watched signal only where SIG_DFL would not do: in a PID 1,
// which drops signals whose action is SIG_DFL before they can be queued, and for SIGCHLD ignored at
// start; exec resets such handlers to SIG_DFL in the command.
//
// A cancel or forward signal that was ignored when ctxrun started (nohup, `cmd &` in a script) stays
// ignored and is not watched: the caller asked for it not to interrupt. SIGCHLD is always watched,
// and set back to SIG_IGN in the command if it was ignored.
//
// The regime is process-wide: create at most one, early in main, before any thread exists.
//
// SignalSpec describes a regime with other rules, for a front-end that must take signals as another
// program does (the GNU timeout personality, gnu_timeout.h). The default spec is ctxrun's regime.
inline std::vector<int> ctxrun_watched_signals() {
  std::vector<int> sigs(std::begin(kCancelSignals), std::end(kCancelSignals));
  sigs.insert(sigs.end(), std::begin(kForwardSignals), std::end(kForwardSignals));
  return sigs;
}

struct SignalSpec {
  std::vector<int> watch = ctxrun_watched_signals();  // SIGCHLD is always watched too
  // A watched signal that was ignored at start stays ignored and unwatched (ctxrun's rule). If
  // false, it is watched anyway and reaches the command with SIG_DFL.
  bool respect_ignored = true;
  std::vector<int> ignore;            // ignored by ctxrun while it runs; the command gets them as
                                      // ctxrun was started with them (SIG_DFL unless ignored then)
  std::vector<int> default_in_child;  // SIG_DFL in the command, whatever ctxrun was started with
  std::vector<int> unblock_in_child;  // taken out of the start-up mask in the command
};

class SignalRegime {
 public:
  // Records the start-up mask and dispositions, installs the regime, opens the signalfd.
  // Returns nullopt with errno set on failure.
  static std::optional<SignalRegime> install(const SignalSpec& spec = {}) noexcept;

  SignalRegime(SignalRegime&&) noexcept = default;
  SignalRegime& operator=(SignalRegime&&) noexcept = default;

  // The signalfd: readable when a watched signal is pending. Non-blocking, close-on-exec.
  int fd() const noexcept { return fd_.get(); }

  // Whether `sig` is watched (so it cancels or is forwarded).
  bool watched(int sig) const noexcept { return sigismember(&watched_, sig) == 1; }

  // In the child, between fork and exec: restores the signal mask and the SIG_IGN dispositions
  // ctxrun was started with (as the spec adjusts them). Async-signal-safe: only sigaction and
  // sigprocmask on prepared memory.
  void restore_in_child() const noexcept;

  // Dies of `sig` as a process without handlers would: no core dump, default action, unblocked.
  // Returns only if that did not end the process (PID 1, or a signal whose default is to ignore).
  static void die_of(int sig) noexcept;

 private:
  SignalRegime() = default;
  sigset_t original_mask_{};
  sigset_t originally_ignored_{};
  sigset_t watched_{};
  sigset_t child_default_{};  // SignalSpec::default_in_child
  sigset_t ignored_here_{};   // SignalSpec::ignore
  sigset_t handled_{};        // watched with a no-op handler (install): PID 1, or ignored at start
  sigset_t child_mask_{};     // original_mask_ without SignalSpec::unblock_in_child
  unique_fd fd_;
};

}  // namespace ctxrun
