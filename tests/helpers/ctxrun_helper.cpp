// ctxrun_helper: the child processes the end-to-end tests need, one mode per argument.
//
// Reports go to REPORT: a file descriptor number the test passes (usually 3, inherited through
// ctxrun), or a path (a FIFO, for a command started inside tmux): one line per pid ("pid N"), then
// "ready" when the tree is in place, so tests synchronise on a pipe and never on a sleep. Every
// mode that waits does so in pause()/read(), never on a timer.
//
//   exit N                     exit with status N
//   kill-self SIG              die of signal SIG (number)
//   hang REPORT                report own pid, then wait forever
//   ignore-term REPORT         ignore SIGTERM, report, wait forever
//   tree N REPORT              build N more processes below this one (fan-out 8), report all, wait
//   daemon REPORT exit|hang    double fork + setsid escapee reports its pid; then this one exits 0
//                              or waits forever
//   stopped REPORT             a child stops itself (SIGSTOP); report it once it is stopped, wait
//   exited-leader REPORT       a thread forks a child that reports and waits; then the main thread
//                              exits alone (pthread_exit): /proc shows this process as a zombie
//   leave-child REPORT         a child in the same group reports and waits forever; this one exits 0
//   leave-until-eof REPORT FD  a child reports, then reads FD until EOF and exits 0; this one exits 0
//   hold-stdout REPORT         a setsid grandchild keeps stdout open forever; this one exits 0
//   new-session-fork REPORT    a child calls setsid and forks again; the grandchild reports, waits
//   fork-storm LIVE TOTAL REPORT  a churning fork storm that ignores SIGTERM: every process forks
//                              two children and exits; at most LIVE at once, TOTAL ever
//   count-signal SIG REPORT    report; then a line "signal SIG" for each SIG received; wait
//   orphans N REPORT           N children each fork a grandchild and exit; the N grandchildren
//                              (orphans) exit at once; report when the children are reaped; exit 0
//   state FILE                 write signal mask, ignored signals and open fds to FILE; exit 0
//   read-line FILE REPORT      report, read one line from stdin, write it to FILE, exit 0
//   env NAME                   print the value of NAME (or "unset") on stdout; exit 0
//   env-dump FILE NAME...      write to FILE, for each NAME, "NAME=VALUE" or, when it is unset,
//                              "NAME", each followed by a NUL byte (byte-exact: a value cannot hold
//                              a NUL); exit 0
//   wait-status REPORT CMD...  run CMD as a child in the same process group; report "exited N" or
//                              "killed N" when it ends. Terminal signals (INT, QUIT) are caught here
//                              and so reset to default in CMD. For tests inside tmux.
//   trap-exit SIG N REPORT     report; exit with status N when SIG arrives (a command that cleans up)
//   term-ignoring-child REPORT a child that ignores SIGTERM reports, then this one (SIGTERM left at
//                              default) reports; both wait forever
//   cgroup FILE                first thing: write the cgroup v2 line of /proc/self/cgroup to FILE
//   pgrp FILE                  write to FILE which process group this one is in: "own", "parent"
//                              (led by the parent), "parent's group" or "other"; exit 0
//   pid1 N REPORT CMD...       an application PID 1 that never reaps: run CMD N times in turn, as
//                              children in the same process group, waiting for that pid only; report
//                              "exited N" or "killed N" for each run, then "done"; then wait forever
//                              (the test looks at the namespace from outside, then SIGKILLs this one)
//   record-signals SIG REPORT  report; then a line "signal N from P" for every signal received
//                              (all that can be caught but SIGCHLD), P the sender's pid as this
//                              process sees it; exit 0 after recording SIG (0: never)
//   mixed-tree N REPORT END    N more processes below this one, cycling through the hard cases: a
//                              plain child, a TERM-ignoring child, a setsid double-fork escapee,
//                              a TERM-ignoring setsid escapee; all report, then this one; "ready".
//                              END "hang" waits forever; a number exits with it, leaving the tree
//   fds                        print on stdout the open fds of this process ("own: 0 1 2") and of
//                              its parent ("parent: ...", once the parent waits in poll(2), as
//                              ctxrun does in its event loop), one line each; exit 0
//   record-pair REPORT         a child and this process each write "child signal N" / "main signal N"
//                              for every signal received (as record-signals); each exits 0 on
//                              SIGTERM; the child reports, then this one; "ready"; both wait
//   listen ADDRESS GATE        a server for readiness probes: once GATE (a path, a FIFO the test
//                              writes a line into; "-": at once) gives a line, listen on ADDRESS,
//                              "127.0.0.1:PORT", "[::1]:PORT" (that address only) or a unix socket
//                              path; then accept every connection, read once what the client
//                              sent first, and close it (an HTTP client gets an empty reply),
//                              forever
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "report_io.h"

