// ctxrun where containers put it (issue #9): inside a PID namespace, as its PID 1 or below another
// program's PID 1; with the host's /proc or none at all; under a PID 1 that never reaps; in a
// delegated cgroup whose leaf the command may not enter.
//
// Every ending is bounded: prompt, not "eventually". The grace period is 10 s where a test expects
// the first signal to do the work, so a teardown that only ends when the grace period's SIGKILL
// fires fails the bound (kPrompt).
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <utility>

#include "backends.h"
#include "cgroup.h"
#include "contained.h"
#include "harness.h"

using namespace e2e;

namespace {

using Clock = std::chrono::steady_clock;

const std::string kSetpriv = "/usr/bin/setpriv";

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("PID namespace: a deadline tears the tree down at once, on every backend, as PID 1 or not") {
  if (!pid_namespaces()) return;
  for (const auto& backend : backends()) {
    for (Place place : kPlaces) {
      INFO(place_name(place) << ", backend " << backend);
      NoSurvivors guard;
      auto start = Clock::now();
      Contained c(place, true, {"-v", "--tree=" + backend, "-t", "300ms", "-k", "10s", kHelper, "tree", "3", "3"});
      CHECK(c.process().await_ready().size() == 4);
      auto end = c.finish(start);
      check_prompt_and_clean(end);
      CHECK_MESSAGE(end.exit.exited(124), end.exit.describe());
      CHECK_MESSAGE(contains(end.exit.err, "SIGTERM and SIGCONT to 4 processes"), end.exit.err);
      CHECK(last_line(end.exit.err) == "ctxrun: context deadline exceeded (timeout 300ms): 4 processes torn down");
      CHECK(await_no_survivors(5s));
    }
  }
}

TEST_CASE("PID namespace: a TERM-ignoring child is killed when the grace period ends, on every backend") {
  if (!pid_namespaces()) return;
  for (const auto& backend : backends()) {
    for (Place place : kPlaces) {
      INFO(place_name(place) << ", backend " << backend);
      NoSurvivors guard;
      auto start = Clock::now();
      Contained c(place, true,
                  {"-v", "--tree=" + backend, "-t", "300ms", "-k", "1s", kHelper, "term-ignoring-child", "3"});
      CHECK(c.process().await_ready().size() == 2);
      auto end = c.finish(start);
      check_prompt_and_clean(end);
      CHECK_MESSAGE(end.exit.exited(124), end.exit.describe());
      // The first signal reached both; the parent died of it, the TERM-ignorer needed the SIGKILL.
      CHECK_MESSAGE(contains(end.exit.err, "SIGTERM and SIGCONT to 2 processes"), end.exit.err);
      CHECK_MESSAGE(contains(end.exit.err, "SIGKILL to 1 process "), end.exit.err);
      CHECK(last_line(end.exit.err) == "ctxrun: context deadline exceeded (timeout 300ms): 2 processes torn down");
      CHECK(await_no_survivors(5s));
    }
  }
}

TEST_CASE("PID namespace: SIGINT and SIGTERM to ctxrun tear the tree down at once, on every backend") {
  if (!pid_namespaces()) return;
  for (int sig : {SIGINT, SIGTERM}) {
    std::string name = sig == SIGINT ? "SIGINT" : "SIGTERM";
    for (const auto& backend : backends()) {
      for (Place place : kPlaces) {
        INFO(name << ", " << place_name(place) << ", backend " << backend);
        NoSurvivors guard;
        Contained c(place, true, {"-v", "--tree=" + backend, "-t", "60s", "-k", "10s", kHelper, "tree", "3", "3"});
        CHECK(c.process().await_ready().size() == 4);
        pid_t ctxrun = c.ctxrun();
        REQUIRE(ctxrun > 0);
        auto sent = Clock::now();
        REQUIRE(::kill(ctxrun, sig) == 0);
        auto end = c.finish(sent);
        check_prompt_and_clean(end);
        // PID 1 cannot die of a signal it handles: 128+N instead.
        if (place == Place::pid1) CHECK_MESSAGE(end.exit.exited(128 + sig), end.exit.describe());
        else CHECK_MESSAGE(end.exit.killed_by(sig), end.exit.describe());
        CHECK_MESSAGE(contains(end.exit.err, name + " and SIGCONT to 4 processes"), end.exit.err);
        CHECK(last_line(end.exit.err) == "ctxrun: context canceled (" + name + "): 4 processes torn down");
        CHECK(await_no_survivors(5s));
      }
    }
  }
}

TEST_CASE("PID namespace: leftovers after a normal exit are torn down at once, on every backend") {
  if (!pid_namespaces()) return;
  for (const auto& backend : backends()) {
    for (Place place : kPlaces) {
      INFO(place_name(place) << ", backend " << backend);
      NoSurvivors guard;
      auto start = Clock::now();
      Contained c(place, true, {"--tree=" + backend, "-t", "60s", "-k", "10s", kHelper, "leave-child", "3"});
      CHECK(c.process().await_ready().size() == 1);
      auto end = c.finish(start);
      check_prompt_and_clean(end);
      CHECK_MESSAGE(end.exit.exited(0), end.exit.describe());
      CHECK(end.exit.err.empty());
      CHECK(await_no_survivors(5s));
    }
  }
}

TEST_CASE("PID namespace with the host's /proc: --tree=subreaper is refused with 125 and the reason") {
  if (!pid_namespaces()) return;
  for (Place place : kPlaces) {
    INFO(place_name(place));
    NoSurvivors guard;
    auto start = Clock::now();
    Contained c(place, false, {"--tree=subreaper", "-t", "300ms", "-k", "1s", kHelper, "hang", "3"});
    auto end = c.finish(start);
    check_prompt_and_clean(end);
    CHECK_MESSAGE(end.exit.exited(125), end.exit.describe());
    CHECK(lines_of(end.exit.err).size() == 1);
    CHECK(end.exit.err.rfind("ctxrun: ", 0) == 0);
    CHECK_MESSAGE(contains(end.exit.err, "/proc"), end.exit.err);
    CHECK(await_no_survivors(5s));
  }
}

TEST_CASE("PID namespace with the host's /proc: the default backend tears the whole tree down at once") {
  if (!pid_namespaces()) return;
  for (Place place : kPlaces) {
    INFO(place_name(place));
    NoSurvivors guard;
    auto start = Clock::now();
    Contained c(place, false, {"-t", "300ms", "-k", "10s", kHelper, "tree", "3", "3"});
    CHECK(c.process().await_ready().size() == 4);
    auto end = c.finish(start);
    check_prompt_and_clean(end);
    CHECK_MESSAGE(end.exit.exited(124), end.exit.describe());
    CHECK(end.exit.err == "ctxrun: context deadline exceeded (timeout 300ms): 4 processes torn down\n");
    CHECK(await_no_survivors(5s));
  }
}

namespace {

// `command` in a private mount namespace where an empty directory hides /proc (not a PID
// namespace: the pids the helper reports are ours).
Spec without_proc(std::vector<std::string> command, std::vector<int> pass_fds = {}) {
  static const std::string empty = [] {
    std::string dir = temp_dir() + "/empty-proc";
    mkdir(dir.c_str(), 0755);
    return dir;
  }();
  std::vector<std::string> args{"--mount", "--propagation",
                                "private", "/bin/sh",
                                "-c",      "mount --bind \"$0\" /proc && exec \"$@\"",
                                empty};
  args.insert(args.end(), command.begin(), command.end());
  return Spec{.args = args, .argv0 = kUnshare, .pass_fds = std::move(pass_fds)};
}

bool can_hide_proc() {
  static const bool ok = [] {
    // A sanitizer's runtime needs /proc itself (LeakSanitizer at exit, the symbolizer): without it,
    // it fails the process and writes its warnings where ctxrun's messages go.
    if (kSanitized) {
      MESSAGE("SKIPPED: the sanitizer runtime cannot run without /proc");
      return false;
    }
    auto exit = run(without_proc({"/bin/sh", "-c", "test ! -e /proc/self"}));
    if (!exit.exited(0)) MESSAGE("SKIPPED: cannot hide /proc in a private mount namespace here: " << exit.describe());
    return exit.exited(0);
  }();
  return ok;
}

}  // namespace

TEST_CASE("no usable /proc: a TERM-ignoring child is SIGKILLed after the grace period, nothing survives") {
  if (!can_hide_proc()) return;
  NoSurvivors guard;
  Process p(without_proc({kCtxrun, "-t", "300ms", "-k", "500ms", kHelper, "term-ignoring-child", "3"}));
  auto pids = p.await_ready();
  REQUIRE(pids.size() == 2);
  auto exit = p.wait(kGiveUp);
  CHECK_MESSAGE(exit.exited(124), exit.describe());
  // The TERM-ignorer outlived the first signal: ctxrun had to wait for the grace period.
  CHECK_MESSAGE(exit.took >= 800ms, exit.describe());
  CHECK_MESSAGE(exit.took < kPrompt, exit.describe());
  CHECK(last_line(exit.err).rfind("ctxrun: context deadline exceeded (timeout 300ms): ", 0) == 0);
  for (pid_t pid : pids) CHECK_MESSAGE(gone(pid), "pid " << pid << " survived");
}

TEST_CASE("no usable /proc: leftovers after a normal exit are torn down") {
  if (!can_hide_proc()) return;
  NoSurvivors guard;
  Process p(without_proc({kCtxrun, "-t", "60s", "-k", "10s", kHelper, "leave-child", "3"}));
  auto pids = p.await_ready();
  REQUIRE(pids.size() == 1);
  auto exit = p.wait(kGiveUp);
  CHECK_MESSAGE(exit.exited(0), exit.describe());
  CHECK(exit.err.empty());
  CHECK_MESSAGE(exit.took < kPrompt, exit.describe());
  CHECK_MESSAGE(gone(pids[0]), "the leftover " << pids[0] << " survived");
}

TEST_CASE("no usable /proc: --orphans=wait waits for the leftover") {
  if (!can_hide_proc()) return;
  NoSurvivors guard;
  int release[2];
  REQUIRE(pipe2(release, O_CLOEXEC) == 0);
  int high = fcntl(release[0], F_DUPFD_CLOEXEC, 20);  // above the numbers the harness gives ctxrun
  close(release[0]);
  release[0] = high;
  Process p(without_proc({kCtxrun, "--orphans=wait", "-t", "60s", kHelper, "leave-until-eof", "3",
                          std::to_string(release[0])},
                         {release[0]}));
  auto pids = p.await_ready();
  close(release[0]);
  REQUIRE(pids.size() == 1);
  CHECK_MESSAGE(p.still_running_after(500ms), "ctxrun did not wait for the leftover");
  close(release[1]);  // EOF: the leftover exits on its own
  auto exit = p.wait(kGiveUp);
  CHECK_MESSAGE(exit.exited(0), exit.describe());
  CHECK(exit.err.empty());
  CHECK(gone(pids[0]));
}

TEST_CASE("under a PID 1 that never reaps, 20 runs leave no process and no zombie in the namespace") {
  if (!pid_namespaces()) return;
  NoSurvivors guard;
  Process p(Spec{.args = {"--pid", "--fork", "--kill-child", "--mount-proc", kHelper, "pid1", "20", "3", kCtxrun, "-t",
                          "5", "true"},
                 .argv0 = kUnshare});
  for (int i = 0; i < 20; ++i) CHECK(p.next_line(30s) == "exited 0");
  REQUIRE(p.next_line(30s) == "done");
  pid_t init = first_child(p.pid());
  REQUIRE(init > 0);
  auto left = below(init);
  CHECK_MESSAGE(left.empty(), left.size() << " processes and zombies besides PID 1:" << describe(left));
  ::kill(init, SIGKILL);
  p.wait();
}

namespace {

// A cgroup delegated to `nobody` as far as making leaves goes: the directory is nobody's, but its
// cgroup.procs stays root's, so a process of nobody's inside it may create a child cgroup and yet
// not move itself into it (moving needs write access to the common ancestor's cgroup.procs).
class HalfDelegated {
 public:
  static std::optional<HalfDelegated> make(std::string& why) {
    auto skip = [&](std::string reason) {
      why = std::move(reason);
      return std::optional<HalfDelegated>();
    };
    auto mount = ctxrun::cgroup2_mount();
    if (!mount) return skip("no cgroup v2 mount");
    if (access(kSetpriv.c_str(), X_OK) != 0) return skip("no " + kSetpriv);
    std::ifstream in("/proc/self/cgroup");
    std::string own;
    for (std::string line; std::getline(in, line);)
      if (line.rfind("0::", 0) == 0) own = line.substr(3);
    std::string dir = *mount + (own == "/" ? "" : own) + "/e2e-half-delegated-" + std::to_string(getpid());
    if (mkdir(dir.c_str(), 0755) != 0) return skip("cannot make " + dir + ": " + std::strerror(errno));
    HalfDelegated made(dir);
    if (chown(dir.c_str(), 65534, 65534) != 0) return skip("cannot chown " + dir + ": " + std::strerror(errno));
    // The scenario, by hand: nobody in `dir` may make a child cgroup, but not move into it.
    auto probe = run(
        made.spec("/bin/sh", {"-c", "mkdir \"$0/probe\" || exit 3; echo 0 > \"$0/probe/cgroup.procs\"", dir}));
    rmdir((dir + "/probe").c_str());
    if (probe.exited(0)) return skip("nobody could move itself into a child of " + dir);
    if (!probe.exited(1)) return skip("nobody could not make a child cgroup: " + probe.describe());
    return std::optional<HalfDelegated>(std::move(made));
  }

