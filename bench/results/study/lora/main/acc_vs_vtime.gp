set terminal pngcairo size 1000,650 font "DejaVu Sans,11" noenhanced
set grid
set key outside right top box opaque
set output "acc_vs_vtime.png"
set title "Test accuracy vs virtual time"
set xlabel "virtual time (s)"
set ylabel 'test accuracy'
set yrange [0:1]
plot "acc_vs_vtime_0.dat" using 1:2 with linespoints lw 2 pt 7 ps 0.6 title "fedavg path=data/study/spam3_dir0.1.h5 (mean of 5)", \
     "acc_vs_vtime_1.dat" using 1:2 with linespoints lw 2 pt 7 ps 0.6 title "fedavg_unbounded path=data/study/spam3_dir0.1.h5 (mean of 5)", \
     "acc_vs_vtime_2.dat" using 1:2 with linespoints lw 2 pt 7 ps 0.6 title "fedmoe path=data/study/spam3_dir0.1.h5 (mean of 5)", \
     "acc_vs_vtime_3.dat" using 1:2 with linespoints lw 2 pt 7 ps 0.6 title "fedprox path=data/study/spam3_dir0.1.h5 (mean of 5)", \
     "acc_vs_vtime_4.dat" using 1:2 with linespoints lw 2 pt 7 ps 0.6 title "hfedmoe path=data/study/spam3_dir0.1.h5 (mean of 5)", \
     "acc_vs_vtime_5.dat" using 1:2 with linespoints lw 2 pt 7 ps 0.6 title "random_moe path=data/study/spam3_dir0.1.h5 (mean of 5)", \
     "acc_vs_vtime_6.dat" using 1:2 with linespoints lw 2 pt 7 ps 0.6 title "fedavg path=data/study/spam3_dir0.5.h5 (mean of 5)", \
     "acc_vs_vtime_7.dat" using 1:2 with linespoints lw 2 pt 7 ps 0.6 title "fedavg_unbounded path=data/study/spam3_dir0.5.h5 (mean of 5)", \
     "acc_vs_vtime_8.dat" using 1:2 with linespoints lw 2 pt 7 ps 0.6 title "fedmoe path=data/study/spam3_dir0.5.h5 (mean of 5)", \
     "acc_vs_vtime_9.dat" using 1:2 with linespoints lw 2 pt 7 ps 0.6 title "fedprox path=data/study/spam3_dir0.5.h5 (mean of 5)", \
     "acc_vs_vtime_10.dat" using 1:2 with linespoints lw 2 pt 7 ps 0.6 title "hfedmoe path=data/study/spam3_dir0.5.h5 (mean of 5)", \
     "acc_vs_vtime_11.dat" using 1:2 with linespoints lw 2 pt 7 ps 0.6 title "random_moe path=data/study/spam3_dir0.5.h5 (mean of 5)"
