#include "proc.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unordered_map>
#include <utility>

#include "ctxrun/unique_fd.h"

namespace ctxrun {
namespace {

// Parses the text of /proc/PID/stat. comm may hold spaces and ')', so fields are counted from the
// last ')'.
std::optional<ProcessInfo> parse_stat(const char* buf, std::size_t len, long* threads = nullptr) {
  const char* open = static_cast<const char*>(memchr(buf, '(', len));
  const char* close = static_cast<const char*>(memrchr(buf, ')', len));
  if (!open || !close || close < open || close + 2 >= buf + len) return std::nullopt;
  ProcessInfo p;
  p.pid = static_cast<pid_t>(std::strtol(buf, nullptr, 10));
  p.name.assign(open + 1, close);
  const char* s = close + 2;  // field 3: state
  p.state = *s;
  // Fields 4 (ppid), 5 (pgrp), then 22 (starttime).
  char* end = nullptr;
  p.ppid = static_cast<pid_t>(std::strtol(s + 1, &end, 10));
  p.pgid = static_cast<pid_t>(std::strtol(end, &end, 10));
  for (int field = 6; field < 22; ++field) {
    while (*end == ' ') ++end;
    if (field == 20 && threads) *threads = std::strtol(end, nullptr, 10);  // num_threads
    while (*end && *end != ' ') ++end;
  }
  p.start_time = std::strtoull(end, nullptr, 10);
  return p;
}

std::optional<ProcessInfo> read_stat_at(int dir_fd, const char* name, long* threads = nullptr) {
  char path[64];
  std::snprintf(path, sizeof path, "%s/stat", name);
  unique_fd fd(openat(dir_fd, path, O_RDONLY | O_CLOEXEC));
  if (!fd) return std::nullopt;
  char buf[1024];
  ssize_t n;
  do n = ::read(fd.get(), buf, sizeof buf - 1);
  while (n < 0 && errno == EINTR);
  if (n == 0) errno = ESRCH;  // a process that has just been reaped reads as empty
  if (n <= 0) return std::nullopt;
  buf[n] = '\0';
  return parse_stat(buf, static_cast<std::size_t>(n), threads);
}

// The pids listed in a /proc/.../children file, appended to `out`; false (errno set) if it cannot
// be read.
bool read_children(const char* path, std::vector<pid_t>& out) {
  unique_fd fd(open(path, O_RDONLY | O_CLOEXEC));
  if (!fd) return false;
  std::string text;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd.get(), buf, sizeof buf)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    text.append(buf, static_cast<std::size_t>(n));
  }
  const char* p = text.c_str();
  for (char* end = nullptr;; p = end) {
    long pid = std::strtol(p, &end, 10);
    if (end == p) break;
    out.push_back(static_cast<pid_t>(pid));
  }
  return true;
}

// Errors that say the process is not there any more; any other error says nothing about it.
bool means_gone(int error) { return error == ESRCH || error == ENOENT; }

struct FileId {
  dev_t dev;
  ino_t ino;
};

std::optional<FileId> file_id(const char* path) {
  struct stat st {};
  if (stat(path, &st) != 0) return std::nullopt;
  return FileId{st.st_dev, st.st_ino};
}

}  // namespace

const char* proc_problem() noexcept {
  // /proc/self is a link to the reader's pid as the procfs's own PID namespace numbers it.
  static const char* const problem = [] {
    char link[32] = {};
    ssize_t n = readlink("/proc/self", link, sizeof link - 1);
    if (n <= 0) return "/proc is not mounted (or cannot be read)";
    if (std::strtol(link, nullptr, 10) != static_cast<long>(getpid()))
      return "/proc belongs to another PID namespace (mount a procfs of this one, as unshare --mount-proc does)";
    return "";
  }();
  return problem;
}

bool proc_is_ours() noexcept { return *proc_problem() == '\0'; }

int open_pidfd(pid_t pid) noexcept { return static_cast<int>(syscall(SYS_pidfd_open, pid, 0)); }

int send_signal_pidfd(int pidfd, int sig) noexcept {
  return static_cast<int>(syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}

namespace {

const std::optional<FileId>& own_executable() {
  static const std::optional<FileId> self = file_id("/proc/self/exe");
  return self;
}

}  // namespace

bool runs_ctxrun_executable(pid_t pid) {
  const auto& self = own_executable();
  if (!self || !proc_is_ours()) return false;
  char path[48];
  std::snprintf(path, sizeof path, "/proc/%d/exe", static_cast<int>(pid));
  auto exe = file_id(path);
  return exe && exe->dev == self->dev && exe->ino == self->ino;
}

bool is_ctxrun(const ProcessInfo& p) {
  static const std::string own_name = [] {
    auto me = read_process(getpid());
    return me ? me->name : std::string("ctxrun");
  }();
  if (!own_executable() || !proc_is_ours()) return false;
  // comm is the basename of what was executed: cheap to compare before a stat of the executable.
  if (p.name != own_name && p.name != "ctxrun" && p.name != "timeout" && p.name != "ctxrun-timeout") return false;
  return runs_ctxrun_executable(p.pid);
}

std::optional<ProcessInfo> read_process(pid_t pid) {
  char name[32];
  std::snprintf(name, sizeof name, "/proc/%d", static_cast<int>(pid));
  return read_stat_at(AT_FDCWD, name);
}

std::optional<std::vector<ProcessInfo>> scan_processes() {
  DIR* dir = opendir("/proc");
  if (!dir) return std::nullopt;
  std::vector<ProcessInfo> all;
  int dfd = dirfd(dir);
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] < '1' || entry->d_name[0] > '9') continue;
    if (auto p = read_stat_at(dfd, entry->d_name)) all.push_back(std::move(*p));
  }
  closedir(dir);
  return all;
}

