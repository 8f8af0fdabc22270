# SPDX-License-Identifier: MIT
# Generic SunSpec PV inverter: integer models 101-103 (with scale
# factors), float models 111-113, or the DER model 701. The first model
# the device has wins, in the order listed.
[profile]
name = sunspec-inverter
description = Any SunSpec PV inverter (models 101-103, 111-113 or 701)
kind = sunspec

[pv_power]
point = 103.W 101.W 102.W 113.W 111.W 112.W 701.W

[pv_energy]
# Lifetime AC energy. 101-103 use a 32-bit accumulator (it can roll over),
# 701 a 64-bit counter.
point = 103.WH 101.WH 102.WH 113.WH 111.WH 112.WH 701.TotWhInj
