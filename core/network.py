"""A small real network as one more surface: its problem, its runs and the plane of its landscape.

`network_problem(spec)` builds a multilayer perceptron on a data set made from
a seed (core.datasets); `trajectory({"network": spec}, optimizer, ...)` trains
it with the registry's kernels, and `landscape(...)` evaluates its loss on a
plane through weight space (Li et al. 2018) with the runs' paths projected on it.

The optimizers' kernels are the ones the 2-D surfaces use: a scalar kernel
steps every weight as it steps x and y; a whole-vector kernel sees the flat
weight vector where its reference flattens the parameters too (torch's L-BFGS,
SAM's global norm, Prodigy, Schedule-Free), and runs once per nn.Linear weight
and bias where its reference steps each tensor of model.parameters() on its
own (LAMB's trust ratio, MARS's clipped correction). Adafactor's factored moments
and Muon's Newton-Schulz and Shampoo's preconditioners on both sides of a weight
matrix have a matrix form of their own (core.tensors), Shampoo's biases a vector
form, and Muon's biases are AdamW's. SOAP keeps a basis on each side of a weight
matrix and one on a bias where precondition_1d is on (core.tensors), its
refreshes' float32 QR rounded as torch's: it matches pytorch_optimizer's runs to
1e-8 where the first statistics have no repeated eigenvalue; within one, its
basis is a valid one but not LAPACK's. Newton and Sophia
take the network's exact Hessian, for networks of at most MAX_HESSIAN_PARAMS
weights.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
import os
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core import datasets as _datasets
from core import engine as _engine
from core import mlp as _mlp
from core import schedules as _schedules
from core import tensors as _tensors
from core.engine import InvalidInput, Trajectory
from core.optimizers import OPTIMIZERS
from core.spec import OptimizerSpec

MAX_HIDDEN_LAYERS = 4
MAX_WIDTH = 256
MAX_PARAMS = 100_000
MIN_SAMPLES = 4
MAX_NOISE = 2.0
MAX_RESOLUTION = 201
# Multiply-adds (batch x weights) of one advance at most: a caller checking a time limit or a disconnect
# between advances (the API's compute door asks for 32,768 steps at once) gets a turn every ~10 ms.
ADVANCE_WORK = 1 << 22
# Whole-vector kernels whose reference also treats every parameter as one vector.
ONE_VECTOR = ("sam", "lbfgs", "prodigy", "schedulefree_adamw", "schedulefree_sgd")
# Whole-vector kernels that need the Hessian: the network's is exact (core.mlp.network_hessian, one Hessian-vector
# product per weight), and it and the n x n state cost n times a gradient's work and n^2 numbers, so they train
# networks of at most MAX_HESSIAN_PARAMS weights.
HESSIAN = ("newton", "sophia")
MAX_HESSIAN_PARAMS = 500
# Whole-vector kernels whose reference steps each tensor of model.parameters() on its own (LAMB's trust ratio,
# MARS's clipped correction are per tensor): the kernel runs once per nn.Linear weight and once per bias, a
# weight matrix through core.tensors' matrix form where the optimizer has one (Adafactor's factored moments, Muon,
# Shampoo, SOAP), a bias through its vector form where the registry's kernel is written for the plane only (Shampoo,
# SOAP).
PER_TENSOR = ("lamb", "mars", "adafactor", "muon", "shampoo", "soap")
# What a per-tensor kernel's reference does on a weight matrix whatever the hyperparameter says: MARS's
# optimize_1d only chooses between MARS and AdamW for 1-D tensors.
MATRIX_HYPERPARAMETERS = {"mars": {"optimize_1d": 1.0}}
SPEC_KEYS = ("data", "samples", "hidden", "activation", "seed", "noise", "batch_size")


# --- the problem ----------------------------------------------------------------

def resolve_spec(spec, field: str = "network") -> dict:
    """A network spec checked against the limits, with its defaults filled in; raises InvalidInput."""
    if not isinstance(spec, dict):
        raise InvalidInput(field, 'must be an object such as {"data": "moons", "samples": 200, "hidden": [16, 16]}')
    for key in spec:
        if key not in SPEC_KEYS:
            raise InvalidInput(f"{field}.{key}", f"unknown name {key!r}; allowed: {', '.join(SPEC_KEYS)}")
    name = spec.get("data", "moons")
    if not isinstance(name, str) or name not in _datasets.DATASETS:
        raise InvalidInput(f"{field}.data", f"unknown data {name!r}; allowed: {', '.join(_datasets.DATASETS)}")
    data = _datasets.DATASETS[name]
    samples = _engine._integer(f"{field}.samples", spec.get("samples", min(200, data.max_samples)), MIN_SAMPLES,
                               data.max_samples)
    hidden = spec.get("hidden", [16, 16])
    if not isinstance(hidden, (list, tuple)):
        raise InvalidInput(f"{field}.hidden", "must be a list of layer widths such as [16, 16]")
    if len(hidden) > MAX_HIDDEN_LAYERS:
        raise InvalidInput(f"{field}.hidden", f"{len(hidden)} hidden layers is more than the limit of {MAX_HIDDEN_LAYERS}")
    hidden = [_engine._integer(f"{field}.hidden[{i}]", h, 1, MAX_WIDTH) for i, h in enumerate(hidden)]
    activation = spec.get("activation", "tanh")
    if not isinstance(activation, str) or activation not in _mlp.ACTIVATIONS:
        raise InvalidInput(f"{field}.activation", f"unknown activation {activation!r}; allowed: {', '.join(_mlp.ACTIVATIONS)}")
    seed = _engine._integer(f"{field}.seed", spec.get("seed", 0), 0, 2**63 - 1)
    noise = _engine._number(f"{field}.noise", spec.get("noise", data.noise))
    if not 0.0 <= noise <= MAX_NOISE:
        raise InvalidInput(f"{field}.noise", f"{field}.noise = {noise:g} is outside [0, {MAX_NOISE:g}]")
    batch_size = spec.get("batch_size")
    if batch_size is not None:
        batch_size = _engine._integer(f"{field}.batch_size", batch_size, 1, samples)
    sizes = [data.features, *hidden, data.classes]
    n_params = sum(o * i + o for i, o in zip(sizes[:-1], sizes[1:]))
    if n_params > MAX_PARAMS:
        raise InvalidInput(f"{field}.hidden", f"{' x '.join(map(str, sizes))} has {n_params} weights, more than the "
                           f"limit of {MAX_PARAMS}")
    out = {"data": name, "samples": samples, "hidden": hidden, "activation": activation, "seed": seed, "noise": noise}
    if batch_size is not None:
        out["batch_size"] = batch_size
    return out


class Minibatches:
    """Per-step minibatches of sample indices, drawn epoch by epoch without replacement.

    The same draws as the 2-D regression surface's minibatches (a shuffled
    epoch cut into whole batches, the remainder dropped); the draws do not
    depend on how a run is chunked.
    """

    def __init__(self, n: int, batch_size: int, seed: int):
        self.n, self.batch_size = n, batch_size
        self.per_epoch = n // batch_size
        self.rng = np.random.default_rng(seed)
        self.rows_done = np.empty((0, batch_size))

    def rows(self, k0: int, k1: int) -> np.ndarray:
        while self.rows_done.shape[0] < k1:
            need = k1 - self.rows_done.shape[0]
            epochs = min(max(1, -(-need // self.per_epoch)), max(1, 200_000 // self.n))
            order = np.argsort(self.rng.random((epochs, self.n)), axis=1)
            idx = order[:, : self.per_epoch * self.batch_size].reshape(-1, self.batch_size)
            self.rows_done = np.concatenate([self.rows_done, idx.astype(float)])
        return self.rows_done[k0:k1]


class NetworkProblem:
    """A multilayer perceptron on a data set: data, parameter shapes, initial weights and the loss.

    `shapes` are torch nn.Linear's, weight (out, in) then bias (out,) for each
    layer; a flat weight vector is their concatenation, row-major.
    """

    def __init__(self, spec):
        self.spec = resolve_spec(spec)
        s = self.spec
        try:
            self.X, self.y = _datasets.make(s["data"], s["samples"], s["noise"], s["seed"])
        except _datasets.Unavailable as e:
            raise InvalidInput("network.data", str(e)) from None
        data = _datasets.DATASETS[s["data"]]
        self.sizes = (data.features, *s["hidden"], data.classes)
        self.shapes = []
        for n_in, n_out in zip(self.sizes[:-1], self.sizes[1:]):
            self.shapes += [(n_out, n_in), (n_out,)]
        self.n_params = sum(math.prod(shape) for shape in self.shapes)
        self.P = np.concatenate([[len(self.sizes) - 1, _mlp.ACTIVATIONS[s["activation"]]], self.sizes,
                                 [len(self.y)], self.X.ravel(), self.y.astype(float)])
        self.all = np.arange(len(self.y), dtype=np.int64)

    def init(self, seed: int = 0) -> np.ndarray:
        """Flat initial weights drawn as torch's nn.Linear draws them, but from numpy's generator.

        Weights ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (kaiming_uniform_ with a = sqrt(5))
        and biases from the same bound, layer by layer, weight before bias. torch's
        own generator cannot be reproduced without torch, so the draws come from
        numpy.random.default_rng([seed, 3]); to compare with torch, load these
        weights into its nn.Linear layers.
        """
        seed = _engine._integer("seed", seed, 0, 2**63 - 1)
        rng = np.random.default_rng([seed, 3])
        parts = []
        for shape in self.shapes:
            bound = 1.0 / math.sqrt(self.sizes[len(parts) // 2])
            parts.append(rng.uniform(-bound, bound, shape).ravel())
        return np.concatenate(parts)

    def weights(self, w, field: str = "weights") -> np.ndarray:
        """w as a flat float64 vector of this network's size; raises InvalidInput."""
        try:
            arr = np.asarray(w, dtype=float).ravel()
        except (TypeError, ValueError):
            raise InvalidInput(field, f"must be a list of {self.n_params} numbers") from None
        if arr.size != self.n_params:
            raise InvalidInput(field, f"has {arr.size} numbers; this network has {self.n_params} weights")
        if not np.all(np.isfinite(arr)):
            raise InvalidInput(field, "must be finite numbers")
        return np.ascontiguousarray(arr)

    def loss(self, w, idx=None) -> float:
        """The mean cross-entropy over every sample (or over idx) at weights w."""
        idx = self.all if idx is None else np.ascontiguousarray(idx, dtype=np.int64)
        return self.loss_and_gradient(w, idx)[0]

    def loss_and_gradient(self, w, idx=None) -> tuple[float, np.ndarray]:
        w = self.weights(w)
        idx = self.all if idx is None else np.ascontiguousarray(idx, dtype=np.int64)
        g = np.empty_like(w)
        f = _mlp.network_gradient(self.P, idx.astype(float)[None, :], 0, w, g)
        return f, g

    def losses(self, weights: np.ndarray) -> np.ndarray:
        """The full-data loss at every row of weights."""
        weights = np.ascontiguousarray(weights, dtype=float)
        out = np.empty(len(weights))
        _mlp.path_losses(self.P, self.all, weights, out)
        return out

    def batches(self, seed: int):
        """(source of per-step batch rows or None, the fixed row when full batch)."""
        size = self.spec.get("batch_size")
        if size is None or size >= len(self.y):
            return None, np.ascontiguousarray(self.all.astype(float)[None, :])
        return Minibatches(len(self.y), size, int(np.random.SeedSequence(seed).generate_state(1)[0])), None


