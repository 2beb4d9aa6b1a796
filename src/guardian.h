// Guardian: finishes the teardown if ctxrun itself is killed (SIGKILL, the OOM killer, a CI runner
// that gives up): nothing can run in ctxrun then, so a small process outside the tree does it.
//
// start() starts the guardian as a child of ctxrun that sends no SIGCHLD when it ends (a "clone
// child", exit signal 0). Where it can (x86-64, aarch64, a /proc/self/exe), the guardian shares
// ctxrun's memory (CLONE_VM, a 64 KiB stack of its own), which costs what a thread costs, and
// makes only raw system calls until ctxrun is gone; then it execs a fresh ctxrun image for the
// teardown (guardian_after_exec). Elsewhere, or with CTXRUN_GUARDIAN_FORK set (for tests), it is
// forked. Either way: waitpid(-1) never sees it, so ctxrun's reaping of the tree and the
// subreaper's "no child left" are untouched by it, and it is not part of any tree (started before
// the backend is made; outside the cgroup leaf; in a session of its own, so Ctrl-C does not reach
// it). It holds no descriptor of the caller's (it cannot keep a pipe open) and sleeps in poll()
// for the hang-up of a socket whose other end only ctxrun holds. ctxrun hands it orders as it
// learns them (which run marker, which cgroup leaf: before the leaf exists, so no moment leaves a
// leaf it does not know); they wait in the socket's buffer, and the guardian reads them only once
// ctxrun is gone, so an order never wakes it (a wake-up on the other CPU cost a run ~15 us).
//
// On a normal end, dismiss() SIGKILLs it (it has nothing left to do: ctxrun did the teardown) and
// release() reaps it: no process of ctxrun's outlives the run, and nothing is left for another process to
// reap, even under a PID 1 that never reaps. When ctxrun dies instead, the socket reaches EOF, the
// guardian is re-parented (the kernel gives it an ordinary exit signal then), and it:
//  - cgroup: kills the leaf (cgroup.kill), waits for it to empty, removes it and any cgroup below;
//  - run marker: SIGKILLs every process whose environment carries the run's CTXRUN_RUN_ID (how a
//    subreaper's tree is found once ctxrun, its root, is gone), until none is left.
// The direct command needs none of this: it has SIGKILL as its parent-death signal.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ctxrun/result.h"
#include "ctxrun/unique_fd.h"

namespace ctxrun {

class Guardian {
 public:
  // Starts the guardian, or says why it could not.
  static Result<Guardian> start();

  Guardian(Guardian&& other) noexcept
      : orders_(std::move(other.orders_)),
        given_(std::move(other.given_)),
        pidfd_(std::move(other.pidfd_)),
        pid_(std::exchange(other.pid_, std::nullopt)),
        dismissed_(other.dismissed_) {}
  Guardian& operator=(Guardian&& other) noexcept {
    if (this != &other) {
      release();
      orders_ = std::move(other.orders_);
      given_ = std::move(other.given_);
      pidfd_ = std::move(other.pidfd_);
      pid_ = std::exchange(other.pid_, std::nullopt);
      dismissed_ = other.dismissed_;
    }
    return *this;
  }
  ~Guardian() { release(); }

  // The guardian's pid while it runs: a child of ctxrun that is not part of the tree.
  std::optional<pid_t> pid() const noexcept { return pid_; }

  // Orders, each a line: "cgroup PATH", "marker ID". An order given before is not sent again.
  void order(const std::string& line) noexcept;

  // ctxrun's teardown is done: the guardian is sent SIGKILL (it has nothing left to do), to die on
  // its CPU while ctxrun says why and writes its report. Idempotent.
  void dismiss() noexcept;

  // ctxrun is ending normally: the guardian is ended (dismiss) and reaped before this returns.
  // Idempotent.
  void release() noexcept;

 private:
  Guardian() = default;
  unique_fd orders_;                // ctxrun's end of the orders socket
  std::vector<std::string> given_;  // the orders sent
  unique_fd pidfd_;                 // the guardian's pidfd (empty on kernels without clone3)
  std::optional<pid_t> pid_;        // until reaped
  bool dismissed_ = false;
};

// The guardian's teardown in a fresh ctxrun image: main() calls it when started as
// `ctxrun-guardian --ctxrun-guardian-orders ORDERS` (how a guardian that shared ctxrun's memory
// goes on once ctxrun is gone). Returns the exit status.
int guardian_after_exec(const char* orders) noexcept;

// The value of CTXRUN_RUN_ID for this run: the inherited one (if any), ':', this run's id.
// Processes of the tree inherit it; a guardian finds them by their id in that list.
std::string make_run_marker(const std::string& inherited, const std::string& own_id);

}  // namespace ctxrun
