# SPDX-License-Identifier: MIT
# SMA Sunny Boy / Sunny Tripower inverters with the SMA Modbus profile
# (Modbus TCP, enabled in the inverter's web interface; unit id 3).
#
# Register source: SMA Solar Technology, "SMA Modbus Interface" technical
# information and the device's register list (MODBUS-HTML_SB*/STP*). SMA
# documents each register by the address used on the wire:
#   30775  GridMs.TotW         S32  W   AC active power, all phases
#   30529  Metering.TotWhOut   U32  Wh  total yield
# NaN (no value) is 0x80000000 for S32 and 0xFFFFFFFF for U32; the inverter
# reports NaN power while it is not feeding in (at night).
[profile]
name = sma-sunnyboy
description = SMA Sunny Boy / Sunny Tripower (SMA Modbus profile)
source = SMA Modbus Interface technical information, registers 30775 and 30529
kind = registers
unit = 3

[pv_power]
register = holding 30775
type = int32
not_implemented = 0x80000000

[pv_energy]
register = holding 30529
type = uint32
not_implemented = 0xFFFFFFFF
