#!/usr/bin/env bash
# Runs Hounsfield's fuzz targets (packaging/fuzz) one after another, each for the given
# number of seconds (default 1200 = 20 minutes), at low priority. Needs the nightly toolchain
# and cargo-fuzz (`cargo install cargo-fuzz`). CI does not run this.
#
#   packaging/fuzz.sh [SECONDS] [TARGET...]      targets: dicom nifti recipe_log mesh_files
#
# The working corpus grows in target/fuzz-corpus/<target> (seeded from packaging/fuzz/seeds
# and from the repository's own sample, corpora and recipes). A crash is left by libFuzzer in
# target/fuzz-artifacts/<target>; turn it into a regression test under tests/ before fixing.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-1200}"
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(dicom nifti recipe_log mesh_files)
fuzz_dir=packaging/fuzz

seed() {
  local t="$1" dir="target/fuzz-corpus/$1"
  mkdir -p "$dir"
  [ -d "$fuzz_dir/seeds/$t" ] && cp -n "$fuzz_dir/seeds/$t"/* "$dir"/ 2>/dev/null || true
  case "$t" in
    dicom) cp -n assets/sample-s2030/IM0001.dcm tests/malformed/*.dcm "$dir"/ ;;
    nifti) for f in tests/malformed-nifti/*.nii*; do
             # the first byte picks .nii (even) or .nii.gz (odd): see the target
             { printf '\0'; cat "$f"; } > "$dir/$(basename "$f").seed"; done ;;
    recipe_log) cp -n assets/recipes/*.json assets/scripts/*.json "$dir"/ ;;
    mesh_files) ;;
  esac
}

echo "fuzz: building (nightly, cargo-fuzz)"
(cd "$fuzz_dir" && cargo +nightly fuzz build --fuzz-dir . -O)
for t in "${targets[@]}"; do
  seed "$t"
  mkdir -p "target/fuzz-artifacts/$t"
  echo "fuzz: $t for ${seconds}s"
  # -malloc_limit_mb: one allocation above 2 GiB from a small file is a bug, even though
  # real volumes may be larger. -timeout: one input taking 30 s is a hang.
  nice -n 19 "$fuzz_dir/target/x86_64-unknown-linux-gnu/release/$t" \
    -max_total_time="$seconds" -max_len=262144 -rss_limit_mb=4096 -malloc_limit_mb=2048 \
    -timeout=30 -print_final_stats=1 \
    -artifact_prefix="target/fuzz-artifacts/$t/" "target/fuzz-corpus/$t" \
    2>&1 | tee "target/fuzz-artifacts/$t.log" | grep -E "^#[0-9]+ *(DONE|pulse)|ERROR|SUMMARY|stat::" || true
done
echo "fuzz: done; logs and any crash in target/fuzz-artifacts/"
