// Retry (issue #13): --attempts with an attempt timeout inside the overall deadline, a clean slate
// between attempts (the tree torn down, stdin at EOF or rewound), backoff with jitter, --on-retry,
// the lines on stderr and the report's `attempts`.
//
// The commands are scripts through /bin/sh that count their runs in a file of the test's own, so
// that what each attempt saw is read after the run. Timings are bounded generously (a loaded 2-core
// machine); the elapsed time in the stderr lines ("after 0.0s") is matched by its form, its value
// checked within bounds. The tests synchronise on pipes and files; the commands may sleep, that is
// their behaviour.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
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

// A fresh directory of its own, with a run counter at 0.
std::string counter_dir(const std::string& name) {
  std::string dir = fresh_dir(name);
  std::ofstream(dir + "/count") << "0\n";
  return dir;
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

int count_of(const std::string& dir) { return std::atoi(slurp(dir + "/count").c_str()); }

// The start of every script: counts this run in "$0/count" and leaves its number in $n. The
// script is run as `sh -c SCRIPT DIR`, so $0 is the directory.
const std::string kCount = "n=$(cat \"$0/count\"); n=$((n+1)); echo $n >\"$0/count\"; ";

// `sh -c SCRIPT DIR` as the command's argv, after `options`.
std::vector<std::string> script(std::vector<std::string> options, const std::string& dir, const std::string& body) {
  options.insert(options.end(), {"sh", "-c", kCount + body, dir});
  return options;
}

// One stderr line of a retried attempt, split: "ctxrun: attempt K/N failed (REASON after X.Xs); TAIL".
struct AttemptLine {
  int number = 0, of = 0;
  std::string reason;
  double after = -1;
  std::string tail;  // "retrying in 0.1s", "no attempts left", "not retrying: ..."
};

std::optional<AttemptLine> parse_attempt_line(const std::string& line) {
  static const std::regex form(R"(ctxrun: attempt ([0-9]+)/([0-9]+) failed \((.+) after ([0-9]+\.[0-9])s\); (.+))");
  std::smatch m;
  if (!std::regex_match(line, m, form)) return std::nullopt;
  return AttemptLine{
      .number = std::stoi(m[1]), .of = std::stoi(m[2]), .reason = m[3], .after = std::stod(m[4]), .tail = m[5]};
}

// Every line of `err`, each of which must be an attempt line; fails the test on any other.
std::vector<AttemptLine> attempt_lines(const std::string& err) {
  std::vector<AttemptLine> result;
  for (auto& line : lines_of(err)) {
    auto parsed = parse_attempt_line(line);
    CHECK_MESSAGE(parsed.has_value(), "not an attempt line: '" << line << "' in: " << err);
    if (parsed) result.push_back(*parsed);
  }
  return result;
}

// The delay of "retrying in X.Xs", or -1.
double retry_delay(const AttemptLine& line) {
  static const std::regex form(R"(retrying in ([0-9]+\.[0-9])s)");
  std::smatch m;
  if (!std::regex_match(line.tail, m, form)) return -1;
  return std::stod(m[1]);
}

json::Value parse_report(const std::string& path) {
  auto text = slurp(path);
  auto parsed = json::parse(text);
  REQUIRE_MESSAGE(parsed.has_value(), "not JSON: " << text);
  REQUIRE_MESSAGE((*parsed)["version"].num() == 3, text);
  REQUIRE_NOTHROW((void)(*parsed)["attempts"]);
  REQUIRE_NOTHROW((void)(*parsed)["retry_stopped"]);
  return *parsed;
}

bool rfc3339(const std::string& s) {
  static const std::regex form(
      "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})");
  return std::regex_match(s, form);
}

// ctxrun started with the stdin a test chooses (the harness's Spec leaves the test's own), its
// stderr into a pipe, read once it has ended.
Exit run_with_stdin(std::vector<std::string> args, int in, std::chrono::milliseconds limit) {
  int err[2];
  REQUIRE(pipe2(err, O_CLOEXEC) == 0);
  ctxrun::unique_fd err_read(err[0]), err_write(err[1]);
  args.insert(args.begin(), kCtxrun);
  Launched ctxrun(args, in, -1, err_write.get());
  err_write.reset();
  Exit exit = ctxrun.wait(limit);
  exit.err = drain(err_read.get());
  return exit;
}

// A script fragment: writes "gone" or "alive" into FILE for the pid in PIDFILE. A zombie counts as
// gone (dead, its parent not yet told).
std::string record_gone(const std::string& pidfile, const std::string& file) {
  return "p=$(cat \"" + pidfile +
         "\"); s=$(sed -n 's/^State:[[:space:]]*\\(.\\).*/\\1/p' /proc/$p/status 2>/dev/null); "
         "if ! kill -0 $p 2>/dev/null; then echo gone >\"" +
         file +
         "\"; "
         "else case \"$s\" in ''|Z|X) echo gone >\"" +
         file + "\" ;; *) echo alive >\"" + file + "\" ;; esac; fi; ";
}

// A run of two attempts, the first of which left a process in the background (its pid in DIR/bg)
// and failed: it succeeded at the second, which found that process gone (DIR/seen, record_gone).
void check_background_gone_before_attempt_2(const Exit& exit, const std::string& dir) {
  CHECK_MESSAGE(exit.exited(0), exit.describe());
  CHECK(count_of(dir) == 2);
  auto pid = static_cast<pid_t>(std::atoi(slurp(dir + "/bg").c_str()));
  REQUIRE(pid > 0);
  CHECK(slurp(dir + "/seen") == "gone\n");
  CHECK(gone(pid));
}

}  // namespace

