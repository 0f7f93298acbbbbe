#!/usr/bin/env bash
# One accelerator check in under 8 minutes, one JSON: QANet R-50c / HRNet-W48 training steps at
# 512x384 (batch 32, bf16 AMP, channels_last: step time, peak memory), parser crops/s (bf16,
# batch 64), detector + parser + QAM images/s, MMAN step with and without discriminators.
#
#   bash benchmarks/gpu_check.sh                                   # GPU 0 -> output/bench/gpu_check.json
#   bash benchmarks/gpu_check.sh --device cpu --tiny --json /tmp/g.json   # CPU smoke run (CI)
#
# Extra arguments go to benchmarks/gpu_check.py (--parts train,parser,e2e,mman, --json PATH).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PY:-$ROOT/.venv/bin/python}"
[[ -x "$PY" ]] || PY="$(command -v python3)"
LIMIT="${GPU_CHECK_LIMIT_S:-480}"  # the whole check must fit in 8 minutes
exec timeout --signal=INT --kill-after=20 "$LIMIT" "$PY" "$ROOT/benchmarks/gpu_check.py" "$@"
