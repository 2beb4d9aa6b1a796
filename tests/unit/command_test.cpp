// run_command (include/ctxrun/command.h): the library's exec.CommandContext, with real children.
//
// The children are ctxrun_helper (CTXRUN_HELPER). Each reports on a pipe the test passes as a file
// descriptor number, so tests synchronise on "ready" lines and never on a sleep. Runs that must end
// by a deadline use a deadline far longer than the helper needs to get ready, and check that it was.
//
// run_command takes over signals for the process while it runs: every thread a test starts is made
// with those signals blocked (quiet_thread), as command.h asks of callers.
#include "ctxrun/command.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "ctxrun/unique_fd.h"

#ifndef CTXRUN_HELPER
#error "CTXRUN_HELPER must name the helper program (tests/CMakeLists.txt)"
#endif

using namespace std::chrono_literals;
using ctxrun::background;
using ctxrun::Command;
using ctxrun::ContextPtr;
using ctxrun::Ending;
using ctxrun::Outcome;
using ctxrun::run_command;
using ctxrun::unique_fd;
using ctxrun::with_cancel;
using ctxrun::with_timeout;

namespace doctest {
template <>
struct StringMaker<Ending> {
  static String convert(Ending e) { return ctxrun::ending_name(e); }
};
}  // namespace doctest

namespace {

const std::string kHelper = CTXRUN_HELPER;

// A pipe whose write end the command inherits (not close-on-exec), to report on; the read end is
// close-on-exec. After the run the test closes its write end, so reading ends at EOF once every
// process of the tree is gone.
struct ReportPipe {
  unique_fd read;
  unique_fd write;
  ReportPipe() {
    int fds[2];
    REQUIRE(pipe2(fds, O_CLOEXEC) == 0);
    read.reset(fds[0]);
    unique_fd cloexec_write(fds[1]);
    write.reset(dup(cloexec_write.get()));  // dup() leaves close-on-exec off: the one inherited copy
    REQUIRE(write);
  }
  std::string fd_arg() const { return std::to_string(write.get()); }

  // Reads one line; "" at EOF.
  std::string line() {
    std::string out;
    char c;
    while (true) {
      ssize_t n = ::read(read.get(), &c, 1);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0 || c == '\n') return out;
      out += c;
    }
  }
  // Reads lines until "ready" (returns true) or EOF (false), collecting "pid N" lines.
  bool await_ready(std::vector<pid_t>* pids = nullptr) {
    for (std::string l = line(); !l.empty(); l = line()) {
      if (l == "ready") return true;
      if (pids && l.rfind("pid ", 0) == 0) pids->push_back(static_cast<pid_t>(std::atoi(l.c_str() + 4)));
    }
    return false;
  }
  // Everything left, once the test's own write end is closed.
  std::string rest() {
    write.reset();
    std::string out;
    for (std::string l = line(); !l.empty(); l = line()) out += l + "\n";
    return out;
  }
};

// A thread that cannot take the signals run_command reads: started with them blocked, as
// command.h asks of a caller's other threads.
template <typename F>
std::thread quiet_thread(F f) {
  sigset_t old;
  pthread_sigmask(SIG_SETMASK, nullptr, &old);
  REQUIRE(ctxrun::block_command_signals() == 0);
  std::thread t(std::move(f));
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return t;
}

bool alive(pid_t pid) { return ::kill(pid, 0) == 0; }

std::vector<std::string> helper(std::vector<std::string> args) {
  args.insert(args.begin(), kHelper);
  return args;
}

}  // namespace

