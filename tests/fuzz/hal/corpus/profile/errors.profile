[grid_power]
point = 203.Wx 999.W
sign = 2
[profile]
name = bad name
kind = other
[control]
battery = 802
