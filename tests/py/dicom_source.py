"""Shared by the DICOM export checkers: the source series' headers by SOP Instance UID, and
dciodvfy's errors and warnings for a file."""
import glob
import os
import subprocess

import pydicom


def read_source(src_dir):
    """Every DICOM file under `src_dir` (headers only), by SOP Instance UID."""
    source = {}
    for p in glob.glob(os.path.join(src_dir, "**", "*"), recursive=True):
        if os.path.isfile(p):
            try:
                d = pydicom.dcmread(p, stop_before_pixels=True)
                source[d.SOPInstanceUID] = d
            except Exception:
                pass
    return source


def dciodvfy(path):
    """dicom3tools' IOD check of `path`: (error lines, number of warnings)."""
    out = subprocess.run(["dciodvfy", path], capture_output=True, text=True)
    lines = (out.stdout + out.stderr).splitlines()
    return [l for l in lines if l.startswith("Error")], sum(1 for l in lines if l.startswith("Warning"))
