// Services and readiness probes (issue #14): `--with [NAME=]CMD` starts a service under the same
// context before MAIN, `--ready PROBE` holds MAIN back until every probe succeeded, and the rules
// of errgroup decide the ending: MAIN's end tears the services down and is MAIN's status; a
// service that ends first cancels the run with its status; a probe that never succeeds is 124.
//
// Services that must act at a moment the test chooses wait on a gate: a FIFO the test holds open
// for reading and writing (so that no open() on either side blocks), into which it writes a line
// when the moment has come. Services report their pids through another such FIFO (the helper's
// REPORT as a path); MAIN reports through ctxrun's fd 3 as in the other tests. "MAIN has not
// started" is checked as a report line that does not come within 1.5 s, while the probe is being
// retried. Timings are bounded generously (a loaded 2-core machine). The services may sleep, that
// is their behaviour; the tests never do.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "ctxrun/unique_fd.h"
#include "harness.h"
#include "json.h"

using namespace e2e;

namespace {

using Clock = std::chrono::steady_clock;

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }
bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

const std::string kHelperWord = sh_word(kHelper);

// A TCP port on the loopback address of `family` that nobody listens on: bound to port 0 and closed.
int free_port(int family = AF_INET) {
  int s = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(s >= 0);
  sockaddr_storage storage{};
  socklen_t size = 0;
  if (family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&storage);
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    size = sizeof(sockaddr_in);
  } else {
    auto* a = reinterpret_cast<sockaddr_in6*>(&storage);
    a->sin6_family = AF_INET6;
    a->sin6_addr = in6addr_loopback;
    size = sizeof(sockaddr_in6);
  }
  REQUIRE(bind(s, reinterpret_cast<sockaddr*>(&storage), size) == 0);
  REQUIRE(getsockname(s, reinterpret_cast<sockaddr*>(&storage), &size) == 0);
  int port = ntohs(family == AF_INET ? reinterpret_cast<sockaddr_in*>(&storage)->sin_port
                                     : reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port);
  close(s);
  return port;
}

// A FIFO of the test's own, held open for reading and writing from its creation: a service's open
// of it never blocks, what the test writes waits in it until read, and the test reads lines from it
// with a time limit.
class Fifo {
 public:
  explicit Fifo(std::string path) : path_(std::move(path)) {
    REQUIRE(mkfifo(path_.c_str(), 0600) == 0);
    fd_.reset(::open(path_.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC));
    REQUIRE(fd_);
  }
  const std::string& path() const { return path_; }
  // Lets a service waiting in `read x <FIFO` (or the helper's GATE) go on.
  void open_gate() { REQUIRE(::write(fd_.get(), "go\n", 3) == 3); }
  // The next line written into it ("" after `limit`).
  std::string next_line(std::chrono::milliseconds limit = 20s) {
    auto until = Clock::now() + limit;
    while (true) {
      if (auto nl = buf_.find('\n'); nl != std::string::npos) {
        std::string line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return line;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
      pollfd p{fd_.get(), POLLIN, 0};
      int n = ::poll(&p, 1, left < 0 ? 0 : static_cast<int>(left));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return "";
      char chunk[4096];
      ssize_t got = ::read(fd_.get(), chunk, sizeof chunk);
      if (got > 0) buf_.append(chunk, static_cast<std::size_t>(got));
    }
  }
  // The pids a helper reported ("pid N"), up to its "ready"; fails the test without "ready".
  std::vector<pid_t> await_ready(std::chrono::milliseconds limit = 20s) {
    auto until = Clock::now() + limit;
    std::vector<pid_t> pids;
    while (true) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
      std::string line = next_line(left < 0ms ? 0ms : left);
      if (line == "ready") return pids;
      if (starts_with(line, "pid ")) {
        pids.push_back(static_cast<pid_t>(std::atoi(line.c_str() + 4)));
        continue;
      }
      FAIL("no 'ready' from the service on " << path_ << " (last line: '" << line << "')");
    }
  }

 private:
  std::string path_;
  ctxrun::unique_fd fd_;
  std::string buf_;
};

bool rfc3339(const std::string& s) {
  static const std::regex form(
      "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})");
  return std::regex_match(s, form);
}

// The --report file, parsed, with the service fields present.
json::Value read_report(const std::string& path) {
  auto text = slurp(path);
  auto parsed = json::parse(text);
  REQUIRE_MESSAGE(parsed.has_value(), "not JSON: " << text);
  for (auto key : {"services", "probes", "failed_service"})
    REQUIRE_MESSAGE(parsed->obj().count(key) == 1, "no '" << key << "' in: " << text);
  return *parsed;
}

// The report's entry of service `name`; fails the test without one.
json::Value service_named(const json::Value& report, const std::string& name) {
  for (auto& s : report["services"].arr())
    if (s["name"].str() == name) return s;
  FAIL("no service '" << name << "' in the report");
  return {};
}

pid_t pid_of(const json::Value& service) { return static_cast<pid_t>(service["pid"].num()); }

// The pids in a helper's report file ("pid N" lines).
std::vector<pid_t> pids_in(const std::string& path) {
  std::vector<pid_t> pids;
  for (auto& line : lines_of(slurp(path)))
    if (starts_with(line, "pid ")) pids.push_back(static_cast<pid_t>(std::atoi(line.c_str() + 4)));
  return pids;
}

bool exists(const std::string& path) { return std::filesystem::exists(path); }

// Whether python3 and curl are both there (for the tests with a real HTTP server).
bool have_python_and_curl() {
  return std::system("command -v python3 >/dev/null 2>&1 && command -v curl >/dev/null 2>&1") == 0;
}

// `python3 -m http.server` on 127.0.0.1:PORT serving DIR.
std::string http_server(int port, const std::string& dir) {
  return "python3 -m http.server " + std::to_string(port) + " --bind 127.0.0.1 --directory " + sh_word(dir);
}

std::string url(int port, const std::string& path) { return "http://127.0.0.1:" + std::to_string(port) + path; }

