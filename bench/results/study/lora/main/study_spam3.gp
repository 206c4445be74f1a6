set terminal pngcairo size 1000,650 font "DejaVu Sans,11" noenhanced
set grid
set key outside right top box opaque
set output "study_spam3.png"
set title "Task spam3: test accuracy (mean of the last k evaluations), mean and 95% CI over seeds"
set ylabel "test accuracy"
set xtics ("partition=dir0.1" 0, "partition=dir0.5" 1) rotate by -20 left
set xrange [-0.6:1.6]
set offsets 0, 0, graph 0.08, graph 0.08
plot "study_spam3_0.dat" using 1:2:3:4 with yerrorbars lw 2 pt 7 ps 1 lc rgb "#9400d3" title "hfedmoe", \
     "study_spam3_1.dat" using 1:2:3:4 with yerrorbars lw 2 pt 7 ps 1 lc rgb "#009e73" title "fedavg", \
     "study_spam3_2.dat" using 1:2:3:4 with yerrorbars lw 2 pt 7 ps 1 lc rgb "#56b4e9" title "fedprox", \
     "study_spam3_3.dat" using 1:2:3:4 with yerrorbars lw 2 pt 7 ps 1 lc rgb "#e69f00" title "random_moe", \
     "study_spam3_4.dat" using 1:2:3:4 with yerrorbars lw 2 pt 7 ps 1 lc rgb "#d55e00" title "fedmoe", \
     "study_spam3_5.dat" using 1:2:3:4 with yerrorbars lw 2 pt 7 ps 1 lc rgb "#0072b2" title "fedavg_unbounded"