// --- the basic loop ------------------------------------------------------------------------------

TEST_CASE("retry: a command failing twice then succeeding ends 0 after 3 attempts, one exact line per retry") {
  NoSurvivors guard;
  std::string dir = counter_dir("twice");
  auto exit = run(script({"--attempts", "3", "--retry-jitter", "none", "--retry-delay", "0.1s"}, dir, "[ $n -ge 3 ]"));
  CHECK_MESSAGE(exit.exited(0), exit.describe());
  CHECK(count_of(dir) == 3);
  auto lines = attempt_lines(exit.err);
  REQUIRE_MESSAGE(lines.size() == 2, exit.err);
  for (std::size_t i = 0; i < 2; ++i) {
    CHECK(lines[i].number == static_cast<int>(i + 1));
    CHECK(lines[i].of == 3);
    CHECK(lines[i].reason == "exit 1");
    CHECK(lines[i].after >= 0.0);
    CHECK(lines[i].after < 3.0);
  }
  CHECK(lines[0].tail == "retrying in 0.1s");
  CHECK(lines[1].tail == "retrying in 0.2s");
  // The whole text, with the elapsed times read back: nothing else on stderr, one line each.
  auto fmt_after = [](double x) {
    std::ostringstream s;
    s.setf(std::ios::fixed);
    s.precision(1);
    s << x;
    return s.str();
  };
  CHECK(exit.err == "ctxrun: attempt 1/3 failed (exit 1 after " + fmt_after(lines[0].after) +
                        "s); retrying in 0.1s\nctxrun: attempt 2/3 failed (exit 1 after " + fmt_after(lines[1].after) +
                        "s); retrying in 0.2s\n");
  CHECK(exit.took < 10s);
}

TEST_CASE("retry: attempts running out end with the last attempt's status and 'no attempts left'") {
  NoSurvivors guard;
  std::string dir = counter_dir("exhausted");
  std::string report = dir + "/report.json";
  auto exit = run(script({"--report", report, "--attempts", "3", "--retry-jitter", "none", "--retry-delay", "0.1s"},
                         dir, "exit $((n+40))"));
  CHECK_MESSAGE(exit.exited(43), exit.describe());
  CHECK(count_of(dir) == 3);
  auto lines = attempt_lines(exit.err);
  REQUIRE_MESSAGE(lines.size() == 3, exit.err);
  CHECK(lines[0].reason == "exit 41");
  CHECK(lines[1].reason == "exit 42");
  CHECK(lines[2].reason == "exit 43");
  CHECK(lines[2].number == 3);
  CHECK(lines[2].tail == "no attempts left");
  CHECK(parse_report(report)["retry_stopped"].str() == "attempts exhausted");

  // A death by its own signal, the last: ctxrun dies of it too, as a single run would.
  std::string segv = counter_dir("exhausted-segv");
  auto killed = run(script({"--attempts", "2", "--retry-jitter", "none", "--retry-delay", "0.1s"}, segv,
                           "ulimit -c 0; kill -SEGV $$"));
  CHECK_MESSAGE(killed.killed_by(SIGSEGV), killed.describe());
  CHECK(count_of(segv) == 2);
  auto seg_lines = attempt_lines(killed.err);
  REQUIRE_MESSAGE(seg_lines.size() == 2, killed.err);
  CHECK(seg_lines[0].reason == "killed by SIGSEGV");
  CHECK(seg_lines[1].tail == "no attempts left");
}

