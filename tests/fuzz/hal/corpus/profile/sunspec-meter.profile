# SPDX-License-Identifier: MIT
# Generic SunSpec grid meter at the household's connection point: models
# 201-204 (integer with scale factors) or 211-213 (float).
#
# SunSpec meters count "import" as energy taken from the grid and report
# positive W while importing; some vendors install the meter the other way
# round or use the opposite sign. If grid_power shows export as positive on
# your installation, copy this file and set "sign = -1" under
# [grid_power] (and swap the import/export points if the counters are
# swapped too).
[profile]
name = sunspec-meter
description = Any SunSpec grid meter (models 201-204, 211-213)
kind = sunspec

[grid_import_energy]
point = 203.TotWhImp 201.TotWhImp 202.TotWhImp 204.TotWhImp 213.TotWhImp 211.TotWhImp 212.TotWhImp

[grid_export_energy]
point = 203.TotWhExp 201.TotWhExp 202.TotWhExp 204.TotWhExp 213.TotWhExp 211.TotWhExp 212.TotWhExp

[grid_power]
point = 203.W 201.W 202.W 204.W 213.W 211.W 212.W
