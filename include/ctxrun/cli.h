// The command line: argv to RunOptions, with CLI11. Every bad input is one line naming the bad
// value and exit status 125; --help and --version print and exit 0. CLI11's own exit codes never
// leak out.
#pragma once

#include <variant>

#include "ctxrun/options.h"

namespace ctxrun {

// The run options, or the status to exit with at once (after --help, --version, or an error that
// has been printed).
struct ExitNow {
  int status = 0;
};
std::variant<RunOptions, ExitNow> parse_command_line(int argc, char** argv);

}  // namespace ctxrun
