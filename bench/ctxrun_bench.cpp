// ctxrun_bench: ctxrun against GNU timeout, measured in one run with the tools alternating, printed
// as markdown tables (median, spread, p99 where it matters, ratios). bench/run builds and runs it;
// docs/benchmarks.md says what every figure means and how it is taken.
//
// Processes. main() forks a worker that does all the measuring and stays behind as its guard: a
// child subreaper that, once the worker has ended (done, failed, or killed by Ctrl-C), kills and
// reaps every process still below it. The worker is a child subreaper too, so a daemon that escapes
// a wrapper is re-parented to the worker, where it is counted and then killed. Every measurement
// ends with a sweep of the worker's descendants (a /proc scan), so no run sees another's leftovers
// and nothing outlives the benchmark.
//
// Time. Every instant is CLOCK_MONOTONIC, read in this process. A process is "gone" when its pidfd
// becomes readable (it has exited; reaping is its parent's business). Nothing here sleeps to
// synchronise: the helper reports "ready" over a pipe, exits are pidfd events, children are
// SIGCHLD on a signalfd; every wait has a bound, after which the run is cleaned up and reported.
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "ctxrun/unique_fd.h"
#include "proc.h"

extern char** environ;

namespace {

using ctxrun::unique_fd;
using i64 = std::int64_t;
constexpr i64 kUs = 1000, kMs = 1000 * kUs, kSec = 1000 * kMs;

i64 now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<i64>(ts.tv_sec) * kSec + ts.tv_nsec;
}

i64 seconds_to_ns(double s) { return static_cast<i64>(std::llround(s * 1e9)); }

// The suite itself is broken (a tool is missing, a spawn failed, a helper misbehaved): say so and
// end the worker; the guard then removes whatever is left. Never used for a slow measurement.
[[noreturn]] void broken(const std::string& what) {
  std::fflush(stdout);
  fmt::print(stderr, "ctxrun_bench: {}\n", what);
  std::exit(3);
}

void progress(const std::string& line) { fmt::print(stderr, "ctxrun_bench: {}\n", line); }

int pidfd_open(pid_t pid) { return static_cast<int>(syscall(SYS_pidfd_open, pid, 0)); }
int pidfd_send_signal(int fd, int sig) { return static_cast<int>(syscall(SYS_pidfd_send_signal, fd, sig, nullptr, 0)); }

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    std::size_t at = s.find(sep, start);
    if (at == std::string::npos) at = s.size();
    if (at > start) out.push_back(s.substr(start, at - start));
    start = at + 1;
  }
  return out;
}

std::optional<std::string> read_small_file(const std::string& path) {
  unique_fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return std::nullopt;
  std::string out;
  char buf[8192];
  while (true) {
    ssize_t n = read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::nullopt;
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Options

struct Options {
  std::string ctxrun;       // the ctxrun binary
  std::string helper;       // ctxrun_bench_helper
  std::string floor;        // ctxrun_bench_floor ("": its rows are left out)
  std::string timeout_bin;  // GNU timeout (default: "timeout" from PATH)
  std::string source;       // what ctxrun was built from (bench/run: git describe)
  // Other ctxrun builds measured alongside, as NAME=PATH: a candidate optimisation against the
  // current build, alternating in the same run.
  std::vector<std::pair<std::string, std::string>> variants;
  std::vector<std::string> backends{"subreaper", "pgroup", "cgroup"};  // those that work are used
  std::vector<std::string> sections{"overhead", "startup", "precision", "teardown", "escape", "idle", "relay"};
  bool smoke = false;
  int overhead_runs = 500;
  int startup_runs = 200;
  int precision_runs = 100;
  double precision_timeout = 0.2;
  int teardown_reps = 5;
  std::vector<int> sizes{10, 100, 1000, 3000};
  double kill_after = 0.1;  // grace before SIGKILL for TERM-ignoring trees
  int escape_reps = 3;
  std::vector<int> escape_sizes{100, 1000};
  double escape_share = 0.1;   // fraction of an escape tree that are setsid daemons
  double survivor_wait = 0.5;  // how long after the wrapper's exit a process may still die
  int idle_reps = 3;
  double idle_seconds = 5;
  int relay_reps = 9;
  int relay_mib = 512;  // the file `cat` copies through the relay
};

const char* kUsage = R"(usage: ctxrun_bench --ctxrun PATH --helper PATH [options]
  --timeout-bin PATH     GNU timeout (default: timeout from PATH)
  --floor PATH           ctxrun_bench_floor: adds the floor of start-up (cgroup, subreaper) to
                         sections 1 and 1b
  --source TEXT          what ctxrun was built from, for the report (bench/run: git describe)
  --variants N=P[,N=P]   other ctxrun builds to measure alongside (e.g. a candidate optimisation),
                         labelled N[backend]
  --backends LIST        ctxrun --tree backends to try (default subreaper,pgroup,cgroup;
                         those that do not work here are reported and skipped)
  --sections LIST        overhead,startup,precision,teardown,escape,idle,relay (default: all)
  --smoke                tiny counts: checks that the suite works, in well under 30 s
  --overhead-runs N      runs per tool of `-t 10s true` (default 500)
  --startup-runs N       runs per tool of spawn to the command's first instruction (default 200)
  --precision-runs N     runs per tool of the deadline precision test (default 100)
  --teardown-reps N      repetitions per tool and tree size (default 5)
  --sizes LIST           tree sizes in processes (default 10,100,1000,3000; at most 3000)
  --kill-after SECONDS   grace before SIGKILL for trees that ignore SIGTERM (default 0.1)
  --escape-reps N        repetitions of the escapee test (default 3)
  --escape-sizes LIST    tree sizes of the escapee test (default 100,1000; 10% escape)
  --idle-reps N          repetitions of the idle test (default 3)
  --idle-seconds S       how long the idle command runs (default 5)
  --relay-reps N         repetitions of the output relay test (default 9)
  --relay-mib N          size of the file it copies, in MiB (default 512)
)";

int to_int(const std::string& s) {
  char* end = nullptr;
  long v = std::strtol(s.c_str(), &end, 10);
  if (s.empty() || *end || v < 0 || v > 1000000) broken("not a count: '" + s + "'");
  return static_cast<int>(v);
}

double to_seconds(const std::string& s) {
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (s.empty() || *end || !(v > 0) || v > 3600) broken("not a duration in seconds: '" + s + "'");
  return v;
}

std::string real_path(const std::string& path) {
  char buf[PATH_MAX];
  return realpath(path.c_str(), buf) ? std::string(buf) : path;
}

// The first `name` in PATH that is not `unless` (ctxrun's own `timeout` personality, a symlink to
// ctxrun, must never stand in for GNU timeout).
std::string find_in_path(const std::string& name, const std::string& unless) {
  const char* path = std::getenv("PATH");
  for (const auto& dir : split(path ? path : "/usr/bin:/bin", ':')) {
    std::string candidate = dir + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0 && real_path(candidate) != real_path(unless)) return candidate;
  }
  return {};
}

Options parse_options(int argc, char** argv) {
  Options o;
  std::map<std::string, std::string> given;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    if (arg == "--smoke") {
      o.smoke = true;
      continue;
    }
    if (arg.rfind("--", 0) != 0 || i + 1 >= argc) {
      std::fputs(kUsage, stderr);
      std::exit(2);
    }
    given[arg] = argv[++i];
  }
  if (o.smoke) {
    o.overhead_runs = 20;
    o.startup_runs = 5;
    o.precision_runs = 5;
    o.teardown_reps = 1;
    o.sizes = {10, 100};
    o.escape_reps = 1;
    o.escape_sizes = {20};
    o.idle_reps = 1;
    o.idle_seconds = 0.2;
    o.relay_reps = 1;
    o.relay_mib = 4;
  }
  auto counts = [](const std::string& s) {
    std::vector<int> v;
    for (const auto& part : split(s, ',')) v.push_back(to_int(part));
    return v;
  };
  for (const auto& [key, value] : given) {
    if (key == "--ctxrun") o.ctxrun = value;
    else if (key == "--helper") o.helper = value;
    else if (key == "--floor") o.floor = value;
    else if (key == "--timeout-bin") o.timeout_bin = value;
    else if (key == "--source") o.source = value;
    else if (key == "--variants") {
      for (const auto& v : split(value, ',')) {
        auto eq = v.find('=');
        if (eq == std::string::npos || eq == 0) broken("--variants takes NAME=PATH[,NAME=PATH...]");
        o.variants.emplace_back(v.substr(0, eq), v.substr(eq + 1));
      }
    } else if (key == "--backends") o.backends = split(value, ',');
    else if (key == "--sections") o.sections = split(value, ',');
    else if (key == "--overhead-runs") o.overhead_runs = to_int(value);
    else if (key == "--precision-runs") o.precision_runs = to_int(value);
    else if (key == "--startup-runs") o.startup_runs = to_int(value);
    else if (key == "--teardown-reps") o.teardown_reps = to_int(value);
    else if (key == "--sizes") o.sizes = counts(value);
    else if (key == "--kill-after") o.kill_after = to_seconds(value);
    else if (key == "--escape-reps") o.escape_reps = to_int(value);
    else if (key == "--escape-sizes") o.escape_sizes = counts(value);
    else if (key == "--idle-reps") o.idle_reps = to_int(value);
    else if (key == "--idle-seconds") o.idle_seconds = to_seconds(value);
    else if (key == "--relay-reps") o.relay_reps = to_int(value);
    else if (key == "--relay-mib") o.relay_mib = to_int(value);
    else {
      fmt::print(stderr, "ctxrun_bench: unknown option {}\n{}", key, kUsage);
      std::exit(2);
    }
  }
  if (o.ctxrun.empty() || o.helper.empty()) {
    std::fputs(kUsage, stderr);
    std::exit(2);
  }
  if (o.timeout_bin.empty()) o.timeout_bin = find_in_path("timeout", o.ctxrun);
  if (o.timeout_bin.empty()) broken("GNU timeout not found in PATH (package coreutils)");
  if (real_path(o.timeout_bin) == real_path(o.ctxrun)) broken("--timeout-bin is ctxrun itself, not GNU timeout");
  for (int n : o.sizes)
    if (n < 2 || n > 3000) broken(fmt::format("tree size {} out of range (2..3000)", n));
  for (int n : o.escape_sizes)
    if (n < 2 || n > 3000) broken(fmt::format("escape tree size {} out of range (2..3000)", n));
  if (o.relay_mib < 1 || o.relay_mib > 16384)
    broken(fmt::format("--relay-mib {} out of range (1..16384)", o.relay_mib));
  return o;
}

// ---------------------------------------------------------------------------------------------
// Statistics

struct Summary {
  std::size_t n = 0;
  double min = 0, p25 = 0, median = 0, p75 = 0, p99 = 0, max = 0;
};

