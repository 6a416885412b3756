#!/usr/bin/env bash
# The test of the Debian package, run by packaging/test.sh after the cargo tests: builds
# the .deb from the dev binary, installs it with apt (which also proves that its Depends
# resolve), runs the installed command on the installed sample, and opens the window the
# way a desktop would, from the Exec line of the installed .desktop entry, in a folder
# where no source tree is near. The package is removed again afterwards, on failure too.
#
# Installing needs root (or passwordless sudo). Without it the package is only built and
# the test lists itself in target/tmp/skipped-tests.txt; with CI=true it fails instead,
# since a test that cannot run must not pass.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
skips=$root/target/tmp/skipped-tests.txt
mkdir -p "$root/target/tmp"

fail() {
  echo "test-deb: FAIL: $*" >&2
  exit 1
}
# Something that cannot be checked here: listed, or with CI=true a failure.
skip() {
  [ "${CI:-}" = true ] && fail "$1 (CI=true: it must run)"
  echo "$1" >>"$skips"
  echo "test-deb: skipped: $1" >&2
}

# gzip rather than dpkg-deb's xz: 2 s instead of 30 for a 45 MB binary, and the
# compressor is not what this test is about.
deb=$(DPKG_DEB_COMPRESSOR_TYPE=gzip packaging/deb.sh --binary target/debug/hounsfield --out target/deb | tail -n1) ||
  fail "packaging/deb.sh could not build the package"
