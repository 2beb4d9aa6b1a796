#include "process_tree.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

#include "cgroup.h"
#include "ctxrun/unique_fd.h"

namespace ctxrun {

void drop_nested_subtrees(std::vector<ProcessInfo>& members) {
  std::unordered_set<pid_t> inner;
  for (const auto& p : members)
    if (is_ctxrun(p)) inner.insert(p.pid);
  if (inner.empty()) return;
  std::unordered_map<pid_t, pid_t> parent;
  for (const auto& p : members) parent.emplace(p.pid, p.ppid);
  auto below_inner = [&](const ProcessInfo& p) {
    // Up the parent links inside the tree; bounded, as /proc is read at different moments.
    pid_t at = p.ppid;
    for (std::size_t steps = 0; steps <= members.size(); ++steps) {
      if (inner.count(at)) return true;
      auto up = parent.find(at);
      if (up == parent.end()) return false;
      at = up->second;
    }
    return false;
  };
  std::erase_if(members, below_inner);
}

std::vector<ProcessInfo> ProcessTree::signal_all(int sig, bool then_cont, std::optional<pid_t> skip_pgid) {
  return signal_members(members(), sig, then_cont, skip_pgid);
}

std::vector<ProcessInfo> ProcessTree::signal_members(std::vector<ProcessInfo> targets, int sig, bool then_cont,
                                                     std::optional<pid_t> skip_pgid) {
  if (sig != SIGKILL) drop_nested_subtrees(targets);
  std::vector<ProcessInfo> signalled;
  for (auto& p : targets)
    if ((!skip_pgid || p.pgid != *skip_pgid) && signal_process(p, sig, then_cont)) signalled.push_back(std::move(p));
  return signalled;
}

namespace {

bool is_zombie(const ProcessInfo& p) { return p.state == 'Z' || p.state == 'X'; }

// Up to this many processes, the tree is found by walking the children files down from ctxrun
// (two small reads per process of the tree: a one-process tree costs 6 system calls where a scan
// of /proc on a machine running 100 processes costs 300); a bigger tree is found by a scan, which
// costs less per process (docs/benchmarks.md, "Finding the tree").
constexpr std::size_t kWalkLimit = 64;

class SubreaperTree final : public ProcessTree {
 public:
  // Children ctxrun has before it spawns anything (`sleep 9 & exec ctxrun ...` makes the shell's
  // background job ctxrun's child) are not the command's: they and their descendants stay out. So
  // is ctxrun's own helper, which waitpid(-1) does not see (guardian.h). /proc is scanned for them
  // only when ctxrun has a child besides its helper (one read of its own children file tells).
  explicit SubreaperTree(std::optional<pid_t> own_helper) : helper_pid_(own_helper) {
    if (auto children = own_children()) {
      std::erase_if(*children, [&](pid_t pid) { return own_helper && pid == *own_helper; });
      if (children->empty()) return;
    }
    if (auto all = scan_processes())
      for (const auto& p : *all)
        if (p.ppid == getpid() && !(own_helper && p.pid == *own_helper)) preexisting_.push_back(p);
    preexisting_.shrink_to_fit();
  }
  const char* name() const noexcept override { return "subreaper"; }
  std::vector<ProcessInfo> members() override {
    // Without pre-existing children, every descendant of ctxrun but its helper is the tree's.
    if (preexisting_.empty())
      if (auto walked = walk_descendants(kWalkLimit, helper_pid_)) return std::move(*walked);
    auto all = scan_processes();
    if (!all) return {};
    std::erase_if(*all, [&](const ProcessInfo& p) {
      // The helper is our unreaped child until ctxrun releases it: its pid cannot name another.
      if (helper_pid_ && p.pid == *helper_pid_ && p.ppid == getpid()) return true;
      for (const auto& q : preexisting_)
        if (p.pid == q.pid && p.start_time == q.start_time) return true;
      return false;
    });
    auto tree = descendants_of(getpid(), *all);
    std::erase_if(tree, is_zombie);
    tree.shrink_to_fit();
    return tree;
  }
  // Without pre-existing children, ECHILD alone says the tree is gone (see the class comment in
  // process_tree.h); with them, ctxrun has children that are not the tree's, so it must look.
  bool gone(bool has_children) override { return !has_children || (!preexisting_.empty() && members().empty()); }
  // After one full SIGKILL sweep, a later one needs only ctxrun's own children: a process the
  // sweep missed (forked after its scan) has a parent that got SIGKILL, and when that parent dies,
  // the missed process is re-parented to ctxrun, the subreaper (through any nested subreaper,
  // which got SIGKILL too). Our own unreaped children cannot be reaped and their pids reused
  // behind our back, so they are signalled by pid, with no /proc read. Every own child is sent
  // SIGKILL again (a no-op on one that is dying); only those not killed before are returned.
  std::vector<ProcessInfo> signal_all(int sig, bool then_cont, std::optional<pid_t> skip_pgid) override {
    if (sig == SIGKILL && swept_kill_ && preexisting_.empty()) {
      if (auto children = own_children()) {
        std::vector<ProcessInfo> fresh;
        for (pid_t pid : *children) {
          if ((helper_pid_ && pid == *helper_pid_) || ::kill(pid, SIGKILL) != 0) continue;
          if (killed_.insert(pid).second) fresh.push_back(ProcessInfo{.pid = pid});
        }
        return fresh;
      }
    }
    // A tree too big to walk is signalled in the pass over /proc that finds it.
    std::vector<ProcessInfo> signalled;
    if (!preexisting_.empty()) signalled = ProcessTree::signal_all(sig, then_cont, skip_pgid);
    else if (auto walked = walk_descendants(kWalkLimit, helper_pid_))
      signalled = signal_members(std::move(*walked), sig, then_cont, skip_pgid);
    else signalled = signal_by_scan(sig, then_cont, skip_pgid);
    if (sig == SIGKILL && !skip_pgid) {
      swept_kill_ = true;
      for (const auto& p : signalled) killed_.insert(p.pid);
    }
    return signalled;
  }

