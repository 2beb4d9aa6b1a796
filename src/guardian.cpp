#include "guardian.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>
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
      std::string_view ids(env.c_str() + at + 14);
      while (!ids.empty()) {
        auto colon = ids.find(':');
        if (ids.substr(0, colon) == id) return true;
        ids.remove_prefix(colon == std::string_view::npos ? ids.size() : colon + 1);
      }
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
void tear_down(std::string_view orders) {
  while (!orders.empty()) {
    auto newline = orders.find('\n');
    std::string line(orders.substr(0, newline));
    orders.remove_prefix(newline == std::string_view::npos ? orders.size() : newline + 1);
    if (line.rfind("cgroup ", 0) == 0) kill_cgroup(line.substr(7));
    else if (line.rfind("marker ", 0) == 0) kill_marked(line.substr(7));
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
  // Asleep until ctxrun is gone (as the guardian that shares ctxrun's memory, below).
  pollfd hangup{3, POLLRDHUP, 0};
  while (::poll(&hangup, 1, -1) < 0 && errno == EINTR) {}
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

// Not under the sanitizers, whose runtimes expect every stack and every thread to be their own.
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(undefined_behavior_sanitizer)
#define CTXRUN_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define CTXRUN_SANITIZED 1
#endif
#if (defined(__x86_64__) || defined(__aarch64__)) && !defined(CTXRUN_SANITIZED)
#define CTXRUN_GUARDIAN_SHARES_MEMORY 1

// A system call that touches nothing but registers: no errno (thread-local, so ctxrun's own while
// the guardian shares its memory), no glibc state. Returns -errno on failure.
long raw_syscall(long n, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0) noexcept {
#if defined(__x86_64__)
  long ret;
  register long r10 asm("r10") = d;
  register long r8 asm("r8") = e;
  asm volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8) : "rcx", "r11", "memory");
  return ret;
#else
  register long x8 asm("x8") = n;
  register long x0 asm("x0") = a;
  register long x1 asm("x1") = b;
  register long x2 asm("x2") = c;
  register long x3 asm("x3") = d;
  register long x4 asm("x4") = e;
  asm volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4) : "memory");
  return x0;
#endif
}

// What the guardian that shares ctxrun's memory is given, and where it keeps what it reads. Static:
// one guardian per ctxrun, and pages it never touches cost nothing.
struct SharedGuardian {
  int orders_fd = -1;  // its end of the orders socket
  int exe_fd = -1;     // O_PATH descriptor of ctxrun's own executable
};
SharedGuardian g_shared;
alignas(16) char g_shared_stack[64 * 1024];
char g_shared_orders[64 * 1024];
bool g_shared_used = false;

// Closes every descriptor but `a` and `b` (a < b).
void close_all_but(long a, long b) noexcept {
  auto close_range = [](long from, long to) {
    if (from > to) return;
    if (raw_syscall(SYS_close_range, from, to, 0) == 0) return;
    for (long fd = from; fd <= to && fd < 1024; ++fd) raw_syscall(SYS_close, fd);  // before Linux 5.9
  };
  close_range(0, a - 1);
  close_range(a + 1, b - 1);
  close_range(b + 1, ~0U);
}

// The guardian while ctxrun lives: it shares ctxrun's memory (CLONE_VM, its own stack), so only
// raw system calls on its own stack and the static buffers above. When the orders socket reaches
// EOF, ctxrun is gone, and the memory it left may be mid-update (a SIGKILL lands anywhere): the
// guardian execs a fresh ctxrun image that does the teardown (guardian_after_exec).
int shared_guardian_main(void*) {
  const SharedGuardian s = g_shared;
  raw_syscall(SYS_setsid);
  raw_syscall(SYS_prctl, PR_SET_NAME, reinterpret_cast<long>("ctxrun-guardian"));
  raw_syscall(SYS_chdir, reinterpret_cast<long>("/"));
  unsigned long all = ~0UL;
  raw_syscall(SYS_rt_sigprocmask, SIG_SETMASK, reinterpret_cast<long>(&all), 0, sizeof all);
  int lo = s.orders_fd < s.exe_fd ? s.orders_fd : s.exe_fd, hi = s.orders_fd < s.exe_fd ? s.exe_fd : s.orders_fd;
  close_all_but(lo, hi);
  // 0-2 on /dev/null (but where ctxrun was started without them and our two descriptors took
  // those numbers), so that nothing the teardown opens takes their numbers by chance.
  long null_fd = raw_syscall(SYS_openat, AT_FDCWD, reinterpret_cast<long>("/dev/null"), O_RDWR);
  for (long fd = 0; null_fd >= 0 && fd < 3; ++fd)
    if (fd != null_fd && fd != s.orders_fd && fd != s.exe_fd) raw_syscall(SYS_dup3, null_fd, fd, 0);
  if (null_fd > 2) raw_syscall(SYS_close, null_fd);
  // Asleep until ctxrun is gone: the orders wait in the socket's buffer meanwhile. A poll() for
  // POLLRDHUP alone is not woken by data arriving (only the hang-up wakes it), so an order costs
  // ctxrun one send() and no wake-up of the guardian on the other CPU.
  pollfd hangup{s.orders_fd, POLLRDHUP, 0};
  while (raw_syscall(SYS_ppoll, reinterpret_cast<long>(&hangup), 1, 0, 0, sizeof(unsigned long)) == -EINTR) {}
  std::size_t len = 0;
  char scratch[256];
  while (true) {
    bool full = len + 1 >= sizeof g_shared_orders;
    char* into = full ? scratch : g_shared_orders + len;
    std::size_t room = full ? sizeof scratch : sizeof g_shared_orders - 1 - len;
    long n = raw_syscall(SYS_read, s.orders_fd, reinterpret_cast<long>(into), static_cast<long>(room));
    if (n == -EINTR) continue;
    if (n <= 0) break;
    if (!full) len += static_cast<std::size_t>(n);  // orders past 64 KiB are dropped
  }
  g_shared_orders[len] = '\0';
  char arg0[] = "ctxrun-guardian", arg1[] = "--ctxrun-guardian-orders";
  char* argv[] = {arg0, arg1, g_shared_orders, nullptr};
  char* envp[] = {nullptr};
  raw_syscall(SYS_execveat, s.exe_fd, reinterpret_cast<long>(""), reinterpret_cast<long>(argv),
              reinterpret_cast<long>(envp), AT_EMPTY_PATH);
  raw_syscall(SYS_exit, 1);
  return 1;
}

