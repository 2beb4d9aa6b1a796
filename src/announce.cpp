#include "announce.h"

#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "log.h"

namespace ctxrun {
namespace {

std::string torn_down(const Outcome& outcome) {
  if (!outcome.command_started && outcome.services.empty()) return "command not run";
  int n = outcome.processes_torn_down;
  return fmt::format("{} process{} torn down{}", n, n == 1 ? "" : "es",
                     outcome.command_started ? "" : ", command not run");
}

}  // namespace

namespace {

// Under GitHub Actions, a workflow command on stdout puts the reason in the run's summary.
void annotate(const Outcome& outcome) {
  const char* actions = std::getenv("GITHUB_ACTIONS");
  if (!actions || std::string_view(actions) != "true") return;
  if (outcome.ending != Ending::deadline_exceeded && outcome.ending != Ending::canceled) return;
  const char* what = outcome.ending == Ending::canceled ? "context canceled" : "context deadline exceeded";
  std::string line = fmt::format("::error title=ctxrun: {}::{} ({}): {}\n", what, what, outcome.cause,
                                 torn_down(outcome));
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fflush(stdout);
}

}  // namespace

void announce(const Outcome& outcome) {
  annotate(outcome);
  switch (outcome.ending) {
    case Ending::deadline_exceeded:
      if (!outcome.command_started && outcome.services.empty() && outcome.probes.empty())
        log::notice("context deadline exceeded ({} had already passed): command not run", outcome.cause);
      else log::notice("context deadline exceeded ({}): {}", outcome.cause, torn_down(outcome));
      break;
    case Ending::canceled: log::notice("context canceled ({}): {}", outcome.cause, torn_down(outcome)); break;
    case Ending::error: log::error("{}", outcome.error); break;
    case Ending::service_failed: log::error("{}: {}", outcome.cause, torn_down(outcome)); break;
    case Ending::exited:
    case Ending::signaled: break;
  }
  for (const auto& p : outcome.survivors)
    log::error("process {} ({}) survived teardown (state {})", p.pid, log::one_line(p.name), p.state);
  if (!outcome.survivors.empty())
    log::error("{} process{} of the tree survived teardown", outcome.survivors.size(),
               outcome.survivors.size() == 1 ? "" : "es");
}

}  // namespace ctxrun