def network_problem(spec) -> NetworkProblem:
    """The network a spec describes: X, y, shapes, init(seed) and loss(w)."""
    return NetworkProblem(spec)


# --- the generated loops -----------------------------------------------------------

_TEMPLATE = '''\
# Generated by core.network from the registry; edits here are overwritten.
import numpy as np
from numba import njit
from {engine} import gradient_at
{imports}

_cached = dict(cache=True, error_model="numpy", nogil=True)


@njit(**_cached)
def run_scalar(oc, sc, k0, k1, total, p, g, h, s, P, Q, q_step, lr_a, lr_b, noise, noise_step, weights, losses,
               grads, lrs):
    """Steps k0..k1-1 of a scalar kernel over every weight; returns the step that left finite numbers, or -1."""
    n = p.shape[0]
    last = k1 + 1 if k1 == total else k1
    for k in range(k0, last):
        j = k - k0
        f = gradient_at((sc, P, Q, min(j, k1 - k0 - 1) * q_step, noise, min(j, k1 - k0 - 1) * noise_step), p, g)
        losses[k] = f
        z = f - f
        for i in range(n):
            z += g[i] - g[i]
        if z != 0.0:
            return k
        if k == total:
            break
        t = k + 1
        lr_t = lr_a[j] * h[0] + lr_b[j]
{scalar_update}
        lrs[k] = lr_t
        for i in range(n):
            weights[k + 1, i] = p[i]
            grads[k, i] = g[i]
            z += p[i] - p[i]
        if z != 0.0:
            return k + 1
    return -1


@njit(**_cached)
def run_whole(oc, sc, k0, k1, total, p, g, h, s, P, Q, q_step, lr_a, lr_b, noise, noise_step, weights, losses,
              grads, lrs):
    """Steps k0..k1-1 of a whole-vector kernel on the flat weights; returns the step that left finite numbers, or -1."""
    n = p.shape[0]
    last = k1 + 1 if k1 == total else k1
    for k in range(k0, last):
        j = k - k0
        surf = (sc, P, Q, min(j, k1 - k0 - 1) * q_step, noise, min(j, k1 - k0 - 1) * noise_step)
        f = gradient_at(surf, p, g)
        losses[k] = f
        z = f - f
        for i in range(n):
            z += g[i] - g[i]
        if z != 0.0:
            return k
        if k == total:
            break
        t = k + 1
        lr_t = lr_a[j] * h[0] + lr_b[j]
{whole_update}
        lrs[k] = lr_t
        for i in range(n):
            weights[k + 1, i] = p[i]
            grads[k, i] = g[i]
            z += p[i] - p[i]
        if z != 0.0:
            return k + 1
    return -1


@njit(**_cached)
def run_tensors(oc, sc, k0, k1, total, pw, gw, H, sw, bounds, P, Q, q_step, lr_a, lr_b, noise, noise_step, weights,
                losses, grads, lrs):
    """Steps k0..k1-1 of a whole-vector kernel on each parameter tensor apart: row r of bounds holds tensor r's
    weights [bounds[r, 0], bounds[r, 1]), its state [bounds[r, 2], bounds[r, 3]) and, for a matrix, its rows and
    columns (0 for a bias); row r of H its hyperparameters."""
    m = pw.shape[0]
    last = k1 + 1 if k1 == total else k1
    for k in range(k0, last):
        j = k - k0
        surf = (sc, P, Q, min(j, k1 - k0 - 1) * q_step, noise, min(j, k1 - k0 - 1) * noise_step)
        f = gradient_at(surf, pw, gw)
        losses[k] = f
        z = f - f
        for i in range(m):
            z += gw[i] - gw[i]
        if z != 0.0:
            return k
        if k == total:
            break
        t = k + 1
        lr_t = 0.0
        for r in range(bounds.shape[0]):
            rows, cols = bounds[r, 4], bounds[r, 5]
            p = pw[bounds[r, 0]:bounds[r, 1]]
            g = gw[bounds[r, 0]:bounds[r, 1]]
            s = sw[bounds[r, 2]:bounds[r, 3]]
            h = H[r]
            n = p.shape[0]
            lr_t = lr_a[j] * h[0] + lr_b[j]
{tensor_update}
        lrs[k] = lr_t
        for i in range(m):
            weights[k + 1, i] = pw[i]
            grads[k, i] = gw[i]
            z += pw[i] - pw[i]
        if z != 0.0:
            return k + 1
    return -1
'''


