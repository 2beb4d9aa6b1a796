#include "diagnose.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <set>

#include "ctxrun/unique_fd.h"
#include "proc.h"
#include "signal_regime.h"
#include "timer.h"

extern char** environ;

namespace ctxrun {
namespace {

// How long a hook killed at its limit may take to die before it is left to the caller's Reaper:
// SIGKILL is at once unless the hook sleeps uninterruptibly (D), and then waiting does not help.
constexpr int kHookReapLimitMs = 2000;

// The whole text of a small /proc file, "" if it cannot be read.
std::string read_small_file(const char* path) {
  std::string text;
  unique_fd fd(open(path, O_RDONLY | O_CLOEXEC));
  if (!fd) return text;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd.get(), buf, sizeof buf)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  return text;
}

double boot_seconds_now() {
  timespec now{};
  clock_gettime(CLOCK_BOOTTIME, &now);
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9;
}

std::optional<TreeLine> describe_one(pid_t pid, double boot_now, double ticks_per_second) {
  auto info = read_process(pid);
  if (!info) return std::nullopt;
  TreeLine line;
  line.pid = info->pid;
  line.ppid = info->ppid;
  line.state = info->state;
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/wchan", static_cast<int>(pid));
  line.wchan = read_small_file(path);
  while (!line.wchan.empty() && (line.wchan.back() == '\n' || line.wchan.back() == ' ')) line.wchan.pop_back();
  if (line.wchan.empty() || line.wchan == "0") line.wchan = "-";
  line.age_seconds = std::max(0.0, boot_now - static_cast<double>(info->start_time) / ticks_per_second);
  std::snprintf(path, sizeof path, "/proc/%d/cmdline", static_cast<int>(pid));
  line.command = read_small_file(path);
  while (!line.command.empty() && line.command.back() == '\0') line.command.pop_back();
  std::replace(line.command.begin(), line.command.end(), '\0', ' ');
  if (line.command.empty()) line.command = "[" + info->name + "]";
  return line;
}

void append_escaped(std::string& out, const std::string& text) {
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c == '\r') out += "\\r";
    else if (byte < 0x20 || byte == 0x7f) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", static_cast<unsigned>(byte));
      out += hex;
    } else {
      out += c;
    }
  }
}

std::string format_age(double seconds) {
  char buf[48];
  if (seconds * 10 < 599.5) {  // what "%.1f" shows is below 60.0 (no libm round())
    std::snprintf(buf, sizeof buf, "%.1fs", seconds);
    return buf;
  }
  auto total = static_cast<long long>(seconds);
  long long h = total / 3600, m = total / 60 % 60, s = total % 60;
  if (h > 0) std::snprintf(buf, sizeof buf, "%lldh%lldm%llds", h, m, s);
  else std::snprintf(buf, sizeof buf, "%lldm%llds", m, s);
  return buf;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// poll() on `fds` until one is ready, EINTR retried; `timeout_ms` as poll's (-1: none).
int poll_retry(pollfd* fds, nfds_t n, int timeout_ms) {
  int r;
  do r = ::poll(fds, n, timeout_ms);
  while (r < 0 && errno == EINTR);
  return r;
}

std::string errno_message(const char* what, int error) { return std::string(what) + ": " + std::strerror(error); }

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// The environment of the hook: this process's, with `extra` added or replacing a variable.
std::vector<std::string> hook_environment(const std::vector<std::string>& extra) {
  auto name_of = [](const std::string& entry) { return entry.substr(0, entry.find('=')); };
  std::set<std::string> replaced;
  for (const auto& e : extra) replaced.insert(name_of(e));
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e)
    if (!replaced.count(name_of(*e))) env.emplace_back(*e);
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

// A descriptor number >= 3, so that making 0, 1 and 2 in the child never overwrites it.
int above_stdio(int fd) {
  if (fd < 0 || fd > 2) return fd;
  int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  int error = errno;
  ::close(fd);
  errno = error;
  return moved;
}

[[noreturn]] void report_and_exit(int fd, int error) {
  [[maybe_unused]] auto n = ::write(fd, &error, sizeof error);
  _exit(127);
}

}  // namespace

