// The context across process boundaries: nested runs share the earliest deadline
// (CTXRUN_DEADLINE), --remaining hands the budget on, --report tells machines what happened.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "harness.h"
#include "json.h"

using namespace e2e;

namespace {

std::string unix_in(double seconds) {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3f",
                static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9 + seconds);
  return buf;
}

}  // namespace

TEST_CASE("nested: the outer deadline cuts the inner one short; the inner says it was inherited") {
  NoSurvivors guard;
  auto exit = run({"-t", "500ms", kCtxrun, "-t", "1h", kHelper, "hang", "3"});
  CHECK_MESSAGE(exit.exited(124), exit.describe());
  CHECK(exit.err.find("ctxrun: context deadline exceeded (inherited deadline @") != std::string::npos);
  CHECK(exit.err.find("ctxrun: context deadline exceeded (timeout 500ms)") != std::string::npos);
  CHECK(exit.err.find("canceled") == std::string::npos);
}

TEST_CASE("nested: a shorter inner deadline wins; the outer passes its 124 on") {
  NoSurvivors guard;
  auto exit = run({"-t", "1h", kCtxrun, "-t", "200ms", kHelper, "hang", "3"});
  CHECK_MESSAGE(exit.exited(124), exit.describe());
  CHECK(exit.err == "ctxrun: context deadline exceeded (timeout 200ms): 1 process torn down\n");
}

TEST_CASE("nested: three levels deep, the outermost deadline reaches the innermost run") {
  NoSurvivors guard;
  // 2 s: time for three ctxruns to start, each with its signals taken, also under ASan on a loaded
  // machine (at 700 ms one CI run saw only one inner level report: a level still starting up).
  auto exit = run({"-t", "2s", kCtxrun, "-t", "1h", kCtxrun, "-t", "2h", kHelper, "hang", "3"});
  CHECK_MESSAGE(exit.exited(124), exit.describe());
  // Each inner level reports the inherited deadline; none reports a cancel.
  std::size_t inherited = 0;
  for (auto at = exit.err.find("(inherited deadline @"); at != std::string::npos;
       at = exit.err.find("(inherited deadline @", at + 1))
    ++inherited;
  CHECK_MESSAGE(inherited == 2, exit.err);
  CHECK(exit.err.find("canceled") == std::string::npos);
}

TEST_CASE("nested: --no-inherit ignores the outer budget (the outer still tears it down)") {
  NoSurvivors guard;
  auto exit = run({"-t", "300ms", kCtxrun, "--no-inherit", "-t", "1h", kHelper, "hang", "3"});
  CHECK_MESSAGE(exit.exited(124), exit.describe());
  CHECK(exit.err.find("ctxrun: context canceled (SIGTERM from the enclosing ctxrun)") != std::string::npos);
  CHECK(exit.err.find("inherited") == std::string::npos);
}

TEST_CASE("a malformed CTXRUN_DEADLINE is an error naming the variable") {
  NoSurvivors guard;
  auto exit = run(Spec{.args = {"true"}, .env = {"CTXRUN_DEADLINE=tomorrow"}});
  CHECK_MESSAGE(exit.exited(125), exit.describe());
  CHECK(exit.err ==
        "ctxrun: invalid CTXRUN_DEADLINE 'tomorrow' (expected seconds since the epoch like 1764090000.25; "
        "--no-inherit ignores it)\n");
  auto ignored = run(Spec{.args = {"--no-inherit", "true"}, .env = {"CTXRUN_DEADLINE=tomorrow"}});
  CHECK_MESSAGE(ignored.exited(0), ignored.describe());
}

TEST_CASE("CTXRUN_DEADLINE is exported as Unix time with nanoseconds, and removed with no deadline") {
  NoSurvivors guard;
  Process with(Spec{.args = {"-d", "@1999999999.25", kHelper, "env", "CTXRUN_DEADLINE"}, .capture_stdout = true});
  CHECK(with.stdout_text() == "1999999999.250000000\n");
  CHECK(with.wait().exited(0));
  Process without(Spec{.args = {"--no-inherit", kHelper, "env", "CTXRUN_DEADLINE"},
                       .capture_stdout = true,
                       .env = {"CTXRUN_DEADLINE=1999999999"}});
  CHECK(without.stdout_text() == "unset\n");
  CHECK(without.wait().exited(0));
}

