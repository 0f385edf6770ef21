"""Gradscape's numeric core: optimizers stepping across analytic 2-D surfaces.

Pure numerics: nothing here knows of the web.
"""

from core import engine as _engine
from core.engine import (
    InvalidInput,
    Run,
    Sweep,
    SweepPlan,
    SweepRows,
    Trajectory,
    plan_sweep,
    surface_grid,
    sweep,
    sweep_rows,
)
from core import formula
from core import network as _network
from core.datasets import DATASETS
from core.network import Landscape, NetworkProblem, NetworkRun, landscape, network_problem
from core.explore import Basins, LrCurve, Tuning, basins, classify, tune_lr
from core.optimizers import OPTIMIZERS
from core.schedules import SCHEDULES
from core.surfaces import SURFACES


def warm() -> None:
    """Compile (or load from numba's disk cache) every kernel, the plane's loops and the network's, so no request
    waits for one."""
    _engine.warm()
    _network.warm()


def trajectory(surface, optimizer, start=None, steps=None, hyperparameters=None, schedule=None, noise=None,
               seed=0):
    """core.engine.trajectory on a 2-D surface; with surface = {"network": spec}, a small network trained by
    core.network (`start` its flat weights, by default its initial ones). Both raise InvalidInput naming the field.
    """
    train = _network.trajectory if isinstance(surface, dict) and "network" in surface else _engine.trajectory
    return train(surface, optimizer, start, steps, hyperparameters, schedule, noise, seed)


__all__ = [
    "OPTIMIZERS", "SURFACES", "SCHEDULES", "InvalidInput", "Run", "Sweep", "SweepPlan", "SweepRows",
    "Trajectory", "formula", "plan_sweep", "surface_grid", "sweep", "sweep_rows", "trajectory", "warm",
    "Basins", "LrCurve", "Tuning", "basins", "classify", "tune_lr",
    "DATASETS", "Landscape", "NetworkProblem", "NetworkRun", "landscape", "network_problem",
]
