set terminal pngcairo size 1000,650 font "DejaVu Sans,11" noenhanced
set grid
set key outside right top box opaque
set output "acc_vs_vtime.png"
set title "Test accuracy vs virtual time"
set xlabel "virtual time (s)"
set ylabel 'test accuracy'
set yrange [0:1]
plot "acc_vs_vtime_0.dat" using 1:2 with linespoints lw 2 pt 7 ps 0.6 title "hfedmoe variant=base (mean of 3)", \
     "acc_vs_vtime_1.dat" using 1:2 with linespoints lw 2 pt 7 ps 0.6 title "hfedmoe variant=beta0 (mean of 3)", \
     "acc_vs_vtime_2.dat" using 1:2 with linespoints lw 2 pt 7 ps 0.6 title "hfedmoe variant=lambda0 (mean of 3)", \
     "acc_vs_vtime_3.dat" using 1:2 with linespoints lw 2 pt 7 ps 0.6 title "hfedmoe variant=lambda1 (mean of 3)", \
     "acc_vs_vtime_4.dat" using 1:2 with linespoints lw 2 pt 7 ps 0.6 title "hfedmoe variant=reselect_batch (mean of 3)", \
     "acc_vs_vtime_5.dat" using 1:2 with linespoints lw 2 pt 7 ps 0.6 title "hfedmoe variant=scope_model (mean of 3)"