// Quantiles by linear interpolation between order statistics (R's type 7).
Summary summarize(std::vector<double> v) {
  Summary s;
  s.n = v.size();
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  auto q = [&](double p) {
    double pos = p * static_cast<double>(v.size() - 1);
    auto lo = static_cast<std::size_t>(std::floor(pos));
    std::size_t hi = std::min(lo + 1, v.size() - 1);
    return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
  };
  s.min = v.front();
  s.max = v.back();
  s.p25 = q(0.25);
  s.median = q(0.5);
  s.p75 = q(0.75);
  s.p99 = q(0.99);
  return s;
}

// "1.23 ms (1.10–1.40)": median and interquartile range, in ms.
std::string ms_cell(const Summary& s) {
  if (s.n == 0) return "n/a";
  if (s.n == 1) return fmt::format("{:.2f} ms", s.median);
  return fmt::format("{:.2f} ms ({:.2f}–{:.2f})", s.median, s.p25, s.p75);
}

std::string us_cell(const Summary& s) {
  if (s.n == 0) return "n/a";
  if (s.n == 1) return fmt::format("{:.0f} µs", s.median);
  return fmt::format("{:.0f} µs ({:.0f}–{:.0f})", s.median, s.p25, s.p75);
}

std::string ratio_cell(double a, double b) {
  if (!(b > 0) || !std::isfinite(a)) return "n/a";
  return fmt::format("{:.2f}", a / b);
}

void print_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) {
  std::string line = "|";
  for (const auto& h : header) line += " " + h + " |";
  fmt::print("{}\n|", line);
  for (std::size_t i = 0; i < header.size(); ++i) fmt::print("{}", i == 0 ? "---|" : "--:|");
  fmt::print("\n");
  for (const auto& row : rows) {
    line = "|";
    for (const auto& c : row) line += " " + c + " |";
    fmt::print("{}\n", line);
  }
  fmt::print("\n");
  std::fflush(stdout);
}

// ---------------------------------------------------------------------------------------------
// Children: spawning, counters from /proc, reaping, sweeping

// Descriptors a spawned process gets; -1 means /dev/null (stdio) or nothing (fd 3).
struct Stdio {
  int in = -1, out = -1, err = -1, report = -1;
};

class Spawner {
 public:
  Spawner() : devnull_(open("/dev/null", O_RDWR | O_CLOEXEC)) {
    if (!devnull_) broken("cannot open /dev/null");
    // The wrappers must not inherit an enclosing ctxrun's deadline.
    for (char** e = environ; *e; ++e)
      if (std::strncmp(*e, "CTXRUN_DEADLINE=", 16) != 0) env_.emplace_back(*e);
  }

  // Starts argv (argv[0] looked up in PATH when `search`) with an empty signal mask, default
  // dispositions, the given descriptors, and as leader of a new process group when `new_group`.
  // posix_spawn is vfork-based: this returns once the child has exec'd (or failed to).
  pid_t start(const std::vector<std::string>& argv, Stdio io, bool new_group, bool search = false) const {
    std::vector<char*> args, envp;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    for (const auto& e : env_) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    int null = devnull_.get();
    posix_spawn_file_actions_adddup2(&fa, io.in >= 0 ? io.in : null, 0);
    posix_spawn_file_actions_adddup2(&fa, io.out >= 0 ? io.out : null, 1);
    posix_spawn_file_actions_adddup2(&fa, io.err >= 0 ? io.err : null, 2);
    if (io.report >= 0) posix_spawn_file_actions_adddup2(&fa, io.report, 3);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
    if (new_group) {
      flags = static_cast<short>(flags | POSIX_SPAWN_SETPGROUP);
      posix_spawnattr_setpgroup(&attr, 0);
    }
    posix_spawnattr_setflags(&attr, flags);
    pid_t pid = 0;
    int rc = search ? posix_spawnp(&pid, args[0], &fa, &attr, args.data(), envp.data())
                    : posix_spawn(&pid, args[0], &fa, &attr, args.data(), envp.data());
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) broken(fmt::format("cannot start {}: {}", argv[0], std::strerror(rc)));
    return pid;
  }

 private:
  unique_fd devnull_;
  std::vector<std::string> env_;
};

// What /proc says about one process. Taken from a live process or from a zombie (before it is
// reaped): its CPU time and context switches are final then, its memory figures are gone.
struct Counters {
  bool ok = false;
  i64 cpu_ns = 0;       // time on a CPU, this process's own (not its children's): /proc/PID/schedstat
  i64 voluntary = 0;    // voluntary_ctxt_switches: each is one block-and-wake-up
  i64 involuntary = 0;  // nonvoluntary_ctxt_switches: preempted
  i64 hwm_kb = -1;      // VmHWM, peak resident set; -1 when not readable (zombie)
};

Counters read_counters(pid_t pid) {
  Counters c;
  auto sched = read_small_file(fmt::format("/proc/{}/schedstat", pid));
  auto status = read_small_file(fmt::format("/proc/{}/status", pid));
  if (!sched || !status) return c;
  c.ok = true;
  c.cpu_ns = std::strtoll(sched->c_str(), nullptr, 10);
  auto field = [&](const char* name) -> i64 {
    auto at = status->find(name);
    if (at == std::string::npos) return -1;
    return std::strtoll(status->c_str() + at + std::strlen(name), nullptr, 10);
  };
  c.voluntary = field("\nvoluntary_ctxt_switches:");
  c.involuntary = field("\nnonvoluntary_ctxt_switches:");
  c.hwm_kb = field("\nVmHWM:");
  return c;
}

// SIGCHLD, blocked and read from a signalfd: the worker's and the guard's way to wait for children.
class Reaper {
 public:
  Reaper() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, nullptr);
    fd_.reset(signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!fd_) broken("signalfd");
  }
  int fd() const { return fd_.get(); }

  // Reaps every child that has exited; true when no child is left.
  bool reap_ready() {
    while (true) {
      int status;
      pid_t pid = waitpid(-1, &status, WNOHANG);
      if (pid > 0) continue;
      if (pid < 0 && errno == EINTR) continue;
      return pid < 0;  // ECHILD
    }
  }

  // Waits for SIGCHLD until `until` (monotonic ns).
  void wait(i64 until) {
    pollfd p{fd_.get(), POLLIN, 0};
    i64 left = until - now_ns();
    if (left > 0) poll(&p, 1, static_cast<int>(std::min<i64>(left / kMs + 1, 60000)));
    signalfd_siginfo info;
    while (read(fd_.get(), &info, sizeof info) == sizeof info) {}
  }

 private:
  unique_fd fd_;
};

// Kills and reaps every process below this one. Returns the number of live processes found on the
// first look (0 when there was nothing to clean), or -1 if some were still there after `limit_ns`.
// `killed`, if given, counts those first-look processes by name.
int sweep(Reaper& reaper, i64 limit_ns, std::map<std::string, int>* killed = nullptr) {
  i64 end = now_ns() + limit_ns;
  int first = -1;
  while (true) {
    std::vector<ctxrun::ProcessInfo> live;
    if (auto all = ctxrun::scan_processes())
      for (auto& p : ctxrun::descendants_of(getpid(), *all))
        if (p.state != 'Z' && p.state != 'X') live.push_back(std::move(p));
    if (first < 0) {
      first = static_cast<int>(live.size());
      if (killed)
        for (const auto& p : live) ++(*killed)[p.name];
    }
    for (const auto& p : live) ctxrun::signal_process(p, SIGKILL, false);
    bool childless = reaper.reap_ready();
    if (live.empty() && childless) return first;
    if (now_ns() >= end) return -1;
    reaper.wait(std::min(end, now_ns() + 100 * kMs));
  }
}

// ---------------------------------------------------------------------------------------------
// The tools

struct Tool {
  std::string label;  // "ctxrun[subreaper]", "timeout"
  bool is_ctxrun = false;
  std::string backend;  // ctxrun's --tree
  std::string binary;   // the ctxrun build (is_ctxrun)
};

std::string secs(double s) { return fmt::format("{:.3f}s", s); }

// The wrapper's argv up to the command. `quiet`: ctxrun's -q, so that neither tool writes anything
// on a deadline (GNU timeout is silent unless --verbose).
std::vector<std::string> wrapper_argv(const Options& o, const Tool& t, double timeout, std::optional<double> kill_after,
                                      bool quiet) {
  if (t.is_ctxrun) {
    std::vector<std::string> a{t.binary, "--tree=" + t.backend};
    if (quiet) a.push_back("-q");
    a.insert(a.end(), {"-t", secs(timeout)});
    if (kill_after) a.insert(a.end(), {"-k", secs(*kill_after)});
    a.push_back("--");
    return a;
  }
  std::vector<std::string> a{o.timeout_bin};
  if (kill_after) a.insert(a.end(), {"-k", secs(*kill_after)});
  a.push_back(secs(timeout));
  return a;
}

template <typename T>
std::vector<T> rotated(const std::vector<T>& v, std::size_t by) {
  std::vector<T> out(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) out[i] = v[(i + by) % v.size()];
  return out;
}

