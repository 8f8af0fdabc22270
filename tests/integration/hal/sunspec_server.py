#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
#
# sunspec_server.py - an independent SunSpec device for hal's interop test.
#
# Builds a SunSpec register image straight from the SunSpec JSON model
# definitions (hal/sunspec/json) - its own layout and encoding, sharing no
# code with gridlet's generator or simulator - and serves it with pymodbus
# (Debian's python3-pymodbus) over Modbus TCP. Before serving it writes the
# values it encoded to a JSON file, so the C test can check that hal reads
# exactly those.
#
#   sunspec_server.py --port P --json-dir DIR --expect FILE
#
# The chain holds every model whose JSON is in DIR, each behind its own
# common model (one sub-device per model), model 160 with two modules, and
# the split-phase float models 112 and 212, which have no JSON here: SunSpec
# defines each float family (111/112/113, 211/212/213) with one point list,
# so this script derives them on its own - it checks that the two siblings
# it has agree point for point and uses that list under the missing ID -
# rather than trusting gridlet's generator, which derives them too. About
# one point in seven is set to its "not implemented" value instead of a
# number, to check the sentinels too.
import argparse
import copy
import hashlib
import json
import logging
import math
import os
import struct
import sys

BASE = 40000
CHAIN = [101, 102, 103, 111, 112, 113, 124, 160, 201, 202, 203, 204, 211,
         212, 213, 701, 802]
# Models without a JSON file: id -> the two siblings sharing its points.
FAMILY = {112: (111, 113), 212: (211, 213)}
NI = {
    "int16": 0x8000, "sunssf": 0x8000, "uint16": 0xFFFF, "enum16": 0xFFFF,
    "bitfield16": 0xFFFF, "acc16": 0, "int32": 0x80000000,
    "uint32": 0xFFFFFFFF, "enum32": 0xFFFFFFFF, "bitfield32": 0xFFFFFFFF,
    "acc32": 0, "int64": 0x8000000000000000, "uint64": 0xFFFFFFFFFFFFFFFF,
    "acc64": 0, "bitfield64": 0xFFFFFFFFFFFFFFFF,
}
SIGNED = {"int16", "int32", "int64", "sunssf"}


def h(*parts):
    d = hashlib.sha256("/".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(d[:8], "big")


def words(value, n):
    return [(value >> (16 * (n - 1 - i))) & 0xFFFF for i in range(n)]


def encode_point(p, key, expect, sf_values):
    """Registers for one point, and its expected value in `expect`."""
    t, size, name = p["type"], p["size"], p["name"]
    x = h(key, name)
    if t == "pad":
        return [0] * size
    if t == "string":
        text = ("py-" + name)[: 2 * size]
        raw = text.encode().ljust(2 * size, b"\0")
        expect[name] = {"kind": "string", "value": text}
        return [raw[2 * i] << 8 | raw[2 * i + 1] for i in range(size)]
    if t in ("float32", "float64"):
        if x % 7 == 0:
            expect[name] = {"kind": "ni"}
            nan = 0x7FC00000 if t == "float32" else 0x7FF8000000000000
            return words(nan, size)
        v = (x % 100000) / 8.0 - 5000.0
        fmt = ">f" if t == "float32" else ">d"
        expect[name] = {"kind": "float", "value": v}
        return words(int.from_bytes(struct.pack(fmt, v), "big"), size)
    if t == "sunssf":
        v = sf_values[name]
        expect[name] = {"kind": "int", "raw": v, "sf": None}
        return [v & 0xFFFF]
    if t not in NI and t not in ("count", "raw16", "ipaddr", "ipv6addr",
                                 "eui48"):
        raise SystemExit("unsupported type %s" % t)
    if t in ("ipv6addr", "eui48"):
        return [0] * size
    bits = 16 * size
    if t in NI and x % 7 == 0:
        expect[name] = {"kind": "ni"}
        return words(NI[t], size)
    if t in SIGNED:
        span = min(2 ** (bits - 1) - 2, 10 ** 12)
        v = (x % (2 * span + 1)) - span
    else:
        v = 1 + x % min(2 ** bits - 3, 10 ** 15)
    if t == "count":
        v = 2
    sf = p.get("sf")
    if isinstance(sf, str):
        sf = sf_values.get(sf)
    expect[name] = {"kind": "int", "raw": v, "sf": sf}
    return words(v & (2 ** bits - 1), size)


def model_block(doc, key, expect, repeats=2):
    g = doc["group"]
    pts = g["points"]
    sf_values = {p["name"]: (h(key, p["name"], "sf") % 7) - 3
                 for p in pts if p["type"] == "sunssf"}
    regs = []
    for p in pts:
        if p["name"] in ("ID", "L"):
            regs += [0]  # filled below
            continue
        regs += encode_point(p, key, expect["points"], sf_values)
    for k, sub in enumerate(g.get("groups", [])[:1] * repeats):
        gexp = {}
        for p in sub["points"]:
            regs += encode_point(p, "%s/%d" % (key, k), gexp, sf_values)
        expect.setdefault("groups", []).append(gexp)
    regs[0] = doc["id"]
    regs[1] = len(regs) - 2
    return regs


def shape(doc):
    """The layout of a model: names, types and sizes of every point."""
    def pts(g):
        return [(p["name"], p["type"], p["size"]) for p in g["points"]
                if p["name"] not in ("ID", "L")]
    g = doc["group"]
    return (pts(g), [pts(sub) for sub in g.get("groups", [])])


def load(json_dir, mid):
    path = os.path.join(json_dir, "model_%d.json" % mid)
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    if mid not in FAMILY:
        return None
    a, b = (load(json_dir, s) for s in FAMILY[mid])
    if a is None or b is None:
        return None
    if shape(a) != shape(b):
        raise SystemExit("models %d and %d differ: cannot derive %d" %
                         (a["id"], b["id"], mid))
    doc = copy.deepcopy(a)
    doc["id"] = mid
    return doc


def build(json_dir):
    regs = [0x5375, 0x6E53]
    models = []
    with open(os.path.join(json_dir, "model_1.json")) as f:
        common = json.load(f)
    for i, mid in enumerate(CHAIN):
        doc = load(json_dir, mid)
        if doc is None:
            continue
        for d, key in ((common, "c%d" % i), (doc, "m%d" % mid)):
            exp = {"id": d["id"], "addr": BASE + len(regs), "points": {}}
            block = model_block(d, key, exp)
            exp["length"] = block[1]
            regs += block
            models.append(exp)
    regs += [0xFFFF, 0]
    return regs, models


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--json-dir", required=True)
    ap.add_argument("--expect", required=True)
    a = ap.parse_args()
    regs, models = build(a.json_dir)
    with open(a.expect + ".tmp", "w") as f:
        json.dump({"base": BASE, "models": models}, f)
    os.replace(a.expect + ".tmp", a.expect)

    logging.basicConfig(level=logging.ERROR)
    try:
        from pymodbus.datastore import (ModbusSequentialDataBlock,
                                        ModbusServerContext,
                                        ModbusSlaveContext)
        from pymodbus.server import StartTcpServer
    except ImportError as e:
        print("sunspec_server: pymodbus is not usable: %s (install "
              "python3-pymodbus and python3-serial-asyncio)" % e,
              file=sys.stderr)
        return 3
    block = ModbusSequentialDataBlock(BASE, regs)
    slave = ModbusSlaveContext(hr=block, zero_mode=True)
    context = ModbusServerContext(slaves=slave, single=True)
    StartTcpServer(context=context, address=("127.0.0.1", a.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
