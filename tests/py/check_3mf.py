#!/usr/bin/env python3
"""Checks a 3MF file with lib3mf's reader (pip install lib3mf).

Usage:
    check_3mf.py FILE.3mf V:T [V:T ...] [--meta KEY=VALUE ...] [--manifold]

One V:T pair per expected object, in file order: its vertex and triangle counts.
--meta KEY=VALUE  requires a metadata entry; KEY is a plain name (e.g. Title) or
                  prefixed hf:Name for the Hounsfield namespace.
--manifold        also requires every mesh to be manifold and consistently oriented.

Fails (exit 1) when lib3mf cannot read the file, reports any warning, the unit is not
millimetres, the object or build-item counts or any mesh's counts differ, or a required
metadata entry is missing or different. Exit 2 on bad usage. Prints a summary.
"""

import argparse
import sys

import lib3mf

HF_NAMESPACE = "https://hounsfield.example/3mf"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("file")
    ap.add_argument("counts", nargs="*", help="V:T per object")
    ap.add_argument("--meta", action="append", default=[], help="KEY=VALUE")
    ap.add_argument("--manifold", action="store_true")
    args = ap.parse_args()
    try:
        expected = [tuple(int(x) for x in c.split(":")) for c in args.counts]
        if any(len(e) != 2 for e in expected):
            raise ValueError
    except ValueError:
        print(f"bad counts {args.counts!r}: want V:T pairs", file=sys.stderr)
        return 2

    problems = []
    wrapper = lib3mf.get_wrapper()
    major, minor, micro = wrapper.GetLibraryVersion()
    model = wrapper.CreateModel()
    reader = model.QueryReader("3mf")
    reader.SetStrictModeActive(False)
    try:
        reader.ReadFromFile(args.file)
    except lib3mf.ELib3MFException as e:
        print(f"FAIL: lib3mf {major}.{minor}.{micro} cannot read {args.file}: {e}")
        return 1
    warnings = reader.GetWarningCount()
    for i in range(warnings):
        code, text = reader.GetWarning(i)
        problems.append(f"reader warning {code}: {text}")

    unit = model.GetUnit()
    if unit != lib3mf.ModelUnit.MilliMeter:
        problems.append(f"unit is {unit}, expected millimetres")

    meshes = []
    it = model.GetMeshObjects()
    while it.MoveNext():
        meshes.append(it.GetCurrentMeshObject())
    if len(meshes) != len(expected):
        problems.append(f"{len(meshes)} mesh objects, expected {len(expected)}")
    for k, (mesh, (v, t)) in enumerate(zip(meshes, expected)):
        nv, nt = mesh.GetVertexCount(), mesh.GetTriangleCount()
        print(f"object {k} {mesh.GetName()!r}: {nv} vertices, {nt} triangles")
        if (nv, nt) != (v, t):
            problems.append(f"object {k}: {nv} vertices / {nt} triangles, expected {v} / {t}")
        if args.manifold and not mesh.IsManifoldAndOriented():
            problems.append(f"object {k}: not manifold and consistently oriented")

    items = 0
    bi = model.GetBuildItems()
    while bi.MoveNext():
        items += 1
    if items != len(expected):
        problems.append(f"{items} build items, expected {len(expected)}")

    group = model.GetMetaDataGroup()
    meta = {}
    for i in range(group.GetMetaDataCount()):
        md = group.GetMetaData(i)
        ns, name, value = md.GetNameSpace(), md.GetName(), md.GetValue()
        key = name if not ns else ("hf:" + name if ns == HF_NAMESPACE else f"{{{ns}}}{name}")
        meta[key] = value
        print(f"metadata {key} = {value!r}")
    for kv in args.meta:
        key, _, value = kv.partition("=")
        if meta.get(key) != value:
            problems.append(f"metadata {key}: {meta.get(key)!r}, expected {value!r}")

    print(f"lib3mf {major}.{minor}.{micro}: {args.file}: unit {unit}, language {model.GetLanguage()!r}, "
          f"{len(meshes)} objects, {items} build items, {warnings} warnings")
    for p in problems:
        print(f"FAIL: {p}")
    if not problems:
        print("OK")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
