# SPDX-License-Identifier: MIT
# Eastron SDM630 (Modbus, MID V2) three-phase energy meter, read over
# RS-485 (Modbus RTU; default unit id 1, 9600 baud, check the meter's set-up
# menu for parity).
#
# Register source: Eastron "SDM630 Modbus MID V2 User Manual", section
# "Modbus Protocol Input Registers" (function code 04, IEEE 754 float32,
# high word first). The manual numbers input registers 30001, 30003, ...;
# the protocol address is that number minus 30001:
#   30053  Total system power   W     -> input 0x0034
#   30073  Total import kWh     kWh   -> input 0x0048
#   30075  Total export kWh     kWh   -> input 0x004A
# Meters of this family may answer addresses they do not document with an
# exception, so reads are not merged across gaps (merge_gap 0); the two
# adjacent energy counters are read in one request.
[profile]
name = eastron-sdm630
description = Eastron SDM630 energy meter (float32 input registers)
source = Eastron SDM630 Modbus MID V2 user manual, input registers 30053, 30073, 30075
kind = registers
unit = 1

[grid_power]
register = input 0x0034
type = float32

[grid_import_energy]
register = input 0x0048
type = float32
# kWh -> Wh
scale = 3

[grid_export_energy]
register = input 0x004A
type = float32
scale = 3