TEST_CASE("retry: without --attempts, a failing command runs once and ctxrun says nothing of attempts") {
  NoSurvivors guard;
  std::string dir = counter_dir("once");
  std::string report = dir + "/report.json";
  auto exit = run(script({"--report", report}, dir, "exit 1"));
  CHECK_MESSAGE(exit.exited(1), exit.describe());
  CHECK(count_of(dir) == 1);
  CHECK(exit.err.empty());
  auto r = parse_report(report);
  CHECK(r["retry_stopped"].is_null());
}

// --- the attempt timeout inside the overall deadline ---------------------------------------------

TEST_CASE("retry: a hanging attempt is cut by --attempt-timeout and the next one succeeds") {
  NoSurvivors guard;
  std::string dir = counter_dir("hang");
  std::string report = dir + "/report.json";
  auto exit = run(script({"--report", report, "-t", "30s", "--attempts", "2", "--attempt-timeout", "1s",
                          "--retry-jitter", "none", "--retry-delay", "0.1s"},
                         dir, "if [ $n -eq 1 ]; then sleep 60; fi; exit 0"));
  CHECK_MESSAGE(exit.exited(0), exit.describe());
  CHECK(count_of(dir) == 2);
  auto lines = attempt_lines(exit.err);
  REQUIRE_MESSAGE(lines.size() == 1, exit.err);
  CHECK(lines[0].reason == "attempt timeout 1s");
  CHECK(lines[0].after >= 0.9);
  CHECK(lines[0].after < 5.0);
  CHECK(lines[0].tail == "retrying in 0.1s");
  CHECK(seconds(exit.took) >= 0.9);
  CHECK(seconds(exit.took) < 10.0);
  auto r = parse_report(report);
  CHECK(r["retry_stopped"].str() == "succeeded");
  REQUIRE(r["attempts"].arr().size() == 2);
  CHECK(r["attempts"].arr()[0]["outcome"].str() == "deadline_exceeded");
  CHECK(r["attempts"].arr()[1]["outcome"].str() == "exited");
}

TEST_CASE("retry: -t 3s --attempts 10 --attempt-timeout 2s, hanging attempts: 124 by about 3 s, the usual line") {
  NoSurvivors guard;
  std::string dir = counter_dir("overall");
  std::string report = dir + "/report.json";
  auto exit = run(script({"--report", report, "-t", "3s", "--attempts", "10", "--attempt-timeout", "2s",
                          "--retry-jitter", "none", "--retry-delay", "0.1s"},
                         dir, "sleep 60"));
  CHECK_MESSAGE(exit.exited(124), exit.describe());
  CHECK(seconds(exit.took) >= 2.8);
  CHECK(seconds(exit.took) < 7.0);
  CHECK(count_of(dir) == 2);  // 0-2 s, then 2.1-3 s (cut by the overall deadline)
  auto lines = lines_of(exit.err);
  REQUIRE_MESSAGE(lines.size() == 2, exit.err);
  auto first = parse_attempt_line(lines[0]);
  REQUIRE_MESSAGE(first.has_value(), exit.err);
  CHECK(first->number == 1);
  CHECK(first->of == 10);
  CHECK(first->reason == "attempt timeout 2s");
  CHECK(first->tail == "retrying in 0.1s");
  static const std::regex ending(R"(ctxrun: context deadline exceeded \(timeout 3s\): [0-9]+ process(es)? torn down)");
  CHECK_MESSAGE(std::regex_match(lines[1], ending), lines[1]);
  auto r = parse_report(report);
  CHECK(r["retry_stopped"].str() == "deadline");
  CHECK(r["attempts"].arr().size() == 2);
}

