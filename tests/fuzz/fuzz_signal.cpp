// Fuzzes both signal parsers: ctxrun's parse_signal (signals.h) and the timeout personality's
// gnu::parse_signal (gnu_parse.h, coreutils' operand2sig).
//
// Invariants: nothing escapes; ctxrun's result is a real signal (1..SIGRTMAX) whose name parses
// back to it; GNU's is 0..SIGRTMAX and has a GNU name that parses back to it; and where both take
// the text they agree, except for numbers from 128 up, which GNU reads as a shell's status 128+N.
#include <signal.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>

#include "check.h"
#include "ctxrun/signals.h"
#include "gnu_parse.h"

namespace {

bool all_digits(std::string_view s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  int ours = -1;
  auto parsed = ctxrun::parse_signal(text);
  if (auto* error = std::get_if<std::string>(&parsed)) {
    FUZZ_CHECK(error->starts_with("invalid signal '"), "error '%s'", error->c_str());
  } else {
    ours = std::get<int>(parsed);
    FUZZ_CHECK(ours >= 1 && ours <= SIGRTMAX, "'%s' gives %d", text.c_str(), ours);
    std::string name = ctxrun::signal_name(ours);
    auto again = ctxrun::parse_signal(name);
    FUZZ_CHECK(std::holds_alternative<int>(again) && std::get<int>(again) == ours,
               "%d is named '%s', which does not parse back", ours, name.c_str());
  }
  if (text.find('\0') != std::string::npos) return 0;  // GNU's takes a C string (argv)
  auto gnu = ctxrun::gnu::parse_signal(text.c_str());
  if (!gnu) return 0;
  FUZZ_CHECK(*gnu >= 0 && *gnu <= SIGRTMAX, "GNU: '%s' gives %d", text.c_str(), *gnu);
  auto gnu_name = ctxrun::gnu::signal_name(*gnu);
  FUZZ_CHECK(gnu_name.has_value(), "GNU: %d has no name", *gnu);
  auto gnu_again = ctxrun::gnu::parse_signal(gnu_name->c_str());
  FUZZ_CHECK(gnu_again == gnu, "GNU: %d is named '%s', which does not parse back", *gnu, gnu_name->c_str());
  if (ours != -1 && !(all_digits(text) && std::strtol(text.c_str(), nullptr, 10) >= 128))
    FUZZ_CHECK(ours == *gnu, "'%s': ctxrun %d, GNU %d", text.c_str(), ours, *gnu);
  return 0;
}
