#!/usr/bin/env python3
"""Derive Hounsfield's bundled sample series from the ct-head-phantom exam.

The full bone series (S21570/S2030: 140 slices of 512x512, ~72 MB) is too big to
ship inside the application, so this script writes a quarter-resolution copy that
is still a real, geometrically exact CT series:

  * every second slice (1st, 3rd, ... 139th of the series in table order -> 70),
  * 2x2 block mean in plane (512x512 -> 256x256), rounded half up to an integer,
    kept as unsigned 16-bit stored values with the original slope, intercept,
    BitsStored and HighBit, so HU = stored * 1 - 1024 exactly as in the source,
  * geometry rewritten to match (PixelSpacing x2, ImagePositionPatient moved to
    the centre of the new first pixel, SpacingBetweenSlices 2),
  * new UIDs derived deterministically from the originals, private tags removed,
  * RLE Lossless encoding (pydicom's native encoder), files IM0001..IM0070.dcm.

Rerunning it gives byte-identical files. After writing, the output is read back
and checked against an independent downsample of the source (see verify()).

Usage: make-sample.py [--source DIR] [--out DIR]  (packaging/make-sample.sh wraps it)
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import sys
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    CTImageStorage,
    ExplicitVRLittleEndian,
    RLELossless,
    generate_uid,
)
from pydicom.valuerep import format_number_as_ds

REPO = Path(__file__).resolve().parent.parent
# CI and developer machines lay the shared data folder beside the repository.
DEFAULT_SOURCE = REPO.parent / "shared/data/ct-head-phantom/S21570/S2030"
DEFAULT_OUT = REPO / "assets/sample-s2030"

SLICE_STEP = 2  # keep every second slice
BLOCK = 2  # in-plane block size for the mean
SERIES_NUMBER = 9203
SERIES_DESCRIPTION = "Hounsfield sample: S2030 every 2nd slice, 2x2 downsampled"
# Salt for the UID hashes: keeps our derived UIDs distinct from anything another
# tool might derive from the same source UID with the same pydicom root.
UID_SALT = "hounsfield-sample-s2030-v1"

DERIVATION = (
    "Hounsfield bundled sample: every 2nd slice of Philips series 203 "
    "(BONE BRAIN 1MM), 2x2 block mean of stored values rounded half up, "
    "PixelSpacing doubled, IPP moved to new first pixel centre; RLE Lossless"
)


def derived_uid(original: str) -> str:
    """Same input UID -> same output UID on every run (pydicom hashes the sources)."""
    return generate_uid(entropy_srcs=[UID_SALT, str(original)])


def ds_str(value: float) -> str:
    """DS strings are limited to 16 characters; format_number_as_ds respects that."""
    return format_number_as_ds(float(value))


def block_mean_round(stored: np.ndarray) -> np.ndarray:
    """2x2 block mean in integer arithmetic, ties rounded up (x.5 -> x+1).

    Integer sums avoid any float rounding question; half-up (not numpy's
    half-to-even) is the conventional 'round to nearest' and is what the
    SOURCE.md documents, so a reimplementation can reproduce the bytes.
    """
    r, c = stored.shape
    s = stored.astype(np.uint32).reshape(r // BLOCK, BLOCK, c // BLOCK, BLOCK).sum(axis=(1, 3))
    n = BLOCK * BLOCK
    return ((s + n // 2) // n).astype(np.uint16)


def read_series(source: Path) -> list[Dataset]:
    """All image files of the series, ordered along the slice normal.

    Ordering by position (not file name or InstanceNumber) is what defines
    'every second slice' geometrically; the Philips DIRFILE index is skipped.
    """
    if not source.is_dir():
        sys.exit(f"source series not found: {source} (pass --source DIR)")
    slices = []
    for path in sorted(source.iterdir()):
        if not path.is_file():
            continue
        try:
            ds = pydicom.dcmread(path)
        except pydicom.errors.InvalidDicomError:
            continue
        if "PixelData" not in ds or ds.get("SOPClassUID") != CTImageStorage:
            continue
        slices.append(ds)
    if not slices:
        sys.exit(f"no CT images found in {source}")
    iop = np.array(slices[0].ImageOrientationPatient, dtype=float)
    normal = np.cross(iop[:3], iop[3:])
    slices.sort(key=lambda d: float(np.dot(normal, np.array(d.ImagePositionPatient, dtype=float))))
    return slices


def derive(src: Dataset, new_index: int, spacing: float) -> Dataset:
    """Build the derived dataset for one kept slice (new_index is 1-based)."""
    # Dataset.copy() is shallow: edits would leak back into the source dataset
    # (and SourceImageSequence would end up pointing at the new UID).
    ds = copy.deepcopy(src)
    ds.remove_private_tags()

    stored = src.pixel_array
    # The mean of in-range values stays in range, so keeping BitsStored is only
    # honest if the source really is unsigned and within its own BitsStored.
    if stored.dtype != np.uint16 or int(stored.max()) >= 1 << int(src.BitsStored):
        sys.exit(f"unexpected stored values in {src.SOPInstanceUID}")
    small = block_mean_round(stored)

    # --- geometry -------------------------------------------------------------
    iop = np.array(src.ImageOrientationPatient, dtype=float)
    row_dir, col_dir = iop[:3], iop[3:]
    # PixelSpacing is (distance between rows, distance between columns); moving
    # along a row (increasing column index) goes along row_dir by column spacing.
    row_spacing, col_spacing = (float(v) for v in src.PixelSpacing)
    ipp = np.array(src.ImagePositionPatient, dtype=float)
    # The new pixel (0,0) averages old pixels (0..1, 0..1): its centre lies half
    # an old pixel along each in-plane axis from the old first pixel centre.
    new_ipp = ipp + 0.5 * (BLOCK - 1) * col_spacing * row_dir + 0.5 * (BLOCK - 1) * row_spacing * col_dir
    ds.ImagePositionPatient = [ds_str(v) for v in new_ipp]
    ds.PixelSpacing = [ds_str(row_spacing * BLOCK), ds_str(col_spacing * BLOCK)]
    ds.Rows, ds.Columns = small.shape
    ds.SpacingBetweenSlices = ds_str(spacing)
    if "SliceLocation" in src:
        # Philips writes SliceLocation = IPP projected on the normal. The
        # in-plane shift leaves that projection unchanged; recomputing it from
        # the new IPP keeps the two tied, and the check refuses a source where
        # the relation did not hold in the first place.
        normal = np.cross(row_dir, col_dir)
        if abs(float(src.SliceLocation) - float(np.dot(normal, ipp))) > 1e-3:
            sys.exit("SliceLocation does not match IPP in the source")
        ds.SliceLocation = ds_str(float(np.dot(normal, new_ipp)))

    # --- identity ---------------------------------------------------------------
    ds.StudyInstanceUID = derived_uid(src.StudyInstanceUID)
    ds.SeriesInstanceUID = derived_uid(src.SeriesInstanceUID)
    ds.SOPInstanceUID = derived_uid(src.SOPInstanceUID)
    ds.FrameOfReferenceUID = derived_uid(src.FrameOfReferenceUID)
    ds.SeriesNumber = SERIES_NUMBER
    ds.SeriesDescription = SERIES_DESCRIPTION
    ds.InstanceNumber = new_index
    ds.ImageType = ["DERIVED", "PRIMARY", "AXIAL"]
    ds.DerivationDescription = DERIVATION
    # References to the localizer and the procedure step would dangle (those
    # objects are not shipped); the creation stamp would claim a 2015 creation
    # that did not happen. Provenance goes in SourceImageSequence instead.
    for keyword in (
        "ReferencedImageSequence",
        "ReferencedPerformedProcedureStepSequence",
        "InstanceCreationDate",
        "InstanceCreationTime",
    ):
        if keyword in ds:
            delattr(ds, keyword)
    ref = Dataset()
    ref.ReferencedSOPClassUID = src.SOPClassUID
    ref.ReferencedSOPInstanceUID = src.SOPInstanceUID
    ds.SourceImageSequence = Sequence([ref])

    # --- file meta --------------------------------------------------------------
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = src.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = f"PYDICOM {pydicom.__version__}"[:16]
    ds.file_meta = meta
    ds.preamble = b"\x00" * 128

    # compress() would otherwise mint a random SOPInstanceUID and break
    # reproducibility; ours is already set.
    ds.compress(RLELossless, small, generate_instance_uid=False)
    return ds


def write_sample(source: Path, out: Path) -> list[Path]:
    slices = read_series(source)
    kept = slices[::SLICE_STEP]
    # Measured from the positions rather than SpacingBetweenSlices x 2, which
    # would silently inherit a wrong or missing source value.
    gap = np.array(kept[1].ImagePositionPatient, dtype=float) - np.array(kept[0].ImagePositionPatient, dtype=float)
    spacing = round(float(np.linalg.norm(gap)), 6)
    out.mkdir(parents=True, exist_ok=True)
    # Stale files from an older run would silently become part of the series.
    for old in out.glob("IM*.dcm"):
        old.unlink()
    paths = []
    for i, src in enumerate(kept, start=1):
        ds = derive(src, i, spacing)
        path = out / f"IM{i:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def verify(source: Path, out: Path) -> None:
    """Re-read the written sample and compare it with the source.

    The reference downsample uses float means and np.floor(x + 0.5) on the
    decoded source, a different route from block_mean_round's integer sums,
    so an error in either shows up as a mismatch.
    """
    src = read_series(source)[::SLICE_STEP]
    files = sorted(out.glob("IM*.dcm"))
    if len(files) != len(src):
        sys.exit(f"verify: {len(files)} files written, expected {len(src)}")
    uids = set()
    for path, s in zip(files, src):
        d = pydicom.dcmread(path)
        assert d.file_meta.TransferSyntaxUID == RLELossless, path
        assert d.file_meta.MediaStorageSOPInstanceUID == d.SOPInstanceUID, path
        assert not any(e.tag.is_private for e in d.iterall()), path
        for kw in ("BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation",
                   "RescaleSlope", "RescaleIntercept", "ImageOrientationPatient"):
            assert d[kw].value == s[kw].value, (path, kw)
        uids.add(d.SOPInstanceUID)

        ref = s.pixel_array.astype(np.float64)
        r, c = ref.shape
        ref = ref.reshape(r // BLOCK, BLOCK, c // BLOCK, BLOCK).mean(axis=(1, 3))
        ref = np.floor(ref + 0.5).astype(np.uint16)
        got = d.pixel_array
        if (d.Rows, d.Columns) != ref.shape or not np.array_equal(got, ref):
            sys.exit(f"verify: pixel mismatch in {path.name}")

        rs, cs = (float(v) for v in s.PixelSpacing)
        if np.abs(np.array(d.PixelSpacing, dtype=float) - [rs * BLOCK, cs * BLOCK]).max() > 1e-9:
            sys.exit(f"verify: PixelSpacing {d.PixelSpacing} in {path.name}")
        iop = np.array(s.ImageOrientationPatient, dtype=float)
        want = np.array(s.ImagePositionPatient, dtype=float) + 0.5 * cs * iop[:3] + 0.5 * rs * iop[3:]
        if np.abs(np.array(d.ImagePositionPatient, dtype=float) - want).max() > 1e-6:
            sys.exit(f"verify: IPP {d.ImagePositionPatient} != {want} in {path.name}")
    if len(uids) != len(files):
        sys.exit("verify: duplicate SOPInstanceUIDs")
    # The whole point of SpacingBetweenSlices=2 is that it matches the IPPs.
    ds_all = [pydicom.dcmread(p, stop_before_pixels=True) for p in files]
    z = np.array([[float(v) for v in d.ImagePositionPatient] for d in ds_all])
    gaps = np.linalg.norm(np.diff(z, axis=0), axis=1)
    declared = float(ds_all[0].SpacingBetweenSlices)
    if np.abs(gaps - declared).max() > 1e-3:
        sys.exit(f"verify: slice gaps {gaps.min()}..{gaps.max()} vs SpacingBetweenSlices {declared}")
    print(f"verify: {len(files)} files match the source")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="S2030 folder (default: %(default)s)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: %(default)s)")
    ap.add_argument("--verify-only", action="store_true", help="check an existing sample, write nothing")
    args = ap.parse_args()
    if not args.verify_only:
        paths = write_sample(args.source, args.out)
        total = sum(p.stat().st_size for p in paths)
        digest = hashlib.sha256(b"".join(p.read_bytes() for p in paths)).hexdigest()
        print(f"wrote {len(paths)} files, {total} bytes, sha256 of concatenation {digest}")
    verify(args.source, args.out)


if __name__ == "__main__":
    main()
