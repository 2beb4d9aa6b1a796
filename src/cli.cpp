#include "cli.h"

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string_view>

#include "baggage.h"
#include "ctxrun/signals.h"
#include "ctxrun/version.h"
#include "json_string.h"
#include "log.h"
#include "probe.h"
#include "probe_set.h"

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
  ctxrun -t 10m --with 'web=npm start' --ready http://localhost:3000/ -- npm test
                                   start a server, wait until it answers, test, tear it down
  ssh host ctxrun -t "$(ctxrun --remaining)" -- ./step.sh
                                   hand the rest of the inherited budget across ssh
  ctxrun -t 1h --trace-file "$PWD/trace.jsonl" ./ci.sh
                                   one OpenTelemetry span per run, nested runs included

Exit status: the command's own when it ends in time; 124 when the deadline passed; on a
cancelling signal (INT, TERM, HUP, QUIT) ctxrun dies of that signal after teardown; 125 when
ctxrun fails; 126 when the command cannot be run; 127 when it is not found.)EX";

// Options as getopt_long reads them. CLI11 alone would take `--timeout=` (an empty attached value)
// as "no value" and eat the next argument as the value, and says what is wrong in its own words;
// this pass reads argv exactly as getopt_long("+...") does (options end at the first operand or
// "--"; "-tVALUE", "-t VALUE", "--timeout=VALUE", "--timeout VALUE"; short flags may be grouped),
// rejects what ctxrun does not take, and gives each option with its value, by its long name. CLI11
// declares the options and prints --help from them (parse_command_line).
struct OptionSpec {
  char short_name;  // 0 if none
  const char* long_name;
  bool takes_value;
  bool repeatable = false;  // each occurrence adds a value (--with, --ready, --value), rather than being refused
};

constexpr OptionSpec kOptions[] = {
    {'t', "timeout", true},         {'d', "deadline", true},   {'s', "signal", true},      {'k', "kill-after", true},
    {0, "orphans", true},           {0, "tree", true},         {0, "format", true},        {0, "report", true},
    {0, "preserve-status", false},  {0, "no-inherit", false},  {0, "remaining", false},    {'v', "verbose", false},
    {'q', "quiet", false},          {'h', "help", false},      {0, "version", false},      {0, "idle", true},
    {0, "no-output-timeout", true}, {0, "heartbeat", true},    {0, "diagnose", false},     {0, "on-expire", true},
    {0, "on-expire-timeout", true}, {0, "dump-signal", true},  {0, "attempts", true},      {0, "attempt-timeout", true},
    {0, "retry-on", true},          {0, "retry-delay", true},  {0, "retry-backoff", true}, {0, "retry-max-delay", true},
    {0, "retry-jitter", true},      {0, "on-retry", true},     {0, "trace-file", true},    {0, "trace-argv", false},
    {0, "value", true, true},       {0, "value-of", true},     {0, "with", true, true},    {0, "ready", true, true},
    {0, "ready-timeout", true},     {0, "ready-status", true}, {0, "label", false},
};

struct Scanned {
  // Each option given, in order: its long name (an alias as the option it names) and its value
  // ("" for a flag).
  std::vector<std::pair<std::string, std::string>> given;
  std::vector<std::string> operands;  // the command
  std::string report_path;            // --report, once read
  std::string error;                  // the usage error, "" if none
  bool help = false, version = false;
  bool has(std::string_view name) const {
    return std::any_of(given.begin(), given.end(), [&](const auto& g) { return g.first == name; });
  }
};

// The marks a token may hold besides letters and digits (RFC 9110), for messages.
constexpr const char* kTokenMarks = "!#$%&'*+-.^_`|~";

std::string usage_error(std::string_view what) { return fmt::format("{} (see 'ctxrun --help')", what); }

