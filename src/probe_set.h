// ProbeSet: the readiness probes of one run (Command::ready), each repeated until it has succeeded
// once, all driven from the runner's EventLoop: HTTP(S) and TCP through libcurl's multi interface
// (curl_driver.h), unix sockets and files checked at once, exec: probes as child processes whose
// end the runner's Reaper sees and passes on (exec_ended). A failed probe is tried again after an
// interval that starts at 250 ms and doubles up to 2 s; nothing busy-waits.
//
// Passive: the runner starts it, waits in its loop, and reads ready() and expired() after each wait.
// The limit (Readiness::limit) is a timer of its own; the context's deadline is the runner's.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ctxrun/command.h"
#include "ctxrun/outcome.h"
#include "ctxrun/result.h"
#include "event_loop.h"

namespace ctxrun {

struct ProbeSpec;

// Whether `probe` needs libcurl: http(s)://, and tcp:// to a host name. A tcp:// probe to an address
// or localhost is made by ctxrun's own connect (tcp_connect.h) in every build: the same behaviour
// everywhere, and no libcurl (~30 libraries) loaded for it.
bool needs_libcurl(const ProbeSpec& probe);

// Why `probe` cannot work with this build (what needs libcurl, where it cannot be loaded) or at all
// (a URL libcurl refuses), or nullopt.
Status probe_unavailable(const ProbeSpec& probe);

class ProbeSet {
 public:
  struct Hooks {
    // Starts an exec: probe's command through `sh -c`, in the tree, its output to /dev/null.
    std::function<Result<pid_t>(const std::string& command)> start_exec;
    // Hears each step (-v).
    std::function<void(const std::string&)> trace;
  };

  // Parses the probes and makes what they need; an error names the bad probe.
  static Result<std::unique_ptr<ProbeSet>> make(const Readiness& ready, EventLoop& loop, Hooks hooks);
  ~ProbeSet();
  ProbeSet(const ProbeSet&) = delete;
  ProbeSet& operator=(const ProbeSet&) = delete;

  // Arms the limit and makes each probe's first attempt.
  void start();
  // An exec: probe's process ended with `status`; false if `pid` is none of them.
  bool exec_ended(pid_t pid, int status);
  // Stops every probe and timer (exec: probes still running are left to the tree's teardown).
  void stop();

  // Every probe has succeeded.
  bool ready() const;
  // The limit passed before that: the run's cause, "ready timeout 60s: PROBE (its last error)".
  std::optional<std::string> expired() const;
  std::vector<ProbeReport> reports() const;

 private:
  struct Probe;
  ProbeSet(EventLoop& loop, Hooks hooks);
  // Makes what a tcp:// or http(s):// probe's attempts run on (libcurl, or a connect of our own).
  Status prepare_transfer(Probe& p);
  Status prepare_connect(Probe& p);  // tcp:// without libcurl
  void attempt(Probe& p);
  void succeeded(Probe& p);
  void failed(Probe& p, std::string why);

  EventLoop& loop_;
  Hooks hooks_;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::vector<std::unique_ptr<Probe>> probes_;
  std::chrono::steady_clock::time_point started_;
  bool expired_ = false;
  bool stopped_ = false;
  std::string limit_text_;
  std::chrono::nanoseconds limit_{};
};

}  // namespace ctxrun
