// The command line: argv to RunOptions, read as getopt_long reads it (an empty value is an empty
// value, never the next argument), filled by CLI11. Every bad input is one line in ctxrun's words
// naming the option or the bad value, and exit status 125; --help and --version print and exit 0,
// or 125 if what they print cannot be written. CLI11's own exit codes never leak out.
#pragma once

#include <string>
#include <variant>
#include <vector>

#include "options.h"

namespace ctxrun {

// The status to exit with at once: after --help or --version (0), or a usage error (125).
// `error` is the one line to print ("" when there is none); `options` holds what was read before
// the error (the command, the --report path), so that a report whose path is known is written.
struct ExitNow {
  int status = 0;
  std::string error;
  RunOptions options;
};
std::variant<RunOptions, ExitNow> parse_command_line(int argc, char** argv);

// The --ready probes on the command line, read without checking them or anything else: whether a
// static ctxrun hands the run to its libcurl twin (libcurl_twin.h) before it parses.
std::vector<std::string> ready_probes_given(int argc, char** argv);

}  // namespace ctxrun