// A gated service makes `probe` succeed only once the test opens `gate`: MAIN (which writes "main"
// on the report pipe and exits 0) does not start before, starts after, and the service is torn
// down at MAIN's end without failing the run.
void check_gated_probe(const std::string& dir, const std::string& service, const std::string& probe, Fifo& gate) {
  std::string report = dir + "/report.json";
  Process p(Spec{.args = {"--report", report, "-k", "2s", "--with", "svc=" + service, "--ready", probe, "--", "sh",
                          "-c", "echo main >&3"}});
  CHECK_MESSAGE(p.next_line(1500ms).empty(), "MAIN started before " << probe << " could succeed");
  if (!p.still_running_after(0ms)) {
    auto early = p.wait();
    FAIL("ctxrun ended before the gate opened: " << early.describe());
  }
  gate.open_gate();
  CHECK(p.next_line() == "main");
  auto exit = p.wait();
  CHECK_MESSAGE(exit.exited(0), exit.describe());
  CHECK_FALSE(contains(exit.err, "service '"));
  auto r = read_report(report);
  REQUIRE(r["probes"].arr().size() == 1);
  auto& pr = r["probes"].arr()[0];
  CHECK(pr["probe"].str() == probe);
  CHECK(pr["ready"].boolean());
  CHECK(pr["attempts"].num() >= 2);               // failed before the gate opened
  CHECK(pr["ready_after_seconds"].num() >= 0.5);  // the gate opened 1.5 s after ctxrun started
  CHECK(pr["ready_after_seconds"].num() < 20.0);
  auto svc = service_named(r, "svc");
  CHECK(svc["stopped"].boolean());
  CHECK(rfc3339(svc["ready"].str()));
  CHECK(gone(pid_of(svc)));
  CHECK(r["failed_service"].is_null());
}

}  // namespace

// --- a real HTTP server and curl -----------------------------------------------------------------

TEST_CASE(
    "services: python3 http.server and curl: ctxrun exits with curl's status (0, then 22), the server's SIGTERM "
    "is no failure") {
  NoSurvivors guard;
  if (!have_python_and_curl()) {
    MESSAGE("SKIPPED: needs python3 and curl on PATH");
    return;
  }
  std::string dir = fresh_dir("http");
  std::filesystem::create_directory(dir + "/www");
  std::ofstream(dir + "/www/hello.txt") << "hello\n";

  struct Case {
    std::string path;
    int status;
  };
  for (const auto& c : std::vector<Case>{{"/hello.txt", 0}, {"/missing.txt", 22}}) {
    INFO("GET " << c.path);
    int port = free_port();
    std::string report = dir + "/report.json";
    std::filesystem::remove(dir + "/got");
    auto exit = run({"--report", report, "--with", http_server(port, dir + "/www"), "--ready", url(port, "/"), "--",
                     "curl", "-fsS", "-o", dir + "/got", url(port, c.path)});
    CHECK_MESSAGE(exit.exited(c.status), exit.describe());
    CHECK(seconds(exit.took) < 30.0);
    CHECK_FALSE(contains(exit.err, "service '"));
    if (c.status == 0) CHECK(slurp(dir + "/got") == "hello\n");
    auto r = read_report(report);
    REQUIRE(r["services"].arr().size() == 1);
    auto svc = service_named(r, "python3");  // the basename of the first word
    CHECK(svc["command"].str() == http_server(port, dir + "/www"));
    CHECK(svc["stopped"].boolean());
    CHECK(svc["status"]["signaled"].str() == "SIGTERM");  // the teardown's, not a failure
    CHECK(rfc3339(svc["ready"].str()));
    CHECK(gone(pid_of(svc)));
    CHECK(r["failed_service"].is_null());
    REQUIRE(r["probes"].arr().size() == 1);
    CHECK(r["probes"].arr()[0]["probe"].str() == url(port, "/"));
    CHECK(r["probes"].arr()[0]["ready"].boolean());
    CHECK(survivors().empty());  // the server and anything it started
  }
}

TEST_CASE("services: an http probe is not ready on a 404 (124 naming it), but is with --ready-status 404") {
  NoSurvivors guard;
  if (!have_python_and_curl()) {
    MESSAGE("SKIPPED: needs python3 and curl on PATH");
    return;
  }
  std::string dir = fresh_dir("http-status");
  std::filesystem::create_directory(dir + "/www");
  std::ofstream(dir + "/www/hello.txt") << "hello\n";

  int port = free_port();
  std::string probe = url(port, "/missing");
  auto not_ready = run({"--with", http_server(port, dir + "/www"), "--ready", probe, "--ready-timeout", "3s", "--",
                        "touch", dir + "/main-ran"});
  CHECK_MESSAGE(not_ready.exited(124), not_ready.describe());
  CHECK_FALSE(exists(dir + "/main-ran"));
  std::string head = "ready timeout 3s: " + probe + " (";
  CHECK_MESSAGE(contains(not_ready.err, head), not_ready.err);
  auto after = not_ready.err.substr(std::min(not_ready.err.size(), not_ready.err.find(head) + head.size()));
  CHECK_MESSAGE(contains(after.substr(0, after.find('\n')), "404"), "the last error names the status: " << after);
  CHECK(seconds(not_ready.took) >= 2.8);
  CHECK(seconds(not_ready.took) < 15.0);

  port = free_port();
  probe = url(port, "/missing");
  auto ready = run({"--with", http_server(port, dir + "/www"), "--ready", probe, "--ready-status", "404", "--", "curl",
                    "-fsS", "-o", dir + "/got", url(port, "/hello.txt")});
  CHECK_MESSAGE(ready.exited(0), ready.describe());
  CHECK(slurp(dir + "/got") == "hello\n");

  // A redirect (a directory without its slash: 301) is ready as it is, and the probe asks the
  // server itself, whatever proxy the environment names.
  std::filesystem::create_directory(dir + "/www/sub");
  port = free_port();
  std::string dead_proxy = "http://127.0.0.1:" + std::to_string(free_port());
  auto redirect = run(Spec{.args = {"--with", http_server(port, dir + "/www"), "--ready", url(port, "/sub"),
                                    "--ready-timeout", "20s", "--", "touch", dir + "/main-ran"},
                           .env = {"http_proxy=" + dead_proxy, "HTTP_PROXY=" + dead_proxy, "https_proxy=" + dead_proxy,
                                   "ALL_PROXY=" + dead_proxy, "all_proxy=" + dead_proxy}});
  CHECK_MESSAGE(redirect.exited(0), redirect.describe());
  CHECK(exists(dir + "/main-ran"));
  CHECK(contains(redirect.err, "\"GET /sub HTTP/1.1\" 301"));  // the server's log: it was asked
}

