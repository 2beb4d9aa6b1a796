#!/usr/bin/env bash
# deb_test.sh BUILD_DIR: the Debian package, built and used as a user would. CPack makes the .deb
# from BUILD_DIR; its contents and Depends are checked (Depends against what the binary really
# links), lintian is run on it, it is installed with dpkg -i into this machine, ctxrun is run from
# PATH, man finds the page, each shell finds its completion where it looks, and dpkg -r removes
# every file the package listed. The machine is left as it was found: the package is removed
# whatever fails, and the test skips (77) rather than touch a machine where ctxrun is already
# installed, where a file of the package is already there, or where it is not root.
set -uo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"

# One run at a time on this machine (other checkouts run this test too): dpkg would refuse the
# second, and one run's dpkg -r would remove the package under the other.
lock=/run/lock/ctxrun-deb-test.lock
if [ -z "${CTXRUN_DEB_TEST_LOCKED:-}" ] && command -v flock >/dev/null; then
  CTXRUN_DEB_TEST_LOCKED=1 exec flock -w 600 "$lock" "$0" "$@"
fi

for tool in dpkg dpkg-deb dpkg-query dpkg-shlibdeps cpack man; do
  command -v "$tool" >/dev/null || skip "$tool is not installed (Debian: apt-get install dpkg-dev man-db; .ci/install-deps does)"
done
[ "$(id -u)" -eq 0 ] || skip "dpkg -i needs root"
if status=$(dpkg-query -W -f='${Status} ${Version}' ctxrun 2>/dev/null) && [[ $status == *" installed "* ]]; then
  skip "ctxrun is already installed from a package here ($status): this test does not replace or remove it"
fi

work=$(mktemp -d)
installed=false
cleanup() {
  if $installed; then
    dpkg -r ctxrun >/dev/null 2>&1 || echo "FAIL: cleanup: dpkg -r ctxrun failed" >&2
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# The package.
started=$(date +%s%N)
if ! cpack --config "$build/CPackConfig.cmake" -B "$work" >"$work/cpack.log" 2>&1; then
  cat "$work/cpack.log" >&2
  fail "cpack failed"
  finish
fi
deb=$(ls "$work"/*.deb)
echo "built $(basename "$deb") ($(stat -c %s "$deb") bytes) in $((($(date +%s%N) - started) / 1000000)) ms"

# Its files: the binary, the manual, a completion for each shell, the docs. Nothing else (no
# library, no headers, no test helper).
files=$(dpkg-deb -c "$deb" | awk '$1 !~ /^d/ { sub(/^\./, "", $6); print $6 }' | sort)
# A static-pie ctxrun comes with its libcurl twin and a lintian override (docs/shipping.md).
twin=()
file "$build/ctxrun" | grep -q 'static-pie' &&
  twin=(/usr/libexec/ctxrun/ctxrun-libcurl /usr/share/lintian/overrides/ctxrun)
expect_same "the package's files" "$(printf '%s\n' "${twin[@]}")
/usr/bin/ctxrun
/usr/share/man/man1/ctxrun.1.gz
/usr/share/bash-completion/completions/ctxrun
/usr/share/zsh/vendor-completions/_ctxrun
/usr/share/fish/vendor_completions.d/ctxrun.fish
/usr/share/doc/ctxrun/README.md
/usr/share/doc/ctxrun/design.md
/usr/share/doc/ctxrun/report.md
/usr/share/doc/ctxrun/shipping.md
/usr/share/doc/ctxrun/copyright
/usr/share/doc/ctxrun/changelog.gz" "$files"

# Depends: exactly the packages of the shared libraries the binary needs (none when it is fully
# static), each with a version.
dpkg-deb -x "$deb" "$work/root"
binaries=("$work/root/usr/bin/ctxrun")
[ ${#twin[@]} -gt 0 ] && binaries+=("$work/root/usr/libexec/ctxrun/ctxrun-libcurl")
needed=$(for b in "${binaries[@]}"; do readelf -d "$b" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; done | sort -u)
# Each library a binary names itself (NEEDED; not what those pull in, as dpkg-shlibdeps does), as
# the loader finds it for that binary (ldd), and the package that ships that file.
expected_packages=$(for b in "${binaries[@]}"; do ldd "$b" 2>/dev/null; done |
  awk '$2 == "=>" && $3 ~ /^\// { print $1, $3 } $1 ~ /^\// { n = $1; sub(".*/", "", n); print n, $1 }' |
  while read -r name lib; do
    case " $(echo $needed) " in *" $name "*) ;; *) continue ;; esac
    dpkg -S "$lib" 2>/dev/null || dpkg -S "$(readlink -f "$lib")" 2>/dev/null || echo "(no package for $lib):"
  done | grep -v '^diversion' | cut -d: -f1 | sort -u)
depends=$(dpkg-deb -f "$deb" Depends)
# libcurl is loaded with dlopen (no NEEDED entry): the package recommends it when ctxrun can load it.
if grep -q "libcurl.so.4" "${binaries[@]}"; then
  case "$(dpkg-deb -f "$deb" Recommends)" in
    *"libcurl4 (>= "*) echo "ok: Recommends libcurl4 (loaded with dlopen)" ;;
    *) fail "ctxrun loads libcurl.so.4 but the package does not recommend libcurl4: '$(dpkg-deb -f "$deb" Recommends)'" ;;
  esac
