// Parsing and printing of durations, as ctxrun's --timeout and --kill-after take them.
//
// Two grammars are accepted, so users can write what they already know:
//  - Go's time.ParseDuration: one or more <decimal><unit> with unit ns, us, µs, ms, s, m, h
//    ("1h30m", "1.5s", "250ms", "100us", "10ns");
//  - GNU timeout's: a non-negative floating-point number with at most one suffix s, m, h or d,
//    seconds when there is none ("90", "0.5", "2.5m", "1d", "1e3").
// "0" means no deadline, as do "inf" and "infinity". A value too large for a 64-bit nanosecond
// count is also treated as no deadline (GNU timeout does the same); `clamped` says that happened.
// Fractions of a nanosecond round up, so a tiny positive duration never becomes "no deadline".
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <variant>

#include "ctxrun/result.h"

namespace ctxrun {

struct Duration {
  std::chrono::nanoseconds value{0};
  bool infinite = false;  // no deadline: "inf", or a value too large to represent
  bool clamped = false;   // infinite because the written value was too large

  // Zero and infinite durations both mean "no deadline".
  bool unbounded() const noexcept { return infinite || value.count() == 0; }
};

// Parses `text`. On failure returns an error message naming the value, ready to print after "ctxrun: ".
Result<Duration> parse_duration(std::string_view text);

// Formats like Go's Duration.String(): "2s", "1m30s", "1.5s", "250ms", "0s".
std::string format_duration(std::chrono::nanoseconds d);

}  // namespace ctxrun