TEST_CASE("lib: run_command: a command that ends in time gives its status, and the context is untouched") {
  ContextPtr ctx = with_timeout(background(), 1h, "timeout 1h");
  Outcome out = run_command(ctx, {.argv = helper({"exit", "7"})});
  CHECK(out.ending == Ending::exited);
  CHECK(out.command_started);
  REQUIRE(out.command_reaped);
  CHECK(WIFEXITED(out.command_status));
  CHECK(WEXITSTATUS(out.command_status) == 7);
  CHECK(ctxrun::exit_status(out) == 7);
  CHECK(out.processes_torn_down == 0);
  CHECK(out.teardown.empty());
  CHECK(out.cause == "");
  CHECK_FALSE(ctx->err());

  Outcome killed = run_command(ctx, {.argv = helper({"kill-self", std::to_string(SIGABRT)})});
  CHECK(killed.ending == Ending::signaled);
  CHECK(WIFSIGNALED(killed.command_status));
  CHECK(WTERMSIG(killed.command_status) == SIGABRT);
  CHECK(ctxrun::exit_status(killed) == 128 + SIGABRT);

  // The same context serves any number of runs while it is not done.
  Outcome again = run_command(ctx, {.argv = helper({"exit", "0"})});
  CHECK(again.ending == Ending::exited);
  CHECK(ctxrun::exit_status(again) == 0);
}

TEST_CASE("lib: run_command: the context's deadline tears down the whole tree") {
  ReportPipe report;
  auto start = std::chrono::steady_clock::now();
  ContextPtr ctx = with_timeout(background(), 2s, "timeout 2s");
  // The helper and 3 processes below it; 2 s is far more than building them takes.
  Outcome out = run_command(ctx, {.argv = helper({"tree", "3", report.fd_arg()})});
  auto elapsed = std::chrono::steady_clock::now() - start;
  std::vector<pid_t> pids;
  REQUIRE_MESSAGE(report.await_ready(&pids), "the tree was not in place before the deadline");
  CHECK(report.rest() == "");
  CHECK(out.ending == Ending::deadline_exceeded);
  CHECK(out.cause == "timeout 2s");
  CHECK(out.cancel_signal == 0);
  CHECK(elapsed >= 2s);
  CHECK(out.processes_torn_down == 4);
  REQUIRE_FALSE(out.teardown.empty());
  CHECK(out.teardown.front().signal == SIGTERM);
  CHECK(out.survivors.empty());
  CHECK(ctxrun::exit_status(out) == 124);
  CHECK(ctx->err() == ctxrun::context_errc::deadline_exceeded);
  REQUIRE(pids.size() == 4);
  for (pid_t pid : pids) {
    CAPTURE(pid);
    CHECK_FALSE(alive(pid));  // gone and reaped: not even a zombie (kill(2) reaches zombies)
  }
}

TEST_CASE("lib: run_command: the stop policy is data: first signal and grace as given") {
  SUBCASE("another first signal") {
    ReportPipe report;
    ContextPtr ctx = with_timeout(background(), 1s, "timeout 1s");
    Outcome out = run_command(ctx, {.argv = helper({"hang", report.fd_arg()}), .stop = {.signal = SIGINT}});
    REQUIRE(report.await_ready());
    CHECK(out.ending == Ending::deadline_exceeded);
    REQUIRE(out.teardown.size() == 1);
    CHECK(out.teardown[0].signal == SIGINT);
    REQUIRE(out.command_reaped);
    CHECK(WIFSIGNALED(out.command_status));
    CHECK(WTERMSIG(out.command_status) == SIGINT);
  }
  SUBCASE("SIGKILL after the grace period, for a process that ignores the first signal") {
    ReportPipe report;
    ContextPtr ctx = with_timeout(background(), 1s, "timeout 1s");
    Outcome out = run_command(ctx, {.argv = helper({"ignore-term", report.fd_arg()}), .stop = {.grace = 200ms}});
    REQUIRE(report.await_ready());
    CHECK(out.ending == Ending::deadline_exceeded);
    REQUIRE(out.teardown.size() == 2);
    CHECK(out.teardown[0].signal == SIGTERM);
    CHECK(out.teardown[1].signal == SIGKILL);
    REQUIRE(out.command_reaped);
    CHECK(WIFSIGNALED(out.command_status));
    CHECK(WTERMSIG(out.command_status) == SIGKILL);
  }
}