namespace {

using helper::report;
using helper::report_fd;
using helper::wait_forever;
using helper::write_all;

void report_pid(pid_t pid) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "pid %d", static_cast<int>(pid));
  report(buf);
}

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "ctxrun_helper: %s: %s\n", what, std::strerror(errno));
  _exit(99);
}

pid_t fork_or_die() {
  pid_t pid = fork();
  if (pid < 0) die("fork");
  return pid;
}

// Waits until `fd` has one byte or EOF: the child's "I am in place".
void await_byte(int fd) {
  char c;
  while (read(fd, &c, 1) < 0 && errno == EINTR) {}
}

// Builds `count` processes below the caller with fan-out 8; each writes its pid line to `pipe_w`.
void build_tree(int count, int pipe_w) {
  constexpr int kFanout = 8;
  int per_child = count / kFanout, extra = count % kFanout;
  for (int i = 0; i < kFanout; ++i) {
    int below = per_child + (i < extra ? 1 : 0);  // this child plus its own subtree
    if (below == 0) continue;
    if (fork_or_die() == 0) {
      char line[32];
      int n = std::snprintf(line, sizeof line, "pid %d\n", static_cast<int>(getpid()));
      write_all(pipe_w, line, static_cast<std::size_t>(n));
      build_tree(below - 1, pipe_w);
      close(pipe_w);
      wait_forever();
    }
  }
}

// Forwards the pid lines of a tree's processes from `from` to the report, then closes it: EOF comes
// once every process has written its line and closed its end of the pipe.
void forward_pid_lines(int from) {
  char buf[4096];
  ssize_t n;
  while ((n = read(from, buf, sizeof buf)) != 0) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) die("read");
    write_all(report_fd, buf, static_cast<std::size_t>(n));
  }
  close(from);
}

int mode_tree(int count, int fd) {
  report_fd = fd;
  int p[2];
  if (pipe(p) != 0) die("pipe");
  build_tree(count, p[1]);
  close(p[1]);
  forward_pid_lines(p[0]);
  report_pid(getpid());
  report("ready");
  wait_forever();
}

int mode_daemon(int fd, bool then_hang) {
  report_fd = fd;
  int p[2];
  if (pipe(p) != 0) die("pipe");
  if (fork_or_die() == 0) {
    setsid();
    if (fork_or_die() == 0) {
      close(p[0]);
      report_pid(getpid());
      close(p[1]);
      wait_forever();
    }
    _exit(0);
  }
  close(p[1]);
  await_byte(p[0]);  // EOF: the daemon has reported
  wait(nullptr);
  report("ready");
  if (then_hang) wait_forever();
  return 0;
}

int mode_stopped(int fd) {
  report_fd = fd;
  pid_t child = fork_or_die();
  if (child == 0) {
    raise(SIGSTOP);
    wait_forever();
  }
  int status;
  while (waitpid(child, &status, WUNTRACED) < 0 && errno == EINTR) {}
  report_pid(child);
  report_pid(getpid());
  report("ready");
  wait_forever();
}

// Forks a child that reports its pid and waits forever; returns once it has reported.
void fork_reported_child() {
  int p[2];
  if (pipe(p) != 0) die("pipe");
  if (fork_or_die() == 0) {
    close(p[0]);
    report_pid(getpid());
    close(p[1]);
    wait_forever();
  }
  close(p[1]);
  await_byte(p[0]);
  close(p[0]);
}

