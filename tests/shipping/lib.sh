# Shared by the shipping tests (sourced): checks that say what differs, a skip that ctest shows as
# skipped (exit 77, the tests' SKIP_RETURN_CODE), and the options `ctxrun --help` prints.

failures=0

fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

skip() {
  echo "SKIPPED: $*"
  exit 77
}

# Ends the test: 0 if no check failed.
finish() {
  if [ "$failures" -gt 0 ]; then
    echo "$failures check(s) failed" >&2
    exit 1
  fi
  echo "all checks passed"
  exit 0
}

# expect_same WHAT EXPECTED ACTUAL: two newline-separated lists, compared as sets.
expect_same() {
  local what=$1 expected actual
  expected=$(printf '%s\n' "$2" | sed '/^$/d' | sort -u)
  actual=$(printf '%s\n' "$3" | sed '/^$/d' | sort -u)
  if [ "$expected" != "$actual" ]; then
    fail "$what: expected [$(echo $expected)], got [$(echo $actual)]; missing: [$(echo $(comm -23 <(echo "$expected") <(echo "$actual")))]; extra: [$(echo $(comm -13 <(echo "$expected") <(echo "$actual")))]"
  else
    echo "ok: $what"
  fi
}

# expect_contains WHAT NEEDLE LIST: NEEDLE is one of the lines of LIST.
expect_contains() {
  if printf '%s\n' "$3" | grep -qxF -- "$2"; then
    echo "ok: $1"
  else
    fail "$1: [$2] is not among [$(echo $3 | head -c 300)]"
  fi
}

# The long options `ctxrun --help` lists, one a line: on each line that starts with blanks and a
# dash, the comma-separated names of its first word ("  -t,--timeout DURATION  ...").
help_long_options() {
  local help
  help=$("$1" --help) || { fail "$1 --help failed"; return; }
  printf '%s\n' "$help" | awk '/^  +-/ { n = split($1, names, ","); for (i = 1; i <= n; i++) if (names[i] ~ /^--./) print names[i] }' |
    sort -u
}
