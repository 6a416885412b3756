"""Independent check of `hounsfield segment`: threshold lo..hi + largest 26-connected
component computed with numpy + scipy.ndimage on the same converted volume must give
exactly the voxels of Hounsfield's mask.

usage: check_segment.py VOLUME.nii.gz MASK.nii.gz LO HI
Prints one JSON line; exit 0 when identical, 1 otherwise.
"""
import json
import sys

import nibabel as nib
import numpy as np
from scipy import ndimage


def main() -> int:
    vol_path, mask_path, lo, hi = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    vol = nib.load(vol_path)
    mask = nib.load(mask_path)
    if not np.allclose(vol.affine, mask.affine, atol=1e-4) or vol.shape != mask.shape:
        print(json.dumps({"ok": False, "reason": "mask grid differs from the volume grid"}))
        return 1
    hu = np.asanyarray(vol.dataobj).astype(np.int32)
    ours = np.asanyarray(mask.dataobj) > 0
    thr = (hu >= lo) & (hu <= hi)
    labels, n = ndimage.label(thr, structure=np.ones((3, 3, 3), dtype=bool))
    counts = np.bincount(labels.ravel())
    counts[0] = 0
    largest = labels == int(np.argmax(counts))
    diff = int(np.count_nonzero(largest != ours))
    out = {
        "ok": diff == 0,
        "components": int(n),
        "reference_voxels": int(largest.sum()),
        "hounsfield_voxels": int(ours.sum()),
        "differing_voxels": diff,
    }
    print(json.dumps(out))
    return 0 if diff == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
