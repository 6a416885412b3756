#!/usr/bin/env bash
# Installs what Hounsfield needs on Debian 12 beyond the Rust toolchain. `--app`: only what
# the build and the window need (CMake and a C++ compiler for the CharLS JPEG-LS codec,
# OpenSSL's headers for DICOMweb over https,
# Vulkan loader, Mesa's Vulkan drivers incl. the lavapipe
# software renderer, X11/Wayland keyboard and cursor libraries, zenity for the system file
# dialog where no desktop portal runs). Without it, also what the
# tests need: Xvfb for the window tests, admesh, DCMTK (an independent DICOM encoder for the
# JPEG-LS tests), dcm2niix (an independent reader of the generated phantoms), dicom3tools
# (dciodvfy, the DICOM SEG validator), Orthanc with its DICOMweb plugin (the archive the
# PACS test starts on loopback ports, socat its TLS front), and the
# Python virtualenv (.venv-test)
# whose nibabel/pydicom/trimesh give the tests an independent reference; for the Debian
# package's test (packaging/test-deb.sh), dpkg-dev to build it, xwininfo (x11-utils) to see
# its window, desktop-file-validate, and strace to see which sample the window read.
# Idempotent: a second run installs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

app_packages=(cmake g++ pkg-config libssl-dev libvulkan1 mesa-vulkan-drivers libxkbcommon-x11-0 libxcursor1 libxrandr2 libxi6
  libx11-xcb1 libwayland-client0 libwayland-cursor0 libwayland-egl1 zenity)
packages=("${app_packages[@]}")
if [ "${1:-}" != "--app" ]; then
  packages+=(python3 python3-venv python3-pip admesh xvfb xauth dcmtk dcm2niix dicom3tools orthanc orthanc-dicomweb socat
    dpkg-dev x11-utils desktop-file-utils strace)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

[ "${1:-}" = "--app" ] && exit 0

venv=.venv-test
stamp="$venv/.requirements"
if [ ! -x "$venv/bin/python" ]; then
  echo "setup: creating $venv"
  python3 -m venv "$venv"
fi
if ! cmp -s tests/py/requirements.txt "$stamp"; then
  echo "setup: installing tests/py/requirements.txt into $venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r tests/py/requirements.txt
  cp tests/py/requirements.txt "$stamp"
fi
