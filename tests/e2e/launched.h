// A process started with the descriptors a test chooses (what a shell does for `ctxrun ... | reader`,
// `ctxrun ... >file 2>&1` or `ctxrun ... <input`), which the harness's Spec cannot express; and the
// small pieces of waiting on descriptors that go with it.
#pragma once

#include <doctest/doctest.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <string>
#include <vector>

#include "harness.h"

extern char** environ;

namespace e2e {

// Whether `fd` becomes readable before `until`.
inline bool readable(int fd, std::chrono::steady_clock::time_point until) {
  pollfd p{fd, POLLIN, 0};
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now()).count();
    int n = ::poll(&p, 1, left < 0 ? 0 : static_cast<int>(left));
    if (n < 0 && errno == EINTR) continue;
    return n > 0;
  }
}

// Everything left in `fd` (the writers are gone), without waiting.
inline std::string drain(int fd) {
  fcntl(fd, F_SETFL, O_NONBLOCK);
  std::string text;
  char buf[4096];
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) text.append(buf, static_cast<std::size_t>(n));
  return text;
}

// A process started with the descriptors a test chooses: what a shell does for `ctxrun ... | reader`
// or `ctxrun ... >file 2>&1`, which the harness's Spec cannot express.
class Launched {
 public:
  // `argv[0]` is the program's path. `in`, `out`, `err`, `fd3`: the descriptors to give it as 0, 1,
  // 2 and 3; -1 leaves the test's own (fd 3: none). SIGPIPE at its default, nothing blocked, as a
  // shell starts a pipeline's commands.
  Launched(std::vector<std::string> argv, int in, int out, int err, int fd3 = -1, std::vector<std::string> env = {}) {
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    std::vector<std::string> env_strings;
    for (char** e = environ; *e; ++e) env_strings.emplace_back(*e);
    env_strings.insert(env_strings.end(), env.begin(), env.end());
    std::vector<char*> envp;
    for (auto& e : env_strings) envp.push_back(e.data());
    envp.push_back(nullptr);
    started_ = std::chrono::steady_clock::now();
    pid_ = fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      // Out of the way of 0-3 first, so that no dup2 overwrites a source still to be copied.
      int from[4] = {in, out, err, fd3};
      for (int& fd : from)
        if (fd >= 0) fd = fcntl(fd, F_DUPFD, 10);
      for (int i = 0; i < 4; ++i)
        if (from[i] >= 0) dup2(from[i], i);
      syscall(SYS_close_range, fd3 >= 0 ? 4u : 3u, ~0u, CLOSE_RANGE_CLOEXEC);
      signal(SIGPIPE, SIG_DFL);
      sigset_t none;
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, nullptr);
      execve(args[0], args.data(), envp.data());
      _exit(111);
    }
    pidfd_.reset(static_cast<int>(syscall(SYS_pidfd_open, pid_, 0)));
    REQUIRE(pidfd_);
  }
  Launched(const Launched&) = delete;
  ~Launched() {
    if (!reaped_) {
      ::kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

  // Waits for it to end; SIGKILLs it and fails the test after `limit`.
  Exit wait(std::chrono::milliseconds limit) {
    Exit result;
    if (!readable(pidfd_.get(), std::chrono::steady_clock::now() + limit)) {
      ::kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      reaped_ = true;
      FAIL("did not end within " << limit.count() << "ms");
    }
    result.took = std::chrono::steady_clock::now() - started_;
    REQUIRE(waitpid(pid_, &result.status, 0) == pid_);
    reaped_ = true;
    return result;
  }

 private:
  pid_t pid_ = 0;
  ctxrun::unique_fd pidfd_;
  std::chrono::steady_clock::time_point started_;
  bool reaped_ = false;
};

}  // namespace e2e