  HalfDelegated(HalfDelegated&& other) noexcept : dir_(std::exchange(other.dir_, "")) {}
  ~HalfDelegated() {
    if (dir_.empty()) return;
    std::vector<std::string> leaked;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir_, ec))
      if (e.is_directory()) leaked.push_back(e.path().string());
    CHECK_MESSAGE(leaked.empty(), "cgroup leaves left in " << dir_);
    remove_cgroup_leaves(leaked);
    rmdir(dir_.c_str());
  }

  // `program args...` run as nobody from inside the directory.
  Spec spec(const std::string& program, std::vector<std::string> args) const {
    std::vector<std::string> all{"-c",
                                 "echo $$ > \"$0/cgroup.procs\" && exec " + kSetpriv +
                                     " --reuid=65534 --regid=65534 --clear-groups \"$@\"",
                                 dir_, program};
    all.insert(all.end(), args.begin(), args.end());
    return Spec{.args = all, .argv0 = "/bin/sh"};
  }

 private:
  explicit HalfDelegated(std::string dir) : dir_(std::move(dir)) {}
  std::string dir_;
};

}  // namespace

TEST_CASE("auto with a cgroup leaf the command cannot enter: falls back, says so with -v; runs the command") {
  std::string why;
  auto cgroup = HalfDelegated::make(why);
  if (!cgroup) {
    MESSAGE("SKIPPED: " << why);
    return;
  }
  {
    NoSurvivors guard;
    auto exit = run(cgroup->spec(kCtxrun, {"-v", "-t", "60s", kHelper, "exit", "7"}), kGiveUp);
    CHECK_MESSAGE(exit.exited(7), exit.describe());
    std::string backend_line;
    for (const auto& line : lines_of(exit.err))
      if (auto at = line.find("tree backend: "); at != std::string::npos) backend_line = line.substr(at + 14);
    CHECK_MESSAGE(!backend_line.empty(), exit.err);
    CHECK_MESSAGE(backend_line.rfind("cgroup", 0) != 0, "the backend chosen: " << backend_line);
    // The -v note says why the cgroup was not used.
    CHECK_MESSAGE(contains(exit.err.substr(0, exit.err.find("started '")), "cgroup"), exit.err);
    CHECK(await_no_survivors(5s));
  }
  {
    // The backend it fell back to does its work.
    NoSurvivors guard;
    Process p(cgroup->spec(kCtxrun, {"-t", "300ms", "-k", "10s", kHelper, "tree", "3", "3"}));
    CHECK(p.await_ready().size() == 4);
    auto exit = p.wait(kGiveUp);
    CHECK_MESSAGE(exit.exited(124), exit.describe());
    CHECK(exit.took < kPrompt);
    CHECK(exit.err == "ctxrun: context deadline exceeded (timeout 300ms): 4 processes torn down\n");
    CHECK(await_no_survivors(5s));
  }
}

TEST_CASE("--tree=cgroup with a cgroup leaf the command cannot enter: 125 and a one-line reason") {
  std::string why;
  auto cgroup = HalfDelegated::make(why);
  if (!cgroup) {
    MESSAGE("SKIPPED: " << why);
    return;
  }
  NoSurvivors guard;
  auto exit = run(cgroup->spec(kCtxrun, {"--tree=cgroup", "-t", "60s", kHelper, "exit", "7"}), kGiveUp);
  CHECK_MESSAGE(exit.exited(125), exit.describe());
  CHECK(lines_of(exit.err).size() == 1);
  CHECK(exit.err.rfind("ctxrun: ", 0) == 0);
  CHECK_MESSAGE(contains(exit.err, "leaf"), exit.err);
  CHECK_MESSAGE((contains(exit.err, "move") || contains(exit.err, "enter")), exit.err);
  CHECK(await_no_survivors(5s));
}
