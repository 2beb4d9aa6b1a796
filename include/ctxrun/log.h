// ctxrun's messages on stderr, each line prefixed with the program name ("ctxrun: ").
//
// error(): always printed. notice(): the one line that says why the context ended; silenced by
// -q. verbose(): each step (-v), through spdlog, formatted only when -v is on, so a plain run pays
// nothing for it.
#pragma once

#include <fmt/format.h>

#include <string>

#include "ctxrun/options.h"

namespace ctxrun::log {

void configure(std::string program, Verbosity verbosity);
const std::string& program();
bool verbose_enabled();
void write_line(Verbosity level, const std::string& message);

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
