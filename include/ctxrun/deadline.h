// Parsing and printing of absolute deadlines (--deadline, CTXRUN_DEADLINE).
//
// Accepted forms:
//  - RFC 3339: "2026-11-25T17:00:00Z", "2026-11-25T17:00:00.250+01:00" (the T may be a space or t,
//    the Z may be z; a zone is required, since a deadline without one is ambiguous);
//  - Unix time: "@1764090000", "@1764090000.25" (seconds since the epoch, fractions to the ns).
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <variant>

#include "ctxrun/result.h"

namespace ctxrun {

using wall_time = std::chrono::time_point<std::chrono::system_clock, std::chrono::nanoseconds>;

// Parses `text`. On failure returns an error message naming the value, ready to print after "ctxrun: ".
Result<wall_time> parse_deadline(std::string_view text);

// RFC 3339 in UTC with milliseconds: "2026-11-25T17:00:00.250Z".
std::string format_rfc3339(wall_time t);

// Unix time in seconds with nanosecond precision: "1764090000.250000000".
std::string format_unix(wall_time t);

// Parses the output of format_unix (digits, optionally '.' and up to 9 digits); no '@'.
Result<wall_time> parse_unix(std::string_view text);

}  // namespace ctxrun
