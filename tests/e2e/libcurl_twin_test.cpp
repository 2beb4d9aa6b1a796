// The static ctxrun and its libcurl twin (src/libcurl_twin.h): a run with a probe that needs
// libcurl goes to ctxrun-libcurl, which the command cannot tell, and one to an address stays; the
// installed layout; no twin; a twin that cannot run; the start handed on.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "ctxrun/unique_fd.h"
#include "harness.h"

using namespace e2e;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// The twin, where this build has one (CTXRUN_STATIC_PIE).
#ifdef CTXRUN_TWIN
const std::string kTwin = CTXRUN_TWIN;
#else
const std::string kTwin;
#endif

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

// An HTTP server on 127.0.0.1 that answers every request "200 OK" (an http:// probe to it
// succeeds), on a thread of the test, until it goes.
class OkServer {
 public:
  OkServer() : thread_([this] { serve(); }) {}
  ~OkServer() {
    shutdown(socket_.get(), SHUT_RDWR);  // ends the accept() below
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/"; }

 private:
  void serve() {
    static constexpr char kOk[] = "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n";
    while (true) {
      ctxrun::unique_fd client(accept4(socket_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (!client) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        return;
      }
      char request[4096];
      if (::read(client.get(), request, sizeof request) > 0) {
        [[maybe_unused]] auto n = ::write(client.get(), kOk, sizeof kOk - 1);
      }
    }
  }
  int port_ = 0;
  ctxrun::unique_fd socket_ = listening(port_);
  std::thread thread_;
};

// The command's view: its blocked and ignored signals and its environment, into `out`.
std::vector<std::string> command_view(const std::string& out) {
  return {"sh", "-c", "grep -E '^Sig(Blk|Ign)' /proc/self/status > " + out + "; env >> " + out};
}

bool static_build() {
  if (!kTwin.empty()) return true;
  MESSAGE("SKIPPED: this build has no ctxrun-libcurl (ctxrun is not static-pie here)");
  return false;
}

// Runs the twin as the process a static ctxrun handed CTXRUN_STARTED_AT on to: "PID STEADY WALL",
// where "$$" in `value` is the pid the twin will have (sh execs env, which execs the twin).
Exit run_twin_handed(const std::string& value, const std::vector<std::string>& args) {
  std::string line = "exec env CTXRUN_STARTED_AT=\"" + value + "\" " + sh_word(kTwin);
  for (const auto& a : args) line += " " + sh_word(a);
  return run(Spec{.args = {"-c", line}, .argv0 = "/bin/sh"});
}

long long ns_since_epoch(auto time_point) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(time_point.time_since_epoch()).count();
}

}  // namespace

TEST_CASE("libcurl twin: an http:// probe's run goes to ctxrun-libcurl, with the signals ctxrun was started with") {
  NoSurvivors guard;
  if (!static_build()) return;
  OkServer server;
  std::string dir = fresh_dir("twin");
  // SIGUSR2 blocked and SIGUSR1 ignored at start: the command gets both as with no probe at all.
  Spec direct{.args = {}, .block = {SIGUSR2}, .ignore = {SIGUSR1}};
  direct.args = command_view(dir + "/direct");
  auto plain = run(direct);
  REQUIRE_MESSAGE(plain.exited(0), plain.describe());
  Spec twin = direct;
  twin.args = {"-v", "--ready", server.url(), "--"};
  for (auto& word : command_view(dir + "/twin")) twin.args.push_back(word);
  auto handed = run(twin);
  CHECK_MESSAGE(handed.exited(0), handed.describe());
  CHECK(contains(handed.err, "running as ctxrun-libcurl, with libcurl for tcp:// and http(s):// probes"));
  CHECK(contains(handed.err, "probe " + server.url() + " ready after"));
  auto seen = lines_of(slurp(dir + "/twin"));
  auto expected = lines_of(slurp(dir + "/direct"));
  REQUIRE(seen.size() >= 2);
  REQUIRE(expected.size() >= 2);
  CHECK(seen[0] == expected[0]);  // SigBlk
  CHECK(seen[1] == expected[1]);  // SigIgn
  CHECK_FALSE(contains(slurp(dir + "/twin"), "CTXRUN_STARTED_AT"));
  CHECK(survivors().empty());
}

