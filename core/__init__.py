"""Gradscape's numeric core: optimizers stepping across analytic 2-D surfaces.

Pure numerics: nothing here knows of the web.
"""

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
    trajectory,
    warm,
)
from core import formula
from core.datasets import DATASETS
from core.network import Landscape, NetworkProblem, NetworkRun, landscape, network_problem
from core.explore import Basins, LrCurve, Tuning, basins, classify, tune_lr
from core.optimizers import OPTIMIZERS
from core.schedules import SCHEDULES
from core.surfaces import SURFACES

__all__ = [
    "OPTIMIZERS", "SURFACES", "SCHEDULES", "InvalidInput", "Run", "Sweep", "SweepPlan", "SweepRows",
    "Trajectory", "formula", "plan_sweep", "surface_grid", "sweep", "sweep_rows", "trajectory", "warm",
    "Basins", "LrCurve", "Tuning", "basins", "classify", "tune_lr",
    "DATASETS", "Landscape", "NetworkProblem", "NetworkRun", "landscape", "network_problem",
]
