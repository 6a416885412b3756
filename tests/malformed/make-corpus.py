#!/usr/bin/env python3
"""Generate the malformed-DICOM corpus in tests/malformed/.

Each file starts from one small, valid CT-like dataset (16x16 unsigned 16-bit,
CT Image Storage, explicit VR little endian) written by pydicom, and then has
exactly one thing broken, mostly by patching bytes with struct, so the test
proves one importer guard per file. expected.json maps each file to the keyword
that the importer's skip reason must contain; README.md explains each case.

Output is deterministic (fixed UIDs, fixed pseudo-random bytes): rerunning
rewrites identical files, so a diff in git means the generator changed.

Usage: .venv-test/bin/python tests/malformed/make-corpus.py [--out DIR]
(the venv is made by `python3 -m venv .venv-test && .venv-test/bin/pip install
-r tests/py/requirements.txt`, or by packaging/make-sample.sh).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import struct
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.tag import Tag
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    CTImageStorage,
    ExplicitVRLittleEndian,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLSLossless,
    RLELossless,
    generate_uid,
)

HERE = Path(__file__).resolve().parent
PREAMBLE_AND_MAGIC = 132  # 128-byte preamble + b"DICM"
HUGE = 0xFFFFFFF0  # ~4 GiB, even (odd lengths are illegal) and not 0xFFFFFFFF (undefined length)
NEST_DEPTH = 5000  # deep enough to overflow a 2 MiB thread stack with naive recursion
# VRs whose explicit-VR header has 2 reserved bytes and a 32-bit length.
LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}

TAG_PIXEL_DATA = Tag(0x7FE0, 0x0010)
TAG_ROWS = Tag(0x0028, 0x0010)
TAG_COLUMNS = Tag(0x0028, 0x0011)
TAG_IPP = Tag(0x0020, 0x0032)
TAG_IOP = Tag(0x0020, 0x0037)
TAG_PRIVATE_OB = Tag(0x0009, 0x1001)
TAG_REF_IMAGE_SEQ = Tag(0x0008, 0x1140)


# --------------------------------------------------------------------------- base


def uid(name: str) -> str:
    """Stable UIDs: the corpus must not change from run to run."""
    return generate_uid(entropy_srcs=["hounsfield-malformed-corpus", name])


def filler(n: int, seed: str) -> bytes:
    """Deterministic pseudo-random bytes (no RNG state, same on every platform)."""
    out = b""
    counter = 0
    while len(out) < n:
        out += hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        counter += 1
    return out[:n]


def base_dataset(name: str, *, bits: int = 16) -> Dataset:
    """A minimal but complete CT slice that a correct importer would accept."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = uid(name + "/sop")
    ds.StudyDate = "20240101"
    ds.Modality = "CT"
    ds.Manufacturer = "Hounsfield malformed corpus"
    ds.PatientName = "MALFORMED^TEST"
    ds.PatientID = "MALFORMED"
    ds.SliceThickness = "1"
    ds.KVP = "120"
    ds.PatientPosition = "HFS"
    ds.StudyInstanceUID = uid("study")
    ds.SeriesInstanceUID = uid(name + "/series")
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.ImagePositionPatient = ["-8", "-8", "0"]
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.FrameOfReferenceUID = uid("frame")
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = 16
    ds.Columns = 16
    ds.PixelSpacing = ["1", "1"]
    ds.BitsAllocated = bits
    ds.BitsStored = 12 if bits == 16 else 8
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 0
    ds.RescaleIntercept = "-1024"
    ds.RescaleSlope = "1"
    if bits == 16:
        # A ramp 0..4080 in steps of 16: recognisable in a hex dump.
        ds.PixelData = b"".join(struct.pack("<H", 16 * i) for i in range(256))
    else:
        ds.PixelData = bytes(range(256))
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = "HOUNSFIELD TEST"
    ds.file_meta = meta
    ds.preamble = b"\x00" * 128
    return ds


def encapsulated(ds: Dataset, syntax: str, fragment: bytes) -> Dataset:
    """Switch ds to a compressed transfer syntax carrying one given fragment."""
    ds.file_meta.TransferSyntaxUID = syntax
    ds.PixelData = encapsulate([fragment])
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    return ds


