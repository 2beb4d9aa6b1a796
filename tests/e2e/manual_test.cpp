// The manual, man/ctxrun.1, against the program: it renders without a single groff or mandoc warning, it
// documents exactly the options that `ctxrun --help` lists (so the two cannot drift apart), and its
// EXIT STATUS section covers every status of the contract (DESIGN.md §4).
#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "harness.h"

using namespace e2e;

namespace {

const std::string kManPage = std::string(CTXRUN_SOURCE_DIR) + "/man/ctxrun.1";

// What a program wrote, and how it ended.
struct Captured {
  int status = -1;  // raw wait status; -1 if it could not be started or did not end in time
  std::string out, err;
};

// The executable `name` in PATH, or "" if there is none.
std::string find_in_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    struct stat st {};
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(candidate.c_str(), X_OK) == 0)
      return candidate;
  }
  return "";
}

// Runs the program `argv[0]` (a path) with stdin from /dev/null, and reads its stdout and stderr
// until both are closed. Waits on the pipes only (poll), never sleeps; gives up after 60 s.
Captured capture(const std::vector<std::string>& argv) {
  Captured result;
  int out[2], err[2];
  REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
  REQUIRE(::pipe2(err, O_CLOEXEC) == 0);
  ctxrun::unique_fd out_read(out[0]), out_write(out[1]), err_read(err[0]), err_write(err[1]);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    int null = ::open("/dev/null", O_RDONLY);
    if (null < 0 || ::dup2(null, 0) < 0 || ::dup2(out_write.get(), 1) < 0 || ::dup2(err_write.get(), 2) < 0) _exit(126);
    ::execv(args[0], args.data());
    _exit(127);
  }
  out_write.reset();
  err_write.reset();

  pollfd fds[2] = {{out_read.get(), POLLIN, 0}, {err_read.get(), POLLIN, 0}};
  std::string* into[2] = {&result.out, &result.err};
  int open_pipes = 2;
  bool timed_out = false;
  while (open_pipes > 0) {
    int n = ::poll(fds, 2, 60'000);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      timed_out = true;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buf[4096];
      ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
      if (got > 0) {
        into[i]->append(buf, static_cast<std::size_t>(got));
      } else if (got == 0 || errno != EINTR) {
        fds[i].fd = -1;  // closed (or broken): poll ignores negative descriptors
        --open_pipes;
      }
    }
  }
  if (timed_out) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
  CHECK_MESSAGE(!timed_out, argv[0] << " did not finish within 60 s");
  result.status = timed_out ? -1 : status;
  return result;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  REQUIRE_MESSAGE(in.good(), "cannot read " << path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The roff lines of section `name` (`.SH NAME` or `.SH "NAME"`), up to the next `.SH`.
std::vector<std::string> section(const std::vector<std::string>& roff, const std::string& name) {
  std::vector<std::string> body;
  bool inside = false;
  for (const auto& line : roff) {
    if (line.rfind(".SH", 0) == 0) {
      std::string title = line.substr(3);
      title.erase(0, title.find_first_not_of(" \t"));
      if (title.size() >= 2 && title.front() == '"' && title.back() == '"') title = title.substr(1, title.size() - 2);
      if (inside) break;
      inside = title == name;
      continue;
    }
    if (inside) body.push_back(line);
  }
  REQUIRE_MESSAGE(inside, "the manual has no section " << name);
  return body;
}

// The tag lines of a section: each line that follows a `.TP` (the terms it documents).
std::vector<std::string> tags(const std::vector<std::string>& body) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i + 1 < body.size(); ++i)
    if (body[i].rfind(".TP", 0) == 0) out.push_back(body[i + 1]);
  return out;
}

bool name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

// The options a roff line names: `\-\-kill\-after` gives "--kill-after", `\-t` gives "-t".
// A short option is `\-` and one letter or digit, not inside a word (`RTMAX\-n` is not one).
std::set<std::string> roff_options(const std::string& line) {
  std::set<std::string> found;
  std::size_t i = 0;
  while (i < line.size()) {
    if (line.compare(i, 4, "\\-\\-") == 0) {
      std::string name;
      std::size_t j = i + 4;
      while (j < line.size()) {
        if (name_char(line[j])) {
          name += line[j++];
        } else if (!name.empty() && line.compare(j, 2, "\\-") == 0 && j + 2 < line.size() && name_char(line[j + 2])) {
          name += '-';
          j += 2;
        } else {
          break;
        }
      }
      if (!name.empty()) found.insert("--" + name);
      i = j;
      continue;
    }
    if (line.compare(i, 2, "\\-") == 0 && (i == 0 || !name_char(line[i - 1])) && i + 2 < line.size() &&
        name_char(line[i + 2]) && (i + 3 == line.size() || !name_char(line[i + 3])) &&
        line.compare(i + 3, 2, "\\-") != 0) {
      found.insert(std::string("-") + line[i + 2]);
      i += 3;
      continue;
    }
    ++i;
  }
  return found;
}

