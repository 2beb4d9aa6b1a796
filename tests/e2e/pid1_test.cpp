// ctxrun as PID 1 of a new PID namespace, as a container's entrypoint: it reaps every orphan, and
// a cancelling signal ends it with 128+N (PID 1 cannot die of a signal it handles).
#include <doctest/doctest.h>

#include <fstream>

#include "harness.h"

using namespace e2e;

namespace {

bool namespaces_available() {
  static const bool ok = [] {
    auto exit = run(Spec{.args = {"--pid", "--fork", "--mount-proc", "true"}, .argv0 = "/usr/bin/unshare"});
    if (!exit.exited(0)) MESSAGE("SKIPPED: cannot make a PID namespace here (unshare: " << exit.err << ")");
    return exit.exited(0);
  }();
  return ok;
}

// The pid (in our namespace) of the only child of `parent`.
pid_t only_child(pid_t parent) {
  std::ifstream in("/proc/" + std::to_string(parent) + "/task/" + std::to_string(parent) + "/children");
  pid_t child = 0;
  in >> child;
  return child;
}

}  // namespace

TEST_CASE("PID 1: a cancelling signal tears the tree down and exits 128+N") {
  if (!namespaces_available()) return;
  NoSurvivors guard;
  Process p(Spec{.args = {"--pid", "--fork", "--mount-proc", kCtxrun, "-t", "60s", kHelper, "tree", "3", "3"},
                 .argv0 = "/usr/bin/unshare"});
  p.await_ready();
  pid_t ctxrun = only_child(p.pid());
  REQUIRE(ctxrun > 0);
  REQUIRE(::kill(ctxrun, SIGTERM) == 0);
  auto exit = p.wait();
  CHECK_MESSAGE(exit.exited(128 + SIGTERM), exit.describe());
  CHECK(exit.err == "ctxrun: context canceled (SIGTERM): 4 processes torn down\n");
  CHECK(p.report_eof(5s));
}

TEST_CASE("PID 1: every orphan re-parented to ctxrun is reaped") {
  if (!namespaces_available()) return;
  NoSurvivors guard;
  // With --orphans=wait ctxrun ends only when it has no child left: a zombie it failed to reap
  // would keep it waiting until the test's time limit.
  auto exit = run(Spec{.args = {"--pid", "--fork", "--mount-proc", kCtxrun, "-v", "--orphans=wait", "-t", "60s",
                                kHelper, "orphans", "100", "3"},
                       .argv0 = "/usr/bin/unshare"});
  CHECK_MESSAGE(exit.exited(0), exit.describe());
  CHECK(exit.err.find("reaped 100 orphaned processes besides the command") != std::string::npos);
}
