// CgroupLeaf: a fresh cgroup v2 leaf for one run, and the kernel's whole-tree operations on it.
//
// The leaf is made under ctxrun's own cgroup (from /proc/self/cgroup), in the cgroup v2 mount
// found in /proc/self/mountinfo (never assumed at /sys/fs/cgroup: hybrid hosts mount it at
// /sys/fs/cgroup/unified). ctxrun itself stays outside; the command is born inside (clone3 with
// CLONE_INTO_CGROUP on dir_fd()) or moved in before exec (a write of "0" to its cgroup.procs), so every
// process it starts is born inside and cannot leave (short of a privileged write to another
// cgroup's cgroup.procs).
//
// The destructor removes the leaf (once empty): a leaf is never left behind by a run that returns.
#pragma once

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "ctxrun/result.h"
#include "ctxrun/unique_fd.h"

namespace ctxrun {

class CgroupLeaf {
 public:
  // Creates the leaf, or says why it cannot (no cgroup v2 mount, not writable, the command could
  // not be moved in, ...). `before_mkdir` learns the leaf's path before it exists (the guardian
  // must know of every leaf that may exist).
  static Result<CgroupLeaf> create(const std::function<void(const std::string&)>& before_mkdir = {});

  // Takes charge of the existing leaf at `path` (the guardian does, after ctxrun died).
  static std::optional<CgroupLeaf> adopt(const std::string& path);

  CgroupLeaf(CgroupLeaf&& other) noexcept;
  CgroupLeaf& operator=(CgroupLeaf&&) = delete;
  CgroupLeaf(const CgroupLeaf&) = delete;
  ~CgroupLeaf();

  const std::string& path() const noexcept { return path_; }

  // A descriptor of the leaf's directory (O_PATH), for clone3(CLONE_INTO_CGROUP).
  int dir_fd() const noexcept { return dir_.get(); }

  // A descriptor of cgroup.events: poll() reports POLLPRI when "populated" changes.
  int events_fd() const noexcept { return events_.get(); }

  // Whether any process is in the leaf (cgroup.events "populated 1").
  bool populated() const;

  // The pids in the leaf now.
  std::vector<pid_t> pids() const;

  // The pids in the leaf and in any cgroup the tree made below it (a nested ctxrun's leaf, a
  // container runtime's cgroups): cgroup.kill and "populated" cover those too.
  std::vector<pid_t> pids_below() const;
  // The same, or nullopt if the leaf's own cgroup.procs could not be read (no descriptor left).
  std::optional<std::vector<pid_t>> list_below() const;

  // The pids that the cgroups below the leaf are named after (ctxrun-PID-XXXXXXXX): nested ctxruns,
  // which announce themselves so (their own leaf, or the empty cgroup mark_nested_run() makes).
  std::vector<pid_t> runs_below() const;

  // SIGKILLs every process in the leaf at once: cgroup.kill (Linux >= 5.14), or on older kernels
  // freeze, SIGKILL each pid, thaw. Returns false if neither worked.
  bool kill_all() const;

  // Removes the leaf and the cgroups below it, once empty (leftovers left on purpose are moved to
  // the parent first); true if it is gone.
  bool remove() noexcept;

 private:
  explicit CgroupLeaf(std::string path) : path_(std::move(path)) {}
  std::string path_;  // "" once removed
  unique_fd dir_;
  unique_fd events_;
};

// For a ctxrun running inside another ctxrun's cgroup leaf on another backend than cgroup: an empty
// cgroup named as a leaf of its own would be, next to its processes, that tells the enclosing
// ctxrun it is there (process_tree.h, "Nested runs"); removed with it (and, should it be killed, by
// its guardian, told first through `before_mkdir`, or with the enclosing leaf). nullopt where this
// process is in no ctxrun leaf, or the cgroup cannot be made.
std::optional<CgroupLeaf> mark_nested_run(const std::function<void(const std::string&)>& before_mkdir = {});

// The cgroup v2 mount point from /proc/self/mountinfo, or nullopt.
std::optional<std::string> cgroup2_mount();

}  // namespace ctxrun
