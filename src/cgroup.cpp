#include "cgroup.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "proc.h"

#include "random_bits.h"

namespace ctxrun {
namespace {

// The whole file, or nullopt with errno set when it cannot be opened or read.
std::optional<std::string> read_text(const std::string& path) {
  unique_fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return std::nullopt;
  std::string text;
  char buf[4096];
  while (true) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::nullopt;
    if (n == 0) return text;
    text.append(buf, static_cast<std::size_t>(n));
  }
}

// The file's text; "" if it cannot be read (a cgroup removed meanwhile has no processes).
std::string read_file(const std::string& path) { return read_text(path).value_or(std::string()); }

bool write_file(const std::string& path, std::string_view text) {
  unique_fd fd(open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) return false;
  ssize_t n;
  do n = ::write(fd.get(), text.data(), text.size());
  while (n < 0 && errno == EINTR);
  return n == static_cast<ssize_t>(text.size());
}

// Calls `each` with every line of `text` (without its newline) until it returns true.
template <typename Each>
void for_each_line(std::string_view text, Each each) {
  while (!text.empty()) {
    auto end = text.find('\n');
    if (each(text.substr(0, end))) return;
    if (end == std::string_view::npos) return;
    text.remove_prefix(end + 1);
  }
}

// The `index`th field (from 0) of a line of fields separated by single spaces, "" if none.
std::string_view field(std::string_view line, int index) {
  for (; index > 0; --index) {
    auto space = line.find(' ');
    if (space == std::string_view::npos) return {};
    line.remove_prefix(space + 1);
  }
  return line.substr(0, line.find(' '));
}

// ctxrun's own cgroup v2 path ("0::/some/path" in /proc/self/cgroup).
std::optional<std::string> own_cgroup() {
  std::optional<std::string> own;
  for_each_line(read_file("/proc/self/cgroup"), [&](std::string_view line) {
    if (line.substr(0, 3) == "0::") own = std::string(line.substr(3));
    return own.has_value();
  });
  return own;
}

// The cgroup v2 mount point in the text of /proc/self/mountinfo.
std::optional<std::string> cgroup2_mount_in(std::string_view mountinfo) {
  std::optional<std::string> mount_point;
  for_each_line(mountinfo, [&](std::string_view line) {
    // "<id> <parent> <maj:min> <root> <mount point> <options> [optional...] - <fstype> <source> ..."
    auto dash = line.find(" - ");
    if (dash == std::string_view::npos || field(line.substr(dash + 3), 0) != "cgroup2") return false;
    mount_point = std::string(field(line, 4));
    return true;
  });
  return mount_point;
}

// Waits until cgroup.events says "frozen 1" (or `until` passes): POLLPRI on the events file.
bool wait_frozen(const std::string& path, int events_fd) {
  for (int i = 0; i < 1000; ++i) {
    if (read_file(path + "/cgroup.events").find("frozen 1") != std::string::npos) return true;
    pollfd p{events_fd, POLLPRI, 0};
    if (::poll(&p, 1, 1000) <= 0) return false;
  }
  return false;
}

// The pid a cgroup named as a ctxrun leaf ("ctxrun-PID-XXXXXXXX", CgroupLeaf::create) is named
// after; nullopt for any other name.
std::optional<pid_t> leaf_name_pid(std::string_view name) {
  constexpr std::string_view prefix = "ctxrun-";
  if (name.substr(0, prefix.size()) != prefix) return std::nullopt;
  name.remove_prefix(prefix.size());
  auto dash = name.find('-');
  if (dash == 0 || dash == std::string_view::npos || name.size() - dash - 1 != 8) return std::nullopt;
  long pid = 0;
  for (char c : name.substr(0, dash)) {
    if (c < '0' || c > '9' || pid > 99'999'999) return std::nullopt;
    pid = pid * 10 + (c - '0');
  }
  for (char c : name.substr(dash + 1))
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return std::nullopt;
  if (pid <= 0) return std::nullopt;
  return static_cast<pid_t>(pid);
}

}  // namespace