// The options `ctxrun --help` lists: on each line that starts with spaces and whose first word
// starts with '-' ("  -t,--timeout DURATION  ..."), the comma-separated names of that word.
std::set<std::string> help_options(const std::string& help) {
  std::set<std::string> found;
  for (const auto& line : lines_of(help)) {
    if (line.empty() || line[0] != ' ' || line.find("--") == std::string::npos) continue;
    std::stringstream words(line);
    std::string first;
    words >> first;
    if (first.empty() || first[0] != '-') continue;  // an example line ("  ctxrun --orphans=wait ...")
    std::stringstream names(first);
    for (std::string name; std::getline(names, name, ',');)
      if (name.size() >= 2 && name[0] == '-') found.insert(name.substr(0, name.find('=')));
  }
  return found;
}

std::string joined(const std::set<std::string>& names) {
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "" : " ") + n;
  return s;
}

bool has_word(const std::string& text, const std::string& word) {
  for (auto at = text.find(word); at != std::string::npos; at = text.find(word, at + 1)) {
    bool starts = at == 0 || !name_char(text[at - 1]);
    bool ends = at + word.size() == text.size() || !name_char(text[at + word.size()]);
    if (starts && ends) return true;
  }
  return false;
}

// Runs `tool` (found in PATH) with `args`: it must say nothing, on either stream, and exit 0. Skips
// with a message naming the Debian package when the tool is not installed.
void expect_silent(const std::string& tool, const std::string& package, std::vector<std::string> args) {
  std::string path = find_in_path(tool);
  if (path.empty()) {
    MESSAGE("SKIPPED: " << tool << " is not installed (Debian: apt-get install " << package << ")");
    return;
  }
  args.insert(args.begin(), path);
  auto result = capture(args);
  CHECK_MESSAGE(result.out.empty(), tool << " wrote on stdout: " << result.out);
  CHECK_MESSAGE(result.err.empty(), tool << " warned: " << result.err);
  CHECK_MESSAGE((WIFEXITED(result.status) && WEXITSTATUS(result.status) == 0), tool << " status " << result.status);
}

}  // namespace

TEST_CASE("manual: man/ctxrun.1 renders without a single groff warning") {
  NoSurvivors guard;
  expect_silent("groff", "groff-base", {"-man", "-ww", "-z", kManPage});
}

// mandoc's checker at every level, its STYLE notes included (text lines of at most 80 bytes).
// Lintian reads the page too, through man --warnings (groff, above).
TEST_CASE("manual: mandoc -Tlint finds nothing to say, style included") {
  NoSurvivors guard;
  expect_silent("mandoc", "mandoc", {"-Tlint", kManPage});
}

TEST_CASE("manual: OPTIONS documents exactly the options --help lists") {
  NoSurvivors guard;
  auto help = capture({kCtxrun, "--help"});
  REQUIRE_MESSAGE((WIFEXITED(help.status) && WEXITSTATUS(help.status) == 0), "ctxrun --help: " << help.err);
  std::set<std::string> in_help = help_options(help.out);
  // The parse must have found the options, or the comparison below would prove nothing.
  REQUIRE_MESSAGE(in_help.count("--timeout") == 1, "no options parsed from --help:\n" << help.out);
  REQUIRE(in_help.count("--help") == 1);

  auto roff = lines_of(read_file(kManPage));
  std::set<std::string> documented;  // the options OPTIONS has an entry (.TP tag) for
  for (const auto& tag : tags(section(roff, "OPTIONS")))
    for (const auto& option : roff_options(tag)) documented.insert(option);
  std::set<std::string> mentioned;  // every long option named anywhere in the manual
  for (const auto& line : roff)
    for (const auto& option : roff_options(line))
      if (option.rfind("--", 0) == 0) mentioned.insert(option);

  INFO("--help lists: " << joined(in_help));
  INFO("OPTIONS documents: " << joined(documented));
  for (const auto& option : in_help)
    CHECK_MESSAGE(documented.count(option) == 1, option << " is in --help but has no entry in the manual's OPTIONS");
  for (const auto& option : documented)
    CHECK_MESSAGE(in_help.count(option) == 1, option << " is documented in the manual's OPTIONS but not in --help");
  for (const auto& option : mentioned)
    CHECK_MESSAGE(in_help.count(option) == 1, "the manual mentions " << option << ", which --help does not list");
}

TEST_CASE("manual: EXIT STATUS covers every status of the contract") {
  NoSurvivors guard;
  auto roff = lines_of(read_file(kManPage));
  std::string exit_status;
  for (const auto& line : section(roff, "EXIT STATUS")) exit_status += line + "\n";
  for (std::string status : {"124", "125", "126", "127"})
    CHECK_MESSAGE(has_word(exit_status, status), "EXIT STATUS does not mention " << status);
  // And the other sections the project's layout asks for.
  for (std::string name : {"NAME", "SYNOPSIS", "DESCRIPTION", "ENVIRONMENT", "EXAMPLES", "CAVEATS"})
    CHECK_MESSAGE(!section(roff, name).empty(), "section " << name << " is empty");
}