// --- each kind of probe --------------------------------------------------------------------------

TEST_CASE(
    "services: tcp://localhost:PORT becomes ready against a server bound to 127.0.0.1 only, not before it "
    "listens") {
  NoSurvivors guard;
  std::string dir = fresh_dir("tcp-localhost");
  Fifo gate(dir + "/gate");
  int port = free_port();
  check_gated_probe(dir, kHelperWord + " listen 127.0.0.1:" + std::to_string(port) + " " + sh_word(gate.path()),
                    "tcp://localhost:" + std::to_string(port), gate);
}

TEST_CASE("services: tcp://[::1]:PORT becomes ready against a server bound to ::1 only") {
  NoSurvivors guard;
  std::string dir = fresh_dir("tcp-v6");
  Fifo gate(dir + "/gate");
  int port = free_port(AF_INET6);
  check_gated_probe(dir, kHelperWord + " listen '[::1]:" + std::to_string(port) + "' " + sh_word(gate.path()),
                    "tcp://[::1]:" + std::to_string(port), gate);
}

TEST_CASE("services: tcp://localhost:PORT becomes ready against a server bound to ::1 only") {
  NoSurvivors guard;
  std::string dir = fresh_dir("tcp-localhost-v6");
  Fifo gate(dir + "/gate");
  int port = free_port(AF_INET6);
  check_gated_probe(dir, kHelperWord + " listen '[::1]:" + std::to_string(port) + "' " + sh_word(gate.path()),
                    "tcp://localhost:" + std::to_string(port), gate);
}