 private:
  // One pass over /proc in pid order (for_each_pinned: each process pinned before its stat is
  // read): a process whose parent is already known to be the tree's is the tree's, and is signalled
  // at once through its pin, with no second read of /proc to check its identity (signal_process).
  // A parent comes before its children in pid order unless pids wrapped around; a process whose
  // parent comes later is known at the end, and signalled then the usual way. The nesting rule as
  // in drop_nested_subtrees: below a nested ctxrun, only SIGKILL goes.
  std::vector<ProcessInfo> signal_by_scan(int sig, bool then_cont, std::optional<pid_t> skip_pgid) {
    pid_t self = getpid();
    std::unordered_set<pid_t> tree{self};
    std::unordered_set<pid_t> stay_quiet;  // whose children do not get `sig`: nested ctxruns, and below
    std::vector<ProcessInfo> later, signalled;
    auto take = [&](const ProcessInfo& p, int pin) {
      tree.insert(p.pid);
      bool quiet = sig != SIGKILL && stay_quiet.count(p.ppid) != 0;
      if (quiet || (sig != SIGKILL && !is_zombie(p) && is_ctxrun(p))) stay_quiet.insert(p.pid);
      if (quiet || is_zombie(p) || (skip_pgid && p.pgid == *skip_pgid)) return;
      bool sent = pin < 0 ? signal_process(p, sig, then_cont) : send_signal_pidfd(pin, sig) == 0;
      if (sent && pin >= 0 && then_cont) send_signal_pidfd(pin, SIGCONT);
      if (sent) signalled.push_back(p);
    };
    bool scanned = for_each_pinned([&](int pin, const ProcessInfo& p) {
      if (p.pid == self || (helper_pid_ && p.pid == *helper_pid_ && p.ppid == self)) return;
      if (tree.count(p.ppid) != 0) take(p, pin);
      else later.push_back(p);
    });
    if (!scanned) return {};
    for (bool found = true; found;) {
      found = false;
      std::erase_if(later, [&](const ProcessInfo& p) {
        if (tree.count(p.ppid) == 0) return false;
        take(p, -1);
        return found = true;
      });
    }
    return signalled;
  }

