// The line that tells a person why the run ended: "ctxrun: context deadline exceeded (timeout 2s):
// 3 processes torn down". Nothing when the command simply ended in time; errors always.
#pragma once

#include "ctxrun/outcome.h"

namespace ctxrun {

void announce(const Outcome& outcome);

}  // namespace ctxrun
