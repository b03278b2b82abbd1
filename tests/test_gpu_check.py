"""bench/gpu_check.py, the first-GPU acceptance run, in its CPU mode: the script itself
runs end to end, so it is ready (not rotten) when a GPU comes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_check_runs_on_the_cpu_in_quick_mode(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "DCGAN_BENCH_RESULTS": str(tmp_path)}
    cmd = [sys.executable, str(ROOT / "bench" / "gpu_check.py"), "--device", "cpu", "--quick"]
    got = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert got.returncode == 0, got.stdout + got.stderr
    result = json.loads((tmp_path / "gpu_check.json").read_text())
    checks = {k: v for k, v in result.items() if isinstance(v, dict) and "ok" in v}
    assert len(checks) == 6 and all(v["ok"] for v in checks.values()), checks
    assert result["exact resume"]["max_abs_diff"] == 0.0  # CPU kernels are deterministic
    assert result["torchrun (nccl on GPUs)"]["step"] == 4
    assert result["machine"]["cpu"] and result["command"].startswith("python bench/gpu_check.py")
