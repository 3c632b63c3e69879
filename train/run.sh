#!/usr/bin/env bash
# Train on corpus shards:  train/run.sh CONFIG.yaml [key=value ...]
#   NPROC      processes on this machine through torchrun (default 1; NPROC=8 on an 8-GPU node, NPROC=2 on CPU with gloo)
#   ENGINE     torch (default: train/trainer.py) or nanotron (writes OUT_DIR/nanotron_config.yaml from the same config and
#              runs $NANOTRON_DIR/run_train.py with it; see train/nanotron.py for what nanotron itself needs)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 1 ]; then
  echo "usage: train/run.sh CONFIG.yaml [key=value ...]   (configs in train/configs/; python -m train --help)" >&2
  exit 2
fi
PY=${PYTHON:-.venv/bin/python}
NPROC=${NPROC:-1}
if [ "${ENGINE:-torch}" = "nanotron" ]; then
  if [ -z "${NANOTRON_DIR:-}" ] || [ ! -f "$NANOTRON_DIR/run_train.py" ]; then
    echo "error: ENGINE=nanotron needs NANOTRON_DIR set to a nanotron checkout (with run_train.py) installed in this environment" >&2
    exit 2
  fi
  out=$("$PY" -c "import sys; from train.trainer import load_config; print(load_config(sys.argv[1], sys.argv[2:])['out_dir'])" "$@")
  mkdir -p "$out"
  NPROC=$NPROC "$PY" -m train.nanotron "$@" > "$out/nanotron_config.yaml"
  echo "nanotron config: $out/nanotron_config.yaml"
  exec "$PY" -m torch.distributed.run --standalone --nproc_per_node="$NPROC" "$NANOTRON_DIR/run_train.py" --config-file "$out/nanotron_config.yaml"
fi
exec "$PY" -m torch.distributed.run --standalone --nproc_per_node="$NPROC" -m train "$@"
