// The hard cases of teardown, on every tree backend this machine has (DESIGN.md §2): escapees,
// TERM-ignorers, stopped processes, sessions within sessions, fork storms, big trees. After each:
// nothing of the tree in /proc (the report pipe every process holds reaches EOF, and the test
// process, a subreaper, has no descendant left), and no cgroup leaf left behind.
#include <doctest/doctest.h>

#include "backends.h"
#include "harness.h"

using namespace e2e;

namespace {

// Runs ctxrun with `args` on `backend` until the helper is ready, then ends the context by
// `cancel` (0: wait for the deadline in `args`). Checks that the whole tree is gone.
Exit torn_down(const std::string& backend, std::vector<std::string> args, int cancel = 0) {
  INFO("backend " << backend);
  args.insert(args.begin(), "--tree=" + backend);
  Process p(Spec{.args = args});
  auto pids = p.await_ready(60s);
  if (cancel) p.signal(cancel);
  auto exit = p.wait(120s);
  CHECK_MESSAGE(p.report_eof(10s), "a process of the tree still holds the report pipe");
  for (pid_t pid : pids) CHECK_MESSAGE(gone(pid), "pid " << pid << " survived");
  CHECK_FALSE(cgroup_leaf_left(p.pid()));
  return exit;
}

}  // namespace

TEST_CASE("every backend: a setsid double-forked daemon is torn down") {
  for (const auto& backend : backends()) {
    if (backend == "pgroup") continue;  // cannot by design: the negative control in teardown_test
    NoSurvivors guard;
    auto exit = torn_down(backend, {"-t", "300ms", kHelper, "daemon", "3", "hang"});
    CHECK_MESSAGE(exit.exited(124), backend << ": " << exit.describe());
  }
}

TEST_CASE("every backend: a process that ignores SIGTERM is killed after the grace") {
  for (const auto& backend : backends()) {
    NoSurvivors guard;
    auto exit = torn_down(backend, {"-t", "200ms", "-k", "300ms", kHelper, "ignore-term", "3"});
    CHECK_MESSAGE(exit.exited(124), backend << ": " << exit.describe());
    CHECK(exit.took >= 500ms);
  }
}

TEST_CASE("every backend: a stopped process is torn down") {
  for (const auto& backend : backends()) {
    NoSurvivors guard;
    auto exit = torn_down(backend, {"-t", "200ms", "-k", "30s", kHelper, "stopped", "3"});
    CHECK_MESSAGE(exit.exited(124), backend << ": " << exit.describe());
    CHECK(exit.took < 20s);  // SIGCONT made SIGTERM work: no need to wait out the grace
  }
}

TEST_CASE("every backend: a process whose main thread exited (a zombie in /proc) is torn down with its child") {
  // Its other thread still runs, and forked the child: both get the first signal, no need to wait
  // out the grace.
  for (const auto& backend : backends()) {
    NoSurvivors guard;
    auto exit = torn_down(backend, {"-t", "300ms", "-k", "30s", kHelper, "exited-leader", "3"});
    CHECK_MESSAGE(exit.exited(124), backend << ": " << exit.describe());
    CHECK_MESSAGE(exit.took < 20s, backend << ": " << exit.describe());
  }
}

TEST_CASE("every backend: a process that moves to a new session and forks again is torn down") {
  for (const auto& backend : backends()) {
    if (backend == "pgroup") continue;  // a new session is a new process group: out of its reach
    NoSurvivors guard;
    auto exit = torn_down(backend, {"-t", "300ms", kHelper, "new-session-fork", "3"});
    CHECK_MESSAGE(exit.exited(124), backend << ": " << exit.describe());
  }
}

TEST_CASE("every backend: a fork storm that ignores SIGTERM does not outrun teardown") {
  for (const auto& backend : backends()) {
    NoSurvivors guard;
    // At most 300 processes at once, 3000 ever: churning (each forks two and exits) while the
    // context ends. It ends by a SIGTERM sent once the storm has begun: a deadline of 100 ms could
    // pass before the helper started at all on a loaded machine (seen under ASan, beside the
    // 1000-process tests), and then nothing had stormed.
    auto exit = torn_down(backend, {"-v", "-k", "100ms", kHelper, "fork-storm", "300", "3000", "3"}, SIGTERM);
    CHECK_MESSAGE(exit.killed_by(SIGTERM), backend << ": " << exit.describe());
    auto at = exit.err.find("SIGKILL to");
    REQUIRE(at != std::string::npos);
    MESSAGE(backend << " fork storm: " << exit.err.substr(at, exit.err.find('\n', at) - at));
  }
}

TEST_CASE("every backend: a 1000-process tree is torn down completely") {
  for (const auto& backend : backends()) {
    NoSurvivors guard;
    // By the first signal (SIGTERM): a process it missed would wait for the SIGKILL step, 60 s on.
    auto exit = torn_down(backend, {"-v", "-k", "60s", kHelper, "tree", "999", "3"}, SIGTERM);
    CHECK_MESSAGE(exit.killed_by(SIGTERM), backend << ": " << exit.describe());
    CHECK(exit.err.find("context canceled (SIGTERM): 1000 processes torn down") != std::string::npos);
    CHECK_MESSAGE(exit.took < 30s, backend << ": " << exit.describe());
  }
}

TEST_CASE("every backend: 1000 processes that ignore SIGTERM, from the SIGKILL step to an empty tree") {
  for (const auto& backend : backends()) {
    NoSurvivors guard;
    // The tree's processes ignore SIGTERM (inherited), so the SIGKILL step does all the work.
    auto exit = torn_down(backend, {"-v", "-k", "100ms", "sh", "-c", "trap '' TERM; exec " + kHelper + " tree 999 3"},
                          SIGTERM);
    CHECK_MESSAGE(exit.killed_by(SIGTERM), backend << ": " << exit.describe());
    auto at = exit.err.find("SIGKILL to");
    REQUIRE(at != std::string::npos);
    MESSAGE(backend << " 1000 processes: " << exit.err.substr(at, exit.err.find('\n', at) - at));
  }
}
