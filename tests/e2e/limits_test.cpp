// ctxrun left with few file descriptors (a caller that holds many, a tight RLIMIT_NOFILE): it
// either refuses at once (125, one line, saying why) or runs and tears down as usual. It never
// aborts, and never mistakes "no descriptor left" for "process gone", which would leave the first
// signal unsent and the tree to the grace period's SIGKILL.
#include <doctest/doctest.h>

#include <algorithm>

#include "backends.h"
#include "harness.h"

using namespace e2e;

TEST_CASE("every backend: with few descriptors left, ctxrun refuses at once or tears down promptly") {
  for (const auto& backend : backends()) {
    INFO("backend " << backend);
    int refused = 0, ran = 0;
    // From too few to start at all, across the boundary where the spawn fits and teardown must
    // make do with what the spawn gave back.
    for (int limit = 5; limit <= 24; ++limit) {
      INFO("RLIMIT_NOFILE " << limit);
      NoSurvivors guard;
      auto before = cgroup_leaves_of({});
      // prlimit execs ctxrun: the same pid, which names its cgroup leaf.
      Process p(Spec{.args = {"--nofile=" + std::to_string(limit), kCtxrun, "--tree=" + backend, "-t", "100ms", "-k",
                              "20s", kHelper, "tree", "3", "3"},
                     .argv0 = "/usr/bin/prlimit"});
      auto exit = p.wait();
      // However it ended (a failure at any step included), it removed the leaf it made.
      auto leaves = cgroup_leaves_of({p.pid()});
      std::erase_if(leaves, [&](const std::string& leaf) {
        return std::find(before.begin(), before.end(), leaf) != before.end();
      });
      CHECK_MESSAGE(leaves.empty(), "a cgroup leaf was left: " << (leaves.empty() ? "" : leaves[0]));
      if (exit.exited(125)) {
        ++refused;
        CHECK_MESSAGE(exit.err.rfind("ctxrun: ", 0) == 0, exit.describe());
        CHECK_MESSAGE(exit.err.find('\n') == exit.err.size() - 1, exit.describe());
        CHECK_MESSAGE(exit.err.find("Too many open files") != std::string::npos, exit.describe());
        continue;
      }
      ++ran;
      CHECK_MESSAGE(exit.exited(124), exit.describe());
      // The tree dies of the first signal: far from the 20 s grace.
      CHECK(exit.took < 5s);
    }
    CHECK(refused > 0);
    CHECK(ran > 0);
  }
}
