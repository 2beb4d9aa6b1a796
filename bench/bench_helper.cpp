// ctxrun_bench_helper: the commands the benchmarks run under ctxrun and GNU timeout.
//
// Small on purpose (no C++ runtime beyond what the compiler needs): a 3000-process tree is 3000
// forks of this image, and the benchmark must measure the wrappers, not the helper. Every mode that
// waits does so in pause() or read(), never on a timer, except `idle`, whose five seconds of doing
// nothing are the workload itself.
//
//   hang                          wait forever; any fatal signal ends it
//   tree N FD [ignore-term] [escape E]
//                                 N processes in all (this one included), fan-out 8 below this
//                                 one, every one waiting forever. With ignore-term every one
//                                 ignores SIGTERM. With escape E, E of the N are daemons that left
//                                 the tree's process group and session (fork, setsid, fork; the
//                                 middle process exits), as a double-forking daemon does. Writes
//                                 "pid P" for every process to FD, then "ready" once all are in
//                                 place.
//   stamp FD                      first thing, writes CLOCK_MONOTONIC (ns, 8 bytes) to FD; exit 0
//   idle SECONDS FD               writes "pid P" and "ready" to FD; does nothing for SECONDS
//                                 (clock_nanosleep); writes "ending"; then reads stdin until EOF
//                                 and exits 0. The benchmark reads the wrapper's counters at
//                                 "ready" and at "ending", then closes our stdin.
//
// On any failure a line "error WHAT: REASON" goes to FD and the process exits 99; processes
// already made are left for the benchmark to sweep (it is their subreaper).
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "../tests/helpers/report_io.h"

namespace {

using helper::report;
using helper::report_fd;
using helper::wait_forever;
using helper::write_all;

// "pid P\n" to `fd`: one write, shorter than PIPE_BUF, so lines from many processes never mix.
void write_pid_line(int fd) {
  char line[32];
  int n = std::snprintf(line, sizeof line, "pid %d\n", static_cast<int>(getpid()));
  write_all(fd, line, static_cast<std::size_t>(n));
}

[[noreturn]] void fail(const char* what) {
  char line[128];
  std::snprintf(line, sizeof line, "error %s: %s", what, std::strerror(errno));
  report(line);
  _exit(99);
}

// Builds `count` processes below the caller with fan-out 8. Each writes its pid line to `pipe_w`
// and closes it once its own subtree is built, so EOF on the pipe means "all in place".
void build_tree(int count, int pipe_w) {
  constexpr int kFanout = 8;
  int per_child = count / kFanout, extra = count % kFanout;
  for (int i = 0; i < kFanout; ++i) {
    int below = per_child + (i < extra ? 1 : 0);  // this child and its own subtree
    if (below == 0) continue;
    pid_t pid = fork();
    if (pid < 0) fail("fork");
    if (pid == 0) {
      if (report_fd != pipe_w) close(report_fd);  // only the root reports
      write_pid_line(pipe_w);
      build_tree(below - 1, pipe_w);
      close(pipe_w);
      wait_forever();
    }
  }
}

// One daemon that leaves the group and session: fork, setsid, fork; the middle one exits (reaped
// by the caller), so the daemon is re-parented to the nearest subreaper, as in real life.
pid_t make_escapee(int pipe_w) {
  pid_t middle = fork();
  if (middle < 0) fail("fork");
  if (middle == 0) {
    close(report_fd);
    if (setsid() < 0) _exit(98);
    pid_t daemon = fork();
    if (daemon < 0) _exit(98);
    if (daemon == 0) {
      write_pid_line(pipe_w);
      close(pipe_w);
      wait_forever();
    }
    _exit(0);
  }
  return middle;
}

int mode_tree(int count, int fd, bool ignore_term, int escapees) {
  report_fd = fd;
  if (count < 1 || escapees < 0 || escapees > count - 1) {
    errno = EINVAL;
    fail("tree size");
  }
  if (ignore_term) signal(SIGTERM, SIG_IGN);
  int p[2];
  if (pipe(p) != 0) fail("pipe");
  build_tree(count - 1 - escapees, p[1]);
  for (int i = 0; i < escapees; ++i) make_escapee(p[1]);
  close(p[1]);
  // Pass the pid lines on as they come; EOF once every process has written its line.
  char buf[4096];
  ssize_t n;
  while ((n = read(p[0], buf, sizeof buf)) != 0) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("read");
    write_all(report_fd, buf, static_cast<std::size_t>(n));
  }
  close(p[0]);
  // Reap the middle processes of the escapees (they exit at once); the tree's own children wait.
  for (int i = 0; i < escapees; ++i) {
    int status;
    while (waitpid(-1, &status, 0) < 0 && errno == EINTR) {}
  }
  write_pid_line(report_fd);
  report("ready");
  wait_forever();
}

int mode_idle(double seconds, int fd) {
  report_fd = fd;
  write_pid_line(report_fd);
  report("ready");
  timespec left{static_cast<time_t>(seconds),
                static_cast<long>((seconds - static_cast<double>(static_cast<time_t>(seconds))) * 1e9)};
  while (clock_nanosleep(CLOCK_MONOTONIC, 0, &left, &left) == EINTR) {}
  report("ending");
  char buf[64];
  ssize_t n;
  while ((n = read(0, buf, sizeof buf)) != 0)
    if (n < 0 && errno != EINTR) break;
  return 0;
}

int usage() {
  std::fprintf(stderr, "ctxrun_bench_helper: bad arguments (see the comment at the top of the source)\n");
  return 98;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  const char* mode = argv[1];
  // First thing: CLOCK_MONOTONIC now, in ns, as 8 bytes on FD; exit 0. The benchmark's "spawn to
  // the command's first instruction" (the dynamic loader of this small image comes before it, the
  // same for every wrapper and for the bare run).
  if (std::strcmp(mode, "stamp") == 0 && argc == 3) {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    long long ns = static_cast<long long>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
    return write(std::atoi(argv[2]), &ns, sizeof ns) == static_cast<ssize_t>(sizeof ns) ? 0 : 1;
  }
  if (std::strcmp(mode, "hang") == 0 && argc == 2) wait_forever();
  if (std::strcmp(mode, "tree") == 0 && argc >= 4) {
    bool ignore_term = false;
    int escapees = 0;
    for (int i = 4; i < argc; ++i) {
      if (std::strcmp(argv[i], "ignore-term") == 0) ignore_term = true;
      else if (std::strcmp(argv[i], "escape") == 0 && i + 1 < argc) escapees = std::atoi(argv[++i]);
      else return usage();
    }
    return mode_tree(std::atoi(argv[2]), std::atoi(argv[3]), ignore_term, escapees);
  }
  if (std::strcmp(mode, "idle") == 0 && argc == 4) return mode_idle(std::atof(argv[2]), std::atoi(argv[3]));
  return usage();
}
