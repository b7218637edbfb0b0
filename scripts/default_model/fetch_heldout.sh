#!/usr/bin/env bash
# Fetches the packages behind assets/heldout_photos_gt.txt that a machine may not have installed, and
# unpacks them (nothing is installed) under ROOT, at the paths the file names: python3-skimage's
# sample photos (apt-get download + dpkg-deb -x) and npm @vladmandic/face-api 1.7.15's demo photos
# (npm pack) as ROOT/npm/@vladmandic/face-api@1.7.15/. opencv-doc is installed by scripts/setup.sh.
# These are evaluation packages: nothing here is ever used for training.
# usage: bash scripts/default_model/fetch_heldout.sh ROOT
set -euo pipefail
ROOT=${1:?usage: fetch_heldout.sh ROOT}
mkdir -p "$ROOT/debs"
ROOT=$(cd "$ROOT" && pwd)
SK=/usr/lib/python3/dist-packages/skimage/data/astronaut.png
if [ ! -f "$SK" ] && [ ! -f "$ROOT$SK" ]; then
  ( cd "$ROOT/debs" && apt-get download python3-skimage >/dev/null )
  dpkg-deb -x "$ROOT"/debs/python3-skimage_*.deb "$ROOT"
fi
FA="$ROOT/npm/@vladmandic/face-api@1.7.15"
if [ ! -f "$FA/demo/sample1.jpg" ]; then
  mkdir -p "$FA"
  ( cd "$ROOT/debs" && npm pack @vladmandic/face-api@1.7.15 --silent >/dev/null )
  tar xzf "$ROOT/debs/vladmandic-face-api-1.7.15.tgz" -C "$FA" --strip-components=1 package/demo
fi
echo "fetch_heldout.sh: held-out photos under $ROOT"
