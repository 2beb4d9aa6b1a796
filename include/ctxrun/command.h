// Command: one command run under a context, in the way of Go's exec.CommandContext, and its whole
// process tree torn down when the context ends.
//
//   auto ctx = ctxrun::with_timeout(ctxrun::background(), std::chrono::minutes(10), "timeout 10m");
//   ctxrun::Outcome out = ctxrun::run_command(ctx, {.argv = {"make", "test"}});
//   if (out.ending == ctxrun::Ending::deadline_exceeded) ...
//
// run_command is the library face of the ctxrun tool: the same runner, the same tree
// backends, the same teardown. What to do when the context ends is data (StopPolicy), as Go's
// Cmd.Cancel and Cmd.WaitDelay are.
//
// It is not a general process API, and deliberately so: to reach every process of the tree and
// lose no signal, it takes over process-wide state while it runs (signal handling, reaping, the
// subreaper flag; run_command's comment lists it all). Hence at most one run at a time per process,
// and rules for the caller's other threads and children. What it does not do: capture output,
// set the environment or the working directory (the command inherits the caller's, and its
// stdin, stdout and stderr); start a guardian that finishes the teardown if the caller is
// killed (the ctxrun tool does).
#pragma once

#include <signal.h>

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "ctxrun/context.h"
#include "ctxrun/outcome.h"

