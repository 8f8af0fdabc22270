#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
#
# gen_tables.py - generate hal/src/sunspec_tables.c from the SunSpec JSON
# model definitions in hal/sunspec/json (Python 3 standard library only).
#
#   hal/sunspec/gen_tables.py            write hal/src/sunspec_tables.c
#   hal/sunspec/gen_tables.py --check    exit 1 if the committed file differs
#   hal/sunspec/gen_tables.py --stdout   print the generated C
#
# Each model becomes a table of points (name, label, units, offset from the
# model's ID register, size, type, flags, scale factor) in the structs of
# hal/include/gridlet/hal_sunspec.h. Offsets are computed here, once, from
# the point sizes; a mistake in a size would shift every later point, so the
# generator checks each model's total against the schema's rules and fails
# loudly on anything it does not understand.
#
# Models 112 and 212 are not in the data snapshot we copied; SunSpec defines
# the float inverter models 111/112/113 (and the float meter models
# 211/212/213) with one identical point list that differs only in the model
# ID and the phases the device actually uses. We derive 112 from 111 and 212
# from 211 and say so in the generated comments (see hal/sunspec/README.md).
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
JSON_DIR = os.path.join(HERE, "json")
OUT = os.path.join(HERE, "..", "src", "sunspec_tables.c")

MODELS = [1, 101, 102, 103, 111, 112, 113, 124, 160,
          201, 202, 203, 204, 211, 212, 213, 701, 802]
# id -> (source id, name, label) for models derived from a sibling.
DERIVED = {
    112: (111, "inverter_split_phase_float", "Inverter (Split Phase) FLOAT"),
    212: (211, "ac_meter_abn_float", "split single phase (ABN) meter FLOAT"),
}

TYPES = {
    "int16": ("HAL_SS_INT16", 1), "uint16": ("HAL_SS_UINT16", 1),
    "int32": ("HAL_SS_INT32", 2), "uint32": ("HAL_SS_UINT32", 2),
    "int64": ("HAL_SS_INT64", 4), "uint64": ("HAL_SS_UINT64", 4),
    "acc16": ("HAL_SS_ACC16", 1), "acc32": ("HAL_SS_ACC32", 2),
    "acc64": ("HAL_SS_ACC64", 4), "bitfield16": ("HAL_SS_BITFIELD16", 1),
    "bitfield32": ("HAL_SS_BITFIELD32", 2),
    "bitfield64": ("HAL_SS_BITFIELD64", 4), "enum16": ("HAL_SS_ENUM16", 1),
    "enum32": ("HAL_SS_ENUM32", 2), "float32": ("HAL_SS_FLOAT32", 2),
    "float64": ("HAL_SS_FLOAT64", 4), "string": ("HAL_SS_STRING", None),
    "pad": ("HAL_SS_PAD", 1), "sunssf": ("HAL_SS_SUNSSF", 1),
    "count": ("HAL_SS_COUNT", 1), "raw16": ("HAL_SS_RAW16", 1),
    "ipaddr": ("HAL_SS_IPADDR", 2), "ipv6addr": ("HAL_SS_IPV6ADDR", 8),
    "eui48": ("HAL_SS_EUI48", 4),
}


class GenError(Exception):
    pass


def c_str(s):
    s = (s or "").replace("\\", "\\\\").replace('"', '\\"')
    s = s.replace("\n", " ").replace("\r", " ")
    return '"' + "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in s) + '"'


def load(mid):
    src = DERIVED.get(mid, (mid, None, None))[0]
    path = os.path.join(JSON_DIR, "model_%d.json" % src)
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    if doc.get("id") != src:
        raise GenError("%s: id %r, expected %d" % (path, doc.get("id"), src))
    return doc


def layout(points, where):
    """Offsets of a point list; returns [(point, offset)] and total size."""
    out, off = [], 0
    for p in points:
        t = p.get("type")
        if t not in TYPES:
            raise GenError("%s: point %s: unknown type %r" %
                           (where, p.get("name"), t))
        size = p.get("size")
        want = TYPES[t][1]
        if not isinstance(size, int) or size < 1:
            raise GenError("%s: point %s: bad size %r" % (where, p["name"], size))
        if want is not None and size != want:
            raise GenError("%s: point %s: %s must have size %d, not %d" %
                           (where, p["name"], t, want, size))
        out.append((p, off))
        off += size
    return out, off


def sf_of(p, names, where):
    """(flags, sf_index, sf_fixed) for a point's scale factor."""
    sf = p.get("sf")
    if sf is None:
        return [], -1, 0
    if isinstance(sf, int):
        if not -10 <= sf <= 10:
            raise GenError("%s: point %s: sf %d out of range" % (where, p["name"], sf))
        return ["HAL_SS_SF_FIXED"], -1, sf
    if sf not in names:
        raise GenError("%s: point %s: scale factor %s not in the fixed block" %
                       (where, p["name"], sf))
    return ["HAL_SS_SF_POINT"], names[sf], 0


