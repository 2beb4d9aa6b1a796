// The line that tells a person why the run ended: "ctxrun: context deadline exceeded (timeout 2s):
// 3 processes torn down". Nothing when the command simply ended in time; errors always.
#pragma once

#include <string>

#include "ctxrun/outcome.h"

namespace ctxrun {

// That line, without "ctxrun: " ("" when the command simply ended): also a trace span's status.
std::string ending_line(const Outcome& outcome);

void announce(const Outcome& outcome);

}  // namespace ctxrun
