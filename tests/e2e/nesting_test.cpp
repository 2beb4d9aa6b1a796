// Nested ctxruns own their subtrees (issue #9): a stop from the outer run goes to the inner ctxrun,
// which stops its command by its own policy, so a process below it receives one stop signal, not
// one from each level; GNU's cascaded timeouts work in the timeout personality; and no cgroup leaf
// is left behind however a run ends: the outer's first signal SIGKILL, the outer reaching its
// SIGKILL step, the outer SIGKILLed, or ctxrun SIGKILLed at any moment of its start.
#include <doctest/doctest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>

#include "backends.h"
#include "harness.h"

using namespace e2e;

namespace {

using Clock = std::chrono::steady_clock;

constexpr auto kPrompt = 5s;   // well under any grace period a test gives the outer run
constexpr auto kGiveUp = 20s;  // how long a test waits for an ending before it gives up

const std::string kGnuTimeout = "/usr/bin/timeout";
// The build's `timeout` -> ctxrun symlink: ctxrun in the timeout personality.
const std::string kOurTimeout = std::filesystem::path(kCtxrun).parent_path().string() + "/timeout";

long ms(std::chrono::nanoseconds d) {
  return static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
}

// One "signal N from P" line of the helper's record-signals mode.
struct Received {
  int sig = 0;
  pid_t from = 0;
};

// Every signal the record-signals helper reported, up to EOF of the report pipe (every holder gone).
std::vector<Received> received(Process& p) {
  std::vector<Received> out;
  for (std::string line = p.next_line(5s); !line.empty(); line = p.next_line(5s)) {
    Received r;
    if (std::sscanf(line.c_str(), "signal %d from %d", &r.sig, &r.from) == 2) out.push_back(r);
  }
  return out;
}

int count(const std::vector<Received>& all, int sig) {
  return static_cast<int>(std::count_if(all.begin(), all.end(), [&](const Received& r) { return r.sig == sig; }));
}

std::string describe(const std::vector<Received>& all) {
  std::ostringstream s;
  for (const auto& r : all) s << " " << sigabbrev_np(r.sig) << "<-" << r.from;
  return s.str();
}

pid_t parent_of(pid_t pid) {
  auto p = ctxrun::read_process(pid);
  return p ? p->ppid : 0;
}

bool cgroup_available() {
  const auto& all = backends();
  bool ok = std::find(all.begin(), all.end(), "cgroup") != all.end();
  if (!ok) MESSAGE("SKIPPED: no cgroup backend here: no leaf to leak");
  return ok;
}

// Fails the test if a leaf of these ctxruns is left anywhere in the hierarchy (and removes it).
void check_no_leaf(const std::vector<int>& ctxruns) {
  auto leaves = cgroup_leaves_of(ctxruns);
  std::ostringstream s;
  for (const auto& leaf : leaves) s << " " << leaf;
  CHECK_MESSAGE(leaves.empty(), "cgroup leaves left:" << s.str());
  remove_cgroup_leaves(leaves);
}

}  // namespace

TEST_CASE("nested: the outer stops the inner ctxrun, which stops its command by its own policy") {
  NoSurvivors guard;
  // The inner's policy: SIGINT first, 5 s of grace. The command ends on SIGINT. Were the outer's
  // SIGTERM to reach the command, or the inner to pass the outer's signal on, the command would
  // record SIGTERM and wait for the inner's 5 s grace period.
  Process p(Spec{.args = {"-t", "500ms", "-k", "10s", kCtxrun, "--no-inherit", "-s", "INT", "-k", "5s", kHelper,
                          "record-signals", std::to_string(SIGINT), "3"}});
  auto pids = p.await_ready();
  REQUIRE(pids.size() == 1);
  pid_t inner = parent_of(pids[0]);
  auto exit = p.wait(kGiveUp);
  CHECK_MESSAGE(exit.exited(124), exit.describe());
  CHECK_MESSAGE(exit.took < 4s, exit.describe());
  auto got = received(p);
  INFO("signals received (from pid), the inner ctxrun is " << inner << ":" << describe(got));
  CHECK(count(got, SIGINT) == 1);
  CHECK(count(got, SIGTERM) == 0);
  for (const auto& r : got)
    if (r.sig == SIGINT) CHECK(r.from == inner);
  CHECK(last_line(exit.err).rfind("ctxrun: context deadline exceeded (timeout 500ms): ", 0) == 0);
}

