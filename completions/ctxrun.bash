# bash completion for ctxrun(1)                              -*- shell-script -*-
#
# Needs bash-completion (_init_completion, _command_offset, _filedir). Installed as `ctxrun` in
# bash-completion's completionsdir, where it is loaded the first time ctxrun is completed.
# Completes ctxrun's options and their values up to the command (the first operand, or the word
# after `--`); from there on, the command's own completion takes over.

# The options that take a value, as a separate word or after `=`.
_ctxrun_valued='--timeout --deadline --signal --kill-after --orphans --tree --format --report --idle
  --no-output-timeout --heartbeat --on-expire --on-expire-timeout --dump-signal --attempts --attempt-timeout
  --retry-on --retry-delay --retry-backoff --retry-max-delay --retry-jitter --on-retry --with --ready --ready-timeout
  --ready-status --trace-file --value --value-of'
_ctxrun_flags='--preserve-status --no-inherit --remaining --diagnose --label --trace-argv --verbose --quiet --help
  --version'
# The names --signal and --dump-signal take (parse_signal in src/signals.cpp; SIG prefix optional).
_ctxrun_signals='HUP INT QUIT ILL TRAP ABRT BUS FPE KILL USR1 SEGV USR2 PIPE ALRM TERM STKFLT CHLD CONT STOP
  TSTP TTIN TTOU URG XCPU XFSZ VTALRM PROF WINCH POLL IO PWR SYS RTMIN RTMAX'

_ctxrun()
{
    local cur prev words cword split
    _init_completion -s || return

    # Find the command in COMP_WORDS (the words _command_offset counts): the first operand, or the
    # word after `--`. `--name=VALUE` arrives as three words when `=` breaks words.
    local i word
    for ((i = 1; i < COMP_CWORD; i++)); do
        word=${COMP_WORDS[i]}
        if [[ $word == -- ]]; then
            _command_offset $((i + 1))
            return
        elif [[ $word == = ]]; then
            ((i++))
        elif [[ $word == -?* ]]; then
            # A valued option takes the next word, unless its value is attached (-t5s, --tree=x).
            if [[ ${COMP_WORDS[i + 1]} != = ]] &&
                [[ $word =~ ^-[vqh]*[tdsk]$ || " ${_ctxrun_valued//$'\n'/ } " == *" $word "* ]]; then
                ((i++))
            fi
        else
            _command_offset $i
            return
        fi
    done

    # --ready's value is a probe whose scheme has a ':', which breaks words (COMP_WORDBREAKS): look
    # at the words with ':' kept in them.
    local probe_cur probe_prev
    _get_comp_words_by_ref -n : -c probe_cur -p probe_prev
    if [[ $probe_prev == --ready ]]; then
        COMPREPLY=($(compgen -W 'tcp:// http:// https:// unix:/// file:/// exec:' -- "$probe_cur"))
        __ltrim_colon_completions "$probe_cur"
        compopt -o nospace
        return
    fi

    case $prev in
        -s | --signal | --dump-signal | -!(-*)s)
            # --dump-signal takes SIG[:DURATION]: the name is what can be completed.
            COMPREPLY=($(compgen -W "$_ctxrun_signals" -- "${cur^^}"))
            return
            ;;
        --orphans)
            COMPREPLY=($(compgen -W 'kill wait leave' -- "$cur"))
            return
            ;;
        --tree)
            COMPREPLY=($(compgen -W 'auto cgroup subreaper pgroup' -- "$cur"))
            return
            ;;
        --format)
            COMPREPLY=($(compgen -W 'seconds ms go' -- "$cur"))
            return
            ;;
        --retry-jitter)
            COMPREPLY=($(compgen -W 'full none' -- "$cur"))
            return
            ;;
        --retry-on)
            # A comma-separated list: complete its last item.
            local done_items=
            [[ $cur == *,* ]] && done_items=${cur%,*},
            COMPREPLY=($(compgen -P "$done_items" -W 'failure exit: timeout idle signal' -- "${cur##*,}"))
            compopt -o nospace
            return
            ;;
        --report | --trace-file)
            _filedir
            return
            ;;
        --on-expire | --on-retry | --with)
            COMPREPLY=($(compgen -c -- "$cur"))
            return
            ;;
        -t | -d | -k | -!(-*)[tdk] | --timeout | --deadline | --kill-after | --idle | --no-output-timeout | \
            --heartbeat | --on-expire-timeout | --attempts | --attempt-timeout | --retry-delay | --retry-backoff | \
            --retry-max-delay | --ready-timeout | --ready-status | --value | --value-of)
            return # a duration, a time, a number or a value: nothing to offer
            ;;
    esac

    $split && return

    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "${_ctxrun_valued//$'\n'/ } ${_ctxrun_flags//$'\n'/ } -t -d -s -k -v -q -h" -- "$cur"))
        return
    fi
    # The first operand: the command itself.
    _command_offset $COMP_CWORD
} &&
    complete -F _ctxrun ctxrun

# ex: filetype=sh
