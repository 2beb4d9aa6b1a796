// ctxrun_bench_floor: the floor of a tree-tracking wrapper's start-up and end, for the overhead and
// start-up sections (docs/benchmarks.md, issue 15). It makes only the system calls that a wrapper
// like ctxrun cannot do without, and nothing else: no option parsing, no guardian, no C++ runtime.
//
//   ctxrun_bench_floor cgroup|subreaper[+guardian] CMD...
//
// Runs CMD under a 10 s deadline (SIGTERM when it passes) and exits with its status. Both: signals
// blocked and read from a signalfd, a timerfd, clone3 with a pidfd and PR_SET_PDEATHSIG in the
// child, one poll() on the three, waitpid. cgroup: a leaf made under our own cgroup in the cgroup
// v2 mount (/proc/self/mountinfo, /proc/self/cgroup), the child born in it
// (CLONE_INTO_CGROUP), the leaf removed at the end. subreaper: PR_SET_CHILD_SUBREAPER.
// +guardian: the "vfork-class spawn" the issue allows for the guardian that outlives a killed
// wrapper: a clone(CLONE_VM) on a static stack that leaves the session and sleeps in ppoll() on a
// socket until the wrapper is gone (as ctxrun's does), SIGKILLed and reaped at the end.
// C-style, like bench_helper.cpp, so that its own start-up is as small as a C program's.
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>

namespace {

// The cgroup v2 directory this process is in ("" if none): mount point + path.
bool own_cgroup_dir(char* out, std::size_t size) {
  char mount[256] = "", path[256] = "", line[1024];
  FILE* f = std::fopen("/proc/self/mountinfo", "re");
  if (!f) return false;
  while (std::fgets(line, sizeof line, f)) {
    const char* dash = std::strstr(line, " - cgroup2 ");
    if (!dash) continue;
    char root[256];
    if (std::sscanf(line, "%*s %*s %*s %255s %255s", root, mount) == 2) break;
  }
  std::fclose(f);
  f = std::fopen("/proc/self/cgroup", "re");
  if (!f) return false;
  while (std::fgets(line, sizeof line, f))
    if (std::strncmp(line, "0::", 3) == 0) std::sscanf(line + 3, "%255s", path);
  std::fclose(f);
  if (!*mount || !*path) return false;
  std::snprintf(out, size, "%s%s", mount, std::strcmp(path, "/") == 0 ? "" : path);
  return true;
}

alignas(16) char g_guardian_stack[64 * 1024];

int guardian(void* socket) {
  syscall(SYS_setsid);
  unsigned long all = ~0UL;
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, nullptr, sizeof all);
  pollfd hangup{static_cast<int>(reinterpret_cast<std::intptr_t>(socket)), POLLRDHUP, 0};
  syscall(SYS_ppoll, &hangup, 1, nullptr, nullptr, sizeof all);
  syscall(SYS_exit, 0);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return 125;
  bool cgroup = std::strncmp(argv[1], "cgroup", 6) == 0;
  bool with_guardian = std::strstr(argv[1], "+guardian") != nullptr;
  int guardian_pidfd = -1;
  pid_t guardian_pid = -1;
  if (with_guardian) {
    int sockets[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sockets) != 0) return 125;
    guardian_pid = clone(guardian, g_guardian_stack + sizeof g_guardian_stack, CLONE_VM | CLONE_PIDFD,
                         reinterpret_cast<void*>(static_cast<std::intptr_t>(sockets[0])), &guardian_pidfd);
    if (guardian_pid < 0) return 125;
  }
  sigset_t set, old;
  sigemptyset(&set);
  const int watched[] = {SIGCHLD, SIGTERM, SIGINT, SIGHUP};
  for (int s : watched) sigaddset(&set, s);
  sigprocmask(SIG_BLOCK, &set, &old);
  int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
  itimerspec deadline{};
  deadline.it_value.tv_sec = 10;
  timerfd_settime(tfd, 0, &deadline, nullptr);
  char leaf[600] = "";
  int leaf_fd = -1;
  if (cgroup) {
    char parent[520];
    if (!own_cgroup_dir(parent, sizeof parent)) return 125;
    std::snprintf(leaf, sizeof leaf, "%s/floor-%d", parent, static_cast<int>(getpid()));
    if (mkdir(leaf, 0755) != 0) return 125;
    leaf_fd = open(leaf, O_PATH | O_DIRECTORY | O_CLOEXEC);
  } else {
    prctl(PR_SET_CHILD_SUBREAPER, 1);
  }
  int pidfd = -1;
  clone_args args{};
  args.flags = CLONE_PIDFD | (cgroup ? CLONE_INTO_CGROUP : 0);
  args.pidfd = reinterpret_cast<std::uintptr_t>(&pidfd);
  args.exit_signal = SIGCHLD;
  args.cgroup = cgroup ? static_cast<unsigned>(leaf_fd) : 0;
  pid_t pid = static_cast<pid_t>(syscall(SYS_clone3, &args, sizeof args));
  if (pid < 0) return 125;
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    sigprocmask(SIG_SETMASK, &old, nullptr);
    execvp(argv[2], argv + 2);
    _exit(127);
  }
  pollfd fds[3] = {{sfd, POLLIN, 0}, {tfd, POLLIN, 0}, {pidfd, POLLIN, 0}};
  int status = 0;
  while (true) {
    if (poll(fds, 3, -1) < 0) continue;
    if (fds[2].revents) {
      while (waitpid(pid, &status, 0) < 0) {}
      break;
    }
    if (fds[1].revents) {
      syscall(SYS_pidfd_send_signal, pidfd, SIGTERM, nullptr, 0);
      fds[1].fd = -1;
    }
    signalfd_siginfo info;
    while (read(sfd, &info, sizeof info) > 0) {}
  }
  if (cgroup) rmdir(leaf);
  if (with_guardian) {
    syscall(SYS_pidfd_send_signal, guardian_pidfd, SIGKILL, nullptr, 0);
    while (waitpid(guardian_pid, nullptr, __WALL) < 0) {}
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
