#!/usr/bin/env bash
# The whole GPU check in one command, for a GPU machine with PyTorch 2.x (CUDA, nvcc, CMake, ninja):
#   1. builds yolonas against the LibTorch inside that PyTorch (python3 -c 'import torch; ...'),
#      with OpenCV, yaml-cpp, oneDNN and nlohmann-json from the system or from third_party/gpu_deps
#      (scripts/gpu_deps.sh) and the NCCL process group;
#   2. runs the LibTorch tests on CUDA: forward parity with SG's golden data, loss and gradients,
#      the optimizer step, a short training run with fp16 AMP, NCCL with one rank (tests/test_cuda.cpp),
#      then the CPU parity, loss, optimizer and training tests of the same build;
#   3. measures: training images/s of yolo_nas_s at 640, batch 32, fp32 and AMP, full pipeline
#      (loader with 12 workers) against raw forward+backward; inference images/s at batch 1 and 32,
#      fp32 and fp16; the GPU's peak memory (nvidia-smi, sampled).
# Everything is written to $OUT (default gpu_check_out/): build.log, tests.log, bench_*.txt, summary.txt.
#   bash scripts/gpu_check.sh [ITERS=10]
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-gpu_check_out}"
ITERS="${1:-10}"
mkdir -p "$OUT"
log() { echo "$@" | tee -a "$OUT/summary.txt"; }
: >"$OUT/summary.txt"

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader >"$OUT/gpu.txt" 2>&1 || true
log "GPU: $(cat "$OUT/gpu.txt")"
TORCH_PREFIX=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
log "PyTorch: $(python3 -c 'import torch; print(torch.__version__, "CUDA", torch.version.cuda)')"
PREFIXES="$TORCH_PREFIX"
DEPS="$PWD/third_party/gpu_deps"
if [ -d "$DEPS" ]; then
  PREFIXES="$PREFIXES;$DEPS/usr;$DEPS/usr/lib/x86_64-linux-gnu/cmake"
  export LD_LIBRARY_PATH="$DEPS/usr/lib/x86_64-linux-gnu:$DEPS/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}"
  export CPATH="$DEPS/usr/include:$DEPS/usr/include/opencv4:${CPATH:-}"
  log "dependencies from $DEPS"
fi
export LD_LIBRARY_PATH="$(python3 -c 'import torch, os; print(os.path.join(os.path.dirname(torch.__file__), "lib"))'):${LD_LIBRARY_PATH:-}"

# ---- 1. build -------------------------------------------------------------------------------------
start=$(date +%s)
if ! cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$PREFIXES" \
       -DYOLONAS_WITH_NCCL=ON >"$OUT/build.log" 2>&1 ||
   ! cmake --build build-gpu -j"$(nproc)" --target yolonas test_model >>"$OUT/build.log" 2>&1; then
  log "BUILD FAILED (see $OUT/build.log):"
  tail -30 "$OUT/build.log" | tee -a "$OUT/summary.txt"
  exit 1
fi
log "build: $(( $(date +%s) - start )) s"

# ---- 2. tests -------------------------------------------------------------------------------------
./build-gpu/tests/test_model --gtest_filter='Cuda.*:SParity*:LossGoldenS.*:LossTiny.*:Optim.*:Amp.*:Train.OverfitsAHandfulOfImages' \
  >"$OUT/tests.log" 2>&1
rc=$?
log "tests: exit $rc; $(grep -E '^\[  (PASSED|FAILED|SKIPPED) ' "$OUT/tests.log" | tr '\n' ' ')"
grep -E '^\[  FAILED  \]|^\[  SKIPPED \]' "$OUT/tests.log" | sort -u | tee -a "$OUT/summary.txt"

# ---- 3. throughput and memory ----------------------------------------------------------------------
# A training set of 240 entries (tests/data/synth_val's 24 images, 10 times each).
DATA="$OUT/data"
mkdir -p "$DATA"
for i in $(seq 10); do ls "$PWD"/tests/data/synth_val/images/val/*.jpg; done >"$DATA/train.txt"
{ echo "train: $PWD/$DATA/train.txt"; echo "val: $PWD/tests/data/synth_val/images/val";
  sed -n '/^nc:/,$p' tests/data/synth_val/data.yaml; } >"$DATA/data.yaml"
peak=0
sample_memory() {  # background: the largest memory.used seen
  while :; do nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits 2>/dev/null | head -1; sleep 0.2; done
}
sample_memory >"$OUT/memory_samples.txt" &
sampler=$!
for amp in false true; do
  ./build-gpu/yolonas benchmark train=true device=cuda model=yolo_nas_s imgsz=640 batch=32 workers=12 threads=4 \
    iters="$ITERS" warmup=2 amp=$amp data="$DATA/data.yaml" >"$OUT/bench_train_amp_$amp.txt" 2>&1
  log "train amp=$amp: $(grep -E '^training' "$OUT/bench_train_amp_$amp.txt" || tail -2 "$OUT/bench_train_amp_$amp.txt")"
done
for half in false true; do
  ./build-gpu/yolonas benchmark model=yolo_nas_s device=cuda engine=libtorch fuse=full batches=1,32 iters="$ITERS" \
    warmup=3 half=$half project="$OUT" name="infer_half_$half" exist_ok=true >"$OUT/bench_infer_half_$half.txt" 2>&1
  log "inference half=$half:"
  grep -E '^yolo_nas_s' "$OUT/bench_infer_half_$half.txt" | tee -a "$OUT/summary.txt"
done
kill "$sampler" 2>/dev/null
peak=$(sort -n "$OUT/memory_samples.txt" | tail -1)
log "GPU memory: peak ${peak} MiB used (nvidia-smi, sampled every 0.2 s over the benchmarks)"
exit $rc
