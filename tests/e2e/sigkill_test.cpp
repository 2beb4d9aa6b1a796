// ctxrun itself SIGKILLed: nothing can run in it, yet the tree must not outlive it by more than a
// second or two. The command dies of its parent-death signal; the guardian finishes the rest.
#include <doctest/doctest.h>

#include "backends.h"
#include "harness.h"

using namespace e2e;

namespace {

// ctxrun on `backend`, SIGKILLed once its tree is in place; checks that the guardian ends it all.
void sigkill_and_check(const std::string& backend, const std::vector<std::string>& env) {
  INFO("backend " << backend);
  NoSurvivors guard;
  // A setsid daemon (escaped from the group) and a 20-process tree beside it.
  Process p(Spec{.args = {"--tree=" + backend, "-t", "60s", "sh", "-c",
                          kHelper + " daemon 3 exit && exec " + kHelper + " tree 19 3"},
                 .env = env});
  auto pids = p.await_ready();  // the daemon's "ready"
  auto more = p.await_ready();  // the tree's
  pids.insert(pids.end(), more.begin(), more.end());
  REQUIRE(pids.size() == 21);
  p.signal(SIGKILL);
  auto exit = p.wait();
  CHECK(exit.killed_by(SIGKILL));
  auto killed_at = std::chrono::steady_clock::now();
  // Every process of the tree (and the guardian) is a descendant of this test process, a
  // subreaper: wait for all of them to be gone.
  CHECK_MESSAGE(await_no_survivors(5s), "the tree outlived ctxrun");
  auto took = std::chrono::steady_clock::now() - killed_at;
  CHECK(p.report_eof(1s));
  MESSAGE(backend << (env.empty() ? "" : " (" + env[0] + ")") << ": tree gone "
                  << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                  << " ms after ctxrun was SIGKILLed");
  for (pid_t pid : pids) CHECK_MESSAGE(gone(pid), "pid " << pid << " survived");
  CHECK_FALSE(cgroup_leaf_left(p.pid()));
}

}  // namespace

// The guardian shares ctxrun's memory where it can and execs a fresh image once ctxrun is gone;
// CTXRUN_GUARDIAN_FORK=1 makes it the forked guardian of before. Both must do the whole job.
TEST_CASE("every backend: the forked guardian (CTXRUN_GUARDIAN_FORK) also ends the tree of a SIGKILLed ctxrun") {
  for (const auto& backend : backends()) sigkill_and_check(backend, {"CTXRUN_GUARDIAN_FORK=1"});
}

TEST_CASE("every backend: when ctxrun is SIGKILLed, the whole tree follows it") {
  for (const auto& backend : backends()) sigkill_and_check(backend, {});
}

TEST_CASE("negative control: GNU timeout SIGKILLed leaves the escaped daemon running") {
  NoSurvivors guard;
  Process p(Spec{.args = {"60", kHelper, "daemon", "3", "hang"}, .argv0 = "/usr/bin/timeout"});
  auto pids = p.await_ready();
  p.signal(SIGKILL);
  p.wait();
  CHECK_FALSE(p.report_eof(1s));
  REQUIRE(pids.size() == 1);
  CHECK_FALSE(gone(pids[0]));
  kill_survivors();
}
