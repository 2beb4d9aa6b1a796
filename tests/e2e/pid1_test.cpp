// ctxrun as PID 1 of a new PID namespace, as a container's entrypoint: it reaps every orphan, and
// a cancelling signal ends it with 128+N (PID 1 cannot die of a signal it handles).
#include <doctest/doctest.h>

#include "contained.h"
#include "harness.h"

using namespace e2e;

TEST_CASE("PID 1: a cancelling signal tears the tree down and exits 128+N") {
  if (!pid_namespaces()) return;
  NoSurvivors guard;
  Process p(Spec{.args = {"--pid", "--fork", "--mount-proc", kCtxrun, "-t", "60s", kHelper, "tree", "3", "3"},
                 .argv0 = "/usr/bin/unshare"});
  p.await_ready();
  pid_t ctxrun = first_child(p.pid());
  REQUIRE(ctxrun > 0);
  REQUIRE(::kill(ctxrun, SIGTERM) == 0);
  auto exit = p.wait();
  CHECK_MESSAGE(exit.exited(128 + SIGTERM), exit.describe());
  CHECK(exit.err == "ctxrun: context canceled (SIGTERM): 4 processes torn down\n");
  CHECK(p.report_eof(5s));
}

TEST_CASE("PID 1: every orphan re-parented to ctxrun is reaped") {
  if (!pid_namespaces()) return;
  NoSurvivors guard;
  // With --orphans=wait ctxrun ends only when it has no child left: a zombie it failed to reap
  // would keep it waiting until the test's time limit.
  auto exit = run(Spec{.args = {"--pid", "--fork", "--mount-proc", kCtxrun, "-v", "--orphans=wait", "-t", "60s",
                                kHelper, "orphans", "100", "3"},
                       .argv0 = "/usr/bin/unshare"});
  CHECK_MESSAGE(exit.exited(0), exit.describe());
  CHECK(exit.err.find("reaped 100 orphaned processes besides the command") != std::string::npos);
}
