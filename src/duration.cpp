#include "ctxrun/duration.h"

#include <fmt/format.h>

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>

namespace ctxrun {
namespace {

constexpr double kMaxNanos = 9.2e18;  // just under INT64_MAX: beyond it, "no deadline"

std::string invalid(std::string_view text) { return fmt::format("invalid duration '{}'", text); }

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Seconds (possibly huge or fractional) to a Duration; rounds partial nanoseconds up.
Duration from_seconds(double seconds) {
  if (std::isinf(seconds)) return Duration{.infinite = true};
  double nanos = std::ceil(seconds * 1e9);
  if (nanos >= kMaxNanos) return Duration{.infinite = true, .clamped = true};
  return Duration{.value = std::chrono::nanoseconds(static_cast<std::int64_t>(nanos))};
}

// GNU timeout's grammar: strtod's number, then at most one of s/m/h/d.
std::variant<Duration, std::string> parse_gnu(std::string_view text) {
  std::string s(text);
  if (s.empty() || s[0] == ' ' || s[0] == '\t' || s[0] == '\n' || s[0] == '+' || s[0] == '-')
    return invalid(text);
  char* end = nullptr;
  errno = 0;
  double value = std::strtod(s.c_str(), &end);
  if (end == s.c_str() || std::isnan(value)) return invalid(text);
  // ERANGE on overflow gives HUGE_VAL: "too large" means no deadline, as in GNU.
  std::string_view rest(end);
  double scale = 1;
  if (rest.size() > 1) return invalid(text);
  if (rest.size() == 1) {
    switch (rest[0]) {
      case 's': scale = 1; break;
      case 'm': scale = 60; break;
      case 'h': scale = 3600; break;
      case 'd': scale = 86400; break;
      default: return invalid(text);
    }
  }
  Duration d = from_seconds(value * scale);
  if (errno == ERANGE && value > 1) d.clamped = true;
  return d;
}

// Go's time.ParseDuration grammar, without sign: ([0-9]*(\.[0-9]*)?unit)+.
std::variant<Duration, std::string> parse_go(std::string_view text) {
  long double total_ns = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t start = i;
    while (i < text.size() && is_digit(text[i])) ++i;
    bool int_digits = i > start;
    std::size_t frac_start = i;
    if (i < text.size() && text[i] == '.') {
      ++i;
      while (i < text.size() && is_digit(text[i])) ++i;
    }
    bool frac_digits = i > frac_start + 1;
    if (!int_digits && !frac_digits) return invalid(text);
    long double number = std::strtold(std::string(text.substr(start, i - start)).c_str(), nullptr);
    std::size_t unit_start = i;
    while (i < text.size() && !is_digit(text[i]) && text[i] != '.') ++i;
    std::string_view unit = text.substr(unit_start, i - unit_start);
    long double scale;
    if (unit == "ns") scale = 1;
    else if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs") scale = 1e3L;
    else if (unit == "ms") scale = 1e6L;
    else if (unit == "s") scale = 1e9L;
    else if (unit == "m") scale = 60e9L;
    else if (unit == "h") scale = 3600e9L;
    else return invalid(text);
    total_ns += number * scale;
  }
  long double rounded = std::ceil(total_ns);
  if (rounded >= kMaxNanos) return Duration{.infinite = true, .clamped = true};
  return Duration{.value = std::chrono::nanoseconds(static_cast<std::int64_t>(rounded))};
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if ((a[i] | 0x20) != (b[i] | 0x20)) return false;
  return true;
}

}  // namespace

std::variant<Duration, std::string> parse_duration(std::string_view text) {
  if (text.empty()) return std::string("invalid duration '' (empty)");
  if (iequals(text, "inf") || iequals(text, "infinity")) return Duration{.infinite = true};
  // A GNU form is a number with at most one trailing letter; everything else must be Go's.
  auto gnu = parse_gnu(text);
  if (std::holds_alternative<Duration>(gnu)) return gnu;
  return parse_go(text);
}

std::string format_duration(std::chrono::nanoseconds d) {
  std::int64_t ns = d.count();
  if (ns == 0) return "0s";
  std::string sign = ns < 0 ? "-" : "";
  std::uint64_t u = ns < 0 ? static_cast<std::uint64_t>(-(ns + 1)) + 1 : static_cast<std::uint64_t>(ns);
  auto trim = [](std::string frac) {
    while (!frac.empty() && frac.back() == '0') frac.pop_back();
    return frac.empty() ? frac : "." + frac;
  };
  if (u < 1000) return fmt::format("{}{}ns", sign, u);
  if (u < 1000000) return fmt::format("{}{}{}us", sign, u / 1000, trim(fmt::format("{:03}", u % 1000)));
  if (u < 1000000000)
    return fmt::format("{}{}{}ms", sign, u / 1000000, trim(fmt::format("{:06}", u % 1000000)));
  std::uint64_t secs = u / 1000000000;
  std::string frac = trim(fmt::format("{:09}", u % 1000000000));
  std::uint64_t h = secs / 3600, m = (secs / 60) % 60, s = secs % 60;
  if (h > 0) return fmt::format("{}{}h{}m{}{}s", sign, h, m, s, frac);
  if (m > 0) return fmt::format("{}{}m{}{}s", sign, m, s, frac);
  return fmt::format("{}{}{}s", sign, s, frac);
}

}  // namespace ctxrun
