#!/usr/bin/env bash
# The speed benchmarks on a lent GPU machine (see ../shared/GPU.md), on Keras's JAX backend.
# Needs .gpu/whl (Keras and the pure-Python dependencies the machine lacks) and .gpu/data, made by
#   make gpu-wheels
# Results go to $OUT (or /tmp/gpu-out).
set -euo pipefail
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
rm -rf /tmp/site && python3 -m pip install -q --no-index --no-deps --target /tmp/site .gpu/whl/*.whl
export PYTHONPATH=/tmp/site:$PWD KERAS_BACKEND=jax FASHIONLAB_DATA=$PWD/.gpu/data XLA_PYTHON_CLIENT_PREALLOCATE=false
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -c "import jax, keras; print(jax.devices(), 'jax', jax.__version__, 'keras', keras.__version__)" | tee -a "$OUT/gpu.txt"
python3 bench/train_speed.py --epochs 5 --repeats 1 2> "$OUT/train_speed.log" | tee "$OUT/train_speed.md"
python3 bench/concurrency.py --jobs 4 --trials 4 --epochs 30 2> "$OUT/concurrency.log" | tee "$OUT/concurrency.json"
# Issue 16: populations (one vmapped program) against trials one after another and in 4 processes
python3 bench/population.py 2> "$OUT/population.log" | tee "$OUT/population.md"