TEST_CASE("retry: the overall deadline falling in a delay ends at once with the last status and says why") {
  NoSurvivors guard;
  std::string dir = counter_dir("in-delay");
  std::string report = dir + "/report.json";
  // Attempt 1 at 0 s, a delay of 1.2 s, attempt 2 at about 1.2 s; the next delay (2.4 s) would end
  // past the 3 s deadline: no third attempt, no sleep.
  auto exit = run(script({"--report", report, "-t", "3s", "--attempts", "10", "--attempt-timeout", "2s",
                          "--retry-jitter", "none", "--retry-delay", "1.2s"},
                         dir, "exit 3"));
  CHECK_MESSAGE(exit.exited(3), exit.describe());
  CHECK(count_of(dir) == 2);
  CHECK(seconds(exit.took) >= 1.1);
  CHECK(seconds(exit.took) < 2.9);  // stopped, not slept into the deadline
  auto lines = attempt_lines(exit.err);
  REQUIRE_MESSAGE(lines.size() == 2, exit.err);
  CHECK(lines[0].tail == "retrying in 1.2s");
  CHECK(lines[1].number == 2);
  CHECK(lines[1].of == 10);
  CHECK(lines[1].reason == "exit 3");
  CHECK(lines[1].tail == "not retrying: the next attempt would start past the deadline");
  CHECK(parse_report(report)["retry_stopped"].str() == "deadline");
}

TEST_CASE("retry: CTXRUN_DEADLINE of each attempt is its own, at most the attempt timeout from its start") {
  NoSurvivors guard;
  std::string dir = counter_dir("deadline-env");
  auto exit = run(script({"-t", "60s", "--attempts", "2", "--attempt-timeout", "3s", "--retry-jitter", "none",
                          "--retry-delay", "0.5s"},
                         dir, "echo \"$CTXRUN_DEADLINE $(date +%s.%N)\" >>\"$0/deadlines\"; exit 1"));
  CHECK_MESSAGE(exit.exited(1), exit.describe());
  auto lines = lines_of(slurp(dir + "/deadlines"));
  REQUIRE_MESSAGE(lines.size() == 2, slurp(dir + "/deadlines"));
  std::vector<double> deadlines;
  for (auto& line : lines) {
    INFO("line: " << line);
    std::istringstream in(line);
    std::string deadline_text;
    double now = 0;
    in >> deadline_text >> now;
    if (!deadline_text.empty() && deadline_text[0] == '@') deadline_text.erase(0, 1);
    double deadline = std::strtod(deadline_text.c_str(), nullptr);
    REQUIRE(deadline > 0);
    CHECK(deadline - now <= 3.0);  // not the 60 s of the run
    CHECK(deadline - now > 0.0);
    deadlines.push_back(deadline);
  }
  CHECK(deadlines[1] - deadlines[0] >= 0.4);  // the second attempt's deadline is its own, later
}

// --- a clean slate between attempts --------------------------------------------------------------

TEST_CASE("retry: the 'sleep 1000 &' of attempt 1 is gone before attempt 2 starts") {
  NoSurvivors guard;
  std::string dir = counter_dir("background");
  auto exit = run(script({"--attempts", "2", "--retry-jitter", "none", "--retry-delay", "0.1s"}, dir,
                         "if [ $n -eq 1 ]; then sleep 1000 & echo $! >\"$0/bg\"; exit 1; fi; " +
                             record_gone(dir + "/bg", dir + "/seen") + "exit 0"));
  check_background_gone_before_attempt_2(exit, dir);
}

TEST_CASE("retry: a TERM-ignoring child under another uid is torn down between attempts") {
  NoSurvivors guard;
  if (geteuid() != 0 || access("/usr/bin/setpriv", X_OK) != 0) {
    MESSAGE("SKIPPED: needs root and /usr/bin/setpriv");
    return;
  }
  std::string dir = counter_dir("other-uid");
  // Attempt 1 starts, in the background, a shell as nobody that ignores SIGTERM (and so do its
  // sleeps), then fails; attempt 2 records whether that shell is still there.
  auto exit = run(script({"-k", "1s", "--attempts", "2", "--retry-jitter", "none", "--retry-delay", "0.1s"}, dir,
                         "if [ $n -eq 1 ]; then /usr/bin/setpriv --reuid=65534 --regid=65534 --clear-groups "
                         "sh -c 'trap \"\" TERM; while :; do sleep 1; done' & echo $! >\"$0/bg\"; exit 1; fi; " +
                             record_gone(dir + "/bg", dir + "/seen") + "exit 0"),
                  60s);
  check_background_gone_before_attempt_2(exit, dir);
}