// The child a thread of an exited-leader process forks: it reports, and once the process's main
// thread has exited (/proc shows the process as a zombie), so does this thread; then it waits on.
void* exited_leader_thread(void* main_thread) {
  pthread_join(*static_cast<pthread_t*>(main_thread), nullptr);
  char path[64], stat[512];
  std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(getpid()));
  for (bool zombie = false; !zombie; sched_yield()) {  // the leader's exit ends just after the join
    int f = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = f < 0 ? -1 : read(f, stat, sizeof stat - 1);
    if (f >= 0) close(f);
    if (n <= 0) die("read /proc/self/stat");
    stat[n] = '\0';
    const char* paren = std::strrchr(stat, ')');
    zombie = paren && paren[1] == ' ' && paren[2] == 'Z';
  }
  fork_reported_child();
  report_pid(getpid());
  report("ready");
  wait_forever();
}

int mode_exited_leader(int fd) {
  report_fd = fd;
  static pthread_t main_thread = pthread_self();
  pthread_t thread;
  if (pthread_create(&thread, nullptr, exited_leader_thread, &main_thread) != 0) die("pthread_create");
  pthread_exit(nullptr);
}

int mode_leave_child(int fd) {
  report_fd = fd;
  fork_reported_child();
  report("ready");
  return 0;
}

int mode_leave_until_eof(int fd, int eof_fd) {
  report_fd = fd;
  int p[2];
  if (pipe(p) != 0) die("pipe");
  if (fork_or_die() == 0) {
    close(p[0]);
    report_pid(getpid());
    close(p[1]);
    char buf[256];
    ssize_t n;
    while ((n = read(eof_fd, buf, sizeof buf)) != 0)
      if (n < 0 && errno != EINTR) break;
    _exit(0);
  }
  close(p[1]);
  await_byte(p[0]);
  report("ready");
  return 0;
}

int mode_new_session_fork(int fd) {
  report_fd = fd;
  int p[2];
  if (pipe(p) != 0) die("pipe");
  if (fork_or_die() == 0) {
    close(p[0]);
    setsid();
    report_pid(getpid());
    if (fork_or_die() == 0) {
      setsid();  // fails (already leader's child: not a leader), harmless; moves nothing
      report_pid(getpid());
      close(p[1]);
      wait_forever();
    }
    close(p[1]);
    wait_forever();
  }
  close(p[1]);
  await_byte(p[0]);
  report_pid(getpid());
  report("ready");
  wait_forever();
}

int mode_fork_storm(int live_max, int total_max, int fd) {
  report_fd = fd;
  // Counters shared by every process of the storm: at most live_max at once and total_max ever,
  // so the storm can never hurt the machine, even if a teardown failed.
  struct Counters {
    std::atomic<int> live;
    std::atomic<int> total;
  };
  auto* c = static_cast<Counters*>(
      mmap(nullptr, sizeof(Counters), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  if (c == MAP_FAILED) die("mmap");
  new (c) Counters{{1}, {1}};
  signal(SIGTERM, SIG_IGN);  // only SIGKILL ends it: the hardest case for a teardown
  signal(SIGCHLD, SIG_IGN);  // children that exit vanish: pids churn
  report_pid(getpid());
  report("ready");
  if (fork_or_die() != 0) wait_forever();  // the command itself stays; its descendants storm
  // Every process forks two children (while the budget lasts), then exits: the population
  // churns, pids keep changing, and new processes keep appearing until the total is spent.
  while (true) {
    for (int i = 0; i < 2; ++i) {
      if (c->total.load() >= total_max || c->live.fetch_add(1) >= live_max) {
        if (c->total.load() < total_max) c->live.fetch_sub(1);
        continue;
      }
      c->total.fetch_add(1);
      pid_t pid = fork();
      if (pid == 0) goto child;  // the child starts the loop afresh
      if (pid < 0) c->live.fetch_sub(1);
    }
    if (c->total.load() >= total_max) wait_forever();  // spent: the last ones stay, for teardown
    c->live.fetch_sub(1);
    _exit(0);
  child:;
  }
}

char signal_line[32];
std::size_t signal_line_size = 0;
void count_handler(int) {
  int saved = errno;
  write_all(report_fd, signal_line, signal_line_size);
  errno = saved;
}

int mode_count_signal(int sig, int fd) {
  report_fd = fd;
  signal_line_size = static_cast<std::size_t>(std::snprintf(signal_line, sizeof signal_line, "signal %d\n", sig));
  struct sigaction sa {};
  sa.sa_handler = count_handler;
  sigaction(sig, &sa, nullptr);
  report_pid(getpid());
  report("ready");
  wait_forever();
}

int mode_state(const char* file) {
  FILE* out = std::fopen(file, "w");
  if (!out) die("fopen");
  sigset_t mask;
  sigprocmask(SIG_SETMASK, nullptr, &mask);
  std::fprintf(out, "blocked:");
  for (int sig = 1; sig < NSIG; ++sig)
    if (sigismember(&mask, sig) == 1) std::fprintf(out, " %d", sig);
  std::fprintf(out, "\nignored:");
  for (int sig = 1; sig < NSIG; ++sig) {
    struct sigaction sa {};
    if (sigaction(sig, nullptr, &sa) == 0 && sa.sa_handler == SIG_IGN) std::fprintf(out, " %d", sig);
  }
  std::fprintf(out, "\nfds:");
  int own = fileno(out);
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) die("opendir");
  int dir_fd = dirfd(dir);
  std::string fds;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    int n = std::atoi(e->d_name);
    if (n == dir_fd || n == own) continue;
    std::fprintf(out, " %d", n);
  }
  closedir(dir);
  std::fprintf(out, "\n");
  std::fclose(out);
  return 0;
}