namespace ctxrun {

// What happens to processes the command leaves behind when it exits before the context ends.
enum class OrphanPolicy {
  kill,   // torn down like the tree on a deadline: the context's scope has ended
  wait,   // waited for, still bounded by the deadline
  leave,  // left running; ctxrun exits at once
};

// How the process tree is tracked: automatic takes the strongest backend that works here (a cgroup
// v2 leaf, then the child subreaper, then the process group); the ctxrun(1) manual explains each.
enum class TreeKind { automatic, cgroup, subreaper, pgroup };

// What teardown does to the tree: Go's Cmd.Cancel and Cmd.WaitDelay as data.
struct StopPolicy {
  // The first signal, sent once to every process of the tree, followed by SIGCONT (a stopped
  // process must see it). SIGKILL skips straight to the kill phase. Must be a valid signal number.
  int signal = SIGTERM;
  // How long the tree has, after the first signal, to end before SIGKILL sweeps it. Zero or
  // negative: SIGKILL at once. nullopt: never SIGKILL; the run waits as long as the tree lives,
  // unless a second cancelling signal reaches the process.
  std::optional<std::chrono::nanoseconds> grace = std::chrono::seconds(10);
};

// A service the command needs (a server its tests talk to): started before the command, under the
// same context, in the same tree, and torn down with everything else (Command::services).
struct Service {
  // Names it in messages, the report and --label's prefix. Must not be empty.
  std::string name;
  // Run through `sh -c`.
  std::string command;
};

// When the services are ready (Command::ready): every probe has succeeded once.
struct Readiness {
  // "tcp://HOST:PORT", "http://...", "https://...", "unix:///path", "file:///path", "exec:CMD"
  // (ctxrun(1), SERVICES). Empty: the command starts as soon as the services are spawned.
  std::vector<std::string> probes;
  // How long the probes may take in all; then the run ends as DeadlineExceeded with the cause
  // "ready timeout LIMIT_TEXT: PROBE (its last error)". Always bounded by the context too.
  std::chrono::nanoseconds limit = std::chrono::minutes(5);
  std::string limit_text = "5m";
  // HTTP(S) probes: ready on exactly this status; nullopt: on any 2xx or 3xx.
  std::optional<long> http_status;
};

// One command and how to run it. Build it with designated initializers.
struct Command {
  // The command and its arguments; argv[0] is looked up in PATH unless it contains a '/'. Must not
  // be empty.
  std::vector<std::string> argv;
  StopPolicy stop;
  // What happens to processes the command leaves behind when it exits before the context ends.
  OrphanPolicy orphans = OrphanPolicy::kill;
  // How the tree is tracked; automatic takes the strongest backend that works.
  TreeKind tree = TreeKind::automatic;
  // When this run is itself inside a ctxrun run (the ctxrun tool fills it in from CTXRUN_RUN_ID
  // and CTXRUN_DEADLINE; a library caller normally leaves it empty).
  struct Enclosing {
    // The enclosing ctxrun's pid: a cancelling signal sent by it stops the tree by `stop`, as a
    // parent context cancels a child whose own policy decides how its work stops; the cause says
    // "from the enclosing ctxrun".
    std::optional<pid_t> pid;
    // The deadline shared with it: a cancelling signal within moments of it is the enclosing run's
    // teardown of that same deadline, and the run ends as DeadlineExceeded.
    std::optional<wall_time> shared_deadline;
  } enclosing;
  // Hears each step of the run, one line each (what the ctxrun tool prints with -v). Empty: the
  // run says nothing; the library never writes to the caller's stdout or stderr unless asked to
  // below (the heartbeat).
  std::function<void(const std::string&)> trace;
  // The CI step guard. Either option relays the tree's stdout and stderr through the process
  // (byte-exact; see the ctxrun(1) manual), to know when output last came.
  struct Watch {
    // No byte on stdout or stderr for this long ends the run as DeadlineExceeded, with the cause
    // "no output for IDLE_TEXT". Zero or nullopt: no such limit.
    std::optional<std::chrono::nanoseconds> idle;
    std::string idle_text;
    // After this long without output (and again each time it passes), one line on stderr:
    // "ctxrun: still running: CMD (ELAPSED elapsed, no output for SILENCE, N processes)".
    std::optional<std::chrono::nanoseconds> heartbeat;
  } watch;
  // What happens when the run ends by a deadline or by idleness, before the first stop signal.
  struct BeforeStop {
    // Each process of the tree, one line each, to `diagnostics`: pid, ppid, state, wchan, age, command.
    bool describe_tree = false;
    // Run through `sh -c`, with CTXRUN_PIDS, CTXRUN_MAIN_PID and (cgroup backend) CTXRUN_CGROUP,
    // outside the tree, its output on stderr, for at most hook_limit.
    std::optional<std::string> hook;
    std::chrono::nanoseconds hook_limit = std::chrono::seconds(30);
    // Sent to the command alone (a JVM prints its threads on SIGQUIT); then up to dump_wait for it
    // to exit before the teardown.
    std::optional<int> dump_signal;
    std::chrono::nanoseconds dump_wait = std::chrono::seconds(5);
  } before_stop;
  // Hears the tree description (BeforeStop::describe_tree), one line each.
  std::function<void(const std::string&)> diagnostics;
  // The command's stdin is /dev/null instead of the caller's (a retried attempt: the first one may
  // have read the caller's stdin to its end).
  bool stdin_null = false;
  // Services under the same context (Go's errgroup.WithContext): started first, in order; the
  // command starts once `ready`'s probes have all succeeded. A service that ends on its own (any
  // status) before the command ends cancels the run (Ending::service_failed); when the command
  // ends, the services are torn down with the rest of the tree (OrphanPolicy::kill; the other
  // policies are refused with services), which is never a failure.
  std::vector<Service> services;
  Readiness ready;
  // Each line a service writes on stdout or stderr comes out prefixed with "[NAME] " (the output
  // then passes through the process, as for Command::watch).
  bool label_services = false;
};

// The signals run_command takes over while it runs: SIGINT, SIGTERM, SIGHUP and SIGQUIT end the
// run as canceled; SIGUSR1 and SIGUSR2 are passed on to the command; SIGCHLD says a child ended.
inline constexpr int kCommandSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGCHLD};

// Blocks kCommandSignals in the calling thread; threads created afterwards inherit the mask. A
// program with threads besides the one that calls run_command calls it early in main, before it
// starts any: a signal mask is per thread, and a thread that does not block them could take a
// signal meant for the run (see run_command). The command does not inherit the block. Returns 0,
// or the errno. Affects only the calling thread; safe to call from any thread, any number of times.
int block_command_signals() noexcept;