TEST_CASE("libcurl twin: a tcp:// probe to an address stays in the static ctxrun, which makes the connect itself") {
  NoSurvivors guard;
  if (!static_build()) return;
  int port = 0;
  auto listener = listening(port);
  for (const std::string& probe :
       {"tcp://127.0.0.1:" + std::to_string(port), "tcp://localhost:" + std::to_string(port)}) {
    auto exit = run(Spec{.args = {"-v", "--ready", probe, "--", "true"}});
    CHECK_MESSAGE(exit.exited(0), exit.describe());
    CHECK_FALSE(contains(exit.err, "ctxrun-libcurl"));
    CHECK(contains(exit.err, "probe " + probe + " ready after"));
  }
}

TEST_CASE(
    "libcurl twin: found in ../libexec/ctxrun/ as installed, and without one what needs libcurl is refused saying "
    "so") {
  NoSurvivors guard;
  if (!static_build()) return;
  OkServer server;
  std::string dir = fresh_dir("twin-layout");
  std::string probe = server.url();
  fs::create_directories(dir + "/bin");
  fs::create_directories(dir + "/libexec/ctxrun");
  fs::copy_file(kCtxrun, dir + "/bin/ctxrun");
  fs::copy_file(kTwin, dir + "/libexec/ctxrun/ctxrun-libcurl");
  auto installed = run(Spec{.args = {"-v", "--ready", probe, "--", "true"}, .argv0 = dir + "/bin/ctxrun"});
  CHECK_MESSAGE(installed.exited(0), installed.describe());
  CHECK(contains(installed.err, "running as ctxrun-libcurl"));

  fs::remove(dir + "/libexec/ctxrun/ctxrun-libcurl");
  for (const std::string& target : {std::string("tcp://db.invalid:5432"), probe}) {
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
  auto steady = std::to_string(ns_since_epoch(std::chrono::steady_clock::now() - 9500ms));
  auto wall = std::to_string(ns_since_epoch(std::chrono::system_clock::now() - 9500ms));
  auto exit = run_twin_handed("$$ " + steady + " " + wall,
                              {"-t", "10s", "--", "sh", "-c", "env > " + dir + "/env; exec sleep 30"});
  CHECK_MESSAGE(exit.exited(124), exit.describe());
  CHECK(seconds(exit.took) < 5.0);
  CHECK_FALSE(contains(slurp(dir + "/env"), "CTXRUN_STARTED_AT"));
  // Taken only from the process it was handed on in, and only as a start less than a minute ago:
  // else the whole -t counts (a start taken would have ended these at once with 124).
  auto future = std::to_string(ns_since_epoch(std::chrono::steady_clock::now() + 100s));
  for (const std::string& value : {"1 " + steady + " " + wall, std::string("$$ 1 1"), "$$ " + future + " " + wall,
                                   std::string("$$ soon"), "$$ " + steady, "$$ " + steady + " " + wall + " 7"}) {
    INFO(value);
    auto ignored = run_twin_handed(value, {"-t", "3s", "--", "sh", "-c", "env > " + dir + "/env2; sleep 0.3"});
    CHECK_MESSAGE(ignored.exited(0), ignored.describe());
    CHECK_FALSE(contains(slurp(dir + "/env2"), "CTXRUN_STARTED_AT"));
  }
}

TEST_CASE("libcurl twin: one that cannot be run is passed over, and what needs libcurl is refused saying why") {
  NoSurvivors guard;
  if (!static_build()) return;
  std::string dir = fresh_dir("twin-broken");
  fs::copy_file(kCtxrun, dir + "/ctxrun");
  // Executable, but its interpreter is not there: what a dynamic program is in an image without
  // the dynamic loader.
  std::ofstream(dir + "/ctxrun-libcurl") << "#!/nonexistent/ld.so\n";
  fs::permissions(dir + "/ctxrun-libcurl", fs::perms::owner_all);
  auto http = run(Spec{.args = {"--ready", "http://127.0.0.1:1/", "--", "true"}, .argv0 = dir + "/ctxrun"});
  CHECK_MESSAGE(http.exited(125), http.describe());
  CHECK(http.err ==
        "ctxrun: --ready 'http://127.0.0.1:1/': http(s):// probes, and tcp:// ones to a host name, need "
        "libcurl, which this static ctxrun cannot load: its dynamic twin " +
            dir + "/./ctxrun-libcurl cannot be run: No such file or directory\n");
}