std::vector<TreeLine> describe_processes(const std::vector<pid_t>& pids) {
  std::vector<TreeLine> out;
  if (!proc_is_ours()) return out;
  long ticks = sysconf(_SC_CLK_TCK);
  double ticks_per_second = ticks > 0 ? static_cast<double>(ticks) : 100.0;
  double boot_now = boot_seconds_now();
  std::map<pid_t, TreeLine> found;
  for (pid_t pid : pids)
    if (!found.count(pid))
      if (auto line = describe_one(pid, boot_now, ticks_per_second)) found.emplace(pid, std::move(*line));
  // Tree order: roots by pid, each followed by its subtree, children by pid (the map's order).
  std::multimap<pid_t, pid_t> children;  // ppid → pid, among the found
  std::vector<pid_t> roots;
  for (const auto& [pid, line] : found) {
    if (line.ppid != pid && found.count(line.ppid)) children.emplace(line.ppid, pid);
    else roots.push_back(pid);
  }
  std::vector<pid_t> stack(roots.rbegin(), roots.rend());
  std::set<pid_t> done;  // a parent cycle cannot exist, but a pid reused mid-read could fake one
  while (!stack.empty()) {
    pid_t pid = stack.back();
    stack.pop_back();
    if (!done.insert(pid).second) continue;
    out.push_back(found.at(pid));
    auto [first, last] = children.equal_range(pid);
    std::vector<pid_t> kids;
    for (auto it = first; it != last; ++it) kids.push_back(it->second);
    std::sort(kids.begin(), kids.end());
    stack.insert(stack.end(), kids.rbegin(), kids.rend());
  }
  // Whatever a faked cycle kept out of reach still gets its line.
  for (const auto& [pid, line] : found)
    if (!done.count(pid)) out.push_back(line);
  return out;
}

std::string format_tree_line(const TreeLine& line) {
  std::string out = "  " + std::to_string(line.pid) + " " + std::to_string(line.ppid) + " ";
  append_escaped(out, std::string(1, line.state));
  out += ' ';
  append_escaped(out, line.wchan.empty() ? std::string("-") : line.wchan);
  out += ' ' + format_age(line.age_seconds) + ' ';
  append_escaped(out, line.command);
  return out;
}

Result<HookResult> run_hook(const std::string& shell_command, const std::vector<std::string>& extra_env,
                            std::chrono::nanoseconds limit, int output_fd, const SignalRegime* signals) noexcept {
  try {
    // Everything the child needs is prepared here, before fork.
    std::vector<std::string> args{"/bin/sh", "-c", shell_command};
    auto argv = pointers(args);
    auto env = hook_environment(extra_env);
    auto envp = pointers(env);
    Timer timer;
    if (!timer.ok()) return errno_message("cannot make a timer for the hook", timer.error());
    unique_fd devnull(above_stdio(open("/dev/null", O_RDWR | O_CLOEXEC)));
    if (!devnull) return errno_message("cannot open /dev/null for the hook", errno);
    int out = output_fd >= 0 ? output_fd : devnull.get();
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return errno_message("cannot make a pipe for the hook", errno);
    unique_fd read_end(above_stdio(fds[0])), write_end(above_stdio(fds[1]));
    if (!read_end || !write_end) return errno_message("cannot make a pipe for the hook", errno);
    pid_t parent = getpid();
    auto start = std::chrono::steady_clock::now();

    pid_t pid = fork();
    if (pid < 0) return errno_message("cannot fork the hook", errno);
    if (pid == 0) {
      int report = write_end.get();
      if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) report_and_exit(report, ESRCH);
      if (setpgid(0, 0) != 0) report_and_exit(report, errno);
      // 1 and 2 first: `out` may be 0. dup2 clears close-on-exec on the copy.
      if (dup2(out, 1) < 0 || dup2(out, 2) < 0 || dup2(devnull.get(), 0) < 0) report_and_exit(report, errno);
      if (signals) {
        signals->restore_in_child();
      } else {
        // The default action before the mask opens, so that no handler of ctxrun's runs here.
        struct sigaction dfl {};
        dfl.sa_handler = SIG_DFL;
        for (int sig = 1; sig < NSIG; ++sig) {
          struct sigaction old {};
          if (sigaction(sig, nullptr, &old) == 0 && old.sa_handler != SIG_IGN && old.sa_handler != SIG_DFL)
            sigaction(sig, &dfl, nullptr);
        }
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, nullptr);
      }
      execve(argv[0], argv.data(), envp.data());
      report_and_exit(report, errno);
    }
    write_end.reset();
    auto reap = [pid] {
      int status = 0;
      while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
      return status;
    };
    int error = 0;
    ssize_t n;
    do n = ::read(read_end.get(), &error, sizeof error);
    while (n < 0 && errno == EINTR);
    if (n == sizeof error) {
      reap();
      return errno_message("cannot run the hook with /bin/sh", error);
    }

    // It runs, in a group of its own. From here the group is killed before the hook is reaped: while
    // the hook is unreaped (a zombie at worst) its pid, the group's id, cannot be reused.
    unique_fd pidfd(open_pidfd(pid));
    if (!pidfd) {
      int why = errno;
      ::kill(-pid, SIGKILL);
      reap();
      return errno_message("cannot watch the hook (pidfd_open)", why);
    }
    HookResult result;
    timer.arm(limit);
    pollfd fds_to_poll[2] = {{pidfd.get(), POLLIN, 0}, {timer.fd(), POLLIN, 0}};
    while (true) {
      if (poll_retry(fds_to_poll, 2, -1) < 0) {
        // poll itself failed (ENOMEM): stop the hook rather than wait on it blind.
        result.timed_out = true;
        break;
      }
      if (fds_to_poll[0].revents != 0) break;
      if (fds_to_poll[1].revents != 0 && timer.fired()) {
        result.timed_out = true;
        break;
      }
    }
    ::kill(-pid, SIGKILL);  // the whole group at the limit; what the hook left behind otherwise
    pollfd ended{pidfd.get(), POLLIN, 0};
    if (poll_retry(&ended, 1, result.timed_out ? kHookReapLimitMs : -1) > 0) result.status = reap();
    result.seconds = seconds_since(start);
    return result;
  } catch (...) {
    return std::string("cannot run the hook: out of memory");
  }
}

