// `--report FILE`: what happened, as one JSON object, for machines (schema: docs/report.md).
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "ctxrun/deadline.h"
#include "ctxrun/options.h"
#include "ctxrun/outcome.h"

namespace ctxrun {

inline constexpr int kReportVersion = 1;

struct ReportFacts {
  const RunOptions& options;
  const Outcome& outcome;
  ExitPlan exit;
  wall_time started;
  std::chrono::nanoseconds elapsed;
  std::optional<wall_time> deadline;  // the effective (earliest) deadline
  std::string tree_backend;
};

// The report as JSON text (one object, one line, newline-terminated).
std::string report_json(const ReportFacts& facts);

// Writes the report to `path` atomically: a temporary file in the same directory, renamed over
// `path`, so a reader never sees half a report. Returns "" or an error message.
std::string write_report(const std::string& path, const ReportFacts& facts);

}  // namespace ctxrun
