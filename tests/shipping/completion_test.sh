#!/usr/bin/env bash
# completion_test.sh SHELL CTXRUN COMPLETIONS_DIR: ctxrun's completion for SHELL (bash, zsh or
# fish), driven through the shell itself: a partial command line is typed, Tab pressed, and the
# candidates checked (bash: the function `complete -p` names, called with COMP_WORDS; zsh: an
# interactive zsh in a pty, zpty; fish: `complete -C`). Skips (77) when SHELL is not installed.
set -uo pipefail
shell=$1 ctxrun=$2 dir=$3
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"

command -v "$shell" >/dev/null || skip "$shell is not installed (Debian: apt-get install $shell; .ci/install-deps does)"
case $shell in
  bash) [ -f /usr/share/bash-completion/bash_completion ] || skip "bash-completion is not installed (Debian: apt-get install bash-completion)" ;;
esac

config=$(mktemp -d) # an empty configuration directory for fish: the user's is not read
trap 'rm -rf "$config"' EXIT

# The candidates for LINE, one a line, each cut to what follows its last '=', ',' or '/' (shells
# differ in whether they repeat the part of the word before it), sorted, without duplicates.
candidates() {
  local out
  case $shell in
    bash) out=$("$ctxrun" -q -t 60s -- "$here/bash-complete.bash" "$dir/ctxrun.bash" "$1") ;;
    zsh) out=$("$ctxrun" -q -t 60s -- zsh -f "$here/zsh-complete.zsh" "$dir" "$1") ;;
    # Not --no-config: it also leaves out fish's own completions, which ctxrun's hands over to.
    fish) out=$(XDG_CONFIG_HOME=$config "$ctxrun" -q -t 60s -- fish -c 'source $argv[1]; complete -C $argv[2]' \
      "$dir/ctxrun.fish" "$1" | cut -f1) ;;
  esac || fail "completing [$1] in $shell failed (status $?)"
  printf '%s\n' "$out" | sed 's/.*[=,/]//' | sed '/^$/d' | sort -u
}

signals='HUP INT QUIT ILL TRAP ABRT BUS FPE KILL USR1 SEGV USR2 PIPE ALRM TERM STKFLT CHLD CONT STOP TSTP TTIN
TTOU URG XCPU XFSZ VTALRM PROF WINCH POLL IO PWR SYS RTMIN RTMAX'
signals=$(printf '%s\n' $signals)

# Options: exactly the long options --help prints, no more, no fewer.
help_options=$(help_long_options "$ctxrun")
[ "$(printf '%s\n' "$help_options" | wc -l)" -ge 20 ] || fail "too few options parsed from --help: $help_options"
expect_same "ctxrun -- offers exactly the long options of --help" "$help_options" "$(candidates 'ctxrun --')"
expect_same "ctxrun --or" "--orphans" "$(candidates 'ctxrun --or')"

# Values.
expect_same "--orphans values" "$(printf '%s\n' kill wait leave)" "$(candidates 'ctxrun --orphans ')"
expect_same "--orphans= values" "$(printf '%s\n' kill wait leave)" "$(candidates 'ctxrun --orphans=')"
expect_same "--tree values" "$(printf '%s\n' auto cgroup subreaper pgroup)" "$(candidates 'ctxrun -v --tree ')"
expect_same "--format values" "$(printf '%s\n' seconds ms go)" "$(candidates 'ctxrun --remaining --format ')"
expect_same "--retry-jitter values" "$(printf '%s\n' full none)" "$(candidates 'ctxrun --retry-jitter ')"
expect_same "--retry-on, second item" "timeout" "$(candidates 'ctxrun --retry-on failure,ti')"
expect_same "-s signal names" "$signals" "$(candidates 'ctxrun -t 5s -s ')"
expect_same "--signal= signal names, from lower case" "TERM" "$(candidates 'ctxrun --signal=te')"
expect_same "--dump-signal signal names" "$signals" "$(candidates 'ctxrun --dump-signal ')"
expect_contains "--report completes file names" "hosts" "$(candidates 'ctxrun --report /etc/host')"
# What is offered is what ctxrun takes.
for value in $(candidates 'ctxrun --orphans '); do
  "$ctxrun" -q --orphans="$value" -t 10s true || fail "ctxrun --orphans=$value: status $?"
done
for value in $(candidates 'ctxrun --tree '); do
  # A backend this machine cannot run is refused with its reason; the name itself must be known.
  if "$ctxrun" -q --tree="$value" -t 10s true 2>&1 | grep "invalid --tree"; then fail "ctxrun --tree=$value"; fi
done
for value in $(candidates 'ctxrun --format '); do
  "$ctxrun" --remaining --format="$value" >/dev/null || fail "ctxrun --remaining --format=$value: status $?"
done
for value in $(candidates 'ctxrun -s '); do
  "$ctxrun" -q -s "$value" -t 10s true || fail "ctxrun -s $value: status $?"
done

# The command, and its own completion after it: the first operand, or the word after --.
expect_contains "the first operand is a command" "sleep" "$(candidates 'ctxrun -t 5s sle')"
expect_same "after the first operand, the command's own completion" "$(printf '%s\n' --all --almost-all)" \
  "$(candidates 'ctxrun -t 5s ls --al')"
expect_same "after --, the command's own completion" "$(printf '%s\n' --all --almost-all)" \
  "$(candidates 'ctxrun -t 5s -- ls --al')"
expect_same "after a group with an attached value (-vt5s)" "$(printf '%s\n' --all --almost-all)" \
  "$(candidates 'ctxrun -vt5s --orphans=wait ls --al')"
# Negative controls: ctxrun's options are not offered after the command, and an option's value is
# not taken for the command.
expect_same "no ctxrun option after the command" "" "$(candidates 'ctxrun ls --orph')"
expect_same "an option's value is not a command" "" "$(candidates 'ctxrun -t sle')"
finish
