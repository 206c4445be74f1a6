set terminal pngcairo size 1000,650 font "DejaVu Sans,11" noenhanced
set grid
set key outside right top box opaque
set output 'bytes_per_round.png'
set title 'Bytes per round (up + down, mean over rounds and seeds)'
set style data histograms
set style fill solid 0.8 border -1
set boxwidth 0.8
set ylabel 'MB per round'
set xtics rotate by -35 left noenhanced
set key off
set yrange [0:*]
plot 'bytes_per_round.dat' using 2:xtic(1) lc rgb '#4472c4'
