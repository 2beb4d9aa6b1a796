// Fuzzes ctxrun's command line (cli.h): the input, split on NUL bytes, is CTXRUN_DEADLINE (the
// first piece; unset when empty) and then argv[1..] after "ctxrun".
//
// parse_command_line prints: one error line on stderr for each bad input, the help or the version
// on stdout. Both go to /dev/null while it runs, so the fuzzer's log stays readable; the output is
// flushed before they come back, so nothing of it leaks later.
//
// Invariants: nothing escapes (an exit() is reported by libFuzzer as a crash, like an abort or an
// exception); ExitNow is 0 (help, version) or 125; RunOptions are consistent: a command unless
// --remaining or --value-of, none with either, a timeout and a grace that are positive when set, a
// real signal, --value keys that are tokens, each once, with UTF-8 values.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "baggage.h"
#include "check.h"
#include "cli.h"
#include "json_string.h"

namespace {

int g_null = -1, g_stdout = -1, g_stderr = -1;

// Output of the parser to /dev/null, and back.
void silence() {
  std::fflush(stdout);
  std::fflush(stderr);
  dup2(g_null, STDOUT_FILENO);
  dup2(g_null, STDERR_FILENO);
}
void restore() {
  std::fflush(stdout);
  std::fflush(stderr);
  dup2(g_stdout, STDOUT_FILENO);
  dup2(g_stderr, STDERR_FILENO);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  g_null = open("/dev/null", O_WRONLY | O_CLOEXEC);
  g_stdout = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
  g_stderr = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
  if (g_null < 0 || g_stdout < 0 || g_stderr < 0) std::abort();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::string> pieces(1);
  for (std::size_t i = 0; i < size; ++i) {
    if (data[i] == '\0') pieces.emplace_back();
    else pieces.back() += static_cast<char>(data[i]);
  }
  if (pieces.front().empty()) unsetenv("CTXRUN_DEADLINE");
  else setenv("CTXRUN_DEADLINE", pieces.front().c_str(), 1);
  std::vector<std::string> args{"ctxrun"};
  args.insert(args.end(), pieces.begin() + 1, pieces.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  silence();
  auto parsed = ctxrun::parse_command_line(static_cast<int>(args.size()), argv.data());
  restore();

  if (auto* exit_now = std::get_if<ctxrun::ExitNow>(&parsed)) {
    FUZZ_CHECK(exit_now->status == 0 || exit_now->status == 125, "exit status %d", exit_now->status);
    return 0;
  }
  const auto& options = std::get<ctxrun::RunOptions>(parsed);
  bool no_run = options.remaining || options.value_of.has_value();
  FUZZ_CHECK(no_run == options.command.empty(), "remaining %d, value-of %d, %zu command words", options.remaining,
             options.value_of.has_value(), options.command.size());
  FUZZ_CHECK(!(options.remaining && options.value_of), "--remaining with --value-of");
  for (std::size_t i = 0; i < options.values.size(); ++i) {
    const auto& [key, value] = options.values[i];
    FUZZ_CHECK(ctxrun::is_token(key) && ctxrun::valid_utf8(value), "--value %s", key.c_str());
    for (std::size_t j = 0; j < i; ++j) FUZZ_CHECK(options.values[j].first != key, "--value %s twice", key.c_str());
  }
  FUZZ_CHECK(!options.timeout || options.timeout->count() > 0, "timeout %lld ns",
             static_cast<long long>(options.timeout->count()));
  FUZZ_CHECK(!options.kill_after || options.kill_after->count() > 0, "kill-after %lld ns",
             static_cast<long long>(options.kill_after->count()));
  FUZZ_CHECK(options.signal >= 1 && options.signal <= SIGRTMAX, "signal %d", options.signal);
  FUZZ_CHECK(options.remaining_format == "seconds" || options.remaining_format == "ms" ||
                 options.remaining_format == "go",
             "format '%s'", options.remaining_format.c_str());
  return 0;
}
