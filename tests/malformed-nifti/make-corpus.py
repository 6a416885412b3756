#!/usr/bin/env python3
"""Writes the hostile NIfTI-1 corpus beside this script (standard library only).

Every file starts from the same valid 8x6x4 int16 volume (1 mm voxels, sform = qform,
little endian, units mm) and has exactly one thing wrong, or (big-endian, metres) one
legal variation the reader must get right. `expected.json` maps each file to a keyword its
error must contain, or to "ok:" plus what must hold when it loads.
Run: python3 tests/malformed-nifti/make-corpus.py
"""
import gzip
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
DIMS = (8, 6, 4)


def header(endian="<", dims=DIMS, datatype=4, bitpix=16, ndim=3, pixdim=(1.0, 1.0, 1.0),
           vox_offset=352.0, units=2, sform=None, extra_dims=()):
    h = bytearray(348)
    e = endian
    struct.pack_into(e + "i", h, 0, 348)
    d = [ndim] + list(dims) + list(extra_dims)
    d += [1] * (8 - len(d))
    struct.pack_into(e + "8h", h, 40, *d)
    struct.pack_into(e + "h", h, 70, datatype)
    struct.pack_into(e + "h", h, 72, bitpix)
    struct.pack_into(e + "8f", h, 76, 1.0, *pixdim, 1.0, 1.0, 1.0, 1.0)
    struct.pack_into(e + "f", h, 108, vox_offset)
    struct.pack_into(e + "f", h, 112, 1.0)  # scl_slope
    struct.pack_into(e + "f", h, 116, 0.0)  # scl_inter
    h[123] = units
    struct.pack_into(e + "h", h, 252, 0)  # qform_code
    struct.pack_into(e + "h", h, 254, 1)  # sform_code
    s = sform or [[pixdim[0], 0, 0, -10.0], [0, pixdim[1], 0, -20.0], [0, 0, pixdim[2], 5.0]]
    for r, row in enumerate(s):
        struct.pack_into(e + "4f", h, 280 + 16 * r, *row)
    h[344:348] = b"n+1\0"
    return bytes(h)


def voxels(endian="<", n=DIMS[0] * DIMS[1] * DIMS[2]):
    return struct.pack(endian + "%dh" % n, *[(i * 7) % 300 - 100 for i in range(n)])


def write(name, data, gz=False):
    path = os.path.join(HERE, name)
    if gz:
        with gzip.GzipFile(path, "wb", compresslevel=9, mtime=0) as f:
            f.write(data)
    else:
        with open(path, "wb") as f:
            f.write(data)


EXT = b"\0\0\0\0"  # the extender: no extensions
expected = {}


def case(name, data, keyword, gz=False):
    write(name, data, gz)
    expected[name] = keyword


case("huge-dims.nii", header(dims=(32767, 32767, 32767)) + EXT + voxels(), "exceed")
case("negative-dims.nii", header(dims=(8, -6, 4)) + EXT + voxels(), "dimensions")
case("nan-pixdim.nii",
     header(pixdim=(1.0, float("nan"), 1.0), sform=[[float("nan"), 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]])
     + EXT + voxels(), "not finite")
case("nan-affine.nii",
     header(sform=[[1, 0, 0, float("nan")], [0, 1, 0, 0], [0, 0, 1, 0]]) + EXT + voxels(),
     "not finite")
full = header() + EXT + voxels()
case("truncated.nii.gz", gzip.compress(full, mtime=0)[:200], "truncated")
# 4096^3 uint8 declared (64 G voxels), followed by 8 MiB of zeros: refused at the header.
bomb = header(dims=(4096, 4096, 4096), datatype=2, bitpix=8) + EXT + bytes(8 << 20)
case("zip-bomb.nii.gz", bomb, "exceed", gz=True)
# 1024x1024x1500 int16 declared (3 GiB as HU, under the cap) with 768 bytes of voxels: found
# by fuzzing — the whole volume was allocated before a byte of it was read.
case("declares-3gib-holds-768-bytes.nii", header(dims=(1024, 1024, 1500)) + EXT + voxels(),
     "declares")
# The same inside gzip: memory may grow only with the data actually decompressed.
case("declares-3gib-holds-768-bytes.nii.gz", header(dims=(1024, 1024, 1500)) + EXT + voxels(),
     "truncated", gz=True)
case("vox-offset-beyond-file.nii", header(vox_offset=9.0e8) + EXT + voxels(), "ends before the voxel data")
case("vox-offset-inside-header.nii", header(vox_offset=100.0) + EXT + voxels(), "vox_offset")
case("unknown-datatype.nii", header(datatype=1536, bitpix=128) + EXT + voxels(), "datatype")
case("four-d.nii", header(ndim=4, extra_dims=(3,)) + EXT + voxels() * 3, "4d")
# An extension declaring 100 MB (and the voxels after it): the file ends long before.
case("extension-100mb.nii",
     header(vox_offset=1.0e8) + b"\1\0\0\0" + struct.pack("<ii", 100_000_000, 4) + voxels(),
     "ends before the voxel data")
# Legal variations: the same volume big-endian, and in metres (pixdim and sform in m).
case("big-endian.nii", header(endian=">") + EXT + voxels(">"), "ok: same as little-endian")
metres = header(pixdim=(0.001, 0.001, 0.001), units=1,
                sform=[[0.001, 0, 0, -0.010], [0, 0.001, 0, -0.020], [0, 0, 0.001, 0.005]])
case("metres.nii", metres + EXT + voxels(), "ok: 1 mm voxels")
case("micrometres.nii",
     header(pixdim=(1000.0, 1000.0, 1000.0), units=3,
            sform=[[1000.0, 0, 0, -10000.0], [0, 1000.0, 0, -20000.0], [0, 0, 1000.0, 5000.0]])
     + EXT + voxels(), "ok: 1 mm voxels")
write("valid.nii", full)

with open(os.path.join(HERE, "expected.json"), "w") as f:
    json.dump(expected, f, indent=2, sort_keys=True)
    f.write("\n")