Scanned scan(int argc, char** argv) {
  Scanned out;
  // Records one option; false (with out.error set) if it cannot be taken.
  auto take = [&](const OptionSpec& spec, std::optional<std::string_view> value) {
    // --no-output-timeout is another name for --idle.
    std::string canonical = std::string_view(spec.long_name) == "no-output-timeout" ? "idle" : spec.long_name;
    std::string name = "--" + canonical;
    if (spec.takes_value && !spec.repeatable && out.has(canonical)) {
      // A second value is refused rather than silently replacing the first: a second --timeout
      // that lengthened a budget a wrapper script had set would be the worst surprise here.
      out.error = usage_error(name + " given twice");
      return false;
    }
    if (spec.takes_value && value->empty()) {
      out.error = usage_error("empty value for " + name);
      return false;
    }
    if (spec.short_name == 'h') out.help = true;
    if (canonical == "version") out.version = true;
    if (canonical == "report") out.report_path = *value;
    out.given.emplace_back(std::move(canonical), spec.takes_value ? std::string(*value) : std::string());
    return true;
  };
  int i = 1;
  for (; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--") {
      ++i;
      break;
    }
    if (arg.size() < 2 || arg[0] != '-') break;  // the first operand ("-" is one)
    if (arg[1] == '-') {
      auto eq = arg.find('=');
      std::string_view name = arg.substr(2, eq == std::string_view::npos ? std::string_view::npos : eq - 2);
      const OptionSpec* spec = nullptr;
      for (const auto& o : kOptions)
        if (name == o.long_name) spec = &o;
      if (!spec) {
        out.error = usage_error(fmt::format("unknown option '--{}'", name));
        return out;
      }
      std::optional<std::string_view> value;
      if (eq != std::string_view::npos) {
        if (!spec->takes_value) {
          out.error = usage_error(fmt::format("--{} takes no value", name));
          return out;
        }
        value = arg.substr(eq + 1);
      } else if (spec->takes_value) {
        if (i + 1 >= argc) {
          out.error = usage_error(fmt::format("--{} needs a value", name));
          return out;
        }
        value = argv[++i];
      }
      if (!take(*spec, value)) return out;
      continue;
    }
    // A group of short options: flags, then at most one option with a value, which takes the rest
    // of the group or else the next argument.
    for (std::size_t j = 1; j < arg.size(); ++j) {
      const OptionSpec* spec = nullptr;
      for (const auto& o : kOptions)
        if (o.short_name != 0 && o.short_name == arg[j]) spec = &o;
      if (!spec) {
        out.error = usage_error(fmt::format("unknown option '-{}'", arg[j]));
        return out;
      }
      if (!spec->takes_value) {
        if (!take(*spec, std::nullopt)) return out;
        continue;
      }
      std::optional<std::string_view> value;
      if (j + 1 < arg.size()) value = arg.substr(j + 1);
      else if (i + 1 < argc) value = argv[++i];
      else {
        out.error = usage_error(fmt::format("--{} needs a value", spec->long_name));
        return out;
      }
      if (!take(*spec, value)) return out;
      break;
    }
  }
  out.operands.assign(argv + i, argv + argc);
  // --help and --version stand alone: anything beside them is a mistake worth hearing about.
  if ((out.help || out.version) && (out.given.size() > 1 || !out.operands.empty())) {
    out.error = fmt::format("{} takes no other arguments", out.help ? "--help" : "--version");
    return out;
  }
  return out;
}

// A service's name: a leading NAME= where NAME is [A-Za-z0-9_-]+, else the basename of the command's
// first word.
std::pair<std::string, std::string> split_service(const std::string& text) {
  auto eq = text.find('=');
  auto is_name_char = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-'; };
  if (eq != std::string::npos && eq > 0 &&
      std::all_of(text.begin(), text.begin() + static_cast<long>(eq), is_name_char))
    return {text.substr(0, eq), text.substr(eq + 1)};
  auto first = text.find_first_not_of(" \t\n");
  std::string word = first == std::string::npos ? "" : text.substr(first, text.find_first_of(" \t\n", first) - first);
  if (auto slash = word.find_last_of('/'); slash != std::string::npos) word = word.substr(slash + 1);
  std::erase_if(word, [&](char c) { return !is_name_char(c) && c != '.'; });
  return {word.empty() ? "service" : word, text};
}