def _scalar_call(spec: OptimizerSpec) -> list[str]:
    nh, ns = len(spec.hyperparameters), len(spec.state)
    args = ["p[i]", "g[i]", "t", "lr_t"] + [f"h[{q}]" for q in range(nh)] + [f"s[{q}, i]" for q in range(ns)]
    targets = ["p[i]"] + [f"s[{q}, i]" for q in range(ns)]
    return ["for i in range(n):", f"    {', '.join(targets)} = k_o{spec.code}({', '.join(args)})"]


def _chain(specs, body, indent: int) -> str:
    pad = " " * indent
    lines = []
    for n, spec in enumerate(specs):
        lines.append(f"{pad}{'if' if n == 0 else 'elif'} oc == {spec.code}:")
        lines += [f"{pad}    {line}" for line in body(spec)]
    return "\n".join(lines) if lines else f"{pad}pass"


def trainers() -> list[OptimizerSpec]:
    """The registry's optimizers that can train a network."""
    return [s for s in OPTIMIZERS.values() if not s.whole or s.id in ONE_VECTOR + HESSIAN + PER_TENSOR]


def _tensor_call(spec: OptimizerSpec) -> list[str]:
    """One tensor's step: the registry's kernel, or on a matrix the matrix form where the optimizer has one
    (and on a bias, for an optimizer of matrices only, the scalar kernel that trains biases beside it)."""
    if spec.id in _tensors.VECTOR_OPTIMIZERS:
        other = OPTIMIZERS[_tensors.VECTOR_OPTIMIZERS[spec.id][0]]
        slots = [f"s[{q} * n + i]" for q in range(len(other.state))]
        args = ", ".join(["p[i]", "g[i]", "t", "lr_t", *[f"h[{q}]" for q in range(len(other.hyperparameters))], *slots])
        vector = ["for i in range(n):", f"    {', '.join(['p[i]', *slots])} = k_v{spec.code}({args})"]
    elif spec.id in _tensors.BIAS_KERNELS:
        vector = [f"k_b{spec.code}(p, g, t, lr_t, {', '.join(f'h[{q}]' for q in range(len(spec.hyperparameters)))}, n, s)"]
    else:
        vector = _engine.whole_layout(spec) + [_engine.whole_call(spec, "h")]
    if spec.id not in _tensors.MATRIX_KERNELS:
        return vector
    hp = ", ".join(f"h[{q}]" for q in range(len(spec.hyperparameters)))
    return ["if cols > 0:", f"    k_m{spec.code}(p, g, t, lr_t, {hp}, rows, cols, s)", "else:",
            *[f"    {line}" for line in vector]]


