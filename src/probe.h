// A readiness probe as the user wrote it (--ready PROBE, Command::ready): what it checks and where.
// Parsing only; probe_set.h runs them.
#pragma once

#include <string>
#include <string_view>

#include "ctxrun/result.h"

namespace ctxrun {

enum class ProbeKind {
  tcp,          // tcp://HOST:PORT: a connection to any address HOST resolves to
  http,         // http://... or https://...: a GET answered with an accepted status
  unix_socket,  // unix:///path: a connection to the socket
  file,         // file:///path: the path exists
  exec,         // exec:CMD: `sh -c CMD` exits 0
};

struct ProbeSpec {
  ProbeKind kind = ProbeKind::tcp;
  std::string text;    // as written: names the probe in messages and the report
  std::string target;  // tcp: "HOST:PORT" ([v6]:PORT); http: the URL; unix, file: the path; exec: CMD
};

// Why a probe attempt failed, as it reads after a colon or a parenthesis: strerror's text with its
// first letter lower-cased ("connection refused"); lower_first does that to any message.
std::string errno_text(int error);
std::string lower_first(std::string text);

// Parses one probe. On failure, why, naming what the kind expects ("tcp probes are tcp://HOST:PORT").
Result<ProbeSpec> parse_probe(std::string_view text);

}  // namespace ctxrun
