// The CI step guard (issue #12): --idle (a no-output timeout) over a byte-exact output relay,
// --heartbeat, and a look at the hung tree before the teardown (--diagnose, --on-expire,
// --dump-signal), with the report fields that record them.
//
// Timings are bounded generously (a loaded 2-core machine): "about 1.75 s" is 1.5 s to 4 s. The
// tests synchronise on pipes and report lines; the commands under test may sleep, that is their
// behaviour.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "backends.h"
#include "harness.h"
#include "json.h"
#include "launched.h"

extern char** environ;

using namespace e2e;

namespace {

using Clock = std::chrono::steady_clock;

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

std::size_t count_prefix(const std::string& text, const std::string& prefix) {
  std::size_t n = 0;
  for (auto& line : lines_of(text))
    if (starts_with(line, prefix)) ++n;
  return n;
}

// The last line of an idle ending, whatever the number of processes.
bool idle_ending(const std::string& err, const std::string& limit) {
  static const std::regex tail(": [0-9]+ process(es)? torn down");
  std::string line = last_line(err);
  std::string head = "ctxrun: context deadline exceeded (no output for " + limit + ")";
  return starts_with(line, head) && std::regex_match(line.substr(head.size()), tail);
}

std::vector<std::string> ctxrun_argv(std::vector<std::string> args) {
  args.insert(args.begin(), kCtxrun);
  return args;
}

struct Reported {
  Exit exit;
  json::Value report;
};

// Runs ctxrun with `--report FILE` first and parses the report (version 2, the new fields present).
Reported run_reported(const std::string& name, std::vector<std::string> args, Spec spec = {}) {
  std::string path = fresh_dir(name) + "/report.json";
  args.insert(args.begin(), {"--report", path});
  spec.args = std::move(args);
  Reported r;
  r.exit = run(spec);
  auto text = slurp(path);
  auto parsed = json::parse(text);
  REQUIRE_MESSAGE(parsed.has_value(), "not JSON: " << text << "; " << r.exit.describe());
  r.report = *parsed;
  REQUIRE_MESSAGE(r.report["version"].num() == 3, text << "; " << r.exit.describe());
  for (auto key : {"idle", "output", "diagnose"}) REQUIRE_NOTHROW((void)r.report[key]);
  return r;
}

json::Value parse_report(const std::string& path) {
  auto text = slurp(path);
  auto parsed = json::parse(text);
  REQUIRE_MESSAGE(parsed.has_value(), "not JSON: " << text);
  REQUIRE_MESSAGE((*parsed)["version"].num() == 3, text);
  for (auto key : {"idle", "output", "diagnose"}) REQUIRE_NOTHROW((void)(*parsed)[key]);
  return *parsed;
}

bool rfc3339(const std::string& s) {
  static const std::regex form(
      "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})");
  return std::regex_match(s, form);
}

// 1 MiB of random bytes, the last of them not a newline, in a file; returns its path.
std::string random_file(const std::string& dir) {
  std::mt19937 gen(12);
  std::uniform_int_distribution<int> byte(0, 255);
  std::string data(1 << 20, '\0');
  for (auto& c : data) c = static_cast<char>(byte(gen));
  data.back() = 'x';
  std::string path = dir + "/random.bin";
  std::ofstream(path, std::ios::binary).write(data.data(), static_cast<std::streamsize>(data.size()));
  return path;
}

}  // namespace

// --- --idle --------------------------------------------------------------------------------------

TEST_CASE("--idle 1s: two lines come out, then 2 s of silence ends the run about 1.75 s in, 124") {
  NoSurvivors guard;
  Process p(Spec{.args = {"--idle", "1s", "sh", "-c", "for i in .25 .5 2; do sleep $i; echo hello; done"},
                 .capture_stdout = true});
  auto out = p.stdout_text();
  auto exit = p.wait();
  CHECK_MESSAGE(exit.exited(124), exit.describe());
  CHECK(out == "hello\nhello\n");
  CHECK_MESSAGE(idle_ending(exit.err, "1s"), exit.err);
  CHECK(seconds(exit.took) >= 1.5);
  CHECK(seconds(exit.took) < 4.0);
}

TEST_CASE("--no-output-timeout is another name for --idle, and the limit is written as given") {
  NoSurvivors guard;
  auto exit = run({"--no-output-timeout", "500ms", "sleep", "30"});
  CHECK_MESSAGE(exit.exited(124), exit.describe());
  CHECK(exit.err == "ctxrun: context deadline exceeded (no output for 500ms): 1 process torn down\n");
  CHECK(seconds(exit.took) >= 0.4);
  CHECK(seconds(exit.took) < 4.0);
}

