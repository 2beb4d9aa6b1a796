// ctxrun_help_gen: prints ctxrun's --help, rendered by CLI11 from the declarations of the options
// below, as a C++ header (help_text.inc, kHelpText) that cli.cpp prints. Run at build time, so that
// ctxrun itself does not link CLI11: declaring ~55 options was most of a run's start-up, and
// CLI11's <iostream> starts the C++ locale machinery at every run (docs/benchmarks.md, issue 15).
//
// The option names and which take a value are cli.cpp's kOptions; tests/e2e/manual_test.cpp and
// the shipping tests hold this text, the man page, the completions and the parser to each other.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>
#include <vector>

#include "ctxrun/version.h"

namespace {

constexpr const char* kExamples = R"EX(Examples:
  ctxrun -t 90s make test          stop make and everything it started after 90 s
  ctxrun -d 2026-11-25T17:00:00Z -- ./nightly.sh
                                   stop at a wall-clock time
  ctxrun -t 5m -s INT -k 30s ./server
                                   SIGINT first, SIGKILL 30 s later if needed
  ctxrun --orphans=wait -t 1h ./spawns-daemons.sh
                                   wait for what the command leaves behind, up to 1 h
  ctxrun -t 10m --with 'web=npm start' --ready http://localhost:3000/ -- npm test
                                   start a server, wait until it answers, test, tear it down
  ssh host ctxrun -t "$(ctxrun --remaining)" -- ./step.sh
                                   hand the rest of the inherited budget across ssh
  ctxrun -t 1h --trace-file "$PWD/trace.jsonl" ./ci.sh
                                   one OpenTelemetry span per run, nested runs included

Exit status: the command's own when it ends in time; 124 when the deadline passed; on a
cancelling signal (INT, TERM, HUP, QUIT) ctxrun dies of that signal after teardown; 125 when
ctxrun fails; 126 when the command cannot be run; 127 when it is not found.)EX";

