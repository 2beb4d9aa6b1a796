#include "probe.h"

#include <charconv>
#include <cstring>

namespace ctxrun {
namespace {

bool starts_with(std::string_view text, std::string_view prefix) { return text.substr(0, prefix.size()) == prefix; }

// "HOST:PORT" with a port of 1 to 65535 and a host that is a name, an IPv4 address or [IPv6].
bool valid_host_port(std::string_view hp) {
  auto colon = hp.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  std::string_view host = hp.substr(0, colon), port = hp.substr(colon + 1);
  unsigned number = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), number);
  if (ec != std::errc() || end != port.data() + port.size() || number == 0 || number > 65535) return false;
  if (host.front() == '[') return host.size() > 2 && host.back() == ']';
  for (char c : host)
    if (c == '/' || c == '[' || c == ']' || c == '@' || c == ':' || static_cast<unsigned char>(c) <= ' ') return false;
  return true;
}

}  // namespace

std::string lower_first(std::string text) {
  // "Connection refused" → "connection refused"; an acronym ("TLS ...", "URL ...") stays as it is.
  if (!text.empty() && text[0] >= 'A' && text[0] <= 'Z' && (text.size() < 2 || !(text[1] >= 'A' && text[1] <= 'Z')))
    text[0] = static_cast<char>(text[0] - 'A' + 'a');
  return text;
}

std::string errno_text(int error) { return lower_first(std::strerror(error)); }

Result<ProbeSpec> parse_probe(std::string_view text) {
  ProbeSpec spec{.text = std::string(text)};
  if (starts_with(text, "tcp://")) {
    auto hp = text.substr(6);
    if (!hp.empty() && hp.back() == '/') hp.remove_suffix(1);
    if (!valid_host_port(hp)) return std::string("tcp probes are tcp://HOST:PORT (a port of 1 to 65535)");
    spec.kind = ProbeKind::tcp;
    spec.target = std::string(hp);
  } else if (starts_with(text, "http://") || starts_with(text, "https://")) {
    auto rest = text.substr(text.find("://") + 3);
    if (rest.empty() || rest.front() == '/' || rest.find_first_of(" \t\r\n") != std::string_view::npos)
      return std::string("http probes are http://HOST[:PORT][/PATH] or https://... (no spaces)");
    spec.kind = ProbeKind::http;
    spec.target = std::string(text);
  } else if (starts_with(text, "unix://") || starts_with(text, "file://")) {
    bool unix_socket = starts_with(text, "unix://");
    auto path = text.substr(7);
    if (path.empty() || path.front() != '/')
      return std::string(unix_socket ? "unix probes are unix:///ABSOLUTE/PATH"
                                     : "file probes are file:///ABSOLUTE/PATH");
    spec.kind = unix_socket ? ProbeKind::unix_socket : ProbeKind::file;
    spec.target = std::string(path);
  } else if (starts_with(text, "exec:")) {
    if (text.size() == 5) return std::string("exec probes are exec:COMMAND (run by sh -c)");
    spec.kind = ProbeKind::exec;
    spec.target = std::string(text.substr(5));
  } else {
    return std::string("not a probe: tcp://HOST:PORT, http(s)://..., unix:///PATH, file:///PATH or exec:COMMAND");
  }
  return spec;
}

}  // namespace ctxrun
