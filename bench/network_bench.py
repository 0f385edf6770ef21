"""Benchmark of the network surface against the issue's two targets, compiled kernels warmed first.

    python bench/network_bench.py [--rounds N]

1. Moons, a 2-16-16-2 MLP on 200 samples: 6 optimizers x 500 steps plus a
   51 x 51 plane (PCA of the runs), target 1 s;
2. Digits, a 64-32-10 MLP on all 1,797 samples, full batch: 6 optimizers x
   200 steps plus a 31 x 31 plane, target 10 s.
Prints the median of N rounds, its parts (training, plane) and its ratio to
the target, in wall time and in the CPU time every thread spent: on a machine
others load, wall time is theirs as much as ours, and the CPU time is the figure
to hold against a target meant for a server of its own.

The PCA plane's directions come from numpy's OpenBLAS, whose threads spin on a
loaded machine: on the shared 2-core machine at load 10-14, the moons case's SVD
took 10.3 s with its default threads and 0.47 s with OPENBLAS_NUM_THREADS=1. They
now come from the Gram matrix of the smaller side (core.network.principal_directions):
CPU time 0.02 s instead of 0.15 s (moons), 0.5 s instead of 1.8 s (digits).
Measured with OPENBLAS_NUM_THREADS=1 at load 11, one round: moons 1.33 s of CPU
time (train 0.82, plane 0.50; 3.4 s wall), digits 8.5 s of CPU time (train 6.4,
plane 2.1; 34 s wall). The training is the scalar kernels' loop around the
forward and backward passes, then about 60% tanh: numba called libm's for each
element. core.mlp now inlines glibc's tanh itself (the same bits), written so
the activation loop vectorizes: a 2-16-16-2 gradient on 200 samples 141 -> ~85 us,
the 51 x 51 plane on one thread 0.28 -> 0.18 s of CPU time. Moons, 5 rounds, at
load 2-3: wall 0.56 s (train 0.38, plane 0.19; best 0.52) = 0.56x the target,
CPU time 0.74 s; with OPENBLAS_NUM_THREADS=1 wall 0.58 s, CPU time 0.57 s. The
same rounds with the previous core.mlp and this one in turn (load 3-4.5):
training 0.57 / 0.40 s, then 0.69 / 0.41 s. The plane's figure swings with
OpenBLAS's threads, which busy-wait after the PCA's product beside the plane's
threads (0.2 to 2.6 s at load 3-5; digits 5.1 s against 1.4 s with one BLAS
thread): run the server with OPENBLAS_NUM_THREADS=1.
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


def once(network: dict, steps: int, resolution: int) -> tuple[float, float, float, float]:
    """(training, plane) wall times and (training, plane) CPU times of every thread, in seconds."""
    c0, t0 = time.process_time(), time.perf_counter()
    problem = core.network_problem(network)
    runs = [core.trajectory({"network": network}, o, steps=steps, hyperparameters={"lr": 0.01}) for o in OPTIMIZERS]
    c1, t1 = time.process_time(), time.perf_counter()
    core.landscape(problem, runs, "pca", resolution=resolution)
    c2, t2 = time.process_time(), time.perf_counter()
    return t1 - t0, t2 - t1, c1 - c0, c2 - c1


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    once(CASES[0][1], 2, 3)  # compile or load every kernel before timing
    for name, network, steps, resolution, target in CASES:
        times = [once(network, steps, resolution) for _ in range(args.rounds)]
        walls = [a + b for a, b, _, _ in times]
        cpus = [c + d for _, _, c, d in times]
        median, cpu = statistics.median(walls), statistics.median(cpus)
        part = [statistics.median(t[i] for t in times) for i in range(4)]
        print(f"{name}: {len(OPTIMIZERS)} x {steps} steps + {resolution}x{resolution} plane: wall {median:.2f} s "
              f"(train {part[0]:.2f} s, plane {part[1]:.2f} s; best {min(walls):.2f} s) = {median / target:.2f}x "
              f"the {target:g} s target; CPU time of all threads {cpu:.2f} s (train {part[2]:.2f} s, plane "
              f"{part[3]:.2f} s) = {cpu / target:.2f}x the target")


if __name__ == "__main__":
    main()
