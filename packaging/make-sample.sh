#!/usr/bin/env bash
# Regenerate assets/sample-s2030 from the ct-head-phantom exam (see assets/SOURCE.md).
# Creates the test venv on first use so the command works on a fresh checkout.
# Any arguments are passed on to make-sample.py (e.g. --source DIR, --verify-only).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$repo/.venv-test"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
# Quiet no-op when already satisfied; keeps an old venv in step with the file.
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$repo/tests/py/requirements.txt"
exec "$venv/bin/python" "$repo/packaging/make-sample.py" "$@"
