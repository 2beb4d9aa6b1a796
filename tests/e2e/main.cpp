// The end-to-end test binary. It is a child subreaper, so that every process a test's ctxrun
// failed to tear down re-parents to it and is found (harness.h: survivors()).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <sys/prctl.h>

#include <cstdio>
#include <filesystem>

#include "harness.h"

int main(int argc, char** argv) {
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
    std::perror("PR_SET_CHILD_SUBREAPER");
    return 1;
  }
  doctest::Context context(argc, argv);
  int result = context.run();
  std::error_code ignored;
  if (!e2e::temp_dir_path().empty()) std::filesystem::remove_all(e2e::temp_dir_path(), ignored);
  return result;
}
