"""Independent check of a phantom made by `hounsfield phantom`: pydicom and DCMTK read every slice
and its geometry must be the one truth.json states (pixel spacing, slice distance along
the normal, tilt from the orientation, matrix, count); the HU at the centre of each
sphere is the bone value and in the tissue the tissue value (within 5 noise σ); dcm2niix
converts the series without a geometry warning (a tilted series: its tilt estimate from
the slice vector equals the tag; a series with gaps: it warns of exactly that) and nibabel
reads a volume of the same shape and spacing.

usage: check_phantom.py PHANTOM_DIR WORK_DIR
Prints one JSON line; exit 0 when everything holds, 1 otherwise.
"""
import glob
import json
import math
import os
import re
import subprocess
import sys

import nibabel as nib
import numpy as np
import pydicom


def main() -> int:
    src, work = sys.argv[1], sys.argv[2]
    truth = json.load(open(os.path.join(src, "truth.json")))
    spec, grid = truth["spec"], truth["grid"]
    problems = []
    files = sorted(glob.glob(os.path.join(src, "*.dcm")))
    ds = [pydicom.dcmread(f) for f in files]
    if len(ds) != grid["slices"]:
        problems.append(f"{len(ds)} slices read, truth says {grid['slices']}")
    ds.sort(key=lambda d: float(d.ImagePositionPatient[2]))
    iop = np.array([float(x) for x in ds[0].ImageOrientationPatient])
    col_dir, row_dir = iop[:3], iop[3:]
    normal = np.cross(col_dir, row_dir)
    ps = [float(x) for x in ds[0].PixelSpacing]
    if any(abs(p - spec["pixel_spacing_mm"]) > 1e-9 for p in ps):
        problems.append(f"pixel spacing {ps}")
    pos = np.array([[float(x) for x in d.ImagePositionPatient] for d in ds])
    steps = np.diff(pos, axis=0)
    along = steps @ normal
    table = np.array(grid.get("table_mm") or [k * grid["slice_increment_mm"] for k in range(grid["slices"])])
    expected = np.diff(table) * math.cos(math.radians(spec["gantry_tilt_deg"]))
    if np.abs(along - expected).max() > 1e-4:
        problems.append(f"slice distance {along.min()}..{along.max()}")
    # Tilt: the angle between the slice vector and the plane normal.
    sv = steps[0] / np.linalg.norm(steps[0])
    tilt = math.degrees(math.acos(min(1.0, abs(float(sv @ normal)))))
    if abs(tilt - abs(spec["gantry_tilt_deg"])) > 0.01:
        problems.append(f"tilt {tilt} from the positions")
    if (int(ds[0].Rows), int(ds[0].Columns)) != (grid["rows"], grid["columns"]):
        problems.append("matrix")
    if abs(float(ds[0].SliceThickness) - spec["slice_thickness_mm"]) > 1e-9:
        problems.append("slice thickness")
    # HU at object centres and in tissue: nearest voxel by inverting the slice geometry.
    vol = np.stack([d.pixel_array.astype(np.float64) * float(d.RescaleSlope) + float(d.RescaleIntercept) for d in ds])
    mats = spec["materials"]
    tol = 5 * spec["noise_sd_hu"] + 2

    def hu_at(p):
        p = np.asarray(p, dtype=float)
        depth = float((p - pos[0]) @ normal)
        k = int(np.argmin(np.abs(np.cumsum(np.r_[0.0, along]) - depth)))
        d = p - pos[k]
        j = int(round(float(d @ row_dir) / ps[0]))
        i = int(round(float(d @ col_dir) / ps[1]))
        return vol[k, j, i]

    checked = 0
    for o in truth["objects"]:
        if o["shape"]["kind"] == "sphere" and o["shape"]["diameter_mm"] >= 5 * max(ps[0], grid["slice_distance_mm"]):
            v = hu_at(o["shape"]["centre_mm"])
            checked += 1
            if abs(v - mats["bone_hu"]) > tol:
                problems.append(f"{o['name']} centre {v} HU")
    # Tissue: the first point on a ring inside the body that is clear of every object.
    z = float(pos[len(pos) // 2][2])
    r = 0.7 * truth["body_radius_mm"]
    for a in range(0, 360, 10):
        p = [r * math.cos(math.radians(a)), r * math.sin(math.radians(a)), z]
        clear = all(
            any(p[q] < o["bounds_min_mm"][q] - 5 or p[q] > o["bounds_max_mm"][q] + 5 for q in range(3))
            for o in truth["objects"]
        )
        if clear:
            t = hu_at(p)
            if abs(t - mats["tissue_hu"]) > tol:
                problems.append(f"tissue at {p}: {t} HU")
            break
    # DCMTK, an independent DICOM toolkit: the first, middle and last file parse without
    # an error.
    import shutil
    if shutil.which("dcmdump"):
        for f in sorted({files[0], files[len(files) // 2], files[-1]}):
            r = subprocess.run(["dcmdump", f], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            if r.returncode != 0 or "E:" in r.stderr:
                problems.append(f"dcmdump {os.path.basename(f)}: {r.returncode} {r.stderr.strip()[:200]}")
                break
    else:
        problems.append("dcmdump (DCMTK) is missing")
    # dcm2niix, an independent converter.
    os.makedirs(work, exist_ok=True)
    r = subprocess.run(["dcm2niix", "-z", "n", "-o", work, "-f", "phantom", src], capture_output=True, text=True)
    out = r.stdout + r.stderr
    if r.returncode != 0:
        problems.append(f"dcm2niix exit {r.returncode}")
    # The vendor-tuning note is not about geometry; everything else that warns is.
    warnings = [
        line
        for line in out.splitlines()
        if "warning" in line.lower() and "manufacturer" not in line.lower() and "gantry tilt of" not in line.lower()
    ]
    # A phantom made with gaps must be seen as such by dcm2niix too; any other warning fails.
    gaps = bool(spec.get("slice_gaps"))
    varies = [w for w in warnings if "interslice distance varies" in w.lower()]
    if gaps and not varies:
        problems.append("dcm2niix did not see the generated slice gaps")
    others = [w for w in warnings if w not in varies]
    if others or (varies and not gaps):
        problems.append(f"dcm2niix warns: {warnings}")
    m = re.search(r"Gantry Tilt based on 0018,1120 (\S+), estimated from slice vector (\S+)", out)
    if spec["gantry_tilt_deg"] != 0:
        if not m or abs(float(m.group(1)) - float(m.group(2))) > 0.01:
            problems.append(f"dcm2niix tilt: {m.group(0) if m else 'not reported'}")
    niis = sorted(glob.glob(os.path.join(work, "phantom*.nii")))
    shape = None
    if not niis:
        problems.append("dcm2niix wrote no NIfTI")
    else:
        img = nib.load(niis[0])
        shape = list(img.shape)
        zooms = [float(z) for z in img.header.get_zooms()[:3]]
        if shape[:2] != [grid["columns"], grid["rows"]]:
            problems.append(f"NIfTI shape {shape}")
        if abs(zooms[0] - ps[1]) > 1e-4 or abs(zooms[1] - ps[0]) > 1e-4:
            problems.append(f"NIfTI pixel size {zooms}")
    print(json.dumps({"ok": not problems, "problems": problems, "slices": len(ds), "tilt_deg": tilt,
                      "spheres_checked": checked, "dcm2niix_shape": shape}))
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
