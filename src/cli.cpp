#include "ctxrun/cli.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>

#include "ctxrun/log.h"
#include "ctxrun/signals.h"
#include "ctxrun/version.h"

namespace ctxrun {
namespace {

constexpr const char* kExamples = R"EX(Examples:
  ctxrun -t 90s make test          stop make and everything it started after 90 s
  ctxrun -d 2026-11-25T17:00:00Z -- ./nightly.sh
                                   stop at a wall-clock time
  ctxrun -t 5m -s INT -k 30s ./server
                                   SIGINT first, SIGKILL 30 s later if needed
  ctxrun --orphans=wait -t 1h ./spawns-daemons.sh
                                   wait for what the command leaves behind, up to 1 h
  ssh host ctxrun -t "$(ctxrun --remaining)" -- ./step.sh
                                   hand the rest of the inherited budget across ssh

Exit status: the command's own when it ends in time; 124 when the deadline passed; on a
cancelling signal (INT, TERM, HUP, QUIT) ctxrun dies of that signal after teardown; 125 when
ctxrun fails; 126 when the command cannot be run; 127 when it is not found.)EX";

template <typename T>
bool take(const std::variant<T, std::string>& parsed, T& into) {
  if (auto* error = std::get_if<std::string>(&parsed)) {
    log::error("{}", *error);
    return false;
  }
  into = std::get<T>(parsed);
  return true;
}

}  // namespace

