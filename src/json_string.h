// JSON text for what ctxrun writes for machines (--report, --trace-file): strings that are always
// valid UTF-8 whatever bytes they are made from.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace ctxrun {

// The length of the valid UTF-8 sequence at the start of `s` (1 to 4), or 0 if there is none there
// (or `s` is empty): no overlong forms, no surrogates, nothing above U+10FFFF (RFC 3629).
std::size_t utf8_sequence(std::string_view s) noexcept;

// Whether all of `s` is valid UTF-8.
bool valid_utf8(std::string_view s) noexcept;

// `s` as a JSON string, quotes included. Each byte that is not part of a valid UTF-8 sequence (argv
// is bytes, not text) becomes U+FFFD, as Go's encoding/json does (docs/report.md); control
// characters are escaped.
std::string json_quote(std::string_view s);

}  // namespace ctxrun
