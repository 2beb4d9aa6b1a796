#include "backends.h"

#include <dirent.h>
#include <doctest/doctest.h>

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
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

std::vector<std::string> cgroup_leaves_of(const std::vector<int>& ctxrun_pids) {
  std::vector<std::string> found;
  auto mount = ctxrun::cgroup2_mount();
  if (!mount) return found;
  namespace fs = std::filesystem;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(*mount, fs::directory_options::skip_permission_denied, ec), end;
       !ec && it != end; it.increment(ec)) {
    if (!it->is_directory(ec)) continue;
    std::string name = it->path().filename().string();
    if (ctxrun_pids.empty() && name.rfind("ctxrun-", 0) == 0) found.push_back(it->path().string());
    for (int pid : ctxrun_pids)
      if (name.rfind("ctxrun-" + std::to_string(pid) + "-", 0) == 0) found.push_back(it->path().string());
  }
  // Deepest first: a parent can be removed only once its children are.
  std::sort(found.begin(), found.end(), [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  return found;
}

void remove_cgroup_leaves(const std::vector<std::string>& leaves) {
  for (const auto& leaf : leaves) {
    std::ofstream(leaf + "/cgroup.kill") << "1";
    // The killed processes leave the leaf as they die: wait for "populated 0" (POLLPRI on
    // cgroup.events), a few seconds at most.
    int events = open((leaf + "/cgroup.events").c_str(), O_RDONLY | O_CLOEXEC);
    for (int round = 0; events >= 0 && round < 50; ++round) {
      char buf[256] = {};
      if (pread(events, buf, sizeof buf - 1, 0) <= 0 || std::strstr(buf, "populated 0")) break;
      pollfd p{events, POLLPRI, 0};
      poll(&p, 1, 100);
    }
    if (events >= 0) close(events);
    if (rmdir(leaf.c_str()) != 0) MESSAGE("could not remove the leaked leaf " << leaf << ": " << std::strerror(errno));
  }
}

}  // namespace e2e
