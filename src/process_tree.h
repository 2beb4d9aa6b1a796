// ProcessTree: which processes belong to a run, so that teardown can reach every one of them.
//
// A backend is chosen once per run (make_process_tree) before the command is spawned and driven by
// the runner: prepare_child() in the child between fork and exec, started() after the spawn, then
// members() and signal_all() as often as teardown needs. The runner does all the reaping.
//
// Nested runs: a ctxrun in the tree (either personality, recognised by its executable) owns its
// subtree. Every signal but SIGKILL goes to that inner ctxrun and not below it, so that it stops
// its subtree by its own policy (its --signal, its grace) and each process gets one stop signal,
// not one per level; SIGKILL, and cgroup.kill, still reach everything. This needs a /proc of our
// PID namespace; without one each process is signalled directly. The subreaper and pgroup backends
// see a nested ctxrun by its name and executable in what they read of each process anyway; the
// cgroup backend, which reads nothing per process, by the cgroup every nested ctxrun makes below
// the leaf, named after its pid: its own leaf, or (on another backend) an empty one made to say it
// is there (mark_nested_run in cgroup.h). A nested ctxrun that cannot make one (another user's,
// with no write access to the leaf) is not seen as one: its processes get the enclosing run's
// signal directly, besides its own.
//
// Backends (docs/design.md, "Tree backends"):
//  - cgroup: a fresh cgroup v2 leaf per run (cgroup.h); the command is born in it (clone3 with
//    CLONE_INTO_CGROUP) or, where the kernel cannot, moves in before exec, so the whole tree is
//    born inside and cannot leave it. Teardown ends with cgroup.kill, which no fork
//    storm outruns; "populated 0" in cgroup.events says the tree is gone. Needs a writable cgroup v2.
//  - subreaper: ctxrun is a child subreaper, so orphans (double-forked, setsid daemons) re-parent to
//    it and stay in the tree; members are the descendants of ctxrun, read from /proc. The command
//    stays in the caller's process group, so the terminal treats it as if ctxrun were not there.
//  - pgroup: the command leads a new process group; members are that group's processes. Portable,
//    but a process that calls setsid or setpgid leaves the tree: it is the negative control and the
//    fallback where /proc or subreaping is missing. Without a /proc of our own it signals and
//    probes the group as a whole (kill(-pgid, 0)) until the group is really gone.
//
// /proc is used only where it is ours (proc_is_ours): a container started with the host's /proc,
// or none, makes `auto` skip the subreaper backend (and --tree=subreaper fail, saying why); the
// cgroup backend then signals the pids of cgroup.procs through pidfds, each checked to be still in
// the leaf once its pidfd pins it.
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "ctxrun/command.h"
#include "ctxrun/result.h"
#include "proc.h"

namespace ctxrun {

class ProcessTree {
 public:
  virtual ~ProcessTree() = default;

  // "subreaper", "pgroup".
  virtual const char* name() const noexcept = 0;

  // A descriptor of the cgroup directory the command is to be born in (clone3 with
  // CLONE_INTO_CGROUP, Linux >= 5.7), -1 for none. spawn() falls back to fork() + prepare_child()
  // where the kernel refuses it.
  virtual int birth_cgroup_fd() const noexcept { return -1; }

  // In the child, between fork and exec. Async-signal-safe; returns false (errno set) on failure.
  // `born_inside`: the child was born in birth_cgroup_fd()'s cgroup, and needs no move.
  virtual bool prepare_child(bool born_inside) const noexcept {
    (void)born_inside;
    return true;
  }

  // In the parent, right after each process was spawned into the tree as `pid`: the services and
  // exec: probes (Command::services, Command::ready), then the command.
  virtual void started(pid_t pid) noexcept { command_ = pid; }

  // The live (not zombie) processes of the tree now. Each call reads the system afresh.
  virtual std::vector<ProcessInfo> members() = 0;

  // Whether nothing of the tree is left, given whether ctxrun still has unreaped children (the
  // runner knows that from waitpid). For the subreaper that alone decides: every live descendant
  // has a live ancestor that is ctxrun's child. Other backends look.
  virtual bool gone(bool has_children) { return !has_children || members().empty(); }

  // Sends `sig` once to every live member, followed by SIGCONT when `then_cont`, except members
  // of process group `skip_pgid` (as /proc or getpgid() shows it: 0 is a group whose leader is
  // outside our PID namespace, a real value here) and, unless `sig` is SIGKILL, except the
  // subtrees of nested ctxruns. Returns the processes signalled.
  virtual std::vector<ProcessInfo> signal_all(int sig, bool then_cont, std::optional<pid_t> skip_pgid);

  // A descriptor that poll() reports with POLLPRI when the tree may have become empty, for
  // backends that learn it otherwise than by SIGCHLD; -1 if none. After it fires, gone() must be
  // called (it re-reads and so re-arms the notification).
  virtual int change_fd() const noexcept { return -1; }

  // The cgroup the tree lives in (cgroup backend), "" for the others.
  virtual std::string cgroup_path() const { return {}; }

  // Whether signal_all(SIGKILL) also reaches processes forked after it (cgroup.kill does): then
  // one SIGKILL sweep is enough and the runner only waits for gone().
  virtual bool kill_is_final() const noexcept { return false; }

 protected:
  // signal_all() for `targets`, the members as read just before.
  static std::vector<ProcessInfo> signal_members(std::vector<ProcessInfo> targets, int sig, bool then_cont,
                                                 std::optional<pid_t> skip_pgid);
  std::optional<pid_t> command_;  // once started
};

// Drops from `members` every process below a nested ctxrun (one of `members` that is_ctxrun), by
// their parent links: the inner ctxrun stays, its subtree is its own to stop.
void drop_nested_subtrees(std::vector<ProcessInfo>& members);

// What make_process_tree needs to know of the run besides the kind.
struct TreeSetup {
  TreeKind kind = TreeKind::automatic;
  // Hears each guardian order ("cgroup PATH") before what it names exists, so that ctxrun killed
  // at any moment leaves nothing its guardian does not know of.
  std::function<void(const std::string&)> tell_guardian;
  // ctxrun's own helper (the guardian): a child of ctxrun that is not part of the tree.
  std::optional<pid_t> own_helper;
};

// Makes ctxrun a child subreaper: orphans of the tree re-parent to it (every backend profits: ctxrun
// reaps them and learns of their death by SIGCHLD).
Status become_subreaper();

// Makes the backend `setup.kind` (automatic: the strongest that works here; `skip_cgroup` leaves
// the cgroup backend out, after the command could not enter a leaf). Must be called before the
// command is spawned, and after become_subreaper(), whose outcome it takes into account. On
// failure returns a message naming the reason, ready to print after "ctxrun: ". `why` receives,
// for automatic, why it chose as it did.
Result<std::unique_ptr<ProcessTree>> make_process_tree(const TreeSetup& setup, std::string& why,
                                                       bool skip_cgroup = false);

}  // namespace ctxrun