[ -f "$deb" ] || fail "packaging/deb.sh printed '$deb', which is not a file"
version=$(dpkg-deb --field "$deb" Version)
samples=$(find assets/sample-s2030 -name '*.dcm' | wc -l)

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo=(sudo -n)
  else
    skip "deb::install: not root, the package was built but not installed"
    echo "test-deb: built $(basename "$deb"), not installed (not root)"
    exit 0
  fi
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hounsfield-test-deb.XXXXXX")
installed=0
cleanup() {
  local rc=$?
  if [ "$installed" = 1 ]; then
    "${sudo[@]}" dpkg -r hounsfield >"$tmp/remove.log" 2>&1 ||
      { cat "$tmp/remove.log" >&2; echo "test-deb: could not remove the package" >&2; rc=1; }
  fi
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT

# A copy left by an earlier run that was killed before its trap ran: apt would call the
# same version already installed and skip it, and the test would check the old files.
if dpkg-query -W -f='${Status}' hounsfield 2>/dev/null | grep -q 'ok installed'; then
  echo "test-deb: hounsfield is already installed; removing it first" >&2
  "${sudo[@]}" dpkg -r hounsfield >/dev/null
fi

installed=1
if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
  -o DPkg::Lock::Timeout=120 "$deb" >"$tmp/install.log" 2>&1; then
  cat "$tmp/install.log" >&2
  fail "apt-get install $deb failed"
fi
status=$(dpkg-query -W -f='${Status} ${Version}' hounsfield 2>/dev/null || true)
[ "$status" = "install ok installed $version" ] ||
  fail "dpkg reports '$status' for hounsfield, expected 'install ok installed $version'"

# From a folder of its own, so nothing of the source tree can be found beside the cwd.
mkdir -p "$tmp/cwd" "$tmp/home" "$tmp/run"
chmod 0700 "$tmp/run"
cd "$tmp/cwd"

got=$(/usr/bin/hounsfield --version) || fail "/usr/bin/hounsfield --version failed"
[ "$got" = "hounsfield $version" ] || fail "/usr/bin/hounsfield --version printed '$got', expected 'hounsfield $version'"

sample=/usr/share/hounsfield/assets/sample-s2030
/usr/bin/hounsfield info "$sample" >"$tmp/info.txt" 2>&1 ||
  { cat "$tmp/info.txt" >&2; fail "hounsfield info $sample failed"; }
if ! grep -q "^$samples file(s) scanned, 1 series" "$tmp/info.txt" ||
  ! grep -q "x $samples images" "$tmp/info.txt"; then
  cat "$tmp/info.txt" >&2
  fail "hounsfield info $sample did not report one series of $samples images"
fi

# Slim images tell dpkg to leave out manual pages; there the pages cannot be checked.
if grep -qs '^path-exclude.*/usr/share/man' /etc/dpkg/dpkg.cfg.d/*; then
  skip "deb::man: dpkg is configured to leave out /usr/share/man here"
else
  page=/usr/share/man/man1/hounsfield.1.gz
  [ -f "$page" ] || fail "$page is not installed"
  zcat "$page" | grep -q '^\.TH hounsfield 1' || fail "$page has no .TH header"
  [ -f /usr/share/man/man1/hounsfield-info.1.gz ] || fail "the subcommands' pages (hounsfield-info.1.gz) are not installed"
  if command -v man >/dev/null; then
    found=$(man -w hounsfield 2>/dev/null || true)
    [ "$found" = "$page" ] || fail "man -w hounsfield gives '$found', expected $page"
  fi
fi

entry=/usr/share/applications/hounsfield.desktop
[ -f "$entry" ] || fail "$entry is not installed"
if command -v desktop-file-validate >/dev/null; then
  desktop-file-validate "$entry" >"$tmp/validate.txt" 2>&1 ||
    { cat "$tmp/validate.txt" >&2; fail "desktop-file-validate rejects $entry"; }
else
  skip "deb::desktop-entry: desktop-file-validate is missing (desktop-file-utils)"
fi
for icon in /usr/share/icons/hicolor/scalable/apps/hounsfield.svg /usr/share/icons/hicolor/256x256/apps/hounsfield.png; do
  [ -s "$icon" ] || fail "$icon is not installed"
done

# The window, started as a launcher would: the Exec line without its field codes (no
# file given, so the app opens the bundled sample), found on a system PATH. strace shows
# which sample it read: the build's own source tree is compiled in as a last fallback, so
# a window alone would not prove that the installed copy is found.
exec_line=$(sed -n 's/^Exec=//p' "$entry" | head -n1)
exec_line=$(sed -E 's/(^|[[:space:]])%[fFuUdDnNickvm]//g' <<<"$exec_line")
read -r -a cmd <<<"$exec_line"
[ ${#cmd[@]} -gt 0 ] || fail "$entry has no Exec command"
wm_class=$(sed -n 's/^StartupWMClass=//p' "$entry" | head -n1)
for tool in xvfb-run xwininfo strace; do
  command -v "$tool" >/dev/null || fail "$tool is missing: run packaging/setup-debian.sh"
done
launch_path=/usr/bin:/bin:/usr/sbin:/sbin
resolved=$(PATH=$launch_path command -v "${cmd[0]}" || true)
[ "$resolved" = /usr/bin/hounsfield ] ||
  fail "the Exec command '${cmd[0]}' resolves to '$resolved', not /usr/bin/hounsfield"

# One Xvfb session for the app and the look at its windows. The app's pid is the first
# field of strace's first line (its execve), so the app itself is stopped, not strace,
# which would detach on a signal and leave the app running.
cat >"$tmp/window.sh" <<'EOF'
set -u
log=$1 trace=$2 sample=$3 samples=$4
shift 4
strace -f -qq --seccomp-bpf -e trace=execve,openat -e status=successful -o "$trace" -- "$@" >"$log" 2>&1 &
tracer=$!
app="" window="" opened=0 alive=1
for _ in $(seq 1 60); do
  sleep 0.5
  [ -n "$app" ] || app=$(awk 'NR == 1 && /execve/ { print $1 }' "$trace" 2>/dev/null)
  if ! kill -0 "$tracer" 2>/dev/null; then alive=0; break; fi
  [ -n "$window" ] || window=$(xwininfo -root -tree 2>/dev/null | grep -m1 '"[^"]*Hounsfield[^"]*":' || true)
  opened=$(grep -o "\"$sample/[^\"]*\.dcm\"" "$trace" 2>/dev/null | sort -u | wc -l)
  [ -n "$window" ] && [ "$opened" -ge "$samples" ] && [ "$SECONDS" -ge 15 ] && break
done
# Still alive after the window came up and the sample was read (15 s at least).
[ "$alive" = 1 ] && ! kill -0 "${app:-$tracer}" 2>/dev/null && alive=0
echo "alive=$alive"
echo "window=$window"
echo "opened=$opened"
echo "app=$app"
echo "other_sample=$(grep -o 'openat([^"]*"[^"]*/assets/sample-s2030/[^"]*\.dcm"' "$trace" | grep -v "\"$sample/" | head -n1 | sed 's/.*"\(.*\)"/\1/')"
if [ -n "$app" ]; then
  kill "$app" 2>/dev/null
  for _ in $(seq 1 10); do kill -0 "$app" 2>/dev/null || break; sleep 0.5; done
  kill -KILL "$app" 2>/dev/null
fi
wait "$tracer" 2>/dev/null
exit 0
EOF
HOME=$tmp/home XDG_RUNTIME_DIR=$tmp/run PATH=$launch_path:$PATH \
  timeout 90 env -u WAYLAND_DISPLAY xvfb-run -a -s "-screen 0 1400x900x24" \
  bash "$tmp/window.sh" "$tmp/app.log" "$tmp/trace.log" "$sample" "$samples" "${cmd[@]}" \
  >"$tmp/window.txt" 2>&1 || { cat "$tmp/window.txt" >&2; fail "xvfb-run for the window failed (or took over 90 s)"; }
result() { sed -n "s/^$1=//p" "$tmp/window.txt"; }
show_app_log() { echo "--- the app's output:" >&2; tail -n 20 "$tmp/app.log" >&2; }
[ "$(result alive)" = 1 ] || { show_app_log; fail "'$exec_line' exited before ~15 s"; }
window=$(result window)
[ -n "$window" ] || { show_app_log; fail "no window titled Hounsfield appeared within 30 s of '$exec_line'"; }
if [ -n "$wm_class" ] && ! grep -q "(\"$wm_class\" " <<<"$window"; then
  fail "the window's WM_CLASS is not the entry's StartupWMClass=$wm_class: $window"
fi
other=$(result other_sample)
[ -z "$other" ] || fail "the window opened the sample at $(dirname "$other"), not the installed $sample"
[ "$(result opened)" -ge "$samples" ] ||
  { show_app_log; fail "the window read $(result opened) of the $samples images of $sample, expected all of them"; }

cd "$root"
echo "test-deb: installed $(basename "$deb"), info ran, window launched from the desktop entry"
