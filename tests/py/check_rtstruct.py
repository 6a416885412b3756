"""Independent check of an RT Structure Set written by `hounsfield export-dicom`: pydicom
reads it; the ROI has its name and colour and refers to the source series and frame of
reference; its CLOSED_PLANAR contours, filled slice by slice by parity (holes are contours
inside contours) at the voxel centres, give back the mask exported by the same case as
NIfTI (nibabel) — any voxel that differs must lie on the mask's boundary — and dciodvfy
reports no error.

usage: check_rtstruct.py RT.dcm MASK.nii.gz SOURCE_DIR LABEL
Prints one JSON line; exit 0 when everything holds, 1 otherwise.
"""
import json
import sys

import nibabel as nib
import numpy as np
import pydicom
from dicom_source import dciodvfy, read_source


def fill(polys, rows, cols):
    """Parity fill at pixel centres of polygons given as (x=column, y=row) arrays."""
    out = np.zeros((rows, cols), dtype=bool)
    edges = []
    for p in polys:
        q = np.roll(p, -1, axis=0)
        edges.append(np.concatenate([p, q], axis=1))
    if not edges:
        return out
    e = np.concatenate(edges)
    x1, y1, x2, y2 = e[:, 0], e[:, 1], e[:, 2], e[:, 3]
    for r in range(rows):
        c = (y1 > r) != (y2 > r)
        if not c.any():
            continue
        xs = np.sort(x1[c] + (r - y1[c]) * (x2[c] - x1[c]) / (y2[c] - y1[c]))
        cols_idx = np.arange(cols)
        inside = (np.searchsorted(xs, cols_idx, side="right") % 2) == 1
        out[r] = inside
    return out


def main() -> int:
    rt_path, mask_path, src_dir, label = sys.argv[1:5]
    problems = []
    rt = pydicom.dcmread(rt_path)
    if rt.SOPClassUID != "1.2.840.10008.5.1.4.1.1.481.3" or rt.Modality != "RTSTRUCT":
        problems.append("not an RT Structure Set")
    rois = {r.ROINumber: r.ROIName for r in rt.StructureSetROISequence}
    number = next((n for n, name in rois.items() if name == label), None)
    if number is None:
        problems.append(f"no ROI {label}: {rois}")
        print(json.dumps({"problems": problems}))
        return 1
    roi = next(c for c in rt.ROIContourSequence if c.ReferencedROINumber == number)
    colour = [int(x) for x in roi.ROIDisplayColor]
    img = nib.load(mask_path)
    mask = np.asarray(img.dataobj).astype(bool)  # (i=column, j=row, k=slice)
    inv = np.linalg.inv(img.affine)
    cols, rows, slices = mask.shape
    per_slice = {}
    points = 0
    for c in roi.ContourSequence:
        if c.ContourGeometricType != "CLOSED_PLANAR":
            problems.append(f"contour type {c.ContourGeometricType}")
        d = np.array([float(v) for v in c.ContourData]).reshape(-1, 3)
        if len(d) != int(c.NumberOfContourPoints):
            problems.append("NumberOfContourPoints")
        points += len(d)
        ras = d * np.array([-1.0, -1.0, 1.0])
        ijk = (inv @ np.c_[ras, np.ones(len(ras))].T).T[:, :3]
        k = np.round(ijk[:, 2])
        if np.abs(ijk[:, 2] - k).max() > 1e-3 or len(set(k)) != 1:
            problems.append("a contour is not in one slice plane")
            continue
        per_slice.setdefault(int(k[0]), []).append(ijk[:, :2])
    back = np.zeros_like(mask)
    for k, polys in per_slice.items():
        back[:, :, k] = fill(polys, rows, cols).T
    differ = back != mask
    # A differing voxel must be on the boundary: a face neighbour has the other value.
    m = np.pad(mask, 1, constant_values=False)
    boundary = np.zeros_like(mask)
    for ax in range(2):
        for s in (-1, 1):
            boundary |= np.roll(m, s, axis=ax)[1:-1, 1:-1, 1:-1] != mask
    off_boundary = int((differ & ~boundary).sum())
    if off_boundary:
        problems.append(f"{off_boundary} voxels away from the boundary differ")
    source = read_source(src_dir)
    any_src = next(iter(source.values()))
    fr = rt.ReferencedFrameOfReferenceSequence[0]
    if fr.FrameOfReferenceUID != any_src.FrameOfReferenceUID:
        problems.append("frame of reference")
    series = fr.RTReferencedStudySequence[0].RTReferencedSeriesSequence[0]
    if series.SeriesInstanceUID != any_src.SeriesInstanceUID:
        problems.append("referenced series")
    if any(i.ReferencedSOPInstanceUID not in source for i in series.ContourImageSequence):
        problems.append("a contour image is missing from the source")
    errors, warnings = dciodvfy(rt_path)
    problems += [f"dciodvfy: {e}" for e in errors]
    print(json.dumps({"contours": len(roi.ContourSequence), "points": points, "slices": len(per_slice),
                      "voxels": int(mask.sum()), "differing_voxels": int(differ.sum()),
                      "colour": colour, "dciodvfy_errors": len(errors), "problems": problems}))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
