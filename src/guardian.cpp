#include "ctxrun/guardian.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <vector>

#include "ctxrun/cgroup.h"
#include "ctxrun/proc.h"

namespace ctxrun {
namespace {

constexpr char kReleased = 'R';

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

int kill_marked(const std::string& id) {
  int total = 0;
  for (int round = 0; round < 50; ++round) {
    auto all = scan_processes();
    if (!all) break;
    std::vector<ProcessInfo> killed;
    for (const auto& p : *all)
      if (p.pid != getpid() && p.state != 'Z' && environment_has_marker(p.pid, id) &&
          signal_process(p, SIGKILL, false))
        killed.push_back(p);
    if (killed.empty()) break;
    total += static_cast<int>(killed.size());
    await_exit(killed);
  }
  return total;
}

int kill_cgroup(const std::string& path) {
  auto leaf = CgroupLeaf::adopt(path);
  if (!leaf) return 0;
  int count = static_cast<int>(leaf->pids().size());
  leaf->kill_all();
  for (int i = 0; i < 10 && leaf->populated(); ++i) {
    pollfd fd{leaf->events_fd(), POLLPRI, 0};
    ::poll(&fd, 1, 1000);
  }
  return count;  // the leaf is removed by its destructor
}

[[noreturn]] void guardian_main(int orders_fd, int exited_fd) {
  // Out of the caller's way: own session (no terminal signals), no caller descriptors, no cwd pin;
  // and a name of its own, so that `pkill ctxrun` and ps tell it from ctxrun.
  setsid();
  prctl(PR_SET_NAME, "ctxrun-guardian");
  if (chdir("/") != 0) {}
  int null_fd = open("/dev/null", O_RDWR);
  dup2(null_fd, 0);
  dup2(null_fd, 1);
  dup2(null_fd, 2);
  // Keep only 0-2, the orders pipe and the exited pipe (closed by the kernel when we exit).
  for (int fd = 3; fd < 1024; ++fd)
    if (fd != orders_fd && fd != exited_fd) close(fd);
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_SETMASK, &all, nullptr);
  // ctxrun learns who we are, to wait for our very end in release().
  pid_t self = getpid();
  [[maybe_unused]] auto written = ::write(exited_fd, &self, sizeof self);
  std::string orders;
  char buf[4096];
  while (true) {
    ssize_t n = ::read(orders_fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    orders.append(buf, static_cast<std::size_t>(n));
  }
  if (orders.find(kReleased) == std::string::npos) guardian_teardown(orders);
  _exit(0);
}

}  // namespace

std::string make_run_marker(const std::string& inherited, const std::string& own_id) {
  return inherited.empty() ? own_id : inherited + ":" + own_id;
}

int guardian_teardown(const std::string& orders) {
  int killed = 0;
  std::istringstream lines(orders);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("cgroup ", 0) == 0) killed += kill_cgroup(line.substr(7));
    else if (line.rfind("marker ", 0) == 0) killed += kill_marked(line.substr(7));
    else if (line.rfind("pgroup ", 0) == 0) {
      pid_t pgid = static_cast<pid_t>(std::atoi(line.c_str() + 7));
      if (pgid > 1 && ::kill(-pgid, SIGKILL) == 0) ++killed;
    }
  }
  return killed;
}

std::optional<Guardian> Guardian::start() noexcept {
  // The orders channel is a socket, not a pipe: send(MSG_NOSIGNAL) cannot raise SIGPIPE in ctxrun
  // if the guardian is gone (an enclosing ctxrun may have torn it down).
  int orders[2], exited[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, orders) != 0) return std::nullopt;
  if (pipe2(exited, O_CLOEXEC) != 0) {
    close(orders[0]);
    close(orders[1]);
    return std::nullopt;
  }
  Guardian g;
  g.orders_.reset(orders[1]);
  g.exited_.reset(exited[0]);
  pid_t middle = fork();
  if (middle < 0) {
    close(orders[0]);
    close(exited[1]);
    return std::nullopt;
  }
  if (middle == 0) {
    // The middle process exits at once, so the guardian is re-parented away from ctxrun.
    if (fork() == 0) guardian_main(orders[0], exited[1]);
    _exit(0);
  }
  close(orders[0]);
  close(exited[1]);
  while (waitpid(middle, nullptr, 0) < 0 && errno == EINTR) {}
  return g;
}

void Guardian::order(const std::string& line) noexcept {
  if (!orders_) return;
  std::string text = line + "\n";
  [[maybe_unused]] auto n = ::send(orders_.get(), text.data(), text.size(), MSG_NOSIGNAL);
}

void Guardian::release() noexcept {
  if (!orders_) return;
  char released = kReleased;
  [[maybe_unused]] auto sent = ::send(orders_.get(), &released, 1, MSG_NOSIGNAL);
  orders_.reset();
  // The guardian wrote its pid; EOF follows when it has closed its descriptors, on its way out.
  pid_t pid = 0;
  std::size_t got = 0;
  while (true) {
    char buf[sizeof(pid_t)];
    ssize_t n = ::read(exited_.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    for (ssize_t i = 0; i < n && got < sizeof pid; ++i, ++got) reinterpret_cast<char*>(&pid)[got] = buf[i];
  }
  exited_.reset();
  // Then wait until it has exited for good (its pidfd is readable once it is a zombie), so that
  // nothing of ctxrun's is left running when ctxrun ends. It cannot have been reaped and its pid
  // reused in between: it was still exiting when EOF came.
  if (got == sizeof pid && pid > 0) {
    unique_fd pidfd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
    pollfd fd{pidfd.get(), POLLIN, 0};
    if (pidfd)
      while (::poll(&fd, 1, -1) < 0 && errno == EINTR) {}
  }
}

}  // namespace ctxrun