// `root` and its descendants, from one scan of /proc (the parent of each process in its stat).
std::vector<pid_t> descendants_by_scan(pid_t root) {
  std::multimap<pid_t, pid_t> children;
  if (DIR* dir = opendir("/proc")) {
    char path[300], buf[512];  // room for any directory entry's name
    while (dirent* e = readdir(dir)) {
      if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
      std::snprintf(path, sizeof path, "%s/stat", e->d_name);
      int fd = openat(dirfd(dir), path, O_RDONLY | O_CLOEXEC);
      if (fd < 0) continue;
      ssize_t n = read(fd, buf, sizeof buf - 1);
      close(fd);
      if (n <= 0) continue;
      buf[n] = '\0';
      const char* close_paren = std::strrchr(buf, ')');
      if (!close_paren) continue;
      pid_t ppid = static_cast<pid_t>(std::strtol(close_paren + 4, nullptr, 10));  // ") S PPID"
      children.emplace(ppid, static_cast<pid_t>(std::strtol(e->d_name, nullptr, 10)));
    }
    closedir(dir);
  }
  std::vector<pid_t> out{root};
  for (std::size_t i = 0; i < out.size(); ++i) {
    auto [first, last] = children.equal_range(out[i]);
    for (auto it = first; it != last; ++it) out.push_back(it->second);
  }
  return out;
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return fmt::format("exit {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return fmt::format("killed by signal {}", WTERMSIG(status));
  return fmt::format("status {:#x}", status);
}

// ---------------------------------------------------------------------------------------------
// The benchmark

class Bench {
 public:
  explicit Bench(Options o) : o_(std::move(o)) {}
  int run();

 private:
  // One run of a short command: wall time from just before spawn to the exit, and the wrapper's
  // own CPU and context switches read from its zombie.
  struct Simple {
    i64 wall_ns = 0;
    int status = 0;
    Counters at_exit;
  };
  Simple run_simple(const std::vector<std::string>& argv, bool search);

  // One tree torn down by a tool (or by the benchmark itself when tool is null: the floor).
  struct TreeSpec {
    int processes = 0;
    bool ignore_term = false;
    // The floor (no tool): one kill(-pgid); a signal to each process through the pidfds the
    // benchmark holds (`each`: no search); or a scan of /proc to find the tree, then kill() each.
    enum class Floor { group, each, scan } floor = Floor::group;
    int escapees = 0;
    double timeout = 0;  // the wrapper's -t
    bool judge_survivors = false;
  };
  struct TreeRun {
    bool valid = false;  // the tree was in place before the deadline
    i64 build_ns = 0;    // spawn to "ready"
    i64 first_ns = -1;   // reference to the first tree process gone
    i64 gone_ns = -1;    // reference to the last tree process gone (-1: not all went)
    i64 exit_ns = -1;    // reference to the wrapper's exit
    int reported = 0;    // processes the helper reported
    int survivors = 0;   // still alive when judged
    i64 hwm_kb = -1;     // the wrapper's VmHWM, read as late as it was readable
    Counters at_exit;    // the wrapper's whole-life CPU and context switches (its zombie)
    int status = 0;      // the wrapper's wait status
  };
  TreeRun run_tree(const Tool* tool, const TreeSpec& spec);

  struct Idle {
    Counters ready, ending, exit;
    i64 window_ns = 0;
    int status = 0;
  };
  Idle run_idle(const Tool& tool);

  // One copy of a file through `argv` (which writes it on its stdout): wall time from spawn to the
  // exit (and, with `to_pipe`, to EOF on the pipe this process reads and discards), the bytes that
  // came through the pipe, and the spawned process's own CPU read from its zombie.
  struct Copy {
    i64 wall_ns = 0;
    std::uint64_t bytes = 0;
    int status = 0;
    Counters at_exit;
  };
  Copy run_copy(const std::vector<std::string>& argv, bool to_pipe);

  void cleanup(const char* after);
  // A deadline for trees of `processes`, from one floor build (which also warms the page cache):
  // late enough that the tree is in place before it.
  double calibrate(int processes);
  void header();
  void probe_backends();
  void overhead();
  void startup();
  void precision();
  void teardown();
  void escape();
  void idle();
  void memory();
  void relay();
  void targets();
  bool wants(const char* section) const {
    return std::find(o_.sections.begin(), o_.sections.end(), section) != o_.sections.end();
  }
  std::vector<Tool> ctxruns() const {
    std::vector<Tool> v;
    for (const auto& t : tools_)
      if (t.is_ctxrun) v.push_back(t);
    return v;
  }

  Options o_;
  Spawner spawner_;
  Reaper reaper_;
  std::vector<Tool> tools_;  // ctxrun per working backend, then GNU timeout
  int leftovers_ = 0;        // processes the sweeps had to kill that no run accounted for
  std::map<std::string, int> leftover_names_;
  std::vector<std::string> notes_;

  // Results kept for the memory and targets sections.
  std::map<std::string, double> overhead_added_us_;  // per tool: median added wall time
  std::map<std::string, double> overhead_wall_us_;   // per tool: median wall time
  std::map<std::string, Summary> precision_ms_;
  std::map<std::string, Summary> startup_us_;  // per tool ("bare" too): spawn to first instruction
  std::map<std::string, std::map<int, Summary>> obey_ms_, ignore_ms_;  // tool ("floor") → size → gone
  std::map<std::string, std::map<int, std::vector<double>>> hwm_teardown_;
  std::map<std::string, std::vector<double>> idle_cpu_us_, idle_wakeups_, idle_hwm_;
  std::map<std::string, std::vector<double>> escape_survivors_;
  // Per ctxrun build: (case, throughput ÷ plain cat's) of the output relay section.
  std::map<std::string, std::vector<std::pair<std::string, double>>> relay_ratio_;
};

void Bench::cleanup(const char* after) {
  int found = sweep(reaper_, 10 * kSec, &leftover_names_);
  if (found < 0) broken(fmt::format("after {}: processes below the benchmark could not be killed", after));
  leftovers_ += found;
}

Bench::Simple Bench::run_simple(const std::vector<std::string>& argv, bool search) {
  Simple r;
  i64 t0 = now_ns();
  pid_t pid = spawner_.start(argv, Stdio{}, false, search);
  unique_fd pidfd(pidfd_open(pid));
  pollfd p{pidfd.get(), POLLIN, 0};
  int ready = 0;
  while ((ready = poll(&p, 1, 30000)) < 0 && errno == EINTR) {}
  i64 t1 = now_ns();
  if (ready == 0) {
    pidfd_send_signal(pidfd.get(), SIGKILL);
    cleanup("a hung run");
    broken(fmt::format("{} did not end within 30 s", argv[0]));
  }
  r.wall_ns = t1 - t0;
  r.at_exit = read_counters(pid);  // a zombie now: final CPU and context switches
  while (waitpid(pid, &r.status, 0) < 0 && errno == EINTR) {}
  // Helpers a wrapper started and that were re-parented here (ctxrun's guardian, for one) are
  // reaped as they end, so that thousands of short runs leave no zombies behind.
  reaper_.reap_ready();
  return r;
}

Bench::TreeRun Bench::run_tree(const Tool* tool, const TreeSpec& spec) {
  TreeRun r;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) broken("pipe2");
  unique_fd report_r(fds[0]), report_w(fds[1]);

  std::vector<std::string> argv;
  std::optional<double> kill_after = spec.ignore_term ? o_.kill_after : 5.0;
  if (tool) argv = wrapper_argv(o_, *tool, spec.timeout, kill_after, true);
  argv.insert(argv.end(), {o_.helper, "tree", std::to_string(spec.processes), "3"});
  if (spec.ignore_term) argv.push_back("ignore-term");
  if (spec.escapees > 0) argv.insert(argv.end(), {"escape", std::to_string(spec.escapees)});

  unique_fd ep(epoll_create1(EPOLL_CLOEXEC));
  constexpr std::uint64_t kWrapper = ~std::uint64_t{0}, kReport = kWrapper - 1;
  auto watch = [&](int fd, std::uint64_t tag, bool oneshot) {
    epoll_event ev{};
    ev.events = EPOLLIN | (oneshot ? EPOLLONESHOT : 0u);
    ev.data.u64 = tag;
    epoll_ctl(ep.get(), EPOLL_CTL_ADD, fd, &ev);
  };

  i64 t0 = now_ns();
  pid_t pid = spawner_.start(argv, Stdio{.report = report_w.get()}, tool == nullptr);
  report_w.reset();
  unique_fd wrapper(pidfd_open(pid));
  if (!wrapper) broken("pidfd_open of a child failed");
  watch(wrapper.get(), kWrapper, true);
  watch(report_r.get(), kReport, false);

  std::vector<unique_fd> tree;  // pidfds of the reported processes
  std::vector<i64> gone_at;     // when each was seen gone; 0: not yet
  int remaining = 0;
  bool wrapper_exited = false, ready = false;
  i64 wrapper_exit_at = 0;
  std::string pending;
  std::string failure;

  auto read_hwm = [&] {
    if (wrapper_exited || !tool) return;
    Counters c = read_counters(pid);
    if (c.ok && c.hwm_kb > r.hwm_kb) r.hwm_kb = c.hwm_kb;
  };
  auto take_lines = [&] {
    char buf[8192];
    ssize_t n = read(report_r.get(), buf, sizeof buf);
    if (n <= 0) {
      if (!ready) failure = "the helper's report ended before \"ready\"";
      epoll_ctl(ep.get(), EPOLL_CTL_DEL, report_r.get(), nullptr);
      return;
    }
    pending.append(buf, static_cast<std::size_t>(n));
    std::size_t nl;
    while ((nl = pending.find('\n')) != std::string::npos) {
      std::string line = pending.substr(0, nl);
      pending.erase(0, nl + 1);
      if (line.rfind("pid ", 0) == 0) {
        auto p = static_cast<pid_t>(std::atoi(line.c_str() + 4));
        unique_fd fd(pidfd_open(p));
        gone_at.push_back(fd ? 0 : now_ns());  // no pidfd: already gone
        if (fd) {
          watch(fd.get(), tree.size(), true);
          ++remaining;
        }
        tree.push_back(std::move(fd));
      } else if (line == "ready") {
        ready = true;
      } else {
        failure = "helper: " + line;
      }
    }
  };
  auto handle = [&](const epoll_event* events, int n, i64 at) {
    for (int i = 0; i < n; ++i) {
      std::uint64_t tag = events[i].data.u64;
      if (tag == kReport) {
        take_lines();
      } else if (tag == kWrapper) {
        wrapper_exited = true;
        wrapper_exit_at = at;
      } else if (gone_at[tag] == 0) {
        gone_at[tag] = at;
        --remaining;
      }
    }
  };

  // 1. Until the tree is in place, before the deadline (less a margin for the last pidfds).
  i64 ready_by = tool ? t0 + seconds_to_ns(spec.timeout) - 10 * kMs : t0 + 60 * kSec;
  epoll_event events[256];
  while (!ready && failure.empty()) {
    i64 left = ready_by - now_ns();
    if (left <= 0) break;
    int n = epoll_wait(ep.get(), events, 256, static_cast<int>(left / kMs + 1));
    if (n < 0 && errno == EINTR) continue;
    i64 at = now_ns();
    handle(events, n, at);
    if (wrapper_exited && !ready) failure = "the wrapper exited before the tree was ready";
  }
  r.build_ns = now_ns() - t0;
  r.reported = static_cast<int>(tree.size());
  bool in_place = ready && failure.empty() && remaining == static_cast<int>(tree.size()) && now_ns() < ready_by;
  r.valid = in_place;
  if (ready && failure.empty() && r.reported != spec.processes)
    failure = fmt::format("helper reported {} processes, not {}", r.reported, spec.processes);

  if (in_place && failure.empty()) {
    read_hwm();
    // 2. The reference instant: the floor sends SIGKILL to the tree's group now; a wrapper's
    // deadline is `timeout` after its spawn (its SIGKILL step `kill_after` later for trees that
    // ignore SIGTERM).
    i64 ref;
    if (!tool && spec.floor == TreeSpec::Floor::scan) {
      // What a wrapper without a cgroup must do at least: read every process's stat in /proc to
      // find the tree (no kernel call lists a process's descendants), then signal each process.
      ref = now_ns();
      for (pid_t member : descendants_by_scan(pid)) kill(member, SIGKILL);
    } else if (!tool && spec.floor == TreeSpec::Floor::each) {
      // What a wrapper must do at least where no call signals the whole tree: one signal per process.
      ref = now_ns();
      for (const auto& fd : tree) pidfd_send_signal(fd.get(), SIGKILL);
    } else if (!tool) {
      ref = now_ns();
      if (kill(-pid, SIGKILL) != 0) broken(fmt::format("kill(-{}, SIGKILL): {}", pid, std::strerror(errno)));
    } else {
      ref = t0 + seconds_to_ns(spec.timeout) + (spec.ignore_term ? seconds_to_ns(o_.kill_after) : 0);
    }
    // 3. Until the tree is gone and the wrapper has exited; escapees are judged survivors once they
    // outlive the wrapper (the floor: the kill) by survivor_wait.
    i64 hard_end = ref + 20 * kSec;
    bool hwm_after_gone = false;
    while (true) {
      bool tool_done = !tool || wrapper_exited;
      if (remaining == 0 && tool_done) break;
      i64 end = hard_end;
      if (spec.judge_survivors && tool_done)
        end = std::min(end, (tool ? wrapper_exit_at : ref) + seconds_to_ns(o_.survivor_wait));
      i64 left = end - now_ns();
      if (left <= 0) break;
      int n = epoll_wait(ep.get(), events, 256, static_cast<int>(left / kMs + 1));
      if (n < 0 && errno == EINTR) continue;
      i64 at = now_ns();
      if (n > 0) handle(events, n, at);
      if (remaining == 0 && !hwm_after_gone) {
        read_hwm();  // the wrapper's peak is behind it: read before it is gone
        hwm_after_gone = true;
      }
    }
    r.survivors = remaining;
    if (remaining == 0) r.gone_ns = *std::max_element(gone_at.begin(), gone_at.end()) - ref;
    i64 first = 0;
    for (i64 g : gone_at)
      if (g != 0 && (first == 0 || g < first)) first = g;
    if (first != 0) r.first_ns = first - ref;
    if (tool && wrapper_exited) r.exit_ns = wrapper_exit_at - ref;
  }

  // 4. Clean up whatever is left: survivors and the wrapper are killed here and awaited (so that
  // the sweep after them finds only what no run accounted for), then every zombie now ours is
  // reaped by the sweep.
  std::vector<int> dying;
  for (std::size_t i = 0; i < tree.size(); ++i)
    if (tree[i] && gone_at[i] == 0) dying.push_back(tree[i].get());
  if (!wrapper_exited) dying.push_back(wrapper.get());
  if (tool && wrapper_exited) r.at_exit = read_counters(pid);  // a zombie until reaped below
  for (int fd : dying) pidfd_send_signal(fd, SIGKILL);
  i64 dying_end = now_ns() + 10 * kSec;
  for (int fd : dying) {
    pollfd p{fd, POLLIN, 0};
    while (poll(&p, 1, static_cast<int>(std::max<i64>(0, dying_end - now_ns()) / kMs)) < 0 && errno == EINTR) {}
  }
  while (waitpid(pid, &r.status, 0) < 0 && errno == EINTR) {}
  tree.clear();
  cleanup("a tree run");
  if (!failure.empty()) broken(fmt::format("{}: {}", tool ? tool->label : "floor", failure));
  return r;
}

