#!/usr/bin/env bash
# The loop a user runs with their own data, end to end and offline, in a few minutes:
#   synth (a small synthetic YOLO dataset) -> check-data -> train (fine-tune the default model)
#   -> val -> predict. Replace the synth step with your own data.yaml.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-runs/loop}
bash scripts/setup.sh --synth
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j2 --target yolonas
Y=./build/yolonas
$Y synth out="$WORK/data" n_train=400 n_val=80 imgsz=320 seed=1 exist_ok=true
$Y check-data data="$WORK/data/data.yaml"
$Y train data="$WORK/data/data.yaml" weights=models/yolonas_default.pth imgsz=320 epochs=3 batch=8 warmup_epochs=1 \
  project="$WORK" name=train exist_ok=true
$Y val weights="$WORK/train/weights/best.pth" data="$WORK/data/data.yaml" project="$WORK" name=val exist_ok=true
$Y predict weights="$WORK/train/weights/best.pth" source="$WORK/data/images/val" project="$WORK" name=predict exist_ok=true
echo "Run folders: $WORK/{train,val,predict}"
