// The cgroup backend's two ways of putting the command in its leaf: born there (clone3 with
// CLONE_INTO_CGROUP, where the kernel has it) and the fallback, a move before exec
// (CTXRUN_CGROUP_SPAWN=move forces it). On both, the command's first instruction runs inside the
// leaf, and what it starts is torn down with it.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>

#include "backends.h"
#include "harness.h"

using namespace e2e;

namespace {

bool has_cgroup_backend() {
  const auto& all = backends();
  return std::find(all.begin(), all.end(), "cgroup") != all.end();
}

// The cgroup line the helper read as its very first action, under ctxrun --tree=cgroup.
std::string first_cgroup(const std::vector<std::string>& env, int& ctxrun_pid) {
  std::string file = fresh_dir("cgroup-spawn") + "/cgroup";
  Process p(Spec{.args = {"--tree=cgroup", "-t", "30s", kHelper, "cgroup", file}, .env = env});
  ctxrun_pid = p.pid();
  auto exit = p.wait(60s);
  CHECK_MESSAGE(exit.exited(0), exit.describe());
  CHECK_FALSE(cgroup_leaf_left(p.pid()));
  return slurp(file);
}

}  // namespace

TEST_CASE("cgroup backend: the command runs in its leaf from its first instruction, born there or moved in") {
  if (!has_cgroup_backend()) return;
  for (const char* how : {"", "CTXRUN_CGROUP_SPAWN=move"}) {
    INFO("spawn: " << (*how ? how : "clone3 (default)"));
    NoSurvivors guard;
    int pid = 0;
    std::vector<std::string> env;
    if (*how) env.push_back(how);
    auto line = first_cgroup(env, pid);
    // Leaves are named ctxrun-PID-RANDOM, under ctxrun's own cgroup.
    CHECK_MESSAGE(line.find("/ctxrun-" + std::to_string(pid) + "-") != std::string::npos, line);
  }
}

TEST_CASE("cgroup backend, both spawn paths: a setsid daemon and a TERM-ignoring tree are torn down") {
  if (!has_cgroup_backend()) return;
  for (const char* how : {"", "CTXRUN_CGROUP_SPAWN=move"}) {
    INFO("spawn: " << (*how ? how : "clone3 (default)"));
    std::vector<std::string> env;
    if (*how) env.push_back(how);
    for (std::vector<std::string> args : {std::vector<std::string>{"-t", "300ms", kHelper, "daemon", "3", "hang"},
                                          std::vector<std::string>{"-t", "200ms", "-k", "200ms", "sh", "-c",
                                                                   "trap '' TERM; exec " + kHelper + " tree 20 3"}}) {
      NoSurvivors guard;
      args.insert(args.begin(), "--tree=cgroup");
      Process p(Spec{.args = args, .env = env});
      auto pids = p.await_ready(60s);
      auto exit = p.wait(60s);
      CHECK_MESSAGE(exit.exited(124), exit.describe());
      CHECK(p.report_eof(10s));
      for (pid_t q : pids) CHECK_MESSAGE(gone(q), "pid " << q << " survived");
      CHECK_FALSE(cgroup_leaf_left(p.pid()));
    }
  }
}