namespace {

// The outer ctxrun with `args` (ending in an inner ctxrun whose command records every signal and
// ends on none: the inner's SIGKILL ends it) ends at its deadline; the command got one SIGTERM, from
// the inner ctxrun. Two SIGTERMs that arrive before the first is delivered merge into one, so a
// count alone can miss the second; the sender of the one delivered cannot lie: it must be the inner
// ctxrun, never the outer. `marked`: the inner made a cgroup of its own below the outer's leaf.
void check_one_stop_signal(const std::vector<std::string>& args, bool marked) {
  NoSurvivors guard;
  Process p(Spec{.args = args});
  auto pids = p.await_ready();
  REQUIRE(pids.size() == 1);
  pid_t inner = parent_of(pids[0]);
  if (marked) REQUIRE(cgroup_leaves_of({inner}).size() == 1);
  auto exit = p.wait(kGiveUp);
  CHECK_MESSAGE(exit.exited(124), exit.describe());
  CHECK_MESSAGE(exit.took < kPrompt, exit.describe());
  auto got = received(p);
  INFO("signals received (from pid), the outer ctxrun is " << p.pid() << ", the inner " << inner << ":"
                                                           << describe(got));
  CHECK(count(got, SIGTERM) == 1);
  CHECK(count(got, SIGINT) + count(got, SIGHUP) + count(got, SIGQUIT) == 0);
  for (const auto& r : got) CHECK(r.from == inner);
  if (marked) check_no_leaf({p.pid(), inner});
}

}  // namespace

TEST_CASE("nested: a process below an inner ctxrun receives one stop signal, not one from each level") {
  // A few rounds, as which sender comes first is a race where both send.
  for (bool shared_deadline : {false, true}) {
    for (int round = 0; round < 3; ++round) {
      std::string how = shared_deadline ? "the inner inherits the outer's deadline"
                                        : "the inner runs with --no-inherit";
      INFO(how << ", round " << round);
      std::vector<std::string> args{"-t", "500ms", "-k", "10s", kCtxrun};
      if (!shared_deadline) args.push_back("--no-inherit");
      args.insert(args.end(), {"-k", "500ms", kHelper, "record-signals", "0", "3"});
      check_one_stop_signal(args, false);
    }
  }
}

TEST_CASE("nested in a tree too big to walk (subreaper): the inner's command gets one stop signal, from the inner") {
  // Beside the inner ctxrun, 100 processes (reporting nowhere): the outer's subreaper backend finds
  // the tree in its pass over /proc (signal_by_scan), where the nesting rule must hold too.
  for (int round = 0; round < 2; ++round) {
    INFO("round " << round);
    // sh stays the parent of both: the 100 are the outer's to stop, not below the inner.
    std::string script = "'" + kHelper + "' tree 100 9 9>/dev/null & '" + kCtxrun + "' --no-inherit -k 500ms '" +
                         kHelper + "' record-signals 0 3; wait";
    check_one_stop_signal({"--tree=subreaper", "-t", "500ms", "-k", "10s", "sh", "-c", script}, false);
  }
}

