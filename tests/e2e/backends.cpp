#include "backends.h"

#include <doctest/doctest.h>
#include <dirent.h>

#include <fstream>

#include "cgroup.h"
#include "harness.h"

namespace e2e {

const std::vector<std::string>& backends() {
  static const std::vector<std::string> available = [] {
    std::vector<std::string> out;
    for (std::string name : {"cgroup", "subreaper", "pgroup"}) {
      auto exit = run({"--tree=" + name, "true"});
      if (exit.exited(0)) out.push_back(name);
      else MESSAGE("SKIPPED: backend " << name << " is not available here: " << exit.err);
    }
    return out;
  }();
  return available;
}

bool cgroup_leaf_left(int ctxrun_pid) {
  auto mount = ctxrun::cgroup2_mount();
  if (!mount) return false;
  std::ifstream in("/proc/self/cgroup");
  std::string own;
  for (std::string line; std::getline(in, line);)
    if (line.rfind("0::", 0) == 0) own = line.substr(3);
  std::string parent = *mount + (own == "/" ? "" : own);
  std::string prefix = "ctxrun-" + std::to_string(ctxrun_pid) + "-";
  DIR* dir = opendir(parent.c_str());
  if (!dir) return false;
  bool found = false;
  while (dirent* e = readdir(dir)) found |= std::string(e->d_name).rfind(prefix, 0) == 0;
  closedir(dir);
  return found;
}

}  // namespace e2e