bool for_each_pinned(const std::function<void(int pin, const ProcessInfo& process)>& each) {
  DIR* dir = opendir("/proc");
  if (!dir) return false;
  int dfd = dirfd(dir);
  while (dirent* entry = readdir(dir)) {  // procfs lists pids in increasing order
    if (entry->d_name[0] < '1' || entry->d_name[0] > '9') continue;
    unique_fd pin(open_pidfd(static_cast<pid_t>(std::strtol(entry->d_name, nullptr, 10))));
    if (!pin && means_gone(errno)) continue;
    if (auto p = read_stat_at(dfd, entry->d_name)) each(pin.get(), *p);
  }
  closedir(dir);
  return true;
}

std::optional<std::vector<pid_t>> own_children() {
  if (!proc_is_ours()) return std::nullopt;
  char path[64];
  std::snprintf(path, sizeof path, "/proc/self/task/%d/children", static_cast<int>(getpid()));
  std::vector<pid_t> children;
  if (!read_children(path, children)) return std::nullopt;
  return children;
}

std::optional<std::vector<ProcessInfo>> walk_descendants(std::size_t limit, std::optional<pid_t> skip) {
  auto own = own_children();
  if (!own) return std::nullopt;
  pid_t self = getpid();
  // (pid, the parent whose children file named it)
  std::vector<std::pair<pid_t, pid_t>> frontier;
  for (pid_t pid : *own) frontier.emplace_back(pid, self);
  std::vector<ProcessInfo> out;
  std::vector<pid_t> children;
  char path[320];  // room for a task directory entry's name
  while (!frontier.empty()) {
    auto [pid, parent] = frontier.back();
    frontier.pop_back();
    if (skip && pid == *skip) continue;
    long threads = 1;
    std::snprintf(path, sizeof path, "/proc/%d", static_cast<int>(pid));
    auto p = read_stat_at(AT_FDCWD, path, &threads);
    if (!p) {
      if (means_gone(errno)) continue;
      return std::nullopt;
    }
    // Named by a children file a moment ago, but the pid may have been reaped and reused since: a
    // process that is neither that parent's child nor (re-parented) ours is not this tree's.
    if (p->ppid != parent && p->ppid != self) continue;
    // Exited: nothing to signal, no children. A leader that exited while other threads of its
    // process run reads as a zombie too, and is alive: its threads have children to walk.
    if ((p->state == 'Z' || p->state == 'X') && threads <= 1) continue;
    if (out.size() == limit) return std::nullopt;
    // Each thread lists the children it forked; most processes have one thread, whose id is the pid.
    children.clear();
    bool read = true;
    if (threads == 1) {
      std::snprintf(path, sizeof path, "/proc/%d/task/%d/children", static_cast<int>(pid), static_cast<int>(pid));
      read = read_children(path, children) || means_gone(errno);
    } else {
      std::snprintf(path, sizeof path, "/proc/%d/task", static_cast<int>(pid));
      if (DIR* dir = opendir(path)) {
        while (dirent* task = readdir(dir)) {
          if (task->d_name[0] < '0' || task->d_name[0] > '9') continue;
          std::snprintf(path, sizeof path, "/proc/%d/task/%s/children", static_cast<int>(pid), task->d_name);
          read = read && (read_children(path, children) || means_gone(errno));
        }
        closedir(dir);
      } else {
        read = means_gone(errno);
      }
    }
    if (!read) return std::nullopt;
    for (pid_t child : children) frontier.emplace_back(child, pid);
    out.push_back(std::move(*p));
  }
  return out;
}

std::vector<ProcessInfo> descendants_of(pid_t root, const std::vector<ProcessInfo>& all) {
  std::unordered_multimap<pid_t, const ProcessInfo*> children;
  children.reserve(all.size());
  for (const auto& p : all) children.emplace(p.ppid, &p);
  std::vector<ProcessInfo> out;
  std::vector<pid_t> frontier{root};
  while (!frontier.empty()) {
    pid_t parent = frontier.back();
    frontier.pop_back();
    auto [first, last] = children.equal_range(parent);
    for (auto it = first; it != last; ++it) {
      if (it->second->pid == root) continue;  // pid 0's children include pid 1 and 2
      out.push_back(*it->second);
      frontier.push_back(it->second->pid);
    }
  }
  return out;
}

bool signal_process(const ProcessInfo& p, int sig, bool then_cont) noexcept {
  // Our own child, seen so by a read made since our last reap: until we reap it, its pid names it
  // and nothing else (a zombie included), so it needs neither a pidfd nor a second read.
  if (p.ppid == getpid() && p.pid > 1) {
    if (::kill(p.pid, sig) != 0) return false;
    if (then_cont) ::kill(p.pid, SIGCONT);
    return true;
  }
  // The pidfd pins the process: if it is the one we saw (same start time), it stays that one.
  unique_fd pidfd(open_pidfd(p.pid));
  if (!pidfd && means_gone(errno)) return false;
  auto now = read_process(p.pid);
  if (now ? now->start_time != p.start_time : means_gone(errno)) return false;
  // /proc could not tell (EMFILE, ENOMEM): the process was seen a moment ago, and under a subreaper
  // an orphan's pid cannot be reused before ctxrun itself reaps it. Signalling beats leaving it.
  if (pidfd) {
    if (send_signal_pidfd(pidfd.get(), sig) != 0) return false;
    if (then_cont) send_signal_pidfd(pidfd.get(), SIGCONT);
    return true;
  }
  // No pidfd (kernels before 5.3, or no descriptor left): kill() after the same check.
  if (::kill(p.pid, sig) != 0) return false;
  if (then_cont) ::kill(p.pid, SIGCONT);
  return true;
}

}  // namespace ctxrun
