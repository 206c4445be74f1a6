set terminal pngcairo size 1000,650 font "DejaVu Sans,11" noenhanced
set grid
set key outside right top box opaque
set output 'expert_heatmap.png'
set title 'Clients of each device class that trained each expert (sum over rounds)'
set xtics ("l0e0" 0, "l0e1" 1, "l0e2" 2, "l0e3" 3, "l0e4" 4, "l0e5" 5, "l0e6" 6, "l0e7" 7, "l0e8" 8, "l0e9" 9, "l0e10" 10, "l0e11" 11, "l0e12" 12, "l0e13" 13, "l0e14" 14, "l0e15" 15, "l1e0" 16, "l1e1" 17, "l1e2" 18, "l1e3" 19, "l1e4" 20, "l1e5" 21, "l1e6" 22, "l1e7" 23, "l1e8" 24, "l1e9" 25, "l1e10" 26, "l1e11" 27, "l1e12" 28, "l1e13" 29, "l1e14" 30, "l1e15" 31) rotate by -60 left
set ytics ("edge" 0, "midrange" 1, "workstation" 2)
set view map
set key off
set palette defined (0 '#f7fbff', 1 '#6baed6', 2 '#08306b')
unset grid
set cblabel 'client-rounds'
plot 'expert_heatmap.dat' using 1:2:3 with image