Bench::Idle Bench::run_idle(const Tool& tool) {
  Idle r;
  int rep[2], go[2];
  if (pipe2(rep, O_CLOEXEC) != 0 || pipe2(go, O_CLOEXEC) != 0) broken("pipe2");
  unique_fd report_r(rep[0]), report_w(rep[1]), go_r(go[0]), go_w(go[1]);
  auto argv = wrapper_argv(o_, tool, o_.idle_seconds * 4 + 30, std::nullopt, true);
  argv.insert(argv.end(), {o_.helper, "idle", fmt::format("{}", o_.idle_seconds), "3"});
  pid_t pid = spawner_.start(argv, Stdio{.in = go_r.get(), .report = report_w.get()}, false);
  report_w.reset();
  go_r.reset();
  unique_fd pidfd(pidfd_open(pid));

  std::string text;
  auto await_line = [&](const std::string& want, i64 limit) {
    i64 end = now_ns() + limit;
    while (true) {
      std::size_t at = text.find(want + "\n");
      if (at != std::string::npos) {
        text.erase(0, at + want.size() + 1);
        return true;
      }
      pollfd p{report_r.get(), POLLIN, 0};
      i64 left = end - now_ns();
      if (left <= 0 || poll(&p, 1, static_cast<int>(left / kMs + 1)) <= 0) return false;
      char buf[512];
      ssize_t n = read(report_r.get(), buf, sizeof buf);
      if (n <= 0) return false;
      text.append(buf, static_cast<std::size_t>(n));
    }
  };
  bool ok = await_line("ready", 10 * kSec);
  i64 a = now_ns();
  if (ok) r.ready = read_counters(pid);
  ok = ok && await_line("ending", seconds_to_ns(o_.idle_seconds) + 10 * kSec);
  r.window_ns = now_ns() - a;
  if (ok) r.ending = read_counters(pid);
  go_w.reset();  // the command ends now
  pollfd p{pidfd.get(), POLLIN, 0};
  if (!ok || poll(&p, 1, 10000) <= 0) {
    pidfd_send_signal(pidfd.get(), SIGKILL);
    while (waitpid(pid, &r.status, 0) < 0 && errno == EINTR) {}
    cleanup("an idle run");
    broken(fmt::format("{}: the idle run did not go as planned ({})", tool.label, text));
  }
  r.exit = read_counters(pid);  // zombie
  while (waitpid(pid, &r.status, 0) < 0 && errno == EINTR) {}
  cleanup("an idle run");
  return r;
}

Bench::Copy Bench::run_copy(const std::vector<std::string>& argv, bool to_pipe) {
  Copy r;
  unique_fd rd, wr;
  if (to_pipe) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) broken("pipe2");
    rd.reset(fds[0]);
    wr.reset(fds[1]);
    fcntl(rd.get(), F_SETFL, O_NONBLOCK);  // ours only; the writer's end stays blocking
  }
  i64 t0 = now_ns();
  pid_t pid = spawner_.start(argv, Stdio{.out = to_pipe ? wr.get() : -1}, false);
  wr.reset();
  unique_fd pidfd(pidfd_open(pid));
  i64 end = t0 + 120 * kSec;
  bool exited = false, eof = !to_pipe;
  static char buf[256 * 1024];
  while (!exited || !eof) {
    // The reader: as much as there is, then wait; it only counts and discards.
    while (!eof) {
      ssize_t n = read(rd.get(), buf, sizeof buf);
      if (n > 0) r.bytes += static_cast<std::uint64_t>(n);
      else if (n == 0) eof = true;
      else if (errno != EINTR) break;
    }
    if (exited && eof) break;
    pollfd p[2] = {{exited ? -1 : pidfd.get(), POLLIN, 0}, {eof ? -1 : rd.get(), POLLIN, 0}};
    i64 left = end - now_ns();
    int ready = left > 0 ? poll(p, 2, static_cast<int>(left / kMs + 1)) : 0;
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) {
      pidfd_send_signal(pidfd.get(), SIGKILL);
      while (waitpid(pid, &r.status, 0) < 0 && errno == EINTR) {}
      cleanup("a hung copy");
      broken(fmt::format("{} did not end within 120 s", argv[0]));
    }
    if (p[0].revents) {
      exited = true;
      r.wall_ns = now_ns() - t0;       // the later of the exit and EOF counts
      r.at_exit = read_counters(pid);  // a zombie now: final CPU and context switches
    }
  }
  if (to_pipe) r.wall_ns = std::max(r.wall_ns, now_ns() - t0);
  while (waitpid(pid, &r.status, 0) < 0 && errno == EINTR) {}
  reaper_.reap_ready();
  return r;
}

// ---------------------------------------------------------------------------------------------
// Sections

std::string capture(const Spawner& spawner, std::vector<std::string> argv) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return {};
  unique_fd r(fds[0]), w(fds[1]);
  pid_t pid = spawner.start(argv, Stdio{.out = w.get(), .err = w.get()}, false, true);
  w.reset();
  std::string out;
  char buf[1024];
  ssize_t n;
  while ((n = read(r.get(), buf, sizeof buf)) != 0) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
  return out;
}

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

void Bench::header() {
  utsname u{};
  uname(&u);
  std::string cpu = "unknown";
  if (auto info = read_small_file("/proc/cpuinfo")) {
    auto at = info->find("model name");
    if (at != std::string::npos) {
      auto colon = info->find(':', at);
      cpu = first_line(info->substr(colon + 2));
    }
  }
  char date[64];
  std::time_t t = std::time(nullptr);
  std::strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S %Z", std::localtime(&t));
  auto load = read_small_file("/proc/loadavg").value_or("?");
  fmt::print("## ctxrun benchmarks{}\n\n", o_.smoke ? " (smoke run: tiny counts, figures mean nothing)" : "");
  fmt::print("- date: {}\n- machine: {} CPUs (nproc), kernel {}, CPU {}\n", date, sysconf(_SC_NPROCESSORS_ONLN),
             u.release, cpu);
  fmt::print("- ctxrun: {} ({}{})\n", first_line(capture(spawner_, {o_.ctxrun, "--version"})), o_.ctxrun,
             o_.source.empty() ? "" : ", built from " + o_.source);
  fmt::print("- GNU timeout: {} ({})\n", first_line(capture(spawner_, {o_.timeout_bin, "--version"})), o_.timeout_bin);
  fmt::print("- load average at start: {}\n", first_line(load));
  fmt::print("- figures: median (p25–p75) unless said otherwise; tools alternate within every repetition\n\n");
}

void Bench::probe_backends() {
  std::vector<std::pair<std::string, std::string>> builds{{"ctxrun", o_.ctxrun}};
  builds.insert(builds.end(), o_.variants.begin(), o_.variants.end());
  for (const auto& [name, binary] : builds) {
    for (const auto& b : o_.backends) {
      Tool t{.label = name + "[" + b + "]", .is_ctxrun = true, .backend = b, .binary = binary};
      auto r = run_simple({binary, "--tree=" + b, "-q", "-t", "10s", "true"}, false);
      if (WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0) {
        tools_.push_back(t);
      } else {
        std::string err = capture(spawner_, {binary, "--tree=" + b, "-t", "10s", "true"});
        notes_.push_back(fmt::format("`{}` skipped: `{} --tree={} -t 10s true` gave {}: {}", t.label, name, b,
                                     describe_status(r.status), first_line(err)));
      }
    }
  }
  for (const auto& [name, binary] : o_.variants)
    fmt::print("- variant {}: {} ({})\n", name, first_line(capture(spawner_, {binary, "--version"})), binary);
  if (tools_.empty()) broken("no ctxrun backend works here");
  tools_.push_back(Tool{.label = "timeout", .is_ctxrun = false});
  for (const auto& n : notes_) fmt::print("- {}\n", n);
  if (!notes_.empty()) fmt::print("\n");
}