  std::optional<pid_t> helper_pid_;
  std::vector<ProcessInfo> preexisting_;
  bool swept_kill_ = false;           // a full SIGKILL sweep was made
  std::unordered_set<pid_t> killed_;  // pids SIGKILLed so far (counted once)
};

class PgroupTree final : public ProcessTree {
 public:
  const char* name() const noexcept override { return "pgroup"; }
  // Each process ctxrun spawns into the tree (the services, the command) leads a group of its own:
  // joining one led by another could fail once that group is gone.
  bool prepare_child(bool) const noexcept override { return setpgid(0, 0) == 0; }
  void started(pid_t pid) noexcept override {
    if (!command_) command_ = pid;
    setpgid(pid, pid);  // also in the parent, so the group exists whichever runs first
    try {
      groups_.push_back(pid);
    } catch (...) {
      // Out of memory: the group goes untracked; teardown still reaches the others.
    }
  }
  std::vector<ProcessInfo> members() override {
    std::vector<ProcessInfo> members;
    if (groups_.empty()) return members;
    if (proc_is_ours()) {
      // As a subreaper, ctxrun has every member below it (what ctxrun spawned, and their
      // descendants, re-parented to it when orphaned): a small tree is found by walking down.
      auto all = subreaper_ ? walk_descendants(kWalkLimit, std::nullopt) : std::nullopt;
      if (!all) all = scan_processes();
      if (all) {
        for (auto& p : *all)
          if (in_groups(p.pgid) && !is_zombie(p)) members.push_back(std::move(p));
        return members;
      }
    }
    // Without a /proc of ours, a group can only be probed as a whole.
    for (pid_t group : groups_)
      if (group_exists(group)) members.push_back(ProcessInfo{.pid = group, .pgid = group});
    return members;
  }
  // As a subreaper, ctxrun outlives every member's parent chain: no child left means no member left
  // (a member is one ctxrun spawned or one of its descendants). Otherwise it asks the kernel whether
  // any process is left in each group: one kill(-pgid, 0) each, where reading the members would
  // scan /proc at every wake-up of a teardown (a process left as a zombie by a parent still in the
  // group counts until reaped).
  bool gone(bool has_children) override {
    if (subreaper_ && !has_children) return true;
    return std::none_of(groups_.begin(), groups_.end(), group_exists);
  }
  // One kill() reaches a whole group at once: the kernel lets no member fork past it. Where a
  // nested ctxrun is in a group, its subtree is left to it: then each process is signalled.
  std::vector<ProcessInfo> signal_all(int sig, bool then_cont, std::optional<pid_t> skip_pgid) override {
    auto all = members();
    if (sig != SIGKILL && proc_is_ours()) {
      auto targets = all;
      drop_nested_subtrees(targets);
      if (targets.size() != all.size()) return signal_members(std::move(all), sig, then_cont, skip_pgid);
    }
    std::vector<ProcessInfo> signalled;
    for (pid_t group : groups_) {
      if (skip_pgid && group == *skip_pgid) continue;
      if (::kill(-group, sig) != 0) continue;
      if (then_cont) ::kill(-group, SIGCONT);
      for (const auto& p : all)
        if (p.pgid == group) signalled.push_back(p);
    }
    return signalled;
  }

 private:
  bool in_groups(pid_t pgid) const { return std::find(groups_.begin(), groups_.end(), pgid) != groups_.end(); }
  bool subreaper_ = [] {
    int flag = 0;
    return prctl(PR_GET_CHILD_SUBREAPER, &flag) == 0 && flag != 0;
  }();
  // kill(-pgid, 0): ESRCH once no process is left in the group. ctxrun reaps before it asks, so a
  // zombie of its own does not count.
  static bool group_exists(pid_t group) { return ::kill(-group, 0) == 0 || errno != ESRCH; }
  std::vector<pid_t> groups_;  // led by the processes ctxrun spawned, in spawn order
};

class CgroupTree final : public ProcessTree {
 public:
  // ctxrun's children before the spawn (a shell's background job, the guardian) are not the tree's.
  explicit CgroupTree(CgroupLeaf leaf) : leaf_(std::move(leaf)), preexisting_(own_children()) {}
  const char* name() const noexcept override { return "cgroup"; }
  // Born in the leaf: no migration (which may wait for an RCU grace period: milliseconds).
  // CTXRUN_CGROUP_SPAWN=move forces the fallback, for the tests of it.
  int birth_cgroup_fd() const noexcept override { return move_in_ ? -1 : leaf_.dir_fd(); }
  // Else writing "0" moves the writer: the command enters the leaf before exec. cgroup.procs is
  // opened here, in the child (openat is async-signal-safe), so that the common case never opens it.
  bool prepare_child(bool born_inside) const noexcept override {
    if (born_inside) return true;
    int procs = ::openat(leaf_.dir_fd(), "cgroup.procs", O_WRONLY | O_CLOEXEC);  // closed by exec
    return procs >= 0 && ::write(procs, "0", 1) == 1;
  }
  std::vector<ProcessInfo> members() override {
    std::vector<ProcessInfo> out;
    if (!proc_is_ours()) {
      for (pid_t pid : leaf_.pids_below()) out.push_back(ProcessInfo{.pid = pid, .pgid = getpgid(pid)});
      return out;
    }
    for (pid_t pid : leaf_.pids_below())
      if (auto p = read_process(pid); p && !is_zombie(*p)) out.push_back(std::move(*p));
    return out;
  }
  // "populated 0" comes as the last process leaves the cgroup, a moment before it is a zombie its
  // parent can reap: when that parent is ctxrun (an orphan re-parented to it), the tree is gone only
  // once ctxrun has no child left but those it had before, or the kernel would be left holding a
  // zombie whose reaper has exited. Its SIGCHLD wakes the loop for the last look.
  bool gone(bool has_children) override {
    if (leaf_.populated()) return false;
    if (!has_children) return true;
    auto children = own_children();
    if (!children || !preexisting_) return true;  // no /proc of ours: "populated 0" is all we know
    for (pid_t child : *children)
      if (std::find(preexisting_->begin(), preexisting_->end(), child) == preexisting_->end()) return false;
    return true;
  }
  int change_fd() const noexcept override { return leaf_.events_fd(); }
  std::string cgroup_path() const override { return leaf_.path(); }
  bool kill_is_final() const noexcept override { return killed_; }
  std::vector<ProcessInfo> signal_all(int sig, bool then_cont, std::optional<pid_t> skip_pgid) override {
    if (sig == SIGKILL) {
      // SIGKILL goes to the whole leaf at once (cgroup.kill): nothing forks past it. The pids
      // counted are one read of cgroup.procs made just before (no /proc read delays the kill).
      auto listed = leaf_.pids_below();
      killed_ = leaf_.kill_all();
      if (killed_) {
        std::vector<ProcessInfo> out;
        out.reserve(listed.size());
        for (pid_t pid : listed) out.push_back(ProcessInfo{.pid = pid});
        return out;
      }
    }
    return signal_pinned(sig, then_cont, skip_pgid);
  }

