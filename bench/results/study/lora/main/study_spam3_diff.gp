set terminal pngcairo size 1000,650 font "DejaVu Sans,11" noenhanced
set grid
set key outside right top box opaque
set output "study_spam3_diff.png"
set title "Task spam3: hfedmoe − method, test accuracy, paired by seed: mean and 95% CI"
set ylabel "hfedmoe − method (accuracy)"
set xtics ("partition=dir0.1" 0, "partition=dir0.5" 1) rotate by -20 left
set xrange [-0.6:1.6]
set offsets 0, 0, graph 0.08, graph 0.08
set arrow from graph 0, first 0 to graph 1, first 0 nohead lw 1 dt 2
plot "study_spam3_diff_0.dat" using 1:2:3:4 with yerrorbars lw 2 pt 7 ps 1 lc rgb "#009e73" title "fedavg", \
     "study_spam3_diff_1.dat" using 1:2:3:4 with yerrorbars lw 2 pt 7 ps 1 lc rgb "#56b4e9" title "fedprox", \
     "study_spam3_diff_2.dat" using 1:2:3:4 with yerrorbars lw 2 pt 7 ps 1 lc rgb "#e69f00" title "random_moe", \
     "study_spam3_diff_3.dat" using 1:2:3:4 with yerrorbars lw 2 pt 7 ps 1 lc rgb "#d55e00" title "fedmoe", \
     "study_spam3_diff_4.dat" using 1:2:3:4 with yerrorbars lw 2 pt 7 ps 1 lc rgb "#0072b2" title "fedavg_unbounded"