fi
echo "NEEDED: $(echo $needed); Depends: ${depends:-(none)}"
expect_same "Depends names the packages of the libraries ctxrun links" "$expected_packages" \
  "$(printf '%s\n' "$depends" | tr ',' '\n' | sed 's/^ *//; s/ .*//' | sed '/^$/d')"
if [ -n "$depends" ]; then
  printf '%s\n' "$depends" | tr ',' '\n' | grep -vqE '^ *[a-z0-9.+-]+ \(>= [^)]+\)$' &&
    fail "a dependency without a version: $depends"
fi
for b in "${binaries[@]}"; do
  file "$b" | grep -q 'stripped' && ! file "$b" | grep -q 'not stripped' ||
    fail "the packaged binary is not stripped: $(file "$b")"
done

# lintian: no error, no warning. What it still says (information, pedantic) is listed in
# docs/shipping.md with the reason.
if command -v lintian >/dev/null; then
  # (As root it also says, on stderr, that running as root is not recommended.)
  lintian --fail-on error,warning --display-info "$deb" >"$work/lintian.log" 2>"$work/lintian.err" ||
    fail "lintian: $(cat "$work/lintian.log" "$work/lintian.err")"
  echo "lintian: $(wc -l <"$work/lintian.log") tags below warning level:"
  sed 's/^/  /' "$work/lintian.log"
else
  echo "lintian is not installed: not run (Debian: apt-get install lintian)"
fi

# Install only into a machine that has none of these files: dpkg would take over a file that is
# not from a package, and dpkg -r would then remove it.
for f in $files; do
  [ -e "$f" ] && skip "$f is already there (not from a package): installing would replace it and dpkg -r remove it"
done
# dpkg configured to leave files out (path-exclude, as in minimised container images) would make
# the checks below fail for the wrong reason.
excluded=$(for f in $files; do
  for pattern in $(sed -n 's/^path-exclude[= ]*//p' /etc/dpkg/dpkg.cfg /etc/dpkg/dpkg.cfg.d/* 2>/dev/null); do
    [[ $f == $pattern ]] && echo "$f"
  done
done)
[ -z "$excluded" ] || skip "dpkg is configured to leave out (path-exclude) $(echo $excluded)"
installed=true
dpkg -i "$deb" >"$work/dpkg-i.log" 2>&1 || { fail "dpkg -i: $(cat "$work/dpkg-i.log")"; finish; }
expect_same "dpkg -L lists the package's files" "$files" \
  "$(dpkg -L ctxrun | while read -r p; do [ -d "$p" ] || echo "$p"; done)"

# Run from PATH: a deadline over a command that would sleep for 5 s.
path=/usr/sbin:/usr/bin:/sbin:/bin
expect_same "ctxrun in PATH" /usr/bin/ctxrun "$(PATH=$path command -v ctxrun)"
err=$(PATH=$path ctxrun -t 1s sleep 5 2>&1)
status=$?
[ $status -eq 124 ] && echo "ok: ctxrun -t 1s sleep 5 exits 124" || fail "ctxrun -t 1s sleep 5: status $status, want 124"
expect_same "its one line" "ctxrun: context deadline exceeded (timeout 1s): 1 process torn down" "$err"

# man finds the page and renders it without a warning.
expect_same "man -w ctxrun" /usr/share/man/man1/ctxrun.1.gz "$(man -w ctxrun)"
man_err=$(MANPAGER=cat man --warnings ctxrun 2>&1 >/dev/null)
expect_same "man --warnings ctxrun says nothing" "" "$man_err"

# Each shell finds the completion where it was installed, by itself.
if [ -f /usr/share/bash-completion/bash_completion ]; then
  expect_same "bash finds the completion (bash-completion's loader)" "--orphans" \
    "$("$here/bash-complete.bash" "" 'ctxrun --or')"
fi
if command -v zsh >/dev/null; then
  expect_same "zsh finds the completion (its fpath)" "--orphans" \
    "$(zsh -f "$here/zsh-complete.zsh" "$work/empty" 'ctxrun --or')"
fi
if command -v fish >/dev/null; then
  mkdir -p "$work/fish-config"
  expect_same "fish finds the completion (vendor_completions.d)" "--orphans" \
    "$(XDG_CONFIG_HOME=$work/fish-config fish -c 'complete -C "ctxrun --or"' | cut -f1)"
fi

# dpkg -r: every file the package listed is gone, and dpkg knows it is not installed.
dpkg -r ctxrun >"$work/dpkg-r.log" 2>&1 || fail "dpkg -r: $(cat "$work/dpkg-r.log")"
installed=false
left=$(for f in $files; do [ -e "$f" ] && echo "$f"; done)
expect_same "files left after dpkg -r" "" "$left"
status=$(dpkg-query -W -f='${Status}' ctxrun 2>/dev/null)
[[ -z $status || $status == *not-installed ]] && echo "ok: dpkg says ctxrun is not installed" ||
  fail "dpkg status after dpkg -r: $status"
finish
