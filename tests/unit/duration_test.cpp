// parse_duration and format_duration (include/ctxrun/duration.h).
#include "ctxrun/duration.h"

#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <string>
#include <string_view>
#include <variant>

using namespace std::chrono_literals;
using ctxrun::Duration;
using ctxrun::format_duration;
using ctxrun::parse_duration;

namespace {

constexpr std::int64_t ns(std::chrono::nanoseconds d) { return d.count(); }

// Parses `text`, which must be accepted (a failed check and -1ns if not).
Duration accepted(std::string_view text) {
  INFO("input: '", std::string(text), "'");
  auto r = parse_duration(text);
  if (auto* error = std::get_if<std::string>(&r)) {
    FAIL_CHECK("rejected: ", *error);
    return Duration{.value = std::chrono::nanoseconds(-1)};
  }
  return std::get<Duration>(r);
}

// Parses `text`, which must be a finite duration; returns it in nanoseconds.
std::int64_t finite(std::string_view text) {
  Duration d = accepted(text);
  INFO("input: '", std::string(text), "'");
  CHECK_FALSE(d.infinite);
  CHECK_FALSE(d.clamped);
  return d.value.count();
}

// Parses `text`, which must be rejected; returns the message.
std::string rejected(std::string_view text) {
  INFO("input: '", std::string(text), "'");
  auto r = parse_duration(text);
  if (auto* d = std::get_if<Duration>(&r)) {
    FAIL_CHECK("accepted as ", d->value.count(), "ns, infinite=", d->infinite);
    return "(accepted)";
  }
  return std::get<std::string>(r);
}

}  // namespace