 private:
  // Whether a nested ctxrun is among `pids`. Each announces itself by a cgroup below the leaf named
  // after its pid (its own leaf, or the empty one mark_nested_run() makes): the names, and one
  // stat() of /proc/PID/exe per pid so named, tell. A name whose pid is not one of `pids` (a
  // nested run in a PID namespace of its own) makes every process's executable be looked at.
  bool has_nested_run(const std::vector<pid_t>& pids) const {
    for (pid_t named : leaf_.runs_below()) {
      if (std::find(pids.begin(), pids.end(), named) == pids.end())
        return std::any_of(pids.begin(), pids.end(), runs_ctxrun_executable);
      if (runs_ctxrun_executable(named)) return true;
    }
    return false;
  }

  // Signals every process of the leaf (and the cgroups below it). The nesting rule needs /proc
  // only where a nested ctxrun is there (has_nested_run; SIGKILL skips even that); only then is
  // each process's stat read for the parent links (and zombies), once, before anything is sent. Then, in batches (so
  // that a big tree needs few descriptors at once), each pid is pinned by a pidfd and signalled only if the leaf still
  // lists it after the pin: a pid reused meanwhile by a process outside would not be listed, and one reused inside is
  // the tree's. So the pidfd is the identity check, with no second read of /proc; one poll() of a
  // batch's pidfds tells the processes that have exited (zombies are not counted as signalled).
  // (What was read before the pin of a pid reused inside the tree meanwhile, its group or
  // nesting, may be stale: that changes only whom of the tree it skips, not whom outside it
  // reaches.)
  std::vector<ProcessInfo> signal_pinned(int sig, bool then_cont, std::optional<pid_t> skip_pgid) {
    auto pids = leaf_.pids_below();
    bool nested = sig != SIGKILL && proc_is_ours() && has_nested_run(pids);
    std::vector<ProcessInfo> targets;
    targets.reserve(pids.size());
    for (pid_t pid : pids) {
      if (nested) {
        if (auto p = read_process(pid)) {
          if (!is_zombie(*p)) targets.push_back(std::move(*p));
          continue;
        }
        if (errno == ENOENT || errno == ESRCH) continue;  // gone; any other error says nothing
      }
      targets.push_back(ProcessInfo{.pid = pid, .pgid = skip_pgid && !nested ? getpgid(pid) : 0});
    }
    std::vector<pid_t>().swap(pids);
    if (nested) drop_nested_subtrees(targets);
    if (skip_pgid) std::erase_if(targets, [&](const ProcessInfo& p) { return p.pgid == *skip_pgid; });
    std::vector<ProcessInfo> signalled;
    signalled.reserve(targets.size());
    constexpr std::size_t kBatch = 256;
    std::vector<unique_fd> pins;
    std::vector<pollfd> exited;
    std::vector<bool> gone;
    for (std::size_t from = 0; from < targets.size(); from += kBatch) {
      std::size_t to = std::min(targets.size(), from + kBatch);
      pins.clear();
      exited.clear();
      gone.assign(to - from, false);
      for (std::size_t i = from; i < to; ++i) {
        int pin = open_pidfd(targets[i].pid);
        gone[i - from] = pin < 0 && errno == ESRCH;  // before anything else can change errno
        pins.emplace_back(pin);
        exited.push_back(pollfd{pins.back().get(), POLLIN, 0});  // fd -1 is skipped by poll()
      }
      // A pidfd is readable once its process has exited: a zombie, nothing to signal.
      if (::poll(exited.data(), exited.size(), 0) > 0)
        for (std::size_t k = 0; k < exited.size(); ++k) gone[k] = gone[k] || (exited[k].revents & POLLIN) != 0;
      // The leaf cannot be listed again (no descriptor left): each pid was listed a moment ago,
      // and signalling beats leaving it.
      auto listed = leaf_.list_below();
      if (listed) std::sort(listed->begin(), listed->end());
      for (std::size_t i = from; i < to; ++i) {
        pid_t pid = targets[i].pid;
        int fd = pins[i - from].get();
        if (gone[i - from]) continue;
        if (listed && !std::binary_search(listed->begin(), listed->end(), pid)) continue;
        auto send = [&](int s) { return fd >= 0 ? send_signal_pidfd(fd, s) : ::kill(pid, s); };
        if (send(sig) != 0) continue;
        if (then_cont) send(SIGCONT);
        signalled.push_back(ProcessInfo{.pid = pid});
      }
    }
    return signalled;
  }

