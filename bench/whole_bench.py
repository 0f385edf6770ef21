"""Benchmark of the whole-vector kernels against the scalar Adam, measured side by side in one run.

    python bench/whole_bench.py [--quick]

Prints, for every optimizer of the registry whose kernel takes the whole
parameter (Muon, Shampoo, SOAP, L-BFGS, SAM, ...):
1. ns per cell-step of a sweep (a 64 x 64 grid of starts on Rosenbrock, 300
   steps) and its ratio to Adam's sweep of the same grid: whole kernels run
   one trajectory after another, except those with a cells form (Muon,
   Shampoo, SOAP), which step a block of cells side by side as Adam's do;
2. ns per step of one trajectory and its ratio to Adam's;
3. for L-BFGS, when bench/lbfgs_rosenbrock.c is there, the ratio to that C
   loop of the same algorithm (torch's two-loop recursion and strong-Wolfe
   line search), both run from the start over the steps until L-BFGS stands
   still, best of many runs each.
Ratios are medians of per-round ratios, so shared-machine noise hits both
sides of each ratio alike. Targets: Muon, Shampoo and SOAP <= 3x Adam per
sweep step; L-BFGS <= 1.5x the C loop.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import core  # noqa: E402

START = (-1.2, 1.0)
TARGETS = {"muon": 3.0, "shampoo": 3.0, "soap": 3.0}


def hp_for(spec) -> dict:
    hp = spec.defaults
    hp["lr"] = min(max(hp["lr"], 1e-3), 1e-2)
    return hp


def sweep_ns(optimizer: str, hp: dict, n: int, steps: int) -> float:
    grid = {"x": np.linspace(-1.5, 1.5, n), "y": np.linspace(-0.5, 2.0, n)}
    t = time.perf_counter()
    core.sweep("rosenbrock", optimizer, START, steps, grid, hp)
    return (time.perf_counter() - t) / (n * n * steps) * 1e9


def trajectory_ns(optimizer: str, hp: dict, steps: int) -> float:
    run = core.Run("rosenbrock", optimizer, START, steps, hp)
    t = time.perf_counter()
    run.advance(steps)
    return (time.perf_counter() - t) / max(run.done_steps, 1) * 1e9


# L-BFGS as bench/lbfgs_rosenbrock.c runs it: lr 1, strong Wolfe, and max_eval 25, since the default 1
# leaves the line search no evaluation beyond its first trial and the run never leaves the start.
LBFGS_HP = {"lr": 1.0, "line_search": 1.0, "max_eval": 25}
LBFGS_REPEATS = 200  # the C's runs per call: one run is a few dozen steps, microseconds


def lbfgs_work_steps(limit: int) -> int:
    """Steps until L-BFGS from START stands still: after them every step repeats the last, with nothing to time."""
    points = core.trajectory("rosenbrock", "lbfgs", START, limit, LBFGS_HP).points
    moved = np.flatnonzero(np.any(points[1:] != points[:-1], axis=1))
    return int(moved[-1]) + 1 if moved.size else 1


def lbfgs_ns(steps: int) -> float:
    """Best ns per step over runs from START, each a fresh core.Run, timed as the C times its runs."""
    best = float("inf")
    for _ in range(LBFGS_REPEATS):
        run = core.Run("rosenbrock", "lbfgs", START, steps, LBFGS_HP)
        t = time.perf_counter()
        run.advance(steps)
        best = min(best, (time.perf_counter() - t) / max(run.done_steps, 1) * 1e9)
    return best


def c_lbfgs(steps: int, rounds: int) -> list[float] | None:
    """The C's best ns per step, one call per round; None without gcc or the source.

    Fails loudly if the C took other steps or ended elsewhere than the kernel: then the ratio means nothing.
    """
    source = ROOT / "bench" / "lbfgs_rosenbrock.c"
    gcc = shutil.which("gcc")
    if gcc is None or not source.exists():
        return None
    exe = Path(tempfile.mkdtemp()) / "lbfgs_rosenbrock"
    subprocess.run([gcc, "-O2", "-o", str(exe), str(source), "-lm"], check=True)
    final = core.trajectory("rosenbrock", "lbfgs", START, steps, LBFGS_HP).points[-1]
    out = []
    for _ in range(rounds):
        ns, x, y, taken = subprocess.run([str(exe), str(steps)], capture_output=True, text=True,
                                         check=True).stdout.split()[:4]
        if int(taken) != steps or abs(float(x) - final[0]) > 1e-12 or abs(float(y) - final[1]) > 1e-12:
            raise SystemExit(f"the C took {taken} steps to ({x}, {y}); the kernel {steps} to {tuple(final)}")
        out.append(float(ns))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and a smaller grid")
    args = parser.parse_args()
    rounds = 3 if args.quick else 7
    n, steps, traj_steps = (32, 200, 20_000) if args.quick else (64, 300, 100_000)
    core.warm()
    adam = core.OPTIMIZERS["adam"]
    whole = [s for s in core.OPTIMIZERS.values() if s.whole]
    print(f"1. sweep of {n} x {n} starts x {steps} steps on Rosenbrock (ns per cell-step), and 2. one trajectory (ns per step)")
    print(f"   {'optimizer':<22}{'sweep':>9}{'/ Adam':>9}{'trajectory':>12}{'/ Adam':>9}   target")
    for spec in whole:
        hp = hp_for(spec)
        sw, sa, tw, ta = [], [], [], []
        for _ in range(rounds):
            sa.append(sweep_ns("adam", hp_for(adam), n, steps))
            sw.append(sweep_ns(spec.id, hp, n, steps))
            ta.append(trajectory_ns("adam", hp_for(adam), traj_steps))
            tw.append(trajectory_ns(spec.id, hp, traj_steps // 10))
        ratio = statistics.median(a / b for a, b in zip(sw, sa))
        tratio = statistics.median(a / b for a, b in zip(tw, ta))
        target = TARGETS.get(spec.id)
        verdict = "" if target is None else f"<= {target:g}x  {'OK' if ratio <= target else 'MISSED'}"
        print(f"   {spec.id:<22}{statistics.median(sw):9.1f}{ratio:8.1f}x{statistics.median(tw):12.1f}{tratio:8.1f}x   {verdict}")
    if "lbfgs" in core.OPTIMIZERS:
        work = lbfgs_work_steps(traj_steps // 10)
        c = c_lbfgs(work, rounds)
        if c is not None:
            ours = [lbfgs_ns(work) for _ in range(rounds)]
            ratio = statistics.median(a / b for a, b in zip(ours, c))
            print(f"3. L-BFGS trajectory, strong Wolfe, the {work} steps to standing still: "
                  f"core {statistics.median(ours):.1f} ns per step, C {statistics.median(c):.1f}: "
                  f"{ratio:.2f}x   target <= 1.5x  {'OK' if ratio <= 1.5 else 'MISSED'}")
        else:
            print("3. L-BFGS against C: bench/lbfgs_rosenbrock.c is not there (or no gcc)")

if __name__ == "__main__":
    main()
