#!/usr/bin/env bash
# The project's test command (README and CI run exactly this): setup, format and lint
# checks, then every test. Tests on the real exam need ../shared beside the checkout; with
# CI=true their absence fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
./packaging/setup-debian.sh
cargo fmt --check
cargo clippy --locked --all-targets -- -D warnings
cargo test --locked
