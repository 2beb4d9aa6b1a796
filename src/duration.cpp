#include "ctxrun/duration.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>

namespace ctxrun {
namespace {

constexpr double kMaxNanos = 9.2e18;  // just under INT64_MAX: beyond it, "no deadline"
constexpr std::int64_t kMaxNanosInt = 9'200'000'000'000'000'000;

std::string invalid(std::string_view text) { return fmt::format("invalid duration '{}'", text); }

bool is_digit(char c) { return c >= '0' && c <= '9'; }

using u128 = unsigned __int128;

// A decimal number as written, exactly: int(digits) * 10^exp10.
struct Decimal {
  std::string digits;  // significant digits, without leading zeros
  long exp10 = 0;
};

// Reads [digits][.digits] at `pos` (no sign, no exponent) into `d`; advances pos. False if there
// is no digit at all.
bool read_decimal(std::string_view s, std::size_t& pos, Decimal& d) {
  bool any = false;
  while (pos < s.size() && is_digit(s[pos])) {
    if (!d.digits.empty() || s[pos] != '0') d.digits += s[pos];
    any = true;
    ++pos;
  }
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    while (pos < s.size() && is_digit(s[pos])) {
      if (!d.digits.empty() || s[pos] != '0') d.digits += s[pos];
      --d.exp10;
      any = true;
      ++pos;
    }
  }
  return any;
}

// `d` units of `unit_ns` nanoseconds, exactly, with fractions of a nanosecond rounded up.
// Returns false (too large) when the result is kMaxNanosInt or more.
bool decimal_to_nanos(Decimal d, std::int64_t unit_ns, std::int64_t& nanos) {
  while (!d.digits.empty() && d.digits.back() == '0') {
    d.digits.pop_back();
    ++d.exp10;
  }
  nanos = 0;
  if (d.digits.empty()) return true;  // zero
  // Multiply the digits by the unit, in decimal: value = product * 10^exp10, exactly.
  std::string product(d.digits.size(), '0');
  u128 carry = 0;
  for (std::size_t i = d.digits.size(); i-- > 0;) {
    u128 v = static_cast<u128>(d.digits[i] - '0') * static_cast<u128>(unit_ns) + carry;
    product[i] = static_cast<char>('0' + static_cast<int>(v % 10));
    carry = v / 10;
  }
  std::string high;
  while (carry > 0) {
    high.insert(high.begin(), static_cast<char>('0' + static_cast<int>(carry % 10)));
    carry /= 10;
  }
  product.insert(0, high);
  product.erase(0, std::min(product.find_first_not_of('0'), product.size()));
  // Split at the decimal point: whole nanoseconds, then whether a fraction of one is left.
  std::size_t whole_digits;
  bool fraction = false;
  if (d.exp10 >= 0) {
    if (static_cast<long>(product.size()) + d.exp10 > 20) return false;  // >= 10^20 ns
    product.append(static_cast<std::size_t>(d.exp10), '0');
    whole_digits = product.size();
  } else {
    auto frac_digits = static_cast<std::size_t>(-d.exp10);
    whole_digits = product.size() > frac_digits ? product.size() - frac_digits : 0;
    fraction = product.find_first_not_of('0', whole_digits) != std::string::npos;
    if (whole_digits > 20) return false;
  }
  u128 result = 0;
  for (std::size_t i = 0; i < whole_digits; ++i) result = result * 10 + static_cast<unsigned>(product[i] - '0');
  if (fraction) ++result;
  if (result >= static_cast<u128>(kMaxNanosInt)) return false;
  nanos = static_cast<std::int64_t>(result);
  return true;
}

// Whether strtod's number `num` is in plain decimal notation: [digits][.digits][(e|E)[+|-]digits].
// Reads it into `d` if so (hexadecimal, "inf" and the like are not).
bool plain_decimal(std::string_view num, Decimal& d) {
  std::size_t pos = 0;
  if (!read_decimal(num, pos, d)) return false;
  if (pos < num.size() && (num[pos] == 'e' || num[pos] == 'E')) {
    ++pos;
    bool negative = pos < num.size() && num[pos] == '-';
    if (pos < num.size() && (num[pos] == '+' || num[pos] == '-')) ++pos;
    if (pos >= num.size()) return false;
    long e = 0;
    while (pos < num.size() && is_digit(num[pos])) {
      if (e < 1'000'000) e = e * 10 + (num[pos] - '0');  // far beyond any representable value
      ++pos;
    }
    d.exp10 += negative ? -e : e;
  }
  return pos == num.size();
}

// Seconds (possibly huge or fractional) to a Duration; rounds partial nanoseconds up.
Duration from_seconds(double seconds) {
  if (std::isinf(seconds)) return Duration{.infinite = true};
  double nanos = seconds * 1e9;
  if (nanos >= kMaxNanos) return Duration{.infinite = true, .clamped = true};
  // Rounded up without std::ceil, which an -Os build would take from libm at every start.
  auto whole = static_cast<std::int64_t>(nanos);  // toward zero: up already for a negative value
  if (static_cast<double>(whole) < nanos) ++whole;
  return Duration{.value = std::chrono::nanoseconds(whole)};
}

// GNU timeout's grammar: strtod's number, then at most one of s/m/h/d.
std::variant<Duration, std::string> parse_gnu(std::string_view text) {
  std::string s(text);
  // strtod would skip any leading white space (" \t\n\v\f\r") and then take a sign: "\r-92" was -92 s.
  if (s.empty() || std::strchr(" \t\n\v\f\r+-", s[0])) return invalid(text);
  char* end = nullptr;
  errno = 0;
  double value = std::strtod(s.c_str(), &end);
  if (end == s.c_str() || std::isnan(value)) return invalid(text);
  // ERANGE on overflow gives HUGE_VAL: "too large" means no deadline, as in GNU.
  std::string_view rest(end, static_cast<std::size_t>(s.c_str() + s.size() - end));  // a NUL is not an end
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
  Decimal decimal;
  if (plain_decimal(std::string_view(s.c_str(), static_cast<std::size_t>(end - s.c_str())), decimal)) {
    // Exact decimal arithmetic: a double would make "0.067" 67000001ns and "1e-400" zero.
    std::int64_t nanos = 0;
    if (!decimal_to_nanos(decimal, static_cast<std::int64_t>(scale) * 1'000'000'000, nanos))
      return Duration{.infinite = true, .clamped = true};
    return Duration{.value = std::chrono::nanoseconds(nanos)};
  }
  // Hexadecimal or infinity, as strtod reads them.
  Duration d = from_seconds(value * scale);
  if (errno == ERANGE && value > 1) d.clamped = true;
  return d;
}

// Go's time.ParseDuration grammar, without sign: ([0-9]*(\.[0-9]*)?unit)+.
// Each component is exact; a fraction of a nanosecond rounds up.
std::variant<Duration, std::string> parse_go(std::string_view text) {
  std::int64_t total_ns = 0;
  bool too_large = false;
  std::size_t i = 0;
  while (i < text.size()) {
    Decimal number;
    if (!read_decimal(text, i, number)) return invalid(text);
    std::size_t unit_start = i;
    while (i < text.size() && !is_digit(text[i]) && text[i] != '.') ++i;
    std::string_view unit = text.substr(unit_start, i - unit_start);
    std::int64_t unit_ns;
    if (unit == "ns") unit_ns = 1;
    else if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs") unit_ns = 1'000;
    else if (unit == "ms") unit_ns = 1'000'000;
    else if (unit == "s") unit_ns = 1'000'000'000;
    else if (unit == "m") unit_ns = 60'000'000'000;
    else if (unit == "h") unit_ns = 3'600'000'000'000;
    else return invalid(text);
    std::int64_t ns = 0;
    if (too_large || !decimal_to_nanos(std::move(number), unit_ns, ns) || ns >= kMaxNanosInt - total_ns)
      too_large = true;  // keep checking the syntax of the rest
    else total_ns += ns;
  }
  if (too_large) return Duration{.infinite = true, .clamped = true};
  return Duration{.value = std::chrono::nanoseconds(total_ns)};
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
  if (u < 1000000000) return fmt::format("{}{}{}ms", sign, u / 1000000, trim(fmt::format("{:06}", u % 1000000)));
  std::uint64_t secs = u / 1000000000;
  std::string frac = trim(fmt::format("{:09}", u % 1000000000));
  std::uint64_t h = secs / 3600, m = (secs / 60) % 60, s = secs % 60;
  if (h > 0) return fmt::format("{}{}h{}m{}{}s", sign, h, m, s, frac);
  if (m > 0) return fmt::format("{}{}m{}{}s", sign, m, s, frac);
  return fmt::format("{}{}{}s", sign, s, frac);
}

}  // namespace ctxrun
