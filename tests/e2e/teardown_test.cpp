// Teardown reaches the whole tree: escapees, TERM-ignorers, stopped processes, big trees; and
// processes the command leaves behind are handled as --orphans says.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include "harness.h"

using namespace e2e;

namespace {

void expect_all_gone(const std::vector<pid_t>& pids) {
  for (pid_t pid : pids) CHECK_MESSAGE(gone(pid), "pid " << pid << " survived");
}

}  // namespace

TEST_CASE("a double-forked setsid daemon is torn down on the deadline") {
  NoSurvivors guard;
  Process p(Spec{.args = {"-t", "300ms", kHelper, "daemon", "3", "hang"}});
  auto pids = p.await_ready();
  REQUIRE(pids.size() == 1);
  auto exit = p.wait();
  CHECK_MESSAGE(exit.exited(124), exit.describe());
  CHECK(exit.err == "ctxrun: context deadline exceeded (timeout 300ms): 2 processes torn down\n");
  expect_all_gone(pids);
}

TEST_CASE("negative control: with --tree=pgroup the setsid daemon escapes") {
  NoSurvivors guard;
  Process p(Spec{.args = {"--tree=pgroup", "-t", "300ms", kHelper, "daemon", "3", "hang"}});
  auto pids = p.await_ready();
  auto exit = p.wait();
  CHECK_MESSAGE(exit.exited(124), exit.describe());
  REQUIRE(pids.size() == 1);
  CHECK_FALSE(gone(pids[0]));  // proves the daemon test above can fail
  CHECK(survivors().size() == 1);
  kill_survivors();
}

TEST_CASE("a process that ignores SIGTERM is killed after the grace period") {
  NoSurvivors guard;
  Process p(Spec{.args = {"-v", "-t", "200ms", "-k", "500ms", kHelper, "ignore-term", "3"}});
  auto pids = p.await_ready();
  auto exit = p.wait();
  CHECK_MESSAGE(exit.exited(124), exit.describe());
  CHECK(exit.took >= 700ms);
  CHECK(exit.err.find("grace period of 500ms over") != std::string::npos);
  CHECK(exit.err.find("SIGKILL to 1 process ") != std::string::npos);
  expect_all_gone(pids);
}

TEST_CASE("-k 0 never escalates: a TERM-ignorer is still running when the grace would end") {
  NoSurvivors guard;
  Process p(Spec{.args = {"-t", "100ms", "-k", "0", kHelper, "ignore-term", "3"}});
  auto pids = p.await_ready();
  CHECK(p.still_running_after(1500ms));
  // A second cancelling signal is the way out: immediate SIGKILL, and the first cause stands.
  p.signal(SIGINT);
  auto exit = p.wait();
  CHECK_MESSAGE(exit.exited(124), exit.describe());
  expect_all_gone(pids);
}

TEST_CASE("a stopped process is torn down (SIGCONT follows the signal)") {
  NoSurvivors guard;
  Process p(Spec{.args = {"-v", "-t", "200ms", "-k", "30s", kHelper, "stopped", "3"}});
  auto pids = p.await_ready();
  REQUIRE(pids.size() == 2);
  auto exit = p.wait();
  CHECK_MESSAGE(exit.exited(124), exit.describe());
  // TERM + CONT is enough: the grace period did not have to run out.
  CHECK(exit.took < 20s);
  CHECK(exit.err.find("grace period of 30s over") == std::string::npos);
  expect_all_gone(pids);
}

TEST_CASE("a 200-process tree is torn down completely") {
  NoSurvivors guard;
  Process p(Spec{.args = {"-t", "1s", kHelper, "tree", "199", "3"}});
  auto pids = p.await_ready(60s);
  REQUIRE(pids.size() == 200);
  auto exit = p.wait();
  CHECK_MESSAGE(exit.exited(124), exit.describe());
  CHECK(exit.err == "ctxrun: context deadline exceeded (timeout 1s): 200 processes torn down\n");
  expect_all_gone(pids);
}

TEST_CASE("a process that moves to a new session and forks again is torn down") {
  NoSurvivors guard;
  Process p(Spec{.args = {"-t", "300ms", kHelper, "new-session-fork", "3"}});
  auto pids = p.await_ready();
  REQUIRE(pids.size() == 3);
  auto exit = p.wait();
  CHECK_MESSAGE(exit.exited(124), exit.describe());
  expect_all_gone(pids);
}

TEST_CASE("--signal chooses the first signal") {
  NoSurvivors guard;
  Process p(Spec{.args = {"-s", "USR1", "-k", "200ms", "-t", "200ms", kHelper, "count-signal", "10", "3"}});
  p.await_ready();
  CHECK(p.next_line() == "signal 10");
  auto exit = p.wait();  // the helper survives USR1: killed after the grace
  CHECK_MESSAGE(exit.exited(124), exit.describe());
}

