#!/usr/bin/env bash
# Builds the Debian package hounsfield_<version>_<arch>.deb with plain dpkg-deb, so that
# neither a packager's toolchain (debhelper, cargo-deb) nor a cargo install is needed: CI
# packages the binary it has just built and packaging/test-deb.sh installs the result.
#
#   packaging/deb.sh [--binary PATH] [--out DIR]
#
# Without --binary it builds the release binary first (the path for people making a
# package to hand out). The compressor is dpkg-deb's default (xz); DPKG_DEB_COMPRESSOR_TYPE
# (e.g. gzip) overrides it where speed matters more than size, as in the test. Prints the
# path of the .deb on stdout, the only thing it prints there.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  echo "usage: packaging/deb.sh [--binary PATH] [--out DIR]" >&2
  exit 2
}
binary=""
out=target/deb
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) [ $# -ge 2 ] || usage; binary=$2; shift 2 ;;
    --out) [ $# -ge 2 ] || usage; out=$2; shift 2 ;;
    -h | --help) usage ;;
    *) echo "deb.sh: unknown argument $1" >&2; usage ;;
  esac
done
if [ -z "$binary" ]; then
  cargo build --release --locked >&2
  binary=target/release/hounsfield
fi
[ -x "$binary" ] || { echo "deb.sh: $binary is not an executable" >&2; exit 1; }
binary=$(realpath "$binary")
for tool in dpkg-deb objcopy gzip; do
  command -v "$tool" >/dev/null || { echo "deb.sh: $tool is missing (apt-get install dpkg-dev binutils)" >&2; exit 1; }
done

# The version is the crate's: read from [package] rather than asked of cargo, which would
# take the build lock from a build that may be running.
version=$(sed -n '/^\[package\]/,/^\[/{s/^version[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p}' Cargo.toml | head -n1)
[ -n "$version" ] || { echo "deb.sh: no version in Cargo.toml's [package]" >&2; exit 1; }
arch=$(dpkg --print-architecture)
deb_name="hounsfield_${version}_${arch}.deb"

mkdir -p "$out"
out=$(realpath "$out")
# dpkg-shlibdeps wants a source tree: debian/control, and the package staged at
# debian/<package>. Both live in a scratch folder beside the .deb, gone on any exit.
work=$(mktemp -d "$out/.stage.XXXXXX")
trap 'rm -rf "$work"' EXIT
stage=$work/debian/hounsfield
# Fixed modes whatever the caller's umask, so that the package's permissions do not depend
# on who built it.
umask 022

# A date for the changelog (and dpkg-deb's timestamps) that comes from the commit, so that
# two builds of one commit agree; the time of the build where there is no git.
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
  SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || date +%s)
fi
export SOURCE_DATE_EPOCH

mkdir -p "$stage/DEBIAN" "$stage/usr/bin" "$stage/usr/share/hounsfield/assets" \
  "$stage/usr/share/applications" "$stage/usr/share/icons/hicolor/scalable/apps" \
  "$stage/usr/share/icons/hicolor/256x256/apps" "$stage/usr/share/man/man1" \
  "$stage/usr/share/doc/hounsfield"

# Debug info is most of a build's size (a dev build's 100 MB shrink to 45); the symbols
# stay, so a panic's backtrace still names functions.
objcopy --strip-debug "$binary" "$stage/usr/bin/hounsfield"
"$stage/usr/bin/hounsfield" --version >/dev/null ||
  { echo "deb.sh: the stripped binary does not run" >&2; exit 1; }

# The window opens this sample when given no path; the binary looks for it at
# <exe>/../share/hounsfield/assets/sample-s2030. Recipes, presets and the sample's licence
# travel with it so that the sample recipe and its attribution are there too.
cp -r assets/sample-s2030 assets/recipes assets/presets "$stage/usr/share/hounsfield/assets/"
cp assets/LICENSE-ct-head-phantom assets/SOURCE.md "$stage/usr/share/hounsfield/assets/"

