// The report channel of the helper programs (tests/helpers/ctxrun_helper.cpp and
// bench/bench_helper.cpp): lines written to a descriptor the caller passes, each in one write()
// shorter than PIPE_BUF, so lines from many processes never mix. Async-signal-safe.
#pragma once

#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>

namespace helper {

inline int report_fd = -1;  // where report() writes; set by each mode

inline void write_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    ssize_t n = write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    data += n;
    size -= static_cast<std::size_t>(n);
  }
}

// "LINE\n" on the report descriptor.
inline void report(const char* line) {
  char buf[128];
  int n = std::snprintf(buf, sizeof buf, "%s\n", line);
  if (n > 0) write_all(report_fd, buf, static_cast<std::size_t>(n));
}

[[noreturn]] inline void wait_forever() {
  while (true) pause();
}

}  // namespace helper
