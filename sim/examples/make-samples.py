#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the small sample data files next to this script.

They are NOT real measurements: made-up households, shaped roughly like
real ones, in the file formats gridlet-sim reads, so that tests and the
documentation have inputs to run on. Deterministic (fixed seed): running
this again gives the same bytes.

  ausgrid-sample.csv  the Ausgrid Solar Home Electricity dataset's wide
                      half-hourly layout: 4 customers, 7 days of January
                      2013, channels GC, CL (two customers) and GG, kWh
  long-sample.csv     the generic long CSV: 3 households, 2 days at
                      15 minutes, Wh
"""
import math
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))


def labels():
    out = []
    for i in range(48):
        m = ((i + 1) * 30) % 1440
        out.append("%d:%02d" % (m // 60, m % 60))
    return out


def load_shape(h):
    # A night trough, a breakfast bump, the evening peak (relative).
    return (0.5 + 0.45 * math.exp(-((h - 7.5) / 1.2) ** 2)
            + 1.1 * math.exp(-((h - 19.0) / 2.0) ** 2))


def pv_shape(h):
    # Summer day in Sydney, local time: sunrise ~6, sunset ~20.
    if h < 6.0 or h > 20.0:
        return 0.0
    return math.sin(math.pi * (h - 6.0) / 14.0) ** 1.3


def ausgrid(rng):
    customers = [(1, 3.78, 2076, True), (2, 1.62, 2158, False),
                 (3, 2.2, 2261, True), (4, 5.0, 2089, False)]
    rows = ["Solar home half-hour data - SAMPLE written for gridlet's tests "
            "(not real data)" + "," * 53,
            "Customer,Generator Capacity,Postcode,Consumption Category,date,"
            + ",".join(labels()) + ",Row Quality"]
    for cust, kwp, post, cl in customers:
        scale = rng.uniform(0.7, 1.4)
        for day in range(14, 21):
            date = "%d/01/2013" % day
            cloud = rng.choice([1.0, 1.0, 0.85, 0.55, 0.3])
            chans = ["CL"] if cl else []
            chans += ["GC", "GG"]
            for ch in chans:
                vals = []
                for i in range(48):
                    h = i * 0.5 + 0.25
                    if ch == "GC":
                        v = 0.25 * scale * load_shape(h) * rng.uniform(0.7, 1.3)
                    elif ch == "CL":
                        v = 1.2 if 0 <= i < 6 else 0.0  # off-peak hot water
                    else:
                        v = 0.5 * kwp * 0.8 * pv_shape(h) * cloud * \
                            rng.uniform(0.9, 1.0)
                    vals.append("%.3f" % v)
                rows.append("%d,%s,%d,%s,%s,%s,"
                            % (cust, kwp, post, ch, date, ",".join(vals)))
    return "\n".join(rows) + "\n"


def long_csv(rng):
    rows = ["timestamp,household,load_wh,pv_wh"]
    homes = [("h01", 5.0, 1.0), ("h02", 0.0, 1.3), ("h03", 3.0, 0.8)]
    for day in (1, 2):
        for q in range(96):
            h_utc = q * 0.25
            h_local = (h_utc + 10.0) % 24.0
            for name, kwp, scale in homes:
                load = 110 * scale * load_shape(h_local) * rng.uniform(0.8, 1.2)
                pv = 250 * kwp * 0.8 * pv_shape(h_local) * rng.uniform(0.9, 1.0)
                rows.append("2026-01-%02dT%02d:%02d:00Z,%s,%d,%d" % (
                    day, q // 4, (q % 4) * 15, name, round(load), round(pv)))
    return "\n".join(rows) + "\n"


def main():
    rng = random.Random(2013)
    with open(os.path.join(HERE, "ausgrid-sample.csv"), "w") as f:
        f.write(ausgrid(rng))
    with open(os.path.join(HERE, "long-sample.csv"), "w") as f:
        f.write(long_csv(rng))


if __name__ == "__main__":
    main()