TEST_CASE("--idle: a command writing only to stderr, every 200 ms for 2 s, stays alive") {
  NoSurvivors guard;
  auto exit = run(
      {"--idle", "1s", "sh", "-c", "i=0; while [ $i -lt 10 ]; do sleep .2; echo tick$i >&2; i=$((i+1)); done"});
  CHECK_MESSAGE(exit.exited(0), exit.describe());
  std::string expected;
  for (int i = 0; i < 10; ++i) expected += "tick" + std::to_string(i) + "\n";
  CHECK(exit.err == expected);
}

TEST_CASE("--idle: closing stdout and stderr and hanging does not escape the limit") {
  NoSurvivors guard;
  auto exit = run({"--idle", "1s", "sh", "-c", "exec >/dev/null 2>&1; sleep 60"});
  CHECK_MESSAGE(exit.exited(124), exit.describe());
  CHECK_MESSAGE(idle_ending(exit.err, "1s"), exit.err);
  CHECK(seconds(exit.took) >= 0.9);
  CHECK(seconds(exit.took) < 4.0);
}

TEST_CASE("--idle: a grandchild's output after its parent exited counts (--orphans=wait)") {
  NoSurvivors guard;
  // 2.4 s of output every 0.4 s, all of it after the main command exited: never 1 s of silence.
  Process p(Spec{.args = {"--orphans=wait", "--idle", "1s", "sh", "-c",
                          "(i=0; while [ $i -lt 6 ]; do sleep .4; echo late$i; i=$((i+1)); done) & exit 0"},
                 .capture_stdout = true});
  auto out = p.stdout_text();
  auto exit = p.wait();
  CHECK_MESSAGE(exit.exited(0), exit.describe());
  CHECK(out == "late0\nlate1\nlate2\nlate3\nlate4\nlate5\n");
  CHECK(exit.err.empty());
}

TEST_CASE("--idle: a silent leftover the run waits for is ended by idleness, as by a timeout") {
  NoSurvivors guard;
  auto timeout = run({"--orphans=wait", "-t", "1s", "sh", "-c", "sleep 60 & exit 0"});
  auto idle = run({"--orphans=wait", "--idle", "1s", "sh", "-c", "sleep 60 & exit 0"});
  CHECK_MESSAGE(idle.status == timeout.status, "idle: " << idle.describe() << "; timeout: " << timeout.describe());
  CHECK(idle.err.find("(no output for 1s)") != std::string::npos);
  CHECK(seconds(idle.took) < 5.0);
}

TEST_CASE("--idle with -t: whichever fires first ends the run, and the message and report say which") {
  NoSurvivors guard;
  auto by_timeout = run_reported("idle-timeout", {"--idle", "5s", "-t", "1s", "sleep", "30"});
  CHECK_MESSAGE(by_timeout.exit.exited(124), by_timeout.exit.describe());
  CHECK(by_timeout.exit.err == "ctxrun: context deadline exceeded (timeout 1s): 1 process torn down\n");
  CHECK(seconds(by_timeout.exit.took) < 4.0);
  CHECK(by_timeout.report["cause"].str() == "timeout 1s");
  CHECK(by_timeout.report["idle"]["limit_seconds"].num() == 5.0);
  CHECK_FALSE(by_timeout.report["idle"]["expired"].boolean());

  auto by_idle = run_reported("idle-idle", {"--idle", "1s", "-t", "5s", "sleep", "30"});
  CHECK_MESSAGE(by_idle.exit.exited(124), by_idle.exit.describe());
  CHECK(by_idle.exit.err == "ctxrun: context deadline exceeded (no output for 1s): 1 process torn down\n");
  CHECK(seconds(by_idle.exit.took) < 4.0);
  CHECK(by_idle.report["cause"].str() == "no output for 1s");
  CHECK(by_idle.report["idle"]["limit_seconds"].num() == 1.0);
  CHECK(by_idle.report["idle"]["expired"].boolean());
}

TEST_CASE("--idle --preserve-status: the command's own status, as for a deadline") {
  NoSurvivors guard;
  auto exit = run({"--preserve-status", "--idle", "300ms", kHelper, "hang", "3"});
  CHECK_MESSAGE(exit.exited(128 + SIGTERM), exit.describe());
  CHECK(exit.err.find("(no output for 300ms)") != std::string::npos);
}

TEST_CASE("--idle 0 means no idle limit, like -t 0") {
  NoSurvivors guard;
  Process p(Spec{.args = {"--idle", "0", "sh", "-c", "sleep 1.5; echo done"}, .capture_stdout = true});
  CHECK(p.stdout_text() == "done\n");
  auto exit = p.wait();
  CHECK_MESSAGE(exit.exited(0), exit.describe());
  CHECK(exit.err.empty());
}

