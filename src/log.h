// ctxrun's messages on stderr, each line prefixed with the program name ("ctxrun: ").
//
// error(): always printed. notice(): the one line that says why the context ended; silenced by
// -q. verbose(): each step (-v), stamped with the time since ctxrun started, formatted only when -v
// is on, so a plain run pays nothing for it.
//
// Every message is one line: a control character in it (a newline in a command's name) is written
// escaped (\n, \t, \r, \xNN). A message that cannot be written (stderr closed, a pipe with no
// reader: ctxrun ignores SIGPIPE) is lost and changes nothing else.
#pragma once

#include <fmt/format.h>

#include <string>
#include <string_view>

#include "ctxrun/result.h"
#include "options.h"

namespace ctxrun::log {

void configure(std::string program, Verbosity verbosity);
bool verbose_enabled();
void write_line(Verbosity level, const std::string& message);

// `text` with each control character escaped, so that it stays on one line.
std::string one_line(std::string_view text);

// Writes `text` to stdout and flushes it, for output whose value is the point (--help, --version,
// --remaining). Returns why not ("write error: ...") when the write or the flush failed.
Status write_out(std::string_view text);

template <typename... Args>
void error(fmt::format_string<Args...> format, Args&&... args) {
  write_line(Verbosity::quiet, fmt::format(format, std::forward<Args>(args)...));
}

template <typename... Args>
void notice(fmt::format_string<Args...> format, Args&&... args) {
  write_line(Verbosity::normal, fmt::format(format, std::forward<Args>(args)...));
}

template <typename... Args>
void verbose(fmt::format_string<Args...> format, Args&&... args) {
  if (verbose_enabled()) write_line(Verbosity::verbose, fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace ctxrun::log
