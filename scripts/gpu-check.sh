#!/usr/bin/env bash
# The GPU check for a lent machine (an H200 with torch, transformers and peft; no vLLM, no Ray,
# no registry): learner GRPO step time / tokens/s / peak memory at Qwen3-4B's shape with the
# chunked vocabulary projection on and off, the same capped to 24 GiB against memory_plan's
# prediction, the HF engine's generation at that shape, and the collocated 24 GB preset briefly
# (the plan's settings for it; generate -> sleep -> learn -> wake with the learner and an HF
# engine sharing the capped card: peak per phase, phase_switch_s). At most 8 minutes; JSON to $OUT (or
# ./gpu-check.json). `scripts/gpu-check.sh --shape tiny` checks the script itself on a CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-.}/gpu-check.json"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-4}" TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1
echo "[gpu-check] writing $out (at most 480 s)"
timeout 480 "${PYTHON:-python3}" scripts/gpu_check.py --out "$out" "$@"