TEST_CASE("parse_duration: Go syntax, single components") {
  CHECK(finite("1.5s") == ns(1500ms));
  CHECK(finite("250ms") == ns(250ms));
  CHECK(finite("100us") == ns(100us));
  CHECK(finite("100\xC2\xB5s") == ns(100us));  // U+00B5 MICRO SIGN, as Go writes it
  CHECK(finite("100\xCE\xBCs") == ns(100us));  // U+03BC GREEK SMALL LETTER MU, which Go accepts too
  CHECK(finite("10ns") == 10);
  CHECK(finite(".5s") == ns(500ms));
  CHECK(finite("1.s") == ns(1s));
  CHECK(finite("1.5ms") == 1'500'000);
  CHECK(finite("2.5us") == 2'500);
  CHECK(finite("1.5h") == ns(90min));
  CHECK(finite("0.5m") == ns(30s));
}

TEST_CASE("parse_duration: Go syntax, several components") {
  CHECK(finite("1h30m") == ns(90min));
  CHECK(finite("2h3m4.5s") == ns(2h + 3min + 4500ms));
  CHECK(finite("1h2m3s4ms5us6ns") == ns(1h + 2min + 3s + 4ms + 5us + 6ns));
  CHECK(finite("1m30s") == ns(90s));
  CHECK(finite("1s500ms") == ns(1500ms));
  CHECK(finite("1.5m0.5s") == ns(90500ms));
  CHECK(finite("3s3s") == ns(6s));  // Go sums repeated units
}

TEST_CASE("parse_duration: GNU timeout syntax") {
  CHECK(finite("90") == ns(90s));
  CHECK(finite("0.5") == ns(500ms));
  CHECK(finite("2.5m") == ns(150s));
  CHECK(finite("1d") == ns(24h));
  CHECK(finite("1.5d") == ns(36h));
  CHECK(finite("2h") == ns(2h));
  CHECK(finite("45s") == ns(45s));
  CHECK(finite("1e3") == ns(1000s));
  CHECK(finite("1.5e2s") == ns(150s));
  CHECK(finite("25e-3") == ns(25ms));
  CHECK(finite("1e-10") == 1);  // 0.1ns rounds up: a tiny positive duration is never "no deadline"
  // strtod accepts a trailing '.', and so does GNU timeout: "1." is one second.
  CHECK(finite("1.") == ns(1s));
}

TEST_CASE("parse_duration: decimal values are exact, fractions of a nanosecond round up") {
  // Regressions: through a double these came out one nanosecond too long.
  CHECK(finite("0.067") == ns(67ms));
  CHECK(finite("0.253ms") == 253'000);
  CHECK(finite("1.000000001") == 1'000'000'001);
  CHECK(finite("0.000000007") == 7);
  CHECK(finite("7e-9") == 7);
  CHECK(finite("0.3ms") == 300'000);
  CHECK(finite("1.7m") == ns(102s));
  CHECK(finite("1.3h") == ns(78min));
  // Sub-nanosecond parts round up.
  CHECK(finite("1.5ns") == 2);
  CHECK(finite("0.1ns") == 1);
  CHECK(finite("1.0000000001") == 1'000'000'001);
  CHECK(finite("0.0000000000000000000000000000000000000001") == 1);
  // Regression: strtod underflows this to zero, which would have meant "no deadline".
  CHECK(finite("1e-400") == 1);
}

TEST_CASE("parse_duration: zero means unbounded, but is not infinite") {
  for (const char* text : {"0", "0s", "0.0", "0ms", "0h0m", "0d", "0e5", "00"}) {
    CAPTURE(text);
    Duration d = accepted(text);
    CHECK(d.value.count() == 0);
    CHECK_FALSE(d.infinite);
    CHECK_FALSE(d.clamped);
    CHECK(d.unbounded());
  }
  CHECK_FALSE(accepted("1ns").unbounded());
}

TEST_CASE("parse_duration: inf and infinity, any case, are unbounded and not clamped") {
  for (const char* text : {"inf", "infinity", "INF", "Inf", "INFINITY", "Infinity"}) {
    CAPTURE(text);
    Duration d = accepted(text);
    CHECK(d.infinite);
    CHECK_FALSE(d.clamped);
    CHECK(d.unbounded());
  }
}

TEST_CASE("parse_duration: values too large for 64-bit nanoseconds are infinite and clamped") {
  for (const char* text : {"1e30", "999999999999d", "1e400", "9223372036", "2562048h", "99999999999999999999ns",
                           "153722868m", "1e10s", "2000000h2000000h"}) {
    CAPTURE(text);
    Duration d = accepted(text);
    CHECK(d.infinite);
    CHECK(d.clamped);
    CHECK(d.unbounded());
  }
  // Just below the limit (9.2e18 ns) stays finite and exact.
  CHECK(finite("2555555h") == 2'555'555LL * 3'600'000'000'000LL);
  CHECK(finite("9199999999") == 9'199'999'999'000'000'000LL);
}

TEST_CASE("parse_duration: rejects what is neither grammar, naming the value") {
  for (const char* text :
       {"-1",   "+1", " 1",    "1 ",     "5x",   "1ms5", "nan", "NaN",   "nans",  "s",      "ms",   ".",
        "..",   ".s", "1..5s", "1.5.5s", "1h30", "-1s",  "+1s", "1e3ms", "1 s",   "1,5s",   "1sec", "infinite",
        "-inf", "1S", "1H",    "1Ms",    "1e",   "e3",   "0x",  "5mm",   "1h-1m", "1\xC2s", "\t1",  "1\n"}) {
    CAPTURE(text);
    CHECK(rejected(text) == "invalid duration '" + std::string(text) + "'");
  }
  CHECK(rejected("") == "invalid duration '' (empty)");
}

TEST_CASE("parse_duration: no white space before a sign, no NUL byte (found by fuzz_duration)") {
  // strtod skips \v, \f and \r too, then takes the sign: "\r-92" was a timeout of -92 s.
  for (const char* text : {"\r-92", "\v-1", "\f1", "\r1", "\v+5s"}) {
    CAPTURE(text);
    CHECK(rejected(text) == "invalid duration '" + std::string(text) + "'");
  }
  // A string_view may hold a NUL: what follows it is not the end of the value.
  CHECK(std::holds_alternative<std::string>(ctxrun::parse_duration(std::string_view("1\0x", 3))));
  CHECK(std::holds_alternative<std::string>(ctxrun::parse_duration(std::string_view("1\0", 2))));
}

TEST_CASE("format_duration: like Go's Duration.String") {
  CHECK(format_duration(0ns) == "0s");
  CHECK(format_duration(1ns) == "1ns");
  CHECK(format_duration(999ns) == "999ns");
  CHECK(format_duration(1us) == "1us");
  CHECK(format_duration(1500ns) == "1.5us");
  CHECK(format_duration(1001ns) == "1.001us");
  CHECK(format_duration(250ms) == "250ms");
  CHECK(format_duration(1500us) == "1.5ms");
  CHECK(format_duration(1'000'001ns) == "1.000001ms");
  CHECK(format_duration(1s) == "1s");
  CHECK(format_duration(1500ms) == "1.5s");
  CHECK(format_duration(1'000'000'001ns) == "1.000000001s");
  CHECK(format_duration(59s) == "59s");
  CHECK(format_duration(60s) == "1m0s");
  CHECK(format_duration(90s) == "1m30s");
  CHECK(format_duration(1h) == "1h0m0s");
  CHECK(format_duration(2h + 3min + 4500ms) == "2h3m4.5s");
  CHECK(format_duration(100h) == "100h0m0s");
  CHECK(format_duration(-1500ms) == "-1.5s");
  CHECK(format_duration(-1ns) == "-1ns");
  CHECK(format_duration(std::chrono::nanoseconds::max()) == "2562047h47m16.854775807s");
  CHECK(format_duration(std::chrono::nanoseconds::min()) == "-2562047h47m16.854775808s");
}

TEST_CASE("format_duration output parses back to the same duration") {
  for (std::chrono::nanoseconds d :
       std::initializer_list<std::chrono::nanoseconds>{1ns, 999ns, 1500ns, 250ms, 1'000'001ns, 1s, 1500ms, 90s, 1h,
                                                       2h + 3min + 4500ms, 1'000'000'001ns, 100h + 1ns}) {
    std::string text = format_duration(d);
    CAPTURE(text);
    CHECK(finite(text) == d.count());
  }
}