std::optional<CgroupLeaf> mark_nested_run(const std::function<void(const std::string&)>& before_mkdir) {
  auto own = own_cgroup();
  if (!own) return std::nullopt;
  // In a ctxrun's leaf, or below one (a container runtime's cgroup in the tree).
  bool in_leaf = false;
  for (std::string_view path(*own); !path.empty() && !in_leaf;) {
    auto slash = path.find('/');
    in_leaf = leaf_name_pid(path.substr(0, slash)).has_value();
    path.remove_prefix(slash == std::string_view::npos ? path.size() : slash + 1);
  }
  if (!in_leaf) return std::nullopt;
  auto mark = CgroupLeaf::create(before_mkdir);
  if (auto* made = std::get_if<CgroupLeaf>(&mark)) return std::move(*made);
  return std::nullopt;
}

std::optional<std::string> cgroup2_mount() { return cgroup2_mount_in(read_file("/proc/self/mountinfo")); }

Result<CgroupLeaf> CgroupLeaf::create(const std::function<void(const std::string&)>& before_mkdir) {
  // Told apart from "no hierarchy": a /proc that cannot be read, or no descriptor left to read it.
  auto mountinfo = read_text("/proc/self/mountinfo");
  if (!mountinfo) return fmt::format("cannot read /proc/self/mountinfo: {}", std::strerror(errno));
  auto mount = cgroup2_mount_in(*mountinfo);
  if (!mount) return std::string("no cgroup v2 hierarchy is mounted");
  auto own = own_cgroup();
  if (!own) return std::string("ctxrun's cgroup v2 path is not in /proc/self/cgroup");
  std::string parent = *mount + (*own == "/" ? "" : *own);
  // Moving the command from ctxrun's cgroup into the leaf needs write access to the common
  // ancestor's cgroup.procs, which is ctxrun's own: a delegated directory may let ctxrun make the
  // leaf and still refuse the move.
  if (faccessat(AT_FDCWD, (parent + "/cgroup.procs").c_str(), W_OK, AT_EACCESS) != 0)
    return fmt::format("the command could not be moved into a cgroup leaf under {}: {}/cgroup.procs: {}", parent,
                       parent, std::strerror(errno));
  // One name per ctxrun process, so that each attempt's leaf (--attempts) is the one the guardian
  // was told of already: its orders wait in a socket that one order per attempt would fill after a
  // few hundred. A name still taken (a leaf that could not be removed) is replaced by a fresh one.
  static const std::uint32_t own_suffix = random_bits();
  std::string path;
  int made = -1;
  for (std::uint32_t suffix : {own_suffix, random_bits()}) {
    path = fmt::format("{}/ctxrun-{}-{:08x}", parent, getpid(), suffix);
    if (before_mkdir) before_mkdir(path);
    if ((made = mkdir(path.c_str(), 0755)) == 0 || errno != EEXIST) break;
  }
  if (made != 0) return fmt::format("cannot create a cgroup under {}: {}", parent, std::strerror(errno));
  CgroupLeaf leaf(path);
  leaf.dir_.reset(open(path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  leaf.events_.reset(open((path + "/cgroup.events").c_str(), O_RDONLY | O_CLOEXEC));
  if (!leaf.dir_ || !leaf.events_)
    return fmt::format("cannot open the files of cgroup {}: {}", path, std::strerror(errno));
  return leaf;
}

std::optional<CgroupLeaf> CgroupLeaf::adopt(const std::string& path) {
  CgroupLeaf leaf(path);
  leaf.events_.reset(open((path + "/cgroup.events").c_str(), O_RDONLY | O_CLOEXEC));
  if (!leaf.events_) {
    leaf.path_.clear();
    return std::nullopt;
  }
  return leaf;
}

CgroupLeaf::CgroupLeaf(CgroupLeaf&& other) noexcept
    : path_(std::exchange(other.path_, std::string())),
      dir_(std::move(other.dir_)),
      events_(std::move(other.events_)) {}

CgroupLeaf::~CgroupLeaf() { remove(); }

bool CgroupLeaf::populated() const {
  char buf[256];
  ssize_t n = pread(events_.get(), buf, sizeof buf - 1, 0);
  if (n <= 0) return false;
  buf[n] = '\0';
  return std::strstr(buf, "populated 1") != nullptr;
}

namespace {

// The pids in a cgroup.procs text, appended to `out`.
void parse_pids(const std::string& text, std::vector<pid_t>& out) {
  const char* p = text.c_str();
  for (char* end = nullptr;; p = end) {
    long pid = std::strtol(p, &end, 10);
    if (end == p) break;
    out.push_back(static_cast<pid_t>(pid));
  }
}

}  // namespace

std::vector<pid_t> CgroupLeaf::pids() const {
  std::vector<pid_t> out;
  parse_pids(read_file(path_ + "/cgroup.procs"), out);
  return out;
}

std::vector<pid_t> CgroupLeaf::pids_below() const { return list_below().value_or(std::vector<pid_t>()); }

namespace {

// Calls `each(path, name)` for every cgroup below `top`, at any depth (a nested ctxrun's leaf, a
// container runtime's cgroups). One removed meanwhile is skipped.
void for_each_below(const std::string& top, const std::function<void(const std::string&, const char*)>& each) {
  std::vector<std::string> dirs{top};
  while (!dirs.empty()) {
    std::string dir = std::move(dirs.back());
    dirs.pop_back();
    if (DIR* d = opendir(dir.c_str())) {
      while (dirent* e = readdir(d)) {
        if (e->d_type != DT_DIR || e->d_name[0] == '.') continue;
        dirs.push_back(dir + "/" + e->d_name);
        each(dirs.back(), e->d_name);
      }
      closedir(d);
    }
  }
}

}  // namespace

std::optional<std::vector<pid_t>> CgroupLeaf::list_below() const {
  std::vector<pid_t> out;
  auto own = read_text(path_ + "/cgroup.procs");
  if (!own) return std::nullopt;
  parse_pids(*own, out);
  // A cgroup removed meanwhile has no processes.
  for_each_below(path_,
                 [&](const std::string& dir, const char*) { parse_pids(read_file(dir + "/cgroup.procs"), out); });
  return out;
}

std::vector<pid_t> CgroupLeaf::runs_below() const {
  std::vector<pid_t> runs;
  for_each_below(path_, [&](const std::string&, const char* name) {
    if (auto pid = leaf_name_pid(name)) runs.push_back(*pid);
  });
  return runs;
}

bool CgroupLeaf::kill_all() const {
  if (write_file(path_ + "/cgroup.kill", "1")) return true;
  // Before Linux 5.14: freeze, so that nothing forks between reading the pids and killing them.
  if (!write_file(path_ + "/cgroup.freeze", "1")) return false;
  wait_frozen(path_, events_.get());
  for (pid_t pid : pids()) ::kill(pid, SIGKILL);  // frozen: no pid can be reaped and reused
  write_file(path_ + "/cgroup.freeze", "0");
  return true;
}

namespace {

// Removes the cgroup `dir` and every cgroup below it, deepest first (a nested ctxrun killed before
// it could remove its own leaf leaves one there). False (errno set) if `dir` is still there. The
// common case, a leaf with nothing below, is one rmdir().
bool remove_tree(const std::string& dir) {
  if (rmdir(dir.c_str()) == 0 || errno == ENOENT) return true;
  if (errno != EBUSY && errno != ENOTEMPTY) return false;
  if (DIR* d = opendir(dir.c_str())) {
    std::vector<std::string> below;
    while (dirent* e = readdir(d))
      if (e->d_type == DT_DIR && e->d_name[0] != '.') below.push_back(dir + "/" + e->d_name);
    closedir(d);
    for (const auto& sub : below) remove_tree(sub);
  }
  return rmdir(dir.c_str()) == 0 || errno == ENOENT;
}

}  // namespace

bool CgroupLeaf::remove() noexcept {
  if (path_.empty()) return true;
  dir_.reset();
  events_.reset();
  // Processes left running on purpose (--orphans=leave) go back to ctxrun's own cgroup, so that
  // the leaf can go. Each pass moves what is there; a process forking meanwhile needs another.
  bool removed = false;
  try {
    std::string parent = path_.substr(0, path_.rfind('/')) + "/cgroup.procs";
    for (int pass = 0; pass < 100 && !(removed = remove_tree(path_)) && errno == EBUSY; ++pass)
      for (pid_t pid : pids_below()) write_file(parent, std::to_string(pid));
  } catch (...) {}
  if (!removed && access(path_.c_str(), F_OK) == 0) return false;
  path_.clear();
  return true;
}

}  // namespace ctxrun
