"""Independent check of a case's report.json against the files themselves: the
acquisition record against the DICOM tags read with pydicom, the exported mask's grid
against nibabel, the exported STL against trimesh (watertight, volume), and the 3MF's
metadata against its XML.

usage: check_report.py CASE.hfcase DICOM_FILE
Prints one JSON line; exit 0 when everything agrees, 1 otherwise.
"""
import json
import sys
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import trimesh


def main() -> int:
    case, dicom_file = Path(sys.argv[1]), Path(sys.argv[2])
    report = json.loads((case / "report.json").read_text())
    ds = pydicom.dcmread(dicom_file, stop_before_pixels=True)
    problems = []
    proto = report["acquisition"]["protocol"]
    if float(ds.KVP) != proto["kvp"]:
        problems.append(f"kVp {proto['kvp']} != DICOM {ds.KVP}")
    kernel = ds.get("ConvolutionKernel")
    kernels = list(kernel) if isinstance(kernel, pydicom.multival.MultiValue) else [str(kernel)]
    if [str(k) for k in kernels] != proto["reconstruction_kernel"]:
        problems.append(f"kernel {proto['reconstruction_kernel']} != DICOM {kernels}")
    if str(ds.Manufacturer) != proto["manufacturer"]:
        problems.append(f"manufacturer {proto['manufacturer']} != DICOM {ds.Manufacturer}")
    if str(ds.SeriesInstanceUID) != report["acquisition"]["series_uid"]:
        problems.append("series UID differs")
    if str(ds.PatientPosition) != proto["patient_position"]:
        problems.append("patient position differs")
    identifying = {str(ds.get(k, "")) for k in ("PatientName", "PatientID", "PatientBirthDate")} - {""}

    def strings(v):
        if isinstance(v, dict):
            for x in v.values():
                yield from strings(x)
        elif isinstance(v, list):
            for x in v:
                yield from strings(x)
        elif isinstance(v, str):
            yield v

    leaked = sorted(identifying & set(strings(report)))
    if leaked or "patient" in report:
        problems.append(f"patient data in report.json: {leaked}")
    exports = {e["record"]["path"]: e["record"] for e in report["exports"]}
    out = {"exports": sorted(exports)}
    for path, rec in exports.items():
        f = case / path
        if rec["spec"]["format"] == "nifti":
            img = nib.load(f)
            dims = report["acquisition"]["dims"]
            if img.shape != (dims[2], dims[1], dims[0]):
                problems.append(f"{path}: shape {img.shape} != grid {dims}")
            data = np.asanyarray(img.dataobj)
            voxels = int((data > 0).sum())
            label = rec["spec"]["labels"][0]
            want = next(l["voxels"] for l in report["segmentation"]["labels"] if l["name"] == label)
            if voxels != want:
                problems.append(f"{path}: {voxels} voxels, report says {want}")
            out["mask_voxels"] = voxels
        elif rec["spec"]["format"] == "stl":
            m = trimesh.load(f, force="mesh")
            if not m.is_watertight:
                problems.append(f"{path}: not watertight for trimesh")
            vol = report["mesh_qc"]["certificates"][rec["spec"]["labels"][0]]["volume_mm3"]
            if abs(m.volume - vol) > 1e-3 * abs(vol):
                problems.append(f"{path}: trimesh volume {m.volume:.1f} != report {vol:.1f}")
            out["stl_triangles"] = len(m.faces)
            out["stl_volume_mm3"] = float(m.volume)
        elif rec["spec"]["format"] == "3mf":
            xml = zipfile.ZipFile(f).read("3D/3dmodel.model").decode()
            for needle in [report["identification"]["pseudonym"], report["acquisition"]["series_uid"], rec["segmentation_hash"]]:
                if needle not in xml:
                    problems.append(f"{path}: metadata lacks {needle}")
            if "CreationDate" in xml:
                problems.append(f"{path}: carries a clock date")
    out["ok"] = not problems
    out["problems"] = problems
    print(json.dumps(out))
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
