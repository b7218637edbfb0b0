#!/usr/bin/env bash
# Load test of `yolonas serve` on loopback, bounded in requests and time: throughput and p50/p99
# latency at 1, 4 and 16 concurrent clients, dynamic batching on and off, FP32 and INT8; then an
# overload (64 clients against a queue of 4) that must give 503s, never a crash; peak RSS of the
# server for each. Writes a Markdown table to stdout and runs/bench/serve_load.md.
#   bash bench/serve_load.sh [REQUESTS_PER_RUN=120] [extra serve keys, e.g. model=yolo_nas_s random_init=true]
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-120}"
shift || true
EXTRA=("$@")
BIN=build/yolonas
LOAD=build/bench/yolonas_loadtest
IMAGE=/usr/share/darknet/data/dog.jpg
CALIB=tests/data/synth   # INT8 calibration images (synthetic training images, never the photo scored)
OUT=runs/bench
mkdir -p "$OUT"
[ -x "$BIN" ] && [ -x "$LOAD" ] || { echo "build first: cmake --build build"; exit 1; }
[ -f "$IMAGE" ] || { echo "$IMAGE missing (apt-get install darknet)"; exit 1; }

start_server() {  # keys... ; sets PID and PORT
  "$BIN" serve port=0 threads=2 "${EXTRA[@]}" "$@" >"$OUT/serve.log" 2>&1 &
  PID=$!
  PORT=""
  for _ in $(seq 1 600); do
    PORT=$(grep -o 'serving on http://127.0.0.1:[0-9]*' "$OUT/serve.log" | grep -o '[0-9]*$' || true)
    [ -n "$PORT" ] && return 0
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "server did not start:"; cat "$OUT/serve.log"; exit 1
}
stop_server() {  # sets RSS (peak, MB); fails unless SIGTERM gives exit 0
  RSS=$(awk '/VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$PID/status")
  kill -TERM "$PID"
  if ! wait "$PID"; then echo "server exited non-zero after SIGTERM"; cat "$OUT/serve.log"; exit 1; fi
}
field() { python3 -c "import json,sys; d=json.loads(sys.argv[1]); print(d$2)" "$1"; }

desc=""
echo "| engine | batching | clients | req/s | p50 ms | p99 ms | mean batch | codes | peak RSS MB |" | tee "$OUT/serve_load.md"
echo "|---|---|---|---|---|---|---|---|---|" | tee -a "$OUT/serve_load.md"
for engine in onednn int8; do
  for batching in on off; do
    keys=(engine=$engine)
    [ "$engine" = int8 ] && keys+=(calib=$CALIB)
    if [ "$batching" = on ]; then keys+=(max_batch=8 max_wait_ms=5); else keys+=(max_batch=1); fi
    start_server "${keys[@]}"
    [ -z "$desc" ] && desc=$(grep -m1 "classes, " "$OUT/serve.log" || true)
    rows=()
    for c in 1 4 16; do
      r=$("$LOAD" 127.0.0.1 "$PORT" "$IMAGE" clients=$c requests="$N" seconds=60)
      rows+=("| $engine | $batching | $c | $(field "$r" "['throughput']") | $(field "$r" "['p50_ms']") | $(field "$r" "['p99_ms']") | $(field "$r" "['mean_batch']") | $(field "$r" "['codes']") |")
    done
    stop_server
    for row in "${rows[@]}"; do echo "$row $RSS |" | tee -a "$OUT/serve_load.md"; done
  done
done

# Overload: 64 clients, a queue of 4, no waiting for company: the excess must get 503 + Retry-After.
start_server max_batch=4 max_wait_ms=2 max_queue=4
r=$("$LOAD" 127.0.0.1 "$PORT" "$IMAGE" clients=64 requests=$((N * 4)) seconds=60)
alive=$(python3 -c "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:$PORT/healthz').status)")
stop_server
echo "| onednn (overload, max_queue=4) | on | 64 | $(field "$r" "['throughput']") | $(field "$r" "['p50_ms']") | $(field "$r" "['p99_ms']") | $(field "$r" "['mean_batch']") | $(field "$r" "['codes']") | $RSS |" | tee -a "$OUT/serve_load.md"
echo
echo "model: $desc; image $IMAGE; $N requests per row; healthz after the overload: $alive" | tee -a "$OUT/serve_load.md"
