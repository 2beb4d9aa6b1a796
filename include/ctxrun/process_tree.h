// ProcessTree: which processes belong to a run, so that teardown can reach every one of them.
//
// A backend is chosen once per run (make_process_tree) and driven by the runner: prepare() before
// the command is spawned, prepare_child() in the child between fork and exec, started() after the
// spawn, then members() as often as teardown needs. The runner does all the signalling and reaping.
//
// Backends (DESIGN.md §2):
//  - cgroup: a fresh cgroup v2 leaf per run (cgroup.h); the command moves in before exec, so the
//    whole tree is born inside and cannot leave it. Teardown ends with cgroup.kill, which no fork
//    storm outruns; "populated 0" in cgroup.events says the tree is gone. Needs a writable cgroup v2.
//  - subreaper: ctxrun is a child subreaper, so orphans (double-forked, setsid daemons) re-parent to
//    it and stay in the tree; members are the descendants of ctxrun, read from /proc. The command
//    stays in the caller's process group, so the terminal treats it as if ctxrun were not there.
//  - pgroup: the command leads a new process group; members are that group's processes. Portable,
//    but a process that calls setsid or setpgid leaves the tree: it is the negative control and the
//    fallback where /proc or subreaping is missing.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "ctxrun/proc.h"

namespace ctxrun {

enum class TreeKind { automatic, cgroup, subreaper, pgroup };

class ProcessTree {
 public:
  virtual ~ProcessTree() = default;

  // "subreaper", "pgroup".
  virtual const char* name() const noexcept = 0;

  // In the child, between fork and exec. Async-signal-safe; returns false (errno set) on failure.
  virtual bool prepare_child() const noexcept { return true; }

  // In the parent, right after the command was spawned as `pid`.
  virtual void started(pid_t pid) noexcept { command_ = pid; }

  // The live (not zombie) processes of the tree now. Each call reads the system afresh.
  virtual std::vector<ProcessInfo> members() = 0;

  // Whether nothing of the tree is left, given whether ctxrun still has unreaped children (the
  // runner knows that from waitpid). For the subreaper that alone decides: every live descendant
  // has a live ancestor that is ctxrun's child. Other backends look.
  virtual bool gone(bool has_children) { return !has_children || members().empty(); }

  // Sends `sig` once to every live member, followed by SIGCONT when `then_cont`, except members
  // of process group `skip_pgid` (0: none). Returns the processes signalled.
  virtual std::vector<ProcessInfo> signal_all(int sig, bool then_cont, pid_t skip_pgid);

  // A descriptor that poll() reports with POLLPRI when the tree may have become empty, for
  // backends that learn it otherwise than by SIGCHLD; -1 if none. After it fires, gone() must be
  // called (it re-reads and so re-arms the notification).
  virtual int change_fd() const noexcept { return -1; }

  // Whether signal_all(SIGKILL) also reaches processes forked after it (cgroup.kill does): then
  // one SIGKILL sweep is enough and the runner only waits for gone().
  virtual bool kill_is_final() const noexcept { return false; }

  // What the guardian (guardian.h) needs, beyond the run marker, to finish a teardown after
  // ctxrun's death: an order line such as "cgroup PATH", or "" if nothing.
  virtual std::string guardian_order() const { return {}; }

 protected:
  pid_t command_ = 0;
};

// Makes the backend `kind` (automatic: the strongest that works here). Must be called before the
// command is spawned, and after become_subreaper(), whose outcome it takes into account. On failure returns a message naming
// the reason, ready to print after "ctxrun: ". `why` receives, for automatic, why it chose as it did.
// Makes ctxrun a child subreaper: orphans of the tree re-parent to it (every backend profits: ctxrun
// reaps them and learns of their death by SIGCHLD). Returns 0 or the errno.
int become_subreaper() noexcept;

std::variant<std::unique_ptr<ProcessTree>, std::string> make_process_tree(TreeKind kind, std::string& why);

}  // namespace ctxrun