def to_bytes(ds: Dataset) -> bytes:
    buf = io.BytesIO()
    pydicom.dcmwrite(buf, ds, enforce_file_format=True)
    return buf.getvalue()


# ------------------------------------------------------------- byte-level edits


def find(buf: bytes, tag: int) -> tuple[int, int, int]:
    """Locate a top-level element in an explicit VR LE file.

    Returns (start of element, length of its header, value length). Walking the
    elements (rather than searching for the tag bytes) avoids false hits inside
    UIDs or pixel values. Nothing in the base datasets has undefined length
    before the element we look for, so the walk needs no sequence parsing.
    """
    pos = PREAMBLE_AND_MAGIC
    while pos + 8 <= len(buf):
        group, elem = struct.unpack_from("<HH", buf, pos)
        vr = buf[pos + 4 : pos + 6]
        if vr in LONG_VRS:
            (length,) = struct.unpack_from("<I", buf, pos + 8)
            header = 12
        else:
            (length,) = struct.unpack_from("<H", buf, pos + 6)
            header = 8
        if (group << 16 | elem) == tag:
            return pos, header, length
        if length == 0xFFFFFFFF:
            raise ValueError(f"undefined length before {Tag(tag)}")
        pos += header + length
    raise KeyError(f"{Tag(tag)} not found")


def set_length(buf: bytes, tag: int, new_length: int) -> bytes:
    pos, header, _ = find(buf, tag)
    fmt, at = ("<I", pos + 8) if header == 12 else ("<H", pos + 6)
    out = bytearray(buf)
    struct.pack_into(fmt, out, at, new_length)
    return bytes(out)


def set_us(buf: bytes, tag: int, value: int) -> bytes:
    pos, header, length = find(buf, tag)
    assert length == 2, "expected a single US value"
    out = bytearray(buf)
    struct.pack_into("<H", out, pos + header, value)
    return bytes(out)


def remove(buf: bytes, tag: int) -> bytes:
    pos, header, length = find(buf, tag)
    return buf[:pos] + buf[pos + header + length :]


def insert_before(buf: bytes, tag: int, raw: bytes) -> bytes:
    """Splice raw element bytes in at the position that keeps tags ascending."""
    pos = PREAMBLE_AND_MAGIC
    while pos + 8 <= len(buf):
        group, elem = struct.unpack_from("<HH", buf, pos)
        if group != 0x0002 and (group << 16 | elem) > tag:
            return buf[:pos] + raw + buf[pos:]
        _, header, length = find(buf, group << 16 | elem)
        pos += header + length
    return buf + raw


# ---------------------------------------------------------------------- cases
# Each case returns the file's bytes. The docstring's first line is the
# "what is broken" text; README.md repeats it.


def case_not_dicom() -> bytes:
    """A plain text file: no preamble, no DICM magic, not DICOM at all."""
    return (
        b"This is a plain text file that happens to sit in a DICOM folder.\n"
        b"Hounsfield must skip it with a reason, not fail the whole import.\n"
    )


def case_empty() -> bytes:
    """A zero-byte file."""
    return b""


def case_preamble_only() -> bytes:
    """128-byte preamble and b'DICM', then end of file: no meta header, no data set."""
    return b"\x00" * 128 + b"DICM"


