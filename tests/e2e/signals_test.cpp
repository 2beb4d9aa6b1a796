// Signals that reach ctxrun: cancelling ones end the context as Canceled and are re-raised after
// teardown; USR1/USR2 are passed on; the command starts with the caller's mask, ignored signals
// and descriptors.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "ctxrun/signals.h"
#include "harness.h"

using namespace e2e;

TEST_CASE("SIGINT, SIGTERM, SIGHUP, SIGQUIT cancel: teardown, then ctxrun dies of the signal") {
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) {
    NoSurvivors guard;
    Process p(Spec{.args = {"-t", "60s", kHelper, "tree", "3", "3"}});
    auto pids = p.await_ready();
    REQUIRE(pids.size() == 4);
    p.signal(sig);
    auto exit = p.wait();
    CHECK_MESSAGE(exit.killed_by(sig), "signal " << sig << ": " << exit.describe());
    CHECK_FALSE(WCOREDUMP(exit.status));
    CHECK(exit.err == "ctxrun: context canceled (" + ctxrun::signal_name(sig) + "): 4 processes torn down\n");
    for (pid_t pid : pids) CHECK(gone(pid));
  }
}

TEST_CASE("the cancelling signal is the one the tree gets first") {
  NoSurvivors guard;
  Process p(Spec{.args = {"-k", "200ms", kHelper, "count-signal", "2", "3"}});
  p.await_ready();
  p.signal(SIGINT);
  CHECK(p.next_line() == "signal 2");
  auto exit = p.wait();
  CHECK_MESSAGE(exit.killed_by(SIGINT), exit.describe());
  CHECK(p.next_line(500ms).empty());  // once, not twice
}

TEST_CASE("a second cancelling signal during the grace period skips the rest of it") {
  NoSurvivors guard;
  Process p(Spec{.args = {"-v", "-k", "60s", kHelper, "ignore-term", "3"}});
  auto pids = p.await_ready();
  p.signal(SIGTERM);
  REQUIRE(p.await_stderr("SIGTERM and SIGCONT to 1 process "));
  p.signal(SIGINT);
  auto exit = p.wait(30s);
  CHECK_MESSAGE(exit.killed_by(SIGTERM), exit.describe());  // the first cause stands
  CHECK(exit.took < 30s);
  CHECK(exit.err.find("skipping the rest of the grace period") != std::string::npos);
  CHECK(gone(pids.at(0)));
}

TEST_CASE("SIGUSR1 and SIGUSR2 are passed on to the command") {
  NoSurvivors guard;
  for (int sig : {SIGUSR1, SIGUSR2}) {
    Process p(Spec{.args = {"-k", "100ms", "-t", "60s", kHelper, "count-signal", std::to_string(sig), "3"}});
    p.await_ready();
    p.signal(sig);
    CHECK(p.next_line() == "signal " + std::to_string(sig));
    p.signal(SIGTERM);
    auto exit = p.wait();
    CHECK_MESSAGE(exit.killed_by(SIGTERM), exit.describe());
  }
}

TEST_CASE("a calling script stops when ctxrun is cancelled by SIGINT (wait-and-cooperative-exit)") {
  NoSurvivors guard;
  // The script leads its own process group, as a job does; SIGINT goes to the whole group, as the
  // terminal's Ctrl-C would.
  std::string script = "'" + kCtxrun + "' -t 60s '" + kHelper + "' hang 3; echo after";
  Process p(Spec{.args = {"-c", script}, .argv0 = "/bin/bash", .capture_stdout = true, .new_session = true});
  p.await_ready();
  REQUIRE(::kill(-p.pid(), SIGINT) == 0);
  auto exit = p.wait();
  CHECK_MESSAGE(exit.killed_by(SIGINT), exit.describe());
  CHECK(p.stdout_eof(5s));
}

TEST_CASE("the command starts with the caller's signal mask, ignored signals and descriptors") {
  NoSurvivors guard;
  std::string file = temp_dir() + "/state";
  // The harness makes `extra` inheritable in ctxrun's process only, as a caller passing it on would.
  int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  int extra = fcntl(null_fd, F_DUPFD_CLOEXEC, 10);
  close(null_fd);
  REQUIRE(extra >= 10);
  auto exit = run(Spec{.args = {"-t", "60s", kHelper, "state", file},
                       .block = {SIGUSR2, SIGWINCH},
                       .ignore = {SIGHUP, SIGPIPE},
                       .pass_fds = {extra}});
  close(extra);
  CHECK_MESSAGE(exit.exited(0), exit.describe());
  std::ifstream in(file);
  std::stringstream state;
  state << in.rdbuf();
  std::ostringstream expected;
  expected << "blocked: " << SIGUSR2 << " " << SIGWINCH << "\nignored: " << SIGHUP << " " << SIGPIPE
           << "\nfds: 0 1 2 3 " << extra << "\n";
  // /proc/self/fd lists in directory order; sort by comparing the sets.
  std::string got = state.str();
  CHECK(got.substr(0, got.find("fds:")) == expected.str().substr(0, expected.str().find("fds:")));
  std::istringstream fds(got.substr(got.find("fds:") + 4));
  std::vector<int> numbers;
  for (int n; fds >> n;) numbers.push_back(n);
  std::sort(numbers.begin(), numbers.end());
  CHECK(numbers == std::vector<int>{0, 1, 2, 3, extra});
}

TEST_CASE("a cancel or forward signal ignored at start stays ignored (nohup)") {
  NoSurvivors guard;
  Process p(Spec{.args = {"-t", "60s", kHelper, "hang", "3"}, .ignore = {SIGHUP}});
  auto pids = p.await_ready();
  p.signal(SIGHUP);
  CHECK(p.still_running_after(300ms));
  p.signal(SIGTERM);
  auto exit = p.wait();
  CHECK_MESSAGE(exit.killed_by(SIGTERM), exit.describe());
}
