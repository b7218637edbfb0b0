#!/usr/bin/env bash
# README command 2: install what is missing, build (Release), run the whole test suite with CTest.
# Tests that need ../shared/golden (SuperGradients reference data) skip with a message where it is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j2
# The libFuzzer harnesses (fuzz/) over their committed corpora: every seed and regression input once.
bash scripts/fuzz.sh --corpus-only
cd build
ctest --output-on-failure -j2 --timeout 900
