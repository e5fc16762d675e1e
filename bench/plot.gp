# bench/plot.gp -- chart of bench/results/ratios.dat (written by bench/report.py):
#   gnuplot -e "datafile='ratios.dat'; outfile='latest.png'" bench/plot.gp
# One group per workload, one bar per allocator: its time / the base's time (the base, fa-preload
# when it ran, is the first word of the data's header) on a log scale, drawn from the 1.0 line;
# bars above it are workloads where fastalloc is faster.
if (!exists("datafile")) datafile = 'bench/results/ratios.dat'
if (!exists("outfile")) outfile = 'bench/results/latest.png'

# rows = workloads (the first line is the header); columns = peers after the workload name
nrows = system(sprintf("tail -n +2 '%s' | wc -l", datafile)) + 0
ncols = system(sprintf("head -n 1 '%s' | wc -w", datafile)) - 1
base = system(sprintf("head -n 1 '%s' | cut -d' ' -f1", datafile))

if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
    set terminal pngcairo size 2400,760 font "DejaVu Sans,11"
} else {
    set terminal png size 2400,760
}
set output outfile
set title sprintf("time / %s time per workload (log scale; above 1 = fastalloc preloaded is faster; bars clipped at 1/16 and 256, timeouts drawn at their bound)", base)
set logscale y 2
set yrange [0.0625:256]
set ytics ("1/16" 0.0625, "1/8" 0.125, "1/4" 0.25, "1/2" 0.5, "1" 1, "2" 2, "4" 4, "8" 8, "16" 16, "32" 32, "64" 64, "128" 128, "256" 256)
set grid ytics lc rgb "#dddddd"
set xrange [-0.7:nrows - 0.3]
set xtics rotate by -45 left nomirror font ",10"
set key top left horizontal reverse Left samplen 2 width 2 box opaque
set ylabel sprintf("allocator time / %s time", base)
set bmargin 9
set style fill solid 0.85 border -1
bw = 0.8 / ncols
off(i) = -0.4 + bw * (i - 1.5)
colors = "#9c755f #f28e2b #4e79a7 #e15759 #59a14f #76b7b2 #edc948 #b07aa1 #bab0ac #ff9da7"
clamp(v) = v > 256 ? 256 : v < 0.0625 ? 0.0625 : v
plot datafile skip 1 using 0:(NaN):xtic(1) with points notitle, \
     for [i=2:ncols+1] datafile using ($0 + off(i)):(clamp(column(i))):($0 + off(i) - bw/2):($0 + off(i) + bw/2):(1):(clamp(column(i))) \
         with boxxyerror lc rgb word(colors, i - 1) title columnhead(i), \
     1 with lines lw 2 lc rgb "black" notitle
