// Fuzzes both duration parsers: ctxrun's (duration.h: Go's and GNU's grammars) and the timeout
// personality's (gnu::parse_duration, GNU's grammar through strtod).
//
// Invariants: nothing escapes (a crash, a sanitizer report or an exception fails the run); an
// error is a message naming the value; no text with a NUL byte is a duration (argv cannot hold
// one, but the library takes a string_view); a finite duration is positive or zero, prints with
// format_duration and parses back to the same nanoseconds; and where both parsers read the same
// grammar — digits, at most one '.', at most one suffix s/m/h/d — they agree: ctxrun's exact
// decimal value is GNU's double rounded up to the nanosecond, give or take the double's precision.
#include <locale.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>

#include "check.h"
#include "ctxrun/duration.h"
#include "gnu_parse.h"

namespace {

// Digits with at most one '.' and at least one digit, then at most one suffix.
bool plain_gnu_form(std::string_view s) {
  if (!s.empty() && (s.back() == 's' || s.back() == 'm' || s.back() == 'h' || s.back() == 'd')) s.remove_suffix(1);
  int dots = 0, digits = 0;
  for (char c : s) {
    if (c == '.') ++dots;
    else if (c >= '0' && c <= '9') ++digits;
    else return false;
  }
  return dots <= 1 && digits > 0;
}

void check_ctxrun(std::string_view text) {
  auto parsed = ctxrun::parse_duration(text);
  if (auto* error = std::get_if<std::string>(&parsed)) {
    FUZZ_CHECK(error->starts_with("invalid duration '"), "error '%s'", error->c_str());
    return;
  }
  FUZZ_CHECK(text.find('\0') == std::string_view::npos, "a text with a NUL byte parses");
  auto d = std::get<ctxrun::Duration>(parsed);
  FUZZ_CHECK(!d.clamped || d.infinite, "clamped but finite");
  if (d.infinite) return;
  FUZZ_CHECK(d.value.count() >= 0, "negative: %lld ns", static_cast<long long>(d.value.count()));
  std::string printed = ctxrun::format_duration(d.value);
  auto again = ctxrun::parse_duration(printed);
  FUZZ_CHECK(std::holds_alternative<ctxrun::Duration>(again), "'%s' does not parse back", printed.c_str());
  auto d2 = std::get<ctxrun::Duration>(again);
  FUZZ_CHECK(!d2.infinite && d2.value == d.value, "'%s' parses back as %lld ns, not %lld", printed.c_str(),
             static_cast<long long>(d2.value.count()), static_cast<long long>(d.value.count()));
}

void check_gnu(const std::string& text) {
  auto seconds = ctxrun::gnu::parse_duration(text.c_str());
  if (!seconds) return;
  FUZZ_CHECK(!std::isnan(*seconds) && *seconds >= 0, "'%s' gives %g s", text.c_str(), *seconds);
  timespec ts = ctxrun::gnu::to_timespec(*seconds);
  FUZZ_CHECK(ts.tv_sec >= 0 && ts.tv_nsec >= 0 && ts.tv_nsec < 1000000000, "'%s' gives {%lld, %ld}", text.c_str(),
             static_cast<long long>(ts.tv_sec), ts.tv_nsec);
  if (!plain_gnu_form(text)) return;
  // Both read this grammar: they must agree.
  auto parsed = ctxrun::parse_duration(text);
  FUZZ_CHECK(std::holds_alternative<ctxrun::Duration>(parsed), "GNU takes '%s', ctxrun does not", text.c_str());
  auto d = std::get<ctxrun::Duration>(parsed);
  double gnu_ns = *seconds * 1e9;
  if (d.infinite) {
    FUZZ_CHECK(gnu_ns >= 9.1e18, "ctxrun: '%s' too large; GNU: %g ns", text.c_str(), gnu_ns);
    return;
  }
  auto ns = static_cast<double>(d.value.count());
  FUZZ_CHECK(std::fabs(ns - gnu_ns) <= 1 + 1e-12 * gnu_ns, "'%s': ctxrun %lld ns, GNU %.17g ns", text.c_str(),
             static_cast<long long>(d.value.count()), gnu_ns);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  setlocale(LC_ALL, "C");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  check_ctxrun(text);
  if (text.find('\0') == std::string::npos) check_gnu(text);  // a C string: argv never holds a NUL
  return 0;
}
