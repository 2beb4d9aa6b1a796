#!/usr/bin/env bash
# completion_files_test.sh CTXRUN COMPLETIONS_DIR: every long option `ctxrun --help` prints is in
# each completion file (bash, zsh, fish), and every option a completion file names is one --help
# prints; the options each file lets take a value as a separate word are exactly those --help shows
# with a value. So an option added to ctxrun cannot be forgotten in a completion, nor a completion
# keep one that is gone. Needs no shell but bash: it reads the files.
set -uo pipefail
ctxrun=$1 dir=$2
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"

help_options=$(help_long_options "$ctxrun")
# The options --help shows with a value: a name followed by a word in capitals (DURATION, SIG[:DURATION],
# KEY=VALUE, [NAME=]CMD).
help_valued=$("$ctxrun" --help | awk '/^  +-/ && $2 ~ /^\[?[A-Z][A-Z_\[\]:=]*$/ {
  n = split($1, names, ","); for (i = 1; i <= n; i++) if (names[i] ~ /^--./) print names[i] }' | sort -u)
[ "$(printf '%s\n' "$help_options" | wc -l)" -ge 20 ] || fail "too few options parsed from --help: $help_options"
[ "$(printf '%s\n' "$help_valued" | wc -l)" -ge 10 ] || fail "too few valued options parsed from --help: $help_valued"

# The long options named in a file's code (comments left out): --name, and fish's `-l name` on
# the lines that declare completions (`complete ...`, `$c ...`).
named_in() {
  local code
  code=$(sed -e 's/^[[:space:]]*#.*//' "$1")
  {
    printf '%s\n' "$code" | grep -oE -- '--[a-z][a-z0-9-]*'
    printf '%s\n' "$code" | grep -E '^(complete|\$c) ' | grep -oE -- '-l [a-z][a-z0-9-]*' | sed 's/^-l /--/'
  } | sort -u
}

for file in ctxrun.bash _ctxrun ctxrun.fish; do
  [ -f "$dir/$file" ] || { fail "$dir/$file is missing"; continue; }
  named=$(named_in "$dir/$file")
  # fish's own option of __fish_complete_subcommand, not ctxrun's.
  [ "$file" = ctxrun.fish ] && named=$(printf '%s\n' "$named" | grep -vx -- --commandline)
  expect_same "$file names exactly the long options of --help" "$help_options" "$named"
done

expect_same "ctxrun.bash: the options that take a value" "$help_valued" \
  "$(bash -c 'shopt -s extglob; source "$1"; printf "%s\n" $_ctxrun_valued' - "$dir/ctxrun.bash")"
expect_same "_ctxrun: the options that take a value (--name=)" "$help_valued" \
  "$(grep -oE -- '--[a-z][a-z0-9-]*=' "$dir/_ctxrun" | tr -d =)"
if command -v fish >/dev/null; then
  expect_same "ctxrun.fish: the options that take a value" "$help_valued" \
    "$(fish --no-config -c 'source $argv[1]; __ctxrun_valued' "$dir/ctxrun.fish" | grep -- '^--')"
  expect_same "ctxrun.fish: the options with -x or -r (a value)" "$help_valued" \
    "$(grep -E -- ' -(x|r)( |$)' "$dir/ctxrun.fish" | grep -oE -- '-l [a-z][a-z0-9-]*' | sed 's/^-l /--/')"
else
  echo "fish is not installed: its list of valued options is checked by its file only"
  expect_same "ctxrun.fish: the options with -x or -r (a value)" "$help_valued" \
    "$(grep -E -- ' -(x|r)( |$)' "$dir/ctxrun.fish" | grep -oE -- '-l [a-z][a-z0-9-]*' | sed 's/^-l /--/')"
fi
finish