TEST_CASE("lib: run_command: a parent context cancelled from another thread ends the run as canceled") {
  ReportPipe report;
  ContextPtr parent = with_cancel(background());
  ContextPtr ctx = with_timeout(parent, 1h, "timeout 1h");
  std::thread canceller = quiet_thread([&] {
    if (report.await_ready()) parent->cancel("stopped by the test");
  });
  Outcome out = run_command(ctx, {.argv = helper({"hang", report.fd_arg()}), .stop = {.grace = 3s}});
  std::string rest = report.rest();  // EOF: ends the canceller's wait if the helper never got ready
  canceller.join();
  CHECK(out.ending == Ending::canceled);
  CHECK(out.cause == "stopped by the test");
  CHECK(out.cancel_signal == 0);
  CHECK(out.command_started);
  CHECK(out.processes_torn_down == 1);
  CHECK(out.survivors.empty());
  CHECK(ctx->err() == ctxrun::context_errc::canceled);
  CHECK(ctx->cause() == "stopped by the test");
}

TEST_CASE("lib: run_command: a context's cancel stops the tree with the stop policy's signal, at once") {
  ReportPipe report;
  ContextPtr ctx = with_cancel(background());
  std::thread canceller = quiet_thread([&] {
    if (report.await_ready()) ctx->cancel("stopped by the test");
  });
  auto start = std::chrono::steady_clock::now();
  // `hang` dies of SIGTERM: a teardown that sends it needs no SIGKILL and no grace period.
  Outcome out = run_command(ctx, {.argv = helper({"hang", report.fd_arg()}), .stop = {.grace = 3s}});
  auto elapsed = std::chrono::steady_clock::now() - start;
  report.rest();
  canceller.join();
  CHECK(out.ending == Ending::canceled);
  REQUIRE_FALSE(out.teardown.empty());
  CHECK(out.teardown.front().signal == SIGTERM);
  CHECK(out.teardown.size() == 1);
  CHECK(elapsed < 3s);
  REQUIRE(out.command_reaped);
  CHECK(WIFSIGNALED(out.command_status));
  CHECK(WTERMSIG(out.command_status) == SIGTERM);
  CHECK(ctxrun::exit_status(out) == 128 + SIGTERM);
}

TEST_CASE("lib: run_command never cancels the caller's context: a signal to the process cancels the run only") {
  ReportPipe report;
  ContextPtr ctx = with_cancel(background());
  std::thread sender = quiet_thread([&] {
    if (report.await_ready()) ::kill(getpid(), SIGTERM);
  });
  Outcome out = run_command(ctx, {.argv = helper({"hang", report.fd_arg()})});
  report.rest();
  sender.join();
  // The SIGTERM was the run's: it ended the run, and did not reach this process's default action
  // (this test would not be here to check otherwise).
  CHECK(out.ending == Ending::canceled);
  CHECK(out.cancel_signal == SIGTERM);
  CHECK(out.cause == "SIGTERM");
  CHECK(out.processes_torn_down == 1);
  CHECK(ctxrun::exit_status(out) == 128 + SIGTERM);
  CHECK_FALSE(ctx->err());
  CHECK(ctx->cause() == "");
}

TEST_CASE("lib: run_command: a context that is done already starts nothing") {
  ContextPtr canceled = with_cancel(background());
  canceled->cancel("before the start");
  Outcome out = run_command(canceled, {.argv = helper({"exit", "0"})});
  CHECK(out.ending == Ending::canceled);
  CHECK(out.cause == "before the start");
  CHECK_FALSE(out.command_started);
  CHECK_FALSE(out.command_reaped);
  CHECK(ctxrun::exit_status(out) == 125);

  Outcome late = run_command(with_timeout(background(), 0s, "timeout 0s"), {.argv = helper({"exit", "0"})});
  CHECK(late.ending == Ending::deadline_exceeded);
  CHECK(late.cause == "timeout 0s");
  CHECK_FALSE(late.command_started);
  CHECK(ctxrun::exit_status(late) == 124);
}

