// run_with_timeout: ctxrun as a library, in two runs that check themselves.
//
//  1. `sh -c 'sleep 5 & sleep 5'` under a 500 ms timeout: the run must end as deadline_exceeded,
//     with the shell and both sleeps torn down (not only the direct child, as with kill()).
//  2. A command whose context another thread cancels once it is running: the run must end as
//     canceled, with the cause given to cancel().
//
// Prints each outcome; exits 0 only if both runs ended as they must, 1 otherwise.
#include <ctxrun/command.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

using namespace std::chrono_literals;

namespace {

const char* name(ctxrun::Ending ending) {
  switch (ending) {
    case ctxrun::Ending::exited: return "exited";
    case ctxrun::Ending::signaled: return "signaled";
    case ctxrun::Ending::deadline_exceeded: return "deadline exceeded";
    case ctxrun::Ending::canceled: return "canceled";
    case ctxrun::Ending::error: return "error";
  }
  return "?";
}

void print(const char* what, const ctxrun::Outcome& out) {
  std::printf("%s: %s (%s), %d processes torn down, exit status %d%s%s\n", what, name(out.ending), out.cause.c_str(),
              out.processes_torn_down, ctxrun::exit_status(out), out.error.empty() ? "" : ": ", out.error.c_str());
}

bool check(bool ok, const char* what) {
  if (!ok) std::printf("FAILED: %s\n", what);
  return ok;
}

}  // namespace

int main() {
  // First thing, before any thread starts: threads inherit the mask, and must not take the signals
  // a run reads (command.h). The commands themselves do not inherit it.
  if (ctxrun::block_command_signals() != 0) return 1;
  bool ok = true;

  // 1. A deadline, and a tree of three processes.
  auto ctx = ctxrun::with_timeout(ctxrun::background(), 500ms, "timeout 500ms");
  ctxrun::Outcome timed_out = ctxrun::run_command(ctx, {.argv = {"sh", "-c", "sleep 5 & sleep 5"}});
  print("sleep 5 & sleep 5 under timeout 500ms", timed_out);
  ok &= check(timed_out.ending == ctxrun::Ending::deadline_exceeded, "the run ends as deadline exceeded");
  ok &= check(timed_out.cause == "timeout 500ms", "the cause is the timeout's");
  ok &= check(timed_out.processes_torn_down >= 2, "the whole tree is torn down, not only the shell");
  ok &= check(ctxrun::exit_status(timed_out) == 124, "exit status 124, as timeout(1)");

  // 2. A cancel from another thread, once the command says it is running. The command writes to
  //    a pipe it inherits; the thread waits for that line, then cancels.
  int ready[2];
  if (pipe(ready) != 0) return 1;
  auto parent = ctxrun::with_cancel(ctxrun::background());
  std::thread canceller([&] {
    char line[16];
    if (read(ready[0], line, sizeof line) > 0) parent->cancel("canceled by another thread");
  });
  std::string script = "echo running >&" + std::to_string(ready[1]) + "; exec sleep 60";
  ctxrun::Outcome canceled = ctxrun::run_command(parent, {.argv = {"sh", "-c", script}, .stop = {.grace = 5s}});
  close(ready[1]);  // the command is gone: EOF ends the thread's read if the line never came
  canceller.join();
  close(ready[0]);
  print("sleep 60, canceled from another thread", canceled);
  ok &= check(canceled.ending == ctxrun::Ending::canceled, "the run ends as canceled");
  ok &= check(canceled.cause == "canceled by another thread", "the cause is the one given to cancel()");
  ok &= check(canceled.command_started && canceled.processes_torn_down >= 1, "the running command is torn down");

  std::printf("%s\n", ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}
