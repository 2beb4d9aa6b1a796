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
    {"HUP", SIGHUP},   {"INT", SIGINT},       {"QUIT", SIGQUIT},     {"ILL", SIGILL},   {"TRAP", SIGTRAP},
    {"ABRT", SIGABRT}, {"IOT", SIGIOT},       {"BUS", SIGBUS},       {"FPE", SIGFPE},   {"KILL", SIGKILL},
    {"USR1", SIGUSR1}, {"SEGV", SIGSEGV},     {"USR2", SIGUSR2},     {"PIPE", SIGPIPE}, {"ALRM", SIGALRM},
    {"TERM", SIGTERM}, {"STKFLT", SIGSTKFLT}, {"CHLD", SIGCHLD},     {"CLD", SIGCHLD},  {"CONT", SIGCONT},
    {"STOP", SIGSTOP}, {"TSTP", SIGTSTP},     {"TTIN", SIGTTIN},     {"TTOU", SIGTTOU}, {"URG", SIGURG},
    {"XCPU", SIGXCPU}, {"XFSZ", SIGXFSZ},     {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH},
    {"POLL", SIGPOLL}, {"IO", SIGIO},         {"PWR", SIGPWR},       {"SYS", SIGSYS},
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

}  // namespace ctxrun