TEST_CASE("--remaining: inf without a deadline; the budget left in each format; 124 once passed") {
  NoSurvivors guard;
  Process none(Spec{.args = {"--remaining"}, .capture_stdout = true, .env = {}});
  CHECK(none.stdout_text() == "inf\n");
  CHECK(none.wait().exited(0));

  auto deadline = "CTXRUN_DEADLINE=" + unix_in(100);
  Process seconds(Spec{.args = {"--remaining"}, .capture_stdout = true, .env = {deadline}});
  auto s = seconds.stdout_text();
  CHECK(std::regex_match(s, std::regex("(9[0-9]|100)\\.[0-9]{3}\n")));
  CHECK(seconds.wait().exited(0));
  Process ms(Spec{.args = {"--remaining", "--format=ms"}, .capture_stdout = true, .env = {deadline}});
  CHECK(std::regex_match(ms.stdout_text(), std::regex("(9[0-9]|100)[0-9]{3}\n")));
  CHECK(ms.wait().exited(0));
  Process go(Spec{.args = {"--remaining", "--format=go"}, .capture_stdout = true, .env = {deadline}});
  CHECK(std::regex_match(go.stdout_text(), std::regex("(1m[0-9]+(\\.[0-9]+)?s|1m40s|9[0-9](\\.[0-9]+)?s)\n")));
  CHECK(go.wait().exited(0));

  Process passed(Spec{.args = {"--remaining"}, .capture_stdout = true, .env = {"CTXRUN_DEADLINE=1000000000"}});
  CHECK(passed.stdout_text().empty());
  auto exit = passed.wait();
  CHECK_MESSAGE(exit.exited(124), exit.describe());
  CHECK(exit.err == "ctxrun: context deadline exceeded (deadline 2001-09-09T01:46:40.000Z has passed)\n");

  auto bad = run({"--remaining", "--format=hours"});
  CHECK(bad.exited(125));
  CHECK(bad.err == "ctxrun: invalid --format 'hours' (seconds, ms or go)\n");
  auto with_command = run({"--remaining", "true"});
  CHECK(with_command.exited(125));
  CHECK(with_command.err == "ctxrun: --remaining takes no command (see 'ctxrun --help')\n");
}

TEST_CASE("--remaining inside a run hands on what is left of its deadline") {
  NoSurvivors guard;
  Process p(Spec{.args = {"-t", "10s", kCtxrun, "--remaining", "--format=ms"}, .capture_stdout = true});
  auto text = p.stdout_text();
  CHECK(p.wait().exited(0));
  int ms = std::atoi(text.c_str());
  CHECK(ms > 5000);
  CHECK(ms <= 10000);
}

namespace {

json::Value report_of(std::vector<std::string> args, Exit& exit, const std::string& name) {
  // A directory of its own, so that what ctxrun leaves in it can be listed.
  std::string dir = temp_dir() + "/" + name;
  std::filesystem::remove_all(dir);
  REQUIRE(std::filesystem::create_directory(dir));
  std::string path = dir + "/report.json";
  args.insert(args.begin(), {"--report", path});
  exit = run(args);
  auto text = slurp(path);
  auto parsed = json::parse(text);
  REQUIRE_MESSAGE(parsed.has_value(), "not JSON: " << text);
  const auto& r = *parsed;
  // Every field, whatever the outcome.
  CHECK(r["version"].num() == 3);
  for (auto key : {"outcome", "start_time", "tree_backend"}) CHECK(!r[key].str().empty());
  for (auto key : {"cause", "signal", "dies_of_signal", "deadline", "error", "exit_status", "elapsed_seconds"})
    CHECK_NOTHROW((void)r[key]);
  CHECK(r["command"]["argv"].arr().size() >= 1);
  CHECK_NOTHROW((void)r["command"]["status"]);
  CHECK_NOTHROW((void)r["teardown"]["steps"].arr());
  CHECK(r["teardown"]["survivors"].arr().empty());
  CHECK(r["elapsed_seconds"].num() >= 0);
  // No temporary file is left beside the report: the report is all there is.
  std::vector<std::string> left;
  for (const auto& e : std::filesystem::directory_iterator(dir)) left.push_back(e.path().filename().string());
  CHECK(left == std::vector<std::string>{"report.json"});
  return r;
}

}  // namespace

