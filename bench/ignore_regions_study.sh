#!/usr/bin/env bash
# What ignore regions are worth when labels are missing, measured on a synthetic set whose true boxes
# are all known. Each training box is hidden with chance HIDE (awk's generator seeded per file, so
# the same boxes every run; Debian's mawk leans high here: HIDE=0.5 hid 1560 of 2669), as a teacher
# that misses objects would leave them; three runs train the same model the same way on:
#   full     every box (the bound);
#   missing  the hidden boxes left out: their objects are taught as background;
#   ignore   the hidden boxes written to ignore/ and trained with ignore_regions=true.
# All three are validated on the same fully labelled val split. Writes a Markdown table to stdout
# and OUT/study.md.
#   bash bench/ignore_regions_study.sh [OUT=runs/bench/ignore_study] (env: HIDE=0.5 EPOCHS=20
#   N_TRAIN=800 N_VAL=200 IMGSZ=192 SEEDS="1" CLASSES=car,bird,sheep,cow,sports\ ball,apple)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/bench/ignore_study}
HIDE=${HIDE:-0.5}
EPOCHS=${EPOCHS:-20}
N_TRAIN=${N_TRAIN:-800}
N_VAL=${N_VAL:-200}
IMGSZ=${IMGSZ:-192}
SEEDS=${SEEDS:-1}
CLASSES=${CLASSES:-car,bird,sheep,cow,sports ball,apple}
Y=build/yolonas
[ -x "$Y" ] || { echo "build first: cmake --build build"; exit 1; }
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

[ -f "$OUT/full/data.yaml" ] || "$Y" synth out="$OUT/full" n_train="$N_TRAIN" n_val="$N_VAL" imgsz="$IMGSZ" seed=5 \
  workers=2 classes="$CLASSES" exist_ok=true

# missing/ and ignore/ share full's images (symlinked folder) and validate on full's val split.
for v in missing ignore; do
  rm -rf "${OUT:?}/$v"
  mkdir -p "$OUT/$v/images" "$OUT/$v/labels/train"
  ln -s "$OUT/full/images/train" "$OUT/$v/images/train"
  [ "$v" = ignore ] && mkdir -p "$OUT/$v/ignore/train"
  { echo "path: $OUT"; echo "train: $v/images/train"; echo "val: full/images/val"; sed -n '/^names:/,$p' "$OUT/full/data.yaml"; } \
    > "$OUT/$v/data.yaml"
done
total=0 hidden=0
for f in "$OUT"/full/labels/train/*.txt; do
  b=$(basename "$f")
  # Row by row, hidden with probability HIDE (seeded by the file name: the same rows in every run).
  awk -v p="$HIDE" -v s="$(printf '%s' "$b" | cksum | cut -d' ' -f1)" -v keep="$OUT/missing/labels/train/$b" \
      -v hid="$OUT/ignore/ignore/train/$b" 'BEGIN { srand(s) } NF { if (rand() < p) print > hid; else print > keep }
      END { printf "" >> keep }' "$f"
  cp "$OUT/missing/labels/train/$b" "$OUT/ignore/labels/train/$b"
  n=$(grep -c . "$f" || true)
  total=$((total + n))
  [ -f "$OUT/ignore/ignore/train/$b" ] && hidden=$((hidden + $(grep -c . "$OUT/ignore/ignore/train/$b")))
done
echo "training boxes: $total, hidden: $hidden"

row() {  # variant seed extra-keys...: one table row, the last epoch's validation
  local v=$1 seed=$2
  shift 2
  "$Y" train data="$OUT/$v/data.yaml" model=models/yolo_nas_n.yaml imgsz="$IMGSZ" batch=16 epochs="$EPOCHS" lr0=0.002 \
    warmup_epochs=1 warmup_steps=0 ema_decay=0.99 workers=2 threads=2 seed="$seed" cache=ram plots=false \
    average_best_models=false project="$OUT/runs" name="${v}_s$seed" exist_ok=true "$@" > "$OUT/${v}_s$seed.log" 2>&1
  # results.csv: epoch, 4 losses, precision, recall, mAP50, mAP50-95, lr, time_s
  tail -n 1 "$OUT/runs/${v}_s$seed/results.csv" |
    awk -F, -v v="$v" -v s="$seed" '{ printf "| %s | %s | %.3f | %.3f | %.3f | %.3f |\n", v, s, $8, $9, $6, $7 }'
}
{
  echo "Hidden: $hidden of $total training boxes (HIDE=$HIDE); yolo_nas_n from scratch at $IMGSZ, $EPOCHS epochs;"
  echo "classes: $CLASSES; validated on $N_VAL fully labelled images (last epoch, EMA weights)."
  echo
  echo "| labels | seed | mAP50 | mAP50-95 | precision | recall |"
  echo "|---|---|---|---|---|---|"
} | tee "$OUT/study.md"
for seed in $SEEDS; do
  row full "$seed"
  row missing "$seed"
  row ignore "$seed" ignore_regions=true
done | tee -a "$OUT/study.md"
