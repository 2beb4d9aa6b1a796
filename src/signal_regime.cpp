#include "signal_regime.h"

#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>

namespace ctxrun {

namespace {
void no_op_handler(int) {}
}  // namespace

std::optional<SignalRegime> SignalRegime::install(const SignalSpec& spec) noexcept {
  SignalRegime regime;
  sigemptyset(&regime.originally_ignored_);
  sigemptyset(&regime.watched_);
  sigemptyset(&regime.child_default_);
  sigemptyset(&regime.ignored_here_);
  sigemptyset(&regime.handled_);
  if (sigprocmask(SIG_SETMASK, nullptr, &regime.original_mask_) != 0) return std::nullopt;
  regime.child_mask_ = regime.original_mask_;
  for (int sig : spec.unblock_in_child) sigdelset(&regime.child_mask_, sig);
  for (int sig : spec.default_in_child) sigaddset(&regime.child_default_, sig);
  // Only the dispositions ctxrun changes need recording: every other one it leaves as it found
  // it, and exec passes an ignored signal on as ignored.
  auto record = [&](int sig) {
    struct sigaction old {};
    if (sigaction(sig, nullptr, &old) == 0 && old.sa_handler == SIG_IGN) sigaddset(&regime.originally_ignored_, sig);
  };
  for (int sig : spec.watch) record(sig);
  for (int sig : spec.ignore) record(sig);
  record(SIGCHLD);
  // A no-op handler only where SIG_DFL will not do: a PID 1 drops a signal whose action is SIG_DFL
  // before it can be queued, blocked or not, and SIGCHLD ignored at start would have the kernel reap
  // ctxrun's children. Elsewhere a blocked signal waits for the signalfd whatever its action, and
  // ctxrun leaves the disposition as it found it (nor has the child to set it back).
  bool pid1 = getpid() == 1;
  auto watch = [&](int sig) {
    sigaddset(&regime.watched_, sig);
    if (!pid1 && sigismember(&regime.originally_ignored_, sig) != 1) return;
    sigaddset(&regime.handled_, sig);
    struct sigaction sa {};
    sa.sa_handler = no_op_handler;
    sigfillset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(sig, &sa, nullptr);
  };
  for (int sig : spec.watch)
    if (!spec.respect_ignored || !sigismember(&regime.originally_ignored_, sig)) watch(sig);
  // SIGCHLD must not be SIG_IGN in ctxrun, or the kernel would reap our children for us.
  watch(SIGCHLD);
  for (int sig : spec.ignore) {
    sigaddset(&regime.ignored_here_, sig);
    struct sigaction ign {};
    ign.sa_handler = SIG_IGN;
    sigaction(sig, &ign, nullptr);
  }
  if (sigprocmask(SIG_BLOCK, &regime.watched_, nullptr) != 0) return std::nullopt;
  regime.fd_.reset(signalfd(-1, &regime.watched_, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!regime.fd_) return std::nullopt;
  return regime;
}

void SignalRegime::restore_in_child() const noexcept {
  struct sigaction ign {};
  ign.sa_handler = SIG_IGN;
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  // Handlers are reset by exec anyway; set SIG_DFL first so no handler can run in the child once
  // the mask opens, then give back what was ignored. Only what ctxrun changed is touched.
  for (int sig = 1; sig < NSIG; ++sig) {
    bool changed = sigismember(&handled_, sig) == 1 || sigismember(&ignored_here_, sig) == 1;
    if (sigismember(&child_default_, sig) == 1) sigaction(sig, &dfl, nullptr);
    else if (changed) sigaction(sig, sigismember(&originally_ignored_, sig) == 1 ? &ign : &dfl, nullptr);
  }
  sigprocmask(SIG_SETMASK, &child_mask_, nullptr);
}

void SignalRegime::die_of(int sig) noexcept {
  struct rlimit no_core = {0, 0};
  setrlimit(RLIMIT_CORE, &no_core);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigaction(sig, &dfl, nullptr);
  sigset_t only;
  sigemptyset(&only);
  sigaddset(&only, sig);
  raise(sig);
  sigprocmask(SIG_UNBLOCK, &only, nullptr);
}

}  // namespace ctxrun