  CgroupLeaf leaf_;
  bool move_in_ = [] {
    const char* how = std::getenv("CTXRUN_CGROUP_SPAWN");
    return how && std::string_view(how) == "move";
  }();
  std::optional<std::vector<pid_t>> preexisting_;  // ctxrun's children before the spawn
  bool killed_ = false;  // cgroup.kill succeeded: every process, present and future, is killed
};

}  // namespace

Status become_subreaper() {
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) == 0) return std::nullopt;
  return fmt::format("cannot become a child subreaper: {}", std::strerror(errno));
}

Result<std::unique_ptr<ProcessTree>> make_process_tree(const TreeSetup& setup, std::string& why, bool skip_cgroup) {
  int is_subreaper = 0;
  int subreaper_errno = prctl(PR_GET_CHILD_SUBREAPER, &is_subreaper) == 0 && is_subreaper ? 0 : EPERM;
  bool subreaper = subreaper_errno == 0;
  auto tell_guardian_leaf = [&](const std::string& path) {
    if (setup.tell_guardian) setup.tell_guardian("cgroup " + path);
  };
  switch (setup.kind) {
    case TreeKind::cgroup: {
      auto leaf = CgroupLeaf::create(tell_guardian_leaf);
      if (auto* error = std::get_if<std::string>(&leaf)) return "--tree=cgroup: " + *error;
      return std::make_unique<CgroupTree>(std::move(std::get<CgroupLeaf>(leaf)));
    }
    case TreeKind::subreaper:
      if (!subreaper)
        return fmt::format("--tree=subreaper: cannot become a child subreaper: {}", std::strerror(subreaper_errno));
      if (!proc_is_ours()) return fmt::format("--tree=subreaper: {}", proc_problem());
      return std::make_unique<SubreaperTree>(setup.own_helper);
    case TreeKind::pgroup: return std::make_unique<PgroupTree>();
    case TreeKind::automatic: {
      std::string no_cgroup = "the command could not enter a cgroup leaf";
      if (!skip_cgroup) {
        auto leaf = CgroupLeaf::create(tell_guardian_leaf);
        if (auto* created = std::get_if<CgroupLeaf>(&leaf)) {
          why = fmt::format("cgroup: {}", created->path());
          return std::make_unique<CgroupTree>(std::move(*created));
        }
        no_cgroup = std::get<std::string>(leaf);
      }
      if (subreaper && proc_is_ours()) {
        why = fmt::format("subreaper (no cgroup: {})", no_cgroup);
        return std::make_unique<SubreaperTree>(setup.own_helper);
      }
      why = subreaper ? fmt::format("pgroup (no cgroup: {}; no subreaper tree: {})", no_cgroup, proc_problem())
                      : fmt::format("pgroup (no cgroup: {}; cannot become a child subreaper: {})", no_cgroup,
                                    std::strerror(subreaper_errno));
      return std::make_unique<PgroupTree>();
    }
  }
  return std::string("unknown tree backend");
}

}  // namespace ctxrun