// The options, as --help shows them: their names, value names and one line each. The variables
// only give CLI11 something to bind.
void declare(CLI::App& app) {
  // One variable of each kind is enough: nothing is parsed here.
  std::string text;
  std::vector<std::string> list;
  bool flag = false;
  app.add_option("-t,--timeout", text,
                 "Deadline relative to now: Go (1h30m, 1.5s, 250ms) or GNU (90, 2.5m, 1d) "
                 "syntax; 0 or inf: none")
      ->type_name("DURATION");
  app.add_option("-d,--deadline", text,
                 "Absolute deadline: RFC 3339 (2026-11-25T17:00:00Z) or @UNIXTIME; follows the "
                 "wall clock")
      ->type_name("TIME");
  app.add_option("-s,--signal", text,
                 "First signal of teardown on a deadline and for leftovers (default TERM): name or number; "
                 "on a cancel, the cancelling signal goes first")
      ->type_name("SIG");
  app.add_option("-k,--kill-after", text, "Grace before SIGKILL (default 10s; 0: never)")->type_name("DURATION");
  app.add_option("--orphans", text, "Processes left behind when the command ends in time: kill (default), wait, leave")
      ->type_name("POLICY");
  app.add_flag("--preserve-status", flag, "On a deadline, exit with the command's status, not 124");
  app.add_option("--tree", text, "How the tree is tracked: auto (default), cgroup, subreaper, pgroup")
      ->type_name("BACKEND");
  app.add_flag("--no-inherit", flag,
               "Ignore the deadline inherited in CTXRUN_DEADLINE (breaks the caller's budget on purpose)");
  app.add_flag("--remaining", flag, "Print the time left of the inherited deadline (inf if none) and exit; no command");
  app.add_option("--format", text, "For --remaining: seconds (default, 12.345), ms (12345) or go (1m2.5s)")
      ->type_name("FORMAT");
  app.add_option("--report", text, "When ctxrun ends, write what happened as JSON to FILE (atomically)")
      ->type_name("FILE");
  app.add_option("--idle,--no-output-timeout", text,
                 "Also end (as a deadline: 124) after this long without a byte on the command's stdout or "
                 "stderr; relays its output")
      ->type_name("DURATION");
  app.add_option("--heartbeat", text,
                 "After this long without output, say on stderr that the command is still running; relays its "
                 "output")
      ->type_name("DURATION");
  app.add_flag("--diagnose", flag, "On a deadline or idleness, print the tree (state, wchan, age) before teardown");
  app.add_option("--on-expire", text,
                 "On a deadline or idleness, run CMD (sh -c; CTXRUN_PIDS, CTXRUN_MAIN_PID, CTXRUN_CGROUP) before "
                 "teardown")
      ->type_name("CMD");
  app.add_option("--on-expire-timeout", text, "How long --on-expire may run (default 30s)")->type_name("DURATION");
  app.add_option("--dump-signal", text,
                 "On a deadline or idleness, send SIG to the command alone first and wait up to DURATION "
                 "(default 5s) for it, e.g. QUIT for a JVM's thread dump")
      ->type_name("SIG[:DURATION]");
  app.add_option("--attempts", text, "Run the command up to N times, until it succeeds (default 1)")->type_name("N");
  app.add_option("--attempt-timeout", text, "Each attempt's own deadline, within the run's")->type_name("DURATION");
  app.add_option("--retry-on", text,
                 "What is retried: failure (default), or exit:N[,N...], timeout, idle, signal, comma-separated")
      ->type_name("LIST");
  app.add_option("--retry-delay", text, "Delay before the second attempt (default 1s)")->type_name("DURATION");
  app.add_option("--retry-backoff", text, "Each delay is the last one times FACTOR (default 2)")->type_name("FACTOR");
  app.add_option("--retry-max-delay", text, "Longest delay (default 60s)")->type_name("DURATION");
  app.add_option("--retry-jitter", text, "full (default: each delay random up to its value) or none")
      ->type_name("MODE");
  app.add_option("--on-retry", text, "Run CMD (sh -c) between attempts, after the teardown")->type_name("CMD");
  app.add_option("--with", list,
                 "Start CMD (sh -c) first, as a service the command needs, under the same context; it is torn "
                 "down with everything, and its own end cancels the run (repeatable)")
      ->type_name("[NAME=]CMD");
  app.add_option("--ready", list,
                 "Start the command once PROBE succeeds: tcp://HOST:PORT, http(s)://URL, unix:///PATH, "
                 "file:///PATH or exec:CMD (repeatable: all of them)")
      ->type_name("PROBE");
  app.add_option("--ready-timeout", text, "How long the probes may take (default 5m; then 124)")->type_name("DURATION");
  app.add_option("--ready-status", text, "HTTP(S) probes are ready on this status only (default: 2xx, 3xx)")
      ->type_name("N");
  app.add_flag("--label", flag, "Prefix each line of a service's output with [NAME]");
  app.add_option("--trace-file", text,
                 "Append this run's OpenTelemetry span to FILE (OTLP/JSON, one line); nested runs inherit it "
                 "(CTXRUN_TRACE_FILE) and TRACEPARENT links them")
      ->type_name("FILE");
  app.add_flag("--trace-argv", flag, "Put the whole command line in the span (arguments can hold secrets)");
  app.add_option("--value", list,
                 "Hand the command a request-scoped value in BAGGAGE (W3C); repeatable; read with --value-of")
      ->type_name("KEY=VALUE");
  app.add_option("--value-of", text, "Print the value of KEY from the inherited BAGGAGE and exit; no command")
      ->type_name("KEY");
  app.add_flag("-v,--verbose", flag, "Say what is done at each step");
  app.add_flag("-q,--quiet", flag, "Print nothing but errors");
}

}  // namespace

int main() {
  CLI::App app{
      "Run a command under a deadline; when the deadline passes, a cancelling signal\n"
      "arrives or the command ends, tear down its whole process tree.",
      "ctxrun"};
  app.footer(kExamples);
  app.set_version_flag("--version", std::string("ctxrun ") + ctxrun::kVersion);
  declare(app);
  // CLI11 2.1 has no usage() setter: name the operands in its usage line ourselves.
  std::string help = app.help();
  if (auto at = help.find("Usage: ctxrun [OPTIONS]"); at != std::string::npos)
    help.replace(at, 23, "Usage: ctxrun [OPTIONS] [--] COMMAND [ARG]...");
  if (help.find(")CTXRUN_HELP") != std::string::npos) return 1;  // cannot be a raw string's body
  std::printf(
      "// Generated by ctxrun_help_gen (src/help_gen.cpp) at build time: do not edit.\n"
      "inline constexpr const char* kHelpText = R\"CTXRUN_HELP(%s)CTXRUN_HELP\";\n",
      help.c_str());
  return std::fflush(stdout) == 0 && !std::ferror(stdout) ? 0 : 1;
}
