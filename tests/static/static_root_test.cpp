// The fully static build (-DCTXRUN_FULLY_STATIC=ON, docs/shipping.md) where it matters: ctxrun and
// the helper copied into an otherwise empty root directory (no libc, no loader, no /dev, no /bin;
// only a /proc mounted for the namespace), entered with `unshare --pid --fork --mount-proc=ROOT/proc
// chroot ROOT`, as a container runtime would start the one static file of a distroless image. The
// runs are the contract's: a deadline over a tree, a cancel, and PID 1 reaping orphans; each ends
// promptly with its exact status and line, and leaves nothing in the namespace.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <elf.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>

#include "contained.h"
#include "harness.h"

using namespace e2e;

namespace {

using Clock = std::chrono::steady_clock;

// Whether the ELF file at `path` names a program interpreter (PT_INTERP: the dynamic loader).
// Fails the test if it is not a 64-bit ELF file.
bool has_interpreter(const std::string& path) {
  ctxrun::unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  REQUIRE_MESSAGE(fd, "cannot open " << path);
  auto read_at = [&](void* into, std::size_t size, std::uint64_t offset) {
    return ::pread(fd.get(), into, size, static_cast<off_t>(offset)) == static_cast<ssize_t>(size);
  };
  Elf64_Ehdr header{};
  REQUIRE_MESSAGE(read_at(&header, sizeof header, 0), "cannot read " << path);
  REQUIRE_MESSAGE((std::memcmp(header.e_ident, ELFMAG, SELFMAG) == 0 && header.e_ident[EI_CLASS] == ELFCLASS64),
                  path << " is not a 64-bit ELF file");
  for (unsigned i = 0; i < header.e_phnum; ++i) {
    Elf64_Phdr ph{};
    REQUIRE(read_at(&ph, sizeof ph, header.e_phoff + std::uint64_t{i} * header.e_phentsize));
    if (ph.p_type == PT_INTERP) return true;
  }
  return false;
}

// Whether this machine lets us unshare a PID and mount namespace and chroot; says why not, once.
bool can_chroot() {
  static const bool ok = [] {
    auto exit = run(
        Spec{.args = {"--pid", "--fork", "--mount-proc", "/usr/sbin/chroot", "/", "true"}, .argv0 = kUnshare});
    if (!exit.exited(0))
      MESSAGE(
          "SKIPPED: cannot unshare a PID and mount namespace and chroot here (needs root or CAP_SYS_ADMIN and "
          "CAP_SYS_CHROOT): "
          << exit.describe() << " " << exit.err);
    return exit.exited(0);
  }();
  return ok;
}

// A fresh root with nothing in it but /ctxrun, /ctxrun_helper and an empty /proc to mount on.
Programs empty_root() {
  std::string root = fresh_dir("static-root");
  std::filesystem::create_directory(root + "/proc");
  std::filesystem::copy_file(kCtxrun, root + "/ctxrun");
  std::filesystem::copy_file(kHelper, root + "/ctxrun_helper");
  return Programs{.root = root, .ctxrun = "/ctxrun", .helper = "/ctxrun_helper"};
}

}  // namespace

TEST_CASE("static: ctxrun and the helper have no program interpreter (no dynamic loader)") {
  CHECK_MESSAGE(!has_interpreter(kCtxrun), kCtxrun << " has PT_INTERP: it is dynamically linked");
  CHECK_MESSAGE(!has_interpreter(kHelper), kHelper << " has PT_INTERP: it is dynamically linked");
  // Negative control: the check does see a dynamic loader where there is one.
  CHECK(has_interpreter("/usr/bin/unshare"));
}

TEST_CASE("static, empty root: a deadline tears the whole tree down, as PID 1 or not") {
  if (!can_chroot()) return;
  for (Place place : kPlaces) {
    INFO(place_name(place));
    NoSurvivors guard;
    Programs root = empty_root();
    auto start = Clock::now();
    Contained c(place, true, {"-v", "-t", "300ms", "-k", "10s", root.helper, "tree", "7", "3"}, root);
    CHECK(c.process().await_ready().size() == 8);
    auto end = c.finish(start);
    check_prompt_and_clean(end);
    CHECK_MESSAGE(end.exit.exited(124), end.exit.describe());
    // No cgroup mount is visible inside the root: the subreaper backend, on the namespace's /proc.
    CHECK_MESSAGE(end.exit.err.find("backend: subreaper") != std::string::npos, end.exit.err);
    CHECK(last_line(end.exit.err) == "ctxrun: context deadline exceeded (timeout 300ms): 8 processes torn down");
    CHECK(await_no_survivors(5s));
  }
}

