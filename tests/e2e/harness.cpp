#include "harness.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

extern char** environ;

namespace e2e {
namespace {

using Clock = std::chrono::steady_clock;

int remaining_ms(Clock::time_point until) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
  return left < 0 ? 0 : static_cast<int>(left);
}

// Waits until `fd` is readable (or hung up) or `until`; true if it is.
bool readable(int fd, Clock::time_point until) {
  pollfd p{fd, POLLIN, 0};
  while (true) {
    int n = ::poll(&p, 1, remaining_ms(until));
    if (n < 0 && errno == EINTR) continue;
    return n > 0;
  }
}

// Reads what is there; returns false on EOF.
bool read_some(int fd, std::string& into) {
  char buf[4096];
  ssize_t n;
  do n = ::read(fd, buf, sizeof buf);
  while (n < 0 && errno == EINTR);
  if (n > 0) into.append(buf, static_cast<std::size_t>(n));
  return n > 0 || (n < 0 && errno == EAGAIN);
}

void pipe_or_fail(int fds[2]) { REQUIRE(pipe2(fds, O_CLOEXEC) == 0); }

}  // namespace

bool Exit::exited(int code) const { return WIFEXITED(status) && WEXITSTATUS(status) == code; }
bool Exit::killed_by(int sig) const { return WIFSIGNALED(status) && WTERMSIG(status) == sig; }
std::string Exit::describe() const {
  std::ostringstream s;
  if (WIFEXITED(status)) s << "exit " << WEXITSTATUS(status);
  else if (WIFSIGNALED(status)) s << "signal " << WTERMSIG(status) << (WCOREDUMP(status) ? " (core)" : "");
  else s << "status " << status;
  s << " after " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << "ms; stderr: [" << err
    << "]";
  return s.str();
}

Process::Process(const Spec& spec) {
  int report[2], err[2], out[2] = {-1, -1};
  pipe_or_fail(report);
  pipe_or_fail(err);
  if (spec.capture_stdout) pipe_or_fail(out);
  std::vector<std::string> args{spec.name.empty() ? spec.argv0 : spec.name};
  args.insert(args.end(), spec.args.begin(), spec.args.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) env_strings.emplace_back(*e);
  env_strings.insert(env_strings.end(), spec.env.begin(), spec.env.end());
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);

  started_ = Clock::now();
  pid_ = fork();
  REQUIRE(pid_ >= 0);
  if (pid_ == 0) {
    if (spec.new_session) setsid();
    dup2(report[1], 3);  // dup2 clears close-on-exec on the copy
    dup2(err[1], 2);
    if (spec.capture_stdout) dup2(out[1], 1);
    // ctxrun starts with 0, 1, 2, 3 and pass_fds only, whatever the test runner left open.
    syscall(SYS_close_range, 4u, ~0u, CLOSE_RANGE_CLOEXEC);
    for (int fd : spec.pass_fds) fcntl(fd, F_SETFD, 0);
    for (int sig : spec.ignore) ::signal(sig, SIG_IGN);
    sigset_t mask;
    sigemptyset(&mask);
    for (int sig : spec.block) sigaddset(&mask, sig);
    sigprocmask(SIG_SETMASK, &mask, nullptr);
    execve(spec.argv0.c_str(), argv.data(), envp.data());
    _exit(111);
  }
  pidfd_.reset(static_cast<int>(syscall(SYS_pidfd_open, pid_, 0)));
  close(report[1]);
  close(err[1]);
  report_.reset(report[0]);
  err_.reset(err[0]);
  fcntl(err_.get(), F_SETFL, O_NONBLOCK);
  if (spec.capture_stdout) {
    close(out[1]);
    out_.reset(out[0]);
  }
}

Process::Process(Process&& other) noexcept
    : pid_(std::exchange(other.pid_, 0)),
      pidfd_(std::move(other.pidfd_)),
      report_(std::move(other.report_)),
      err_(std::move(other.err_)),
      out_(std::move(other.out_)),
      err_text_(std::move(other.err_text_)),
      report_buf_(std::move(other.report_buf_)),
      started_(other.started_),
      reaped_(other.reaped_) {}