TEST_CASE("--orphans=kill (default): leftovers are torn down and the command's status wins") {
  NoSurvivors guard;
  Process p(Spec{.args = {"-t", "60s", kHelper, "leave-child", "3"}});
  auto pids = p.await_ready();
  auto exit = p.wait();
  CHECK_MESSAGE(exit.exited(0), exit.describe());
  CHECK(exit.err.empty());
  expect_all_gone(pids);
}

TEST_CASE("--orphans=kill also reaches leftovers that escaped with setsid") {
  NoSurvivors guard;
  Process p(Spec{.args = {kHelper, "daemon", "3", "exit"}});
  auto pids = p.await_ready();
  auto exit = p.wait();
  CHECK_MESSAGE(exit.exited(0), exit.describe());
  expect_all_gone(pids);
}

TEST_CASE("--orphans=wait: ctxrun waits for leftovers, then exits with the command's status") {
  NoSurvivors guard;
  int release[2];
  REQUIRE(pipe2(release, O_CLOEXEC) == 0);
  // Above the numbers the harness gives ctxrun (0-3), so that none overwrites it.
  int high = fcntl(release[0], F_DUPFD_CLOEXEC, 20);
  close(release[0]);
  release[0] = high;
  // The leftover reads the pipe (inherited under the same number) until we close the write end.
  Process p(
      Spec{.args = {"-v", "--orphans=wait", "-t", "60s", kHelper, "leave-until-eof", "3", std::to_string(release[0])},
           .pass_fds = {release[0]}});
  auto pids = p.await_ready();
  close(release[0]);
  REQUIRE_MESSAGE(p.await_stderr("waiting for the processes the command left behind"), p.stderr_so_far());
  CHECK(p.still_running_after(300ms));
  close(release[1]);  // EOF: the leftover exits on its own
  auto exit = p.wait();
  CHECK_MESSAGE(exit.exited(0), exit.describe());
  expect_all_gone(pids);
}

TEST_CASE("--orphans=wait is still bounded by the deadline") {
  NoSurvivors guard;
  Process p(Spec{.args = {"--orphans=wait", "-t", "500ms", kHelper, "leave-child", "3"}});
  auto pids = p.await_ready();
  auto exit = p.wait();
  CHECK_MESSAGE(exit.exited(124), exit.describe());
  CHECK(exit.err == "ctxrun: context deadline exceeded (timeout 500ms): 1 process torn down\n");
  expect_all_gone(pids);
}

TEST_CASE("--orphans=leave: ctxrun exits at once and the leftover keeps running") {
  NoSurvivors guard;
  Process p(Spec{.args = {"--orphans=leave", kHelper, "leave-child", "3"}});
  auto pids = p.await_ready();
  auto exit = p.wait();
  CHECK_MESSAGE(exit.exited(0), exit.describe());
  REQUIRE(pids.size() == 1);
  CHECK_FALSE(gone(pids[0]));
  kill_survivors();
}

TEST_CASE("a grandchild holding stdout does not keep the reader waiting after ctxrun exits") {
  NoSurvivors guard;
  Process p(Spec{.args = {kHelper, "hold-stdout", "3"}, .capture_stdout = true});
  auto pids = p.await_ready();
  auto exit = p.wait();
  CHECK_MESSAGE(exit.exited(0), exit.describe());
  CHECK(p.stdout_eof(10s));
  expect_all_gone(pids);
}

TEST_CASE("negative control: with --orphans=leave the reader of stdout keeps waiting") {
  NoSurvivors guard;
  Process p(Spec{.args = {"--orphans=leave", kHelper, "hold-stdout", "3"}, .capture_stdout = true});
  p.await_ready();
  auto exit = p.wait();
  CHECK_MESSAGE(exit.exited(0), exit.describe());
  CHECK_FALSE(p.stdout_eof(500ms));
  kill_survivors();
}

TEST_CASE("subreaper: children ctxrun had before it started are not the command's tree") {
  NoSurvivors guard;
  // The shell's background job becomes ctxrun's child through exec; ctxrun must leave it alone.
  std::string script = "'" + kHelper + "' hang 3 & exec '" + kCtxrun + "' --tree=subreaper -t 60s '" + kHelper +
                       "' exit 0";
  Process p(Spec{.args = {"-c", script}, .argv0 = "/bin/sh"});
  auto pids = p.await_ready();
  REQUIRE(pids.size() == 1);
  auto exit = p.wait();
  CHECK_MESSAGE(exit.exited(0), exit.describe());
  CHECK(exit.err.empty());
  CHECK_FALSE(gone(pids[0]));  // the background job was not torn down as a leftover
  kill_survivors();
}
