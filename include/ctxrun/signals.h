// Signal names and numbers, as users write them and as ctxrun prints them.
#pragma once

#include <signal.h>

#include <string>
#include <string_view>
#include <variant>

#include "ctxrun/result.h"

namespace ctxrun {

// Parses a signal as users write it: "TERM", "SIGTERM", "term", "15", "RTMIN+2", "SIGRTMAX-1".
// Returns the number, or an error message naming the value. Signal 0 is rejected: it sends nothing.
Result<int> parse_signal(std::string_view text);

// "SIGTERM", "SIGRTMIN+2"; "SIG42" for a number with no name.
std::string signal_name(int sig);

}  // namespace ctxrun
