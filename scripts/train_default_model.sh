#!/usr/bin/env bash
# Reproduces the built-in default model (models/yolonas_default.pth) from Debian-packaged data only:
#   synthetic dataset (yolonas synth: tuxpaint stamps on wallpaper/photo backgrounds)
#   -> yolonas train (yolo_nas_n, 320x320, from scratch) -> yolonas export (weights-only checkpoint).
# About 65 min on a 2-core machine. Usage: bash scripts/train_default_model.sh [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-/tmp/yolonas_default}
bash scripts/setup.sh --synth
[ -x build/yolonas ] || { cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release && cmake --build build -j2; }
./build/yolonas synth out="$WORK/synth" n_train=5000 n_val=500 imgsz=320 seed=0 workers=2 exist_ok=true
./build/yolonas train data="$WORK/synth/data.yaml" model=models/yolo_nas_n.yaml imgsz=320 batch=16 epochs=5 warmup_steps=0 \
  lr0=0.002 warmup_epochs=1 ema_decay=0.99 workers=2 threads=2 seed=0 project="$WORK/runs" name=default exist_ok=true
./build/yolonas export weights="$WORK/runs/default/weights/best.pth" format=pth out=models/yolonas_default.pth
./build/yolonas val weights=models/yolonas_default.pth data="$WORK/synth/data.yaml" imgsz=320 project="$WORK/runs" name=default_val exist_ok=true