TEST_CASE("a bad --idle, --heartbeat, --on-expire-timeout or --dump-signal is one line naming the option, 125") {
  NoSurvivors guard;
  for (const auto& c : std::vector<UsageCase>{
           {{"--idle", "5x", "true"}, {"--idle"}},
           {{"--idle", "-1", "true"}, {"--idle"}},
           {{"--no-output-timeout", "soon", "true"}, {"--no-output-timeout", "--idle"}},
           {{"--heartbeat", "often", "true"}, {"--heartbeat"}},
           {{"--on-expire", "true", "--on-expire-timeout", "x", "true"}, {"--on-expire-timeout"}},
           {{"--dump-signal", "SIGFOO", "true"}, {"--dump-signal"}},
           {{"--dump-signal", "QUIT:zz", "true"}, {"--dump-signal"}},
       })
    check_usage_error(c);
  auto missing = run({"--idle"});
  CHECK_MESSAGE(missing.exited(125), missing.describe());
  CHECK(missing.err.find('\n') == missing.err.size() - 1);
}

TEST_CASE("--help lists the new options") {
  NoSurvivors guard;
  Process help(Spec{.args = {"--help"}, .capture_stdout = true});
  auto text = help.stdout_text();
  CHECK(help.wait().exited(0));
  for (auto option : {"--idle", "--no-output-timeout", "--heartbeat", "--diagnose", "--on-expire",
                      "--on-expire-timeout", "--dump-signal"})
    CHECK_MESSAGE(text.find(option) != std::string::npos, option);
}

// --- the relay -----------------------------------------------------------------------------------