TEST_CASE("retry: attempt 2 reads EOF on stdin at once, though the caller's pipe is still open") {
  NoSurvivors guard;
  std::string dir = counter_dir("stdin-pipe");
  int p[2];
  REQUIRE(pipe2(p, O_CLOEXEC) == 0);
  ctxrun::unique_fd read_end(p[0]), write_end(p[1]);
  // Something is waiting in the pipe: attempt 1 leaves it, attempt 2 must not see it either.
  REQUIRE(write(write_end.get(), "secret\n", 7) == 7);
  auto exit = run_with_stdin(script({"-t", "30s", "--attempts", "2", "--attempt-timeout", "5s", "--retry-jitter",
                                     "none", "--retry-delay", "0.1s"},
                                    dir, "if [ $n -eq 1 ]; then exit 1; fi; cat >\"$0/in2\""),
                             read_end.get(), 40s);
  CHECK_MESSAGE(exit.exited(0), exit.describe());
  CHECK(count_of(dir) == 2);
  CHECK(slurp(dir + "/in2").empty());
  CHECK(exit.took < 5s);  // not the attempt timeout: cat saw EOF at once
}

TEST_CASE("retry: a regular file as stdin is rewound for each attempt") {
  NoSurvivors guard;
  std::string dir = counter_dir("stdin-file");
  std::string input = dir + "/input";
  std::ofstream(input) << "first\nsecond\nthird\n";
  ctxrun::unique_fd in(open(input.c_str(), O_RDONLY | O_CLOEXEC));
  REQUIRE(in);
  auto exit = run_with_stdin(script({"-t", "30s", "--attempts", "3", "--retry-jitter", "none", "--retry-delay", "0.1s"},
                                    dir, "read line; echo \"$line\" >>\"$0/lines\"; [ $n -ge 2 ]"),
                             in.get(), 40s);
  CHECK_MESSAGE(exit.exited(0), exit.describe());
  CHECK(count_of(dir) == 2);
  CHECK(slurp(dir + "/lines") == "first\nfirst\n");
}

TEST_CASE("retry: the command sees CTXRUN_ATTEMPT and CTXRUN_ATTEMPTS") {
  NoSurvivors guard;
  std::string dir = counter_dir("env");
  auto exit = run(script({"--attempts", "4", "--retry-jitter", "none", "--retry-delay", "0.1s"}, dir,
                         "echo \"$CTXRUN_ATTEMPT/$CTXRUN_ATTEMPTS\" >>\"$0/seen\"; [ \"$CTXRUN_ATTEMPT\" = 3 ]"));
  CHECK_MESSAGE(exit.exited(0), exit.describe());
  CHECK(slurp(dir + "/seen") == "1/4\n2/4\n3/4\n");
}

// --- what is retried -----------------------------------------------------------------------------

TEST_CASE("retry: --retry-on exit:75 retries 75 and not 1") {
  NoSurvivors guard;
  std::string dir = counter_dir("exit-filter");
  std::string report = dir + "/report.json";
  auto exit = run(script({"--report", report, "--attempts", "3", "--retry-on", "exit:75", "--retry-jitter", "none",
                          "--retry-delay", "0.1s"},
                         dir, "if [ $n -eq 1 ]; then exit 75; fi; exit 1"));
  CHECK_MESSAGE(exit.exited(1), exit.describe());
  CHECK(count_of(dir) == 2);
  std::size_t retried = 0;
  for (auto& line : lines_of(exit.err)) {
    auto parsed = parse_attempt_line(line);
    if (parsed && retry_delay(*parsed) >= 0) {
      ++retried;
      CHECK(parsed->number == 1);
      CHECK(parsed->reason == "exit 75");
    }
  }
  CHECK_MESSAGE(retried == 1, exit.err);
  CHECK(parse_report(report)["retry_stopped"].str() == "not retryable");

  // The numbers after "exit:" belong to it: exit:1,75 retries both; then 0.
  std::string list = counter_dir("exit-list");
  auto both = run(
      script({"--attempts", "3", "--retry-on", "exit:1,75", "--retry-jitter", "none", "--retry-delay", "0.1s"}, list,
             "case $n in 1) exit 1 ;; 2) exit 75 ;; esac; exit 0"));
  CHECK_MESSAGE(both.exited(0), both.describe());
  CHECK(count_of(list) == 3);

  // A death by a signal is not in exit:75.
  std::string sig = counter_dir("exit-filter-signal");
  auto killed = run(
      script({"--attempts", "3", "--retry-on", "exit:75", "--retry-jitter", "none", "--retry-delay", "0.1s"}, sig,
             "kill -TERM $$"));
  CHECK_MESSAGE(killed.killed_by(SIGTERM), killed.describe());
  CHECK(count_of(sig) == 1);
}

