"""Independent check of a surface model with trimesh: watertight and winding-consistent.

usage: check_mesh.py MODEL.{stl,3mf,obj}
Prints one JSON line; exit 0 when watertight and winding-consistent, 1 otherwise.
"""
import json
import sys

import trimesh


def main() -> int:
    # STL stores each triangle's corners separately: merge identical positions (trimesh's
    # default processing) before judging connectivity.
    m = trimesh.load(sys.argv[1], force="mesh", process=True)
    out = {
        "faces": int(len(m.faces)),
        "vertices": int(len(m.vertices)),
        "is_watertight": bool(m.is_watertight),
        "is_winding_consistent": bool(m.is_winding_consistent),
        "volume_mm3": float(m.volume),
    }
    print(json.dumps(out))
    return 0 if out["is_watertight"] and out["is_winding_consistent"] else 1


if __name__ == "__main__":
    sys.exit(main())
