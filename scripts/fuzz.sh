#!/usr/bin/env bash
# libFuzzer harnesses of the readers of untrusted files (fuzz/README.md).
#
#   bash scripts/fuzz.sh [--merge] [SECONDS] [TARGET...]   fuzz each target for SECONDS (default 60), one at a time
#   bash scripts/fuzz.sh --corpus-only [TARGET...]         run every input of fuzz/corpus/<target> once (CI)
#   bash scripts/fuzz.sh --list                            the targets
#
# Builds build-fuzz/ first (clang, -fsanitize=fuzzer,address,undefined). While fuzzing, new inputs go
# to build-fuzz/corpus/<target> (scratch; the committed fuzz/corpus/<target> is only read, unless
# --merge adds the new inputs that increase coverage), and crashes, timeouts and OOMs go to
# fuzz/findings/<target>/ (libFuzzer -fork=1: fuzzing goes on after a finding). Prints per target the
# executions, new inputs, coverage and findings (each distinct one with its count); exits 1 when
# there are findings. --corpus-only exits non-zero when any input crashes, hangs (>10 s) or needs
# more than 2 GB. Missing clang/libFuzzer: exit 3; configure/build failure: exit 4.
# Environment: FUZZ_BUILD_DIR (build-fuzz), FUZZ_BUILD_JOBS (2).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

ALL_TARGETS=(yolo_labels data_yaml coco_json voc_xml zip_check npy)
B=${FUZZ_BUILD_DIR:-build-fuzz}
JOBS=${FUZZ_BUILD_JOBS:-2}
COMMON=(-rss_limit_mb=2048 -timeout=10)

now_ms() { date +%s%3N; }
since() { awk -v a="$1" -v b="$(now_ms)" 'BEGIN { printf "%.1f", (b - a) / 1000 }'; }  # seconds since $1 (ms)

usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; }

mode=fuzz merge=0 seconds=60 targets=()
while (($#)); do
  case $1 in
    --corpus-only) mode=corpus ;;
    --merge) merge=1 ;;
    --list) printf '%s\n' "${ALL_TARGETS[@]}"; exit 0 ;;
    -h|--help) usage; exit 0 ;;
    ''|*[!0-9]*)
      [[ " ${ALL_TARGETS[*]} " == *" $1 "* ]] || { echo "fuzz.sh: unknown target or option '$1' (targets: ${ALL_TARGETS[*]})" >&2; exit 2; }
      targets+=("$1") ;;
    *) seconds=$1 ;;
  esac
  shift