cp packaging/hounsfield.desktop "$stage/usr/share/applications/hounsfield.desktop"
cp packaging/icons/hounsfield.svg "$stage/usr/share/icons/hicolor/scalable/apps/hounsfield.svg"
cp packaging/icons/hounsfield-256.png "$stage/usr/share/icons/hicolor/256x256/apps/hounsfield.png"

# The manual pages come from the binary's own clap definitions, so they cannot drift from
# its options. gzip -n leaves out name and time, which would make every build differ.
"$binary" man --out "$work/man" >/dev/null
shopt -s nullglob
pages=("$work"/man/*.1)
shopt -u nullglob
[ ${#pages[@]} -gt 0 ] || { echo "deb.sh: '$binary man' wrote no pages" >&2; exit 1; }
for page in "${pages[@]}"; do
  gzip -9n -c "$page" >"$stage/usr/share/man/man1/$(basename "$page").gz"
done

cat >"$stage/usr/share/doc/hounsfield/copyright" <<'EOF'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: hounsfield
Comment: The bundled sample series (/usr/share/hounsfield/assets/sample-s2030) is
 derived from the public dcm2niix CT validation set dcm_qa_ct; its source and how it
 was derived are in /usr/share/hounsfield/assets/SOURCE.md, its licence in
 /usr/share/hounsfield/assets/LICENSE-ct-head-phantom (reproduced below).

Files: *
Copyright: Hounsfield engineers
License: MIT or Apache-2.0
 Hounsfield may be used under the terms of either the MIT licence or the Apache
 License, Version 2.0, at your option.
 .
 On Debian systems the full text of the Apache License, Version 2.0 is in
 /usr/share/common-licenses/Apache-2.0.
 .
 Permission is hereby granted, free of charge, to any person obtaining a copy of this
 software and associated documentation files (the "Software"), to deal in the Software
 without restriction, including without limitation the rights to use, copy, modify,
 merge, publish, distribute, sublicense, and/or sell copies of the Software, and to
 permit persons to whom the Software is furnished to do so, subject to the following
 conditions:
 .
 The above copyright notice and this permission notice shall be included in all copies
 or substantial portions of the Software.
 .
 THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED,
 INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A
 PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT
 HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF
 CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE
 OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.

Files: usr/share/hounsfield/assets/sample-s2030/*
Copyright: 2019, Chris Rorden
Comment: phantom data courtesy of Paul Morgan, Nottingham
License: BSD-2-Clause
 Redistribution and use in source and binary forms, with or without
 modification, are permitted provided that the following conditions are met:
 .
 1. Redistributions of source code must retain the above copyright notice, this
    list of conditions and the following disclaimer.
 .
 2. Redistributions in binary form must reproduce the above copyright notice,
    this list of conditions and the following disclaimer in the documentation
    and/or other materials provided with the distribution.
 .
 THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS IS"
 AND ANY EXPRESS OR IMPLIED WARRANTIES, INCLUDING, BUT NOT LIMITED TO, THE
 IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS FOR A PARTICULAR PURPOSE ARE
 DISCLAIMED. IN NO EVENT SHALL THE COPYRIGHT HOLDER OR CONTRIBUTORS BE LIABLE
 FOR ANY DIRECT, INDIRECT, INCIDENTAL, SPECIAL, EXEMPLARY, OR CONSEQUENTIAL
 DAMAGES (INCLUDING, BUT NOT LIMITED TO, PROCUREMENT OF SUBSTITUTE GOODS OR
 SERVICES; LOSS OF USE, DATA, OR PROFITS; OR BUSINESS INTERRUPTION) HOWEVER
 CAUSED AND ON ANY THEORY OF LIABILITY, WHETHER IN CONTRACT, STRICT LIABILITY,
 OR TORT (INCLUDING NEGLIGENCE OR OTHERWISE) ARISING IN ANY WAY OUT OF THE USE
 OF THIS SOFTWARE, EVEN IF ADVISED OF THE POSSIBILITY OF SUCH DAMAGE.
EOF

{
  echo "hounsfield ($version) unstable; urgency=medium"
  echo
  echo "  * Package of Hounsfield $version, built from the source tree."
  echo
  echo " -- Hounsfield engineers <hounsfield@localhost>  $(date -u -R -d "@$SOURCE_DATE_EPOCH")"
} | gzip -9n >"$stage/usr/share/doc/hounsfield/changelog.Debian.gz"

# Shared libraries the binary links (glibc, libstdc++, OpenSSL...): dpkg-shlibdeps knows
# the minimum versions from the shlibs/symbols files; without it each NEEDED library is
# mapped to the package that owns it.
printf 'Source: hounsfield\n\nPackage: hounsfield\nArchitecture: any\n' >"$work/debian/control"
shlib_depends=""
if command -v dpkg-shlibdeps >/dev/null; then
  shlib_depends=$(cd "$work" && dpkg-shlibdeps -O -e debian/hounsfield/usr/bin/hounsfield 2>/dev/null |
    sed -n 's/^shlibs:Depends=//p')
fi
if [ -z "$shlib_depends" ]; then
  deps=()
  for lib in $(objdump -p "$binary" | awk '$1 == "NEEDED" { print $2 }'); do
    path=$(ldconfig -p | awk -v l="$lib" '$1 == l { print $NF; exit }')
    [ -n "$path" ] || continue
    pkg=$(dpkg -S "$(realpath "$path")" 2>/dev/null || dpkg -S "$path" 2>/dev/null || true)
    pkg=${pkg%%:*}
    [ -n "$pkg" ] && deps+=("$pkg")
  done
  shlib_depends=$(printf '%s\n' "${deps[@]}" | sort -u | paste -sd, | sed 's/,/, /g')
fi
[ -n "$shlib_depends" ] || { echo "deb.sh: found no shared-library dependencies" >&2; exit 1; }
# OpenSSL is what DICOMweb over https needs; a package that lost it would install and then
# fail on the first https archive, so its absence is an error here, not a surprise there.
if objdump -p "$binary" | grep -q 'NEEDED.*libssl\.so\.3' && ! grep -q 'libssl3' <<<"$shlib_depends"; then
  shlib_depends="$shlib_depends, libssl3"
fi
# What the window loads with dlopen, invisible to ldd: the Vulkan loader and Mesa's drivers
# (lavapipe where there is no GPU), and winit's X11 and Wayland libraries.
window_depends="libvulkan1, mesa-vulkan-drivers, libxkbcommon-x11-0, libxcursor1, libxrandr2, libxi6, libx11-xcb1, libwayland-client0, libwayland-cursor0, libwayland-egl1"

# Debian's fixed modes: directories and the binary 0755, every other file 0644.
find "$stage" -type d -exec chmod 0755 {} +
find "$stage" -type f -exec chmod 0644 {} +
chmod 0755 "$stage/usr/bin/hounsfield"

installed_size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat >"$stage/DEBIAN/control" <<EOF
Package: hounsfield
Version: $version
Architecture: $arch
Maintainer: Hounsfield engineers <hounsfield@localhost>
Installed-Size: $installed_size
Depends: $shlib_depends, $window_depends
Recommends: zenity
Section: science
Priority: optional
Description: CT to print-ready bone models, traceable to ISO/IEC 3532-1
 Hounsfield is a desktop workstation that turns a CT series into a segmented,
 print-ready bone model (STL, 3MF, OBJ) with a record of every step: the
 DICOM findings acknowledged, each segmentation operation, the reconstruction
 and the physician's review, in an ISO/IEC 3532-1 report.
 .
 The package includes a small sample CT series that the window opens when
 given no file, and the command line for scripted and batch work.
EOF
chmod 0644 "$stage/DEBIAN/control"

rm -f "$out/$deb_name"
dpkg-deb --root-owner-group --build "$stage" "$out/$deb_name" >&2
echo "$out/$deb_name"
