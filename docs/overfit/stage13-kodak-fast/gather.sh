#!/bin/bash
# The comparisons stage13.md quotes for `fast` on whole images (run from the repo root).
PY=${PY:-.venv/bin/python}
D=docs/overfit/stage13-kodak-fast
echo "== fast with B against fast as shipped"; $PY tools/bd_pair.py $D/rd_points_B.csv $D/rd_points_shipped.csv --test saec-overfit-fast-B --ref saec-overfit-fast --range 0.1 3 | tail -n +3
for c in saec-overfit-fast-B saec-overfit-fast; do
  echo "== $c against saec-rd"; $PY tools/bd_pair.py $D/rd_points_B.csv $D/rd_points_shipped.csv docs/rd/kodak/rd_points.csv --test $c --ref saec-rd --range 0.1 3 | tail -n +3
  echo "== $c by quality against saec-rd"; $PY tools/gap_by_setting.py $D/rd_points_B.csv $D/rd_points_shipped.csv docs/rd/kodak/rd_points.csv --test $c --ref saec-rd
done