done
((${#targets[@]})) || targets=("${ALL_TARGETS[@]}")

# ---- toolchain ----------------------------------------------------------------------------------
missing() {
  echo "fuzz.sh: $1" >&2
  echo "fuzz.sh: the harnesses need clang with libFuzzer: apt-get install -y --no-install-recommends clang libclang-rt-dev" >&2
  exit 3
}
for tool in clang clang++ cmake ninja; do command -v "$tool" >/dev/null || missing "'$tool' is not installed"; done
probe_dir=$(mktemp -d)
trap 'rm -rf "$probe_dir"' EXIT
printf '#include <cstddef>\n#include <cstdint>\nextern "C" int LLVMFuzzerTestOneInput(const uint8_t*, size_t) { return 0; }\n' >"$probe_dir/p.cpp"
clang++ -fsanitize=fuzzer,address,undefined "$probe_dir/p.cpp" -o "$probe_dir/p" 2>"$probe_dir/err" ||
  missing "clang++ cannot link -fsanitize=fuzzer,address,undefined (libFuzzer/sanitizer runtimes missing): $(head -c 300 "$probe_dir/err")"

# ---- build ----------------------------------------------------------------------------------------
t0=$(now_ms)
CC=clang CXX=clang++ cmake -S fuzz -B "$B" -G Ninja >"$probe_dir/cmake.log" 2>&1 || { cat "$probe_dir/cmake.log" >&2; echo "fuzz.sh: configure failed" >&2; exit 4; }
cmake --build "$B" -j"$JOBS" --target "${targets[@]/#/fuzz_}" || { echo "fuzz.sh: build failed" >&2; exit 4; }
echo "fuzz.sh: build $(since "$t0") s"

dict_args() { [[ -f fuzz/dict/$1.dict ]] && echo "-dict=fuzz/dict/$1.dict"; }

# One line saying what went wrong in a crash log: a failed harness check, UBSan's "runtime error",
# the sanitizer SUMMARY, an uncaught exception, or libFuzzer's own ERROR line (timeout, OOM, ...).
crash_summary() {
  local s="" pat
  for pat in 'FUZZ_CHECK failed' 'runtime error: ' '^SUMMARY: ' 'what\(\): |terminate called' 'ERROR: libFuzzer: '; do
    s=$(grep -m1 -E "$pat" "$1") && break
  done
  s=${s#SUMMARY: }
  s=${s//$PWD\//}
  echo "${s:-(no summary; see $1)}"
}

# ---- --corpus-only: every committed input once ----------------------------------------------------
if [[ $mode == corpus ]]; then
  fail=0
  t1=$(now_ms)
  for t in "${targets[@]}"; do
    shopt -s nullglob
    files=(fuzz/corpus/"$t"/*)
    shopt -u nullglob
    art="$B/corpus-only/$t"
    rm -rf "$art" && mkdir -p "$art"
    s0=$(now_ms)
    if ((${#files[@]} == 0)); then
      printf '%-12s no inputs in fuzz/corpus/%s\n' "$t" "$t"
      continue
    fi
    if "$B/fuzz_$t" "${COMMON[@]}" -artifact_prefix="$art/" "${files[@]}" >"$art/log" 2>&1; then
      printf '%-12s %3d inputs OK (%s s)\n' "$t" "${#files[@]}" "$(since "$s0")"
    else
      fail=1
      input=$(grep -E '^Running: ' "$art/log" | tail -1 | sed 's/^Running: //')
      printf '%-12s FAILED on %s: %s (log: %s)\n' "$t" "${input:-?}" "$(crash_summary "$art/log")" "$art/log"
    fi
  done
  echo "fuzz.sh: corpus run $(since "$t1") s"
  exit $fail
fi

# ---- fuzzing ----------------------------------------------------------------------------------------
# -fork=1: one child process at a time runs the fuzzing; a crash, timeout or OOM is saved to
# fuzz/findings/<target>/ and the parent starts the next job, so one known bug does not stop the run.
summary=()
any_crash=0
for t in "${targets[@]}"; do
  scratch="$B/corpus/$t" findings="fuzz/findings/$t" log="$B/logs/$t.log"
  mkdir -p "$scratch" "$findings" "$B/logs"
  before=$(find "$scratch" -type f | wc -l)
  echo "== fuzz_$t: ${seconds} s (new inputs: $scratch/, findings: $findings/, log: $log)"
  # shellcheck disable=SC2046
  "$B/fuzz_$t" -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 "${COMMON[@]}" -max_total_time="$seconds" \
    -print_final_stats=1 -artifact_prefix="$findings/" $(dict_args "$t") "$scratch" "fuzz/corpus/$t" >"$log" 2>&1
  # Status lines: "#12345: cov: 1029 ft: 862 corp: 100 exec/s 24838 oom/timeout/crash: 0/0/15 time: 15s job: 16"
  status=$(grep -E '^#[0-9]+: cov: ' "$log")
  execs=$(tail -1 <<<"$status" | grep -oE '^#[0-9]+' | tr -d '#')
  cov0=$(head -1 <<<"$status" | grep -oE 'cov: [0-9]+' | grep -oE '[0-9]+')
  cov1=$(tail -1 <<<"$status" | grep -oE 'cov: [0-9]+' | grep -oE '[0-9]+')
  otc=$(tail -1 <<<"$status" | grep -oE 'oom/timeout/crash: [0-9/]+' | grep -oE '[0-9/]+$')
  IFS=/ read -r ooms timeouts crashes <<<"${otc:-0/0/0}"
  new=$(($(find "$scratch" -type f | wc -l) - before))
  line=$(printf '%-12s %9s execs  +%d inputs  cov %s -> %s  crashes %d, timeouts %d, OOMs %d' "$t" "${execs:-?}" "$new" \
    "${cov0:-?}" "${cov1:-?}" "$crashes" "$timeouts" "$ooms")
  echo "   $line"
  # Distinct findings: the first line of each child's report, values stripped ("N x <what>").
  grep -E 'FUZZ_CHECK failed|runtime error: |^SUMMARY: |ERROR: libFuzzer: (timeout|out-of-memory|deadly)|terminate called' "$log" |
    awk -v pwd="$PWD/" '{
      while ((j = index($0, pwd)) > 0) $0 = substr($0, 1, j - 1) substr($0, j + length(pwd))
      sub(/^SUMMARY: /, "")
      if ((i = index($0, "runtime error: ")) > 0) {
        msg = substr($0, i); gsub(/-?[0-9][0-9.e+x-]*|-?nan|-?inf/, "N", msg); $0 = substr($0, 1, i - 1) msg
      }
      print }' |
    sort | uniq -c | sort -rn | sed 's/^/     /'
  summary+=("$line")
  ((ooms + timeouts + crashes)) && any_crash=1
  if ((merge)); then
    "$B/fuzz_$t" -merge=1 "${COMMON[@]}" "fuzz/corpus/$t" "$scratch" >"$B/logs/$t.merge.log" 2>&1 &&
      echo "   merged into fuzz/corpus/$t: $(grep -oE 'MERGE-OUTER: [0-9]+ new files' "$B/logs/$t.merge.log")"
  fi
done
echo "== summary (executions, new inputs in the scratch corpus, coverage first -> last status line, findings)"
printf '%s\n' "${summary[@]}"
((any_crash)) && echo "findings are in fuzz/findings/<target>/; reproduce one with: $B/fuzz_<target> FILE"
exit $any_crash
