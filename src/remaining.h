// `ctxrun --remaining`: how much of the deadline is left, for scripts to hand on as a budget.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "ctxrun/deadline.h"

namespace ctxrun {

// Formats `left` (never negative) as `format` says: "seconds" ("12.345"), "ms" ("12345"), "go"
// ("12.345s"). Milliseconds are the precision; partial ones round down, so a budget handed on
// never exceeds what is left.
std::string format_remaining(std::chrono::nanoseconds left, const std::string& format);

// Prints the time left until `deadline` (inf when there is none) on stdout and returns 0; when the
// deadline has passed, prints nothing there, says so on stderr and returns 124. Returns 125, with
// "write error: ..." on stderr, when stdout cannot be written.
int print_remaining(std::optional<wall_time> deadline, const std::string& format);

}  // namespace ctxrun