TEST_CASE("lib: run_command: errors are outcomes, never exceptions") {
  auto is_error = [](const Outcome& out, const std::string& says) {
    CAPTURE(out.error);
    CHECK(out.ending == Ending::error);
    CHECK(out.error.find(says) != std::string::npos);
    CHECK_FALSE(out.command_started);
  };
  is_error(run_command(background(), {}), "empty argv");
  is_error(run_command(nullptr, {.argv = {"true"}}), "no context");
  is_error(run_command(background(), {.argv = {"true"}, .stop = {.signal = 0}}), "invalid stop signal 0");
  is_error(run_command(background(), {.argv = {"true"}, .stop = {.signal = NSIG}}), "invalid stop signal");

  Outcome missing = run_command(background(), {.argv = {"/nonexistent/ctxrun-no-such-command"}});
  is_error(missing, "failed to run command");
  CHECK(missing.spawn_exit == 127);
  CHECK(ctxrun::exit_status(missing) == 127);

  Outcome not_executable = run_command(background(), {.argv = {"/dev/null"}});
  is_error(not_executable, "failed to run command");
  CHECK(not_executable.spawn_exit == 126);
  CHECK(ctxrun::exit_status(not_executable) == 126);
}

TEST_CASE("lib: run_command: one run at a time; a second call meanwhile returns an error at once") {
  ReportPipe report;
  ContextPtr ctx = with_cancel(background());
  Outcome second;
  std::thread other = quiet_thread([&] {
    if (!report.await_ready()) return;
    second = run_command(background(), {.argv = helper({"exit", "0"})});
    ctx->cancel("the second call returned");
  });
  Outcome first = run_command(ctx, {.argv = helper({"hang", report.fd_arg()}), .stop = {.grace = 3s}});
  report.rest();
  other.join();
  CHECK(second.ending == Ending::error);
  CHECK(second.error.find("another run_command is running") != std::string::npos);
  CHECK_FALSE(second.command_started);
  CHECK(first.ending == Ending::canceled);
  CHECK(first.cause == "the second call returned");
  // Once it is over, the next call runs.
  CHECK(run_command(background(), {.argv = helper({"exit", "3"})}).ending == Ending::exited);
}

TEST_CASE("lib: run_command: orphans are torn down, or left running, as the command says") {
  SUBCASE("OrphanPolicy::kill") {
    ReportPipe report;
    Outcome out = run_command(background(), {.argv = helper({"leave-child", report.fd_arg()})});
    std::vector<pid_t> pids;
    REQUIRE(report.await_ready(&pids));
    CHECK(out.ending == Ending::exited);
    CHECK(ctxrun::exit_status(out) == 0);
    CHECK(out.processes_torn_down == 1);
    for (pid_t pid : pids) CHECK_FALSE(alive(pid));
  }
  SUBCASE("OrphanPolicy::leave") {
    ReportPipe report;
    Outcome out = run_command(background(), {.argv = helper({"leave-child", report.fd_arg()}),
                                             .orphans = ctxrun::OrphanPolicy::leave});
    std::vector<pid_t> pids;
    REQUIRE(report.await_ready(&pids));
    CHECK(out.ending == Ending::exited);
    CHECK(out.processes_torn_down == 0);
    // Left running, and this process's child (it was a subreaper when the orphan was made): the
    // caller reaps it, as command.h says.
    REQUIRE(pids.size() == 1);
    for (pid_t pid : pids) {
      CAPTURE(pid);
      CHECK(alive(pid));
      ::kill(pid, SIGKILL);
      int status = 0;
      CHECK(waitpid(pid, &status, 0) == pid);
    }
  }
}

