# fish completion for ctxrun(1). Installed as ctxrun.fish in fish's vendor_completions.d.
# Completes ctxrun's options and their values up to the command (the first operand, or the word
# after `--`); from there on, the command's own completion takes over (__fish_complete_subcommand).

# The options that take the next word as their value (unless it is attached: -t5s, --tree=auto).
function __ctxrun_valued
    printf '%s\n' -t --timeout -d --deadline -s --signal -k --kill-after --orphans --tree --format --report \
        --idle --no-output-timeout --heartbeat --on-expire --on-expire-timeout --dump-signal --attempts \
        --attempt-timeout --retry-on --retry-delay --retry-backoff --retry-max-delay --retry-jitter --on-retry \
        --with --ready --ready-timeout --ready-status --trace-file --value --value-of
end

# Prints the index, among the tokens before the cursor, of the command ctxrun runs; fails if the
# command is not among them yet.
function __ctxrun_command_index
    set -l tokens (commandline -opc)
    set -l valued (__ctxrun_valued)
    set -l i 2
    while test $i -le (count $tokens)
        set -l token $tokens[$i]
        if test "$token" = --
            math $i + 1
            return 0
        else if string match -qr -- '^-[vqh]*[tdsk]$' $token; or contains -- $token $valued
            set i (math $i + 2)
        else if string match -q -- '-?*' $token
            set i (math $i + 1)
        else
            echo $i
            return 0
        end
    end
    return 1
end

function __ctxrun_before_command
    not __ctxrun_command_index >/dev/null
end

# Whether the word under the cursor is the command or one of its arguments.
function __ctxrun_in_command
    __ctxrun_command_index >/dev/null; and return 0
    # The first operand, being typed: not an option, and not an option's value.
    set -l previous (commandline -opc)[-1]
    string match -q -- '-*' (commandline -ct); and return 1
    string match -qr -- '^-[vqh]*[tdsk]$' $previous; and return 1
    not contains -- $previous (__ctxrun_valued)
end

# The command's own completion, for the words from the command on.
function __ctxrun_complete_command
    set -l tokens (commandline -opc)
    set -l at (__ctxrun_command_index); or set at (math (count $tokens) + 1)
    set -l words $tokens[$at..-1] (commandline -ct)
    __fish_complete_subcommand --commandline $words
end

set -l signals HUP INT QUIT ILL TRAP ABRT BUS FPE KILL USR1 SEGV USR2 PIPE ALRM TERM STKFLT CHLD CONT STOP \
    TSTP TTIN TTOU URG XCPU XFSZ VTALRM PROF WINCH POLL IO PWR SYS RTMIN RTMAX

complete -c ctxrun -f
complete -c ctxrun -n __ctxrun_in_command -a '(__ctxrun_complete_command)'

set -l c complete -c ctxrun -n __ctxrun_before_command
$c -s t -l timeout -x -d 'Deadline relative to now (1h30m, 90, 2.5m; 0: none)'
$c -s d -l deadline -x -d 'Absolute deadline (RFC 3339 or @UNIXTIME)'
$c -s s -l signal -x -a "$signals" -d 'First signal of teardown (default TERM)'
$c -s k -l kill-after -x -d 'Grace before SIGKILL (default 10s; 0: never)'
$c -l orphans -x -a 'kill wait leave' -d 'What to do with processes left behind'
$c -l preserve-status -d "On a deadline, exit with the command's status, not 124"
$c -l tree -x -a 'auto cgroup subreaper pgroup' -d 'How the tree is tracked'
$c -l no-inherit -d 'Ignore the deadline inherited in CTXRUN_DEADLINE'
$c -l remaining -d 'Print the time left of the inherited deadline and exit'
$c -l format -x -a 'seconds ms go' -d 'Format of --remaining'
$c -l report -r -F -d 'Write what happened as JSON to FILE'
$c -l idle -x -d 'End after this long without output'
$c -l no-output-timeout -x -d 'End after this long without output'
$c -l heartbeat -x -d 'Say the command is still running after this long without output'
$c -l diagnose -d 'On a deadline or idleness, print the tree before teardown'
$c -l on-expire -x -a '(__fish_complete_command)' -d 'On a deadline or idleness, run CMD (sh -c) before teardown'
$c -l on-expire-timeout -x -d 'How long --on-expire may run'
$c -l dump-signal -x -a "$signals" -d 'Send SIG to the command alone first, e.g. QUIT'
$c -l attempts -x -d 'Run the command up to N times, until it succeeds'
$c -l attempt-timeout -x -d "Each attempt's own deadline"
$c -l retry-on -x -a '(__fish_append , failure exit: timeout idle signal)' -d 'What is retried'
$c -l retry-delay -x -d 'Delay before the second attempt'
$c -l retry-backoff -x -d 'Each delay is the last one times FACTOR'
$c -l retry-max-delay -x -d 'Longest delay'
$c -l retry-jitter -x -a 'full none' -d 'Random delays or exact ones'
$c -l on-retry -x -a '(__fish_complete_command)' -d 'Run CMD (sh -c) between attempts'
$c -l with -x -a '(__fish_complete_command)' -d 'Start CMD (sh -c) first, as a service the command needs'
$c -l ready -x -a 'tcp:// http:// https:// unix:/// file:/// exec:' -d 'Start the command once PROBE succeeds'
$c -l ready-timeout -x -d 'How long the probes may take'
$c -l ready-status -x -d 'HTTP(S) probes are ready on this status only'
$c -l label -d "Prefix each line of a service's output with [NAME]"
$c -l trace-file -r -F -d "Append this run's OpenTelemetry span to FILE"
$c -l trace-argv -d 'Put the whole command line in the span'
$c -l value -x -d 'Hand the command a request-scoped value in BAGGAGE'
$c -l value-of -x -d 'Print the value of KEY from the inherited BAGGAGE and exit'
$c -s v -l verbose -d 'Say what is done at each step'
$c -s q -l quiet -d 'Print nothing but errors'
$c -s h -l help -d 'Print the usage and exit'
$c -l version -d 'Print the version and exit'