// The backends ctxrun_bench_floor stands for that ctxrun runs here ("cgroup", "subreaper"), each
// also with the guardian the issue allows ("cgroup+guardian", ...).
std::vector<std::string> floor_backends(const Options& o, const std::vector<Tool>& tools) {
  std::vector<std::string> out;
  if (o.floor.empty()) return out;
  for (const char* b : {"cgroup", "subreaper"})
    for (const auto& t : tools)
      if (t.is_ctxrun && t.backend == b && std::find(out.begin(), out.end(), b) == out.end()) {
        out.push_back(b);
        out.push_back(std::string(b) + "+guardian");
      }
  return out;
}

void Bench::overhead() {
  progress(fmt::format("overhead: {} runs per tool", o_.overhead_runs));
  struct Case {
    std::string label;
    std::vector<std::string> argv;
    bool search;
    std::string tool;
  };
  std::vector<Case> cases{{"`true` (bare)", {"true"}, true, "bare"}};
  for (const auto& t : tools_) {
    auto argv = wrapper_argv(o_, t, 10, std::nullopt, false);
    if (t.is_ctxrun) argv.pop_back();  // "--": the issue's exact command line
    argv.push_back("true");
    std::string shown = t.is_ctxrun
                            ? "`" + t.label.substr(0, t.label.find('[')) + " --tree=" + t.backend + " -t 10s true`"
                            : "`timeout 10s true`";
    cases.push_back({shown, argv, false, t.label});
  }
  for (const auto& b : floor_backends(o_, tools_))
    cases.push_back({"`floor " + b + " true` (ctxrun_bench_floor)", {o_.floor, b, "true"}, false, "floor[" + b + "]"});
  std::vector<std::vector<double>> wall(cases.size()), cpu(cases.size()), switches(cases.size());
  for (auto& c : cases) run_simple(c.argv, c.search);  // warm-up: page cache, dynamic loader
  for (int rep = 0; rep < o_.overhead_runs; ++rep) {
    for (std::size_t k = 0; k < cases.size(); ++k) {
      std::size_t i = (k + static_cast<std::size_t>(rep)) % cases.size();
      auto r = run_simple(cases[i].argv, cases[i].search);
      if (!WIFEXITED(r.status) || WEXITSTATUS(r.status) != 0)
        broken(fmt::format("{} gave {}", cases[i].label, describe_status(r.status)));
      wall[i].push_back(static_cast<double>(r.wall_ns) / kUs);
      cpu[i].push_back(static_cast<double>(r.at_exit.cpu_ns) / kUs);
      switches[i].push_back(static_cast<double>(r.at_exit.voluntary + r.at_exit.involuntary));
    }
  }
  cleanup("the overhead runs");
  double bare = summarize(wall[0]).median;
  double timeout_added = 0;
  for (std::size_t i = 0; i < cases.size(); ++i)
    if (cases[i].tool == "timeout") timeout_added = summarize(wall[i]).median - bare;
  fmt::print("### 1. Wrapper overhead\n\n");
  fmt::print(
      "Wall time from spawn to exit, {} runs per command, alternating. Added = median minus bare `true`'s "
      "median. Own CPU: the wrapper's own time on a CPU (schedstat of its zombie; excludes `true`). "
      "`floor`: ctxrun_bench_floor, only the system calls a tree-tracking wrapper cannot do without; `+guardian`: with "
      "the vfork-class guardian the issue allows (a CLONE_VM clone asleep until the wrapper is gone).\n\n",
      o_.overhead_runs);
  std::vector<std::vector<std::string>> rows;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    auto s = summarize(wall[i]);
    double added = s.median - bare;
    if (i > 0) overhead_added_us_[cases[i].tool] = added;
    if (i > 0) overhead_wall_us_[cases[i].tool] = s.median;
    rows.push_back({cases[i].label, us_cell(s), fmt::format("{:.0f} µs", s.p99),
                    i == 0 ? "—" : fmt::format("{:.0f} µs", added), i == 0 ? "—" : ratio_cell(added, timeout_added),
                    us_cell(summarize(cpu[i])), fmt::format("{:.0f}", summarize(switches[i]).median)});
  }
  print_table({"command", "wall", "p99", "added per run", "added ÷ timeout's", "own CPU", "ctx switches"}, rows);
}

// Spawn to the command's first instruction: the helper's `stamp` mode writes CLOCK_MONOTONIC as
// the first thing its main does; the figure is that instant minus the one taken just before
// posix_spawn. The bare helper shows what exec and the loader of the helper cost by themselves.
void Bench::startup() {
  progress(fmt::format("startup: {} runs per tool of spawn to the command's first instruction", o_.startup_runs));
  struct Case {
    std::string label;
    std::vector<std::string> argv;
    std::string tool;
  };
  std::vector<Case> cases{{"bare helper", {o_.helper, "stamp", "3"}, "bare"}};
  for (const auto& t : tools_) {
    auto argv = wrapper_argv(o_, t, 10, std::nullopt, false);
    argv.insert(argv.end(), {o_.helper, "stamp", "3"});
    cases.push_back({t.label, argv, t.label});
  }
  for (const auto& b : floor_backends(o_, tools_))
    cases.push_back(
        {"floor[" + b + "] (ctxrun_bench_floor)", {o_.floor, b, o_.helper, "stamp", "3"}, "floor[" + b + "]"});
  auto once = [&](const Case& c) -> double {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) broken("pipe2");
    unique_fd report_r(fds[0]), report_w(fds[1]);
    i64 t0 = now_ns();
    pid_t pid = spawner_.start(c.argv, Stdio{.report = report_w.get()}, false);
    report_w.reset();
    long long stamp = 0;
    std::size_t got = 0;
    while (got < sizeof stamp) {
      pollfd p{report_r.get(), POLLIN, 0};
      if (poll(&p, 1, 30000) <= 0) break;
      ssize_t n = read(report_r.get(), reinterpret_cast<char*>(&stamp) + got, sizeof stamp - got);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += static_cast<std::size_t>(n);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    reaper_.reap_ready();
    if (got != sizeof stamp || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
      broken(fmt::format("{}: no first-instruction stamp ({})", c.label, describe_status(status)));
    return static_cast<double>(stamp - t0) / kUs;
  };
  std::vector<std::vector<double>> us(cases.size());
  for (auto& c : cases) once(c);  // warm-up
  for (int rep = 0; rep < o_.startup_runs; ++rep)
    for (std::size_t k = 0; k < cases.size(); ++k) {
      std::size_t i = (k + static_cast<std::size_t>(rep)) % cases.size();
      us[i].push_back(once(cases[i]));
    }
  cleanup("the startup runs");
  double timeout_us = 0;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    startup_us_[cases[i].tool] = summarize(us[i]);
    if (cases[i].tool == "timeout") timeout_us = startup_us_["timeout"].median;
  }
  fmt::print("### 1b. Spawn to the command's first instruction\n\n");
  fmt::print(
      "From just before posix_spawn of the wrapper to the first statement of the command's main "
      "(`ctxrun_bench_helper stamp`, which writes CLOCK_MONOTONIC on fd 3), {} runs per tool, "
      "alternating. Target: at most timeout's + 0.5 ms.\n\n",
      o_.startup_runs);
  std::vector<std::vector<std::string>> rows;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    auto s = summarize(us[i]);
    rows.push_back({cases[i].label, us_cell(s), fmt::format("{:.0f} µs", s.p99),
                    i == 0 ? "—" : fmt::format("{:+.0f} µs", s.median - timeout_us),
                    i == 0 ? "—" : ratio_cell(s.median, timeout_us)});
  }
  print_table({"command", "spawn → first instruction", "p99", "− timeout's", "÷ timeout's"}, rows);
}

void Bench::precision() {
  progress(fmt::format("precision: {} runs per tool of -t {}", o_.precision_runs, secs(o_.precision_timeout)));
  std::vector<std::vector<double>> late(tools_.size());
  for (int rep = 0; rep < o_.precision_runs; ++rep) {
    for (std::size_t k = 0; k < tools_.size(); ++k) {
      std::size_t i = (k + static_cast<std::size_t>(rep)) % tools_.size();
      auto argv = wrapper_argv(o_, tools_[i], o_.precision_timeout, std::nullopt, true);
      argv.insert(argv.end(), {o_.helper, "hang"});
      auto r = run_simple(argv, false);
      if (!WIFEXITED(r.status) || WEXITSTATUS(r.status) != 124)
        broken(fmt::format("{} on a deadline gave {}, not exit 124", tools_[i].label, describe_status(r.status)));
      late[i].push_back(static_cast<double>(r.wall_ns - seconds_to_ns(o_.precision_timeout)) / kMs);
    }
    if ((rep + 1) % 50 == 0) cleanup("precision runs");
  }
  cleanup("the precision runs");
  fmt::print("### 2. Deadline precision\n\n");
  fmt::print(
      "`-t {}` around a command that would wait forever (it dies of SIGTERM); time from the deadline "
      "(spawn + {}) to the wrapper's exit, {} runs per tool, alternating. It includes the wrapper's own "
      "start-up (its timer starts when it has started) and the teardown of one process.\n\n",
      secs(o_.precision_timeout), secs(o_.precision_timeout), o_.precision_runs);
  double timeout_p50 = 0, timeout_p99 = 0;
  for (std::size_t i = 0; i < tools_.size(); ++i)
    if (!tools_[i].is_ctxrun) {
      auto s = summarize(late[i]);
      timeout_p50 = s.median;
      timeout_p99 = s.p99;
    }
  std::vector<std::vector<std::string>> rows;
  for (std::size_t i = 0; i < tools_.size(); ++i) {
    auto s = summarize(late[i]);
    precision_ms_[tools_[i].label] = s;
    rows.push_back({tools_[i].label, fmt::format("{:.2f} ms", s.median), fmt::format("{:.2f}–{:.2f} ms", s.p25, s.p75),
                    fmt::format("{:.2f} ms", s.p99), fmt::format("{:.2f} ms", s.max), ratio_cell(s.median, timeout_p50),
                    ratio_cell(s.p99, timeout_p99)});
  }
  print_table({"wrapper", "p50", "p25–p75", "p99", "max", "p50 ÷ timeout's", "p99 ÷ timeout's"}, rows);
}

double Bench::calibrate(int processes) {
  auto r = run_tree(nullptr, TreeSpec{.processes = processes});
  double build = static_cast<double>(r.build_ns) / kSec;
  double timeout = std::max(0.25, 2.5 * build + 0.15);
  progress(fmt::format("{} processes build in {:.0f} ms: deadline {}", processes, build * 1000, secs(timeout)));
  return timeout;
}