// --with, --ready and what goes with them, into options.services and options.ready.
Status read_services(const std::function<bool(std::string_view)>& given, const std::vector<std::string>& with,
                     const std::vector<std::string>& ready, const std::string& ready_timeout,
                     const std::string& ready_status, bool label, RunOptions& options) {
  std::vector<bool> named;  // the name was given (NAME=CMD), not made from the command
  for (const auto& text : with) {
    auto [name, command] = split_service(text);
    if (command.find_first_not_of(" \t\n") == std::string::npos)
      return fmt::format("--with '{}': no command to run", text);
    named.push_back(command.size() != text.size());
    options.services.push_back({.name = name, .command = command});
  }
  // A given name is unique or an error; a made one becomes NAME-2, NAME-3 ... where it is taken.
  auto taken = [&](const std::string& name, std::size_t i) {
    for (std::size_t j = 0; j < options.services.size(); ++j)
      if (j != i && (named[j] || j < i) && options.services[j].name == name) return true;
    return false;
  };
  for (std::size_t i = 0; i < options.services.size(); ++i) {
    auto& service = options.services[i];
    if (named[i] && taken(service.name, i)) return fmt::format("--with: two services named '{}'", service.name);
    for (int n = 2; !named[i] && taken(service.name, i); ++n)
      service.name = fmt::format("{}-{}", split_service(with[i]).first, n);
  }
  bool has_http = false;
  for (const auto& text : ready) {
    auto parsed = parse_probe(text);
    if (auto* error = std::get_if<std::string>(&parsed)) return fmt::format("invalid --ready '{}': {}", text, *error);
    auto spec = std::get<ProbeSpec>(parsed);
    if (auto missing = probe_unavailable(spec)) return fmt::format("--ready '{}': {}", text, *missing);
    has_http |= spec.kind == ProbeKind::http;
    options.ready.probes.push_back(text);
  }
  if (given("ready-timeout")) {
    if (ready.empty()) return std::string("--ready-timeout needs a --ready probe");
    auto parsed = parse_duration(ready_timeout);
    if (std::holds_alternative<std::string>(parsed))
      return fmt::format("invalid --ready-timeout '{}' (a duration such as 60s or 2m)", ready_timeout);
    Duration d = std::get<Duration>(parsed);
    // 0 or inf: no limit of its own; the context still bounds the probes.
    options.ready.limit = d.unbounded() ? std::chrono::hours(24 * 365 * 100) : d.value;
    options.ready.limit_text = ready_timeout;
  }
  if (given("ready-status")) {
    char* end = nullptr;
    long status = std::strtol(ready_status.c_str(), &end, 10);
    if (*end != '\0' || status < 100 || status > 599)
      return fmt::format("invalid --ready-status '{}' (an HTTP status from 100 to 599)", ready_status);
    if (!has_http) return std::string("--ready-status applies to http:// and https:// probes: none was given");
    options.ready.http_status = status;
  }
  if (label && with.empty()) return std::string("--label labels the services' output: it needs --with");
  options.label_services = label;
  if (!with.empty() && options.orphans != OrphanPolicy::kill)
    return std::string(
        "--with: when the command ends its services are torn down with everything else; "
        "--orphans=wait or leave cannot apply");
  return std::nullopt;
}

// Writes what --help or --version prints; 0, or 125 with the reason once it cannot be written.
ExitNow print_out(const std::string& text) {
  if (auto error = log::write_out(text)) return ExitNow{.status = 125, .error = *error};
  return ExitNow{.status = 0};
}

}  // namespace

