// `--trace-file FILE`: one OpenTelemetry span per run, appended to FILE as one line of OTLP/JSON
// (a TracesData object: the OTLP file exporter's format, JSON Lines, hex ids, nanosecond strings),
// so that a whole tree of nested runs, which inherit FILE through CTXRUN_TRACE_FILE, writes one file
// of spans linked parent to child (docs/trace.md).
//
// Driven by main in two steps: start_trace before the command runs (it decides the ids, opens FILE
// and hands TRACEPARENT on), write_span once the tree is gone. What fails in the second step is a
// warning on stderr and never changes the exit status: the run is over by then.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "attempts.h"
#include "ctxrun/deadline.h"
#include "ctxrun/outcome.h"
#include "ctxrun/result.h"
#include "ctxrun/unique_fd.h"

namespace ctxrun {

// The span of this run, decided at its start.
struct TraceRun {
  std::string path;                                           // FILE, made absolute (the command may change directory)
  unique_fd file;                                             // O_WRONLY|O_APPEND|O_CLOEXEC; closed when not sampled
  std::string trace_id;                                       // inherited from TRACEPARENT, or new
  std::string span_id;                                        // new for each run
  std::optional<std::string> parent_span_id;                  // TRACEPARENT's parent id, if it was valid
  std::uint8_t flags = 0x01;                                  // TRACEPARENT's flags, or sampled
  std::string trace_state;                                    // TRACESTATE, when it belongs to the inherited trace
  std::vector<std::pair<std::string, std::string>> resource;  // service.name, OTEL_RESOURCE_ATTRIBUTES

  bool sampled() const { return (flags & 0x01) != 0; }
};

// Starts the span: reads TRACEPARENT (an invalid one is a -v note and a new trace), TRACESTATE,
// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES (percent-decoded; a malformed one is ignored whole,
// with a warning, as the SDK specification says), opens `path` for appending (created 0666 & ~umask
// if need be) unless the parent is not sampled, and sets for the command TRACEPARENT=00-<trace>-
// <this span>-<flags> and CTXRUN_TRACE_FILE=<absolute path>. TRACESTATE and BAGGAGE are left as
// they are. Fails, with the reason, when the file cannot be opened for writing.
Result<TraceRun> start_trace(const std::string& path);

// What the span says about the run.
struct SpanFacts {
  const std::vector<std::string>& argv;
  bool with_argv = false;  // --trace-argv: process.command_args
  const Outcome& outcome;
  ExitPlan exit;
  wall_time start;
  wall_time end;
  std::optional<wall_time> deadline;
  std::string tree_backend;
  const Attempts* attempts = nullptr;  // with --attempts above 1
};

// The span as one line of OTLP/JSON (a TracesData object), newline-terminated.
std::string span_line(const TraceRun& trace, const SpanFacts& facts);

// Appends `line` to the file with a single write(2) (O_APPEND: concurrent runs never interleave
// lines). Nothing when the trace is not sampled. Returns why not, if the line was not written whole.
Status append_span(const TraceRun& trace, const std::string& line);

}  // namespace ctxrun