int mode_read_line(const char* file, int fd) {
  report_fd = fd;
  report_pid(getpid());
  report("ready");
  char line[256] = {};
  if (!std::fgets(line, sizeof line, stdin))
    std::snprintf(line, sizeof line, "read failed: %s\n", std::strerror(errno));
  FILE* out = std::fopen(file, "w");
  if (!out) die("fopen");
  std::fputs(line, out);
  std::fclose(out);
  return 0;
}

int mode_orphans(int count, int fd) {
  report_fd = fd;
  for (int i = 0; i < count; ++i) {
    if (fork_or_die() == 0) {
      if (fork_or_die() == 0) _exit(0);  // the orphan: its parent is gone or about to be
      _exit(0);
    }
  }
  for (int i = 0; i < count; ++i)
    while (wait(nullptr) < 0 && errno == EINTR) {}
  report("ready");
  return 0;
}

void ignore_signal(int) {}

int mode_wait_status(int fd, char** command) {
  report_fd = fd;
  struct sigaction sa {};
  sa.sa_handler = ignore_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGQUIT, &sa, nullptr);
  pid_t child = fork_or_die();
  if (child == 0) {
    execvp(command[0], command);
    die("exec");
  }
  int status;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {}
  char line[32];
  if (WIFSIGNALED(status)) std::snprintf(line, sizeof line, "killed %d", WTERMSIG(status));
  else std::snprintf(line, sizeof line, "exited %d", WEXITSTATUS(status));
  report(line);
  return 0;
}

int trap_exit_status = 0;
void trap_exit_handler(int) { _exit(trap_exit_status); }

int mode_trap_exit(int sig, int status, int fd) {
  report_fd = fd;
  trap_exit_status = status;
  struct sigaction sa {};
  sa.sa_handler = trap_exit_handler;
  sigaction(sig, &sa, nullptr);
  report_pid(getpid());
  report("ready");
  wait_forever();
}

int mode_term_ignoring_child(int fd) {
  report_fd = fd;
  int p[2];
  if (pipe(p) != 0) die("pipe");
  if (fork_or_die() == 0) {
    signal(SIGTERM, SIG_IGN);
    close(p[0]);
    report_pid(getpid());
    close(p[1]);
    wait_forever();
  }
  close(p[1]);
  await_byte(p[0]);
  report_pid(getpid());
  report("ready");
  wait_forever();
}

int mode_pgrp(const char* file) {
  pid_t group = getpgrp(), parent = getppid();
  const char* where = group == getpid()          ? "own"
                      : group == parent          ? "parent"
                      : group == getpgid(parent) ? "parent's group"
                                                 : "other";
  FILE* out = std::fopen(file, "w");
  if (!out) die("fopen");
  std::fprintf(out, "%s\n", where);
  std::fclose(out);
  return 0;
}

int mode_cgroup(const char* file) {
  char buf[4096];
  int in = open("/proc/self/cgroup", O_RDONLY | O_CLOEXEC);
  if (in < 0) die("open /proc/self/cgroup");
  ssize_t n = read(in, buf, sizeof buf - 1);
  if (n < 0) die("read /proc/self/cgroup");
  close(in);
  buf[n] = '\0';
  const char* line = std::strstr(buf, "0::");
  FILE* out = std::fopen(file, "w");
  if (!out) die("fopen");
  std::fprintf(out, "%s", line ? line : "none\n");
  std::fclose(out);
  return 0;
}

