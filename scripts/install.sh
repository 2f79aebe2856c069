#!/usr/bin/env bash
# Creates .venv/ at the repo root and installs rlsys into it.
# torch is installed first (the CPU build on a machine without a GPU) so that no other
# dependency can pull a CUDA build of torch. Re-running is cheap: it reinstalls only when
# pyproject.toml changed.
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
echo "$want" > "$stamp"
echo "[install] done: .venv/bin/rlsys"