DumpResult send_dump_signal(pid_t main_pid, int pidfd_or_minus1, int sig, std::chrono::nanoseconds wait) noexcept {
  DumpResult result;
  auto start = std::chrono::steady_clock::now();
  unique_fd own;
  int pidfd = pidfd_or_minus1;
  if (pidfd < 0) {
    own.reset(open_pidfd(main_pid));
    pidfd = own.get();
  }
  int sent = pidfd >= 0 ? send_signal_pidfd(pidfd, sig) : ::kill(main_pid, sig);
  if (sent != 0 && errno == ESRCH) {
    result.main_exited = true;  // gone already (reaped under a precondition broken; nothing to wait for)
    return result;
  }
  Timer timer;
  if (pidfd >= 0 && timer.ok()) {
    timer.arm(wait);
    pollfd fds[2] = {{pidfd, POLLIN, 0}, {timer.fd(), POLLIN, 0}};
    while (poll_retry(fds, 2, -1) > 0) {
      if (fds[0].revents != 0) {
        result.main_exited = true;
        break;
      }
      if (fds[1].revents != 0 && timer.fired()) break;
    }
  } else {
    // No pidfd (or no timer): one bounded wait, on the pidfd if there is one, then one look that
    // leaves the main command unreaped. poll's own timeout is the last resort (milliseconds).
    auto ms = std::chrono::ceil<std::chrono::milliseconds>(wait).count();
    int timeout = static_cast<int>(std::clamp<decltype(ms)>(ms, 0, std::numeric_limits<int>::max()));
    pollfd one{pidfd, POLLIN, 0};  // a negative fd is ignored by poll
    if (pidfd < 0 && timer.ok()) {
      timer.arm(wait);
      one = {timer.fd(), POLLIN, 0};
      timeout = -1;
    }
    if (poll_retry(&one, 1, timeout) > 0 && pidfd >= 0) result.main_exited = true;
    siginfo_t info{};
    if (!result.main_exited && waitid(P_PID, static_cast<id_t>(main_pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
        info.si_pid == main_pid)
      result.main_exited = true;
  }
  result.waited_seconds = seconds_since(start);
  return result;
}

}  // namespace ctxrun
