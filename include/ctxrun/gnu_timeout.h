// The `timeout` personality: ctxrun invoked as `timeout` is a drop-in for GNU coreutils' timeout.
//
// The reference is the coreutils 9.1 timeout: the same synopsis and options (parsed by glibc's
// getopt_long, as GNU's are, so abbreviations and option errors read the same), the same DURATION
// grammar and rounding, the same signal names and numbers, the same messages on stderr (prefixed
// with argv[0], quoted as GNU's quote() does in the current locale), the same exit statuses, and the
// same signal handling: which signals timeout takes (ALRM, INT, QUIT, HUP, TERM and the -s signal),
// what it sends on each (that signal, then SIGCONT), when the -k timer starts (at the first signal
// sent, whether the timer or a received signal caused it), and how it ends (124, 137, the command's
// status, or the command's own fatal signal raised again).
//
// The deliberate difference: without --foreground, each signal that GNU timeout sends to its
// process group goes to the command's whole tree instead (ctxrun's tree backends), so a process
// that left the group (setsid, a double fork) is reached too, and -k ends with nothing of the tree
// left. With --foreground only the command is signalled, exactly as by GNU. The remaining
// differences are listed in the COMPATIBILITY section of ctxrun(1).
//
// Why a front-end of its own rather than cli.cpp + run(): GNU's rules are a stream of independent
// reactions (every signal taken is sent on, the timer stays armed after a received signal, a signal
// timeout sent to its group is ignored from then on, SIGALRM counts as the timer), while run() ends
// one context once and tears down. This file keeps GNU's state machine; the process layer (spawn,
// SignalRegime, ProcessTree backends) is ctxrun's.
#pragma once

#include <time.h>

#include <optional>
#include <string>
#include <string_view>

namespace ctxrun::gnu {

// Whether argv[0] selects the personality: its basename is "timeout" (the build's symlink) or
// "ctxrun-timeout" (the name `cmake --install` uses unless told otherwise).
bool invoked_as_timeout(const char* argv0) noexcept;

// Runs GNU timeout's main: returns the exit status, or ends the process by a signal where GNU
// timeout would (the command's own fatal signal; SIGKILL when KILL went to the tree).
int timeout_main(int argc, char** argv);

// The pieces, exposed for unit tests. Each follows coreutils 9.1 (gnulib of its time) unless said.

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
