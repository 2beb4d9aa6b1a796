#include "gnu_parse.h"

#include <langinfo.h>
#include <locale.h>
#include <signal.h>
#include <strings.h>

#include <cerrno>
#include <cfloat>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <cwchar>
#include <cwctype>
#include <limits>

#include <fmt/format.h>

namespace ctxrun::gnu {
namespace {

// ---------------------------------------------------------------------------------------------
// Signal names, as gnulib's sig2str/str2sig know them: the preferred name of a number first.

struct NumName {
  int number;
  const char* name;
};

// A table, laid out by hand.
// clang-format off
constexpr NumName kSignalNames[] = {
    // POSIX, in traditional numeric order where possible.
    {SIGHUP, "HUP"}, {SIGINT, "INT"}, {SIGQUIT, "QUIT"}, {SIGILL, "ILL"}, {SIGTRAP, "TRAP"},
    {SIGABRT, "ABRT"}, {SIGFPE, "FPE"}, {SIGKILL, "KILL"}, {SIGSEGV, "SEGV"}, {SIGBUS, "BUS"},
    {SIGPIPE, "PIPE"}, {SIGALRM, "ALRM"}, {SIGTERM, "TERM"}, {SIGUSR1, "USR1"}, {SIGUSR2, "USR2"},
    {SIGCHLD, "CHLD"}, {SIGURG, "URG"}, {SIGSTOP, "STOP"}, {SIGTSTP, "TSTP"}, {SIGCONT, "CONT"},
    {SIGTTIN, "TTIN"}, {SIGTTOU, "TTOU"},
    // POSIX XSI.
    {SIGSYS, "SYS"}, {SIGPOLL, "POLL"}, {SIGVTALRM, "VTALRM"}, {SIGPROF, "PROF"}, {SIGXCPU, "XCPU"},
    {SIGXFSZ, "XFSZ"},
    // Older names and Linux's own.
    {SIGIOT, "IOT"}, {SIGCLD, "CLD"}, {SIGPWR, "PWR"}, {SIGWINCH, "WINCH"}, {SIGIO, "IO"},
    {SIGSTKFLT, "STKFLT"},
    // The shells' name for 0.
    {0, "EXIT"},
};
// clang-format on

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// str2sig: a name from the table, RTMIN[+N] / RTMAX[-N] (N as strtol reads it), or a plain number
// up to the highest signal number.
int str2signum(const char* name) {
  char* end = nullptr;
  if (is_digit(*name)) {
    long n = std::strtol(name, &end, 10);
    return *end == '\0' && n <= NSIG - 1 ? static_cast<int>(n) : -1;
  }
  for (const auto& entry : kSignalNames)
    if (std::strcmp(entry.name, name) == 0) return entry.number;
  int rtmin = SIGRTMIN, rtmax = SIGRTMAX;
  if (0 < rtmin && std::strncmp(name, "RTMIN", 5) == 0) {
    long n = std::strtol(name + 5, &end, 10);
    if (*end == '\0' && 0 <= n && n <= rtmax - rtmin) return rtmin + static_cast<int>(n);
  } else if (0 < rtmax && std::strncmp(name, "RTMAX", 5) == 0) {
    long n = std::strtol(name + 5, &end, 10);
    if (*end == '\0' && rtmin - rtmax <= n && n <= 0) return rtmax + static_cast<int>(n);
  }
  return -1;
}

}  // namespace

std::optional<double> parse_duration(const char* text) {
  // cl_strtod: the current locale's strtod, or the C locale's if that reads further.
  char* end = nullptr;
  errno = 0;
  double seconds = std::strtod(text, &end);
  if (*end != '\0') {
    int locale_errno = errno;
    static locale_t c_locale = newlocale(LC_ALL_MASK, "C", nullptr);
    char* c_end = nullptr;
    double c_seconds = c_locale ? strtod_l(text, &c_end, c_locale) : 0;
    if (c_locale && end < c_end) {
      seconds = c_seconds;
      end = c_end;
    } else {
      errno = locale_errno;
    }
  }
  bool underflow = errno == ERANGE && seconds == 0;
  if (end == text || !(0 <= seconds) || (*end != '\0' && end[1] != '\0')) return std::nullopt;
  double multiplier;
  switch (*end) {
    case '\0':
    case 's': multiplier = 1; break;
    case 'm': multiplier = 60; break;
    case 'h': multiplier = 60 * 60; break;
    case 'd': multiplier = 60 * 60 * 24; break;
    default: return std::nullopt;
  }
  // Newer coreutils (dtimespec_bound): a positive value too small for a double is not 0, which
  // would mean "no timeout"; 9.1 takes it as 0.
  if (underflow) seconds = DBL_TRUE_MIN;
  return seconds * multiplier;
}

timespec to_timespec(double seconds) noexcept {
  constexpr time_t kMin = std::numeric_limits<time_t>::min();
  constexpr time_t kMax = std::numeric_limits<time_t>::max();
  constexpr long kHz = 1000000000;
  if (!(static_cast<double>(kMin) < seconds)) return {kMin, 0};
  if (!(seconds < 1.0 + static_cast<double>(kMax))) return {kMax, kHz - 1};
  auto s = static_cast<time_t>(seconds);
  double fraction = static_cast<double>(kHz) * (seconds - static_cast<double>(s));
  auto ns = static_cast<long>(fraction);
  ns += static_cast<double>(ns) < fraction;  // round up
  s += ns / kHz;
  ns %= kHz;
  if (ns < 0) {
    --s;
    ns += kHz;
  }
  return {s, ns};
}

std::optional<int> parse_signal(const char* text) {
  int sig;
  if (is_digit(*text)) {
    // A number, or a shell's status for a signal: 128+N, or ksh's 256+N.
    char* end = nullptr;
    errno = 0;
    long n = std::strtol(text, &end, 10);
    auto i = static_cast<int>(n);
    sig = end == text || *end != '\0' || errno != 0 || i != n ? -1 : i;
    if (sig != -1) sig &= sig >= 0xFF ? 0xFF : 0x7F;
  } else {
    std::string upper(text);
    for (char& ch : upper)
      if (ch >= 'a' && ch <= 'z') ch = static_cast<char>(ch - 'a' + 'A');
    sig = str2signum(upper.c_str());
    if (sig < 0 && upper.compare(0, 3, "SIG") == 0) sig = str2signum(upper.c_str() + 3);
  }
  if (sig < 0 || !signal_name(sig)) return std::nullopt;
  return sig;
}

std::optional<std::string> signal_name(int sig) {
  for (const auto& entry : kSignalNames)
    if (entry.number == sig) return entry.name;
  int rtmin = SIGRTMIN, rtmax = SIGRTMAX;
  if (!(rtmin <= sig && sig <= rtmax)) return std::nullopt;
  if (sig <= rtmin + (rtmax - rtmin) / 2) {
    int delta = sig - rtmin;
    return delta ? fmt::format("RTMIN+{}", delta) : std::string("RTMIN");
  }
  int delta = rtmax - sig;
  return delta ? fmt::format("RTMAX-{}", delta) : std::string("RTMAX");
}

std::string quote(std::string_view arg) {
  // gnulib's gettext_quote: curly quotes where the charset is UTF-8.
  bool utf8 = strcasecmp(nl_langinfo(CODESET), "UTF-8") == 0;
  std::string_view open = utf8 ? "\u2018" : "'";
  std::string_view close = utf8 ? "\u2019" : "'";
  bool multibyte = MB_CUR_MAX > 1;
  std::string out(open);
  auto octal = [&out](unsigned char c) {
    out += '\\';
    out += static_cast<char>('0' + (c >> 6));
    out += static_cast<char>('0' + ((c >> 3) & 7));
    out += static_cast<char>('0' + (c & 7));
  };
  std::size_t i = 0;
  while (i < arg.size()) {
    if (arg.substr(i).starts_with(close)) out += '\\';  // the closing quote inside: \' or \’
    auto c = static_cast<unsigned char>(arg[i]);
    const char* escape = nullptr;
    switch (c) {
      case '\a': escape = "\\a"; break;
      case '\b': escape = "\\b"; break;
      case '\f': escape = "\\f"; break;
      case '\n': escape = "\\n"; break;
      case '\r': escape = "\\r"; break;
      case '\t': escape = "\\t"; break;
      case '\v': escape = "\\v"; break;
      case '\\': escape = "\\\\"; break;
      default: break;
    }
    if (escape) {
      out += escape;
      ++i;
      continue;
    }
    if (c < 0x80 || !multibyte) {
      if (c >= 0x20 && c < 0x7f) out += static_cast<char>(c);
      else octal(c);
      ++i;
      continue;
    }
    // A multibyte character: kept if valid and printable; else each of its bytes in octal (an
    // invalid byte alone; an incomplete sequence to the end of the string).
    std::mbstate_t state{};
    wchar_t wc = 0;
    std::size_t n = std::mbrtowc(&wc, arg.data() + i, arg.size() - i, &state);
    if (n == static_cast<std::size_t>(-1)) n = 1;
    else if (n == static_cast<std::size_t>(-2)) n = arg.size() - i;
    else if (n != 0 && std::iswprint(static_cast<wint_t>(wc))) {
      out.append(arg.substr(i, n));
      i += n;
      continue;
    }
    if (n == 0) n = 1;
    for (std::size_t k = 0; k < n; ++k) octal(static_cast<unsigned char>(arg[i + k]));
    i += n;
  }
  out += close;
  return out;
}

}  // namespace ctxrun::gnu