TEST_CASE("retry: the default 'failure' retries an idle ending") {
  NoSurvivors guard;
  std::string dir = counter_dir("idle");
  auto exit = run(
      script({"-t", "30s", "--idle", "500ms", "--attempts", "2", "--retry-jitter", "none", "--retry-delay", "0.1s"},
             dir, "if [ $n -eq 1 ]; then sleep 60; fi; exit 0"));
  CHECK_MESSAGE(exit.exited(0), exit.describe());
  CHECK(count_of(dir) == 2);
  auto lines = attempt_lines(exit.err);
  REQUIRE_MESSAGE(lines.size() == 1, exit.err);
  CHECK(lines[0].reason == "no output for 500ms");
  CHECK(lines[0].tail == "retrying in 0.1s");
  CHECK(exit.took < 10s);
}

TEST_CASE("retry: 127 and 126 are never retried, whatever --retry-on says") {
  NoSurvivors guard;
  // A command that is not there: one attempt only, no attempt line.
  auto missing = run({"--attempts", "3", "--retry-delay", "0.1s", "/nonexistent/ctxrun-retry-test"});
  CHECK_MESSAGE(missing.exited(127), missing.describe());
  CHECK(missing.err.find("attempt") == std::string::npos);
  CHECK(lines_of(missing.err).size() == 1);
  CHECK(missing.took < 5s);

  // A command exiting 127 or 126 itself, even with the status listed.
  for (int status : {127, 126}) {
    INFO("status " << status);
    std::string dir = counter_dir("status-" + std::to_string(status));
    auto exit = run(script({"--attempts", "3", "--retry-on", "exit:" + std::to_string(status) + ",1", "--retry-jitter",
                            "none", "--retry-delay", "0.1s"},
                           dir, "exit " + std::to_string(status)));
    CHECK_MESSAGE(exit.exited(status), exit.describe());
    CHECK(count_of(dir) == 1);
    CHECK(exit.err.find("retrying") == std::string::npos);
  }
}

// --- signals and delays --------------------------------------------------------------------------

TEST_CASE("retry: SIGINT during the delay ends ctxrun at once, of SIGINT, with no further attempt") {
  NoSurvivors guard;
  std::string dir = counter_dir("sigint");
  std::string report = dir + "/report.json";
  Process p(
      Spec{.args = script({"--report", report, "--attempts", "3", "--retry-jitter", "none", "--retry-delay", "30s"},
                          dir, "exit 1")});
  REQUIRE_MESSAGE(p.await_stderr("retrying in 30.0s", 20s), p.stderr_so_far());
  auto signaled = Clock::now();
  p.signal(SIGINT);
  auto exit = p.wait(20s);
  CHECK_MESSAGE(exit.killed_by(SIGINT), exit.describe());
  CHECK(Clock::now() - signaled < 3s);
  CHECK(count_of(dir) == 1);
  CHECK(parse_report(report)["retry_stopped"].str() == "canceled");
}

TEST_CASE("retry: backoff and seeded full jitter keep each delay within [0, min(max, delay*2^(k-1))]") {
  NoSurvivors guard;
  const double bound[] = {0.2, 0.4, 0.5, 0.5};
  const std::vector<std::string> backoff{"--retry-delay", "0.2s", "--retry-max-delay", "0.5s"};
  // The four delays of 5 attempts of `false` under `options`.
  auto delays_of = [&](std::vector<std::string> options, const std::vector<std::string>& env) {
    options.insert(options.begin(), {"--attempts", "5"});
    options.emplace_back("false");
    auto exit = run(Spec{.args = options, .env = env});
    CHECK_MESSAGE(exit.exited(1), exit.describe());
    std::vector<double> delays;
    auto lines = attempt_lines(exit.err);
    REQUIRE_MESSAGE(lines.size() == 5, exit.err);
    for (std::size_t k = 0; k < 4; ++k) {
      CHECK(lines[k].number == static_cast<int>(k + 1));
      CHECK(lines[k].reason == "exit 1");
      delays.push_back(retry_delay(lines[k]));
    }
    CHECK(lines[4].tail == "no attempts left");
    return delays;
  };

  std::vector<double> all;
  for (int seed : {1, 2, 3, 4}) {
    INFO("seed " << seed);
    auto delays = delays_of(backoff, {"CTXRUN_RETRY_SEED=" + std::to_string(seed)});
    for (std::size_t k = 0; k < delays.size(); ++k) {
      INFO("delay " << k + 1 << ": " << delays[k]);
      CHECK(delays[k] >= 0.0);
      CHECK(delays[k] <= bound[k] + 1e-9);
      all.push_back(delays[k]);
    }
  }
  // Jitter does something: not every one of the 16 delays is at its bound.
  std::size_t at_bound = 0;
  for (std::size_t i = 0; i < all.size(); ++i)
    if (all[i] >= bound[i % 4] - 1e-9) ++at_bound;
  CHECK(at_bound < all.size());
  // The same seed, the same delays.
  CHECK(delays_of(backoff, {"CTXRUN_RETRY_SEED=7"}) == delays_of(backoff, {"CTXRUN_RETRY_SEED=7"}));
  // Without jitter: exactly the backoff, capped; and another factor.
  auto none = backoff;
  none.insert(none.end(), {"--retry-jitter", "none"});
  CHECK(delays_of(none, {}) == std::vector<double>{0.2, 0.4, 0.5, 0.5});
  CHECK(
      delays_of({"--retry-delay", "0.1s", "--retry-backoff", "3", "--retry-max-delay", "1s", "--retry-jitter", "none"},
                {}) == std::vector<double>{0.1, 0.3, 0.9, 1.0});
}

