// `--report FILE`: what happened, as one JSON object, for machines (schema: docs/report.md).
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "attempts.h"
#include "ctxrun/deadline.h"
#include "ctxrun/outcome.h"
#include "ctxrun/result.h"
#include "options.h"

namespace ctxrun {

inline constexpr int kReportVersion = 3;

struct ReportFacts {
  const RunOptions& options;
  const Outcome& outcome;
  ExitPlan exit;
  wall_time started;
  std::chrono::nanoseconds elapsed;
  std::optional<wall_time> deadline;  // the effective (earliest) deadline
  std::string tree_backend;
  const Attempts* attempts = nullptr;  // with --attempts above 1
};

// The report as JSON text (one object, one line, newline-terminated). Always valid UTF-8: each
// byte of a string (argv is bytes) that is not part of a valid UTF-8 sequence becomes U+FFFD.
std::string report_json(const ReportFacts& facts);

// Writes the report to `path`. A regular file named directly, or no file yet: atomically, through
// a temporary file with an unpredictable name created exclusively in the same directory, then
// renamed over `path`, so a reader never sees half a report. Anything else (a device, a FIFO, a
// symbolic link such as /dev/stdout): written into as it is, never created, truncated or replaced.
// Returns why it could not be written, if it could not.
Status write_report(const std::string& path, const ReportFacts& facts);

}  // namespace ctxrun
