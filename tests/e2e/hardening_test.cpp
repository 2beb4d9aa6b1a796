// Hardening (issue #10): bad input and faults get one clear line and the right status, and nothing
// is damaged or lost: the report never replaces what it must not, option values are read as
// getopt_long reads them, ctxrun's own writes never kill it, output whose value is the point
// checks its write, the report is valid UTF-8 and messages stay on one line.
//
// Each test failed on the binary before these fixes, except four guards of behaviour that was
// already right and must stay so, marked "Guard:".
#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "harness.h"
#include "json.h"
#include "launched.h"

extern char** environ;

using namespace e2e;
using ctxrun::unique_fd;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> entries(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// How a run with stdout or stderr the harness cannot give ended: `out` and `err` become ctxrun's
// fds 1 and 2 (-1: a pipe whose reader is gone); whatever ctxrun writes to a stderr pipe of ours is
// returned in `err`.
struct RawExit {
  int status = 0;
  std::string err;
};

constexpr int kClosedPipe = -1;
constexpr int kCapture = -2;

RawExit run_raw(const std::vector<std::string>& args, int out, int err, const std::vector<std::string>& env = {}) {
  int closed[2], captured[2];
  REQUIRE(pipe2(closed, O_CLOEXEC) == 0);
  REQUIRE(pipe2(captured, O_CLOEXEC) == 0);
  close(closed[0]);  // nobody reads this pipe: a write gets EPIPE (and SIGPIPE)
  auto fd_for = [&](int which) { return which == kClosedPipe ? closed[1] : which == kCapture ? captured[1] : which; };
  std::vector<std::string> all{kCtxrun};
  all.insert(all.end(), args.begin(), args.end());
  RawExit result;
  {
    Launched ctxrun(all, -1, fd_for(out), fd_for(err), -1, env);
    close(closed[1]);
    close(captured[1]);
    result.status = ctxrun.wait(60s).status;
  }
  // ctxrun and its tree are gone: the pipe holds all they wrote.
  result.err = drain(captured[0]);
  close(captured[0]);
  return result;
}

bool exited(int status, int code) { return WIFEXITED(status) && WEXITSTATUS(status) == code; }

// Whether `text` is valid UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF).
bool valid_utf8(const std::string& text) {
  for (std::size_t i = 0; i < text.size();) {
    auto b = static_cast<unsigned char>(text[i]);
    std::size_t n = b < 0x80 ? 1 : (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : (b & 0xF8) == 0xF0 ? 4 : 0;
    if (n == 0 || i + n > text.size()) return false;
    std::uint32_t cp = n == 1 ? b : b & (0x7F >> n);
    for (std::size_t k = 1; k < n; ++k) {
      auto c = static_cast<unsigned char>(text[i + k]);
      if ((c & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (c & 0x3F);
    }
    static constexpr std::uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n;
  }
  return true;
}

json::Value parsed_report(const std::string& path) {
  auto text = slurp(path);
  auto r = json::parse(text);
  REQUIRE_MESSAGE(r.has_value(), "not JSON: [" << text << "]");
  return *r;
}

}  // namespace

// --- 1. The report never replaces what is not a regular file it may replace. ------------------

TEST_CASE("--report to a device writes into it and leaves the device node alone") {
  NoSurvivors guard;
  std::string dir = fresh_dir("report-device");
  // A null device of our own (as /dev/null is), so that the old behaviour damages nothing shared.
  std::string null_dev = dir + "/null";
  if (mknod(null_dev.c_str(), S_IFCHR | 0666, makedev(1, 3)) != 0) {
    MESSAGE("skipped: cannot make a device node (" << std::strerror(errno) << ")");
    return;
  }
  std::string link = dir + "/link-to-null";
  REQUIRE(symlink(null_dev.c_str(), link.c_str()) == 0);
  for (const auto& target : {null_dev, link}) {
    auto exit = run({"--report", target, kHelper, "exit", "0"});
    CHECK_MESSAGE(exit.exited(0), exit.describe());
    CHECK(exit.err == "");
  }
  struct stat st {};
  REQUIRE(lstat(null_dev.c_str(), &st) == 0);
  CHECK(S_ISCHR(st.st_mode));
  CHECK(st.st_rdev == makedev(1, 3));
  REQUIRE(lstat(link.c_str(), &st) == 0);
  CHECK(S_ISLNK(st.st_mode));
  CHECK(entries(dir) == std::vector<std::string>{"link-to-null", "null"});
}

TEST_CASE("--report to a FIFO writes the JSON into it; the FIFO stays a FIFO") {
  NoSurvivors guard;
  std::string dir = fresh_dir("report-fifo");
  std::string fifo = dir + "/fifo";
  REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  // The reader is there before ctxrun ends (as `cat fifo &` would be).
  unique_fd reader(open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  REQUIRE(reader);
  auto exit = run({"--report", fifo, kHelper, "exit", "3"});
  CHECK_MESSAGE(exit.exited(3), exit.describe());
  CHECK(exit.err == "");
  std::string text;
  char buf[4096];
  for (ssize_t n; (n = read(reader.get(), buf, sizeof buf)) > 0;) text.append(buf, static_cast<std::size_t>(n));
  auto r = json::parse(text);
  REQUIRE_MESSAGE(r.has_value(), "not JSON: [" << text << "]");
  CHECK((*r)["exit_status"].num() == 3);
  struct stat st {};
  REQUIRE(lstat(fifo.c_str(), &st) == 0);
  CHECK(S_ISFIFO(st.st_mode));
  CHECK(entries(dir) == std::vector<std::string>{"fifo"});
}

TEST_CASE("--report through a link to ctxrun's stdout (as /dev/stdout) appends to it; the link stays") {
  NoSurvivors guard;
  std::string dir = fresh_dir("report-stdout");
  std::string link = dir + "/stdout";
  REQUIRE(symlink("/proc/self/fd/1", link.c_str()) == 0);
  Process p(Spec{.args = {"--report", link, "sh", "-c", "echo output"}, .capture_stdout = true});
  auto out = p.stdout_text();
  auto exit = p.wait();
  CHECK_MESSAGE(exit.exited(0), exit.describe());
  CHECK(exit.err == "");
  REQUIRE(out.rfind("output\n{", 0) == 0);
  auto r = json::parse(out.substr(7));
  REQUIRE_MESSAGE(r.has_value(), "not JSON: [" << out << "]");
  CHECK((*r)["outcome"].str() == "exited");
  struct stat st {};
  REQUIRE(lstat(link.c_str(), &st) == 0);
  CHECK(S_ISLNK(st.st_mode));
}

TEST_CASE("--report replaces a regular file and leaves nothing else in its directory") {
  // Guard: the atomic replacement of a regular file stays.
  NoSurvivors guard;
  std::string dir = fresh_dir("report-regular");
  std::string path = dir + "/report.json";
  { std::ofstream(path) << "an older report, much longer than the new one will be ...........\n"; }
  auto exit = run({"--report", path, kHelper, "exit", "0"});
  CHECK_MESSAGE(exit.exited(0), exit.describe());
  CHECK(exit.err == "");
  CHECK(parsed_report(path)["outcome"].str() == "exited");
  CHECK(entries(dir) == std::vector<std::string>{"report.json"});
}

TEST_CASE("an empty --report path is a usage error, and never takes the next argument") {
  NoSurvivors guard;
  std::string dir = fresh_dir("report-empty");
  // Run from inside `dir`: a value taken from the next argument would become a file there.
  for (auto args : {std::vector<std::string>{"--report=", "--timeout=0.3s", kHelper, "exit", "0"},
                    std::vector<std::string>{"--report", "", "--timeout=0.3s", kHelper, "exit", "0"}}) {
    args.insert(args.begin(), {"-c", "cd \"$0\" && exec \"$@\"", dir, kCtxrun});
    auto exit = run(Spec{.args = args, .argv0 = "/bin/sh"});
    CHECK_MESSAGE(exit.exited(125), exit.describe());
    CHECK(exit.err == "ctxrun: empty value for --report (see 'ctxrun --help')\n");
    CHECK(entries(dir).empty());
  }
}

TEST_CASE("the report is written for usage errors after --report and a malformed CTXRUN_DEADLINE") {
  NoSurvivors guard;
  std::string dir = fresh_dir("report-usage");
  struct Case {
    std::vector<std::string> args;
    std::vector<std::string> env;
    std::string error;
  };
  const Case cases[] = {
      {{"-t", "5x", "true"}, {}, "invalid duration '5x'"},
      {{"--frobnicate", "true"}, {}, "unknown option '--frobnicate' (see 'ctxrun --help')"},
      {{"--timeout=", "true"}, {}, "empty value for --timeout (see 'ctxrun --help')"},
      {{"true"},
       {"CTXRUN_DEADLINE=tomorrow"},
       "invalid CTXRUN_DEADLINE 'tomorrow' (expected seconds since the epoch like 1764090000.25; "
       "--no-inherit ignores it)"},
  };
  int n = 0;
  for (const auto& c : cases) {
    std::string path = dir + "/r" + std::to_string(n++) + ".json";
    std::vector<std::string> args{"--report", path};
    args.insert(args.end(), c.args.begin(), c.args.end());
    auto exit = run(Spec{.args = args, .env = c.env});
    CHECK_MESSAGE(exit.exited(125), exit.describe());
    CHECK(exit.err == "ctxrun: " + c.error + "\n");
    auto r = parsed_report(path);
    CHECK(r["outcome"].str() == "error");
    CHECK(r["exit_status"].num() == 125);
    CHECK(r["error"].str() == c.error);
    CHECK_FALSE(r["command"]["started"].boolean());
    CHECK(r["tree_backend"].str() == "none");
  }
  // Before --report is read, its path is not known: no report, and nothing else either.
  auto before = run({"--frobnicate", "--report", dir + "/before.json", "true"});
  CHECK(before.exited(125));
  CHECK(before.err == "ctxrun: unknown option '--frobnicate' (see 'ctxrun --help')\n");
  CHECK(entries(dir) == std::vector<std::string>{"r0.json", "r1.json", "r2.json", "r3.json"});
}

// --- 2. Option values exactly as getopt_long takes them. --------------------------------------

TEST_CASE("an empty attached value is an empty value, never the next argument") {
  NoSurvivors guard;
  for (std::string option : {"timeout", "signal", "tree", "deadline", "kill-after", "orphans", "report"}) {
    // Old behaviour: `--timeout= --signal=KILL` read "--signal=KILL" as the timeout.
    auto exit = run({"--" + option + "=", "--verbose", kHelper, "exit", "0"});
    CHECK_MESSAGE(exit.exited(125), option << ": " << exit.describe());
    CHECK(exit.err == "ctxrun: empty value for --" + option + " (see 'ctxrun --help')\n");
  }
  auto separate = run({"-t", "", kHelper, "exit", "0"});
  CHECK_MESSAGE(separate.exited(125), separate.describe());
  CHECK(separate.err == "ctxrun: empty value for --timeout (see 'ctxrun --help')\n");
  // The old reading: `--timeout= sleep-like-value` ran with no deadline at all.
  auto eaten = run({"--timeout=", "0.3s", kHelper, "exit", "0"});
  CHECK_MESSAGE(eaten.exited(125), eaten.describe());
  CHECK(eaten.err == "ctxrun: empty value for --timeout (see 'ctxrun --help')\n");
}

TEST_CASE("usage errors are ctxrun's own one line naming the option") {
  NoSurvivors guard;
  struct Case {
    std::vector<std::string> args;
    std::string line;
  };
  const Case cases[] = {
      {{"-t", "1s", "--timeout", "2s", "true"}, "--timeout given twice (see 'ctxrun --help')"},
      // The first path is known when the second is refused: its report goes to the test's own directory.
      {{"--report=" + temp_dir() + "/twice-a", "--report=" + temp_dir() + "/twice-b", "true"},
       "--report given twice (see 'ctxrun --help')"},
      {{"--help=foo"}, "--help takes no value (see 'ctxrun --help')"},
      {{"--verbose=yes", "true"}, "--verbose takes no value (see 'ctxrun --help')"},
      {{"--version", "extra"}, "--version takes no other arguments"},
      {{"--help", "-t", "1s"}, "--help takes no other arguments"},
      {{"--orphans"}, "--orphans needs a value (see 'ctxrun --help')"},
      {{"-vk"}, "--kill-after needs a value (see 'ctxrun --help')"},
      {{"-x", "true"}, "unknown option '-x' (see 'ctxrun --help')"},
  };
  for (const auto& c : cases) {
    auto exit = run(Spec{.args = c.args, .capture_stdout = true});
    CHECK_MESSAGE(exit.exited(125), exit.describe());
    CHECK(exit.err == "ctxrun: " + c.line + "\n");
  }
  // What getopt_long accepts still works: a value attached to a short option, grouped flags, a value
  // that starts with '-', "--" before a command that does.
  auto grouped = run({"-qt5s", "-s", "-15", "--", kHelper, "exit", "4"});
  CHECK(grouped.exited(125));
  CHECK(grouped.err == "ctxrun: invalid signal '-15'\n");
  auto attached = run({"-qt5s", "--signal=INT", "--", kHelper, "exit", "4"});
  CHECK_MESSAGE(attached.exited(4), attached.describe());
  CHECK(attached.err == "");
}

// --- 3. SIGPIPE never kills ctxrun; the command gets its disposition back. ------------------------

TEST_CASE("a closed stderr or stdout pipe does not kill ctxrun: the status stands") {
  NoSurvivors guard;
  auto deadline = run_raw({"-t", "200ms", "sleep", "5"}, 1, kClosedPipe);
  CHECK(exited(deadline.status, 124));
  auto missing = run_raw({"/nonexistent/command"}, 1, kClosedPipe);
  CHECK(exited(missing.status, 127));
  auto verbose = run_raw({"-v", "-t", "200ms", "sleep", "5"}, 1, kClosedPipe);
  CHECK(exited(verbose.status, 124));
  auto actions = run_raw({"-t", "200ms", "sleep", "5"}, kClosedPipe, kCapture, {"GITHUB_ACTIONS=true"});
  CHECK(exited(actions.status, 124));
  CHECK(actions.err == "ctxrun: context deadline exceeded (timeout 200ms): 1 process torn down\n");
  CHECK(await_no_survivors(10s));
}

TEST_CASE("the command gets SIGPIPE as ctxrun was started with it, though ctxrun ignores it") {
  // Guard: ctxrun now ignores SIGPIPE; the command must still start with it at SIG_DFL (and with it
  // ignored when ctxrun was: signals_test.cpp).
  NoSurvivors guard;
  std::string file = temp_dir() + "/pipe-state";
  auto exit = run(Spec{.args = {"-t", "60s", kHelper, "state", file}, .ignore = {SIGHUP}});
  CHECK_MESSAGE(exit.exited(0), exit.describe());
  auto state = slurp(file);
  std::ostringstream expected;
  expected << "ignored: " << SIGHUP << "\n";
  CHECK(state.find(expected.str()) != std::string::npos);
}

TEST_CASE("timeout personality: a closed stderr pipe ends it as it ends GNU timeout") {
  NoSurvivors guard;
  // Guard. GNU timeout does not ignore SIGPIPE: `timeout -v .2 sleep 1 2>&1 | true` dies of it (141), and
  // the personality matches GNU's behaviour, not ctxrun's.
  std::string dir = fresh_dir("personality-pipe");
  std::string link = dir + "/timeout";
  REQUIRE(symlink(kCtxrun.c_str(), link.c_str()) == 0);
  for (const std::string& program : {link, std::string("/usr/bin/timeout")}) {
    if (access(program.c_str(), X_OK) != 0) continue;
    int fds[2];
    REQUIRE(pipe2(fds, O_CLOEXEC) == 0);
    close(fds[0]);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      dup2(fds[1], 2);
      signal(SIGPIPE, SIG_DFL);
      execl(program.c_str(), "timeout", "-v", "0.2", "sleep", "5", static_cast<char*>(nullptr));
      _exit(111);
    }
    close(fds[1]);
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    CHECK_MESSAGE((WIFSIGNALED(status) && WTERMSIG(status) == SIGPIPE), program << ": status " << status);
  }
  kill_survivors();  // GNU's sleep outlives a timeout that died of SIGPIPE
}

// --- 4. Output whose value is the point checks its write. ---------------------------------------

TEST_CASE("--remaining, --version and --help that cannot be written: 125 and a write error") {
  NoSurvivors guard;
  unique_fd full(open("/dev/full", O_WRONLY | O_CLOEXEC));
  REQUIRE(full);
  for (auto args : {std::vector<std::string>{"--remaining"}, {"--version"}, {"--help"}}) {
    auto exit = run_raw(args, full.get(), kCapture, {"CTXRUN_DEADLINE=4000000000"});
    CHECK_MESSAGE(exited(exit.status, 125), args[0] << ": status " << exit.status);
    CHECK(exit.err == "ctxrun: write error: No space left on device\n");
  }
}

// --- 5. Valid UTF-8 in the report; one line on stderr. -------------------------------------------

TEST_CASE("invalid UTF-8 in argv becomes U+FFFD in the report, which stays valid UTF-8") {
  NoSurvivors guard;
  std::string path = fresh_dir("report-utf8") + "/r.json";
  std::string odd = std::string("/nonexistent/a\xff") + "\xc3\xa9" + "\xc0\xaf" + "\xed\xa0\x80" + "b";
  auto exit = run({"--report", path, odd});
  CHECK_MESSAGE(exit.exited(127), exit.describe());
  auto text = slurp(path);
  CHECK(valid_utf8(text));
  auto r = parsed_report(path);
  // é is kept; each byte of an invalid sequence (0xff, an overlong '/', a surrogate) is U+FFFD.
  std::string replaced =
      "/nonexistent/a\xef\xbf\xbd\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
      "b";
  CHECK(r["command"]["argv"].arr()[0].str() == replaced);
}

TEST_CASE("a control character in a command's name is escaped: the message stays one line") {
  NoSurvivors guard;
  auto exit = run({"/nonexistent/a\nb\tc\x1b"});
  CHECK_MESSAGE(exit.exited(127), exit.describe());
  CHECK(exit.err == "ctxrun: failed to run command '/nonexistent/a\\nb\\tc\\x1b': No such file or directory\n");
}

// --- 6. Messages and documents that say what is true. --------------------------------------------

TEST_CASE("-v counts reaped orphans with the right plural") {
  NoSurvivors guard;
  auto one = run({"-v", kHelper, "orphans", "1", "3"});
  CHECK_MESSAGE(one.exited(0), one.describe());
  CHECK(one.err.find("s reaped 1 orphaned process besides the command\n") != std::string::npos);
  auto two = run({"-v", kHelper, "orphans", "2", "3"});
  CHECK_MESSAGE(two.exited(0), two.describe());
  CHECK(two.err.find("s reaped 2 orphaned processes besides the command\n") != std::string::npos);
}

TEST_CASE("the help's --format=go example is the man page's; CAVEATS says pre-existing children stay") {
  NoSurvivors guard;
  Process help(Spec{.args = {"--help"}, .capture_stdout = true});
  auto text = help.stdout_text();
  CHECK(help.wait().exited(0));
  std::string man = slurp(std::string(CTXRUN_SOURCE_DIR) + "/man/ctxrun.1");
  REQUIRE(!man.empty());
  // The man page: ".B go\n(a Go duration,\n.BR 1m2.5s )."
  auto at = man.find("(a Go duration,\n.BR ");
  REQUIRE(at != std::string::npos);
  at += std::strlen("(a Go duration,\n.BR ");
  std::string example = man.substr(at, man.find(' ', at) - at);
  CHECK(example == "1m2.5s");
  CHECK(text.find("go (" + example + ")") != std::string::npos);
  auto caveats = man.substr(man.find(".SH CAVEATS"), man.find(".SH COMPATIBILITY") - man.find(".SH CAVEATS"));
  CHECK(caveats.find("they are torn down") == std::string::npos);
  CHECK(caveats.find("are left alone") != std::string::npos);
}

// --- 7. Every failure is 125 and one line. -------------------------------------------------------

TEST_CASE("no descriptor left for the context: one line and 125, not an abort") {
  NoSurvivors guard;
  // The harness starts ctxrun with fds 0-3; the signalfd takes 4, and the context's timer finds none.
  auto exit = run(Spec{.args = {"-c", "ulimit -n 5 && exec \"$@\"", "sh", kCtxrun, "-t", "10s", kHelper, "exit", "0"},
                       .argv0 = "/bin/sh"});
  CHECK_MESSAGE(exit.exited(125), exit.describe());
  CHECK(exit.err == "ctxrun: cannot make the context: Too many open files\n");
}

TEST_CASE("fork failing with EAGAIN (RLIMIT_NPROC): 125 and one line, on both front ends") {
  NoSurvivors guard;
  if (kSanitized) {
    // LeakSanitizer checks at exit from a thread of its own, which RLIMIT_NPROC=1 does not allow.
    MESSAGE("SKIPPED: the sanitizer runtime needs a thread of its own at exit");
    return;
  }
  if (geteuid() != 0 || access("/usr/bin/setpriv", X_OK) != 0 || access("/usr/bin/prlimit", X_OK) != 0) {
    MESSAGE("skipped: needs root, setpriv and prlimit (root is exempt from RLIMIT_NPROC)");
    return;
  }
  // Guard: this was already right. As nobody, with one process allowed: ctxrun itself. Neither the guardian nor the
  // command can be forked.
  std::string dir = fresh_dir("nproc");
  std::string link = dir + "/timeout";
  REQUIRE(symlink(kCtxrun.c_str(), link.c_str()) == 0);
  REQUIRE(chmod(temp_dir().c_str(), 0755) == 0);
  REQUIRE(chmod(dir.c_str(), 0755) == 0);
  std::vector<std::string> as_nobody{"--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/prlimit",
                                     "--nproc=1"};
  auto args = as_nobody;
  args.insert(args.end(), {kCtxrun, "-t", "10s", "/bin/true"});
  auto exit = run(Spec{.args = args, .argv0 = "/usr/bin/setpriv"});
  CHECK_MESSAGE(exit.exited(125), exit.describe());
  CHECK(exit.err == "ctxrun: cannot start command '/bin/true': fork: Resource temporarily unavailable\n");
  args = as_nobody;
  args.insert(args.end(), {link, "10", "/bin/true"});
  auto personality = run(Spec{.args = args, .argv0 = "/usr/bin/setpriv"});
  CHECK_MESSAGE(personality.exited(125), personality.describe());
  CHECK(personality.err == link + ": fork system call failed: Resource temporarily unavailable\n");
}
