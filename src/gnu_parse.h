// GNU timeout's parsers and quoting, as coreutils 9.1 (gnulib of its time) has them, for the
// timeout personality (gnu_timeout.h): pure functions, unit-tested against GNU's behaviour.
#pragma once

#include <time.h>

#include <optional>
#include <string>
#include <string_view>

namespace ctxrun::gnu {

// Each follows coreutils 9.1 (gnulib of its time) unless said.

// DURATION in seconds, or nullopt if GNU rejects it: a floating-point number as strtod reads it (in
// the current locale, then the C locale), >= 0, with at most one suffix s, m, h or d. Overflow is
// accepted (+inf: no practical limit). Underflow to 0 ("1e-400") gives the least positive double,
// as newer coreutils do (9.1 takes it as 0, which disables the timeout).
std::optional<double> parse_duration(const char* text);

// Seconds to a timespec, rounding up to the next nanosecond; out-of-range values clamp (gnulib's
// dtotimespec).
timespec to_timespec(double seconds) noexcept;

// A signal as timeout -s takes it (coreutils' operand2sig): a number (shell statuses 128+N and
// 256+N are taken for N) or a name, any case, with or without "SIG"; 0 ("EXIT") is a valid signal.
// nullopt if invalid.
std::optional<int> parse_signal(const char* text);

// GNU's name of a signal, without "SIG" ("TERM", "RTMIN+2", "RTMAX-1", "EXIT" for 0); nullopt if
// it has none (gnulib's sig2str).
std::optional<std::string> signal_name(int sig);

// `arg` quoted as GNU's quote() does in the current locale: 'like this' (‘like this’ in a UTF-8
// locale), with C-style backslash escapes for the closing quote, backslashes, control characters
// and bytes that are not printable characters.
std::string quote(std::string_view arg);

}  // namespace ctxrun::gnu