def generate_source() -> str:
    specs = trainers()
    imports = []
    for spec in specs:
        fn = _engine._python(spec.kernel)
        imports.append(f"from {fn.__module__} import {fn.__name__} as k_o{spec.code}")
        if spec.id in _tensors.MATRIX_KERNELS:
            fn = _engine._python(_tensors.MATRIX_KERNELS[spec.id])
            imports.append(f"from {fn.__module__} import {fn.__name__} as k_m{spec.code}")
        if spec.id in _tensors.BIAS_KERNELS:
            fn = _engine._python(_tensors.BIAS_KERNELS[spec.id])
            imports.append(f"from {fn.__module__} import {fn.__name__} as k_b{spec.code}")
        if spec.id in _tensors.VECTOR_OPTIMIZERS:
            fn = _engine._python(OPTIMIZERS[_tensors.VECTOR_OPTIMIZERS[spec.id][0]].kernel)
            imports.append(f"from {fn.__module__} import {fn.__name__} as k_v{spec.code}")
    return _TEMPLATE.format(
        engine=_engine.kernel_module_path().stem,
        imports="\n".join(imports),
        scalar_update=_chain([s for s in specs if not s.whole], _scalar_call, 8),
        whole_update=_chain([s for s in specs if s.id in ONE_VECTOR + HESSIAN],
                            lambda sp: _engine.whole_layout(sp) + [_engine.whole_call(sp, "h")], 8),
        tensor_update=_chain([s for s in specs if s.id in PER_TENSOR], _tensor_call, 12),
    )


_loops = None
_loops_lock = threading.Lock()


def loops():
    """The generated network loops, in a file named by a hash of their text (see core.engine.kernels)."""
    global _loops
    if _loops is None:
        with _loops_lock:
            if _loops is None:
                _engine.kernels()  # the loops import its gradient_at by the module's name
                source = generate_source()
                # The source names the engine's module, whose name hashes every kernel file (core/mlp.py too).
                digest = hashlib.sha256(source.encode())
                digest.update(Path(_tensors.__file__).read_bytes())  # the matrix forms it compiles in
                path = _engine.cache_dir() / f"gradscape_network_{digest.hexdigest()[:20]}.py"
                if not path.exists() or path.read_text() != source:
                    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
                    with os.fdopen(fd, "w") as fh:
                        fh.write(source)
                    os.replace(tmp, path)
                spec = importlib.util.spec_from_file_location(path.stem, path)
                module = importlib.util.module_from_spec(spec)
                sys.modules[path.stem] = module
                spec.loader.exec_module(module)
                _loops = module
    return _loops


# --- runs ------------------------------------------------------------------------------

@dataclass
class NetworkTrajectory(Trajectory):
    """A Trajectory whose points are the network's flat weights (`weights`, steps + 1 rows of P)."""

    network: dict = field(default_factory=dict)
    weights: np.ndarray | None = None


def trainer_spec(optimizer) -> OptimizerSpec:
    spec = _engine.optimizer_spec(optimizer)
    if spec.external is not None:
        raise InvalidInput("optimizer", f"{spec.id} steps itself in Python; a network trains with the registry's optimizers")
    if spec.whole and spec.id not in ONE_VECTOR + HESSIAN + PER_TENSOR:
        raise InvalidInput("optimizer", f"{spec.id} does not train a network yet: its reference treats a weight matrix "
                           f"as a matrix, which its kernel for two coordinates does not; allowed: "
                           f"{', '.join(s.id for s in trainers())}")
    return spec