void Bench::teardown() {
  // The deadline has to come after the tree is in place: calibrate it on a floor run per size
  // (which also warms the page cache), and double it for the rest of the run whenever a tree was
  // not ready in time (such a run is repeated, not counted).
  std::map<int, double> timeout_for;
  for (int n : o_.sizes) timeout_for[n] = calibrate(n);
  // nullptr: the kill(-pgid) floor; the other floors (TreeSpec::Floor) by these stand-ins.
  static const Tool each_floor{.label = "each floor"}, scan_floor{.label = "scan floor"};
  std::vector<const Tool*> runners{nullptr, &each_floor, &scan_floor};
  for (const auto& t : tools_) runners.push_back(&t);
  auto label = [](const Tool* t) { return t ? t->label : std::string("floor"); };
  std::map<std::string, std::map<int, std::vector<double>>> obey, ignore, obey_exit, ignore_exit, obey_first;
  std::map<std::string, std::map<int, std::vector<double>>> obey_cpu, obey_wakeups, ignore_cpu, ignore_wakeups;
  int retries = 0, unready = 0;
  for (int rep = 0; rep < o_.teardown_reps; ++rep) {
    progress(fmt::format("teardown: repetition {}/{}", rep + 1, o_.teardown_reps));
    for (std::size_t si = 0; si < o_.sizes.size(); ++si) {
      int n = o_.sizes[si];
      for (bool ign : {false, true}) {
        for (const Tool* runner : rotated(runners, static_cast<std::size_t>(rep) + si)) {
          auto floor = runner == &scan_floor   ? TreeSpec::Floor::scan
                       : runner == &each_floor ? TreeSpec::Floor::each
                                               : TreeSpec::Floor::group;
          bool stand_in = floor != TreeSpec::Floor::group;
          if (stand_in && ign) continue;  // the same kill as for a tree that obeys
          const Tool* t = stand_in ? nullptr : runner;
          TreeRun r;
          for (int attempt = 0; attempt < 4; ++attempt) {
            r = run_tree(t, TreeSpec{.processes = n, .ignore_term = ign, .floor = floor, .timeout = timeout_for[n]});
            if (r.valid) break;
            ++retries;
            timeout_for[n] *= 2;
            progress(fmt::format("teardown: {} processes not ready in time under {}; deadline now {}", n, label(t),
                                 secs(timeout_for[n])));
          }
          if (!r.valid) {
            ++unready;
            continue;
          }
          if (t && t->is_ctxrun && (!WIFEXITED(r.status) || WEXITSTATUS(r.status) != 124))
            notes_.push_back(fmt::format("{} on a {}-process tree{} gave {}, not exit 124", t->label, n,
                                         ign ? " (ignores SIGTERM)" : "", describe_status(r.status)));
          if (r.survivors > 0)
            notes_.push_back(fmt::format("{} left {} of {} processes alive{} (killed by the benchmark)", label(t),
                                         r.survivors, n, ign ? " (tree ignores SIGTERM)" : ""));
          auto& gone = ign ? ignore : obey;
          if (stand_in) {
            if (r.gone_ns >= 0) gone[runner->label][n].push_back(static_cast<double>(r.gone_ns) / kMs);
            continue;
          }
          if (r.gone_ns >= 0) gone[label(t)][n].push_back(static_cast<double>(r.gone_ns) / kMs);
          if (r.exit_ns >= 0)
            (ign ? ignore_exit : obey_exit)[label(t)][n].push_back(static_cast<double>(r.exit_ns) / kMs);
          if (!ign && r.first_ns >= 0) obey_first[label(t)][n].push_back(static_cast<double>(r.first_ns) / kMs);
          if (t && !ign && r.hwm_kb > 0) hwm_teardown_[t->label][n].push_back(static_cast<double>(r.hwm_kb));
          if (t && r.at_exit.ok) {
            (ign ? ignore_cpu : obey_cpu)[t->label][n].push_back(static_cast<double>(r.at_exit.cpu_ns) / kMs);
            (ign ? ignore_wakeups : obey_wakeups)[t->label][n].push_back(
                static_cast<double>(r.at_exit.voluntary + r.at_exit.involuntary));
          }
        }
      }
    }
  }
  for (auto& [tool, m] : obey)
    for (auto& [n, v] : m) obey_ms_[tool][n] = summarize(v);
  for (auto& [tool, m] : ignore)
    for (auto& [n, v] : m) ignore_ms_[tool][n] = summarize(v);

  auto table = [&](std::map<std::string, std::map<int, std::vector<double>>>& data, bool with_floor) {
    std::vector<std::string> head{"processes"};
    if (with_floor) head.push_back("kill(-pgid) floor");
    for (const auto& t : tools_) head.push_back(t.label);
    if (with_floor)
      for (const auto& t : tools_) head.push_back(t.label + " ÷ floor");
    for (const auto& t : tools_)
      if (t.is_ctxrun) head.push_back(t.label + " ÷ timeout");
    std::vector<std::vector<std::string>> rows;
    for (int n : o_.sizes) {
      std::vector<std::string> row{std::to_string(n)};
      auto med = [&](const std::string& l) { return summarize(data[l][n]).median; };
      if (with_floor) row.push_back(ms_cell(summarize(data["floor"][n])));
      for (const auto& t : tools_) row.push_back(ms_cell(summarize(data[t.label][n])));
      if (with_floor)
        for (const auto& t : tools_) row.push_back(ratio_cell(med(t.label), med("floor")));
      for (const auto& t : tools_)
        if (t.is_ctxrun) row.push_back(ratio_cell(med(t.label), med("timeout")));
      rows.push_back(row);
    }
    print_table(head, rows);
  };
  auto per_process = [&](std::map<std::string, std::map<int, std::vector<double>>>& data) {
    std::vector<std::string> head{"processes", "kill(-pgid) floor"};
    for (const auto& t : tools_) head.push_back(t.label);
    std::vector<std::vector<std::string>> rows;
    for (int n : o_.sizes) {
      std::vector<std::string> row{std::to_string(n)};
      row.push_back(fmt::format("{:.1f}", summarize(data["floor"][n]).median * 1000 / n));
      for (const auto& t : tools_) row.push_back(fmt::format("{:.1f}", summarize(data[t.label][n]).median * 1000 / n));
      rows.push_back(row);
    }
    print_table(head, rows);
  };

  fmt::print("### 3. Teardown latency against tree size\n\n");
  fmt::print(
      "Trees built by the helper (fan-out 8, every process waiting in pause()); deadlines calibrated per "
      "size so that every tree is in place first: {}. {} repetitions, tools in rotating order. The floor is the "
      "benchmark's own `kill(-pgid, SIGKILL)` of the same tree, timed from the kill() call. All processes "
      "stay in the wrapper's process group (fair to GNU timeout). Gone = exited (pidfd readable).\n\n",
      [&] {
        std::string s;
        for (int n : o_.sizes) s += fmt::format("{}{}: -t {}", s.empty() ? "" : ", ", n, secs(timeout_for[n]));
        return s;
      }(),
      o_.teardown_reps);
  fmt::print("**3a. Tree obeys SIGTERM**: from the deadline (spawn + `-t`) to the last process gone.\n\n");
  table(obey, true);
  fmt::print("Per process (µs per process, median ÷ size; flat = linear growth):\n\n");
  per_process(obey);
  {
    // No kernel call signals a subreaper's descendants, or a cgroup's processes with any signal but
    // SIGKILL: a backend that must signal each process (ctxrun's TERM step) has this floor instead.
    std::vector<std::string> head{"processes", "kill(-pgid) floor", "each floor", "scan floor"};
    for (const auto& t : tools_)
      if (t.is_ctxrun) {
        head.push_back(t.label + " ÷ each floor");
        head.push_back(t.label + " ÷ scan floor");
      }
    std::vector<std::vector<std::string>> rows;
    for (int n : o_.sizes) {
      std::vector<std::string> row{std::to_string(n), ms_cell(summarize(obey["floor"][n])),
                                   ms_cell(summarize(obey["each floor"][n])),
                                   ms_cell(summarize(obey["scan floor"][n]))};
      for (const auto& t : tools_)
        if (t.is_ctxrun)
          for (const char* floor : {"each floor", "scan floor"})
            row.push_back(ratio_cell(summarize(obey[t.label][n]).median, summarize(obey[floor][n]).median));
      rows.push_back(row);
    }
    fmt::print(
        "The floors of signalling each process, timed like the kill(-pgid) floor: `each floor` sends SIGKILL "
        "to each process through the pidfds the benchmark already holds (no search: the least any wrapper "
        "that cannot signal the whole tree at once must do); `scan floor` first finds the tree by one scan "
        "of /proc (the parent in each process's stat), as a wrapper without a cgroup must, then `kill()`s "
        "each process:\n\n");
    print_table(head, rows);
  }
  fmt::print(
      "From the deadline to the first process gone (when the first signal lands; includes the wrapper's "
      "start-up offset):\n\n");
  table(obey_first, false);
  fmt::print(
      "From the deadline to the wrapper's exit (GNU timeout exits once its child is reaped; ctxrun once the "
      "tree is gone and reaped):\n\n");
  table(obey_exit, false);
  auto cost = [&](std::map<std::string, std::map<int, std::vector<double>>>& cpu,
                  std::map<std::string, std::map<int, std::vector<double>>>& wakeups) {
    std::vector<std::string> head{"processes"};
    for (const auto& t : tools_) head.push_back(t.label);
    std::vector<std::vector<std::string>> rows;
    for (int n : o_.sizes) {
      std::vector<std::string> row{std::to_string(n)};
      for (const auto& t : tools_) {
        auto c = summarize(cpu[t.label][n]), w = summarize(wakeups[t.label][n]);
        row.push_back(c.n ? fmt::format("{:.2f} ms, {:.0f}", c.median, w.median) : std::string("n/a"));
      }
      rows.push_back(row);
    }
    print_table(head, rows);
  };
  fmt::print(
      "The wrapper's own CPU time over its whole life (start-up, waiting, teardown, reaping; from its "
      "zombie's schedstat) and its context switches (wake-ups), median:\n\n");
  cost(obey_cpu, obey_wakeups);
  fmt::print(
      "**3b. Tree ignores SIGTERM** (`-k {}`): from the SIGKILL step (spawn + `-t` + `-k`) to the last "
      "process gone. ctxrun starts its grace period after its SIGTERM step, GNU timeout before it, so "
      "ctxrun's figure includes its SIGTERM step.\n\n",
      secs(o_.kill_after));
  table(ignore, true);
  fmt::print("Per process (µs per process):\n\n");
  per_process(ignore);
  fmt::print("From the SIGKILL step to the wrapper's exit:\n\n");
  table(ignore_exit, false);
  fmt::print("The wrapper's own CPU time and context switches over its whole life, median:\n\n");
  cost(ignore_cpu, ignore_wakeups);
  if (retries > 0 || unready > 0)
    fmt::print(
        "({} runs were repeated with a later deadline because the tree was not ready in time; {} could not "
        "be measured.)\n\n",
        retries, unready);
}

