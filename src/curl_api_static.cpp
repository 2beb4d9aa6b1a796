// curl_api() for the static-pie ctxrun (CTXRUN_STATIC_PIE), linked ahead of the library, so that
// the dlopen of curl_api.cpp is never linked into a static program (libcurl_twin.h). A run that
// needs libcurl is handed to ctxrun-libcurl before any probe is made; this answer is for a ctxrun
// without a twin that runs.
#include "curl_api.h"
#include "libcurl_twin.h"

#include <fmt/format.h>

namespace ctxrun {

Result<const CurlApi*> curl_api() {
  return fmt::format(
      "http(s):// probes, and tcp:// ones to a host name, need libcurl, which this static ctxrun cannot load: {}",
      libcurl_missing());
}

}  // namespace ctxrun
