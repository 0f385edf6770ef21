"""Benchmark of the network surface against the issue's two targets, compiled kernels warmed first.

    python bench/network_bench.py [--rounds N]

1. Moons, a 2-16-16-2 MLP on 200 samples: 6 optimizers x 500 steps plus a
   51 x 51 plane (PCA of the runs), target 1 s;
2. Digits, a 64-32-10 MLP on all 1,797 samples, full batch: 6 optimizers x
   200 steps plus a 31 x 31 plane, target 10 s.
Prints the median of N rounds, its parts (training, plane) and its ratio to
the target; on a shared machine the minimum is printed too, and the CPU time every thread
spent (on a machine others load, wall time is theirs as much as ours).

The PCA plane's SVD runs in numpy's OpenBLAS, whose threads spin on a loaded
machine: on the shared 2-core machine at load 10-14, the moons case's SVD took
10.3 s with its default threads and 0.47 s with OPENBLAS_NUM_THREADS=1, with
which the moons case took 0.97 s of CPU time (3.3 s wall) and the digits case
8.2 s of CPU time (27 s wall).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import core  # noqa: E402

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "rmsprop", "adamw")
CASES = [
    ("moons 2-16-16-2, 200 samples", {"data": "moons", "samples": 200, "hidden": [16, 16]}, 500, 51, 1.0),
    ("digits 64-32-10, 1797 samples", {"data": "digits", "samples": 1797, "hidden": [32]}, 200, 31, 10.0),
]


def once(network: dict, steps: int, resolution: int) -> tuple[float, float]:
    global cpu
    c0 = time.process_time()
    t0 = time.perf_counter()
    problem = core.network_problem(network)
    runs = [core.trajectory({"network": network}, o, steps=steps, hyperparameters={"lr": 0.01}) for o in OPTIMIZERS]
    t1 = time.perf_counter()
    core.landscape(problem, runs, "pca", resolution=resolution)
    cpu = time.process_time() - c0
    return t1 - t0, time.perf_counter() - t1


cpu = 0.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    once(CASES[0][1], 2, 3)  # compile or load every kernel before timing
    for name, network, steps, resolution, target in CASES:
        times, cpus = [], []
        for _ in range(args.rounds):
            times.append(once(network, steps, resolution))
            cpus.append(cpu)
        totals = [a + b for a, b in times]
        median = statistics.median(totals)
        train = statistics.median(a for a, _ in times)
        plane = statistics.median(b for _, b in times)
        print(f"{name}: {len(OPTIMIZERS)} x {steps} steps + {resolution}x{resolution} plane: {median:.2f} s "
              f"(train {train:.2f} s, plane {plane:.2f} s; best {min(totals):.2f} s) = {median / target:.2f}x "
              f"the {target:g} s target; CPU time of all threads {statistics.median(cpus):.2f} s")


if __name__ == "__main__":
    main()
