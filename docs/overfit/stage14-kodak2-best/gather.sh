#!/bin/bash
# Every comparison stage14.md quotes for `best` (run from the repo root).
PY=${PY:-.venv/bin/python}
D=docs/overfit/stage14-kodak2-best
DEF=docs/overfit/stage11-kodak-B/rd_points.csv  # `default` as shipped (B), kodim17 and kodim23 among them
OLD=docs/overfit/stage7-kodak2-best/rd_points.csv  # `best` before stage 14
R=docs/rd/kodak/rd_points.csv
echo "== D2 against default (saec-overfit-B)"; $PY tools/bd_pair.py $D/rd_points.csv $DEF --test saec-overfit-best-D2 --ref saec-overfit-B --range 0.1 3 | tail -n +3
echo "== D2 against the old best"; $PY tools/bd_pair.py $D/rd_points.csv $OLD --test saec-overfit-best-D2 --ref saec-overfit-best --range 0.1 3 | tail -n +3
for r in avif444 saec-rd webp; do
  echo "== D2 against $r"; $PY tools/bd_pair.py $D/rd_points.csv $R --test saec-overfit-best-D2 --ref $r --range 0.1 3 | tail -n +3
done
echo "== the old best against avif444"; $PY tools/bd_pair.py $OLD $R --test saec-overfit-best --ref avif444 --range 0.1 3 | tail -n +3
echo "== D2 by quality against default"; $PY tools/gap_by_setting.py $D/rd_points.csv $DEF --test saec-overfit-best-D2 --ref saec-overfit-B
for r in avif444 saec-rd; do
  echo "== D2 by quality against $r"; $PY tools/gap_by_setting.py $D/rd_points.csv $R --test saec-overfit-best-D2 --ref $r
done
T=$(mktemp); trap 'rm -f $T' EXIT
grep -E '^codec,|^saec-overfit-B,kodim(17|23),' $DEF > $T  # default on the same two images
for r in avif444 saec-rd webp; do
  echo "== default (B) on kodim17 and kodim23 against $r"; $PY tools/bd_pair.py $T $R --test saec-overfit-B --ref $r --range 0.1 3 | tail -n +3
done
echo "== default (B) on kodim17 and kodim23 by quality against avif444"; $PY tools/gap_by_setting.py $T $R --test saec-overfit-B --ref avif444
