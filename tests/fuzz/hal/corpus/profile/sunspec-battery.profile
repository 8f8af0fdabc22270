# SPDX-License-Identifier: MIT
# Generic SunSpec battery (storage inverter): model 802 (battery base
# model) for power and state of charge, model 701 (DER AC measurement) for
# the AC energy counters, and model 124 for the optional charge/discharge
# limits.
#
# Sign: SunSpec devices report DER power as positive when the battery
# delivers (discharges); gridlet counts battery power as positive when
# charging, hence sign = -1. Check yours with gridlet-probe while the
# battery charges.
[profile]
name = sunspec-battery
description = Any SunSpec battery (models 802, 701; 124 for control)
kind = sunspec

[battery_power]
point = 802.W 701.W
sign = -1

[battery_charge_energy]
# Energy absorbed from the AC side (quadrants 2 and 3).
point = 701.TotWhAbs

[battery_discharge_energy]
# Energy injected to the AC side (quadrants 1 and 4).
point = 701.TotWhInj

[battery_soc]
point = 802.SoC 124.ChaState

[control]
# The battery accepts charge/discharge limits through model 124. hal
# writes them only when the meter agent's configuration also allows
# battery control; otherwise it never writes to the device.
battery = 124