def case_truncated_pixel_data() -> bytes:
    """Valid file cut off half way through the 512-byte pixel data."""
    buf = to_bytes(base_dataset("truncated-pixel-data"))
    pos, header, length = find(buf, TAG_PIXEL_DATA)
    return buf[: pos + header + length // 2]


def case_private_element_4gb() -> bytes:
    """A private OB element before the pixel data declares 0xFFFFFFF0 bytes in a <1 KB file."""
    ds = base_dataset("private-element-4gb-length")
    block = ds.private_block(0x0009, "HOUNSFIELD TEST", create=True)
    block.add_new(0x01, "OB", b"\x00" * 8)
    return set_length(to_bytes(ds), TAG_PRIVATE_OB, HUGE)


def case_invalid_vr_long_length() -> bytes:
    """An element whose VR bytes are no VR (`S\\0`): read as UN, its 32-bit length is 1.6 GB."""
    # Found by fuzzing: the guard read it as a short element (2-byte length 10) while the
    # parser, like PS3.5 for an unknown VR, reads 2 reserved bytes and a 32-bit length.
    raw = struct.pack("<HH", 0x0008, 0x4305) + b"S\0" + b"\x0a\x00" + struct.pack("<I", 0x5F4F0000) + b"\x00" * 6
    return insert_before(to_bytes(base_dataset("invalid-vr-long-length")), 0x00084305, raw)


def case_stray_item_delimiter() -> bytes:
    """A top-level Item Delimitation Item, then an OB element declaring 3.7 GB."""
    # Found by fuzzing: the guard took the delimiter for the end of the data set and stopped
    # checking, while the parser read on and allocated the declared length.
    raw = struct.pack("<HHI", 0xFFFE, 0xE00D, 0)
    raw += struct.pack("<HH", 0x0009, 0x1010) + b"OB\0\0" + struct.pack("<I", 0xE0DE0000) + b"\0" * 8
    return insert_before(to_bytes(base_dataset("stray-item-delimiter")), 0x00091010, raw)


def case_pixel_data_4gb() -> bytes:
    """Pixel Data declares 0xFFFFFFF0 bytes (about 4 GiB) but the file holds 512."""
    return set_length(to_bytes(base_dataset("pixel-data-4gb-length")), TAG_PIXEL_DATA, HUGE)


def case_nested_sequences() -> bytes:
    """ReferencedImageSequence nested 5000 deep, all undefined lengths, properly closed."""
    seq_open = struct.pack("<HH2sHI", 0x0008, 0x1140, b"SQ", 0, 0xFFFFFFFF)
    item_open = struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF)
    item_close = struct.pack("<HHI", 0xFFFE, 0xE00D, 0)
    seq_close = struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
    # Closed correctly so that depth is the only fault: a parser that gives up
    # here must be doing so because of its nesting cap, not because of EOF.
    raw = (seq_open + item_open) * NEST_DEPTH + (item_close + seq_close) * NEST_DEPTH
    buf = to_bytes(base_dataset("nested-sequences-5000"))
    return insert_before(buf, TAG_REF_IMAGE_SEQ, raw)


def case_frame_size_mismatch() -> bytes:
    """Rows and Columns say 4096x4096 (32 MiB of pixels); Pixel Data holds 512 bytes."""
    buf = to_bytes(base_dataset("frame-size-mismatch"))
    return set_us(set_us(buf, TAG_ROWS, 4096), TAG_COLUMNS, 4096)


def case_rle_bad_offsets() -> bytes:
    """RLE Lossless fragment whose RLE header points its second segment far past the fragment."""
    header = struct.pack("<16I", 2, 64, 0x7FFFFFF0, *([0] * 13))
    fragment = header + filler(64, "rle")
    return to_bytes(encapsulated(base_dataset("rle-bad-offsets"), RLELossless, fragment))


def case_rle_segment_count_huge() -> bytes:
    """RLE Lossless fragment whose header declares 0x7FFFFFFF segments (at most 15 exist)."""
    # Found by fuzzing: the RLE decoder sized a table of 8 GB from this count.
    header = struct.pack("<16I", 0x7FFFFFFF, 64, *([0] * 14))
    fragment = header + filler(64, "rle-count")
    return to_bytes(encapsulated(base_dataset("rle-segment-count-huge"), RLELossless, fragment))


def case_jpeg_baseline_garbage() -> bytes:
    """JPEG Baseline (8-bit image) whose fragment is SOI followed by marker-free garbage."""
    # No 0xFF bytes after SOI: a decoder finds no SOF/SOS marker at all and
    # must fail, instead of stumbling on a random marker and maybe "succeeding".
    junk = bytes(b if b != 0xFF else 0x00 for b in filler(254, "jpeg"))
    fragment = b"\xff\xd8" + junk
    ds = base_dataset("jpeg-baseline-garbage", bits=8)
    return to_bytes(encapsulated(ds, JPEGBaseline8Bit, fragment))


def case_jpeg_ls_garbage() -> bytes:
    """JPEG-LS Lossless (1.2.840.10008.1.2.4.80) whose fragment is SOI + SOF55 then filler."""
    # Looks like JPEG-LS at a glance; the CharLS decoder must fail cleanly on it.
    fragment = b"\xff\xd8\xff\xf7" + filler(124, "jpeg-ls")
    return to_bytes(encapsulated(base_dataset("jpeg-ls-garbage"), JPEGLSLossless, fragment))


