// ctxrun inside a new PID namespace, seen from outside: as the namespace's PID 1, or below an
// application PID 1 that never reaps; with the namespace's own /proc or the host's; on the host's
// file system or chrooted into an otherwise empty root (the fully static build's test).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "harness.h"

namespace e2e {

inline const std::string kUnshare = "/usr/bin/unshare";

// Well under a 10 s grace period, and generous for a loaded 2-core machine: a teardown that only
// ends when the grace period's SIGKILL fires fails this bound.
inline constexpr auto kPrompt = 5s;
// How long a test waits for an ending before it gives up on it (and kills what is left).
inline constexpr auto kGiveUp = 12s;

// Whether `unshare --pid --fork --mount-proc` works here; says "SKIPPED: ..." once if not.
bool pid_namespaces();

long ms(std::chrono::nanoseconds d);

// The pid (in our namespace) of the first child of `parent`, 0 if none.
pid_t first_child(pid_t parent);
// Every descendant of `root`, zombies included.
std::vector<ctxrun::ProcessInfo> below(pid_t root);
std::string describe(const std::vector<ctxrun::ProcessInfo>& processes);

enum class Place { pid1, below_pid1 };
inline constexpr Place kPlaces[] = {Place::pid1, Place::below_pid1};
std::string place_name(Place place);

// How a contained run ended, seen from outside the namespace.
struct Ended {
  bool ended = false;  // within kGiveUp
  Exit exit;           // ctxrun's own wait status and stderr; took: since the moment given to finish()
  // Below PID 1 only: the live processes left in the namespace (PID 1 aside) when ctxrun ended.
  std::vector<ctxrun::ProcessInfo> left;
};

// Where the namespace finds its programs: the build tree, or `root`, a directory the namespace
// chroots into after mounting its own /proc at root/proc (then the paths are inside the root).
struct Programs {
  std::string root;  // "" for the host's file system
  std::string ctxrun = kCtxrun;
  std::string helper = kHelper;
};

// One ctxrun inside a new PID namespace (unshare --pid --fork), with the namespace's own /proc or
// the host's. As its PID 1, or started by the helper's `pid1` mode, an application PID 1 that never
// reaps: then ctxrun is not PID 1 and its process group's leader (the test's) is outside the
// namespace, as under bwrap or a container runtime, and the namespace outlives ctxrun, so what
// ctxrun left running can be seen.
class Contained {
 public:
  Contained(Place place, bool own_proc, const std::vector<std::string>& ctxrun_args, const Programs& programs = {});

  Process& process() { return *process_; }
  // The PID 1 of the namespace, in our namespace's numbers.
  pid_t pid1();
  // ctxrun, in our namespace's numbers (the pids the helper reports are the namespace's).
  pid_t ctxrun();
  // Waits for ctxrun to end; `since`: when the ending was set off (the start, or a signal sent).
  Ended finish(std::chrono::steady_clock::time_point since);

 private:
  Place place_;
  std::optional<Process> process_;
};

// The checks every contained ending shares: it ended, promptly, and left nothing in the namespace.
void check_prompt_and_clean(const Ended& end);

}  // namespace e2e
