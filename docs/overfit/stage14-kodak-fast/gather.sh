#!/bin/bash
# Every comparison stage14.md quotes for `fast` on whole images (run from the repo root).
PY=${PY:-.venv/bin/python}
D=docs/overfit/stage14-kodak-fast
S=docs/overfit/stage13-kodak-fast  # the shipped `fast` (one channel a level) and B at 700 steps
R=docs/rd/kodak/rd_points.csv
echo "== BS against fast as shipped"; $PY tools/bd_pair.py $D/rd_points.csv $S/rd_points_shipped.csv --test saec-overfit-fast-BS --ref saec-overfit-fast --range 0.1 3 | tail -n +3
echo "== BS against B (stage 13)"; $PY tools/bd_pair.py $D/rd_points.csv $S/rd_points_B.csv --test saec-overfit-fast-BS --ref saec-overfit-fast-B --range 0.1 3 | tail -n +3
for r in saec-rd avif444 webp; do
  echo "== BS against $r"; $PY tools/bd_pair.py $D/rd_points.csv $R --test saec-overfit-fast-BS --ref $r --range 0.1 3 | tail -n +3
done
echo "== fast as shipped against saec-rd"; $PY tools/bd_pair.py $S/rd_points_shipped.csv $R --test saec-overfit-fast --ref saec-rd --range 0.1 3 | tail -n +3
echo "== BS by quality against saec-rd"; $PY tools/gap_by_setting.py $D/rd_points.csv $R --test saec-overfit-fast-BS --ref saec-rd
echo "== fast as shipped by quality against saec-rd"; $PY tools/gap_by_setting.py $S/rd_points_shipped.csv $R --test saec-overfit-fast --ref saec-rd
echo "== BS by quality against fast as shipped"; $PY tools/gap_by_setting.py $D/rd_points.csv $S/rd_points_shipped.csv --test saec-overfit-fast-BS --ref saec-overfit-fast