// --- --on-retry ----------------------------------------------------------------------------------

TEST_CASE("retry: --on-retry runs between attempts; its failure is a warning, not an ending") {
  NoSurvivors guard;
  std::string dir = counter_dir("on-retry");
  auto exit = run(script({"--attempts", "3", "--retry-jitter", "none", "--retry-delay", "0.1s", "--on-retry",
                          "echo hook >>'" + dir + "/log'"},
                         dir, "echo attempt$n >>\"$0/log\"; [ $n -ge 3 ]"));
  CHECK_MESSAGE(exit.exited(0), exit.describe());
  CHECK(slurp(dir + "/log") == "attempt1\nhook\nattempt2\nhook\nattempt3\n");

  std::string failing = counter_dir("on-retry-fails");
  auto warned = run(
      script({"--attempts", "2", "--retry-jitter", "none", "--retry-delay", "0.1s", "--on-retry", "exit 3"}, failing,
             "[ $n -ge 2 ]"));
  CHECK_MESSAGE(warned.exited(0), warned.describe());
  CHECK(count_of(failing) == 2);
  std::size_t warnings = 0;
  for (auto& line : lines_of(warned.err))
    if (starts_with(line, "ctxrun: warning: --on-retry")) ++warnings;
  CHECK_MESSAGE(warnings == 1, warned.err);
}

// --- GitHub Actions ------------------------------------------------------------------------------

TEST_CASE("retry: under GitHub Actions each retried attempt is also a ::warning annotation") {
  NoSurvivors guard;
  std::string dir = counter_dir("actions");
  Process p(
      Spec{.args = script({"--attempts", "3", "--retry-jitter", "none", "--retry-delay", "0.1s"}, dir, "[ $n -ge 3 ]"),
           .capture_stdout = true,
           .env = {"GITHUB_ACTIONS=true"}});
  auto out = p.stdout_text();
  auto exit = p.wait();
  CHECK_MESSAGE(exit.exited(0), exit.describe());
  auto lines = lines_of(out);
  REQUIRE_MESSAGE(lines.size() == 2, out);
  CHECK(starts_with(lines[0], "::warning title=ctxrun: attempt 1/3 failed::"));
  CHECK(starts_with(lines[1], "::warning title=ctxrun: attempt 2/3 failed::"));
}

// --- the report ----------------------------------------------------------------------------------