std::variant<RunOptions, ExitNow> parse_command_line(int argc, char** argv) {
  Scanned scanned = scan(argc, argv);
  // From here on every usage error is reported once the report's path is known.
  RunOptions known{.command = scanned.operands, .report_path = scanned.report_path};
  auto usage = [&](std::string message) {
    return ExitNow{.status = 125, .error = std::move(message), .options = known};
  };
  if (!scanned.error.empty()) return usage(scanned.error);

  std::string timeout, deadline, signal, kill_after, orphans = "kill", tree = "auto", report, format = "seconds";
  bool preserve = false, verbose = false, quiet = false, no_inherit = false, remaining = false;
  std::string idle, heartbeat, on_expire, on_expire_timeout, dump_signal;
  bool diagnose = false;
  std::string attempts, attempt_timeout, retry_on, retry_delay, retry_backoff, retry_max_delay, retry_jitter, on_retry;
  std::vector<std::string> with, ready;
  std::string ready_timeout, ready_status;
  bool label = false;
  std::string trace_file, value_of;
  std::vector<std::string> values;
  bool trace_argv = false;
  // The options as CLI11 declares them: what --help prints. Built only for --help: declaring ~55
  // options is most of a plain run's start-up instructions (docs/benchmarks.md, issue 15), and scan()
  // has already read argv exactly (getopt_long's rules), so the values come from it.
  auto declare = [&](CLI::App& app) {
    app.add_option("-t,--timeout", timeout,
                   "Deadline relative to now: Go (1h30m, 1.5s, 250ms) or GNU (90, 2.5m, 1d) "
                   "syntax; 0 or inf: none")
        ->type_name("DURATION");
    app.add_option("-d,--deadline", deadline,
                   "Absolute deadline: RFC 3339 (2026-11-25T17:00:00Z) or @UNIXTIME; follows the "
                   "wall clock")
        ->type_name("TIME");
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
    app.add_option("--format", format, "For --remaining: seconds (default, 12.345), ms (12345) or go (1m2.5s)")
        ->type_name("FORMAT");
    app.add_option("--report", report, "When ctxrun ends, write what happened as JSON to FILE (atomically)")
        ->type_name("FILE");
    app.add_option("--idle,--no-output-timeout", idle,
                   "Also end (as a deadline: 124) after this long without a byte on the command's stdout or "
                   "stderr; relays its output")
        ->type_name("DURATION");
    app.add_option("--heartbeat", heartbeat,
                   "After this long without output, say on stderr that the command is still running; relays its "
                   "output")
        ->type_name("DURATION");
    app.add_flag("--diagnose", diagnose,
                 "On a deadline or idleness, print the tree (state, wchan, age) before teardown");
    app.add_option("--on-expire", on_expire,
                   "On a deadline or idleness, run CMD (sh -c; CTXRUN_PIDS, CTXRUN_MAIN_PID, CTXRUN_CGROUP) before "
                   "teardown")
        ->type_name("CMD");
    app.add_option("--on-expire-timeout", on_expire_timeout, "How long --on-expire may run (default 30s)")
        ->type_name("DURATION");
    app.add_option("--dump-signal", dump_signal,
                   "On a deadline or idleness, send SIG to the command alone first and wait up to DURATION "
                   "(default 5s) for it, e.g. QUIT for a JVM's thread dump")
        ->type_name("SIG[:DURATION]");
    app.add_option("--attempts", attempts, "Run the command up to N times, until it succeeds (default 1)")
        ->type_name("N");
    app.add_option("--attempt-timeout", attempt_timeout, "Each attempt's own deadline, within the run's")
        ->type_name("DURATION");
    app.add_option("--retry-on", retry_on,
                   "What is retried: failure (default), or exit:N[,N...], timeout, idle, signal, comma-separated")
        ->type_name("LIST");
    app.add_option("--retry-delay", retry_delay, "Delay before the second attempt (default 1s)")->type_name("DURATION");
    app.add_option("--retry-backoff", retry_backoff, "Each delay is the last one times FACTOR (default 2)")
        ->type_name("FACTOR");
    app.add_option("--retry-max-delay", retry_max_delay, "Longest delay (default 60s)")->type_name("DURATION");
    app.add_option("--retry-jitter", retry_jitter, "full (default: each delay random up to its value) or none")
        ->type_name("MODE");
    app.add_option("--on-retry", on_retry, "Run CMD (sh -c) between attempts, after the teardown")->type_name("CMD");
    app.add_option("--with", with,
                   "Start CMD (sh -c) first, as a service the command needs, under the same context; it is torn "
                   "down with everything, and its own end cancels the run (repeatable)")
        ->type_name("[NAME=]CMD");
    app.add_option("--ready", ready,
                   "Start the command once PROBE succeeds: tcp://HOST:PORT, http(s)://URL, unix:///PATH, "
                   "file:///PATH or exec:CMD (repeatable: all of them)")
        ->type_name("PROBE");
    app.add_option("--ready-timeout", ready_timeout, "How long the probes may take (default 5m; then 124)")
        ->type_name("DURATION");
    app.add_option("--ready-status", ready_status, "HTTP(S) probes are ready on this status only (default: 2xx, 3xx)")
        ->type_name("N");
    app.add_flag("--label", label, "Prefix each line of a service's output with [NAME]");
    app.add_option("--trace-file", trace_file,
                   "Append this run's OpenTelemetry span to FILE (OTLP/JSON, one line); nested runs inherit it "
                   "(CTXRUN_TRACE_FILE) and TRACEPARENT links them")
        ->type_name("FILE");
    app.add_flag("--trace-argv", trace_argv, "Put the whole command line in the span (arguments can hold secrets)");
    app.add_option("--value", values,
                   "Hand the command a request-scoped value in BAGGAGE (W3C); repeatable; read with --value-of")
        ->type_name("KEY=VALUE");
    app.add_option("--value-of", value_of, "Print the value of KEY from the inherited BAGGAGE and exit; no command")
        ->type_name("KEY");
    app.add_flag("-v,--verbose", verbose, "Say what is done at each step");
    app.add_flag("-q,--quiet", quiet, "Print nothing but errors");
  };

  if (scanned.help) {
    CLI::App app{
        "Run a command under a deadline; when the deadline passes, a cancelling signal\n"
        "arrives or the command ends, tear down its whole process tree.",
        "ctxrun"};
    app.footer(kExamples);
    app.set_version_flag("--version", std::string("ctxrun ") + kVersion);
    declare(app);
    // CLI11 2.1 has no usage() setter: name the operands in its usage line ourselves.
    std::string help = app.help();
    if (auto at = help.find("Usage: ctxrun [OPTIONS]"); at != std::string::npos)
      help.replace(at, 23, "Usage: ctxrun [OPTIONS] [--] COMMAND [ARG]...");
    return print_out(help);
  }
  if (scanned.version) return print_out(fmt::format("ctxrun {}\n", kVersion));
  // Each option's value into its variable, as CLI11 would have bound it.
  const std::pair<const char*, std::string*> strings[] = {
      {"timeout", &timeout},
      {"deadline", &deadline},
      {"signal", &signal},
      {"kill-after", &kill_after},
      {"orphans", &orphans},
      {"tree", &tree},
      {"format", &format},
      {"report", &report},
      {"idle", &idle},
      {"heartbeat", &heartbeat},
      {"on-expire", &on_expire},
      {"on-expire-timeout", &on_expire_timeout},
      {"dump-signal", &dump_signal},
      {"attempts", &attempts},
      {"attempt-timeout", &attempt_timeout},
      {"retry-on", &retry_on},
      {"retry-delay", &retry_delay},
      {"retry-backoff", &retry_backoff},
      {"retry-max-delay", &retry_max_delay},
      {"retry-jitter", &retry_jitter},
      {"on-retry", &on_retry},
      {"ready-timeout", &ready_timeout},
      {"ready-status", &ready_status},
      {"trace-file", &trace_file},
      {"value-of", &value_of},
  };
  const std::pair<const char*, std::vector<std::string>*> lists[] = {{"with", &with},
                                                                     {"ready", &ready},
                                                                     {"value", &values}};
  const std::pair<const char*, bool*> flags[] = {
      {"preserve-status", &preserve}, {"verbose", &verbose},   {"quiet", &quiet}, {"no-inherit", &no_inherit},
      {"remaining", &remaining},      {"diagnose", &diagnose}, {"label", &label}, {"trace-argv", &trace_argv}};
  for (const auto& [name, value] : scanned.given) {
    bool bound = false;
    for (auto [n, into] : strings)
      if (name == n) bound = (*into = value, true);
    for (auto [n, into] : lists)
      if (name == n) bound = (into->push_back(value), true);
    for (auto [n, into] : flags)
      if (name == n) bound = (*into = true, true);
    // A new option in kOptions without a variable here must not be dropped in silence.
    if (!bound) return usage(fmt::format("internal error: option --{} is not bound (cli.cpp)", name));
  }
  auto given = [&](std::string_view name) { return scanned.has(name); };

  RunOptions options;
  options.command = scanned.operands;
  options.report_path = report;
  bool value_of_given = given("value-of");
  if (remaining && value_of_given) return usage("--remaining and --value-of exclude each other");
  if (value_of_given && !options.command.empty()) return usage("--value-of takes no command (see 'ctxrun --help')");
  if (value_of_given && !report.empty()) return usage("--report applies to a run, not to --value-of");
  if (value_of_given && !is_token(value_of))
    return usage(fmt::format("invalid --value-of key '{}' (a token: letters, digits and {})", value_of, kTokenMarks));
  if (remaining && !options.command.empty()) return usage("--remaining takes no command (see 'ctxrun --help')");
  if (remaining && !report.empty()) return usage("--report applies to a run, not to --remaining");
  if (!remaining && given("format")) return usage("--format applies to --remaining only");
  if (format != "seconds" && format != "ms" && format != "go")
    return usage(fmt::format("invalid --format '{}' (seconds, ms or go)", format));
  if (options.command.empty() && !remaining && !value_of_given) return usage("missing command (see 'ctxrun --help')");
  if (verbose && quiet) return usage("--verbose and --quiet exclude each other");
  options.verbosity = quiet ? Verbosity::quiet : verbose ? Verbosity::verbose : Verbosity::normal;
  log::configure("ctxrun", options.verbosity);

  // Each value parser's own message names the bad value.
  auto bad = [](const auto& parsed) { return std::holds_alternative<std::string>(parsed); };
  if (given("timeout")) {
    auto parsed = parse_duration(timeout);
    if (bad(parsed)) return usage(std::get<std::string>(parsed));
    Duration d = std::get<Duration>(parsed);
    if (d.clamped) log::verbose("timeout '{}' is too large to represent: no deadline", timeout);
    if (!d.unbounded()) options.timeout = d.value;
    options.timeout_text = timeout;
  }
  if (given("deadline")) {
    auto parsed = parse_deadline(deadline);
    if (bad(parsed)) return usage(std::get<std::string>(parsed));
    options.deadline = std::get<wall_time>(parsed);
    options.deadline_text = deadline;
  }
  if (given("signal")) {
    auto parsed = parse_signal(signal);
    if (bad(parsed)) return usage(std::get<std::string>(parsed));
    options.signal = std::get<int>(parsed);
  }
  if (given("kill-after")) {
    auto parsed = parse_duration(kill_after);
    if (bad(parsed)) return usage(std::get<std::string>(parsed));
    Duration d = std::get<Duration>(parsed);
    if (d.unbounded()) options.kill_after.reset();
    else options.kill_after = d.value;
  }
  if (orphans == "kill") options.orphans = OrphanPolicy::kill;
  else if (orphans == "wait") options.orphans = OrphanPolicy::wait;
  else if (orphans == "leave") options.orphans = OrphanPolicy::leave;
  else return usage(fmt::format("invalid --orphans '{}' (kill, wait or leave)", orphans));
  if (tree == "auto") options.tree = TreeKind::automatic;
  else if (tree == "cgroup") options.tree = TreeKind::cgroup;
  else if (tree == "subreaper") options.tree = TreeKind::subreaper;
  else if (tree == "pgroup") options.tree = TreeKind::pgroup;
  else return usage(fmt::format("invalid --tree '{}' (auto, cgroup, subreaper or pgroup)", tree));
  if (!no_inherit) {
    if (const char* inherited = std::getenv("CTXRUN_DEADLINE")) {
      auto parsed = parse_unix(inherited);
      if (bad(parsed))
        return usage(
            fmt::format("invalid CTXRUN_DEADLINE '{}' (expected seconds since the epoch like "
                        "1764090000.25; --no-inherit ignores it)",
                        inherited));
      options.inherited_deadline = std::get<wall_time>(parsed);
      options.inherited_text = inherited;
    }
  }
  // A duration option of the CI guard: 0 or inf is none.
  auto guard_duration = [&](const char* name, const std::string& text,
                            std::optional<std::chrono::nanoseconds>& into) -> std::optional<ExitNow> {
    auto parsed = parse_duration(text);
    if (bad(parsed)) return usage(fmt::format("invalid --{} '{}' (a duration such as 10m, 90s or 1.5)", name, text));
    Duration d = std::get<Duration>(parsed);
    if (!d.unbounded()) into = d.value;
    return std::nullopt;
  };
  if (given("idle")) {
    if (auto error = guard_duration("idle", idle, options.idle)) return *error;
    options.idle_text = idle;
  }
  if (given("heartbeat"))
    if (auto error = guard_duration("heartbeat", heartbeat, options.heartbeat)) return *error;
  if (given("on-expire")) options.on_expire = on_expire;
  if (given("on-expire-timeout")) {
    std::optional<std::chrono::nanoseconds> limit;
    if (auto error = guard_duration("on-expire-timeout", on_expire_timeout, limit)) return *error;
    options.on_expire_timeout = limit.value_or(std::chrono::hours(24 * 365));  // 0 or inf: no limit
  }
  if (given("dump-signal")) {
    auto colon = dump_signal.find(':');
    auto parsed = parse_signal(dump_signal.substr(0, colon));
    if (bad(parsed))
      return usage(fmt::format("invalid --dump-signal '{}': {}", dump_signal, std::get<std::string>(parsed)));
    options.dump_signal = std::get<int>(parsed);
    if (colon != std::string::npos) {
      std::optional<std::chrono::nanoseconds> wait;
      if (auto error = guard_duration("dump-signal", dump_signal.substr(colon + 1), wait)) return *error;
      options.dump_wait = wait.value_or(std::chrono::hours(24 * 365));
    }
  }
  auto& retry = options.retry;
  if (given("attempts")) {
    char* end = nullptr;
    long n = std::strtol(attempts.c_str(), &end, 10);
    if (attempts.empty() || *end != '\0' || n < 1 || n > 1000000)
      return usage(fmt::format("invalid --attempts '{}' (a whole number, at least 1)", attempts));
    retry.attempts = static_cast<int>(n);
  }
  if (given("attempt-timeout")) {
    if (auto error = guard_duration("attempt-timeout", attempt_timeout, retry.attempt_timeout)) return *error;
    retry.attempt_timeout_text = attempt_timeout;
  }
  if (given("retry-on")) {
    retry.on_failure = false;
    bool in_exit = false;
    std::size_t start = 0;
    while (start <= retry_on.size()) {
      std::size_t comma = retry_on.find(',', start);
      std::string item = retry_on.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      start = comma == std::string::npos ? retry_on.size() + 1 : comma + 1;
      if (item.rfind("exit:", 0) == 0) {
        in_exit = true;
        item = item.substr(5);
      }
      char* end = nullptr;
      long code = std::strtol(item.c_str(), &end, 10);
      if (in_exit && !item.empty() && *end == '\0' && code >= 0 && code <= 255)
        retry.on_exit.push_back(static_cast<int>(code));
      else if ((in_exit = false, item == "failure")) retry.on_failure = true;
      else if (item == "timeout") retry.on_timeout = true;
      else if (item == "idle") retry.on_idle = true;
      else if (item == "signal") retry.on_signal = true;
      else
        return usage(
            fmt::format("invalid --retry-on item '{}' (failure, exit:N[,N...], timeout, idle or signal)", item));
    }
  }
  auto retry_duration = [&](const char* name, const std::string& text,
                            std::chrono::nanoseconds& into) -> std::optional<ExitNow> {
    auto parsed = parse_duration(text);
    if (bad(parsed) || std::get<Duration>(parsed).infinite)
      return usage(fmt::format("invalid --{} '{}' (a finite duration such as 1s or 500ms)", name, text));
    into = std::get<Duration>(parsed).value;
    return std::nullopt;
  };
  if (given("retry-delay"))
    if (auto error = retry_duration("retry-delay", retry_delay, retry.delay)) return *error;
  if (given("retry-max-delay"))
    if (auto error = retry_duration("retry-max-delay", retry_max_delay, retry.max_delay)) return *error;
  if (given("retry-backoff")) {
    char* end = nullptr;
    double factor = std::strtod(retry_backoff.c_str(), &end);
    if (retry_backoff.empty() || *end != '\0' || !(factor >= 1 && factor <= 1000))
      return usage(fmt::format("invalid --retry-backoff '{}' (a number from 1 to 1000)", retry_backoff));
    retry.backoff = factor;
  }
  if (given("retry-jitter")) {
    if (retry_jitter != "full" && retry_jitter != "none")
      return usage(fmt::format("invalid --retry-jitter '{}' (full or none)", retry_jitter));
    retry.jitter = retry_jitter == "full";
  }
  if (given("on-retry")) retry.on_retry = on_retry;
  if (retry.attempts > 1 && options.orphans == OrphanPolicy::leave)
    return usage("--attempts needs each attempt's processes gone before the next: not with --orphans=leave");
  if ((remaining || value_of_given) && (!with.empty() || !ready.empty()))
    return usage(fmt::format("--with and --ready apply to a run, not to {}", remaining ? "--remaining" : "--value-of"));
  if (auto error = read_services(given, with, ready, ready_timeout, ready_status, label, options)) return usage(*error);
  for (const auto& item : values) {
    auto eq = item.find('=');
    if (eq == std::string::npos) return usage(fmt::format("invalid --value '{}' (KEY=VALUE)", item));
    std::string key = item.substr(0, eq), value = item.substr(eq + 1);
    if (!is_token(key))
      return usage(fmt::format("invalid --value key '{}' (a token: letters, digits and {})", key, kTokenMarks));
    if (!valid_utf8(value)) return usage(fmt::format("invalid --value {}=...: the value is not valid UTF-8", key));
    for (const auto& [earlier, _] : options.values)
      if (earlier == key) return usage(fmt::format("--value {} given twice", key));
    options.values.emplace_back(std::move(key), std::move(value));
  }
  if ((remaining || value_of_given) && !values.empty())
    return usage(fmt::format("--value applies to a run, not to {}", remaining ? "--remaining" : "--value-of"));
  options.trace_file = trace_file;
  if (const char* inherited = std::getenv("CTXRUN_TRACE_FILE"); inherited && trace_file.empty())
    options.trace_file = inherited;
  if (trace_argv && options.trace_file.empty())
    return usage("--trace-argv needs --trace-file (or an inherited CTXRUN_TRACE_FILE)");
  if ((remaining || value_of_given) && !trace_file.empty())
    return usage(fmt::format("--trace-file applies to a run, not to {}", remaining ? "--remaining" : "--value-of"));
  options.trace_argv = trace_argv;
  if (value_of_given) options.value_of = value_of;
  options.diagnose = diagnose || verbose;
  bool has_deadline = options.timeout || options.deadline || options.inherited_deadline;
  if (options.heartbeat && !has_deadline && !options.idle)
    log::notice("warning: --heartbeat without a deadline keeps a CI's own hang detection from ever ending this step");
  options.preserve_status = preserve;
  options.remaining = remaining;
  options.remaining_format = format;
  return options;
}

}  // namespace ctxrun