TEST_CASE("services: a tcp:// attempt that gets no answer ends after 10s and is tried again") {
  NoSurvivors guard;
  // A listener whose accept queue is full (backlog 0, one connection queued) drops every further
  // SYN: a connect to it gets no answer, as behind a firewall that drops.
  ctxrun::unique_fd server(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  REQUIRE(bind(server.get(), reinterpret_cast<sockaddr*>(&address), length) == 0);
  REQUIRE(listen(server.get(), 0) == 0);
  REQUIRE(getsockname(server.get(), reinterpret_cast<sockaddr*>(&address), &length) == 0);
  ctxrun::unique_fd filler(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(connect(filler.get(), reinterpret_cast<sockaddr*>(&address), length) == 0);
  std::string port = std::to_string(ntohs(address.sin_port));
  // By address, and by localhost (::1 refuses, then 127.0.0.1 gives no answer: one attempt, one
  // limit), at once.
  std::vector<std::string> probes{"tcp://127.0.0.1:" + port, "tcp://localhost:" + port};
  std::vector<Process> runs;
  for (const auto& probe : probes)
    runs.emplace_back(Spec{.args = {"-v", "--ready", probe, "--ready-timeout", "11s", "--", "true"}});
  for (std::size_t i = 0; i < runs.size(); ++i) {
    auto exit = runs[i].wait(40s);
    INFO(exit.describe());
    CHECK(exit.exited(124));
    CHECK(seconds(exit.took) < 25.0);
    CHECK(contains(exit.err, "probe " + probes[i] + " not ready: connection timed out after 10s"));
    // Tried again after the 10 s attempt, before the 11 s ready timeout.
    CHECK(contains(exit.err, "ctxrun: context deadline exceeded (ready timeout 11s: " + probes[i] +
                                 " (connection timed out after 10s)"));
  }
}

TEST_CASE("services: unix:///path becomes ready once a server listens on the socket") {
  NoSurvivors guard;
  std::string dir = fresh_dir("unix");
  Fifo gate(dir + "/gate");
  check_gated_probe(dir, kHelperWord + " listen " + sh_word(dir + "/sock") + " " + sh_word(gate.path()),
                    "unix://" + dir + "/sock", gate);
}

TEST_CASE("services: file:///path becomes ready once the file exists") {
  NoSurvivors guard;
  std::string dir = fresh_dir("file");
  Fifo gate(dir + "/gate");
  check_gated_probe(dir,
                    "read x <" + sh_word(gate.path()) + " && touch " + sh_word(dir + "/flag") + " && exec sleep 600",
                    "file://" + dir + "/flag", gate);
}

TEST_CASE("services: exec:CMD becomes ready once CMD exits 0 (test -e FILE the service creates)") {
  NoSurvivors guard;
  std::string dir = fresh_dir("exec");
  Fifo gate(dir + "/gate");
  check_gated_probe(dir,
                    "read x <" + sh_word(gate.path()) + " && touch " + sh_word(dir + "/flag") + " && exec sleep 600",
                    "exec:test -e " + sh_word(dir + "/flag"), gate);
}

// --- services that end on their own --------------------------------------------------------------

TEST_CASE("services: a service exiting 3 mid-run tears MAIN's tree down, ctxrun exits 3, message and report name it") {
  NoSurvivors guard;
  std::string dir = fresh_dir("crash");
  Fifo gate(dir + "/gate"), other(dir + "/other");
  std::string report = dir + "/report.json";
  std::string crasher = "sleep 600 & echo $! >" + sh_word(dir + "/child") + "; read x <" + sh_word(gate.path()) +
                        "; exit 3";
  Process p(Spec{.args = {"--report", report, "-k", "2s", "--with", "crasher=" + crasher, "--with",
                          "bystander=exec " + kHelperWord + " hang " + sh_word(other.path()), "--", kHelper, "tree",
                          "3", "3"}});
  auto main_pids = p.await_ready();
  REQUIRE(main_pids.size() == 4);
  auto bystander = other.await_ready();
  REQUIRE(bystander.size() == 1);
  auto opened = Clock::now();
  gate.open_gate();
  auto exit = p.wait();
  CHECK_MESSAGE(exit.exited(3), exit.describe());
  CHECK(Clock::now() - opened < 10s);
  CHECK_MESSAGE(contains(exit.err, "service 'crasher' exited with status 3"), exit.err);
  CHECK_FALSE(contains(exit.err, "before the command started"));
  for (pid_t pid : main_pids) CHECK(gone(pid));
  CHECK(gone(bystander[0]));
  auto child = static_cast<pid_t>(std::atoi(slurp(dir + "/child").c_str()));
  REQUIRE(child > 0);
  CHECK(gone(child));  // the crashed service's own child

  auto r = read_report(report);
  CHECK(r["failed_service"].str() == "crasher");
  CHECK(r["outcome"].str() == "service_failed");
  auto c = service_named(r, "crasher");
  CHECK(c["status"]["exited"].num() == 3);
  CHECK_FALSE(c["stopped"].boolean());
  auto b = service_named(r, "bystander");
  CHECK(b["stopped"].boolean());
  CHECK(pid_of(b) == bystander[0]);  // exec: the shell's pid is the helper's
  CHECK(b["status"]["signaled"].str() == "SIGTERM");
}

TEST_CASE("services: a service killed by SIGSEGV mid-run: MAIN torn down, ctxrun dies of SIGSEGV") {
  NoSurvivors guard;
  std::string dir = fresh_dir("crash-signal");
  Fifo gate(dir + "/gate");
  std::string report = dir + "/report.json";
  Process p(Spec{.args = {"--report", report, "--with",
                          "seg=read x <" + sh_word(gate.path()) + "; ulimit -c 0; kill -SEGV $$", "--", kHelper, "tree",
                          "2", "3"}});
  auto main_pids = p.await_ready();
  REQUIRE(main_pids.size() == 3);
  gate.open_gate();
  auto exit = p.wait(30s);
  CHECK_MESSAGE(exit.killed_by(SIGSEGV), exit.describe());
  CHECK(seconds(exit.took) < 20.0);
  CHECK_MESSAGE(contains(exit.err, "service 'seg' was killed by SIGSEGV"), exit.err);
  for (pid_t pid : main_pids) CHECK(gone(pid));
  auto r = read_report(report);
  CHECK(r["failed_service"].str() == "seg");
  CHECK(r["outcome"].str() == "service_failed");
  auto s = service_named(r, "seg");
  CHECK(s["status"]["signaled"].str() == "SIGSEGV");
  CHECK_FALSE(s["stopped"].boolean());
}

TEST_CASE("services: a service exiting 0 mid-run is a failure too: ctxrun exits 125, not MAIN's success") {
  NoSurvivors guard;
  std::string dir = fresh_dir("exit-zero");
  Fifo gate(dir + "/gate");
  Process p(
      Spec{.args = {"--with", "quitter=read x <" + sh_word(gate.path()) + "; exit 0", "--", kHelper, "hang", "3"}});
  auto main_pids = p.await_ready();
  REQUIRE(main_pids.size() == 1);
  gate.open_gate();
  auto exit = p.wait(30s);
  CHECK_MESSAGE(exit.exited(125), exit.describe());
  CHECK(seconds(exit.took) < 20.0);
  CHECK_MESSAGE(contains(exit.err, "service 'quitter' exited with status 0"), exit.err);
  CHECK(gone(main_pids[0]));
}

TEST_CASE("services: a service ending before the probes succeeded fails at once, and MAIN never runs") {
  NoSurvivors guard;
  std::string dir = fresh_dir("early");
  struct Case {
    std::string command;
    int status;           // ctxrun's exit status (or -1)
    int signal;           // or the signal ctxrun dies of (or 0)
    std::string message;  // on stderr
  };
  for (const auto& c : std::vector<Case>{
           {"exit 7", 7, 0, "service 'early' exited with status 7 before the command started"},
           {"exit 0", 125, 0, "service 'early' exited with status 0 before the command started"},
           {"kill -USR1 $$", -1, SIGUSR1, "service 'early' was killed by SIGUSR1 before the command started"},
       }) {
    INFO("service: " << c.command);
    std::filesystem::remove(dir + "/main-ran");
    std::string report = dir + "/report.json";
    auto exit = run({"--report", report, "--with", "early=" + c.command, "--ready",
                     "tcp://127.0.0.1:" + std::to_string(free_port()), "--ready-timeout", "60s", "--", "touch",
                     dir + "/main-ran"});
    if (c.signal) {
      CHECK_MESSAGE(exit.killed_by(c.signal), exit.describe());
    } else {
      CHECK_MESSAGE(exit.exited(c.status), exit.describe());
    }
    CHECK_MESSAGE(seconds(exit.took) < 5.0, "not at once: " << exit.describe());
    CHECK_MESSAGE(contains(exit.err, c.message), exit.err);
    CHECK_FALSE(exists(dir + "/main-ran"));
    auto r = read_report(report);
    CHECK(r["failed_service"].str() == "early");
    CHECK(r["outcome"].str() == "service_failed");
    CHECK_FALSE(service_named(r, "early")["stopped"].boolean());
    CHECK(service_named(r, "early")["ready"].is_null());
    CHECK_FALSE(r["probes"].arr().at(0)["ready"].boolean());
  }
}

// --- probes that never succeed, deadlines --------------------------------------------------------

TEST_CASE("services: a probe that never succeeds: 124 after --ready-timeout, the probe and its last error named") {
  NoSurvivors guard;
  std::string dir = fresh_dir("never");
  std::string report = dir + "/report.json";
  int port = free_port();
  std::string probe = "tcp://127.0.0.1:" + std::to_string(port);
  auto exit = run({"--report", report, "--with", "idle=sleep 600", "--ready", probe, "--ready-timeout", "2s", "--",
                   "touch", dir + "/main-ran"});
  CHECK_MESSAGE(exit.exited(124), exit.describe());
  CHECK(seconds(exit.took) >= 1.8);
  CHECK(seconds(exit.took) < 10.0);
  CHECK_FALSE(exists(dir + "/main-ran"));
  std::string head = "ready timeout 2s: " + probe + " (";
  auto at = exit.err.find(head);
  REQUIRE_MESSAGE(at != std::string::npos, exit.err);
  auto rest = exit.err.substr(at + head.size());
  rest = rest.substr(0, rest.find('\n'));
  CHECK_MESSAGE(starts_with(lower(rest), "connection refused)"), rest);

  auto r = read_report(report);
  REQUIRE(r["probes"].arr().size() == 1);
  auto& pr = r["probes"].arr()[0];
  CHECK(pr["probe"].str() == probe);
  CHECK_FALSE(pr["ready"].boolean());
  CHECK(pr["attempts"].num() >= 3);  // 0, 0.25 s, then backing off up to 2 s: more than twice in 2 s
  CHECK(pr["attempts"].num() <= 6);  // 0, 0.25, 0.75, 1.75 s: backing off, not every 250 ms
  CHECK(pr["ready_after_seconds"].is_null());
  CHECK_MESSAGE(contains(lower(pr["last_error"].str()), "connection refused"), pr["last_error"].str());
  auto svc = service_named(r, "idle");
  CHECK(svc["ready"].is_null());
  CHECK(svc["stopped"].boolean());
  CHECK(gone(pid_of(svc)));
  CHECK(r["failed_service"].is_null());
}

TEST_CASE("services: a hanging exec: probe is bounded by --ready-timeout: 124, and nothing of it is left") {
  NoSurvivors guard;
  std::string dir = fresh_dir("exec-hang");
  auto exit = run({"--with", "idle=sleep 600", "--ready", "exec:sleep 600", "--ready-timeout", "2s", "--", "touch",
                   dir + "/main-ran"});
  CHECK_MESSAGE(exit.exited(124), exit.describe());
  CHECK(seconds(exit.took) >= 1.8);
  CHECK(seconds(exit.took) < 10.0);
  CHECK_MESSAGE(contains(exit.err, "ready timeout 2s: exec:sleep 600 ("), exit.err);
  CHECK_FALSE(exists(dir + "/main-ran"));
}

TEST_CASE("services: the last error named is the last attempt's: an empty reply after connection refused") {
  NoSurvivors guard;
  std::string dir = fresh_dir("last-error");
  std::string report = dir + "/report.json";
  Fifo gate(dir + "/gate");
  int port = free_port();
  std::string probe = url(port, "/");
  // Refused until the gate opens; then every connection is accepted and closed without an answer.
  Process p(
      Spec{.args = {"--report", report, "--with",
                    "svc=" + kHelperWord + " listen 127.0.0.1:" + std::to_string(port) + " " + sh_word(gate.path()),
                    "--ready", probe, "--ready-timeout", "4s", "--", "touch", dir + "/main-ran"}});
  CHECK(p.next_line(1500ms).empty());
  gate.open_gate();
  auto exit = p.wait();
  CHECK_MESSAGE(exit.exited(124), exit.describe());
  CHECK_FALSE(exists(dir + "/main-ran"));
  std::string head = "ready timeout 4s: " + probe + " (";
  auto at = exit.err.find(head);
  REQUIRE_MESSAGE(at != std::string::npos, exit.err);
  auto rest = lower(exit.err.substr(at + head.size()));
  rest = rest.substr(0, rest.find('\n'));
  CHECK_MESSAGE(starts_with(rest, "empty reply"), "the last attempts were answered by an empty reply: " << rest);
  auto r = read_report(report);
  CHECK(r["probes"].arr().at(0)["attempts"].num() >= 4);  // 0, 0.25, 0.75 s refused, 1.75 s (and 3.75 s) empty
  auto last = lower(r["probes"].arr().at(0)["last_error"].str());
  CHECK_MESSAGE(starts_with(last, "empty reply"), last);
}

TEST_CASE("services: an https probe against a plain HTTP server names the TLS failure, not a connection refused") {
  NoSurvivors guard;
  if (!have_python_and_curl()) {
    MESSAGE("SKIPPED: needs python3 and curl on PATH");
    return;
  }
  std::string dir = fresh_dir("https-plain");
  std::filesystem::create_directory(dir + "/www");
  std::string report = dir + "/report.json";
  int port = free_port();
  std::string probe = "https://127.0.0.1:" + std::to_string(port) + "/";
  // The first attempts come before python listens (connection refused); the server logs each
  // later one, a TLS hello it cannot read, as "code 400" on stderr.
  Process p(Spec{.args = {"--report", report, "--with", http_server(port, dir + "/www"), "--ready", probe,
                          "--ready-timeout", "8s", "--", "touch", dir + "/main-ran"}});
  REQUIRE_MESSAGE(p.await_stderr("code 400"), "no attempt reached the server: " << p.stderr_so_far());
  auto exit = p.wait();
  CHECK_MESSAGE(exit.exited(124), exit.describe());
  CHECK_FALSE(exists(dir + "/main-ran"));
  std::string head = "ready timeout 8s: " + probe + " (";
  auto at = exit.err.find(head);
  REQUIRE_MESSAGE(at != std::string::npos, exit.err);
  auto rest = lower(exit.err.substr(at + head.size()));
  rest = rest.substr(0, rest.find('\n'));
  CHECK_MESSAGE(!starts_with(rest, "connection refused"), "the server accepted the last attempts: " << rest);
  CHECK_MESSAGE(contains(rest, "ssl"), rest);
  auto last = lower(read_report(report)["probes"].arr().at(0)["last_error"].str());
  CHECK_MESSAGE(contains(last, "ssl"), last);
}

TEST_CASE("services: the run's deadline (-t) covers the wait for readiness and MAIN with its services") {
  NoSurvivors guard;
  std::string dir = fresh_dir("deadline");
  // While waiting for a probe that would have 60 s.
  auto waiting = run({"-t", "1s", "--with", "idle=sleep 600", "--ready",
                      "tcp://127.0.0.1:" + std::to_string(free_port()), "--ready-timeout", "60s", "--", "touch",
                      dir + "/main-ran"});
  CHECK_MESSAGE(waiting.exited(124), waiting.describe());
  CHECK(seconds(waiting.took) < 10.0);
  CHECK_MESSAGE(contains(waiting.err, "context deadline exceeded (timeout 1s)"), waiting.err);
  CHECK_FALSE(exists(dir + "/main-ran"));
  // While MAIN runs.
  Fifo svc(dir + "/svc");
  Process p(Spec{.args = {"-t", "2s", "--with", "idle=exec " + kHelperWord + " hang " + sh_word(svc.path()), "--",
                          kHelper, "hang", "3"}});
  auto main_pids = p.await_ready();
  auto svc_pids = svc.await_ready();
  auto exit = p.wait();
  CHECK_MESSAGE(exit.exited(124), exit.describe());
  CHECK(seconds(exit.took) < 12.0);
  CHECK_MESSAGE(contains(exit.err, "context deadline exceeded (timeout 2s)"), exit.err);
  CHECK_FALSE(contains(exit.err, "service '"));
  for (pid_t pid : main_pids) CHECK(gone(pid));
  for (pid_t pid : svc_pids) CHECK(gone(pid));
}

// --- MAIN's end, teardown of whole trees ---------------------------------------------------------

TEST_CASE("services: two services, two probes: MAIN waits for both, when MAIN exits 5 both are torn down, exit 5") {
  NoSurvivors guard;
  std::string dir = fresh_dir("two");
  Fifo gate_a(dir + "/gate-a"), gate_b(dir + "/gate-b");
  std::string report = dir + "/report.json";
  auto service = [&](const Fifo& gate, const std::string& flag) {
    return "read x <" + sh_word(gate.path()) + " && touch " + sh_word(dir + "/" + flag) + " && exec sleep 600";
  };
  Process p(Spec{.args = {"--report", report, "--with", "a=" + service(gate_a, "a"), "--with",
                          "b=" + service(gate_b, "b"), "--ready", "file://" + dir + "/a", "--ready",
                          "exec:test -e " + sh_word(dir + "/b"), "--", "sh", "-c", "echo main >&3; exit 5"}});
  CHECK(p.next_line(1500ms).empty());
  gate_a.open_gate();
  CHECK_MESSAGE(p.next_line(1500ms).empty(), "MAIN started with one probe of two ready");
  REQUIRE(p.still_running_after(0ms));
  gate_b.open_gate();
  CHECK(p.next_line() == "main");
  auto exit = p.wait();
  CHECK_MESSAGE(exit.exited(5), exit.describe());
  CHECK_FALSE(contains(exit.err, "service '"));
  auto r = read_report(report);
  REQUIRE(r["services"].arr().size() == 2);
  REQUIRE(r["probes"].arr().size() == 2);
  for (auto name : {"a", "b"}) {
    INFO("service " << name);
    auto s = service_named(r, name);
    CHECK(s["stopped"].boolean());
    CHECK(s["status"]["signaled"].str() == "SIGTERM");
    CHECK(rfc3339(s["ready"].str()));
    CHECK(gone(pid_of(s)));
  }
  for (auto& pr : r["probes"].arr()) CHECK(pr["ready"].boolean());
  CHECK(r["failed_service"].is_null());
}

TEST_CASE("services: a service that exits 1 on the teardown's SIGTERM is no failure: MAIN's status (0)") {
  NoSurvivors guard;
  std::string dir = fresh_dir("trap");
  std::string report = dir + "/report.json";
  std::string log = dir + "/svc.log";  // the helper's report, read by the probe
  auto exit = run({"--report", report, "--with", "trap=exec " + kHelperWord + " trap-exit 15 1 " + sh_word(log),
                   "--ready", "exec:grep -qx ready " + sh_word(log), "--", "true"});
  CHECK_MESSAGE(exit.exited(0), exit.describe());
  CHECK_FALSE(contains(exit.err, "service '"));
  auto r = read_report(report);
  auto s = service_named(r, "trap");
  CHECK(s["status"]["exited"].num() == 1);
  CHECK(s["stopped"].boolean());
  CHECK(r["failed_service"].is_null());
  auto pids = pids_in(log);
  REQUIRE(pids.size() == 1);
  CHECK(pid_of(s) == pids[0]);
  CHECK(gone(pids[0]));
}

TEST_CASE("services: a TERM-ignoring service is SIGKILLed after -k: reported so, stopped, MAIN's status") {
  NoSurvivors guard;
  std::string dir = fresh_dir("ignore-term");
  std::string report = dir + "/report.json";
  std::string log = dir + "/svc.log";
  auto exit = run({"--report", report, "-k", "1s", "--with",
                   "deaf=exec " + kHelperWord + " ignore-term " + sh_word(log), "--ready",
                   "exec:grep -qx ready " + sh_word(log), "--", "sh", "-c", "exit 6"});
  CHECK_MESSAGE(exit.exited(6), exit.describe());
  CHECK(seconds(exit.took) >= 0.9);
  CHECK(seconds(exit.took) < 10.0);
  CHECK_FALSE(contains(exit.err, "service '"));
  auto s = service_named(read_report(report), "deaf");
  CHECK(s["status"]["signaled"].str() == "SIGKILL");
  CHECK(s["stopped"].boolean());
  auto pids = pids_in(log);
  REQUIRE(pids.size() == 1);
  CHECK(gone(pids[0]));
}

TEST_CASE("services: MAIN's own ending decides: 127 for a command not found, death by MAIN's signal") {
  NoSurvivors guard;
  std::string dir = fresh_dir("main-ending");
  std::string log = dir + "/svc.log";
  std::string service = "svc=exec " + kHelperWord + " hang " + sh_word(log);
  std::string probe = "exec:grep -qx ready " + sh_word(log);
  auto missing = run({"--with", service, "--ready", probe, "--", dir + "/no-such-command"});
  CHECK_MESSAGE(missing.exited(127), missing.describe());
  CHECK_FALSE(contains(missing.err, "service '"));
  for (pid_t pid : pids_in(log)) CHECK(gone(pid));
  std::filesystem::remove(log);
  auto killed = run({"--with", service, "--ready", probe, "--", "sh", "-c", "kill -USR2 $$"});
  CHECK_MESSAGE(killed.killed_by(SIGUSR2), killed.describe());
  CHECK_FALSE(contains(killed.err, "service '"));
  for (pid_t pid : pids_in(log)) CHECK(gone(pid));
}

TEST_CASE("services: a service's whole tree (children, setsid escapees, TERM-ignorers) is gone when MAIN ends") {
  NoSurvivors guard;
  std::string dir = fresh_dir("svc-tree");
  std::string log = dir + "/svc.log";
  auto exit = run({"-k", "1s", "--with", "tree=" + kHelperWord + " mixed-tree 8 " + sh_word(log) + " hang", "--ready",
                   "exec:grep -qx ready " + sh_word(log), "--", "sh", "-c", "exit 4"});
  CHECK_MESSAGE(exit.exited(4), exit.describe());
  CHECK(seconds(exit.took) < 20.0);
  CHECK_FALSE(contains(exit.err, "service '"));
  auto pids = pids_in(log);
  CHECK(pids.size() == 9);
  for (pid_t pid : pids) CHECK(gone(pid));
  CHECK(survivors().empty());
}

// --- Ctrl-C --------------------------------------------------------------------------------------

TEST_CASE("services: SIGINT while MAIN runs tears down the services, MAIN and their trees, ctxrun dies of SIGINT") {
  std::string dir = fresh_dir("sigint");
  for (bool to_group : {false, true}) {
    INFO((to_group ? "SIGINT to ctxrun's process group (Ctrl-C)" : "SIGINT to ctxrun"));
    NoSurvivors guard;
    Fifo one(dir + "/one-" + std::to_string(to_group)), two(dir + "/two-" + std::to_string(to_group));
    std::string report = dir + "/report-" + std::to_string(to_group) + ".json";
    Process p(
        Spec{.args = {"--report", report, "-k", "1s", "--with", "one=" + kHelperWord + " tree 3 " + sh_word(one.path()),
                      "--with", "two=" + kHelperWord + " mixed-tree 4 " + sh_word(two.path()) + " hang", "--", kHelper,
                      "tree", "3", "3"},
             .new_session = to_group});
    auto pids = p.await_ready();
    auto one_pids = one.await_ready();
    auto two_pids = two.await_ready();
    pids.insert(pids.end(), one_pids.begin(), one_pids.end());
    pids.insert(pids.end(), two_pids.begin(), two_pids.end());
    REQUIRE(pids.size() == 4 + 4 + 5);
    if (to_group) {
      REQUIRE(::kill(-p.pid(), SIGINT) == 0);
    } else {
      p.signal(SIGINT);
    }
    auto exit = p.wait(30s);
    CHECK_MESSAGE(exit.killed_by(SIGINT), exit.describe());
    CHECK(seconds(exit.took) < 20.0);
    CHECK_MESSAGE(contains(exit.err, "context canceled (SIGINT)"), exit.err);
    // A service dying of the teardown is not its failure. (Sent to the group, the signal reaches
    // the services too when they share it, and which ctxrun sees first is a race: not checked.)
    if (!to_group) CHECK_FALSE(contains(exit.err, "service '"));
    for (pid_t pid : pids) CHECK(gone(pid));
    auto r = read_report(report);
    CHECK(r["outcome"].str() == "canceled");
    if (!to_group) {
      CHECK(r["failed_service"].is_null());
      for (auto name : {"one", "two"}) CHECK(service_named(r, name)["stopped"].boolean());
    }
  }
}

TEST_CASE("services: SIGINT while waiting for readiness: services torn down, MAIN never runs, dies of SIGINT") {
  NoSurvivors guard;
  std::string dir = fresh_dir("sigint-ready");
  Fifo svc(dir + "/svc");
  Process p(Spec{.args = {"--with", "svc=" + kHelperWord + " tree 2 " + sh_word(svc.path()), "--ready",
                          "tcp://127.0.0.1:" + std::to_string(free_port()), "--", "touch", dir + "/main-ran"}});
  auto pids = svc.await_ready();
  REQUIRE(pids.size() == 3);
  p.signal(SIGINT);
  auto exit = p.wait(30s);
  CHECK_MESSAGE(exit.killed_by(SIGINT), exit.describe());
  CHECK(seconds(exit.took) < 20.0);
  CHECK_FALSE(exists(dir + "/main-ran"));
  for (pid_t pid : pids) CHECK(gone(pid));
}

// --- output --------------------------------------------------------------------------------------

TEST_CASE("services: --label prefixes each line of a service with [NAME] on its own stream, MAIN's output unchanged") {
  NoSurvivors guard;
  std::string dir = fresh_dir("label");
  // Lines in two writes, a tab and a byte that is not UTF-8: only the prefix is added.
  std::string service = "printf 'one\\ntw'; printf 'o\\n'; printf 'a\\tb\\377c\\n'; printf 'bad\\n' >&2; touch " +
                        sh_word(dir + "/flag") + "; exec sleep 600";
  std::string main = "echo main-out; echo main-err >&2";
  for (bool label : {true, false}) {
    INFO((label ? "--label" : "without --label"));
    std::filesystem::remove(dir + "/flag");
    std::vector<std::string> args{"--with", "svc=" + service, "--ready", "file://" + dir + "/flag"};
    if (label) args.push_back("--label");
    args.insert(args.end(), {"--", "sh", "-c", main});
    Process p(Spec{.args = args, .capture_stdout = true});
    auto out = p.stdout_text();
    auto exit = p.wait();
    CHECK_MESSAGE(exit.exited(0), exit.describe());
    std::string pre = label ? "[svc] " : "";
    // The service's lines come before MAIN starts, but through a relay: compare as sets.
    auto out_lines = lines_of(out), err_lines = lines_of(exit.err);
    std::sort(out_lines.begin(), out_lines.end());
    std::sort(err_lines.begin(), err_lines.end());
    std::vector<std::string> want_out{pre + "one", pre + "two", pre + "a\tb\377c", "main-out"};
    std::vector<std::string> want_err{pre + "bad", "main-err"};
    std::sort(want_out.begin(), want_out.end());
    std::sort(want_err.begin(), want_err.end());
    CHECK_MESSAGE(out_lines == want_out, "stdout: [" << out << "]");
    CHECK_MESSAGE(err_lines == want_err, "stderr: [" << exit.err << "]");
    CHECK(out.size() == (pre.size() * 3) + std::string("one\ntwo\na\tb\377c\nmain-out\n").size());
  }
}

// --- names and the report ------------------------------------------------------------------------

TEST_CASE("services: names: NAME= given, else the basename of the first word, duplicates -2, -3") {
  NoSurvivors guard;
  std::string dir = fresh_dir("names");
  std::string report = dir + "/report.json";
  auto exit = run({"--report", report, "--with", "sleep 600", "--with", "/bin/sleep 601", "--with", "sleep 602",
                   "--with", "my-web_1=sleep 603", "--", "true"});
  CHECK_MESSAGE(exit.exited(0), exit.describe());
  auto r = read_report(report);
  auto& services = r["services"].arr();
  REQUIRE(services.size() == 4);
  std::vector<std::pair<std::string, std::string>> want{{"sleep", "sleep 600"},
                                                        {"sleep-2", "/bin/sleep 601"},
                                                        {"sleep-3", "sleep 602"},
                                                        {"my-web_1", "sleep 603"}};
  for (std::size_t i = 0; i < want.size(); ++i) {
    INFO("service " << i);
    CHECK(services[i]["name"].str() == want[i].first);
    CHECK(services[i]["command"].str() == want[i].second);
    CHECK(services[i]["stopped"].boolean());
    CHECK(gone(pid_of(services[i])));
    CHECK(rfc3339(services[i]["ready"].str()));  // no probe: ready when MAIN started
  }
}

TEST_CASE("services: the report of a run that went well: every field of a service and a probe") {
  NoSurvivors guard;
  std::string dir = fresh_dir("report");
  std::string report = dir + "/report.json";
  std::ofstream(dir + "/there") << "";
  Fifo svc(dir + "/svc"), gate(dir + "/gate");
  std::string command = "exec " + kHelperWord + " hang " + sh_word(svc.path());
  Process p(Spec{.args = {"--report", report, "--with", "web=" + command, "--ready", "file://" + dir + "/there", "--",
                          "sh", "-c", "echo main >&3; read x <" + sh_word(gate.path())}});
  auto svc_pids = svc.await_ready();
  REQUIRE(svc_pids.size() == 1);
  CHECK(p.next_line() == "main");
  gate.open_gate();  // MAIN ends once the service has reported
  auto exit = p.wait();
  CHECK_MESSAGE(exit.exited(0), exit.describe());
  auto r = read_report(report);
  REQUIRE(r["services"].arr().size() == 1);
  auto s = r["services"].arr()[0];
  CHECK(s["name"].str() == "web");
  CHECK(s["command"].str() == command);
  CHECK(pid_of(s) == svc_pids[0]);
  REQUIRE(rfc3339(s["started"].str()));
  REQUIRE(rfc3339(s["ready"].str()));
  CHECK(s["started"].str() <= s["ready"].str());
  CHECK(s["status"]["signaled"].str() == "SIGTERM");
  CHECK(s["stopped"].boolean());
  REQUIRE(r["probes"].arr().size() == 1);
  auto pr = r["probes"].arr()[0];
  CHECK(pr["probe"].str() == "file://" + dir + "/there");
  CHECK(pr["ready"].boolean());
  CHECK(pr["attempts"].num() == 1);  // there from the start
  CHECK(pr["ready_after_seconds"].num() >= 0.0);
  CHECK(pr["ready_after_seconds"].num() < 10.0);
  CHECK(pr["last_error"].is_null());
  CHECK(r["failed_service"].is_null());
  CHECK(gone(svc_pids[0]));
}

// --- usage errors --------------------------------------------------------------------------------

TEST_CASE("services: bad combinations and values: one line 'ctxrun: ...', 125, nothing started") {
  NoSurvivors guard;
  std::string dir = fresh_dir("usage");
  std::string svc = "touch " + sh_word(dir + "/svc-ran");
  std::vector<std::string> main{"--", "touch", dir + "/main-ran"};
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"--orphans=wait", "--with", svc},
           {"--orphans=leave", "--with", svc},
           {"--with", svc, "--ready", "foo://x"},
           {"--with", svc, "--ready", "tcp://nohostport"},
           {"--with", svc, "--ready", "file:///tmp", "--ready-status", "200"},
           {"--with", svc, "--ready", "http://127.0.0.1:1/", "--ready-status", "99"},
           {"--label"},
           {"--with", svc, "--ready-timeout", "5s"},
           {"--with", ""},
       }) {
    std::string joined;
    for (auto& a : args) joined += a + " ";
    INFO("args: " << joined);
    auto all = args;
    all.insert(all.end(), main.begin(), main.end());
    auto exit = run(all);
    CHECK_MESSAGE(exit.exited(125), exit.describe());
    CHECK_MESSAGE(starts_with(exit.err, "ctxrun: "), exit.err);
    CHECK_MESSAGE(exit.err.find('\n') == exit.err.size() - 1, "not one line: " << exit.err);  // one line
    // A usage error, not the end of a run.
    CHECK_FALSE(std::regex_search(exit.err, std::regex("[0-9]+ process(es)? torn down")));
    CHECK(seconds(exit.took) < 10.0);
    CHECK_FALSE(exists(dir + "/svc-ran"));
    CHECK_FALSE(exists(dir + "/main-ran"));
  }
}