// Runs cmd.argv under a child of `ctx` and returns when the command and every process it started
// are gone (except under OrphanPolicy::leave), with what happened:
//
//  - Ending::exited, Ending::signaled: the command ended on its own before `ctx` was done;
//    Outcome::command_status is its wait status. Under OrphanPolicy::kill, what it left behind was
//    torn down by cmd.stop before the return.
//  - Ending::deadline_exceeded, Ending::canceled: `ctx` was done first, and the tree was torn down
//    by cmd.stop; Outcome::cause is ctx->cause() ("timeout 2s"), Outcome::cancel_signal 0. If `ctx`
//    is done already, nothing is started (Outcome::command_started is false).
//    Ending::canceled also when SIGINT, SIGTERM, SIGHUP or SIGQUIT reached the process, as with the
//    ctxrun tool: Outcome::cancel_signal and the first teardown signal are that signal, the cause
//    its name ("SIGTERM"); a second one during the grace period sends SIGKILL at once.
//  - Ending::error: the run could not be made; Outcome::error says why (argv empty, no context,
//    a bad stop signal, another run_command running, no signalfd, no tree backend, the command
//    could not be started: Outcome::spawn_exit is then 126 if it was found but could not be
//    executed, 127 if it was not found).
//
// Outcome::teardown and Outcome::processes_torn_down say what teardown did; Outcome::survivors
// lists the processes still there 10 s after the first SIGKILL
// (uninterruptible sleep), whatever the ending. Never throws. Never cancels `ctx`: what cancels
// the run (a signal) cancels a child of it.
//
// Process-wide effects, for the duration of the call; all are put back before it returns:
//  - Signals. kCommandSignals are blocked in the calling thread and read from a signalfd (no
//    handler runs). A cancelling signal that reaches the process is consumed by the run: it ends
//    the run as canceled and does not also reach the caller's own handler. A signal the process
//    ignored when the call began stays ignored. Every other thread must block kCommandSignals
//    (block_command_signals): the kernel may hand a signal to any thread that does not, and then a
//    cancel is lost, and a SIGCHLD lost means the command's end is noticed only when `ctx` ends.
//    The caller must not change these signals' handling while the call runs. On return the calling
//    thread's mask and the signals' dispositions are as they were; a signal that arrived after the
//    run ended is then delivered as they say.
//  - Children. Every child of the process that ends during the call is reaped by it, and with the
//    subreaper backend every descendant of the process counts as part of the tree: the process
//    must have no other children while run_command runs.
//  - The process is a child subreaper during the call, so that orphans of the tree re-parent to it.
//    Processes left running under OrphanPolicy::leave stay its children: the caller reaps them.
//  - Messages: none. What happened is in the Outcome (survivors included); cmd.trace hears each step.
//
// The command inherits the caller's environment, plus CTXRUN_DEADLINE (ctx->deadline() as Unix
// time) when `ctx` has a deadline; its signal mask is the calling thread's without
// kCommandSignals; signals the process ignores stay ignored in it; its stdin, stdout and stderr
// are the caller's; descriptors the caller opened without close-on-exec are inherited, none the
// library opened. Its parent-death signal is SIGKILL: if the calling process is killed, the
// command dies with it, but what the command started may not (the library has no guardian).
//
// Thread-safety: callable from any thread, but at most one run_command runs at a time in a
// process: a call made while another is running returns at once with Ending::error. `ctx` may be
// cancelled from any thread while the call runs.
Outcome run_command(ContextPtr ctx, const Command& cmd) noexcept;

// The exit status a shell-like caller reports for `outcome`, as the ctxrun tool does (outcome.h's
// plan_exit without --preserve-status): the command's status N when it exited; 128+S when it died
// of signal S on its own; 124 when the deadline passed; 128+S when signal S cancelled the run;
// 125 for errors and survivors, 126 and 127 when the command could not be executed or found. A run
// canceled through `ctx` (no signal) gives the command's status as a shell shows it (N, or 128+S
// for the stop signal S that ended it), or 125 if it was never started. Pure: the same outcome
// always gives the same status.
int exit_status(const Outcome& outcome) noexcept;

}  // namespace ctxrun