void Bench::escape() {
  progress("escape: trees with setsid daemons");
  std::vector<const Tool*> runners{nullptr};
  for (const auto& t : tools_) runners.push_back(&t);
  auto label = [](const Tool* t) { return t ? t->label : std::string("kill(-pgid)"); };
  std::map<std::string, std::map<int, std::vector<double>>> left, exit_ms;
  std::map<int, double> timeout_for;
  for (int rep = 0; rep < o_.escape_reps; ++rep) {
    for (int n : o_.escape_sizes) {
      int e = std::max(1, static_cast<int>(std::lround(n * o_.escape_share)));
      if (!timeout_for.count(n)) timeout_for[n] = calibrate(n);
      for (const Tool* t : rotated(runners, static_cast<std::size_t>(rep))) {
        double& timeout = timeout_for[n];
        TreeRun r;
        for (int attempt = 0; attempt < 4; ++attempt) {
          r = run_tree(t, TreeSpec{.processes = n, .escapees = e, .timeout = timeout, .judge_survivors = true});
          if (r.valid) break;
          timeout *= 2;
        }
        if (!r.valid) continue;
        left[label(t)][n].push_back(r.survivors);
        if (r.exit_ns >= 0) exit_ms[label(t)][n].push_back(static_cast<double>(r.exit_ns) / kMs);
        escape_survivors_[label(t)].push_back(r.survivors);
      }
    }
  }
  fmt::print("### 3c. Trees with setsid escapees\n\n");
  fmt::print(
      "{}% of each tree are daemons (fork, setsid, fork; the middle one exits), the rest obey SIGTERM. "
      "Processes still alive {} after the wrapper exited (after the kill() for the floor) are counted, then "
      "killed by the benchmark. {} repetitions.\n\n",
      std::lround(o_.escape_share * 100), secs(o_.survivor_wait), o_.escape_reps);
  std::vector<std::vector<std::string>> rows;
  for (int n : o_.escape_sizes) {
    int e = std::max(1, static_cast<int>(std::lround(n * o_.escape_share)));
    for (const Tool* t : runners) {
      auto s = summarize(left[label(t)][n]);
      rows.push_back({fmt::format("{} ({} escapees)", n, e), label(t),
                      s.n ? fmt::format("{:.0f} (max {:.0f})", s.median, s.max) : "n/a",
                      t ? ms_cell(summarize(exit_ms[label(t)][n])) : "—"});
    }
  }
  print_table({"tree", "tool", "left alive (median)", "wrapper exit after deadline"}, rows);
}

void Bench::idle() {
  progress(fmt::format("idle: {} repetitions of a {} s command", o_.idle_reps, o_.idle_seconds));
  std::map<std::string, std::vector<double>> cpu_life, sw_life;
  for (int rep = 0; rep < o_.idle_reps; ++rep) {
    for (const auto& t : rotated(tools_, static_cast<std::size_t>(rep))) {
      auto r = run_idle(t);
      if (!WIFEXITED(r.status) || WEXITSTATUS(r.status) != 0)
        broken(fmt::format("{} idle run gave {}", t.label, describe_status(r.status)));
      idle_cpu_us_[t.label].push_back(static_cast<double>(r.ending.cpu_ns - r.ready.cpu_ns) / kUs);
      idle_wakeups_[t.label].push_back(
          static_cast<double>(r.ending.voluntary + r.ending.involuntary - r.ready.voluntary - r.ready.involuntary));
      idle_hwm_[t.label].push_back(static_cast<double>(r.ending.hwm_kb));
      cpu_life[t.label].push_back(static_cast<double>(r.exit.cpu_ns) / kUs);
      sw_life[t.label].push_back(static_cast<double>(r.exit.voluntary + r.exit.involuntary));
    }
  }
  fmt::print("### 4. Idle cost\n\n");
  fmt::print(
      "The wrapper runs a command that does nothing for {} s (`-t` far away). Window: from the command's "
      "\"ready\" to its \"ending\" report. CPU is the wrapper's own on-CPU time (/proc/PID/schedstat, ns "
      "resolution; not its children's); wake-ups are its context switches (voluntary + involuntary, "
      "/proc/PID/status). Whole life: read from its zombie. {} repetitions; median (max).\n\n",
      o_.idle_seconds, o_.idle_reps);
  std::vector<std::vector<std::string>> rows;
  for (const auto& t : tools_) {
    auto c = summarize(idle_cpu_us_[t.label]), w = summarize(idle_wakeups_[t.label]);
    auto cl = summarize(cpu_life[t.label]), sl = summarize(sw_life[t.label]);
    rows.push_back({t.label, fmt::format("{:.1f} µs (max {:.1f})", c.median, c.max),
                    fmt::format("{:.0f} (max {:.0f})", w.median, w.max), fmt::format("{:.0f} µs", cl.median),
                    fmt::format("{:.0f}", sl.median)});
  }
  print_table({"wrapper", "CPU in window", "wake-ups in window", "CPU, whole life", "ctx switches, whole life"}, rows);
}

void Bench::memory() {
  fmt::print("### 5. Peak memory of the wrapper\n\n");
  fmt::print(
      "VmHWM (peak resident set, shared library pages included) of the wrapper process itself, from "
      "/proc/PID/status, read as late as the wrapper can be read: at the end of the idle window, and in "
      "the SIGTERM teardowns of section 3 right after the last tree process went. Median kB.\n\n");
  double timeout_idle = summarize(idle_hwm_["timeout"]).median;
  std::vector<std::string> head{"wrapper", "idle run"};
  std::vector<int> sizes;
  for (int n : o_.sizes)
    if (n >= 100 && !hwm_teardown_["timeout"][n].empty()) sizes.push_back(n);
  for (int n : sizes) head.push_back(fmt::format("{}-process teardown", n));
  head.push_back("idle ÷ timeout's");
  for (int n : sizes) head.push_back(fmt::format("{} ÷ timeout's", n));
  std::vector<std::vector<std::string>> rows;
  for (const auto& t : tools_) {
    std::vector<std::string> row{t.label};
    auto kb = [](const Summary& s) { return s.n ? fmt::format("{:.0f}", s.median) : std::string("n/a"); };
    row.push_back(kb(summarize(idle_hwm_[t.label])));
    for (int n : sizes) row.push_back(kb(summarize(hwm_teardown_[t.label][n])));
    row.push_back(ratio_cell(summarize(idle_hwm_[t.label]).median, timeout_idle));
    for (int n : sizes)
      row.push_back(
          ratio_cell(summarize(hwm_teardown_[t.label][n]).median, summarize(hwm_teardown_["timeout"][n]).median));
    rows.push_back(row);
  }
  print_table(head, rows);
}

void Bench::relay() {
  // The file: in a directory of its own, written once, read once more by the warm-up runs so that
  // every measured copy comes from the page cache.
  std::string dir_template = std::string(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp") +
                             "/ctxrun-bench-XXXXXX";
  if (!mkdtemp(dir_template.data())) broken(fmt::format("mkdtemp: {}", std::strerror(errno)));
  const std::string dir = dir_template, file = dir + "/big";
  {
    unique_fd fd(open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!fd) broken(fmt::format("cannot create {}: {}", file, std::strerror(errno)));
    std::string chunk(1 << 20, '\0');
    for (std::size_t i = 0; i < chunk.size(); ++i) chunk[i] = static_cast<char>(i % 64 == 63 ? '\n' : 'a' + i % 26);
    for (int i = 0; i < o_.relay_mib; ++i)
      for (std::size_t off = 0; off < chunk.size();) {
        ssize_t n = write(fd.get(), chunk.data() + off, chunk.size() - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) broken(fmt::format("cannot write {}: {}", file, std::strerror(errno)));
        off += static_cast<std::size_t>(n);
      }
  }
  const auto size = static_cast<std::uint64_t>(o_.relay_mib) << 20;
  std::string cat = find_in_path("cat", "");
  if (cat.empty()) broken("cat not found in PATH");
  progress(fmt::format("relay: {} repetitions of a {} MiB copy", o_.relay_reps, o_.relay_mib));

  // One ctxrun per build (the relay does not depend on the backend): the first working backend.
  struct Case {
    std::string label, shown, group;  // group: the ctxrun tool, "cat" for the plain command
    bool to_pipe = false, heartbeat = false;
    std::vector<std::string> argv;
  };
  std::vector<Tool> relay_tools;
  for (const auto& t : ctxruns())
    if (std::none_of(relay_tools.begin(), relay_tools.end(), [&](const Tool& u) { return u.binary == t.binary; }))
      relay_tools.push_back(t);
  std::vector<Case> cases;
  for (bool to_pipe : {false, true}) {
    std::string where = to_pipe ? " \\| reader" : " > /dev/null";  // \| : a pipe in a table cell
    cases.push_back({"cat", "`cat FILE" + where + "`", "cat", to_pipe, false, {cat, file}});
    // The floor of any relaying process: a second cat in between (read/write, through one more pipe).
    cases.push_back({"cat | cat",
                     "`cat FILE \\| cat" + where + "` (sh -c)",
                     "floor",
                     to_pipe,
                     false,
                     {"/bin/sh", "-c", "\"$0\" \"$1\" | \"$0\"", cat, file}});
    for (const auto& t : relay_tools) {
      std::string name = t.label.substr(0, t.label.find('['));
      for (bool heartbeat : {false, true}) {
        std::vector<std::string> argv{t.binary, "--tree=" + t.backend, "--idle", "1h"};
        if (heartbeat) argv.insert(argv.end(), {"--heartbeat", "1h"});
        argv.insert(argv.end(), {cat, file});
        cases.push_back(
            {t.label, "`" + name + (heartbeat ? " --idle 1h --heartbeat 1h" : " --idle 1h") + " cat FILE" + where + "`",
             t.label, to_pipe, heartbeat, argv});
      }
    }
  }
  std::vector<std::vector<double>> mbps(cases.size()), cpu_ms(cases.size()), switches(cases.size()),
      wall_ms(cases.size());
  for (auto& c : cases) run_copy(c.argv, c.to_pipe);  // warm-up: page cache, dynamic loader
  for (int rep = 0; rep < o_.relay_reps; ++rep) {
    for (std::size_t k = 0; k < cases.size(); ++k) {
      std::size_t i = (k + static_cast<std::size_t>(rep)) % cases.size();
      auto r = run_copy(cases[i].argv, cases[i].to_pipe);
      if (!WIFEXITED(r.status) || WEXITSTATUS(r.status) != 0)
        broken(fmt::format("{} gave {}", cases[i].shown, describe_status(r.status)));
      if (cases[i].to_pipe && r.bytes != size)
        broken(fmt::format("{}: {} bytes came through, not {}", cases[i].shown, r.bytes, size));
      wall_ms[i].push_back(static_cast<double>(r.wall_ns) / kMs);
      mbps[i].push_back(static_cast<double>(size) / 1e6 / (static_cast<double>(r.wall_ns) / kSec));
      cpu_ms[i].push_back(static_cast<double>(r.at_exit.cpu_ns) / kMs);
      switches[i].push_back(static_cast<double>(r.at_exit.voluntary + r.at_exit.involuntary));
    }
    cleanup("relay runs");
  }
  unlink(file.c_str());
  rmdir(dir.c_str());

  fmt::print("### 6. Output relay (`--idle`)\n\n");
  fmt::print(
      "`cat` copies a {} MiB file (page cache warm) to its stdout: alone, and under ctxrun's output relay "
      "(`--idle 1h`: splice(2); `--idle 1h --heartbeat 1h`: read/write, as it has to know the last byte "
      "of each stream). Stdout is /dev/null, or a pipe that the benchmark reads (256 KiB reads) and "
      "discards. Wall time from spawn to exit (and EOF on the pipe); MB/s = 10⁶ bytes per second of "
      "that wall time, so start-up is included. Own CPU: the spawned process's own time on a CPU "
      "(schedstat of its zombie): `cat`'s for the plain command, the wrapper's alone (not `cat`'s) "
      "under ctxrun. `cat FILE | cat` (run by sh, not timed apart from it) is the floor of any process "
      "that relays: one more pipe and one more process. {} repetitions, alternating; median (p25–p75).\n\n",
      o_.relay_mib, o_.relay_reps);
  std::vector<std::vector<std::string>> rows;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    std::size_t base = i, floor = i;
    for (std::size_t j = 0; j < cases.size(); ++j) {
      if (cases[j].group == "cat" && cases[j].to_pipe == cases[i].to_pipe) base = j;
      if (cases[j].group == "floor" && cases[j].to_pipe == cases[i].to_pipe) floor = j;
    }
    auto s = summarize(mbps[i]);
    double ratio = s.median / summarize(mbps[base]).median;
    if (cases[i].group != "cat" && cases[i].group != "floor")
      relay_ratio_[cases[i].group].push_back({fmt::format("{}, {}", cases[i].heartbeat ? "read/write" : "splice",
                                                          cases[i].to_pipe ? "to a pipe" : "to /dev/null"),
                                              ratio});
    auto c = summarize(cpu_ms[i]);
    rows.push_back(
        {cases[i].shown, ms_cell(summarize(wall_ms[i])),
         s.n > 1 ? fmt::format("{:.0f} ({:.0f}–{:.0f})", s.median, s.p25, s.p75) : fmt::format("{:.0f}", s.median),
         i == base ? "—" : fmt::format("{:.2f}", ratio),
         i == base || i == floor ? "—" : ratio_cell(s.median, summarize(mbps[floor]).median),
         i == floor ? "n/a" : ms_cell(c), i == floor ? "n/a" : fmt::format("{:.0f} µs", c.median * 1000 / o_.relay_mib),
         fmt::format("{:.0f}", summarize(switches[i]).median)});
  }
  print_table({"command", "wall", "MB/s", "÷ cat's", "÷ cat \\| cat's", "own CPU", "own CPU per MiB", "ctx switches"},
              rows);
}

