#include "ctxrun/signals.h"

#include <fmt/format.h>
#include <sys/resource.h>
#include <sys/signalfd.h>

#include <cerrno>
#include <cstring>

namespace ctxrun {
namespace {

struct NamedSignal {
  const char* name;
  int number;
};

// The names GNU coreutils and Go know on Linux. Numbers come from the C library's headers.
constexpr NamedSignal kNames[] = {
    {"HUP", SIGHUP},       {"INT", SIGINT},       {"QUIT", SIGQUIT},     {"ILL", SIGILL},
    {"TRAP", SIGTRAP},     {"ABRT", SIGABRT},     {"IOT", SIGIOT},       {"BUS", SIGBUS},
    {"FPE", SIGFPE},       {"KILL", SIGKILL},     {"USR1", SIGUSR1},     {"SEGV", SIGSEGV},
    {"USR2", SIGUSR2},     {"PIPE", SIGPIPE},     {"ALRM", SIGALRM},     {"TERM", SIGTERM},
    {"STKFLT", SIGSTKFLT}, {"CHLD", SIGCHLD},     {"CLD", SIGCHLD},      {"CONT", SIGCONT},
    {"STOP", SIGSTOP},     {"TSTP", SIGTSTP},     {"TTIN", SIGTTIN},     {"TTOU", SIGTTOU},
    {"URG", SIGURG},       {"XCPU", SIGXCPU},     {"XFSZ", SIGXFSZ},     {"VTALRM", SIGVTALRM},
    {"PROF", SIGPROF},     {"WINCH", SIGWINCH},   {"POLL", SIGPOLL},     {"IO", SIGIO},
    {"PWR", SIGPWR},       {"SYS", SIGSYS},
};

char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// ASCII case-insensitive (not c | 0x20, which would also match "USR\x11" with "USR1").
bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  return true;
}

// Parses a whole non-negative decimal number of at most 4 digits; -1 if it is not one.
int small_number(std::string_view s) {
  if (s.empty() || s.size() > 4) return -1;
  int v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0');
  }
  return v;
}

}  // namespace

std::variant<int, std::string> parse_signal(std::string_view text) {
  auto bad = [&] { return fmt::format("invalid signal '{}'", text); };
  std::string_view name = text;
  if (name.size() > 3 && iequals(name.substr(0, 3), "SIG")) name.remove_prefix(3);
  // A number: "15", or "SIG32" as signal_name() prints a signal with no name.
  if (int n = small_number(name); n >= 0) {
    if (n < 1 || n > SIGRTMAX) return bad();
    return n;
  }
  for (const auto& entry : kNames)
    if (iequals(name, entry.name)) return entry.number;
  // Real-time signals: RTMIN, RTMIN+n, RTMAX, RTMAX-n, within [SIGRTMIN, SIGRTMAX].
  for (auto [prefix, base, sign] : {std::tuple{"RTMIN", SIGRTMIN, 1}, std::tuple{"RTMAX", SIGRTMAX, -1}}) {
    if (name.size() < 5 || !iequals(name.substr(0, 5), prefix)) continue;
    std::string_view rest = name.substr(5);
    if (rest.empty()) return base;
    if (rest[0] != (sign > 0 ? '+' : '-')) return bad();
    int n = small_number(rest.substr(1));
    int sig = base + sign * n;
    if (n < 0 || sig < SIGRTMIN || sig > SIGRTMAX) return bad();
    return sig;
  }
  return bad();
}

std::string signal_name(int sig) {
  for (const auto& entry : kNames)
    if (entry.number == sig) return fmt::format("SIG{}", entry.name);
  if (sig == SIGRTMIN) return "SIGRTMIN";
  if (sig == SIGRTMAX) return "SIGRTMAX";
  if (sig > SIGRTMIN && sig < SIGRTMAX) return fmt::format("SIGRTMIN+{}", sig - SIGRTMIN);
  return fmt::format("SIG{}", sig);
}

namespace {
void no_op_handler(int) {}
}  // namespace

std::optional<SignalRegime> SignalRegime::install(const SignalSpec& spec) noexcept {
  SignalRegime regime;
  sigemptyset(&regime.originally_ignored_);
  sigemptyset(&regime.watched_);
  sigemptyset(&regime.child_default_);
  sigemptyset(&regime.ignored_here_);
  if (sigprocmask(SIG_SETMASK, nullptr, &regime.original_mask_) != 0) return std::nullopt;
  regime.child_mask_ = regime.original_mask_;
  for (int sig : spec.unblock_in_child) sigdelset(&regime.child_mask_, sig);
  for (int sig : spec.default_in_child) sigaddset(&regime.child_default_, sig);
  for (int sig = 1; sig < NSIG; ++sig) {
    struct sigaction old {};
    if (sigaction(sig, nullptr, &old) == 0 && old.sa_handler == SIG_IGN)
      sigaddset(&regime.originally_ignored_, sig);
  }
  auto watch = [&](int sig) {
    sigaddset(&regime.watched_, sig);
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
  // the mask opens, then give back what was ignored.
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sigismember(&child_default_, sig) == 1) sigaction(sig, &dfl, nullptr);
    else if (sigismember(&originally_ignored_, sig) == 1) sigaction(sig, &ign, nullptr);
    else if (sigismember(&watched_, sig) == 1 || sigismember(&ignored_here_, sig) == 1) sigaction(sig, &dfl, nullptr);
  }
  sigprocmask(SIG_SETMASK, &child_mask_, nullptr);
}

void SignalRegime::die_of(int sig) noexcept {
  struct rlimit no_core {0, 0};
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