// Starts the guardian sharing ctxrun's memory: a clone(CLONE_VM) on a small stack, exit signal 0,
// with a pidfd. Costs a thread's creation, not a fork's copy of the page tables (and no copy-on-
// write faults for ctxrun afterwards). -1 if it cannot (no /proc/self/exe to exec later: then the
// caller forks as before; so it does under valgrind).
pid_t start_shared_guardian(int orders_fd, int* pidfd) noexcept {
  if (g_shared_used) return -1;
  // Valgrind cannot run a clone that shares memory without being a thread: it would end ctxrun.
  // It announces itself in LD_PRELOAD (vgpreload_*.so).
  if (const char* preload = std::getenv("LD_PRELOAD"); preload && std::strstr(preload, "vgpreload")) return -1;
  int exe = open("/proc/self/exe", O_PATH | O_CLOEXEC);
  if (exe < 0) return -1;
  g_shared = SharedGuardian{.orders_fd = orders_fd, .exe_fd = exe};
  g_shared_used = true;
  pid_t pid = clone(shared_guardian_main, g_shared_stack + sizeof g_shared_stack, CLONE_VM | CLONE_PIDFD, nullptr,
                    reinterpret_cast<pid_t*>(pidfd));
  int error = errno;
  close(exe);
  if (pid < 0) {
    g_shared_used = false;
    errno = error;
  }
  return pid;
}
#endif

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

int guardian_after_exec(const char* orders) noexcept {
  try {
    tear_down(orders);
  } catch (...) {}
  return 0;
}

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
  pid_t pid = -1;
#ifdef CTXRUN_GUARDIAN_SHARES_MEMORY
  if (!std::getenv("CTXRUN_GUARDIAN_FORK")) pid = start_shared_guardian(guardian_end.get(), &pidfd);
#endif
  if (pid < 0) {
    // ctxrun is single-threaded here, so the child may go on using the C library after a raw
    // clone as after fork().
    pidfd = -1;
    pid = fork_quiet_child(&pidfd);
    if (pid < 0) return fmt::format("no guardian: fork: {}", std::strerror(errno));
    if (pid == 0) guardian_main(guardian_end.get());
  }
  g.pidfd_.reset(pidfd);
  g.pid_ = pid;
  return g;
}

void Guardian::order(const std::string& line) noexcept {
  if (!orders_) return;
  try {
    // The guardian reads its orders only once ctxrun is gone: each is sent once (a run's orders
    // are a few lines however many attempts it makes; CgroupLeaf::create reuses its name).
    if (std::find(given_.begin(), given_.end(), line) != given_.end()) return;
    given_.push_back(line);
  } catch (...) {}  // no memory: sent again, at worst
  std::string text = line + "\n";
  // Never blocks (the socket's buffer holds hundreds of orders; the guardian keeps 64 KiB of them).
  [[maybe_unused]] auto n = ::send(orders_.get(), text.data(), text.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

void Guardian::dismiss() noexcept {
  if (!pid_ || dismissed_) return;
  if (pidfd_) syscall(SYS_pidfd_send_signal, pidfd_.get(), SIGKILL, nullptr, 0);
  else ::kill(*pid_, SIGKILL);  // our unreaped child: its pid cannot have been reused
  dismissed_ = true;
}

void Guardian::release() noexcept {
  if (!pid_) return;
  // SIGKILL first, then close the socket: the guardian never sees EOF while it could act on it.
  dismiss();
  // __WALL: it is a clone child, which waitpid() sees only when asked to.
  while (waitpid(*pid_, nullptr, __WALL) < 0 && errno == EINTR) {}
  pid_.reset();
  pidfd_.reset();
  orders_.reset();
}

}  // namespace ctxrun
