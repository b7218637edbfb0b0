#!/usr/bin/env bash
# Prepares, on this Debian 12 machine, the libraries the GPU machine lacks (OpenCV, yaml-cpp, oneDNN,
# nlohmann-json; the GPU machine has PyTorch with LibTorch, CUDA, CMake and ninja): downloads the
# Debian packages and their dependency closure (minus the packages every Debian/Ubuntu base has),
# and unpacks them with `dpkg -x` into third_party/gpu_deps, which scripts/gpu_check.sh uses.
#   bash scripts/gpu_deps.sh
# Measured here: 245 MiB of .deb files, about 700 MB unpacked (OpenCV's imgcodecs and videoio pull
# GDAL, FFmpeg, GStreamer, LLVM via Mesa). That is more than the device tool carries (64 MiB): put
# the folder on the GPU machine another way (a shared volume), or install the -dev packages there.
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=third_party/gpu_deps
RUNTIME=(libopencv-core406 libopencv-imgproc406 libopencv-imgcodecs406 libopencv-videoio406 libopencv-dnn406
         libyaml-cpp0.7 libdnnl2)
DEV=(libopencv-core-dev libopencv-imgproc-dev libopencv-imgcodecs-dev libopencv-videoio-dev libopencv-dnn-dev
     libopencv-highgui-dev libyaml-cpp-dev libdnnl-dev nlohmann-json3-dev libcpp-httplib-dev zlib1g-dev)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
closure=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces \
            --no-enhances --no-pre-depends "${RUNTIME[@]}" 2>/dev/null | grep '^[a-z0-9]' | sort -u)
wanted=()
for p in $closure "${DEV[@]}"; do
  prio=$(apt-cache show --no-all-versions "$p" 2>/dev/null | awk '/^Priority:/ {print $2; exit}')
  case "$prio" in required|important) continue ;; esac
  case "$p" in libc6|libstdc++6|libgcc-s1|libcuda*|libnvidia*) continue ;; esac
  wanted+=("$p")
done
echo "gpu_deps: downloading ${#wanted[@]} packages"
(cd "$work" && apt-get download "${wanted[@]}" >/dev/null)
rm -rf "$DEST"
mkdir -p "$DEST"
for deb in "$work"/*.deb; do dpkg -x "$deb" "$DEST"; done
# Absolute symlinks inside the tree point to /usr/...: make them relative so the folder can move.
find "$DEST" -type l -lname '/*' | while read -r l; do
  target=$(readlink "$l")
  ln -sfn "$(realpath --relative-to="$(dirname "$l")" "$DEST$target" 2>/dev/null || echo "$target")" "$l"
done
echo "gpu_deps: $(du -sh "$DEST" | cut -f1) in $DEST"
