// The command line: usage errors are one line and 125; help and version are 0; options stop at
// the first operand.
#include <doctest/doctest.h>

#include "ctxrun/version.h"
#include "harness.h"

using namespace e2e;

namespace {

void expect_usage_error(std::vector<std::string> args, const std::string& line) {
  NoSurvivors guard;
  auto exit = run(std::move(args));
  CHECK_MESSAGE(exit.exited(125), exit.describe());
  CHECK(exit.err == "ctxrun: " + line + "\n");
}

}  // namespace

TEST_CASE("bad input is one line naming the value, and exit 125") {
  expect_usage_error({"--frobnicate", "true"}, "unknown option '--frobnicate' (see 'ctxrun --help')");
  expect_usage_error({"-t", "5x", "true"}, "invalid duration '5x'");
  expect_usage_error({"-t", "-1", "true"}, "invalid duration '-1'");
  expect_usage_error({"-k", "soon", "true"}, "invalid duration 'soon'");
  expect_usage_error({"-d", "tomorrow", "true"},
                     "invalid deadline 'tomorrow' (expected RFC 3339 like 2026-11-25T17:00:00Z, or @UNIXTIME)");
  expect_usage_error({"-d", "2026-11-25T17:00:00", "true"},
                     "invalid deadline '2026-11-25T17:00:00' (a zone is required: Z or an offset like +01:00)");
  expect_usage_error({"-s", "SIGFOO", "true"}, "invalid signal 'SIGFOO'");
  expect_usage_error({"-s", "0", "true"}, "invalid signal '0'");
  expect_usage_error({"--orphans=sometimes", "true"}, "invalid --orphans 'sometimes' (kill, wait or leave)");
  expect_usage_error({"--tree=magic", "true"}, "invalid --tree 'magic' (auto, cgroup, subreaper or pgroup)");
  expect_usage_error({"-t", "1s"}, "missing command (see 'ctxrun --help')");
  expect_usage_error({}, "missing command (see 'ctxrun --help')");
  expect_usage_error({"-v", "-q", "true"}, "--verbose and --quiet exclude each other");
  expect_usage_error({"--format=ms", "true"}, "--format applies to --remaining only");
  expect_usage_error({"--orphans"}, "--orphans needs a value (see 'ctxrun --help')");
}

TEST_CASE("a value missing after an option is a usage error, not a CLI11 exit code") {
  NoSurvivors guard;
  auto exit = run({"-t"});
  CHECK_MESSAGE(exit.exited(125), exit.describe());
  CHECK(exit.err.rfind("ctxrun: ", 0) == 0);
  CHECK(exit.err.find('\n') == exit.err.size() - 1);  // one line
}

TEST_CASE("--help and --version exit 0 on stdout") {
  NoSurvivors guard;
  Process help(Spec{.args = {"--help"}, .capture_stdout = true});
  auto text = help.stdout_text();
  auto exit = help.wait();
  CHECK(exit.exited(0));
  CHECK(exit.err.empty());
  CHECK(text.rfind("Run a command under a deadline", 0) == 0);
  CHECK(text.find("Usage: ctxrun [OPTIONS] [--] COMMAND [ARG]...\n") != std::string::npos);
  for (auto option : {"--timeout", "--deadline", "--signal", "--kill-after", "--orphans", "--preserve-status", "--tree",
                      "--no-inherit", "--remaining", "--format", "--report", "--verbose", "--quiet", "--version"})
    CHECK_MESSAGE(text.find(option) != std::string::npos, option);
  CHECK(text.find("Exit status:") != std::string::npos);
  Process version(Spec{.args = {"--version"}, .capture_stdout = true});
  CHECK(version.stdout_text() == std::string("ctxrun ") + ctxrun::kVersion + "\n");
  CHECK(version.wait().exited(0));
}

TEST_CASE("options stop at the first operand: the command gets its own options") {
  NoSurvivors guard;
  auto exit = run({"-t", "30s", "sh", "-c", "exit 3"});
  CHECK_MESSAGE(exit.exited(3), exit.describe());
  auto dashed = run({"-t", "30s", "--", "sh", "-c", "exit 4"});
  CHECK_MESSAGE(dashed.exited(4), dashed.describe());
}