Process::~Process() {
  if (pid_ > 0 && !reaped_) {
    ::kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

std::string Process::next_line(std::chrono::milliseconds limit) {
  auto until = Clock::now() + limit;
  while (true) {
    if (auto nl = report_buf_.find('\n'); nl != std::string::npos) {
      std::string line = report_buf_.substr(0, nl);
      report_buf_.erase(0, nl + 1);
      return line;
    }
    if (!readable(report_.get(), until) || !read_some(report_.get(), report_buf_)) return "";
  }
}

std::vector<pid_t> Process::await_ready(std::chrono::milliseconds limit) {
  auto until = Clock::now() + limit;
  std::vector<pid_t> pids;
  while (true) {
    std::string line = next_line(std::chrono::milliseconds(remaining_ms(until)));
    if (line == "ready") return pids;
    if (line.rfind("pid ", 0) == 0) {
      pids.push_back(static_cast<pid_t>(std::atoi(line.c_str() + 4)));
      continue;
    }
    FAIL("no 'ready' from the helper (last line: '" << line << "'); stderr: " << err_text_);
  }
}

bool Process::await_stderr(const std::string& text, std::chrono::milliseconds limit) {
  auto until = Clock::now() + limit;
  while (err_text_.find(text) == std::string::npos) {
    if (!readable(err_.get(), until) || !read_some(err_.get(), err_text_)) return false;
  }
  return true;
}

bool Process::report_eof(std::chrono::milliseconds limit) {
  auto until = Clock::now() + limit;
  while (readable(report_.get(), until))
    if (!read_some(report_.get(), report_buf_)) return true;
  return false;
}

bool Process::stdout_eof(std::chrono::milliseconds limit) {
  auto until = Clock::now() + limit;
  std::string ignored;
  while (readable(out_.get(), until))
    if (!read_some(out_.get(), ignored)) return true;
  return false;
}

std::string Process::stdout_text(std::chrono::milliseconds limit) {
  auto until = Clock::now() + limit;
  std::string text;
  while (readable(out_.get(), until))
    if (!read_some(out_.get(), text)) break;
  return text;
}

void Process::signal(int sig) const { REQUIRE(::kill(pid_, sig) == 0); }

bool Process::still_running_after(std::chrono::milliseconds limit) {
  return !readable(pidfd_.get(), Clock::now() + limit);
}

Exit Process::wait(std::chrono::milliseconds limit) {
  Exit result;
  if (!readable(pidfd_.get(), Clock::now() + limit)) {
    ::kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    reaped_ = true;
    FAIL("ctxrun did not end within " << limit.count() << "ms; stderr so far: " << err_text_);
  }
  result.took = Clock::now() - started_;
  REQUIRE(waitpid(pid_, &result.status, 0) == pid_);
  reaped_ = true;
  // ctxrun has written all it will; read what is in the pipe without waiting for EOF (a leftover
  // under --orphans=leave may hold stderr open).
  while (readable(err_.get(), Clock::now()) && read_some(err_.get(), err_text_)) {}
  result.err = err_text_;
  return result;
}

Exit run(const Spec& spec, std::chrono::milliseconds limit) {
  Process p(spec);
  return p.wait(limit);
}

Exit run(std::vector<std::string> args, std::chrono::milliseconds limit) {
  return run(Spec{.args = std::move(args)}, limit);
}

std::vector<ctxrun::ProcessInfo> survivors() {
  while (waitpid(-1, nullptr, WNOHANG) > 0) {}
  auto all = ctxrun::scan_processes();
  REQUIRE(all.has_value());
  auto tree = ctxrun::descendants_of(getpid(), *all);
  std::erase_if(tree, [](const ctxrun::ProcessInfo& p) { return p.state == 'Z'; });
  return tree;
}

bool await_no_survivors(std::chrono::milliseconds limit) {
  auto until = Clock::now() + limit;
  while (true) {
    auto left = survivors();
    if (left.empty()) return true;
    ctxrun::unique_fd pidfd(static_cast<int>(syscall(SYS_pidfd_open, left[0].pid, 0)));
    if (pidfd && !readable(pidfd.get(), until)) return false;
    if (Clock::now() >= until) return survivors().empty();
  }
}

void kill_survivors() {
  for (int round = 0; round < 100; ++round) {
    auto left = survivors();
    if (left.empty()) return;
    for (auto& p : left) ::kill(p.pid, SIGKILL);
    // Reap what died; a sweep per child exit, no sleeping.
    int status;
    waitpid(-1, &status, 0);
  }
}

bool gone(pid_t pid) {
  auto p = ctxrun::read_process(pid);
  return !p || p->state == 'Z' || p->state == 'X';
}

std::string& temp_dir_path() {
  static std::string path;
  return path;
}

std::string temp_dir() {
  auto& dir = temp_dir_path();
  if (dir.empty()) {
    char templ[] = "/tmp/ctxrun-e2e-XXXXXX";
    REQUIRE(mkdtemp(templ) != nullptr);
    dir = templ;
  }
  return dir;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string fresh_dir(const std::string& name) {
  std::string dir = temp_dir() + "/" + name;
  std::filesystem::remove_all(dir);
  REQUIRE(std::filesystem::create_directory(dir));
  return dir;
}

std::string sh_word(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string last_line(const std::string& text) {
  auto lines = lines_of(text);
  return lines.empty() ? "" : lines.back();
}

NoSurvivors::NoSurvivors() { kill_survivors(); }

NoSurvivors::~NoSurvivors() {
  auto left = survivors();
  for (auto& p : left) MESSAGE("survivor: pid " << p.pid << " (" << p.name << ") state " << p.state);
  CHECK_MESSAGE(left.empty(), "processes of the tree survived the test");
  kill_survivors();
}

void check_usage_error(const UsageCase& c) {
  std::string joined;
  for (const auto& a : c.args) joined += a + " ";
  INFO("args: " << joined);
  auto exit = run(c.args);
  CHECK_MESSAGE(exit.exited(125), exit.describe());
  CHECK(exit.err.rfind("ctxrun: ", 0) == 0);
  CHECK(exit.err.find("unknown option") == std::string::npos);
  CHECK(exit.err.find('\n') == exit.err.size() - 1);  // one line
  bool named = std::any_of(c.names.begin(), c.names.end(),
                           [&](const std::string& n) { return exit.err.find(n) != std::string::npos; });
  CHECK_MESSAGE(named, exit.err);
}

}  // namespace e2e