TEST_CASE(
    "services: a malformed http URL (an IPv6 address without its closing bracket) is a usage error: 125, nothing "
    "started, no wait") {
  NoSurvivors guard;
  std::string dir = fresh_dir("bad-url");
  // --ready-timeout bounds the run if it is taken for a probe that merely fails (default: 5 min).
  auto exit = run({"--with", "touch " + sh_word(dir + "/svc-ran") + "; exec sleep 600", "--ready", "http://[::1",
                   "--ready-timeout", "3s", "--", "touch", dir + "/main-ran"});
  CHECK_MESSAGE(exit.exited(125), exit.describe());
  CHECK_MESSAGE(starts_with(exit.err, "ctxrun: "), exit.err);
  CHECK_MESSAGE(exit.err.find('\n') == exit.err.size() - 1, "not one line: " << exit.err);
  CHECK_MESSAGE(contains(exit.err, "http://[::1"), exit.err);
  CHECK(seconds(exit.took) < 2.5);
  CHECK_FALSE(exists(dir + "/svc-ran"));
  CHECK_FALSE(exists(dir + "/main-ran"));
}

TEST_CASE("services: --help lists the service options") {
  NoSurvivors guard;
  Process help(Spec{.args = {"--help"}, .capture_stdout = true});
  auto text = help.stdout_text();
  CHECK(help.wait().exited(0));
  for (auto option : {"--with", "--ready", "--ready-timeout", "--ready-status", "--label"})
    CHECK_MESSAGE(text.find(option) != std::string::npos, option);
}