class NetworkRun:
    """One optimizer training one network, in resumable chunks (the interface of core.Run)."""

    def __init__(self, network, optimizer, start=None, steps=None, hyperparameters=None, schedule=None, noise=None,
                 seed=0, problem: NetworkProblem | None = None):
        self.seed = _engine._integer("seed", seed, 0, 2**63 - 1)
        self.problem = problem if problem is not None else NetworkProblem(network)
        self.optimizer = trainer_spec(optimizer)
        self.steps = _engine._integer("steps", steps, 1, _engine.MAX_STEPS)
        self.hyperparameters = _engine.resolve_hyperparameters(self.optimizer, hyperparameters)
        self.schedule = _engine.resolve_schedule(schedule)
        self.noise = _engine.resolve_noise(noise, self.seed)
        prob = self.problem
        if self.optimizer.id in HESSIAN and prob.n_params > MAX_HESSIAN_PARAMS:
            raise InvalidInput("network.hidden", f"{' x '.join(map(str, prob.sizes))} has {prob.n_params} weights; "
                               f"{self.optimizer.id} takes the exact Hessian, for at most {MAX_HESSIAN_PARAMS} weights")
        w0 = prob.init(prob.spec["seed"]) if start is None else prob.weights(start, "start")
        n = prob.n_params
        self._batches, self._Q = prob.batches(self.seed)
        self._noise_rng = None if self.noise is None else np.random.default_rng([self.noise["seed"], 1])
        hp = self.hyperparameters
        if self.optimizer.id == "lamb" and hp["pre_norm"] and hp["max_grad_norm"]:
            raise InvalidInput("hyperparameters.pre_norm", "pre_norm = 1 clips by the norm of every tensor's gradient "
                               "together, which LAMB run per tensor on a network does not see; set it to 0")
        self._h = np.array([float(hp[h.name]) for h in self.optimizer.hyperparameters])
        if self.optimizer.id in PER_TENSOR:
            self._h, self._s, self._bounds = self._tensors(hp)
        else:
            self._s = _engine._initial_state(self.optimizer, hp, n)
        self._p = w0.copy()
        self._g = np.zeros(n)
        self._weights = np.zeros((self.steps + 1, n))
        self._weights[0] = w0
        self._losses = np.zeros(self.steps + 1)
        self._grads = np.zeros((self.steps, n))
        self._lrs = np.zeros(self.steps)
        self.done_steps = 0
        self.diverged_at: int | None = None

    def _tensors(self, hp: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per tensor of the network: its hyperparameters, its state (concatenated) and where both lie."""
        hps, parts, bounds, at, st = [], [], [], 0, 0
        for shape in self.problem.shapes:
            size = math.prod(shape)
            own = {**hp, **(MATRIX_HYPERPARAMETERS.get(self.optimizer.id, {}) if len(shape) == 2 else {})}
            hps.append([float(own[h.name]) for h in self.optimizer.hyperparameters])
            if len(shape) == 2 and self.optimizer.id in _tensors.MATRIX_KERNELS:
                rows, cols = shape
                parts.append(np.zeros(_tensors.matrix_state_size(self.optimizer.id, rows, cols)))
            elif self.optimizer.id in _tensors.VECTOR_OPTIMIZERS:
                rows, cols = 0, 0
                name, of = _tensors.VECTOR_OPTIMIZERS[self.optimizer.id]
                other, other_hp = OPTIMIZERS[name], of(hp)
                row = [float(other_hp[h.name]) for h in other.hyperparameters]
                hps[-1] = row + [0.0] * (len(hps[-1]) - len(row))
                parts.append(_engine._initial_state(other, other_hp, size).ravel())
            elif self.optimizer.id in _tensors.BIAS_KERNELS:
                rows, cols = 0, 0
                parts.append(np.zeros(_tensors.vector_state_size(self.optimizer.id, size)))
            else:
                rows, cols = 0, 0
                parts.append(_engine._initial_state(self.optimizer, own, size))
            bounds.append((at, at + size, st, st + parts[-1].size, rows, cols))
            at, st = at + size, st + parts[-1].size
        return np.array(hps), np.concatenate(parts), np.array(bounds, dtype=np.int64)

    surface = property(lambda self: _NETWORK_SURFACE)
    surface_params = property(lambda self: dict(self.problem.spec))
    finished = property(lambda self: self.diverged_at is not None or self.done_steps >= self.steps)
    valid_points = _engine.Run.valid_points
    _stop = _engine.Run._stop

    def advance(self, n: int) -> tuple[int, int]:
        """Up to n more steps, fewer when they would be more than ADVANCE_WORK; the range taken."""
        k0 = self.done_steps
        batch = self._Q.shape[1] if self._batches is None else self._batches.batch_size
        # A Hessian is a gradient's work per weight; Shampoo's roots are eigendecompositions of every side of every
        # tensor, about ten sweeps of d^3 multiply-adds each (a 256-wide layer's dwarfs its gradient). SOAP projects
        # each weight matrix on both sides three times a step and refreshes its bases (a power iteration and a QR of
        # every side, each operation rounded to float32) every precondition_frequency steps.
        work = batch * self.problem.n_params * (self.problem.n_params if self.optimizer.id in HESSIAN else 1)
        if self.optimizer.id == "shampoo":
            work += sum(10 * d ** 3 for shape in self.problem.shapes for d in shape)
        elif self.optimizer.id == "soap":
            sides = sum(10 * d ** 3 for shape in self.problem.shapes for d in shape)
            work += sum(4 * shape[0] * shape[1] * (shape[0] + shape[1]) for shape in self.problem.shapes
                        if len(shape) == 2) + sides // int(self.hyperparameters["precondition_frequency"])
        n = min(int(n), ADVANCE_WORK // work)
        k1 = min(self.steps, k0 + max(1, n))
        if self.finished:
            return k0, k0
        lr_a, lr_b = _schedules.factors(self.schedule, k0, k1)
        if self._batches is not None:
            Q, q_step = np.ascontiguousarray(self._batches.rows(k0, k1)), 1
        else:
            Q, q_step = self._Q, 0
        if self._noise_rng is not None and self.noise["sigma"] > 0:
            noise = self.noise["sigma"] * self._noise_rng.standard_normal((k1 - k0, self.problem.n_params))
            noise_step = 1
        else:
            noise, noise_step = np.zeros((1, self.problem.n_params)), 0
        args = (self.problem.P, Q, q_step, lr_a, lr_b, noise, noise_step, self._weights, self._losses, self._grads,
                self._lrs)
        head = (self.optimizer.code, _mlp.NETWORK_CODE, k0, k1, self.steps, self._p, self._g, self._h, self._s)
        if self.optimizer.id in PER_TENSOR:
            bad = loops().run_tensors(*head, self._bounds, *args)
        else:
            bad = (loops().run_whole if self.optimizer.whole else loops().run_scalar)(*head, *args)
        if bad >= 0:
            return self._stop(k0, int(bad))
        self.done_steps = k1
        return k0, k1

    def window(self, p0: int, p1: int, fields=("weights", "losses", "lr", "gradients")) -> dict:
        """Points [p0, p1) and the steps that led to them, as views (see core.Run.window)."""
        k0, k1 = max(p0 - 1, 0), max(p1 - 1, 0)
        out = {}
        if "weights" in fields or "points" in fields:
            out["weights" if "weights" in fields else "points"] = self._weights[p0:p1]
        if "losses" in fields:
            out["losses"] = self._losses[p0:p1]
        if "lr" in fields:
            out["lr"] = self._lrs[k0:k1]
        if "gradients" in fields:
            out["gradients"] = self._grads[k0:k1]
        return out

    def result(self) -> NetworkTrajectory:
        n = self.valid_points
        weights = self._weights[:n]
        grads = self._grads[:max(n - 1, 0)]
        with np.errstate(all="ignore"):
            e = -(weights[1:] - weights[:-1]) / grads
        return NetworkTrajectory(
            surface="network", optimizer=self.optimizer.id, hyperparameters=dict(self.hyperparameters),
            surface_params=dict(self.problem.spec), start=tuple(weights[0]) if n else (), steps=self.steps,
            schedule=dict(self.schedule), noise=None if self.noise is None else dict(self.noise), seed=self.seed,
            points=weights, losses=self._losses[:n], lr=self._lrs[:max(n - 1, 0)], gradients=grads, state={},
            effective_lr=np.where(np.isfinite(e) & (grads != 0), e, 0.0), step_size=None,
            diverged_at=self.diverged_at, network=dict(self.problem.spec), weights=weights,
        )


class _NetworkSurface:
    id = "network"


_NETWORK_SURFACE = _NetworkSurface()


def network_of(surface) -> dict:
    """The spec inside {"network": spec}; raises InvalidInput."""
    extra = [k for k in surface if k != "network"]
    if extra:
        raise InvalidInput(f"surface.{extra[0]}", f"unknown name {extra[0]!r}; a network surface is {{\"network\": spec}}")
    return surface["network"]


def trajectory(surface, optimizer, start=None, steps=None, hyperparameters=None, schedule=None, noise=None,
               seed=0) -> NetworkTrajectory:
    """Train the network of {"network": spec}: see core.trajectory."""
    run = NetworkRun(network_of(surface), optimizer, start, steps, hyperparameters, schedule, noise, seed)
    while not run.finished:
        run.advance(1 << 12)
    return run.result()


# --- the landscape ---------------------------------------------------------------------

PLANES = ("random", "pca", "points")
# A plane handed in whole (its centre and two directions), so a caller that keeps one can put new runs on it.
GIVEN = "given"


@dataclass
class Landscape:
    """The loss on a plane centre + a d1 + b d2, and the runs' paths projected on it.

    `losses[j, i]` is the full-data loss at (alphas[i], betas[j]). Per run:
    `paths` its (a, b) per step (the least-squares projection), `off_plane`
    the share of its squared step lengths that leaves the plane (0: the
    whole path lies in it), `path_losses` the true loss along it, which the
    contour under a projected path need not show.
    """

    plane: str
    centre: np.ndarray
    d1: np.ndarray
    d2: np.ndarray
    alphas: np.ndarray
    betas: np.ndarray
    losses: np.ndarray
    paths: list[np.ndarray]
    off_plane: list[float]
    path_losses: list[np.ndarray]


def filter_normalized(problem: NetworkProblem, centre: np.ndarray, rng) -> np.ndarray:
    """A Gaussian direction, each neuron's incoming weights scaled to the norm of the centre's; biases 0."""
    d = rng.standard_normal(problem.n_params)
    at = 0
    for shape in problem.shapes:
        size = math.prod(shape)
        part, ref = d[at:at + size], centre[at:at + size]
        if len(shape) == 2:
            rows, refs = part.reshape(shape), ref.reshape(shape)
            rows *= np.linalg.norm(refs, axis=1, keepdims=True) / (np.linalg.norm(rows, axis=1, keepdims=True) + 1e-10)
        else:
            part[:] = 0.0
        at += size
    return d


def principal_directions(diffs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The first two principal directions of the rows of diffs, as unit vectors; raises InvalidInput.

    From the eigenvectors of the Gram matrix of the smaller side rather than an SVD of diffs: on
    6 runs x 500 steps of 354 weights 0.02 s of CPU time instead of 0.15 s, on 6 x 200 steps of the
    digits' 2,410 weights 0.5 s instead of 1.8 s. Squaring the singular values costs their small ones
    precision, not the two largest this plane is made of; when the second is a millionth of the
    first or less (every row nearly on one line), the SVD's directions are taken as before.
    """
    m, n = diffs.shape
    if min(m, n) < 2:
        raise InvalidInput("plane", "the PCA plane needs at least two distinct weights besides the centre")
    if m >= n:
        values, vectors = np.linalg.eigh(diffs.T @ diffs)
        top = vectors[:, [-1, -2]].T
    else:
        values, vectors = np.linalg.eigh(diffs @ diffs.T)
        top = (diffs.T @ vectors[:, [-1, -2]]).T
    # Below sigma2 / sigma1 = 1e-6 the Gram matrix's rounding (eps sigma1^2) reaches sigma2^2.
    if not values[-2] > values[-1] * 1e-12:
        _, _, vt = np.linalg.svd(diffs, full_matrices=False)
        top = vt[:2].copy()
    else:
        top /= np.linalg.norm(top, axis=1, keepdims=True)
    # An eigenvector's sign is LAPACK's choice, which changes with its threads and the machine: each
    # direction points where the weights went on the whole, so one request draws one picture everywhere.
    top *= np.where(top @ diffs.sum(axis=0) < 0, -1.0, 1.0)[:, None]
    return np.ascontiguousarray(top[0]), np.ascontiguousarray(top[1])


def project(weights: np.ndarray, centre: np.ndarray, d1: np.ndarray, d2: np.ndarray) -> tuple[np.ndarray, float]:
    """Each row's (a, b) in the plane (least squares), and the share of the squared steps off the plane."""
    basis = np.stack([d1, d2], 1)
    coef, *_ = np.linalg.lstsq(basis, (weights - centre).T, rcond=None)
    coef = np.ascontiguousarray(coef)
    steps = np.diff(weights, axis=0)
    if steps.size == 0:
        return np.ascontiguousarray(coef.T), 0.0
    inside = np.diff(coef.T, axis=0) @ basis.T
    total = float(np.sum(steps * steps))
    off = float(np.sum((steps - inside) ** 2))
    return np.ascontiguousarray(coef.T), (min(1.0, off / total) if total > 0 else 0.0)


def _grid_axis(name: str, values: list[np.ndarray], span, resolution: int, default: tuple) -> np.ndarray:
    if span is not None:
        lo, hi = -span, span
    elif values:
        lo, hi = min(0.0, min(v.min() for v in values)), max(0.0, max(v.max() for v in values))
        pad = 0.15 * (hi - lo) or 1.0
        lo, hi = lo - pad, hi + pad
    else:
        lo, hi = default
    return np.linspace(lo, hi, resolution)


_grid_pool = None


def _pool() -> ThreadPoolExecutor:
    global _grid_pool
    if _grid_pool is None:
        _grid_pool = ThreadPoolExecutor(max_workers=_engine.sweep_threads(), thread_name_prefix="gradscape-plane")
    return _grid_pool


def plane_losses(problem: NetworkProblem, centre, d1, d2, alphas, betas) -> np.ndarray:
    """The full-data loss at centre + a d1 + b d2 on the grid, rows split across threads (the kernel frees the GIL)."""
    out = np.empty((len(betas), len(alphas)))
    threads = min(_engine.sweep_threads(), len(betas))
    cuts = [len(betas) * q // threads for q in range(threads + 1)]

    def rows(q):
        part = np.empty((cuts[q + 1] - cuts[q], len(alphas)))
        _mlp.plane_losses(problem.P, problem.all, centre, d1, d2, alphas, np.ascontiguousarray(betas[cuts[q]:cuts[q + 1]]),
                          part)
        out[cuts[q]:cuts[q + 1]] = part

    list(_pool().map(rows, range(threads)))
    return out


def check_plane(problem: NetworkProblem, n_runs: int, plane: str, centre, resolution, span, seed,
                through, directions=None) -> tuple[int, float | None, int]:
    """(resolution, span, seed) of a plane for `n_runs` runs, every argument checked whatever the plane's kind
    (a value must not pass for being ignored); raises InvalidInput naming the argument."""
    if plane not in (*PLANES, GIVEN):
        raise InvalidInput("plane", f"unknown plane {plane!r}; allowed: {', '.join((*PLANES, GIVEN))}")
    if plane == GIVEN:
        given_directions(problem, directions)
    elif directions is not None:
        raise InvalidInput("directions", f"only a plane of kind {GIVEN!r} takes directions; a {plane!r} plane makes its own")
    resolution = _engine._integer("resolution", resolution, 2, MAX_RESOLUTION)
    seed = _engine._integer("seed", seed, 0, 2**63 - 1)
    if span is not None:
        span = _engine._number("span", span)
        if not 0.0 < span <= 1e3:
            raise InvalidInput("span", f"span = {span:g} is outside (0, 1000]")
    if isinstance(centre, dict) or isinstance(centre, str) and centre == "final":
        i = centre.get("run") if isinstance(centre, dict) else 0
        if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < n_runs:
            raise InvalidInput("centre.run", f"must be the index of a run, 0 to {n_runs - 1}")
    elif not (isinstance(centre, str) and centre == "initial"):
        problem.weights(centre, "centre")
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in through):
        raise InvalidInput("through", f"must name two runs, 0 to {n_runs - 1}")
    return resolution, span, seed


def given_directions(problem: NetworkProblem, directions) -> tuple[np.ndarray, np.ndarray]:
    """The two directions of a given plane, checked: P finite weights each, and not on one line; raises InvalidInput."""
    if not isinstance(directions, (list, tuple, np.ndarray)) or len(directions) != 2:
        raise InvalidInput("directions", f"must be two lists of {problem.n_params} numbers")
    d1, d2 = (problem.weights(d, f"directions.{i}") for i, d in enumerate(directions))
    # |d1|^2 |d2|^2 - (d1.d2)^2 is the squared area they span; relative to |d1|^2 |d2|^2 it is sin^2 of their angle.
    n11, n22, n12 = float(d1 @ d1), float(d2 @ d2), float(d1 @ d2)
    if not (n11 > 0.0 and n22 > 0.0 and n11 * n22 - n12 * n12 > 1e-12 * n11 * n22):
        raise InvalidInput("directions", "the two directions lie on one line: they span no plane")
    return d1, d2


def landscape(problem: NetworkProblem, runs: list, plane: str = "random", centre="initial", resolution: int = 51,
              span: float | None = None, seed: int = 0, through: tuple[int, int] = (0, 1), directions=None,
              grid: bool = True) -> Landscape:
    """The loss on a plane through weight space and the runs' paths on it.

    `runs` are NetworkTrajectory results (or weight arrays, steps + 1 rows).
    `plane`: "random", two filter-normalized directions drawn from `seed`
    (Li et al. 2018, section 4); "pca", the first two principal components of
    every run's weights minus the centre (their section 7); "points", the
    plane through the first run's start and the ends of runs `through`.
    `centre`: "initial" (the network's initial weights), "final" (the first
    run's last weights), {"run": i} (run i's), or weights; "given", the plane
    through `centre` along `directions` (two rows of weights), as another
    answer's Landscape had it, so new runs land on a plane already drawn.
    `span`: the grid covers [-span, span] in both directions; by default
    [-1, 1] for random directions and the paths' extent with a margin
    otherwise. `grid=False` leaves the grid out (empty alphas, betas and
    losses): only the paths on the plane.
    """
    resolution, span, seed = check_plane(problem, len(runs), plane, centre, resolution, span, seed, through,
                                         directions)
    paths = [np.asarray(getattr(r, "weights", r), dtype=float) for r in runs]
    for i, w in enumerate(paths):
        if w.ndim != 2 or w.shape[1] != problem.n_params or len(w) == 0:
            raise InvalidInput(f"runs[{i}]", f"must be rows of {problem.n_params} weights")
    if isinstance(centre, str) and centre == "initial":
        c = problem.init(problem.spec["seed"])
    elif isinstance(centre, dict) or isinstance(centre, str) and centre == "final":
        i = centre.get("run") if isinstance(centre, dict) else 0
        if not isinstance(i, int) or not 0 <= i < len(paths):
            raise InvalidInput("centre.run", f"must be the index of a run, 0 to {len(paths) - 1}")
        c = paths[i][-1].copy()
    else:
        c = problem.weights(centre, "centre")
    if plane == "random":
        rng = np.random.default_rng([seed, 4])
        d1, d2 = filter_normalized(problem, c, rng), filter_normalized(problem, c, rng)
    elif plane == GIVEN:
        d1, d2 = given_directions(problem, directions)
    elif plane == "pca":
        if not paths:
            raise InvalidInput("plane", "the PCA plane needs at least one run")
        d1, d2 = principal_directions(np.concatenate(paths) - c)
    else:
        a, b = through
        if len(paths) < 1 or not all(isinstance(i, int) and 0 <= i < len(paths) for i in through):
            raise InvalidInput("through", f"must name two runs, 0 to {len(paths) - 1}")
        c = paths[0][0].copy()
        d1, d2 = paths[a][-1] - c, paths[b][-1] - c
        if np.linalg.matrix_rank(np.stack([d1, d2])) < 2:
            raise InvalidInput("through", "the start and the two runs' ends lie on one line")
    projected = [project(w, c, d1, d2) for w in paths]
    coords = [p for p, _ in projected]
    alphas = _grid_axis("a", [p[:, 0] for p in coords], span, resolution, (-1.0, 1.0))
    betas = _grid_axis("b", [p[:, 1] for p in coords], span, resolution, (-1.0, 1.0))
    if plane == "random" and span is None:
        alphas = betas = np.linspace(-1.0, 1.0, resolution)
    if grid:
        losses = plane_losses(problem, np.ascontiguousarray(c), np.ascontiguousarray(d1), np.ascontiguousarray(d2),
                              alphas, betas)
    else:
        alphas = betas = np.empty(0)
        losses = np.empty((0, 0))
    # A full-batch run already holds the full-data loss at each of its weights, from the same kernel.
    full = "batch_size" not in problem.spec
    true = [np.asarray(r.losses) if full and len(getattr(r, "losses", ())) == len(w) else problem.losses(w)
            for r, w in zip(runs, paths)]
    return Landscape(plane, c, d1, d2, alphas, betas, losses, coords, [off for _, off in projected], true)


def warm() -> None:
    """Compile (or load from the disk cache) the network's loops and kernels, so no request waits for them.

    One optimizer of each loop (scalar, whole vector, per tensor) trains a tiny network for two steps, on the full
    data and on minibatches, and a plane is drawn through the runs: cold, about a minute and a half on 2 cores.
    """
    first = {}
    for spec in trainers():
        first.setdefault("tensors" if spec.id in PER_TENSOR else "whole" if spec.whole else "scalar", spec.id)
    for batch in ({}, {"batch_size": 4}):
        net = {"data": "moons", "samples": 8, "hidden": [2], **batch}
        runs = [trajectory({"network": net}, optimizer, steps=2) for optimizer in first.values()]
        landscape(network_problem(net), runs, plane="pca", resolution=2)
