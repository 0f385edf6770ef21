"""Classification data sets a network trains on: one block each, the spec followed by its maker.

Each maker turns (samples, noise, rng) into inputs X (samples x features,
float64) and integer labels y, made in-process from a seed: nothing is
downloaded, ever. `noise` is the standard deviation of Gaussian noise added
to the inputs. The 8x8 digits come from scikit-learn's copy inside its
wheel, when it is installed (the `digits` extra).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from core.spec import Registry


@dataclass
class DatasetSpec:
    """A data set: its features, classes, sample range and the default noise of its inputs."""

    id: str
    label: str
    help: str
    features: int
    classes: int
    max_samples: int
    noise: float = 0.0
    make: Callable | None = field(default=None, repr=False)
    code: int = -1

    def as_dict(self) -> dict:
        return {"id": self.id, "label": self.label, "help": self.help, "features": self.features,
                "classes": self.classes, "max_samples": self.max_samples, "noise": self.noise}


DATASETS: Registry = Registry()
MAX_POINTS = 5000  # samples of a made 2-D data set


def maker(spec: DatasetSpec):
    """Decorator: attach the function that makes a data set to its spec."""

    def attach(fn):
        spec.make = fn
        return fn

    return attach


def _split(n: int) -> tuple[int, int]:
    return n // 2, n - n // 2


def _shuffled(X, y, rng):
    order = rng.permutation(len(y))
    return X[order], y[order]


# --- moons -----------------------------------------------------------------
MOONS = DATASETS.add(DatasetSpec(
    id="moons", label="Two moons", features=2, classes=2, max_samples=MAX_POINTS, noise=0.1,
    help="Two interleaved half circles (scikit-learn's make_moons).",
))


@maker(MOONS)
def moons(n, noise, rng):
    n_out, n_in = _split(n)
    a, b = np.linspace(0.0, np.pi, n_out), np.linspace(0.0, np.pi, n_in)
    X = np.concatenate([np.stack([np.cos(a), np.sin(a)], 1), np.stack([1.0 - np.cos(b), 0.5 - np.sin(b)], 1)])
    y = np.concatenate([np.zeros(n_out, np.int64), np.ones(n_in, np.int64)])
    return _shuffled(X + noise * rng.standard_normal(X.shape), y, rng)


# --- circles ---------------------------------------------------------------
CIRCLES = DATASETS.add(DatasetSpec(
    id="circles", label="Circles", features=2, classes=2, max_samples=MAX_POINTS, noise=0.05,
    help="A circle inside another of twice its radius (scikit-learn's make_circles, factor 0.5).",
))


@maker(CIRCLES)
def circles(n, noise, rng):
    n_out, n_in = _split(n)
    a = np.linspace(0.0, 2 * np.pi, n_out, endpoint=False)
    b = np.linspace(0.0, 2 * np.pi, n_in, endpoint=False)
    X = np.concatenate([np.stack([np.cos(a), np.sin(a)], 1), 0.5 * np.stack([np.cos(b), np.sin(b)], 1)])
    y = np.concatenate([np.zeros(n_out, np.int64), np.ones(n_in, np.int64)])
    return _shuffled(X + noise * rng.standard_normal(X.shape), y, rng)


# --- spirals ---------------------------------------------------------------
SPIRALS = DATASETS.add(DatasetSpec(
    id="spirals", label="Two spirals", features=2, classes=2, max_samples=MAX_POINTS, noise=0.05,
    help="Two arms winding one and a half turns around each other.",
))


@maker(SPIRALS)
def spirals(n, noise, rng):
    sizes = _split(n)
    parts, labels = [], []
    for c, m in enumerate(sizes):
        r = np.linspace(0.1, 1.0, m)
        angle = 3 * np.pi * r + c * np.pi
        parts.append(np.stack([r * np.cos(angle), r * np.sin(angle)], 1))
        labels.append(np.full(m, c, np.int64))
    X, y = np.concatenate(parts), np.concatenate(labels)
    return _shuffled(X + noise * rng.standard_normal(X.shape), y, rng)


# --- xor -------------------------------------------------------------------
XOR = DATASETS.add(DatasetSpec(
    id="xor", label="XOR", features=2, classes=2, max_samples=MAX_POINTS, noise=0.0,
    help="Points in [-1, 1]², labelled by whether x and y have the same sign.",
))


@maker(XOR)
def xor(n, noise, rng):
    X = rng.uniform(-1.0, 1.0, (n, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(np.int64)
    return X + noise * rng.standard_normal(X.shape), y


# --- blobs -----------------------------------------------------------------
BLOBS = DATASETS.add(DatasetSpec(
    id="blobs", label="Three blobs", features=2, classes=3, max_samples=MAX_POINTS, noise=0.3,
    help="Three round clusters around the corners of a triangle; noise is their spread.",
))


@maker(BLOBS)
def blobs(n, noise, rng):
    y = np.arange(n, dtype=np.int64) % 3
    angle = 2 * np.pi * y / 3 + np.pi / 2
    X = np.stack([np.cos(angle), np.sin(angle)], 1) + noise * rng.standard_normal((n, 2))
    return _shuffled(X, y, rng)


# --- digits ----------------------------------------------------------------
DIGITS = DATASETS.add(DatasetSpec(
    id="digits", label="8×8 digits", features=64, classes=10, max_samples=1797, noise=0.0,
    help="1,797 handwritten digits, 8×8 pixels scaled to [0, 1] (UCI, as scikit-learn ships them).",
))


class Unavailable(Exception):
    """A data set whose package is not installed."""


@maker(DIGITS)
def digits(n, noise, rng):
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise Unavailable("the digits need scikit-learn (pip install 'gradscape[digits]')") from None
    data = load_digits()
    # A seeded subset, so a small sample still holds every class in proportion.
    pick = np.sort(rng.permutation(len(data.target))[:n])
    X = data.data[pick] / 16.0
    return X + noise * rng.standard_normal(X.shape), data.target[pick].astype(np.int64)


def make(name: str, samples: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A data set's inputs and labels for this seed; names and ranges are checked by the caller."""
    rng = np.random.default_rng([seed, 2])
    X, y = DATASETS[name].make(samples, noise, rng)
    return np.ascontiguousarray(X, dtype=float), np.ascontiguousarray(y, dtype=np.int64)