TEST_CASE("static, empty root: SIGTERM to ctxrun cancels, the tree is torn down at once") {
  if (!can_chroot()) return;
  for (Place place : kPlaces) {
    INFO(place_name(place));
    NoSurvivors guard;
    Programs root = empty_root();
    Contained c(place, true, {"-t", "60s", "-k", "10s", root.helper, "tree", "7", "3"}, root);
    CHECK(c.process().await_ready().size() == 8);
    pid_t ctxrun = c.ctxrun();
    REQUIRE(ctxrun > 0);
    auto sent = Clock::now();
    REQUIRE(::kill(ctxrun, SIGTERM) == 0);
    auto end = c.finish(sent);
    check_prompt_and_clean(end);
    // PID 1 cannot die of a signal it handles: 128+N instead.
    if (place == Place::pid1) CHECK_MESSAGE(end.exit.exited(128 + SIGTERM), end.exit.describe());
    else CHECK_MESSAGE(end.exit.killed_by(SIGTERM), end.exit.describe());
    CHECK(end.exit.err == "ctxrun: context canceled (SIGTERM): 8 processes torn down\n");
    CHECK(await_no_survivors(5s));
  }
}

TEST_CASE("static, empty root: as PID 1, ctxrun reaps every orphan re-parented to it") {
  if (!can_chroot()) return;
  NoSurvivors guard;
  Programs root = empty_root();
  // With --orphans=wait ctxrun ends only when it has no child left: a zombie it failed to reap
  // would keep it waiting until kGiveUp.
  Contained c(Place::pid1, true, {"-v", "--orphans=wait", "-t", "60s", root.helper, "orphans", "100", "3"}, root);
  auto end = c.finish(Clock::now());
  CHECK_MESSAGE(end.ended, end.exit.err);
  CHECK_MESSAGE(end.exit.exited(0), end.exit.describe());
  CHECK_MESSAGE(end.exit.err.find("reaped 100 orphaned processes besides the command") != std::string::npos,
                end.exit.err);
  CHECK(await_no_survivors(5s));
}

TEST_CASE("static, empty root: a command that is not there is 127, with its one line") {
  if (!can_chroot()) return;
  NoSurvivors guard;
  Programs root = empty_root();
  Contained c(Place::pid1, true, {"-t", "10s", "sleep", "1"}, root);
  auto end = c.finish(Clock::now());
  CHECK_MESSAGE(end.exit.exited(127), end.exit.describe());
  CHECK(end.exit.err == "ctxrun: failed to run command 'sleep': No such file or directory\n");
}

namespace {

// A TCP socket listening on 127.0.0.1 (close-on-exec); its port in `port`. Connections wait in the
// backlog: a probe's connect succeeds without an accept.
ctxrun::unique_fd listen_on_loopback(int& port) {
  ctxrun::unique_fd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(s);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(s.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
  REQUIRE(::listen(s.get(), 16) == 0);
  socklen_t length = sizeof address;
  REQUIRE(::getsockname(s.get(), reinterpret_cast<sockaddr*>(&address), &length) == 0);
  port = ntohs(address.sin_port);
  return s;
}

}  // namespace

// Without libcurl (forced off in a static build), tcp:// probes connect from ctxrun's own loop
// (src/tcp_connect.cpp) to numeric addresses and localhost; everything else is refused at once.
TEST_CASE("static, empty root: tcp:// probes without libcurl: numeric and localhost, refused names and http") {
  if (!can_chroot()) return;
  NoSurvivors guard;
  Programs root = empty_root();
  int port = 0;
  auto listening = listen_on_loopback(port);
  std::string p = std::to_string(port);
  auto run_in_root = [&](std::vector<std::string> args) {
    Contained c(Place::below_pid1, true, args, root);
    return c.finish(Clock::now());
  };
  // localhost is tried as ::1 (nothing listens there: refused), then as 127.0.0.1.
  for (std::string target : {"127.0.0.1:" + p, "localhost:" + p}) {
    INFO(target);
    auto end = run_in_root({"-t", "20s", "--ready", "tcp://" + target, root.helper, "exit", "7"});
    CHECK_MESSAGE(end.exit.exited(7), end.exit.describe() << " " << end.exit.err);
    CHECK(end.exit.err.empty());
  }
  listening.reset();  // now refused
  auto refused = run_in_root(
      {"-t", "20s", "--ready-timeout", "1s", "--ready", "tcp://127.0.0.1:" + p, root.helper, "exit", "0"});
  CHECK_MESSAGE(refused.exit.exited(124), refused.exit.describe());
  CHECK(refused.exit.err == "ctxrun: context deadline exceeded (ready timeout 1s: tcp://127.0.0.1:" + p +
                                " (connection refused)): command not run\n");
  auto name = run_in_root({"--ready", "tcp://db:5432", root.helper, "exit", "0"});
  CHECK_MESSAGE(name.exit.exited(125), name.exit.describe());
  CHECK(name.exit.err ==
        "ctxrun: --ready 'tcp://db:5432': host name 'db': this ctxrun was built without libcurl and resolves no "
        "names (use a numeric address or localhost)\n");
  auto http = run_in_root({"--ready", "http://127.0.0.1:" + p + "/", root.helper, "exit", "0"});
  CHECK_MESSAGE(http.exit.exited(125), http.exit.describe());
  CHECK(http.exit.err == "ctxrun: --ready 'http://127.0.0.1:" + p +
                             "/': http(s):// probes need libcurl, and this ctxrun was built without it\n");
  CHECK(await_no_survivors(5s));
}
