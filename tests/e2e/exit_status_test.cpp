// The exit-status contract (DESIGN.md §4) from the outside.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <fstream>

#include "harness.h"

using namespace e2e;

TEST_CASE("the command's exit status passes through, 0 to 255") {
  NoSurvivors guard;
  for (int code = 0; code <= 255; ++code) {
    auto exit = run({"-t", "60s", kHelper, "exit", std::to_string(code)});
    REQUIRE_MESSAGE(exit.exited(code), "code " << code << ": " << exit.describe());
    REQUIRE(exit.err.empty());
  }
}

TEST_CASE("a command that dies of a signal on its own: ctxrun dies of the same signal, no core") {
  NoSurvivors guard;
  for (int sig : {SIGSEGV, SIGABRT, SIGKILL, SIGTERM, SIGUSR1}) {
    auto exit = run({"-t", "60s", kHelper, "kill-self", std::to_string(sig)});
    CHECK_MESSAGE(exit.killed_by(sig), "signal " << sig << ": " << exit.describe());
    CHECK_FALSE(WCOREDUMP(exit.status));
    CHECK(exit.err.empty());
  }
}

TEST_CASE("the deadline passes: 124 and one line saying why") {
  NoSurvivors guard;
  // 1 s: the helper must be ready before the deadline, also when instrumented (ASan) on a loaded machine.
  Process p(Spec{.args = {"-t", "1s", kHelper, "hang", "3"}});
  auto pids = p.await_ready();
  auto exit = p.wait();
  CHECK_MESSAGE(exit.exited(124), exit.describe());
  CHECK(exit.err == "ctxrun: context deadline exceeded (timeout 1s): 1 process torn down\n");
  CHECK(exit.took >= 1s);
  CHECK(gone(pids.at(0)));
}

TEST_CASE("-q silences the line; the status stays 124") {
  NoSurvivors guard;
  auto exit = run({"-q", "-t", "100ms", kHelper, "hang", "3"});
  CHECK_MESSAGE(exit.exited(124), exit.describe());
  CHECK(exit.err.empty());
}

TEST_CASE("a deadline already past: the command is not run, 124") {
  NoSurvivors guard;
  Process p(Spec{.args = {"-d", "2020-01-01T00:00:00Z", kHelper, "hang", "3"}});
  auto exit = p.wait();
  CHECK_MESSAGE(exit.exited(124), exit.describe());
  CHECK(exit.err ==
        "ctxrun: context deadline exceeded (deadline 2020-01-01T00:00:00Z had already passed): command not run\n");
  CHECK(p.next_line(1s).empty());  // the helper never reported: it never ran
}

TEST_CASE("the earliest of --timeout and --deadline wins") {
  NoSurvivors guard;
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  auto far = std::to_string(now.tv_sec + 3600);
  char near[32];
  std::snprintf(near, sizeof near, "%lld.500", static_cast<long long>(now.tv_sec + 2));  // 1.5-2.5 s ahead
  auto by_timeout = run({"-t", "200ms", "-d", "@" + far, kHelper, "hang", "3"});
  CHECK_MESSAGE(by_timeout.exited(124), by_timeout.describe());
  CHECK(by_timeout.err == "ctxrun: context deadline exceeded (timeout 200ms): 1 process torn down\n");
  auto by_deadline = run({"-t", "1h", "-d", "@" + std::string(near), kHelper, "hang", "3"});
  CHECK_MESSAGE(by_deadline.exited(124), by_deadline.describe());
  CHECK(by_deadline.err ==
        "ctxrun: context deadline exceeded (deadline @" + std::string(near) + "): 1 process torn down\n");
}

TEST_CASE("--preserve-status: on a deadline, the command's own status") {
  NoSurvivors guard;
  auto exit = run({"--preserve-status", "-t", "100ms", kHelper, "hang", "3"});
  CHECK_MESSAGE(exit.exited(128 + SIGTERM), exit.describe());
}

TEST_CASE("not found is 127, found but not executable is 126") {
  NoSurvivors guard;
  auto missing = run({"/nonexistent/command"});
  CHECK_MESSAGE(missing.exited(127), missing.describe());
  CHECK(missing.err == "ctxrun: failed to run command '/nonexistent/command': No such file or directory\n");
  auto not_in_path = run({"ctxrun-no-such-command"});
  CHECK_MESSAGE(not_in_path.exited(127), not_in_path.describe());

  std::string file = temp_dir() + "/not-executable";
  std::ofstream(file) << "#!/bin/sh\nexit 0\n";
  chmod(file.c_str(), 0644);
  auto denied = run({file});
  CHECK_MESSAGE(denied.exited(126), denied.describe());
  CHECK(denied.err == "ctxrun: failed to run command '" + file + "': Permission denied\n");
  auto directory = run({"/"});
  CHECK_MESSAGE(directory.exited(126), directory.describe());
}

TEST_CASE("a script without #! is run by /bin/sh, as execvp does") {
  NoSurvivors guard;
  std::string file = temp_dir() + "/no-shebang";
  std::ofstream(file) << "exit 42\n";
  chmod(file.c_str(), 0755);
  auto exit = run({file});
  CHECK_MESSAGE(exit.exited(42), exit.describe());
}
