"""The benchmarks' C references compute what the kernels compute, so their ratios compare like with like."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

import core

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is not installed")
def test_lbfgs_c_reference_ends_where_the_kernel_does(tmp_path):
    # 50 steps pass the thirty-odd that L-BFGS takes to stand still, so the C's stop at the
    # still point is checked too; its hyperparameters are the ones the C fixes.
    exe = tmp_path / "lbfgs_rosenbrock"
    subprocess.run(["gcc", "-O2", "-o", str(exe), str(ROOT / "bench" / "lbfgs_rosenbrock.c"), "-lm"], check=True)
    out = subprocess.run([str(exe), "50"], capture_output=True, text=True, check=True).stdout.split()
    ns, x, y = float(out[0]), float(out[1]), float(out[2])
    run = core.trajectory("rosenbrock", "lbfgs", (-1.2, 1.0), 50, {"lr": 1.0, "line_search": 1, "max_eval": 25})
    assert ns > 0
    # The run must have left the start, or agreement would prove nothing.
    assert abs(run.points[-1][0] - 1.0) < 1e-3 and abs(run.points[-1][1] - 1.0) < 1e-3
    assert x == pytest.approx(run.points[-1][0], abs=1e-12)
    assert y == pytest.approx(run.points[-1][1], abs=1e-12)