int mode_pid1(int runs, int fd, char** command) {
  report_fd = fd;
  for (int i = 0; i < runs; ++i) {
    pid_t child = fork_or_die();
    if (child == 0) {
      execvp(command[0], command);
      die("exec");
    }
    int status;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR) {}
    char line[32];
    if (WIFSIGNALED(status)) std::snprintf(line, sizeof line, "killed %d", WTERMSIG(status));
    else std::snprintf(line, sizeof line, "exited %d", WEXITSTATUS(status));
    report(line);
  }
  report("done");
  wait_forever();
}

int record_exit_signal = 0;

// Appends the decimal digits of `n` at `out`; returns the end. Async-signal-safe.
char* append_number(char* out, long n) {
  char digits[24];
  int count = 0;
  bool negative = n < 0;
  unsigned long u = negative ? 0UL - static_cast<unsigned long>(n) : static_cast<unsigned long>(n);
  do digits[count++] = static_cast<char>('0' + u % 10);
  while ((u /= 10) != 0);
  if (negative) *out++ = '-';
  while (count > 0) *out++ = digits[--count];
  return out;
}

void record_handler(int sig, siginfo_t* info, void*) {
  int saved = errno;
  char line[64] = "signal ";
  char* end = append_number(line + 7, sig);
  std::memcpy(end, " from ", 6);
  end = append_number(end + 6, info->si_pid);
  *end++ = '\n';
  write_all(report_fd, line, static_cast<std::size_t>(end - line));
  if (sig == record_exit_signal) _exit(0);
  errno = saved;
}

int mode_record_signals(int exit_sig, int fd) {
  report_fd = fd;
  record_exit_signal = exit_sig;
  struct sigaction sa {};
  sa.sa_sigaction = record_handler;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigfillset(&sa.sa_mask);  // one line at a time
  for (int sig = 1; sig < 32; ++sig)
    if (sig != SIGKILL && sig != SIGSTOP && sig != SIGCHLD) sigaction(sig, &sa, nullptr);
  report_pid(getpid());
  report("ready");
  wait_forever();
}

int mode_mixed_tree(int count, int fd, const char* end) {
  report_fd = fd;
  int p[2];
  if (pipe(p) != 0) die("pipe");
  auto report_and_wait = [&] {
    close(p[0]);
    char line[32];
    int n = std::snprintf(line, sizeof line, "pid %d\n", static_cast<int>(getpid()));
    write_all(p[1], line, static_cast<std::size_t>(n));
    close(p[1]);
    wait_forever();
  };
  for (int i = 0; i < count; ++i) {
    int kind = i % 4;
    pid_t child = fork_or_die();
    if (child != 0) {
      if (kind >= 2)
        while (waitpid(child, nullptr, 0) < 0 && errno == EINTR) {}  // the escapee's parent
      continue;
    }
    if (kind == 1 || kind == 3) signal(SIGTERM, SIG_IGN);
    if (kind >= 2) {
      setsid();
      if (fork_or_die() != 0) _exit(0);  // the grandchild is orphaned: it re-parents to a subreaper
    }
    report_and_wait();
  }
  close(p[1]);
  forward_pid_lines(p[0]);
  report_pid(getpid());
  report("ready");
  if (std::strcmp(end, "hang") == 0) wait_forever();
  return std::atoi(end);
}

// The open fds of process `pid` ("self" or a number) as " 0 1 2", without the one reading them.
std::string open_fds(const std::string& pid) {
  std::string out;
  DIR* dir = opendir(("/proc/" + pid + "/fd").c_str());
  if (!dir) die("opendir");
  int own = pid == "self" ? dirfd(dir) : -1;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.' || std::atoi(e->d_name) == own) continue;
    out += ' ';
    out += e->d_name;
  }
  closedir(dir);
  return out;
}

