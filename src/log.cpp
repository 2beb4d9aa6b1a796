#include "log.h"

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

namespace ctxrun::log {
namespace {

std::string g_program = "ctxrun";
Verbosity g_verbosity = Verbosity::normal;
const auto g_started = std::chrono::steady_clock::now();

}  // namespace

void configure(std::string program, Verbosity verbosity) {
  g_program = std::move(program);
  g_verbosity = verbosity;
}

bool verbose_enabled() { return g_verbosity == Verbosity::verbose; }

std::string one_line(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c == '\r') out += "\\r";
    else if (c < 0x20 || c == 0x7f) out += fmt::format("\\x{:02x}", c);
    else out += ch;
  }
  return out;
}

Status write_out(std::string_view text) {
  errno = 0;
  std::fwrite(text.data(), 1, text.size(), stdout);
  // ferror() after fflush(): a failed fwrite may have left nothing for fflush to fail on.
  if (std::fflush(stdout) != 0 || std::ferror(stdout))
    return fmt::format("write error: {}", std::strerror(errno != 0 ? errno : EIO));
  return std::nullopt;
}

void write_line(Verbosity level, const std::string& message) {
  if (level > g_verbosity) return;
  std::string line = g_program + ": ";
  // Each step (-v) stamped with the time since ctxrun started ("+0.301s"): what a reader of a
  // teardown wants to see.
  if (level == Verbosity::verbose)
    line += fmt::format("+{:.3f}s ",
                        std::chrono::duration<double>(std::chrono::steady_clock::now() - g_started).count());
  line += one_line(message) + "\n";
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace ctxrun::log
