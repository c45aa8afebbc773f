#!/bin/bash
# Every comparison stage12.md quotes, from the repo's files only (run from the repo root).
PY=${PY:-.venv/bin/python}
KB="docs/overfit/stage11-kodak-B/rd_points.csv docs/overfit/stage12-kodak-B/rd_points.csv"
PB="docs/overfit/stage12-paper-B/rd_points.csv"
KS="docs/overfit/stage6-kodak-default/rd_points.csv docs/overfit/stage10-kodak3-default/rd_points.csv"
PS="docs/overfit/stage5-paper1-default/rd_points.csv docs/overfit/stage9-paper3-default/rd_points.csv"
if [ "${SETS:-kodak paper}" != paper ]; then
  echo "== kodak: B against saec-overfit-default, the eight images new in stage 12"
  $PY tools/bd_pair.py docs/overfit/stage12-kodak-B/rd_points.csv $KS --test saec-overfit-B --ref saec-overfit-default --range 0.1 3 | tail -n 1
  echo "== kodak: B against saec-overfit-default, stage 11's four"
  $PY tools/bd_pair.py docs/overfit/stage11-kodak-B/rd_points.csv $KS --test saec-overfit-B --ref saec-overfit-default --range 0.1 3 | tail -n 1
fi
for set in ${SETS:-kodak paper}; do
  if [ $set = kodak ]; then B=$KB; S=$KS; R=docs/rd/kodak/rd_points.csv; else B=$PB; S=$PS; R=docs/rd/rd_points.csv; fi
  for r in saec-overfit-default saec-rd webp avif444 jxl; do
    echo "== $set: B against $r"; $PY tools/bd_pair.py $B $S $R --test saec-overfit-B --ref $r --range 0.1 3 | tail -n +3
  done
  for r in saec-rd webp avif444; do
    echo "== $set: the shipped default against $r"; $PY tools/bd_pair.py $S $R --test saec-overfit-default --ref $r --range 0.1 3 | tail -n +3
  done
  for r in avif444 saec-rd; do
    echo "== $set: gap by quality against $r, B"; $PY tools/gap_by_setting.py $B $R --test saec-overfit-B --ref $r
    echo "== $set: gap by quality against $r, the shipped default"; $PY tools/gap_by_setting.py $S $R --test saec-overfit-default --ref $r
  done
done