// Whether process `pid` is blocked in poll(2), as ctxrun is in its event loop.
bool in_poll(pid_t pid) {
  char buf[64] = {};
  int fd = open(("/proc/" + std::to_string(pid) + "/syscall").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  return n > 2 && std::strncmp(buf, "7 ", 2) == 0;  // SYS_poll on x86-64
}

int mode_fds() {
  // ctxrun's set is read once it waits in its event loop: until then it may still hold a
  // descriptor of the spawn. Bounded, in case the parent is not a ctxrun (then read as it is).
  for (int i = 0; i < 1000000 && !in_poll(getppid()); ++i) sched_yield();
  std::string text = "own:" + open_fds("self") + "\nparent:" + open_fds(std::to_string(getppid())) + "\n";
  write_all(STDOUT_FILENO, text.data(), text.size());
  return 0;
}

const char* pair_who = "main";

void pair_handler(int sig) {
  int saved = errno;
  char line[64];
  std::size_t size = std::strlen(pair_who);
  std::memcpy(line, pair_who, size);
  std::memcpy(line + size, " signal ", 8);
  char* end = append_number(line + size + 8, sig);
  *end++ = '\n';
  write_all(report_fd, line, static_cast<std::size_t>(end - line));
  if (sig == SIGTERM) _exit(0);
  errno = saved;
}

void record_all(void (*handler)(int)) {
  struct sigaction sa {};
  sa.sa_handler = handler;
  sa.sa_flags = SA_RESTART;
  sigfillset(&sa.sa_mask);  // one line at a time
  for (int sig = 1; sig < 32; ++sig)
    if (sig != SIGKILL && sig != SIGSTOP && sig != SIGCHLD) sigaction(sig, &sa, nullptr);
}

int mode_record_pair(int fd) {
  report_fd = fd;
  record_all(pair_handler);
  int p[2];
  if (pipe(p) != 0) die("pipe");
  if (fork_or_die() == 0) {
    pair_who = "child";
    close(p[0]);
    report_pid(getpid());
    close(p[1]);
    wait_forever();
  }
  close(p[1]);
  await_byte(p[0]);
  close(p[0]);
  report_pid(getpid());
  report("ready");
  wait_forever();
}

// Reads from `fd` up to a newline or EOF.
void await_line(int fd) {
  char c = 0;
  while (c != '\n') {
    ssize_t n = read(fd, &c, 1);
    if (n == 0) return;
    if (n < 0 && errno != EINTR) die("read gate");
  }
}

int mode_listen(const char* address, const char* gate) {
  if (std::strcmp(gate, "-") != 0) {
    int fd = open(gate, O_RDONLY | O_CLOEXEC);
    if (fd < 0) die("open gate");
    await_line(fd);
    close(fd);
  }
  int s = -1;
  std::string text = address;
  if (text[0] == '/') {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    if (text.size() >= sizeof a.sun_path) die("unix socket path too long");
    std::memcpy(a.sun_path, text.c_str(), text.size() + 1);
    s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0 || bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) die("bind unix");
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string::npos) die("ADDRESS is HOST:PORT");
    std::string host = text.substr(0, colon);
    auto port = static_cast<uint16_t>(std::atoi(text.c_str() + colon + 1));
    int one = 1;
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
      sockaddr_in6 a{};
      a.sin6_family = AF_INET6;
      a.sin6_port = htons(port);
      if (inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), &a.sin6_addr) != 1) die("bad IPv6 address");
      s = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (s < 0) die("socket");
      setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
      if (bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) die("bind");
    } else {
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(port);
      if (inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1) die("bad IPv4 address");
      s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (s < 0) die("socket");
      setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      if (bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) die("bind");
    }
  }
  if (listen(s, 64) != 0) die("listen");
  while (true) {
    int c = accept4(s, nullptr, nullptr, SOCK_CLOEXEC);
    if (c >= 0) {
      char request[4096];
      while (read(c, request, sizeof request) < 0 && errno == EINTR) {}
      close(c);
    } else if (errno != EINTR && errno != ECONNABORTED) die("accept");
  }
}

