#include "ctxrun/process_tree.h"

#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "ctxrun/cgroup.h"

namespace ctxrun {

std::vector<ProcessInfo> ProcessTree::signal_all(int sig, bool then_cont, pid_t skip_pgid) {
  std::vector<ProcessInfo> signalled;
  for (auto& p : members())
    if (p.pgid != skip_pgid && signal_process(p, sig, then_cont)) signalled.push_back(std::move(p));
  return signalled;
}

namespace {

class SubreaperTree final : public ProcessTree {
 public:
  // Children ctxrun has before it spawns anything (`sleep 9 & exec ctxrun ...` makes the shell's
  // background job ctxrun's child) are not the command's: they and their descendants stay out.
  SubreaperTree() {
    if (auto all = scan_processes())
      for (const auto& p : *all)
        if (p.ppid == getpid()) preexisting_.push_back(p);
  }
  const char* name() const noexcept override { return "subreaper"; }
  std::vector<ProcessInfo> members() override {
    auto all = scan_processes();
    if (!all) return {};
    std::erase_if(*all, [&](const ProcessInfo& p) {
      for (const auto& q : preexisting_)
        if (p.pid == q.pid && p.start_time == q.start_time) return true;
      return false;
    });
    auto tree = descendants_of(getpid(), *all);
    std::erase_if(tree, [](const ProcessInfo& p) { return p.state == 'Z' || p.state == 'X'; });
    return tree;
  }
  // Without pre-existing children, ECHILD alone says the tree is gone (see the class comment in
  // process_tree.h); with them, ctxrun has children that are not the tree's, so it must look.
  bool gone(bool has_children) override { return !has_children || (!preexisting_.empty() && members().empty()); }

 private:
  std::vector<ProcessInfo> preexisting_;
};

class PgroupTree final : public ProcessTree {
 public:
  const char* name() const noexcept override { return "pgroup"; }
  bool prepare_child() const noexcept override { return setpgid(0, 0) == 0; }
  void started(pid_t pid) noexcept override {
    command_ = pid;
    setpgid(pid, pid);  // also in the parent, so the group exists whichever runs first
  }
  std::vector<ProcessInfo> members() override {
    std::vector<ProcessInfo> group;
    if (auto all = scan_processes()) {
      for (auto& p : *all)
        if (p.pgid == command_ && p.state != 'Z' && p.state != 'X') group.push_back(std::move(p));
      return group;
    }
    // Without /proc, the group can only be probed as a whole.
    if (::kill(-command_, 0) == 0) group.push_back(ProcessInfo{.pid = command_, .pgid = command_});
    return group;
  }
  // One kill() reaches the whole group at once: the kernel lets no member fork past it.
  std::vector<ProcessInfo> signal_all(int sig, bool then_cont, pid_t skip_pgid) override {
    if (command_ == skip_pgid) return {};
    auto group = members();
    if (::kill(-command_, sig) != 0) return {};
    if (then_cont) ::kill(-command_, SIGCONT);
    return group;
  }
};

class CgroupTree final : public ProcessTree {
 public:
  explicit CgroupTree(CgroupLeaf leaf) : leaf_(std::move(leaf)) {}
  const char* name() const noexcept override { return "cgroup"; }
  // Writing "0" moves the writer: the command enters the leaf before exec.
  bool prepare_child() const noexcept override { return ::write(leaf_.procs_fd(), "0", 1) == 1; }
  std::vector<ProcessInfo> members() override {
    std::vector<ProcessInfo> out;
    for (pid_t pid : leaf_.pids_below())
      if (auto p = read_process(pid); p && p->state != 'Z' && p->state != 'X') out.push_back(std::move(*p));
    return out;
  }
  bool gone(bool) override { return !leaf_.populated(); }
  int change_fd() const noexcept override { return leaf_.events_fd(); }
  std::string guardian_order() const override { return "cgroup " + leaf_.path(); }
  bool kill_is_final() const noexcept override { return killed_; }
  // SIGKILL goes to the whole leaf at once (cgroup.kill): nothing forks past it.
  std::vector<ProcessInfo> signal_all(int sig, bool then_cont, pid_t skip_pgid) override {
    if (sig != SIGKILL) return ProcessTree::signal_all(sig, then_cont, skip_pgid);
    auto snapshot = members();
    killed_ = leaf_.kill_all();
    if (!killed_) return ProcessTree::signal_all(sig, then_cont, skip_pgid);
    return snapshot;
  }

 private:
  CgroupLeaf leaf_;
  bool killed_ = false;  // cgroup.kill succeeded: every process, present and future, is killed
};

bool proc_readable() { return access("/proc/self/stat", R_OK) == 0; }

}  // namespace

int become_subreaper() noexcept { return prctl(PR_SET_CHILD_SUBREAPER, 1) == 0 ? 0 : errno; }

std::variant<std::unique_ptr<ProcessTree>, std::string> make_process_tree(TreeKind kind, std::string& why) {
  int is_subreaper = 0;
  int subreaper_errno = prctl(PR_GET_CHILD_SUBREAPER, &is_subreaper) == 0 && is_subreaper ? 0 : EPERM;
  bool subreaper = subreaper_errno == 0;
  switch (kind) {
    case TreeKind::cgroup: {
      auto leaf = CgroupLeaf::create();
      if (auto* error = std::get_if<std::string>(&leaf)) return "--tree=cgroup: " + *error;
      return std::make_unique<CgroupTree>(std::move(std::get<CgroupLeaf>(leaf)));
    }
    case TreeKind::subreaper:
      if (!subreaper)
        return fmt::format("--tree=subreaper: cannot become a child subreaper: {}", std::strerror(subreaper_errno));
      if (!proc_readable()) return std::string("--tree=subreaper: /proc is not readable");
      return std::make_unique<SubreaperTree>();
    case TreeKind::pgroup:
      return std::make_unique<PgroupTree>();
    case TreeKind::automatic: {
      auto leaf = CgroupLeaf::create();
      if (auto* created = std::get_if<CgroupLeaf>(&leaf)) {
        why = fmt::format("cgroup: {}", created->path());
        return std::make_unique<CgroupTree>(std::move(*created));
      }
      std::string no_cgroup = std::get<std::string>(leaf);
      if (subreaper && proc_readable()) {
        why = fmt::format("subreaper (no cgroup: {})", no_cgroup);
        return std::make_unique<SubreaperTree>();
      }
      why = subreaper ? fmt::format("pgroup (no cgroup: {}; /proc is not readable)", no_cgroup)
                      : fmt::format("pgroup (no cgroup: {}; cannot become a child subreaper: {})", no_cgroup,
                                    std::strerror(subreaper_errno));
      return std::make_unique<PgroupTree>();
    }
  }
  return std::string("unknown tree backend");
}

}  // namespace ctxrun
