// Request-scoped values across processes (W3C Baggage in BAGGAGE, baggage.h): `--value KEY=VALUE`
// hands them to the command and everything below it; `ctxrun --value-of KEY` reads one back, as
// `--remaining` reads the inherited budget.
//
// As Go's context documentation says of its values: for request-scoped data that crosses process
// boundaries (a request id, a tenant, a trace), not for passing parameters to a program.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "ctxrun/result.h"

namespace ctxrun {

// Sets BAGGAGE for the command: the inherited members (well-formed ones, verbatim; a key given
// again is replaced), then `values` percent-encoded. Fails, changing nothing, when the result is
// over W3C Baggage's limits.
Status hand_on_values(const std::vector<std::pair<std::string, std::string>>& values);

// Prints the decoded value of `key` in the inherited BAGGAGE and a newline on stdout: 0. When there
// is no such member (or no BAGGAGE): nothing, 1. When stdout cannot be written: 125, the reason on
// stderr.
int print_value_of(const std::string& key);

}  // namespace ctxrun