int usage() {
  std::fprintf(stderr, "ctxrun_helper: bad arguments (see the comment at the top of the source)\n");
  return 98;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  // First of all, before anything else runs: which cgroup v2 the process is in ("0::/path" of
  // /proc/self/cgroup), written to FILE.
  if (std::strcmp(argv[1], "cgroup") == 0 && argc == 3) return mode_cgroup(argv[2]);
  std::string mode = argv[1];
  auto arg = [&](int i) { return i < argc ? std::atoi(argv[i]) : -1; };
  // A REPORT argument that is not a number is a path to open (a FIFO, from inside tmux).
  for (int i = 2; i < argc; ++i)
    if (std::strchr(argv[i], '/') && mode != "state" && mode != "read-line" && mode != "env" && mode != "env-dump" &&
        mode != "wait-status" && mode != "pgrp" && mode != "pid1" && mode != "listen") {
      int fd = open(argv[i], O_WRONLY | O_APPEND | O_CREAT, 0644);
      if (fd < 0) die("open report");
      static char number[16];
      std::snprintf(number, sizeof number, "%d", fd);
      argv[i] = number;
    }
  if (mode == "exit" && argc == 3) return arg(2);
  if (mode == "kill-self" && argc == 3) {
    signal(arg(2), SIG_DFL);
    raise(arg(2));
    return 97;
  }
  if (mode == "exited-leader" && argc == 3) return mode_exited_leader(arg(2));
  if (mode == "hang" && argc == 3) {
    report_fd = arg(2);
    report_pid(getpid());
    report("ready");
    wait_forever();
  }
  if (mode == "ignore-term" && argc == 3) {
    signal(SIGTERM, SIG_IGN);
    report_fd = arg(2);
    report_pid(getpid());
    report("ready");
    wait_forever();
  }
  if (mode == "tree" && argc == 4) return mode_tree(arg(2), arg(3));
  if (mode == "daemon" && argc == 4) return mode_daemon(arg(2), std::string(argv[3]) == "hang");
  if (mode == "stopped" && argc == 3) return mode_stopped(arg(2));
  if (mode == "leave-child" && argc == 3) return mode_leave_child(arg(2));
  if (mode == "leave-until-eof" && argc == 4) return mode_leave_until_eof(arg(2), arg(3));
  // The escaped daemon keeps the stdout it inherited open: the same thing, by another name.
  if (mode == "hold-stdout" && argc == 3) return mode_daemon(arg(2), false);
  if (mode == "new-session-fork" && argc == 3) return mode_new_session_fork(arg(2));
  if (mode == "fork-storm" && argc == 5) return mode_fork_storm(arg(2), arg(3), arg(4));
  if (mode == "count-signal" && argc == 4) return mode_count_signal(arg(2), arg(3));
  if (mode == "state" && argc == 3) return mode_state(argv[2]);
  if (mode == "read-line" && argc == 4) {
    int fd = std::strchr(argv[3], '/') ? open(argv[3], O_WRONLY | O_APPEND | O_CREAT, 0644) : arg(3);
    return mode_read_line(argv[2], fd);
  }
  if (mode == "orphans" && argc == 4) return mode_orphans(arg(2), arg(3));
  if (mode == "wait-status" && argc >= 4) return mode_wait_status(arg(2), argv + 3);
  if (mode == "trap-exit" && argc == 5) return mode_trap_exit(arg(2), arg(3), arg(4));
  if (mode == "term-ignoring-child" && argc == 3) return mode_term_ignoring_child(arg(2));
  if (mode == "pgrp" && argc == 3) return mode_pgrp(argv[2]);
  if (mode == "mixed-tree" && argc == 5) return mode_mixed_tree(arg(2), arg(3), argv[4]);
  if (mode == "fds" && argc == 2) return mode_fds();
  if (mode == "env" && argc == 3) {
    const char* v = std::getenv(argv[2]);
    std::printf("%s\n", v ? v : "unset");
    return 0;
  }
  if (mode == "env-dump" && argc >= 3) {
    std::string dump;
    for (int i = 3; i < argc; ++i) {
      const char* v = std::getenv(argv[i]);
      dump += argv[i];
      if (v) dump += std::string("=") + v;
      dump += '\0';
    }
    int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) die("open env-dump file");
    write_all(fd, dump.data(), dump.size());
    return close(fd) == 0 ? 0 : 98;
  }
  if (mode == "pid1" && argc >= 5) return mode_pid1(arg(2), arg(3), argv + 4);
  if (mode == "record-signals" && argc == 4) return mode_record_signals(arg(2), arg(3));
  if (mode == "record-pair" && argc == 3) return mode_record_pair(arg(2));
  if (mode == "listen" && argc == 4) return mode_listen(argv[2], argv[3]);
  return usage();
}
