"""Independent check of a DICOM SEG written by `hounsfield export-dicom`: pydicom decodes
its frames, which must equal the mask exported by the same case as NIfTI (nibabel) voxel
for voxel; every frame's position is the source image's it names, every referenced image
exists in the source folder, patient and study match the source; and dicom3tools'
dciodvfy reports no error (when highdicom is installed, it decodes the SEG too and must
agree).

usage: check_seg.py SEG.dcm MASK.nii.gz SOURCE_DIR LABEL
Prints one JSON line; exit 0 when everything holds, 1 otherwise.
"""
import json
import sys

import nibabel as nib
import numpy as np
import pydicom
from dicom_source import dciodvfy, read_source


def main() -> int:
    seg_path, mask_path, src_dir, label = sys.argv[1:5]
    problems = []
    seg = pydicom.dcmread(seg_path)
    if seg.SOPClassUID != "1.2.840.10008.5.1.4.1.1.66.4":
        problems.append(f"SOP class {seg.SOPClassUID}")
    if seg.Modality != "SEG" or seg.SegmentationType != "BINARY":
        problems.append("not a binary SEG")
    names = [s.SegmentLabel for s in seg.SegmentSequence]
    if label not in names:
        problems.append(f"no segment {label}: {names}")
    number = names.index(label) + 1 if label in names else 1
    frames = seg.pixel_array.reshape(-1, seg.Rows, seg.Columns)
    pf = seg.PerFrameFunctionalGroupsSequence
    if len(pf) != int(seg.NumberOfFrames) or len(frames) != len(pf):
        problems.append("frame count")
    mine = [i for i, f in enumerate(pf)
            if f.SegmentIdentificationSequence[0].ReferencedSegmentNumber == number]
    ours = np.stack([frames[i] for i in mine]).astype(bool)
    # NIfTI data is (i, j, k) = (column, row, slice); the SEG's frames are (slice, row, column).
    nii = np.asarray(nib.load(mask_path).dataobj).astype(bool).transpose(2, 1, 0)
    if ours.shape != nii.shape:
        problems.append(f"shape {ours.shape} vs NIfTI {nii.shape}")
    elif not np.array_equal(ours, nii):
        problems.append(f"{int((ours != nii).sum())} voxels differ from the NIfTI mask")
    source = read_source(src_dir)
    any_src = next(iter(source.values()))
    for t in ("PatientID", "StudyInstanceUID", "FrameOfReferenceUID"):
        if str(getattr(seg, t, "")) != str(getattr(any_src, t, "")):
            problems.append(f"{t} differs from the source")
    referenced = 0
    for f in pf:
        ipp = [float(x) for x in f.PlanePositionSequence[0].ImagePositionPatient]
        if "DerivationImageSequence" in f:
            uid = f.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
            s = source.get(uid)
            if s is None:
                problems.append(f"frame refers to a missing image {uid}")
                continue
            referenced += 1
            if np.abs(np.array(ipp) - np.array([float(x) for x in s.ImagePositionPatient])).max() > 1e-3:
                problems.append("a frame's position is not its source image's")
    for r in seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence:
        if r.ReferencedSOPInstanceUID not in source:
            problems.append("the series reference names a missing image")
            break
    errors, warnings = dciodvfy(seg_path)
    problems += [f"dciodvfy: {e}" for e in errors]
    highdicom = "not installed"
    try:
        import highdicom as hd
        h = hd.seg.segread(seg_path)
        if h.number_of_segments != len(names):
            problems.append(f"highdicom: {h.number_of_segments} segments")
        highdicom = "read"
    except ImportError:
        pass
    except Exception as e:  # a reading failure is a finding
        problems.append(f"highdicom: {e}")
    print(json.dumps({"frames": len(pf), "voxels": int(ours.sum()), "referenced_frames": referenced,
                      "dciodvfy_errors": len(errors), "dciodvfy_warnings": warnings,
                      "highdicom": highdicom, "problems": problems}))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
