#!/usr/bin/env bash
# README command 1: install packages, build (Release), and run the main job: the built-in default
# model on the sample photos and the sample video. Prints where the annotated outputs are.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j2 --target yolonas
PHOTOS=/usr/share/darknet/data
VIDEO=/usr/share/doc/opencv-doc/examples/data/vtest.avi
./build/yolonas predict source="$PHOTOS/*.jpg" project=runs/demo name=photos exist_ok=true
if [ -f "$VIDEO" ]; then
  ./build/yolonas predict source="$VIDEO" project=runs/demo name=video exist_ok=true
fi
echo
echo "Annotated photos: $(pwd)/runs/demo/photos/"
[ -f "$VIDEO" ] && echo "Annotated video:  $(pwd)/runs/demo/video/"
echo "What the built-in default model finds on these photos, and how well: docs/default_model_report.md"
