#include "ctxrun/announce.h"

#include "ctxrun/log.h"

namespace ctxrun {
namespace {

std::string torn_down(const Outcome& outcome) {
  if (!outcome.command_started) return "command not run";
  int n = outcome.processes_torn_down;
  return fmt::format("{} process{} torn down", n, n == 1 ? "" : "es");
}

}  // namespace

void announce(const Outcome& outcome) {
  switch (outcome.ending) {
    case Ending::deadline_exceeded:
      if (!outcome.command_started)
        log::notice("context deadline exceeded ({} had already passed): command not run", outcome.cause);
      else
        log::notice("context deadline exceeded ({}): {}", outcome.cause, torn_down(outcome));
      break;
    case Ending::canceled:
      log::notice("context canceled ({}): {}", outcome.cause, torn_down(outcome));
      break;
    case Ending::error:
      log::error("{}", outcome.error);
      break;
    case Ending::exited:
    case Ending::signaled:
      break;
  }
  if (!outcome.survivors.empty())
    log::error("{} process{} of the tree survived teardown", outcome.survivors.size(),
               outcome.survivors.size() == 1 ? "" : "es");
}

}  // namespace ctxrun
