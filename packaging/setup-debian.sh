#!/usr/bin/env bash
# Installs what Hounsfield's tests need on Debian 12 beyond the Rust toolchain, and makes
# the Python virtualenv (.venv-test) whose nibabel/pydicom give the tests an independent
# reference. Idempotent: a second run installs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(python3 python3-venv python3-pip admesh)
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
