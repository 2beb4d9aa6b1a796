// W3C Trace Context's `traceparent` (https://www.w3.org/TR/trace-context/), as OpenTelemetry's
// "environment variables as context propagation carriers" pass it between processes: TRACEPARENT=
// 00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>.
//
// Only version 00 is read, exactly as written there: lowercase hex, neither id all zeros, nothing
// before or after. A later version is refused rather than half-read: ctxrun then starts a new trace
// (and says so with -v), which loses a link but never writes a span under a parent it misread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "ctxrun/result.h"

namespace ctxrun {

struct TraceParent {
  std::string trace_id;   // 32 lowercase hex digits, not all zeros
  std::string parent_id;  // 16 lowercase hex digits, not all zeros
  std::uint8_t flags = 0;

  // The "sampled" flag: the caller records this trace; when it is off, neither should we.
  bool sampled() const { return (flags & 0x01) != 0; }
};

// Reads a traceparent value; why not as one line ("version 01 is not 00", ...) when it is not one.
Result<TraceParent> parse_traceparent(std::string_view text);

// "00-<trace id>-<parent id>-<flags>".
std::string format_traceparent(const TraceParent& parent);

// New random ids, lowercase hex, never all zeros: 32 digits for a trace, 16 for a span.
std::string new_trace_id();
std::string new_span_id();

}  // namespace ctxrun
