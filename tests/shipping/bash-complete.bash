#!/usr/bin/env bash
# bash-complete.bash COMPLETION_FILE LINE: what bash offers when LINE is typed and Tab pressed, one
# candidate a line, sorted. Loads bash-completion and COMPLETION_FILE ("" to let bash-completion's
# own loader find ctxrun's completion where it is installed), asks `complete -p` which function
# completes the command, and calls it as readline would: COMP_WORDS split at COMP_WORDBREAKS
# (blanks, and = and : as words of their own), COMP_CWORD, COMP_LINE, COMP_POINT.
set -uo pipefail
file=$1 line=$2
source /usr/share/bash-completion/bash_completion || exit 2
[ -z "$file" ] || source "$file" || exit 2
command=${line%% *}
if ! spec=$(complete -p "$command" 2>/dev/null); then
  _completion_loader "$command"
  spec=$(complete -p "$command" 2>/dev/null) || { echo "bash-complete: no completion for $command" >&2; exit 1; }
fi
[[ $spec =~ -F\ ([^ ]+) ]] || { echo "bash-complete: not a function: $spec" >&2; exit 1; }
function=${BASH_REMATCH[1]}

COMP_WORDS=()
word=
for ((i = 0; i < ${#line}; i++)); do
  c=${line:i:1}
  if [[ $c == ' ' ]]; then
    [[ -n $word ]] && COMP_WORDS+=("$word")
    word=
  elif [[ $c == [=:] ]]; then
    [[ -n $word ]] && COMP_WORDS+=("$word")
    COMP_WORDS+=("$c")
    word=
  else
    word+=$c
  fi
done
COMP_WORDS+=("$word") # the word under the cursor ("" after a blank)
[[ $line == *[=:] ]] && unset 'COMP_WORDS[${#COMP_WORDS[@]}-1]' && COMP_WORDS+=("")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
COMP_LINE=$line
COMP_POINT=${#line}
COMP_TYPE=9 COMP_KEY=9
# compopt only works inside a completion that readline started: here it would fail and say so.
compopt() { builtin compopt "$@" 2>/dev/null || true; }
COMPREPLY=()
"$function" "$command" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
((${#COMPREPLY[@]})) && printf '%s\n' "${COMPREPLY[@]}" | sort -u
exit 0
