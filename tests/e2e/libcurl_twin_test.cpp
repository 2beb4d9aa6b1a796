// The static ctxrun and its libcurl twin (src/libcurl_twin.h): a run with a tcp:// or http(s)://
// probe goes to ctxrun-libcurl, which the command cannot tell; the installed layout; no twin; the
// start handed on.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>

#include "ctxrun/unique_fd.h"
#include "harness.h"

using namespace e2e;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

const std::string kTwin = (fs::path(kCtxrun).parent_path() / "ctxrun-libcurl").string();

// A listening TCP socket on 127.0.0.1: a tcp:// probe to it succeeds (the backlog takes the
// connection, while there is room). Its port in `port`.
ctxrun::unique_fd listening(int& port, int backlog = 16) {
  ctxrun::unique_fd s(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(s);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(s.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  REQUIRE(listen(s.get(), backlog) == 0);
  socklen_t length = sizeof address;
  REQUIRE(getsockname(s.get(), reinterpret_cast<sockaddr*>(&address), &length) == 0);
  port = ntohs(address.sin_port);
  return s;
}

// The command's view: its blocked and ignored signals and its environment, into `out`.
std::vector<std::string> command_view(const std::string& out) {
  return {"sh", "-c", "grep -E '^Sig(Blk|Ign)' /proc/self/status > " + out + "; env >> " + out};
}

bool static_build() {
  if (fs::exists(kTwin)) return true;
  MESSAGE("SKIPPED: no ctxrun-libcurl beside ctxrun (a build without CTXRUN_STATIC_PIE)");
  return false;
}

}  // namespace

TEST_CASE("libcurl twin: a tcp:// probe's run goes to ctxrun-libcurl, with the signals ctxrun was started with") {
  NoSurvivors guard;
  if (!static_build()) return;
  int port = 0;
  auto server = listening(port);
  std::string dir = fresh_dir("twin");
  std::string probe = "tcp://127.0.0.1:" + std::to_string(port);
  // SIGUSR2 blocked and SIGUSR1 ignored at start: the command gets both as with no probe at all.
  Spec direct{.args = {}, .block = {SIGUSR2}, .ignore = {SIGUSR1}};
  direct.args = command_view(dir + "/direct");
  auto plain = run(direct);
  REQUIRE_MESSAGE(plain.exited(0), plain.describe());
  Spec twin = direct;
  twin.args = {"-v", "--ready", probe, "--"};
  for (auto& word : command_view(dir + "/twin")) twin.args.push_back(word);
  auto handed = run(twin);
  CHECK_MESSAGE(handed.exited(0), handed.describe());
  CHECK(contains(handed.err, "running as ctxrun-libcurl, with libcurl for tcp:// and http(s):// probes"));
  CHECK(contains(handed.err, "probe " + probe + " ready after"));
  auto seen = lines_of(slurp(dir + "/twin"));
  auto expected = lines_of(slurp(dir + "/direct"));
  REQUIRE(seen.size() >= 2);
  REQUIRE(expected.size() >= 2);
  CHECK(seen[0] == expected[0]);  // SigBlk
  CHECK(seen[1] == expected[1]);  // SigIgn
  CHECK_FALSE(contains(slurp(dir + "/twin"), "CTXRUN_STARTED_AT"));
  CHECK(survivors().empty());
}

TEST_CASE(
    "libcurl twin: found in ../libexec/ctxrun/ as installed, and without one a tcp:// probe to an address still "
    "works") {
  NoSurvivors guard;
  if (!static_build()) return;
  int port = 0;
  auto server = listening(port);
  std::string dir = fresh_dir("twin-layout");
  std::string probe = "tcp://127.0.0.1:" + std::to_string(port);
  fs::create_directories(dir + "/bin");
  fs::create_directories(dir + "/libexec/ctxrun");
  fs::copy_file(kCtxrun, dir + "/bin/ctxrun");
  fs::copy_file(kTwin, dir + "/libexec/ctxrun/ctxrun-libcurl");
  auto installed = run(Spec{.args = {"-v", "--ready", probe, "--", "true"}, .argv0 = dir + "/bin/ctxrun"});
  CHECK_MESSAGE(installed.exited(0), installed.describe());
  CHECK(contains(installed.err, "running as ctxrun-libcurl"));

  fs::remove(dir + "/libexec/ctxrun/ctxrun-libcurl");
  // Alone, it serves a tcp:// probe to an address itself, and refuses what needs libcurl.
  auto own_connect = run(Spec{.args = {"-v", "--ready", probe, "--", "true"}, .argv0 = dir + "/bin/ctxrun"});
  CHECK_MESSAGE(own_connect.exited(0), own_connect.describe());
  CHECK_FALSE(contains(own_connect.err, "ctxrun-libcurl"));
  CHECK(contains(own_connect.err, "probe " + probe + " ready after"));
  for (const std::string& target : {std::string("tcp://db.invalid:5432"), std::string("http://127.0.0.1:1/")}) {
    auto alone = run(Spec{.args = {"--ready", target, "--", "true"}, .argv0 = dir + "/bin/ctxrun"});
    CHECK_MESSAGE(alone.exited(125), alone.describe());
    CHECK(alone.err == "ctxrun: --ready '" + target +
                           "': http(s):// probes, and tcp:// ones to a host name, need libcurl, which this static "
                           "ctxrun cannot load: its dynamic twin ctxrun-libcurl was found neither beside it nor in "
                           "../libexec/ctxrun/\n");
  }
  // Probes that need no libcurl never look for it.
  auto file_probe = run(
      Spec{.args = {"--ready", "file://" + dir + "/bin/ctxrun", "--", "true"}, .argv0 = dir + "/bin/ctxrun"});
  CHECK_MESSAGE(file_probe.exited(0), file_probe.describe());
}

TEST_CASE("libcurl twin: --timeout counts from the start the static ctxrun hands on, which the command does not see") {
  NoSurvivors guard;
  if (!static_build()) return;
  std::string dir = fresh_dir("twin-start");
  // Started 9.5 s ago as the twin is told: -t 10s leaves half a second.
  auto steady = std::chrono::duration_cast<std::chrono::nanoseconds>(
                    (std::chrono::steady_clock::now() - 9500ms).time_since_epoch())
                    .count();
  auto wall = std::chrono::duration_cast<std::chrono::nanoseconds>(
                  (std::chrono::system_clock::now() - 9500ms).time_since_epoch())
                  .count();
  auto exit = run(Spec{.args = {"-t", "10s", "--", "sh", "-c", "env > " + dir + "/env; exec sleep 30"},
                       .argv0 = kTwin,
                       .env = {"CTXRUN_STARTED_AT=" + std::to_string(steady) + " " + std::to_string(wall)}});
  CHECK_MESSAGE(exit.exited(124), exit.describe());
  CHECK(seconds(exit.took) < 5.0);
  CHECK_FALSE(contains(slurp(dir + "/env"), "CTXRUN_STARTED_AT"));
  // A value that is not a start in the past is ignored: the whole -t.
  auto ignored = run(Spec{.args = {"-t", "1s", "--", "true"}, .argv0 = kTwin, .env = {"CTXRUN_STARTED_AT=soon"}});
  CHECK_MESSAGE(ignored.exited(0), ignored.describe());
}

TEST_CASE("libcurl twin: a tcp:// attempt that gets no answer ends after 10s and is tried again, with or without it") {
  NoSurvivors guard;
  if (!static_build()) return;
  // A listener whose accept queue is full drops every further SYN: a connect to it gets no answer.
  int port = 0;
  auto server = listening(port, 0);
  ctxrun::unique_fd filler(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  REQUIRE(connect(filler.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  std::string dir = fresh_dir("twin-silent");
  fs::copy_file(kCtxrun, dir + "/ctxrun");
  std::string probe = "tcp://127.0.0.1:" + std::to_string(port);
  std::vector<std::string> args{"-v", "--ready", probe, "--ready-timeout", "11s", "--", "true"};
  // Both at once: the twin's libcurl, and a static ctxrun alone with its own connect.
  Process with_twin(Spec{.args = args});
  Process alone(Spec{.args = args, .argv0 = dir + "/ctxrun"});
  auto twin_exit = with_twin.wait(40s);
  auto alone_exit = alone.wait(40s);
  for (const auto* exit : {&twin_exit, &alone_exit}) {
    INFO(exit->describe());
    CHECK(exit->exited(124));
    CHECK(seconds(exit->took) < 25.0);
    CHECK(contains(exit->err, "probe " + probe + " not ready: connection timed out after 10"));
    // Tried again after the 10 s attempt, before the 11 s ready timeout.
    CHECK(contains(exit->err, "ctxrun: context deadline exceeded (ready timeout 11s: " + probe +
                                  " (connection timed out after 10"));
  }
  CHECK(contains(twin_exit.err, "running as ctxrun-libcurl"));
  CHECK_FALSE(contains(alone_exit.err, "ctxrun-libcurl"));
  CHECK(contains(alone_exit.err, "connection timed out after 10s"));
}
