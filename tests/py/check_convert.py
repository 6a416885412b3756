#!/usr/bin/env python3
"""Independent acceptance check of a DICOM series -> NIfTI conversion.

    check_convert.py NIFTI SERIES_DIR
    check_convert.py --self-test SERIES_DIR

The check does not trust the converter's reading of DICOM: it re-reads the
series with pydicom, derives the expected voxel-to-world mapping from first
principles (IPP, IOP, PixelSpacing; DICOM LPS -> NIfTI RAS by negating x and y),
and compares it with what nibabel finds in the NIfTI:

  * shape == (Columns, Rows, number of slices),
  * zooms == (column spacing, row spacing, slice distance) within 1e-3 mm,
  * affine @ (0,0,k) == IPP_k in RAS for k in {0, 1, n//2, n-1},
  * affine @ (i,j,k) == IPP_k + i*colspacing*rowdir + j*rowspacing*coldir,
  * data[i,j,k] == HU_k[j,i] exactly, HU = stored * slope + intercept,
  * if both sform and qform are set, they agree (viewers pick either).

Slices are ordered by IPP projected on the normal (row dir x column dir),
ascending, so NIfTI slice 0 must be the lowest along the normal.

Prints one JSON line; exit 0 when everything holds, 1 with the reasons if not.
--self-test writes a reference NIfTI from the DICOM with nibabel, checks that
it passes, and checks that a few deliberately wrong ones (LPS affine, swapped
in-plane axes, one altered voxel) are caught.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError

TOL_MM = 1e-3
MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"
LPS_TO_RAS = np.array([-1.0, -1.0, 1.0])


class CheckFailed(Exception):
    pass


@dataclass
class Series:
    hu: np.ndarray  # (n, rows, cols), float64, slice order ascending along the normal
    ipp: np.ndarray  # (n, 3) LPS
    row_dir: np.ndarray  # direction of increasing column index (IOP[0:3])
    col_dir: np.ndarray  # direction of increasing row index (IOP[3:6])
    row_spacing: float  # PixelSpacing[0]: distance between rows
    col_spacing: float  # PixelSpacing[1]: distance between columns
    slice_distance: float
    rows: int
    cols: int

    @property
    def n(self) -> int:
        return self.hu.shape[0]


def read_series(folder: Path) -> Series:
    datasets = []
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        try:
            ds = pydicom.dcmread(path)
        except (InvalidDicomError, OSError):
            continue  # not DICOM: README, .nii, anything else
        # DICOMDIR-style indexes (Philips calls them DIRFILE) carry no image.
        sop = ds.file_meta.get("MediaStorageSOPClassUID", "")
        if sop == MEDIA_STORAGE_DIRECTORY or "DirectoryRecordSequence" in ds or "PixelData" not in ds:
            continue
        datasets.append(ds)
    if not datasets:
        raise CheckFailed(f"no DICOM images in {folder}")
    series_uids = {ds.SeriesInstanceUID for ds in datasets}
    if len(series_uids) != 1:
        raise CheckFailed(f"{folder} holds {len(series_uids)} series; point at one series")

    iop = np.array(datasets[0].ImageOrientationPatient, dtype=float)
    for ds in datasets:
        if np.abs(np.array(ds.ImageOrientationPatient, dtype=float) - iop).max() > 1e-6:
            raise CheckFailed("ImageOrientationPatient differs between slices")
    row_dir, col_dir = iop[:3], iop[3:]
    normal = np.cross(row_dir, col_dir)
    datasets.sort(key=lambda ds: float(normal @ np.array(ds.ImagePositionPatient, dtype=float)))

    ipp = np.array([[float(v) for v in ds.ImagePositionPatient] for ds in datasets])
    row_spacing, col_spacing = (float(v) for v in datasets[0].PixelSpacing)
    rows, cols = int(datasets[0].Rows), int(datasets[0].Columns)

    hu = np.empty((len(datasets), rows, cols), dtype=np.float64)
    for k, ds in enumerate(datasets):
        slope = float(ds.get("RescaleSlope", 1))
        intercept = float(ds.get("RescaleIntercept", 0))
        hu[k] = ds.pixel_array.astype(np.float64) * slope + intercept

    if len(datasets) > 1:
        # A single affine can only describe equally spaced, unsheared slices.
        steps = np.diff(ipp, axis=0)
        along = steps @ normal
        if np.abs(along - along.mean()).max() > TOL_MM:
            raise CheckFailed(f"slices unevenly spaced: {along.min():.4f}..{along.max():.4f} mm")
        if np.linalg.norm(steps - np.outer(along, normal), axis=1).max() > TOL_MM:
            raise CheckFailed("slice positions are sheared (tilted gantry?): no plain affine fits")
        slice_distance = float(along.mean())
    else:
        slice_distance = float(datasets[0].get("SliceThickness", 1))

    return Series(hu, ipp, row_dir, col_dir, row_spacing, col_spacing, slice_distance, rows, cols)


def expected_world(s: Series, i: float, j: float, k: int) -> np.ndarray:
    """RAS position of voxel (i, j, k) straight from the DICOM definition."""
    lps = s.ipp[k] + i * s.col_spacing * s.row_dir + j * s.row_spacing * s.col_dir
    return lps * LPS_TO_RAS


def check(nifti: Path, s: Series) -> dict:
    img = nib.load(str(nifti))
    problems: list[str] = []
    n = s.n

    shape = tuple(int(v) for v in img.shape)
    if shape != (s.cols, s.rows, n):
        # Nothing below is meaningful with the wrong shape.
        raise CheckFailed(f"shape {shape} != expected (Columns, Rows, slices) {(s.cols, s.rows, n)}")

    zooms = np.array(img.header.get_zooms()[:3], dtype=float)
    want_zooms = np.array([s.col_spacing, s.row_spacing, s.slice_distance])
    if np.abs(zooms - want_zooms).max() > TOL_MM:
        problems.append(f"zooms {zooms.tolist()} != {want_zooms.tolist()}")

    affine = img.affine
    worst_mm = 0.0

    def world(i: float, j: float, k: float) -> np.ndarray:
        return (affine @ np.array([i, j, k, 1.0]))[:3]

    for k in sorted({0, 1, n // 2, n - 1} & set(range(n))):
        got, want = world(0, 0, k), expected_world(s, 0, 0, k)
        err = float(np.abs(got - want).max())
        worst_mm = max(worst_mm, err)
        if err > TOL_MM:
            problems.append(f"voxel (0,0,{k}) at {got.round(4).tolist()} != IPP (RAS) {want.round(4).tolist()}")

    # Far corners and an off-diagonal point: catch swapped or mis-scaled axes
    # that (0,0,k) alone cannot see.
    for i, j, k in [(s.cols - 1, 0, 0), (0, s.rows - 1, n - 1), (s.cols // 3, s.rows // 2, n // 2)]:
        got, want = world(i, j, k), expected_world(s, i, j, k)
        err = float(np.abs(got - want).max())
        worst_mm = max(worst_mm, err)
        if err > TOL_MM:
            problems.append(f"voxel ({i},{j},{k}) at {got.round(4).tolist()} != {want.round(4).tolist()}")

    sform, sform_code = img.header.get_sform(coded=True)
    qform, qform_code = img.header.get_qform(coded=True)
    if sform_code and qform_code and np.abs(sform - qform).max() > TOL_MM:
        problems.append("sform and qform disagree")

    # HU are integers in practice; float64 holds them exactly, so equality is
    # the right test (scl_slope/scl_inter are applied by get_fdata).
    data = img.get_fdata(dtype=np.float64)
    expected = np.transpose(s.hu, (2, 1, 0))  # (k, row j, col i) -> (i, j, k)
    mismatches = int(np.count_nonzero(data != expected))
    if mismatches:
        first = tuple(int(v) for v in np.argwhere(data != expected)[0])
        problems.append(
            f"{mismatches} voxels differ from HU, first at {first}: "
            f"{data[first]} != {expected[first]}"
        )

    summary = {
        "ok": not problems,
        "nifti": str(nifti),
        "slices": n,
        "shape": list(shape),
        "zooms": [round(float(z), 6) for z in zooms],
        "max_position_error_mm": round(worst_mm, 6),
        "voxel_mismatches": mismatches,
        "hu_range": [float(s.hu.min()), float(s.hu.max())],
        "sform_code": int(sform_code),
        "qform_code": int(qform_code),
    }
    if problems:
        summary["problems"] = problems
    return summary


# ------------------------------------------------------------------ self-test


def reference_affine(s: Series) -> np.ndarray:
    """Voxel -> RAS affine built as a matrix (the check tests it pointwise)."""
    slice_step = (s.ipp[-1] - s.ipp[0]) / (s.n - 1) if s.n > 1 else np.cross(s.row_dir, s.col_dir) * s.slice_distance
    m = np.eye(4)
    m[:3, 0] = s.row_dir * s.col_spacing
    m[:3, 1] = s.col_dir * s.row_spacing
    m[:3, 2] = slice_step
    m[:3, 3] = s.ipp[0]
    flip = np.diag([-1.0, -1.0, 1.0, 1.0])
    return flip @ m


def write_nifti(path: Path, data: np.ndarray, affine: np.ndarray) -> None:
    img = nib.Nifti1Image(data.astype(np.int16), affine)
    img.header.set_xyzt_units("mm")
    img.set_sform(affine, code=1)  # scanner coordinates
    img.set_qform(affine, code=1)
    nib.save(img, str(path))


def self_test(folder: Path) -> dict:
    s = read_series(folder)
    if s.hu.min() < -32768 or s.hu.max() > 32767 or np.any(s.hu != np.round(s.hu)):
        raise CheckFailed("self-test needs integer HU that fit int16")
    good_affine = reference_affine(s)
    good_data = np.transpose(s.hu, (2, 1, 0))
    results = {}
    with tempfile.TemporaryDirectory(prefix="check_convert-") as tmp:
        tmp = Path(tmp)

        ref = tmp / "reference.nii.gz"
        write_nifti(ref, good_data, good_affine)
        summary = check(ref, s)
        if not summary["ok"]:
            raise CheckFailed(f"reference NIfTI rejected: {summary['problems']}")
        results["reference"] = summary

        # Each broken variant must be rejected for its own reason.
        lps = good_affine.copy()
        lps[:2, :] *= -1  # forgot the LPS -> RAS flip: the classic bug
        off_by_one = good_data.copy()
        off_by_one[1, 2, 0] += 1  # a single voxel one HU off must not slip through
        variants = {
            "lps_affine": (good_data, lps, "IPP (RAS)"),
            "rows_cols_swapped": (np.transpose(s.hu, (1, 2, 0)), good_affine, "voxels differ"),
            "one_voxel_off": (off_by_one, good_affine, "1 voxels differ"),
        }
        if s.rows != s.cols:
            # A square image cannot show a shape error; only then is it skipped.
            variants["rows_cols_swapped"] = (np.transpose(s.hu, (1, 2, 0)), good_affine, "shape")
        shifted = good_affine.copy()
        shifted[:3, 3] += good_affine[:3, 0] * 0.5  # half a voxel: pixel-corner vs centre mix-up
        variants["half_voxel_shift"] = (good_data, shifted, "IPP (RAS)")

        for name, (data, affine, must_mention) in variants.items():
            path = tmp / f"{name}.nii.gz"
            write_nifti(path, data, affine)
            try:
                bad = check(path, s)
                reasons = " | ".join(bad.get("problems", []))
            except CheckFailed as e:
                bad, reasons = {"ok": False}, str(e)
            if bad["ok"]:
                raise CheckFailed(f"self-test: wrong NIfTI '{name}' was accepted")
            if must_mention not in reasons:
                raise CheckFailed(f"self-test: '{name}' rejected for an unexpected reason: {reasons}")
            results[name] = "caught"
    return {"ok": True, "self_test": str(folder), **results}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--self-test", metavar="SERIES_DIR", type=Path, help="check the checker on a DICOM series")
    ap.add_argument("nifti", nargs="?", type=Path)
    ap.add_argument("series", nargs="?", type=Path)
    args = ap.parse_args()
    try:
        if args.self_test:
            if args.nifti or args.series:
                ap.error("--self-test takes only SERIES_DIR")
            summary = self_test(args.self_test)
        else:
            if not (args.nifti and args.series):
                ap.error("need NIFTI and SERIES_DIR (or --self-test SERIES_DIR)")
            summary = check(args.nifti, read_series(args.series))
    except CheckFailed as e:
        print(json.dumps({"ok": False, "error": str(e)}))
        print(f"check_convert: FAIL: {e}", file=sys.stderr)
        return 1
    print(json.dumps(summary))
    if not summary["ok"]:
        for p in summary["problems"]:
            print(f"check_convert: FAIL: {p}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
