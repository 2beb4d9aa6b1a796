// Guardian: finishes the teardown if ctxrun itself is killed (SIGKILL, the OOM killer, a CI runner
// that gives up): nothing can run in ctxrun then, so a small process outside the tree does it.
//
// start() double-forks the guardian before ctxrun becomes a subreaper, so it is not ctxrun's child
// and not part of the tree; it leaves the terminal's session (Ctrl-C does not reach it), holds no
// descriptor of the caller's (it cannot keep a pipe open), and blocks in read() on a pipe whose
// write end only ctxrun holds. ctxrun hands it orders as it learns them (which cgroup leaf, which
// run marker, which process group). When ctxrun ends normally, release() says so and waits for the
// guardian to exit; when ctxrun dies, the pipe reaches EOF without that word, and the guardian:
//  - cgroup: kills the leaf (cgroup.kill), waits for it to empty, removes it;
//  - run marker: SIGKILLs every process whose environment carries the run's CTXRUN_RUN_ID (how a
//    subreaper's tree is found once ctxrun, its root, is gone), until none is left;
//  - process group: SIGKILLs the group.
// The direct command needs none of this: it has SIGKILL as its parent-death signal.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

#include "ctxrun/unique_fd.h"

namespace ctxrun {

class Guardian {
 public:
  // Starts the guardian; nullopt (errno set) if it could not be started.
  static std::optional<Guardian> start() noexcept;

  Guardian(Guardian&&) noexcept = default;
  Guardian& operator=(Guardian&&) noexcept = default;
  ~Guardian() { release(); }

  // Orders, each a line: "cgroup PATH", "marker ID", "pgroup PGID".
  void order(const std::string& line) noexcept;

  // ctxrun is ending normally: the guardian exits without doing anything; waits until it has.
  // Idempotent.
  void release() noexcept;

 private:
  Guardian() = default;
  unique_fd orders_;  // write end; the guardian reads
  unique_fd exited_;  // read end; EOF once the guardian has exited
};

// The value of CTXRUN_RUN_ID for this run: the inherited one (if any), ':', this run's id.
// Processes of the tree inherit it; a guardian finds them by their id in that list.
std::string make_run_marker(const std::string& inherited, const std::string& own_id);

// Runs the guardian's side of `orders` (the text received), as after ctxrun's death. Exposed for
// tests; returns the number of processes killed.
int guardian_teardown(const std::string& orders);

}  // namespace ctxrun