def point_row(p, off, names, where):
    flags = []
    if p.get("mandatory") == "M":
        flags.append("HAL_SS_MANDATORY")
    if p.get("access") == "RW":
        flags.append("HAL_SS_WRITABLE")
    sflags, sf_index, sf_fixed = sf_of(p, names, where)
    flags += sflags
    return "    {%s, %s, %s, %d, %d, %s, %s, %d, %d}," % (
        c_str(p["name"]), c_str(p.get("label", "")), c_str(p.get("units", "")),
        off, p["size"], TYPES[p["type"]][0],
        " | ".join(flags) if flags else "0", sf_index, sf_fixed)


def gen_model(mid):
    doc = load(mid)
    g = doc["group"]
    where = "model %d" % mid
    name, label = g.get("name", ""), g.get("label", "")
    derived = mid in DERIVED
    if derived:
        name, label = DERIVED[mid][1], DERIVED[mid][2]
    pts, total = layout(g.get("points", []), where)
    if len(pts) < 2 or pts[0][0]["name"] != "ID" or pts[1][0]["name"] != "L":
        raise GenError("%s: the first points must be ID and L" % where)
    names = {p["name"]: i for i, (p, _) in enumerate(pts)}
    for p, _ in pts:
        if p["type"] == "sunssf" and p.get("sf") is not None:
            raise GenError("%s: scale factor %s has a scale factor" % (where, p["name"]))
    groups = g.get("groups", [])
    if len(groups) > 1:
        raise GenError("%s: more than one repeating group" % where)
    lines = []
    cname = "m%d" % mid
    if derived:
        lines.append("/* Model %d: the point list of model %d (identical by "
                     "definition), see gen_tables.py. */" % (mid, DERIVED[mid][0]))
    lines.append("static const hal_ss_point %s_points[] = {" % cname)
    for p, off in pts:
        lines.append(point_row(p, off, names, where))
    lines.append("};")
    grp = "NULL, NULL, 0, 0"
    if groups:
        sub = groups[0]
        if sub.get("type") != "group" or sub.get("groups"):
            raise GenError("%s: unsupported group %s" % (where, sub.get("name")))
        gpts, glen = layout(sub.get("points", []), where + "/" + sub["name"])
        lines.append("static const hal_ss_point %s_group[] = {" % cname)
        for p, off in gpts:
            lines.append(point_row(p, off, names, where + "/" + sub["name"]))
        lines.append("};")
        grp = "%s, %s_group, %d, %d" % (c_str(sub["name"]), cname, len(gpts), glen)
    row = "    {%d, %s, %s, %d, %s_points, %d, %s}," % (
        mid, c_str(name), c_str(label), total - 2, cname, len(pts), grp)
    return "\n".join(lines), row


def generate():
    bodies, rows = [], []
    for mid in sorted(MODELS):
        body, row = gen_model(mid)
        bodies.append(body)
        rows.append(row)
    head = [
        "/* SPDX-License-Identifier: MIT */",
        "/*",
        " * sunspec_tables.c - SunSpec point tables. GENERATED by",
        " * hal/sunspec/gen_tables.py from hal/sunspec/json (SunSpec models,",
        " * Apache-2.0, see hal/sunspec/README.md). Do not edit: change the",
        " * generator and run it again; test_hal_sunspec_tables_current checks",
        " * that this file matches its output.",
        " */",
        "/* clang-format off */",
        '#include "hal_internal.h"',
        "",
        '#include "gridlet/hal_sunspec.h"',
        "",
    ]
    tail = [
        "",
        "/* Sorted by model ID: hal_ss_model_find() searches it by bisection. */",
        "const hal_ss_model hal__ss_models[] = {",
    ] + rows + [
        "};",
        "const size_t hal__ss_n_models = sizeof hal__ss_models / sizeof hal__ss_models[0];",
        "",
    ]
    return "\n".join(head) + "\n" + "\n\n".join(bodies) + "\n" + "\n".join(tail)


def main(argv):
    try:
        text = generate()
    except (GenError, OSError, ValueError, KeyError) as e:
        print("gen_tables: %s" % e, file=sys.stderr)
        return 2
    if "--stdout" in argv:
        sys.stdout.write(text)
        return 0
    if "--check" in argv:
        try:
            with open(OUT, encoding="utf-8") as f:
                cur = f.read()
        except OSError as e:
            print("gen_tables: %s" % e, file=sys.stderr)
            return 1
        if cur != text:
            print("gen_tables: %s is out of date; run hal/sunspec/gen_tables.py"
                  % os.path.normpath(OUT), file=sys.stderr)
            return 1
        print("gen_tables: %s is current" % os.path.normpath(OUT))
        return 0
    with open(OUT, "w", encoding="utf-8") as f:
        f.write(text)
    print("gen_tables: wrote %s" % os.path.normpath(OUT))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
