// The libcurl twin: a static ctxrun hands a run that needs libcurl to ctxrun-libcurl.
//
// ctxrun is linked static-pie by default (CTXRUN_STATIC_PIE): no dynamic loader and no libc.so to
// map and bind at every start, which was most of what a plain run cost over GNU timeout
// (docs/benchmarks.md, "Issue 15, third round"). A static program cannot load libcurl: dlopen there
// brings a second libc into the process, with its own malloc and threads. So a run with a readiness
// probe that needs libcurl (http(s)://, or tcp:// to a host name: needs_libcurl() in probe_set.h; a
// tcp:// probe to an address never does) is handed, first thing, to ctxrun-libcurl: the same
// program linked dynamically, which loads libcurl as before. It is looked for beside ctxrun (the
// build tree) and in <prefix>/libexec/ctxrun/ (installed). It gets the same arguments, and the
// signal mask and dispositions ctxrun was started with (the handover comes before ctxrun changes
// them), and ctxrun's start (CTXRUN_STARTED_AT, taken only by the same process and removed from its
// environment at once), so that --timeout counts from the first start.
//
// Without a twin that runs, ctxrun goes on alone, and refuses what needs libcurl with the reason
// found here.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "ctxrun/deadline.h"

namespace ctxrun {

inline constexpr const char* kLibcurlTwinName = "ctxrun-libcurl";

// When a ctxrun started: for --timeout (steady) and the report (wall).
struct StartTime {
  wall_time wall = std::chrono::time_point_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now());
  std::chrono::steady_clock::time_point steady = std::chrono::steady_clock::now();
};

// In a static ctxrun, before anything else: if the --ready probes on the command line need libcurl,
// replaces this process with the twin. Returns when there is no need, or no twin that runs; then
// libcurl_missing() says why.
void hand_over_to_libcurl_twin(int argc, char** argv, const StartTime& started);

// Why this static ctxrun has no libcurl ("" if the handover was never needed), for the message of a
// probe that needs it: "its dynamic twin ctxrun-libcurl was found neither beside it nor in
// ../libexec/ctxrun/", or "its dynamic twin PATH cannot be run: ERROR".
const std::string& libcurl_missing();

// In the twin: the start handed on by the static ctxrun that became this process, if any; the
// variable is removed, so that the command does not inherit it.
std::optional<StartTime> handed_on_start();

}  // namespace ctxrun
