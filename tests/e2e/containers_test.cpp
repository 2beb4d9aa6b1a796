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
#include "harness.h"

using namespace e2e;

namespace {

using Clock = std::chrono::steady_clock;

const std::string kUnshare = "/usr/bin/unshare";
const std::string kSetpriv = "/usr/bin/setpriv";

// Well under the 10 s grace period, and generous for a loaded 2-core machine.
constexpr auto kPrompt = 5s;
// How long a test waits for an ending before it gives up on it (and kills what is left).
constexpr auto kGiveUp = 12s;

bool pid_namespaces() {
  static const bool ok = [] {
    auto exit = run(Spec{.args = {"--pid", "--fork", "--mount-proc", "true"}, .argv0 = kUnshare});
    if (!exit.exited(0)) MESSAGE("SKIPPED: cannot make a PID namespace here (unshare: " << exit.err << ")");
    return exit.exited(0);
  }();
  return ok;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

long ms(std::chrono::nanoseconds d) {
  return static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
}

// The pid (in our namespace) of the first child of `parent`, 0 if none.
pid_t first_child(pid_t parent) {
  std::ifstream in("/proc/" + std::to_string(parent) + "/task/" + std::to_string(parent) + "/children");
  pid_t child = 0;
  in >> child;
  return child;
}

// Every descendant of `root`, zombies included.
std::vector<ctxrun::ProcessInfo> below(pid_t root) {
  auto all = ctxrun::scan_processes();
  REQUIRE(all.has_value());
  return ctxrun::descendants_of(root, *all);
}

std::string describe(const std::vector<ctxrun::ProcessInfo>& processes) {
  std::ostringstream s;
  for (const auto& p : processes) s << " [" << p.pid << " " << p.name << " " << p.state << "]";
  return s.str();
}

enum class Place { pid1, below_pid1 };
const Place kPlaces[] = {Place::pid1, Place::below_pid1};
std::string place_name(Place place) { return place == Place::pid1 ? "ctxrun as PID 1" : "ctxrun below PID 1"; }

// How a contained run ended, seen from outside the namespace.
struct Ended {
  bool ended = false;  // within kGiveUp
  Exit exit;           // ctxrun's own wait status and stderr; took: since the moment given to finish()
  // Below PID 1 only: the live processes left in the namespace (PID 1 aside) when ctxrun ended.
  std::vector<ctxrun::ProcessInfo> left;
};

// unshare, when its child was SIGKILLed, fails to re-raise SIGKILL on itself and says so
// ("sigprocmask unblock failed"): not ctxrun's words.
void drop_unshare_lines(std::string& err) {
  std::string kept;
  for (const auto& line : lines_of(err))
    if (line.rfind("unshare: ", 0) != 0) kept += line + "\n";
  err = kept;
}

// One ctxrun inside a new PID namespace (unshare --pid --fork), with the namespace's own /proc or
// the host's. As its PID 1, or started by the helper's `pid1` mode, an application PID 1 that never
// reaps: then ctxrun is not PID 1 and its process group's leader (the test's) is outside the
// namespace, as under bwrap or a container runtime, and the namespace outlives ctxrun, so what
// ctxrun left running can be seen.
class Contained {
 public:
  Contained(Place place, bool own_proc, const std::vector<std::string>& ctxrun_args) : place_(place) {
    std::vector<std::string> args{"--pid", "--fork", "--kill-child"};
    if (own_proc) args.push_back("--mount-proc");
    if (place == Place::below_pid1) args.insert(args.end(), {kHelper, "pid1", "1", "3"});
    args.push_back(kCtxrun);
    args.insert(args.end(), ctxrun_args.begin(), ctxrun_args.end());
    process_.emplace(Spec{.args = args, .argv0 = kUnshare});
  }

  Process& process() { return *process_; }

  // The PID 1 of the namespace, in our namespace's numbers.
  pid_t pid1() { return first_child(process_->pid()); }

  // ctxrun, in our namespace's numbers (the pids the helper reports are the namespace's).
  pid_t ctxrun() {
    if (place_ == Place::pid1) return pid1();
    for (const auto& p : below(pid1()))
      if (p.name == "ctxrun" && p.state != 'Z') return p.pid;
    return 0;
  }

  // Waits for ctxrun to end; `since`: when the ending was set off (the start, or a signal sent).
  Ended finish(Clock::time_point since) {
    Ended out;
    if (place_ == Place::pid1) {
      out.ended = !process_->still_running_after(kGiveUp);
      auto ended_at = Clock::now();
      if (!out.ended) ::kill(pid1(), SIGKILL);
      out.exit = process_->wait();
      out.exit.took = ended_at - since;
      drop_unshare_lines(out.exit.err);
      return out;
    }
    // The pid1 helper reports "exited N" or "killed N" when ctxrun ends, then stays.
    std::string line;
    while (true) {
      auto left_ms = std::chrono::duration_cast<std::chrono::milliseconds>(since + kGiveUp - Clock::now());
      line = process_->next_line(std::max(left_ms, std::chrono::milliseconds(1)));
      if (line.empty() || line.rfind("exited ", 0) == 0 || line.rfind("killed ", 0) == 0) break;
    }
    auto ended_at = Clock::now();
    out.ended = !line.empty();
    pid_t init = pid1();
    if (out.ended) {
      for (auto& p : below(init))
        if (p.state != 'Z' && p.state != 'X') out.left.push_back(p);
    }
    if (init > 0) ::kill(init, SIGKILL);  // the whole namespace goes with its PID 1
    out.exit = process_->wait();
    out.exit.took = ended_at - since;
    drop_unshare_lines(out.exit.err);
    int code = out.ended ? std::atoi(line.c_str() + 7) : 0;
    out.exit.status = line.rfind("killed ", 0) == 0 ? code : code << 8;
    return out;
  }

 private:
  Place place_;
  std::optional<Process> process_;
};

// The checks every contained ending shares.
void check_prompt_and_clean(const Ended& end) {
  CHECK_MESSAGE(end.ended, "ctxrun did not end within " << ms(kGiveUp) << "ms; stderr: " << end.exit.err);
  CHECK_MESSAGE(end.exit.took < kPrompt, "the ending took " << ms(end.exit.took) << "ms; stderr: " << end.exit.err);
  CHECK_MESSAGE(end.left.empty(), "left running in the namespace:" << describe(end.left));
}

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
