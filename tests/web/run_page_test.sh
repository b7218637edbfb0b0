#!/usr/bin/env bash
# Starts `yolonas serve` on a free port with the built-in default model, runs the browser test of its
# page (page_test.js), stops the server with SIGTERM and checks it exits 0.
#   run_page_test.sh YOLONAS_BINARY IMAGE OUT_DIR
# Exit 77 (ctest: skipped) when node, chromium or playwright-core is missing.
set -uo pipefail
bin="$1" image="$2" out="$3"
here="$(cd "$(dirname "$0")" && pwd)"
modules="${YOLONAS_WEB_MODULES:-$here/../../third_party/web/node_modules}"
for need in node chromium; do
  command -v "$need" >/dev/null 2>&1 || { echo "skip: $need not installed (bash scripts/setup.sh installs it)"; exit 77; }
done
[ -d "$modules/playwright-core" ] || { echo "skip: npm playwright-core not in $modules (bash scripts/setup.sh installs it)"; exit 77; }
[ -f "$image" ] || { echo "skip: $image missing (apt-get install darknet)"; exit 77; }
mkdir -p "$out"
log="$out/serve.log"
"$bin" serve port=0 threads=2 >"$log" 2>&1 &
pid=$!
port=""
for _ in $(seq 1 300); do
  port=$(grep -o 'serving on http://127.0.0.1:[0-9]*' "$log" | grep -o '[0-9]*$' || true)
  [ -n "$port" ] && break
  kill -0 "$pid" 2>/dev/null || { echo "yolonas serve exited:"; cat "$log"; exit 1; }
  sleep 0.1
done
[ -n "$port" ] || { echo "yolonas serve did not start:"; cat "$log"; kill "$pid"; exit 1; }
node "$here/page_test.js" "http://127.0.0.1:$port/" "$image" "$out/page_dog.png"
rc=$?
kill -TERM "$pid"
wait "$pid"
src=$?
[ $src -eq 0 ] || { echo "yolonas serve exited with $src after SIGTERM"; cat "$log"; exit 1; }
echo "screenshot: $out/page_dog.png"
exit $rc