def case_jpeg_extended_12bit() -> bytes:
    """JPEG Extended (1.2.840.10008.1.2.4.51) with 16-bit allocated (12-bit) samples, which no
    built-in JPEG decoder reads: refused on the transfer syntax and the sample size, by name."""
    fragment = b"\xff\xd8\xff\xc1" + filler(124, "jpeg-extended")
    return to_bytes(encapsulated(base_dataset("jpeg-extended-12bit"), JPEGExtended12Bit, fragment))


def case_no_pixel_data() -> bytes:
    """A complete CT image header with the Pixel Data element removed."""
    return remove(to_bytes(base_dataset("no-pixel-data")), TAG_PIXEL_DATA)


def case_missing_geometry() -> bytes:
    """Pixel Data present, but ImagePositionPatient and ImageOrientationPatient removed."""
    buf = to_bytes(base_dataset("missing-geometry"))
    return remove(remove(buf, TAG_IPP), TAG_IOP)


def case_rows_zero() -> bytes:
    """BitsAllocated 16 with Rows = 0 (Columns 16, 512 bytes of Pixel Data)."""
    return set_us(to_bytes(base_dataset("rows-zero")), TAG_ROWS, 0)


# file name -> (builder, expected skip-reason keyword, guard it proves)
CASES = {
    "not-dicom.txt": (case_not_dicom, "not dicom", "file-type sniffing rejects non-DICOM files"),
    "empty.dcm": (case_empty, "empty", "zero-length files are reported, not read"),
    "preamble-only.dcm": (case_preamble_only, "truncated", "EOF right after the magic is caught while reading the meta header"),
    "truncated-pixel-data.dcm": (case_truncated_pixel_data, "truncated", "short reads inside a value are errors, not zero-filled"),
    "private-element-4gb-length.dcm": (case_private_element_4gb, "declared length", "element lengths are checked against the bytes left before allocating"),
    "invalid-vr-long-length.dcm": (case_invalid_vr_long_length, "declared length", "headers are read exactly as the parser reads them, unknown VRs included"),
    "stray-item-delimiter.dcm": (case_stray_item_delimiter, "unexpected (fffe,e00d)", "the guard checks every element the parser will read"),
    "pixel-data-4gb-length.dcm": (case_pixel_data_4gb, "declared length", "no 4 GiB allocation driven by an untrusted pixel length"),
    "nested-sequences-5000.dcm": (case_nested_sequences, "nesting", "sequence depth is capped (no stack overflow from recursion)"),
    "frame-size-mismatch.dcm": (case_frame_size_mismatch, "frame size", "Rows x Columns x bytes per pixel must match the pixel data"),
    "rle-bad-offsets.dcm": (case_rle_bad_offsets, "damaged", "RLE segment offsets are bounds-checked"),
    "rle-segment-count-huge.dcm": (case_rle_segment_count_huge, "segments", "RLE headers are checked before the decoder sizes anything from them"),
    "jpeg-baseline-garbage.dcm": (case_jpeg_baseline_garbage, "damaged", "a JPEG decode error skips the file instead of panicking"),
    "jpeg-ls-garbage.dcm": (case_jpeg_ls_garbage, "damaged", "a JPEG-LS decode error skips the file instead of panicking"),
    "jpeg-extended-12bit.dcm": (case_jpeg_extended_12bit, "12-bit", "unsupported codecs are named and skipped"),
    "no-pixel-data.dcm": (case_no_pixel_data, "no pixel data", "header-only objects are not stacked into a volume"),
    "missing-geometry.dcm": (case_missing_geometry, "geometry", "slices without position/orientation are not guessed into place"),
    "rows-zero.dcm": (case_rows_zero, "frame size", "zero image dimensions are rejected (no divide by zero or empty volume)"),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=HERE, help="output folder (default: %(default)s)")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    expected = {}
    for name, (build, keyword, _guard) in CASES.items():
        data = build()
        (args.out / name).write_bytes(data)
        expected[name] = keyword
        print(f"{len(data):>8}  {name}")
    (args.out / "expected.json").write_text(json.dumps(expected, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
