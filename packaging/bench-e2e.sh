#!/bin/bash
# End-to-end race, alternating: `hounsfield run` (DICOM folder -> certified, smoothed STL +
# 3MF + case + report, one process) against the peer route of ../shared/bench/peers
# (pydicom + cc3d + VTK). Prints wall seconds and peak memory of each run.
#   packaging/bench-e2e.sh [ROUNDS]      (default 5; PEER_PYTHON=python with vtk, cc3d, pydicom)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
peer_python=${PEER_PYTHON:-python3}
data=$(cd ../shared/data/ct-head-phantom && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cargo build --release --locked --quiet
python3 - "$data" "$work/recipe.json" <<'PY'
import json, sys
r = json.load(open("assets/recipes/phantom-bone.json"))
r["source"] = {"path": sys.argv[1], "series": "203"}
r["reconstruction"] = {"smooth": "sinc:20:0.1", "thin_mm": 0.3, "tolerance_mm": 0.2, "allow_defects": True}
r["exports"] = [{"file": "bone.stl"}, {"file": "bone.3mf"}]
json.dump(r, open(sys.argv[2], "w"), indent=1)
PY
for i in $(seq "$rounds"); do
  /usr/bin/time -f "hounsfield run: %e s, %M KB" target/release/hounsfield run "$work/recipe.json" \
    --out "$work/case-$i.hfcase" > "$work/hf.log" 2>&1 || { cat "$work/hf.log"; exit 1; }
  tail -1 "$work/hf.log"
  /usr/bin/time -f "pydicom-cc3d-vtk: %e s, %M KB" "$peer_python" ../shared/bench/peers/peers.py \
    --e2e pydicom-cc3d-vtk --dir "$data/S21570/S2030" --stl "$work/peer.stl" > "$work/peer.log" 2>&1 \
    || { cat "$work/peer.log"; exit 1; }
  tail -1 "$work/peer.log"
done