TEST_CASE("the relay is byte-exact: 1 MiB of random bytes without a final newline, on each stream") {
  NoSurvivors guard;
  std::string dir = fresh_dir("bytes");
  std::string source = random_file(dir);
  std::string data = slurp(source);
  REQUIRE(data.size() == 1u << 20);

  // Into a pipe (the harness reads it as it comes).
  Process piped(Spec{.args = {"--idle", "5s", "cat", source}, .capture_stdout = true});
  auto out = piped.stdout_text(30s);
  auto piped_exit = piped.wait();
  CHECK_MESSAGE(piped_exit.exited(0), piped_exit.describe());
  CHECK(out.size() == data.size());
  CHECK(out == data);

  // Both streams at once, each into a file of its own (two open files: one relay per stream).
  std::string out_path = dir + "/out.bin", err_path = dir + "/err.bin", report = dir + "/report.json";
  ctxrun::unique_fd out_fd(open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  ctxrun::unique_fd err_fd(open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  REQUIRE(out_fd);
  REQUIRE(err_fd);
  Launched both(ctxrun_argv({"--idle", "5s", "--report", report, "sh", "-c", "cat \"$0\"; cat \"$0\" >&2", source}), -1,
                out_fd.get(), err_fd.get());
  auto exit = both.wait(30s);
  CHECK_MESSAGE(exit.exited(0), exit.describe());
  auto out_file = slurp(out_path), err_file = slurp(err_path);
  CHECK(out_file.size() == data.size());
  CHECK(out_file == data);
  CHECK(err_file.size() == data.size());
  CHECK(err_file == data);
  auto r = parse_report(report);
  CHECK(r["output"]["streams"].str() == "separate");
  CHECK(r["output"]["stdout_bytes"].num() == static_cast<double>(data.size()));
  CHECK(r["output"]["stderr_bytes"].num() == static_cast<double>(data.size()));
}

TEST_CASE("the relay keeps the order of 10,000 alternating stdout/stderr lines into one file (>file 2>&1)") {
  NoSurvivors guard;
  std::string dir = fresh_dir("merged");
  std::string log = dir + "/log", report = dir + "/report.json";
  std::string expected;
  for (int i = 0; i < 5000; ++i) expected += "out" + std::to_string(i) + "\nerr" + std::to_string(i) + "\n";
  // Without the relay (the control: the command writes to the file itself), then through it.
  for (bool relay : {false, true}) {
    INFO("relay: " << relay);
    ctxrun::unique_fd fd(open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    REQUIRE(fd);
    std::vector<std::string> args{"--report", report, "sh", "-c",
                                  "i=0; while [ $i -lt 5000 ]; do echo out$i; echo err$i >&2; i=$((i+1)); done"};
    if (relay) args.insert(args.begin(), {"--idle", "10s"});
    Launched l(ctxrun_argv(args), -1, fd.get(), fd.get());
    auto exit = l.wait(60s);
    CHECK_MESSAGE(exit.exited(0), exit.describe());
    auto text = slurp(log);
    CHECK(text.size() == expected.size());
    CHECK(text == expected);
  }
  auto r = parse_report(report);
  CHECK(r["output"]["streams"].str() == "merged");
  CHECK(r["output"]["stdout_bytes"].num() == static_cast<double>(expected.size()));
  CHECK(r["output"]["stderr_bytes"].num() == 0);
}

namespace {

// `ctxrun ARGS yes | head -1`, with the report in `report`: the exit of ctxrun; fails the test if it
// does not end within 3 s of the reader going away.
Exit yes_into_head(std::vector<std::string> args, const std::string& report) {
  int out[2], err[2];
  REQUIRE(pipe2(out, O_CLOEXEC) == 0);
  REQUIRE(pipe2(err, O_CLOEXEC) == 0);
  ctxrun::unique_fd out_r(out[0]), out_w(out[1]), err_r(err[0]), err_w(err[1]);
  args.insert(args.begin(), {"--report", report});
  args.push_back("yes");
  Launched l(ctxrun_argv(args), -1, out_w.get(), err_w.get());
  out_w.reset();
  err_w.reset();
  // As head -1: read up to the first newline, then go away.
  std::string got;
  auto until = Clock::now() + 20s;
  char buf[4096];
  while (got.find('\n') == std::string::npos && readable(out_r.get(), until)) {
    ssize_t n = read(out_r.get(), buf, sizeof buf);
    if (n <= 0) break;
    got.append(buf, static_cast<std::size_t>(n));
  }
  REQUIRE(starts_with(got, "y\n"));
  out_r.reset();
  auto closed_at = Clock::now();
  auto exit = l.wait(20s);
  exit.err = drain(err_r.get());
  CHECK(seconds(Clock::now() - closed_at) < 3.0);
  return exit;
}

}  // namespace

TEST_CASE("ctxrun --idle 5s yes | head -1: ends at once, yes dies of SIGPIPE and so does ctxrun") {
  NoSurvivors guard;
  std::string report = fresh_dir("epipe") + "/report.json";
  // The control: without the relay, yes writes into the pipe itself.
  auto direct = yes_into_head({}, report);
  CHECK_MESSAGE(direct.killed_by(SIGPIPE), direct.describe());
  auto exit = yes_into_head({"--idle", "5s"}, report);
  CHECK_MESSAGE(exit.killed_by(SIGPIPE), exit.describe());
  auto r = parse_report(report);
  CHECK(r["command"]["status"]["signaled"].str() == "SIGPIPE");
  CHECK(r["outcome"].str() == "signaled");
}

namespace {

// `ctxrun ARGS head -c 8000000 /dev/zero | sh -c 'sleep 3; cat >/dev/null'`: the exit of ctxrun.
Exit into_slow_reader(std::vector<std::string> args) {
  int out[2], err[2];
  REQUIRE(pipe2(out, O_CLOEXEC) == 0);
  REQUIRE(pipe2(err, O_CLOEXEC) == 0);
  ctxrun::unique_fd out_r(out[0]), out_w(out[1]), err_r(err[0]), err_w(err[1]);
  Launched reader({"/bin/sh", "-c", "sleep 3; cat >/dev/null"}, out_r.get(), -1, -1);
  out_r.reset();
  // 8 MB at once: the command blocks on its full pipe while ctxrun blocks on the reader's.
  for (auto a : {"head", "-c", "8000000", "/dev/zero"}) args.push_back(a);
  Launched l(ctxrun_argv(args), -1, out_w.get(), err_w.get());
  out_w.reset();
  err_w.reset();
  auto exit = l.wait(60s);
  exit.err = drain(err_r.get());
  auto reader_exit = reader.wait(20s);
  CHECK_MESSAGE(reader_exit.exited(0), reader_exit.describe());
  return exit;
}

}  // namespace

TEST_CASE("back-pressure: a reader that waits 3 s before reading does not trip --idle 1s") {
  NoSurvivors guard;
  std::string report = fresh_dir("slow") + "/report.json";
  // The control: without the relay the command blocks on the reader's pipe itself.
  auto direct = into_slow_reader({});
  CHECK_MESSAGE(direct.exited(0), direct.describe());
  CHECK(seconds(direct.took) >= 2.5);
  auto exit = into_slow_reader({"--idle", "1s", "--report", report});
  CHECK_MESSAGE(exit.exited(0), exit.describe());
  CHECK(seconds(exit.took) >= 2.5);  // it was held up by the reader: the case did happen
  auto r = parse_report(report);
  CHECK(r["output"]["stdout_bytes"].num() == 8000000);
  CHECK_FALSE(r["idle"]["expired"].boolean());
  CHECK(r["outcome"].str() == "exited");
}

// --- --heartbeat ---------------------------------------------------------------------------------

TEST_CASE("--heartbeat: lines on stderr after silence, never on stdout") {
  NoSurvivors guard;
  Process p(
      Spec{.args = {"--heartbeat", "300ms", "-t", "30s", "sh", "-c", "sleep 1.5; echo out"}, .capture_stdout = true});
  auto out = p.stdout_text();
  auto exit = p.wait();
  CHECK_MESSAGE(exit.exited(0), exit.describe());
  CHECK(out == "out\n");
  auto beats = count_prefix(exit.err, "ctxrun: still running: ");
  CHECK_MESSAGE(beats >= 1, exit.err);
  for (auto& line : lines_of(exit.err)) {
    CHECK_MESSAGE(starts_with(line, "ctxrun: still running: "), line);
    CHECK_MESSAGE(line.find("no output for ") != std::string::npos, line);
  }
  CHECK(exit.err.find("warning") == std::string::npos);  // -t is a deadline
}

TEST_CASE("--heartbeat: none while output flows faster than the period") {
  NoSurvivors guard;
  Process p(Spec{.args = {"--heartbeat", "1s", "-t", "30s", "sh", "-c",
                          "i=0; while [ $i -lt 20 ]; do echo x; sleep .1; i=$((i+1)); done"},
                 .capture_stdout = true});
  auto out = p.stdout_text();
  auto exit = p.wait();
  CHECK_MESSAGE(exit.exited(0), exit.describe());
  CHECK(count_prefix(out, "x") == 20);
  CHECK_MESSAGE(exit.err.find("still running") == std::string::npos, exit.err);
}

TEST_CASE("--heartbeat: a complete line, after a newline when the command's stderr was mid-line") {
  NoSurvivors guard;
  auto exit = run({"--heartbeat", "300ms", "-t", "30s", "sh", "-c", "printf partial >&2; sleep 1.2; printf end >&2"});
  CHECK_MESSAGE(exit.exited(0), exit.describe());
  CHECK_MESSAGE(exit.err.find("partial\nctxrun: still running: ") != std::string::npos, exit.err);
}

TEST_CASE("$(ctxrun --heartbeat ...) captures only the command's stdout, and no deadline warns once") {
  NoSurvivors guard;
  Process p(
      Spec{.args = {"-c", "x=$(\"$0\" --no-inherit --heartbeat 200ms sh -c 'sleep 1; echo out'); printf '[%s]' \"$x\"",
                    kCtxrun},
           .argv0 = "/bin/sh",
           .capture_stdout = true});
  auto out = p.stdout_text();
  auto exit = p.wait();
  CHECK_MESSAGE(exit.exited(0), exit.describe());
  CHECK(out == "[out]");
  CHECK(count_prefix(exit.err, "ctxrun: warning: --heartbeat without a deadline") == 1);
  CHECK(count_prefix(exit.err, "ctxrun: still running: ") >= 1);
}

TEST_CASE("--heartbeat never counts as output for --idle") {
  NoSurvivors guard;
  auto exit = run({"--idle", "1s", "--heartbeat", "200ms", "sleep", "30"});
  CHECK_MESSAGE(exit.exited(124), exit.describe());
  CHECK(count_prefix(exit.err, "ctxrun: still running: ") >= 1);
  CHECK(exit.err.find("warning") == std::string::npos);  // --idle bounds the run
  CHECK_MESSAGE(idle_ending(exit.err, "1s"), exit.err);
  CHECK(seconds(exit.took) < 4.0);
}

// --- diagnose before the kill --------------------------------------------------------------------

TEST_CASE("--diagnose: the tree is printed before the teardown, and names a stopped process") {
  NoSurvivors guard;
  Process p(Spec{.args = {"--diagnose", "-t", "500ms", kHelper, "stopped", "3"}});
  auto pids = p.await_ready();
  REQUIRE(pids.size() == 2);
  pid_t child = pids[0], main = pids[1];
  auto exit = p.wait();
  CHECK_MESSAGE(exit.exited(124), exit.describe());
  auto lines = lines_of(exit.err);
  auto header = std::find(lines.begin(), lines.end(), "ctxrun: the tree before teardown:");
  REQUIRE_MESSAGE(header != lines.end(), exit.err);
  std::regex child_line("ctxrun: {3,}" + std::to_string(child) + " +" + std::to_string(main) + " +T .*");
  std::regex main_line("ctxrun: {3,}" + std::to_string(main) + " +[0-9]+ +[RSD] .*");
  bool saw_child = false, saw_main = false;
  for (auto it = header + 1; it != lines.end() && starts_with(*it, "ctxrun:   "); ++it) {
    saw_child = saw_child || std::regex_match(*it, child_line);
    saw_main = saw_main || std::regex_match(*it, main_line);
  }
  CHECK_MESSAGE(saw_child, exit.err);
  CHECK_MESSAGE(saw_main, exit.err);
  CHECK(starts_with(last_line(exit.err), "ctxrun: context deadline exceeded (timeout 500ms): 2 processes torn down"));
}

TEST_CASE("--diagnose: nothing printed without it, nor when the command ends by itself, and -v prints the tree") {
  NoSurvivors guard;
  auto plain = run({"-t", "300ms", kHelper, "hang", "3"});
  CHECK(plain.err.find("the tree before teardown") == std::string::npos);
  auto finished = run({"--diagnose", "-t", "30s", "true"});
  CHECK_MESSAGE(finished.exited(0), finished.describe());
  CHECK(finished.err.empty());
  auto verbose = run({"-v", "-t", "300ms", kHelper, "hang", "3"});
  CHECK_MESSAGE(verbose.exited(124), verbose.describe());
  CHECK(verbose.err.find("the tree before teardown:") != std::string::npos);
}

TEST_CASE("--on-expire: runs before the teardown with the tree's pids, and its output goes to stderr") {
  NoSurvivors guard;
  std::string dir = fresh_dir("on-expire");
  std::string main_file = dir + "/main", pids_file = dir + "/pids", report = dir + "/report.json";
  std::string hook = "printf '%s\\n' \"$CTXRUN_MAIN_PID\" > " + main_file + "; printf '%s\\n' \"$CTXRUN_PIDS\" > " +
                     pids_file + "; kill -0 \"$CTXRUN_MAIN_PID\" && echo main-alive; echo hook-err >&2";
  Process p(Spec{.args = {"--report", report, "--on-expire", hook, "-t", "500ms", kHelper, "tree", "3", "3"}});
  auto pids = p.await_ready();
  REQUIRE(pids.size() == 4);
  auto exit = p.wait();
  CHECK_MESSAGE(exit.exited(124), exit.describe());
  CHECK(slurp(main_file) == std::to_string(pids.back()) + "\n");
  std::vector<pid_t> seen;
  std::istringstream words(slurp(pids_file));
  for (long pid; words >> pid;) seen.push_back(static_cast<pid_t>(pid));
  std::sort(seen.begin(), seen.end());
  std::sort(pids.begin(), pids.end());
  CHECK(seen == pids);
  auto at_hook = exit.err.find("main-alive\n");
  CHECK(at_hook != std::string::npos);
  CHECK(exit.err.find("hook-err\n") != std::string::npos);
  CHECK(exit.err.find("ctxrun: context deadline exceeded (timeout 500ms)") > at_hook);
  auto r = parse_report(report);
  const auto& hook_report = r["diagnose"]["on_expire"];
  CHECK(hook_report["command"].str() == hook);
  CHECK(hook_report["status"]["exited"].num() == 0);
  CHECK_FALSE(hook_report["timed_out"].boolean());
  CHECK(hook_report["seconds"].num() >= 0);
  CHECK(hook_report["seconds"].num() < 5);
  CHECK(r["diagnose"]["dump_signal"].is_null());
}

TEST_CASE("--on-expire: the hook ends before the tree gets its first signal") {
  NoSurvivors guard;
  // The hook signals the main command itself: USR1 from the hook must be recorded before ctxrun's TERM.
  Process p(Spec{
      .args = {"--on-expire", "kill -USR1 \"$CTXRUN_MAIN_PID\"", "-t", "500ms", kHelper, "record-signals", "15", "3"}});
  auto pids = p.await_ready();
  REQUIRE(pids.size() == 1);
  std::vector<std::string> got;
  for (std::string line; !(line = p.next_line(20s)).empty();) got.push_back(line);
  auto exit = p.wait();
  CHECK_MESSAGE(exit.exited(124), exit.describe());
  REQUIRE(got.size() >= 2);
  CHECK(starts_with(got[0], "signal " + std::to_string(SIGUSR1) + " from "));
  CHECK(starts_with(got[1], "signal " + std::to_string(SIGTERM) + " from "));
}

TEST_CASE("--on-expire: a hook that hangs is cut off by --on-expire-timeout, group and all") {
  NoSurvivors guard;
  std::string report = fresh_dir("on-expire-hang") + "/report.json";
  auto exit = run({"--report", report, "--on-expire", "sleep 60 & sleep 60", "--on-expire-timeout", "500ms", "-t",
                   "300ms", kHelper, "hang", "3"},
                  20s);
  CHECK_MESSAGE(exit.exited(124), exit.describe());
  CHECK(seconds(exit.took) < 8.0);
  CHECK(await_no_survivors(5s));
  auto r = parse_report(report);
  const auto& hook = r["diagnose"]["on_expire"];
  CHECK(hook["command"].str() == "sleep 60 & sleep 60");
  CHECK(hook["timed_out"].boolean());
  CHECK(hook["status"]["signaled"].str() == "SIGKILL");
  CHECK(hook["seconds"].num() >= 0.4);
  CHECK(hook["seconds"].num() < 5);
}

TEST_CASE("--on-expire: CTXRUN_CGROUP on the cgroup backend only") {
  NoSurvivors guard;
  const auto& available = backends();
  for (const std::string backend : {"cgroup", "pgroup"}) {
    if (std::find(available.begin(), available.end(), backend) == available.end()) {
      MESSAGE("SKIPPED: no " << backend << " backend here");
      continue;
    }
    std::string file = fresh_dir("cgroup-" + backend) + "/cgroup";
    auto exit = run({"--tree=" + backend, "--on-expire", "printf '%s' \"${CTXRUN_CGROUP-unset}\" > " + file, "-t",
                     "300ms", kHelper, "hang", "3"});
    CHECK_MESSAGE(exit.exited(124), exit.describe());
    auto value = slurp(file);
    INFO("backend " << backend << ": CTXRUN_CGROUP=" << value);
    if (backend == "cgroup") {
      CHECK(!value.empty());
      CHECK(value != "unset");
    } else {
      CHECK(value == "unset");
    }
  }
}

TEST_CASE("--dump-signal QUIT:1s reaches the main command only, then the normal teardown") {
  NoSurvivors guard;
  std::string report = fresh_dir("dump") + "/report.json";
  Process p(Spec{.args = {"--report", report, "--dump-signal", "QUIT:1s", "-t", "500ms", kHelper, "record-pair", "3"}});
  auto pids = p.await_ready();
  REQUIRE(pids.size() == 2);
  std::vector<std::string> main_lines, child_lines;
  for (std::string line; !(line = p.next_line(20s)).empty();) {
    if (line.ends_with(" signal " + std::to_string(SIGCONT))) continue;  // the teardown's SIGCONT
    (starts_with(line, "main ") ? main_lines : child_lines).push_back(line);
  }
  auto exit = p.wait();
  CHECK_MESSAGE(exit.exited(124), exit.describe());
  CHECK(main_lines ==
        std::vector<std::string>{"main signal " + std::to_string(SIGQUIT), "main signal " + std::to_string(SIGTERM)});
  CHECK(child_lines == std::vector<std::string>{"child signal " + std::to_string(SIGTERM)});
  CHECK(seconds(exit.took) >= 1.4);  // 500 ms, then 1 s for the main command to exit
  auto r = parse_report(report);
  const auto& dump = r["diagnose"]["dump_signal"];
  CHECK(dump["signal"].str() == "SIGQUIT");
  CHECK_FALSE(dump["main_exited"].boolean());
  CHECK(dump["waited_seconds"].num() >= 0.9);
  CHECK(dump["waited_seconds"].num() < 4);
  CHECK(r["diagnose"]["on_expire"].is_null());
}

TEST_CASE("--dump-signal QUIT: a main command that exits on it ends the wait early") {
  NoSurvivors guard;
  std::string report = fresh_dir("dump-exit") + "/report.json";
  auto exit = run({"--report", report, "--dump-signal", "QUIT", "-t", "300ms", kHelper, "record-signals",
                   std::to_string(SIGQUIT), "3"});
  CHECK_MESSAGE(exit.exited(124), exit.describe());
  CHECK(seconds(exit.took) < 4.5);  // not the default 5 s
  auto r = parse_report(report);
  const auto& dump = r["diagnose"]["dump_signal"];
  CHECK(dump["signal"].str() == "SIGQUIT");
  CHECK(dump["main_exited"].boolean());
  CHECK(dump["waited_seconds"].num() < 4);
}

// --- the report and GitHub Actions ---------------------------------------------------------------

TEST_CASE("--report v2: idle, output and diagnose are null when not asked for") {
  NoSurvivors guard;
  auto r = run_reported("plain", {"-t", "60s", kHelper, "exit", "3"});
  CHECK(r.exit.exited(3));
  CHECK(r.report["idle"].is_null());
  CHECK(r.report["output"].is_null());
  CHECK(r.report["diagnose"].is_null());
}

TEST_CASE("--report v2: an idle ending") {
  NoSurvivors guard;
  auto r = run_reported("idle", {"--idle", "1s", "sleep", "30"});
  CHECK_MESSAGE(r.exit.exited(124), r.exit.describe());
  CHECK(r.report["outcome"].str() == "deadline_exceeded");
  CHECK(r.report["cause"].str() == "no output for 1s");
  CHECK(r.report["exit_status"].num() == 124);
  CHECK(r.report["idle"]["limit_seconds"].num() == 1.0);
  CHECK(r.report["idle"]["expired"].boolean());
  const auto& output = r.report["output"];
  CHECK(output["streams"].str() == "separate");
  CHECK(output["stdout_bytes"].num() == 0);
  CHECK(output["stderr_bytes"].num() == 0);
  CHECK(output["last_output"].is_null());
  CHECK(r.report["diagnose"].is_null());
}

TEST_CASE("--report v2: bytes per stream and when the last output came") {
  NoSurvivors guard;
  std::string path = fresh_dir("bytes-report") + "/report.json";
  Process p(Spec{.args = {"--report", path, "--idle", "5s", "sh", "-c", "printf abc; printf 12345 >&2"},
                 .capture_stdout = true});
  CHECK(p.stdout_text() == "abc");
  auto exit = p.wait();
  CHECK_MESSAGE(exit.exited(0), exit.describe());
  CHECK(exit.err == "12345");
  auto r = parse_report(path);
  CHECK(r["outcome"].str() == "exited");
  CHECK(r["idle"]["limit_seconds"].num() == 5.0);
  CHECK_FALSE(r["idle"]["expired"].boolean());
  const auto& output = r["output"];
  CHECK(output["streams"].str() == "separate");
  CHECK(output["stdout_bytes"].num() == 3);
  CHECK(output["stderr_bytes"].num() == 5);
  CHECK_MESSAGE(rfc3339(output["last_output"].str()), output["last_output"].str());
  CHECK(r["diagnose"].is_null());
}

TEST_CASE("--report v2: --heartbeat alone relays output (idle null, output counted)") {
  NoSurvivors guard;
  Spec spec{.capture_stdout = true};
  auto r = run_reported("heartbeat", {"--heartbeat", "10s", "-t", "60s", "sh", "-c", "printf hi"}, spec);
  CHECK_MESSAGE(r.exit.exited(0), r.exit.describe());
  CHECK(r.report["idle"].is_null());
  CHECK(r.report["output"]["stdout_bytes"].num() == 2);
}

TEST_CASE("under GitHub Actions an idle ending also prints the workflow annotation") {
  NoSurvivors guard;
  Process p(Spec{.args = {"--idle", "300ms", "sleep", "30"}, .capture_stdout = true, .env = {"GITHUB_ACTIONS=true"}});
  auto out = p.stdout_text();
  auto exit = p.wait();
  CHECK_MESSAGE(exit.exited(124), exit.describe());
  CHECK(out ==
        "::error title=ctxrun: context deadline exceeded::context deadline exceeded (no output for 300ms): 1 process "
        "torn down\n");
}

// --- Found in review: the relay never outlives the deadline, never takes ctxrun's own fds for the
// caller's, and a second signal during the dump wait is not lost. ----------------------------------

TEST_CASE("the relay's last drain gives up when the deadline has passed and the reader never reads") {
  NoSurvivors guard;
  std::string fifo = temp_dir() + "/stalled";
  REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  // A reader that holds the FIFO open and never reads: `yes` fills it, then blocks.
  ctxrun::unique_fd reader(open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  REQUIRE(reader);
  auto exit = run(Spec{.args = {"-c", "exec \"$@\" >\"$0\"", fifo, kCtxrun, "-t", "1s", "--idle", "60s", "yes"},
                       .argv0 = "/bin/sh"});
  CHECK_MESSAGE(exit.exited(124), exit.describe());
  CHECK(exit.took < 5s);
}

TEST_CASE("with the caller's stdout or stderr closed, the relay leaves that stream alone") {
  NoSurvivors guard;
  for (const char* close : {">&-", "2>&-"}) {
    INFO("ctxrun started with " << close);
    auto exit = run(Spec{.args = {"-c", std::string("exec \"$@\" ") + close, "sh", kCtxrun, "-t", "6s", "--idle", "60s",
                                  "sh", "-c", "echo out; echo err >&2; exit 3"},
                         .argv0 = "/bin/sh"});
    CHECK_MESSAGE(exit.exited(3), exit.describe());
    CHECK(exit.took < 3s);
  }
}

TEST_CASE("a second cancelling signal during the --dump-signal wait goes straight to SIGKILL") {
  NoSurvivors guard;
  // The command says when the dump signal came; TERM is ignored, so only SIGKILL ends it.
  Process p(Spec{.args = {"-t", "300ms", "-k", "30s", "--dump-signal", "USR1:30s", "sh", "-c",
                          "trap '' TERM; trap 'echo dumped >&3' USR1; echo ready >&3; "
                          "while :; do sleep 100 & wait $!; done"}});
  REQUIRE(p.next_line() == "ready");
  REQUIRE(p.next_line() == "dumped");  // the deadline passed; ctxrun waits on the dump now
  p.signal(SIGTERM);
  auto exit = p.wait(20s);
  CHECK_MESSAGE(exit.exited(124), exit.describe());
  CHECK(exit.took < 10s);  // not the 30 s dump wait, nor the 30 s grace
}