TEST_CASE("--report: exited") {
  NoSurvivors guard;
  Exit exit;
  auto r = report_of({"-t", "60s", kHelper, "exit", "7"}, exit, "exited");
  CHECK(exit.exited(7));
  CHECK(r["outcome"].str() == "exited");
  CHECK(r["exit_status"].num() == 7);
  CHECK(r["command"]["status"]["exited"].num() == 7);
  CHECK(r["command"]["started"].boolean());
  CHECK(r["cause"].is_null());
  CHECK(!r["deadline"].is_null());
  CHECK(r["teardown"]["steps"].arr().empty());
}

TEST_CASE("--report: signaled") {
  NoSurvivors guard;
  Exit exit;
  auto r = report_of({kHelper, "kill-self", "6"}, exit, "signaled");
  CHECK(exit.killed_by(SIGABRT));
  CHECK(r["outcome"].str() == "signaled");
  CHECK(r["command"]["status"]["signaled"].str() == "SIGABRT");
  CHECK(r["dies_of_signal"].str() == "SIGABRT");
  CHECK(r["exit_status"].num() == 128 + SIGABRT);
  CHECK(r["deadline"].is_null());
}

TEST_CASE("--report: deadline_exceeded") {
  NoSurvivors guard;
  Exit exit;
  auto r = report_of({"-t", "200ms", "-k", "300ms", kHelper, "ignore-term", "3"}, exit, "deadline");
  CHECK(exit.exited(124));
  CHECK(r["outcome"].str() == "deadline_exceeded");
  CHECK(r["cause"].str() == "timeout 200ms");
  CHECK(r["exit_status"].num() == 124);
  CHECK(r["command"]["status"]["signaled"].str() == "SIGKILL");
  const auto& steps = r["teardown"]["steps"].arr();
  REQUIRE(steps.size() == 2);
  CHECK(steps[0]["signal"].str() == "SIGTERM");
  CHECK(steps[0]["processes"].num() == 1);
  CHECK(steps[1]["signal"].str() == "SIGKILL");
  CHECK(steps[1]["processes"].num() == 1);
  CHECK(r["teardown"]["processes"].num() == 1);
  CHECK(r["elapsed_seconds"].num() >= 0.5);
}

TEST_CASE("--report: canceled") {
  NoSurvivors guard;
  std::string path = temp_dir() + "/canceled.json";
  Process p(Spec{.args = {"--report", path, kHelper, "hang", "3"}});
  p.await_ready();
  p.signal(SIGINT);
  auto exit = p.wait();
  CHECK(exit.killed_by(SIGINT));
  auto r = json::parse(slurp(path));
  REQUIRE(r.has_value());
  CHECK((*r)["outcome"].str() == "canceled");
  CHECK((*r)["cause"].str() == "SIGINT");
  CHECK((*r)["signal"].str() == "SIGINT");
  CHECK((*r)["dies_of_signal"].str() == "SIGINT");
  CHECK((*r)["exit_status"].num() == 130);
}

TEST_CASE("--report: error (command not found), and the report is still written") {
  NoSurvivors guard;
  Exit exit;
  auto r = report_of({"/nonexistent/cmd"}, exit, "error");
  CHECK(exit.exited(127));
  CHECK(r["outcome"].str() == "error");
  CHECK(r["exit_status"].num() == 127);
  CHECK(r["error"].str() == "failed to run command '/nonexistent/cmd': No such file or directory");
  CHECK_FALSE(r["command"]["started"].boolean());
}

TEST_CASE("--report to a place that cannot be written: one line, the run's status stands") {
  NoSurvivors guard;
  auto exit = run({"--report", "/nonexistent/dir/r.json", kHelper, "exit", "3"});
  CHECK(exit.exited(3));
  CHECK(exit.err.rfind("ctxrun: cannot write report '/nonexistent/dir/r.json", 0) == 0);
}

TEST_CASE("under GitHub Actions a deadline also prints a workflow annotation") {
  NoSurvivors guard;
  Process p(
      Spec{.args = {"-t", "100ms", kHelper, "hang", "3"}, .capture_stdout = true, .env = {"GITHUB_ACTIONS=true"}});
  auto out = p.stdout_text();
  p.wait();
  CHECK(out ==
        "::error title=ctxrun: context deadline exceeded::context deadline exceeded (timeout 100ms): 1 process torn "
        "down\n");
}
