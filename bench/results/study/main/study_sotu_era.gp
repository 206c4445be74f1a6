set terminal pngcairo size 1000,650 font "DejaVu Sans,11" noenhanced
set grid
set key outside right top box opaque
set output "study_sotu_era.png"
set title "Task sotu_era: test accuracy (mean of the last k evaluations), mean and 95% CI over seeds"
set ylabel "test accuracy"
set xtics ("partition=dir0.1" 0, "partition=dir0.5" 1) rotate by -20 left
set xrange [-0.6:1.6]
set offsets 0, 0, graph 0.08, graph 0.08
plot "study_sotu_era_0.dat" using 1:2:3:4 with yerrorbars lw 2 pt 7 ps 1 lc rgb "#9400d3" title "hfedmoe", \
     "study_sotu_era_1.dat" using 1:2:3:4 with yerrorbars lw 2 pt 7 ps 1 lc rgb "#009e73" title "fedavg", \
     "study_sotu_era_2.dat" using 1:2:3:4 with yerrorbars lw 2 pt 7 ps 1 lc rgb "#56b4e9" title "fedprox", \
     "study_sotu_era_3.dat" using 1:2:3:4 with yerrorbars lw 2 pt 7 ps 1 lc rgb "#e69f00" title "random_moe", \
     "study_sotu_era_4.dat" using 1:2:3:4 with yerrorbars lw 2 pt 7 ps 1 lc rgb "#d55e00" title "fedmoe", \
     "study_sotu_era_5.dat" using 1:2:3:4 with yerrorbars lw 2 pt 7 ps 1 lc rgb "#0072b2" title "fedavg_unbounded"
