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

}  // namespace e2e