TEST_CASE(
    "nested on another backend in the outer's cgroup leaf: it announces itself, and its command gets one stop signal") {
  // The outer's cgroup backend reads nothing per process: it learns of an inner ctxrun from the
  // cgroup named after it below the leaf, which an inner on the subreaper or pgroup backend makes
  // for that alone (mark_nested_run), and removes when it ends.
  if (!cgroup_available()) return;
  for (std::string inner_tree : {"--tree=subreaper", "--tree=pgroup"}) {
    for (int round = 0; round < 2; ++round) {
      INFO("inner " << inner_tree << ", round " << round);
      check_one_stop_signal({"-t", "500ms", "-k", "10s", kCtxrun, "--no-inherit", inner_tree, "-k", "500ms", kHelper,
                             "record-signals", "0", "3"},
                            true);
    }
  }
  // Without the run id in its environment (env -i, sudo): its own cgroup says it is nested.
  INFO("inner --tree=subreaper, CTXRUN_RUN_ID removed");
  check_one_stop_signal({"-t", "500ms", "-k", "10s", "env", "-u", "CTXRUN_RUN_ID", kCtxrun, "--no-inherit",
                         "--tree=subreaper", "-k", "500ms", kHelper, "record-signals", "0", "3"},
                        true);
}

TEST_CASE("nested: GNU's cascade (timeout-group.sh): the outer's ALRM makes the inner timeout send INT") {
  struct Impl {
    std::string name;
    std::string path;
  };
  // GNU timeout itself is the reference: the case must pass with it too.
  for (const Impl& impl : {Impl{"GNU timeout", kGnuTimeout}, Impl{"ctxrun as timeout", kOurTimeout}}) {
    INFO(impl.name);
    if (access(impl.path.c_str(), X_OK) != 0) {
      MESSAGE("SKIPPED: no " << impl.path);
      continue;
    }
    NoSurvivors guard;
    // timeout -s ALRM 30 timeout -s INT -k 1 25 CMD. The command records every signal and ends on
    // none, so that a SIGALRM that comes after the SIGINT is seen too; the inner's SIGKILL ends it.
    // (GNU's test command traps INT and dies of ALRM.)
    Process p(
        Spec{.args = {"-s", "ALRM", "30", impl.path, "-s", "INT", "-k", "1", "25", kHelper, "record-signals", "0", "3"},
             .argv0 = impl.path,
             .name = "timeout",
             .env = {"LC_ALL=C"}});
    auto pids = p.await_ready();
    REQUIRE(pids.size() == 1);
    auto sent = Clock::now();
    p.signal(SIGALRM);  // the outer's alarm, as if its 30 s were up
    auto exit = p.wait(kGiveUp);
    auto took = Clock::now() - sent;
    // GNU's rule: timed out and the command SIGKILLed (the inner's -k), so 128+9, as the inner's.
    CHECK_MESSAGE(exit.exited(128 + SIGKILL), exit.describe());
    CHECK_MESSAGE(took < kPrompt, "the ending took " << ms(took) << "ms");
    CHECK(await_no_survivors(5s));
    auto got = received(p);
    INFO("signals received (from pid):" << describe(got));
    CHECK(count(got, SIGINT) >= 1);  // GNU sends it to the command, then to its group: one or two
    CHECK(count(got, SIGALRM) == 0);
  }
}

TEST_CASE("nested: no cgroup leaf is left when the outer's first signal is SIGKILL") {
  if (!cgroup_available()) return;
  NoSurvivors guard;
  // ctxrun -s KILL -t 0.3s ctxrun -t 10s sleep 3, with a command that says when it is in place.
  Process p(Spec{.args = {"-s", "KILL", "-t", "1s", kCtxrun, "-t", "10s", kHelper, "hang", "3"}});
  auto pids = p.await_ready();
  REQUIRE(pids.size() == 1);
  pid_t inner = parent_of(pids[0]);
  // The leaves are there, both of them: what follows can fail.
  REQUIRE(cgroup_leaves_of({p.pid()}).size() == 1);
  REQUIRE(cgroup_leaves_of({inner}).size() == 1);
  auto exit = p.wait(kGiveUp);
  CHECK_MESSAGE(exit.exited(124), exit.describe());
  CHECK_MESSAGE(exit.took < kPrompt, exit.describe());
  CHECK(await_no_survivors(5s));
  check_no_leaf({p.pid(), inner});
}

