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
// SignalRegime, ProcessTree backends, Reaper, kill_phase) is ctxrun's. GNU's parsers and quoting
// are in gnu_parse.h.
#pragma once

namespace ctxrun::gnu {

// Whether argv[0] selects the personality: its basename is "timeout" (the build's symlink) or
// "ctxrun-timeout" (the name `cmake --install` uses unless told otherwise).
bool invoked_as_timeout(const char* argv0) noexcept;

// Runs GNU timeout's main: returns the exit status, or ends the process by a signal where GNU
// timeout would (the command's own fatal signal; SIGKILL when KILL went to the tree).
int timeout_main(int argc, char** argv);

}  // namespace ctxrun::gnu
