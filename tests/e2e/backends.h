// The tree backends this machine can run, for tests that repeat a case on each.
#pragma once

#include <string>
#include <vector>

namespace e2e {

// "cgroup", "subreaper", "pgroup": those `ctxrun --tree=NAME true` accepts here. A backend that is
// missing is reported once with MESSAGE("SKIPPED: ...") and the reason ctxrun gives.
const std::vector<std::string>& backends();

// Whether a cgroup leaf made by the ctxrun with pid `ctxrun_pid` is still there.
bool cgroup_leaf_left(int ctxrun_pid);

// Every cgroup leaf made by one of the ctxruns with these pids (as their own PID namespace saw
// them), anywhere in the cgroup v2 hierarchy: a nested ctxrun's leaf is inside its parent's. Deepest
// first.
// (An empty list: every ctxrun-* leaf there is.)
std::vector<std::string> cgroup_leaves_of(const std::vector<int>& ctxrun_pids);

// Kills what is in each of `leaves` (deepest first) and removes them: a test that found a leaked
// leaf does not leave it on the machine.
void remove_cgroup_leaves(const std::vector<std::string>& leaves);

}  // namespace e2e