void Bench::targets() {
  fmt::print("### Targets (this run)\n\n");
  std::vector<std::vector<std::string>> rows;
  auto verdict = [](bool met) { return std::string(met ? "met" : "**missed**"); };
  for (const auto& t : ctxruns()) {
    const auto& l = t.label;
    if (overhead_wall_us_.count(l) && overhead_wall_us_.count("timeout")) {
      double a = overhead_wall_us_[l], b = overhead_wall_us_["timeout"];
      rows.push_back({l, "wall of `-t 10s true` ≤ 1.10 × timeout's",
                      fmt::format("{:.0f} µs vs {:.0f} µs ({:.2f}×)", a, b, a / b), verdict(a <= 1.10 * b)});
    }
    if (startup_us_.count(l) && startup_us_.count("timeout")) {
      double a = startup_us_[l].median, b = startup_us_["timeout"].median;
      rows.push_back({l, "spawn → first instruction ≤ timeout's + 0.5 ms",
                      fmt::format("{:.0f} µs vs {:.0f} µs ({:+.0f} µs)", a, b, a - b), verdict(a <= b + 500)});
    }
    if (precision_ms_.count(l)) {
      double p99 = precision_ms_[l].p99;
      rows.push_back({l, "deadline p99 < 5 ms", fmt::format("{:.2f} ms", p99), verdict(p99 < 5)});
      if (precision_ms_.count("timeout")) {
        double a = precision_ms_[l].median, b = precision_ms_["timeout"].median;
        rows.push_back({l, "deadline p50 ≤ 1.10 × timeout's",
                        fmt::format("{:.2f} ms vs {:.2f} ms ({:.2f}×)", a, b, a / b), verdict(a <= 1.10 * b)});
      }
    }
    if (!idle_cpu_us_[l].empty()) {
      auto c = summarize(idle_cpu_us_[l]), w = summarize(idle_wakeups_[l]);
      rows.push_back({l, "idle: zero CPU, ≤ 5 wake-ups", fmt::format("{:.1f} µs, {:.0f} wake-ups (max)", c.max, w.max),
                      verdict(c.max == 0 && w.max <= 5)});
    }
    for (auto* data : {&obey_ms_, &ignore_ms_}) {
      if (!data->count(l) || !data->count("floor")) continue;
      std::string worst;
      bool all = true;
      for (int n : o_.sizes) {
        double a = (*data)[l][n].median, f = (*data)["floor"][n].median;
        if ((*data)[l][n].n == 0 || (*data)["floor"][n].n == 0) continue;
        bool ok = a <= 1.10 * f;
        all = all && ok;
        worst += fmt::format("{}{}: {:.2f}×", worst.empty() ? "" : ", ", n, a / f);
      }
      rows.push_back({l, fmt::format("teardown ({}) ≤ 1.10 × floor", data == &obey_ms_ ? "obeys TERM" : "from SIGKILL"),
                      worst, verdict(all)});
      // Linear growth: the time per process at the largest size no more than 1.25 times that at
      // the next size down (1.25 leaves room for noise).
      if (o_.sizes.size() >= 2) {
        int a = o_.sizes[o_.sizes.size() - 2], b = o_.sizes.back();
        double pa = (*data)[l][a].median / a, pb = (*data)[l][b].median / b;
        rows.push_back(
            {l, fmt::format("teardown ({}) grows ≤ linearly", data == &obey_ms_ ? "obeys TERM" : "from SIGKILL"),
             fmt::format("per process {:.1f} µs at {}, {:.1f} µs at {}", pa * 1000, a, pb * 1000, b),
             verdict(pb <= 1.25 * pa)});
      }
    }
    if (!idle_hwm_[l].empty() && !idle_hwm_["timeout"].empty()) {
      double a = summarize(idle_hwm_[l]).median, b = summarize(idle_hwm_["timeout"]).median;
      double worst = a / b;
      for (auto& [n, v] : hwm_teardown_[l])
        if (!hwm_teardown_["timeout"][n].empty())
          worst = std::max(worst, summarize(v).median / summarize(hwm_teardown_["timeout"][n]).median);
      rows.push_back(
          {l, "peak RSS ≤ 1.5 × timeout's", fmt::format("{:.2f}× (worst case)", worst), verdict(worst <= 1.5)});
    }
    for (const auto& [what, ratio] : relay_ratio_[l])
      rows.push_back({l, fmt::format("relay ({}) ≥ 0.90 × cat's throughput", what), fmt::format("{:.2f}×", ratio),
                      verdict(ratio >= 0.90)});
    if (escape_survivors_.count(l)) {
      auto s = summarize(escape_survivors_[l]);
      rows.push_back({l, "no escapee left alive", fmt::format("{:.0f} left (max)", s.max), verdict(s.max == 0)});
    }
  }
  print_table({"ctxrun", "target", "measured", "verdict"}, rows);
}

int Bench::run() {
  header();
  probe_backends();
  if (wants("overhead")) overhead();
  if (wants("startup")) startup();
  if (wants("precision")) precision();
  if (wants("teardown")) teardown();
  if (wants("escape")) escape();
  if (wants("idle")) idle();
  if (wants("idle") || wants("teardown")) memory();
  if (wants("relay")) relay();
  targets();
  cleanup("the last run");
  auto load = read_small_file("/proc/loadavg").value_or("?");
  fmt::print("Load average at the end: {}\n\n", first_line(load));
  if (!notes_.empty()) {
    fmt::print("Notes:\n\n");
    for (const auto& n : notes_) fmt::print("- {}\n", n);
    fmt::print("\n");
  }
  if (leftovers_ > 0) {
    std::string names;
    for (const auto& [name, count] : leftover_names_)
      names += fmt::format("{}{} ×{}", names.empty() ? "" : ", ", name, count);
    progress(fmt::format("{} processes were left behind by runs and killed by the sweeps: {}", leftovers_, names));
    fmt::print(
        "(Processes left behind by runs, outside the trees measured, and killed by the benchmark's "
        "sweeps: {}.)\n",
        names);
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
// The guard

int guard(pid_t worker, Reaper& reaper) {
  sigset_t stop;
  sigemptyset(&stop);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&stop, sig);
  unique_fd stops(signalfd(-1, &stop, SFD_CLOEXEC | SFD_NONBLOCK));
  int status = 0, stop_signal = 0;
  while (true) {
    pid_t pid = waitpid(worker, &status, WNOHANG);
    if (pid == worker) break;
    pollfd fds[2] = {{reaper.fd(), POLLIN, 0}, {stops.get(), POLLIN, 0}};
    if (poll(fds, 2, -1) < 0 && errno != EINTR) break;
    signalfd_siginfo info;
    while (read(reaper.fd(), &info, sizeof info) == sizeof info) {}
    if (read(stops.get(), &info, sizeof info) == sizeof info) {
      stop_signal = static_cast<int>(info.ssi_signo);
      kill(worker, SIGKILL);
    }
  }
  int found = sweep(reaper, 20 * kSec);
  if (found != 0) fmt::print(stderr, "ctxrun_bench: {} processes were left when the benchmark ended; killed\n", found);
  if (stop_signal) {
    fmt::print(stderr, "ctxrun_bench: stopped by signal {}\n", stop_signal);
    return 128 + stop_signal;
  }
  if (found < 0) return 3;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + WTERMSIG(status);
}

}  // namespace

int main(int argc, char** argv) {
  Options options = parse_options(argc, argv);
  // Thousands of pidfds at once for the 3000-process trees.
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < 3500)
    broken(fmt::format("RLIMIT_NOFILE is {}; 3500 descriptors are needed", files.rlim_cur));
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) broken("cannot become a child subreaper");
  // The guard blocks its stop signals before the fork; the worker takes them by default (dies).
  sigset_t stop;
  sigemptyset(&stop);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&stop, sig);
  sigprocmask(SIG_BLOCK, &stop, nullptr);
  Reaper reaper;
  std::fflush(stdout);
  pid_t worker = fork();
  if (worker < 0) broken("fork");
  if (worker == 0) {
    sigprocmask(SIG_UNBLOCK, &stop, nullptr);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) broken("cannot become a child subreaper");
    Bench bench(std::move(options));
    std::exit(bench.run());
  }
  return guard(worker, reaper);
}
