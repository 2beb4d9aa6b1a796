// The libcurl twin: a static ctxrun hands a run that needs libcurl to ctxrun-libcurl.
//
// ctxrun is linked static-pie by default (CTXRUN_STATIC_PIE): no dynamic loader and no libc.so to
// map and bind at every start, which was most of what a plain run cost over GNU timeout
// (docs/benchmarks.md, "Issue 15, third round"). A static program cannot load libcurl: dlopen there
// brings a second libc into the process, with its own malloc and threads. So a run with a tcp:// or
// http(s):// readiness probe is handed, before anything has started, to ctxrun-libcurl: the same
// program linked dynamically, which loads libcurl as before. It is looked for beside ctxrun (the
// build tree) and in <prefix>/libexec/ctxrun/ (installed). It gets the same arguments, the signal
// mask and dispositions ctxrun was started with, and ctxrun's start (CTXRUN_STARTED_AT, removed
// from its environment at once), so that --timeout counts from the first start.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "ctxrun/deadline.h"
#include "signal_regime.h"

namespace ctxrun {

inline constexpr const char* kLibcurlTwinName = "ctxrun-libcurl";

// When a ctxrun started: for --timeout (steady) and the report (wall).
struct StartTime {
  wall_time wall = std::chrono::time_point_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now());
  std::chrono::steady_clock::time_point steady = std::chrono::steady_clock::now();
};

// Whether these --ready probes need libcurl: any tcp:// or http(s)://.
bool needs_libcurl(const std::vector<std::string>& probes);

// The twin's path: beside this program, else in ../libexec/ctxrun/ from its directory; nullopt if
// neither is there.
std::optional<std::string> find_libcurl_twin();

// Replaces this process with the twin at `path`, run with `argv`. Returns only on failure: why.
std::string exec_libcurl_twin(const std::string& path, char** argv, const SignalRegime& signals,
                              const StartTime& started);

// In the twin: the start handed on by the static ctxrun, if any; the variable is removed, so that
// the command does not inherit it.
std::optional<StartTime> handed_on_start();

}  // namespace ctxrun