TEST_CASE("retry: the report's attempts: numbers, outcomes, statuses, times, and why retrying stopped") {
  NoSurvivors guard;
  std::string dir = counter_dir("report");
  std::string report = dir + "/report.json";
  auto exit = run(script({"--report", report, "--attempts", "4", "--retry-jitter", "none", "--retry-delay", "0.1s"},
                         dir, "case $n in 1) exit 2 ;; 2) ulimit -c 0; kill -SEGV $$ ;; esac; exit 0"));
  CHECK_MESSAGE(exit.exited(0), exit.describe());
  auto lines = attempt_lines(exit.err);
  REQUIRE_MESSAGE(lines.size() == 2, exit.err);
  CHECK(lines[0].reason == "exit 2");
  CHECK(lines[1].reason == "killed by SIGSEGV");
  CHECK(lines[1].tail == "retrying in 0.2s");

  auto r = parse_report(report);
  CHECK(r["outcome"].str() == "exited");
  CHECK(r["exit_status"].num() == 0);
  CHECK(r["retry_stopped"].str() == "succeeded");
  auto& attempts = r["attempts"].arr();
  REQUIRE(attempts.size() == 3);
  for (std::size_t i = 0; i < attempts.size(); ++i) {
    INFO("attempt " << i + 1);
    auto& a = attempts[i];
    CHECK(a["number"].num() == static_cast<double>(i + 1));
    CHECK(rfc3339(a["start_time"].str()));
    CHECK(a["elapsed_seconds"].num() >= 0.0);
    CHECK(a["elapsed_seconds"].num() < 10.0);
    CHECK(a["processes"].num() >= 0.0);
    CHECK(a["cause"].is_null());  // each ended on its own
  }
  CHECK(attempts[0]["outcome"].str() == "exited");
  CHECK(attempts[0]["status"]["exited"].num() == 2);
  CHECK(attempts[1]["outcome"].str() == "signaled");
  CHECK(attempts[1]["status"]["signaled"].str() == "SIGSEGV");
  CHECK(attempts[2]["outcome"].str() == "exited");
  CHECK(attempts[2]["status"]["exited"].num() == 0);
  // Start times in order, each after the previous one's start.
  CHECK(attempts[0]["start_time"].str() <= attempts[1]["start_time"].str());
  CHECK(attempts[1]["start_time"].str() <= attempts[2]["start_time"].str());
}

// --- usage errors --------------------------------------------------------------------------------

TEST_CASE("retry: a bad --attempts, --retry-on or --retry-jitter, or --attempts with --orphans=leave: one line, 125") {
  NoSurvivors guard;
  for (const auto& c : std::vector<UsageCase>{
           {{"--attempts", "0", "true"}, {"--attempts"}},
           {{"--attempts", "x", "true"}, {"--attempts"}},
           {{"--attempts", "-1", "true"}, {"--attempts"}},
           {{"--attempts", "1.5", "true"}, {"--attempts"}},
           {{"--attempts", "2", "--retry-on", "sometimes", "true"}, {"--retry-on"}},
           {{"--attempts", "2", "--retry-on", "exit:", "true"}, {"--retry-on"}},
           {{"--attempts", "2", "--retry-on", "exit:x", "true"}, {"--retry-on"}},
           {{"--attempts", "2", "--retry-on", "timeout,bogus", "true"}, {"--retry-on"}},
           {{"--attempts", "2", "--retry-jitter", "bad", "true"}, {"--retry-jitter"}},
           {{"--attempts", "2", "--orphans=leave", "true"}, {"--attempts", "--orphans"}},
       })
    check_usage_error(c);
}

TEST_CASE("retry: --help lists the retry options") {
  NoSurvivors guard;
  Process help(Spec{.args = {"--help"}, .capture_stdout = true});
  auto text = help.stdout_text();
  CHECK(help.wait().exited(0));
  for (auto option : {"--attempts", "--attempt-timeout", "--retry-on", "--retry-delay", "--retry-backoff",
                      "--retry-max-delay", "--retry-jitter", "--on-retry"})
    CHECK_MESSAGE(text.find(option) != std::string::npos, option);
}

TEST_CASE(
    "retry: ctxrun SIGKILLed in its 400th attempt leaves no leaf and no process: its guardian knows the live leaf") {
  // The guardian reads its orders only once ctxrun is gone; an order per attempt's leaf would fill
  // the socket's buffer after a few hundred attempts and lose the last ones.
  const auto& all = backends();
  if (std::find(all.begin(), all.end(), "cgroup") == all.end()) {
    MESSAGE("SKIPPED: no cgroup backend here");
    return;
  }
  NoSurvivors guard;
  std::string script = "test \"$CTXRUN_ATTEMPT\" -lt 400 && exit 1; exec '" + kHelper + "' hang 3";
  Process p(
      Spec{.args = {"--tree=cgroup", "--attempts", "400", "--retry-delay", "0", "-t", "120s", "sh", "-c", script}});
  auto pids = p.await_ready(60s);
  REQUIRE(pids.size() == 1);
  p.signal(SIGKILL);
  auto exit = p.wait(20s);
  CHECK_MESSAGE(exit.killed_by(SIGKILL), exit.describe());
  CHECK_MESSAGE(await_no_survivors(5s), "the last attempt's tree outlived ctxrun");
  CHECK_FALSE(cgroup_leaf_left(p.pid()));
}
