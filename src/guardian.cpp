#include "guardian.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <vector>

#include <fmt/format.h>

#include "cgroup.h"
#include "proc.h"

namespace ctxrun {
namespace {

bool environment_has_marker(pid_t pid, const std::string& id) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/environ", static_cast<int>(pid));
  unique_fd fd(open(path, O_RDONLY | O_CLOEXEC));
  if (!fd) return false;
  std::string env;
  char buf[8192];
  ssize_t n;
  while ((n = ::read(fd.get(), buf, sizeof buf)) > 0) env.append(buf, static_cast<std::size_t>(n));
  // Entries are NUL-separated; ours is CTXRUN_RUN_ID=a:b:c.
  std::size_t at = env.find("CTXRUN_RUN_ID=");
  while (at != std::string::npos) {
    if (at == 0 || env[at - 1] == '\0') {
      std::string value(env.c_str() + at + 14);
      std::istringstream ids(value);
      for (std::string item; std::getline(ids, item, ':');)
        if (item == id) return true;
    }
    at = env.find("CTXRUN_RUN_ID=", at + 1);
  }
  return false;
}

// Waits (bounded) for each of `pids` to exit, on pidfds: no sleeping.
void await_exit(const std::vector<ProcessInfo>& killed) {
  for (const auto& p : killed) {
    unique_fd pidfd(static_cast<int>(syscall(SYS_pidfd_open, p.pid, 0)));
    if (!pidfd) continue;
    pollfd fd{pidfd.get(), POLLIN, 0};
    ::poll(&fd, 1, 1000);
  }
}

void kill_marked(const std::string& id) {
  // A /proc of another PID namespace would name other processes than ours.
  if (!proc_is_ours()) return;
  for (int round = 0; round < 50; ++round) {
    auto all = scan_processes();
    if (!all) break;
    std::vector<ProcessInfo> killed;
    for (const auto& p : *all)
      if (p.pid != getpid() && p.state != 'Z' && environment_has_marker(p.pid, id) && signal_process(p, SIGKILL, false))
        killed.push_back(p);
    if (killed.empty()) break;
    await_exit(killed);
  }
}

void kill_cgroup(const std::string& path) {
  auto leaf = CgroupLeaf::adopt(path);
  if (!leaf) return;  // not made yet: the order comes before the mkdir
  leaf->kill_all();
  for (int i = 0; i < 10 && leaf->populated(); ++i) {
    pollfd fd{leaf->events_fd(), POLLPRI, 0};
    ::poll(&fd, 1, 1000);
  }
}  // the leaf, and any cgroup below it, is removed by its destructor

// What the guardian does once ctxrun is gone, from the orders it received.
void tear_down(const std::string& orders) {
  std::istringstream lines(orders);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("cgroup ", 0) == 0) kill_cgroup(line.substr(7));
    else if (line.rfind("marker ", 0) == 0) kill_marked(line.substr(7));
    else if (line.rfind("pgroup ", 0) == 0) {
      pid_t pgid = static_cast<pid_t>(std::atoi(line.c_str() + 7));
      if (pgid > 1) ::kill(-pgid, SIGKILL);
    }
  }
}

[[noreturn]] void guardian_main(int orders_fd) {
  // Out of the caller's way: own session (no terminal signals), no caller descriptors, no cwd pin;
  // and a name of its own, so that `pkill ctxrun` and ps tell it from ctxrun.
  setsid();
  prctl(PR_SET_NAME, "ctxrun-guardian");
  if (chdir("/") != 0) {}
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_SETMASK, &all, nullptr);
  // Keep only the orders socket (as fd 3) and 0-2 on /dev/null (closed if there is no /dev/null:
  // a descriptor opened later may take their numbers, which is harmless here).
  if (dup2(orders_fd, 3) != 3) _exit(1);
  int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
  for (int fd = 0; fd < 3; ++fd)
    if (null_fd < 0 || dup2(null_fd, fd) != fd) close(fd);
  if (syscall(SYS_close_range, 4U, ~0U, 0U) != 0)
    for (int fd = 4; fd < 1024; ++fd) close(fd);
  std::string orders;
  char buf[4096];
  while (true) {
    ssize_t n = ::read(3, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    orders.append(buf, static_cast<std::size_t>(n));
  }
  // EOF: ctxrun is gone without ending us (a normal end SIGKILLs us first).
  // Nothing may unwind out of here into the copy of ctxrun's main this process still has.
  try {
    tear_down(orders);
  } catch (...) {}
  _exit(0);
}

// fork() without SIGCHLD at the end: clone3 with exit signal 0 and a pidfd (Linux >= 5.3), else
// clone. Returns the pid (0 in the child), -1 on failure.
pid_t fork_quiet_child(int* pidfd) noexcept {
  clone_args args{};
  args.flags = CLONE_PIDFD;
  args.pidfd = reinterpret_cast<std::uint64_t>(pidfd);
  args.exit_signal = 0;
  long pid = syscall(SYS_clone3, &args, sizeof args);
  if (pid < 0 && errno == ENOSYS) {
    *pidfd = -1;
    pid = syscall(SYS_clone, 0UL, nullptr, nullptr, nullptr, 0UL);  // flags: no CLONE_*, exit signal 0
  }
  return static_cast<pid_t>(pid);
}

}  // namespace

std::string make_run_marker(const std::string& inherited, const std::string& own_id) {
  return inherited.empty() ? own_id : inherited + ":" + own_id;
}

Result<Guardian> Guardian::start() {
  // The orders channel is a socket, not a pipe: send(MSG_NOSIGNAL) cannot raise SIGPIPE in ctxrun
  // if the guardian is gone (an enclosing ctxrun may have torn it down).
  int orders[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, orders) != 0)
    return fmt::format("no guardian: socketpair: {}", std::strerror(errno));
  Guardian g;
  g.orders_.reset(orders[1]);
  unique_fd guardian_end(orders[0]);
  int pidfd = -1;
  // ctxrun is single-threaded here, so the child may go on using the C library after a raw clone
  // as after fork().
  pid_t pid = fork_quiet_child(&pidfd);
  if (pid < 0) return fmt::format("no guardian: fork: {}", std::strerror(errno));
  if (pid == 0) guardian_main(guardian_end.get());
  g.pidfd_.reset(pidfd);
  g.pid_ = pid;
  return g;
}

void Guardian::order(const std::string& line) noexcept {
  if (!orders_) return;
  std::string text = line + "\n";
  [[maybe_unused]] auto n = ::send(orders_.get(), text.data(), text.size(), MSG_NOSIGNAL);
}

void Guardian::release() noexcept {
  if (!pid_) return;
  // SIGKILL first, then close the socket: the guardian never sees EOF while it could act on it.
  if (pidfd_) syscall(SYS_pidfd_send_signal, pidfd_.get(), SIGKILL, nullptr, 0);
  else ::kill(*pid_, SIGKILL);  // our unreaped child: its pid cannot have been reused
  // __WALL: it is a clone child, which waitpid() sees only when asked to.
  while (waitpid(*pid_, nullptr, __WALL) < 0 && errno == EINTR) {}
  pid_.reset();
  pidfd_.reset();
  orders_.reset();
}

}  // namespace ctxrun
