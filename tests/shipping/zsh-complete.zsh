#!/usr/bin/env zsh
# zsh-complete.zsh FPATH_DIR LINE: what zsh's completion system offers when LINE is typed at an
# interactive prompt and Tab pressed, one candidate a line, from a real interactive zsh (zpty) with
# compinit and FPATH_DIR in front of $fpath. compadd is wrapped to print what it is given (as
# Valodim's zsh-capture-completion does), between two markers that end the read without a timer.
zmodload zsh/zpty || { print -u2 "zsh-complete: no zsh/zpty module"; exit 2 }
fpath_dir=$1 line=$2

zpty capture zsh -f -i
zpty -w capture "PROMPT= RPROMPT= fpath=(${(q)fpath_dir} \$fpath); autoload -U compinit; compinit -u -D"
zpty -w capture 'zstyle ":completion:*" list-grouped false; zstyle ":completion:*" insert-tab false'
zpty -w capture 'zstyle ":completion:*:default" list-prompt ""; zstyle ":completion:*" menu no'
# Print each candidate compadd is given (after matching), unless it is asked only to fill an array.
zpty -w capture 'compadd() {
  if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then builtin compadd "$@"; return; fi
  local -a __hits; builtin compadd -A __hits "$@"; local ret=$?
  local h; for h in $__hits; do print -r -- "<<hit>>$h"; done; return ret
}'
zpty -w capture 'comppostfuncs=(__capture_done); __capture_done() { print -r -- "<<done>>"; exit }'
zpty -w capture 'bindkey "^I" complete-word; print -r -- "<<ready>>"'
# The echo of our own commands comes first: wait for the marker on a line of its own.
while zpty -r capture out; do [[ $out == '<<ready>>'* ]] && break; done
zpty -w -n capture "$line"$'\t'
while zpty -r capture out; do
  out=${out%$'\r'*}; out=${out%$'\n'}
  [[ $out == *'<<done>>'* ]] && break
  [[ $out == *'<<hit>>'* ]] && print -r -- "${out##*<<hit>>}"
done
zpty -d capture