TEST_CASE("nested: no cgroup leaf is left when the outer reaches its SIGKILL step") {
  if (!cgroup_available()) return;
  NoSurvivors guard;
  // The inner takes its time (30 s of grace for a TERM-ignorer); the outer's grace is 200ms.
  Process p(Spec{.args = {"-t", "500ms", "-k", "200ms", kCtxrun, "--no-inherit", "-t", "60s", "-k", "30s", kHelper,
                          "ignore-term", "3"}});
  auto pids = p.await_ready();
  REQUIRE(pids.size() == 1);
  pid_t inner = parent_of(pids[0]);
  auto exit = p.wait(kGiveUp);
  CHECK_MESSAGE(exit.exited(124), exit.describe());
  CHECK_MESSAGE(exit.took < kPrompt, exit.describe());
  CHECK(await_no_survivors(5s));
  check_no_leaf({p.pid(), inner});
}

TEST_CASE("nested: no cgroup leaf is left when the outer ctxrun is SIGKILLed") {
  if (!cgroup_available()) return;
  // The inner on the cgroup backend has a leaf of its own; on the subreaper backend, the empty
  // cgroup that announces it to the outer.
  for (std::string inner_tree : {"--tree=auto", "--tree=subreaper"}) {
    INFO("inner " << inner_tree);
    NoSurvivors guard;
    Process p(Spec{.args = {"-t", "60s", kCtxrun, inner_tree, "-t", "60s", kHelper, "hang", "3"}});
    auto pids = p.await_ready();
    REQUIRE(pids.size() == 1);
    pid_t inner = parent_of(pids[0]);
    p.signal(SIGKILL);
    auto exit = p.wait(kGiveUp);
    CHECK(exit.killed_by(SIGKILL));
    // The guardians finish the teardown: every one of them is a descendant of this test process.
    CHECK_MESSAGE(await_no_survivors(5s), "the tree outlived ctxrun");
    CHECK(p.report_eof(1s));
    check_no_leaf({p.pid(), inner});
  }
}

TEST_CASE("ctxrun SIGKILLed at a spread of moments in its first milliseconds leaves no leaf and no process") {
  NoSurvivors guard;
  constexpr int kRuns = 300;
  constexpr int kStepMicros = 12;  // 0 to 3.6 ms after the fork, past the leaf's mkdir and the guardian
  int survived = 0, leaked = 0, other_endings = 0;
  std::ostringstream leaked_at;
  auto began = Clock::now();
  int runs = 0;
  for (int i = 0; i < kRuns; ++i, ++runs) {
    if (Clock::now() - began > 25s) {
      MESSAGE("stopped after " << runs << " runs: the machine is too slow for more");
      break;
    }
    // A leaf named after a pid this run's ctxrun gets again (pid_max can be 32768) that was there
    // before it is not its own.
    auto before = cgroup_leaves_of({});
    Process p(Spec{.args = {"-t", "10s", kHelper, "hang", "3"}});
    // A deliberate race, not a synchronisation: the kill lands at a different point each time.
    auto at = Clock::now() + std::chrono::microseconds(i * kStepMicros);
    while (Clock::now() < at) {}
    p.signal(SIGKILL);
    auto exit = p.wait(10s);
    if (!exit.killed_by(SIGKILL)) ++other_endings;
    // The guardian (a descendant of this test process) finishes its teardown, leaf included, and
    // exits: once nothing is left, the leaf must be gone too.
    if (!await_no_survivors(5s)) {
      ++survived;
      kill_survivors();
    }
    auto leaves = cgroup_leaves_of({p.pid()});
    std::erase_if(leaves, [&](const std::string& leaf) {
      return std::find(before.begin(), before.end(), leaf) != before.end();
    });
    if (!leaves.empty()) {
      ++leaked;
      leaked_at << " " << i * kStepMicros << "us";
      remove_cgroup_leaves(leaves);
    }
  }
  MESSAGE(runs << " runs in " << ms(Clock::now() - began) << "ms");
  CHECK_MESSAGE(survived == 0, survived << " runs left processes behind");
  CHECK_MESSAGE(leaked == 0, leaked << " runs left their cgroup leaf, killed at:" << leaked_at.str());
  CHECK(other_endings == 0);
}