std::variant<RunOptions, ExitNow> parse_command_line(int argc, char** argv) {
  CLI::App app{"Run a command under a deadline; when the deadline passes, a cancelling signal\n"
               "arrives or the command ends, tear down its whole process tree.",
               "ctxrun"};
  app.footer(kExamples);
  app.prefix_command();  // option parsing stops at the first operand: `ctxrun -t 5s ls -l`
  app.set_version_flag("--version", std::string("ctxrun ") + kVersion);

  std::string timeout, deadline, signal, kill_after, orphans = "kill", tree = "auto", report, format = "seconds";
  bool preserve = false, verbose = false, quiet = false, no_inherit = false, remaining = false;
  app.add_option("-t,--timeout", timeout,
                 "Deadline relative to now: Go (1h30m, 1.5s, 250ms) or GNU (90, 2.5m, 1d) "
                 "syntax; 0 or inf: none")->type_name("DURATION");
  app.add_option("-d,--deadline", deadline,
                 "Absolute deadline: RFC 3339 (2026-11-25T17:00:00Z) or @UNIXTIME; follows the "
                 "wall clock")->type_name("TIME");
  app.add_option("-s,--signal", signal,
                 "First signal of teardown on a deadline and for leftovers (default TERM): name or number; "
                 "on a cancel, the cancelling signal goes first")
      ->type_name("SIG");
  app.add_option("-k,--kill-after", kill_after, "Grace before SIGKILL (default 10s; 0: never)")
      ->type_name("DURATION");
  app.add_option("--orphans", orphans,
                 "Processes left behind when the command ends in time: kill (default), wait, leave")
      ->type_name("POLICY");
  app.add_flag("--preserve-status", preserve, "On a deadline, exit with the command's status, not 124");
  app.add_option("--tree", tree, "How the tree is tracked: auto (default), cgroup, subreaper, pgroup")
      ->type_name("BACKEND");
  app.add_flag("--no-inherit", no_inherit,
               "Ignore the deadline inherited in CTXRUN_DEADLINE (breaks the caller's budget on purpose)");
  app.add_flag("--remaining", remaining,
               "Print the time left of the inherited deadline (inf if none) and exit; no command");
  app.add_option("--format", format, "For --remaining: seconds (default, 12.345), ms (12345) or go (12.345s)")
      ->type_name("FORMAT");
  app.add_option("--report", report, "When ctxrun ends, write what happened as JSON to FILE (atomically)")
      ->type_name("FILE");
  app.add_flag("-v,--verbose", verbose, "Say what is done at each step");
  app.add_flag("-q,--quiet", quiet, "Print nothing but errors");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    // CLI11 2.1 has no usage() setter: name the operands in its usage line ourselves.
    std::string help = app.help();
    if (auto at = help.find("Usage: ctxrun [OPTIONS]"); at != std::string::npos)
      help.replace(at, 23, "Usage: ctxrun [OPTIONS] [--] COMMAND [ARG]...");
    std::fputs(help.c_str(), stdout);
    return ExitNow{0};
  } catch (const CLI::CallForVersion&) {
    std::printf("ctxrun %s\n", kVersion);
    return ExitNow{0};
  } catch (const CLI::ParseError& e) {
    log::error("{} (see 'ctxrun --help')", e.what());
    return ExitNow{125};
  }

  RunOptions options;
  options.command = app.remaining();
  if (!options.command.empty() && options.command.front() == "--") options.command.erase(options.command.begin());
  if (remaining && !options.command.empty()) {
    log::error("--remaining takes no command (see 'ctxrun --help')");
    return ExitNow{125};
  }
  if (!remaining && app.count("--format")) {
    log::error("--format applies to --remaining only");
    return ExitNow{125};
  }
  if (format != "seconds" && format != "ms" && format != "go") {
    log::error("invalid --format '{}' (seconds, ms or go)", format);
    return ExitNow{125};
  }
  if (options.command.empty() && !remaining) {
    log::error("missing command (see 'ctxrun --help')");
    return ExitNow{125};
  }
  if (const auto& first = options.command.empty() ? std::string() : options.command.front();
      first.size() > 1 && first[0] == '-' && app.remaining().front() != "--") {
    log::error("unknown option '{}' (see 'ctxrun --help')", first);
    return ExitNow{125};
  }
  if (verbose && quiet) {
    log::error("--verbose and --quiet exclude each other");
    return ExitNow{125};
  }
  options.verbosity = quiet ? Verbosity::quiet : verbose ? Verbosity::verbose : Verbosity::normal;
  log::configure("ctxrun", options.verbosity);

  if (app.count("--timeout")) {
    Duration d;
    if (!take(parse_duration(timeout), d)) return ExitNow{125};
    if (d.clamped) log::verbose("timeout '{}' is too large to represent: no deadline", timeout);
    if (!d.unbounded()) options.timeout = d.value;
    options.timeout_text = timeout;
  }
  if (app.count("--deadline")) {
    wall_time t;
    if (!take(parse_deadline(deadline), t)) return ExitNow{125};
    options.deadline = t;
    options.deadline_text = deadline;
  }
  if (app.count("--signal") && !take(parse_signal(signal), options.signal)) return ExitNow{125};
  if (app.count("--kill-after")) {
    Duration d;
    if (!take(parse_duration(kill_after), d)) return ExitNow{125};
    if (d.unbounded()) options.kill_after.reset();
    else options.kill_after = d.value;
  }
  if (orphans == "kill") options.orphans = OrphanPolicy::kill;
  else if (orphans == "wait") options.orphans = OrphanPolicy::wait;
  else if (orphans == "leave") options.orphans = OrphanPolicy::leave;
  else {
    log::error("invalid --orphans '{}' (kill, wait or leave)", orphans);
    return ExitNow{125};
  }
  if (tree == "auto") options.tree = TreeKind::automatic;
  else if (tree == "cgroup") options.tree = TreeKind::cgroup;
  else if (tree == "subreaper") options.tree = TreeKind::subreaper;
  else if (tree == "pgroup") options.tree = TreeKind::pgroup;
  else {
    log::error("invalid --tree '{}' (auto, cgroup, subreaper or pgroup)", tree);
    return ExitNow{125};
  }
  if (!no_inherit) {
    if (const char* inherited = std::getenv("CTXRUN_DEADLINE")) {
      wall_time t;
      auto parsed = parse_unix(inherited);
      if (std::holds_alternative<std::string>(parsed)) {
        log::error("invalid CTXRUN_DEADLINE '{}' (expected seconds since the epoch like 1764090000.25; "
                   "--no-inherit ignores it)", inherited);
        return ExitNow{125};
      }
      t = std::get<wall_time>(parsed);
      options.inherited_deadline = t;
      options.inherited_text = inherited;
    }
  }
  options.preserve_status = preserve;
  options.report_path = report;
  options.remaining = remaining;
  options.remaining_format = format;
  return options;
}

}  // namespace ctxrun