TEST_CASE("lib: run_command leaves the signal mask, the dispositions and the subreaper flag as it found them") {
  struct sigaction custom {};
  custom.sa_handler = [](int) {};
  struct sigaction old_usr1 = {}, old_chld = {}, old_hup = {};
  REQUIRE(sigaction(SIGUSR1, &custom, &old_usr1) == 0);
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  REQUIRE(sigaction(SIGHUP, &ignore, &old_hup) == 0);
  sigaction(SIGCHLD, nullptr, &old_chld);
  // Whatever the others are now (doctest has handlers of its own for some): the same afterwards.
  std::vector<struct sigaction> then(std::size(ctxrun::kCommandSignals));
  for (std::size_t i = 0; i < then.size(); ++i) sigaction(ctxrun::kCommandSignals[i], nullptr, &then[i]);
  sigset_t extra, before;
  sigemptyset(&extra);
  sigaddset(&extra, SIGWINCH);
  sigaddset(&extra, SIGINT);
  REQUIRE(pthread_sigmask(SIG_BLOCK, &extra, &before) == 0);
  sigset_t mask_then;
  pthread_sigmask(SIG_SETMASK, nullptr, &mask_then);
  int subreaper_then = -1;
  prctl(PR_GET_CHILD_SUBREAPER, &subreaper_then);

  Outcome out = run_command(background(), {.argv = helper({"exit", "0"})});
  CHECK(out.ending == Ending::exited);

  sigset_t mask_now;
  pthread_sigmask(SIG_SETMASK, nullptr, &mask_now);
  for (int sig = 1; sig < NSIG; ++sig) {
    CAPTURE(sig);
    CHECK(sigismember(&mask_now, sig) == sigismember(&mask_then, sig));
  }
  struct sigaction now {};
  sigaction(SIGUSR1, nullptr, &now);
  CHECK((now.sa_handler == custom.sa_handler));
  sigaction(SIGHUP, nullptr, &now);
  CHECK((now.sa_handler == SIG_IGN));
  for (std::size_t i = 0; i < then.size(); ++i) {
    int sig = ctxrun::kCommandSignals[i];
    CAPTURE(sig);
    sigaction(sig, nullptr, &now);
    CHECK((now.sa_handler == then[i].sa_handler));
    // Without SA_RESTORER, which glibc adds to every action it sets (the kernel reports it back).
    constexpr int kRestorer = 0x04000000;
    CHECK((now.sa_flags & ~kRestorer) == (then[i].sa_flags & ~kRestorer));
  }
  int subreaper_now = -1;
  prctl(PR_GET_CHILD_SUBREAPER, &subreaper_now);
  CHECK(subreaper_now == subreaper_then);

  pthread_sigmask(SIG_SETMASK, &before, nullptr);
  sigaction(SIGUSR1, &old_usr1, nullptr);
  sigaction(SIGHUP, &old_hup, nullptr);
  sigaction(SIGCHLD, &old_chld, nullptr);
}

TEST_CASE("lib: run_command: the command gets the caller's mask without the signals run_command takes") {
  // A caller that blocked them for its threads (block_command_signals), and SIGWINCH for itself.
  sigset_t before;
  pthread_sigmask(SIG_SETMASK, nullptr, &before);
  REQUIRE(ctxrun::block_command_signals() == 0);
  sigset_t winch;
  sigemptyset(&winch);
  sigaddset(&winch, SIGWINCH);
  pthread_sigmask(SIG_BLOCK, &winch, nullptr);

  char path[] = "/tmp/ctxrun-command-test-XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  close(fd);
  Outcome out = run_command(background(), {.argv = helper({"state", path})});
  std::ifstream in(path);
  std::string blocked_line;
  std::getline(in, blocked_line);
  std::remove(path);
  pthread_sigmask(SIG_SETMASK, &before, nullptr);

  REQUIRE(out.ending == Ending::exited);
  CHECK(ctxrun::exit_status(out) == 0);
  REQUIRE(blocked_line.rfind("blocked:", 0) == 0);
  std::istringstream numbers(blocked_line.substr(8));
  std::vector<int> blocked;
  for (int sig; numbers >> sig;) blocked.push_back(sig);
  CAPTURE(blocked_line);
  CHECK(std::find(blocked.begin(), blocked.end(), SIGWINCH) != blocked.end());
  for (int sig : ctxrun::kCommandSignals) {
    CAPTURE(sig);
    CHECK(std::find(blocked.begin(), blocked.end(), sig) == blocked.end());
  }
}
