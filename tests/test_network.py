"""The network surface: its data sets, its loss and gradient, and its runs step for step against torch.

torch cannot draw from numpy's generator, so every comparison loads the
weights `NetworkProblem.init` drew into torch's nn.Linear layers, and feeds
torch the same minibatches the run drew; then a run's weights must match
torch.optim's in float64 at every step.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import core
from core.network import Minibatches, NetworkProblem, ONE_VECTOR, project, resolve_spec
from test_optimizers import assert_close, rel_error, torch_kwargs

torch = pytest.importorskip("torch")
F = torch.nn.functional

RTOL = 1e-9
STEPS = 100
DATA = list(core.DATASETS)
TORCH = [s for s in core.OPTIMIZERS.values() if s.torch is not None and (not s.whole or s.id in ONE_VECTOR)]
# Networks small enough to train 100 steps of every optimizer quickly, digits included.
ALL_CASES = [
    ({"data": "moons", "samples": 64, "hidden": [8, 8], "activation": "tanh", "seed": 1}, "full"),
    ({"data": "spirals", "samples": 60, "hidden": [6], "activation": "relu", "seed": 2, "batch_size": 16}, "minibatch"),
    ({"data": "blobs", "samples": 48, "hidden": [5, 4], "activation": "relu", "seed": 3}, "full"),
    ({"data": "digits", "samples": 80, "hidden": [6], "activation": "tanh", "seed": 4, "batch_size": 32}, "minibatch"),
]
# With the JIT off (the coverage run) the kernels are Python loops: a full-batch and a minibatch case
# and one optimizer of each kernel form still run every line.
JIT_OFF = os.environ.get("NUMBA_DISABLE_JIT") == "1"
CASES = ALL_CASES[:2] if JIT_OFF else ALL_CASES
if JIT_OFF:
    TORCH = [s for s in TORCH if s.id in ("adam", "lbfgs")]


@pytest.fixture(autouse=True, scope="module")
def float64_torch():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def needs(spec: dict):
    if spec["data"] == "digits":
        pytest.importorskip("sklearn")


def torch_model(problem: NetworkProblem, w: np.ndarray):
    """torch's own MLP of the problem's shape, holding the weights w."""
    layers = []
    for n_in, n_out in zip(problem.sizes[:-1], problem.sizes[1:]):
        layers += [torch.nn.Linear(n_in, n_out, dtype=torch.float64),
                   torch.nn.Tanh() if problem.spec["activation"] == "tanh" else torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1])
    load(model, w)
    return model


def load(model, w):
    at = 0
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.tensor(w[at:at + p.numel()]).reshape(p.shape))
            at += p.numel()


def flat(model) -> np.ndarray:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()]).numpy().copy()


def torch_optimizer(spec, params, hp):
    kwargs = torch_kwargs(spec, hp)
    if spec.id == "lbfgs":
        kwargs["line_search_fn"] = "strong_wolfe" if kwargs.pop("line_search") else None
    return getattr(torch.optim, spec.torch[0])(params, **kwargs)


def torch_weights(problem: NetworkProblem, spec, hp: dict, steps: int, seed: int) -> np.ndarray:
    """torch.optim's weights at every step, trained on the batches the run draws."""
    model = torch_model(problem, problem.init(problem.spec["seed"]))
    X, y = torch.tensor(problem.X), torch.tensor(problem.y)
    opt = torch_optimizer(spec, list(model.parameters()), hp)
    source, full = problem.batches(seed)
    rows = full.repeat(steps, 0) if source is None else source.rows(0, steps)
    out = [flat(model)]
    for k in range(steps):
        idx = torch.tensor(rows[k].astype(np.int64))

        def closure():
            opt.zero_grad()
            loss = F.cross_entropy(model(X[idx]), y[idx])
            loss.backward()
            return loss

        opt.step(closure)
        out.append(flat(model))
    return np.array(out)


# --- data sets ------------------------------------------------------------------

@pytest.mark.parametrize("name", DATA)
def test_every_data_set_is_made_from_its_seed_with_its_classes(name):
    needs({"data": name})
    data = core.DATASETS[name]
    p = core.network_problem({"data": name, "samples": 60, "seed": 5})
    again = core.network_problem({"data": name, "samples": 60, "seed": 5})
    other = core.network_problem({"data": name, "samples": 60, "seed": 6})
    assert p.X.shape == (60, data.features) and p.y.shape == (60,)
    assert set(np.unique(p.y)) == set(range(data.classes))
    assert np.array_equal(p.X, again.X) and np.array_equal(p.y, again.y)
    assert not np.array_equal(p.X, other.X)
    assert np.all(np.isfinite(p.X))


# --- the problem: init, loss and gradient ------------------------------------------------

def test_shapes_are_torch_linear_shapes_and_init_stays_within_its_bounds():
    p = core.network_problem({"data": "blobs", "samples": 30, "hidden": [7, 5], "seed": 0})
    model = torch_model(p, p.init(0))
    assert p.shapes == [tuple(q.shape) for q in model.parameters()]
    w = p.init(3)
    assert w.shape == (p.n_params,) == (sum(q.numel() for q in model.parameters()),)
    at = 0
    for shape in p.shapes:
        size = int(np.prod(shape))
        bound = 1 / np.sqrt(p.sizes[p.shapes.index(shape) // 2])
        assert np.all(np.abs(w[at:at + size]) <= bound)
        at += size
    assert np.array_equal(p.init(3), w) and not np.array_equal(p.init(4), w)


@pytest.mark.parametrize("spec", [c for c, _ in CASES], ids=[c["data"] for c, _ in CASES])
def test_loss_and_gradient_equal_torch_autograd(spec):
    needs(spec)
    p = core.network_problem(spec)
    rng = np.random.default_rng(0)
    w = p.init(spec["seed"]) + 0.3 * rng.standard_normal(p.n_params)
    idx = rng.permutation(len(p.y))[:17]
    for sub in (None, idx):
        f, g = p.loss_and_gradient(w, sub)
        model = torch_model(p, w)
        sel = torch.tensor(np.arange(len(p.y)) if sub is None else idx)
        loss = F.cross_entropy(model(torch.tensor(p.X)[sel]), torch.tensor(p.y)[sel])
        loss.backward()
        ref = torch.cat([q.grad.reshape(-1) for q in model.parameters()]).numpy()
        assert f == pytest.approx(loss.item(), rel=1e-13)
        assert np.max(np.abs(g - ref)) <= 1e-13 * np.max(np.abs(ref))


# --- runs against torch.optim -------------------------------------------------------------

# Fewest steps a parity comparison may be cut to by the run's own conditioning, so it cannot pass empty.
MIN_CONDITIONED = 25


def conditioned_steps(run, network: dict, optimizer: str, hp: dict, seed: int = 7) -> int:
    """How many of `run`'s weights lie where the training is well-conditioned (test_optimizers.conditioned_steps).

    The run is repeated from its initial weights perturbed by 1e-13 (relative); past the first step where that
    perturbation has grown 1000-fold, differences of an ulp per step (a sum taken in another order, as torch's
    vectorized reductions take theirs) legitimately grow past 1e-9. L-BFGS on minibatches is such a case: its
    curvature pairs mix batches, and on the spirals the perturbation grows 7e7-fold at step 85 alone.
    """
    shifted = core.trajectory({"network": network}, optimizer, run.weights[0] * (1 + 1e-13), run.steps, hp, seed=seed)
    n = min(len(run.weights), len(shifted.weights))
    grown = np.nonzero(rel_error(shifted.weights[:n], run.weights[:n]) > 1e-13 * 1000)[0]
    n = int(grown[0]) if grown.size else n
    assert n >= MIN_CONDITIONED, f"{optimizer}: only {n} well-conditioned steps to compare"
    return n


@pytest.mark.parametrize("spec", TORCH, ids=[s.id for s in TORCH])
@pytest.mark.parametrize("case", CASES, ids=[f"{c['data']}-{c['activation']}-{kind}" for c, kind in CASES])
def test_runs_match_torch_optim_at_every_step(spec, case):
    network, kind = case
    needs(network)
    problem = core.network_problem(network)
    hp = spec.defaults
    if spec.id in ("sgd", "momentum", "nesterov", "asgd"):
        hp["lr"] = 0.1  # the slider's default barely moves a network in 100 steps
    ours = core.trajectory({"network": network}, spec.id, steps=STEPS, hyperparameters=hp, seed=7)
    ref = torch_weights(problem, spec, hp, STEPS, seed=7)
    assert ours.diverged_at is None and ours.weights.shape == (STEPS + 1, problem.n_params)
    n = conditioned_steps(ours, network, spec.id, hp)
    assert_close(ours.weights[:n], ref[:n], RTOL, spec.id)
    # The run went somewhere (dead ReLUs and the digits' blank border pixels keep some weights still).
    assert np.mean(ours.weights[-1] != ours.weights[0]) > 0.5


def test_a_run_starts_from_init_of_the_spec_seed_or_from_given_weights():
    network = {"data": "moons", "samples": 40, "hidden": [4], "seed": 9}
    p = core.network_problem(network)
    run = core.trajectory({"network": network}, "adam", steps=3)
    assert np.array_equal(run.weights[0], p.init(9))
    assert run.losses[0] == pytest.approx(p.loss(p.init(9)), rel=1e-14)
    w = p.init(1)
    assert np.array_equal(core.trajectory({"network": network}, "adam", w, 3).weights[0], w)


def test_minibatches_are_the_regression_surfaces_epochs_without_replacement():
    b = Minibatches(10, 3, 42)
    rows = b.rows(0, 6).astype(int)
    for epoch in (rows[:3], rows[3:]):
        assert len(set(epoch.ravel())) == 9
    assert np.array_equal(Minibatches(10, 3, 42).rows(0, 2), b.rows(0, 2))


def test_gradient_noise_and_schedules_apply_to_every_weight():
    network = {"data": "xor", "samples": 32, "hidden": [4]}
    plain = core.trajectory({"network": network}, "sgd", steps=20)
    noisy = core.trajectory({"network": network}, "sgd", steps=20, noise={"sigma": 0.1, "seed": 1})
    again = core.trajectory({"network": network}, "sgd", steps=20, noise={"sigma": 0.1, "seed": 1})
    assert np.array_equal(noisy.weights, again.weights) and not np.allclose(noisy.weights, plain.weights)
    cos = core.trajectory({"network": network}, "sgd", steps=20, schedule={"name": "cosine", "t_max": 20})
    assert cos.lr[0] == pytest.approx(plain.lr[0]) and cos.lr[-1] < plain.lr[-1]


# --- validation ----------------------------------------------------------------------

@pytest.mark.parametrize("bad, field", [
    ({"data": "mnist"}, "network.data"),
    ({"hidden": [0]}, "network.hidden[0]"),
    ({"hidden": [300]}, "network.hidden[0]"),
    ({"hidden": [8] * 5}, "network.hidden"),
    ({"hidden": "16"}, "network.hidden"),
    ({"samples": 3}, "network.samples"),
    ({"samples": 10_000}, "network.samples"),
    ({"activation": "gelu"}, "network.activation"),
    ({"noise": -1}, "network.noise"),
    ({"batch_size": 500, "samples": 100}, "network.batch_size"),
    ({"data": "digits", "hidden": [256, 256, 256]}, "network.hidden"),
    ({"colour": 1}, "network.colour"),
    ({"activation": ["tanh"]}, "network.activation"),
    ({"data": ["moons"]}, "network.data"),
])
def test_bad_specs_name_the_field(bad, field):
    with pytest.raises(core.InvalidInput) as e:
        resolve_spec(bad)
    assert e.value.field == field


def test_a_soap_run_in_pieces_is_the_run_in_one():
    """SOAP's per-tensor state (moments, statistics, bases and their order) carries over from one advance to the
    next: a run advanced a step or five at a time, across QR refreshes, is the run advanced at once."""
    network = {"data": "blobs", "samples": 30, "hidden": [4], "seed": 2, "batch_size": 10}
    hp = {"precondition_frequency": 3}
    whole = core.trajectory({"network": network}, "soap", steps=20, hyperparameters=hp, seed=3)
    run = core.NetworkRun(network, "soap", steps=20, hyperparameters=hp, seed=3)
    for n in (1, 5, 1, 5, 8):
        run.advance(n)
    assert run.finished and np.array_equal(run.result().weights, whole.weights)
    assert not np.array_equal(whole.weights[-1], whole.weights[0])


# --- the landscape ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained():
    network = {"data": "moons", "samples": 50, "hidden": [6, 6], "seed": 2}
    runs = [core.trajectory({"network": network}, o, steps=60, hyperparameters={"lr": 0.05}) for o in ("sgd", "adam")]
    return core.network_problem(network), runs


@pytest.mark.parametrize("plane", core.network.PLANES)
def test_the_plane_holds_torchs_loss_at_its_weights(trained, plane):
    problem, runs = trained
    land = core.landscape(problem, runs, plane, resolution=9, seed=3)
    assert land.losses.shape == (9, 9) and np.all(np.isfinite(land.losses))
    for j, i in ((0, 0), (4, 7), (8, 3)):
        w = land.centre + land.alphas[i] * land.d1 + land.betas[j] * land.d2
        model = torch_model(problem, w)
        ref = F.cross_entropy(model(torch.tensor(problem.X)), torch.tensor(problem.y)).item()
        assert land.losses[j, i] == pytest.approx(ref, rel=1e-12)
    for run, path, off, true in zip(runs, land.paths, land.off_plane, land.path_losses):
        assert path.shape == (61, 2) and 0.0 <= off <= 1.0
        assert np.allclose(true, run.losses, rtol=1e-12)  # full batch: the run's own losses


def test_random_directions_are_filter_normalized_with_zero_biases(trained):
    problem, runs = trained
    land = core.landscape(problem, runs, "random", resolution=3, centre="final")
    at = 0
    for shape in problem.shapes:
        size = int(np.prod(shape))
        d, c = land.d1[at:at + size], land.centre[at:at + size]
        if len(shape) == 1:
            assert np.all(d == 0)
        else:
            assert np.allclose(np.linalg.norm(d.reshape(shape), axis=1), np.linalg.norm(c.reshape(shape), axis=1))
        at += size
    assert np.array_equal(land.centre, runs[0].weights[-1])


def test_the_plane_through_three_points_holds_both_ends(trained):
    problem, runs = trained
    land = core.landscape(problem, runs, "points", resolution=5, through=(0, 1))
    assert np.allclose(land.paths[0][-1], [1, 0], atol=1e-9) and np.allclose(land.paths[1][-1], [0, 1], atol=1e-9)
    assert np.allclose(land.paths[0][0], [0, 0], atol=1e-12)


def test_a_given_plane_puts_runs_where_the_plane_they_came_from_did(trained):
    problem, runs = trained
    pca = core.landscape(problem, runs, "pca", resolution=5)
    given = core.landscape(problem, runs[1:], core.network.GIVEN, centre=pca.centre, directions=(pca.d1, pca.d2),
                           grid=False)
    assert np.array_equal(given.paths[0], pca.paths[1]) and given.off_plane[0] == pca.off_plane[1]
    assert np.array_equal(given.path_losses[0], pca.path_losses[1])
    assert given.alphas.size == given.betas.size == given.losses.size == 0
    # With its grid, the loss at each point of it is the loss at centre + a d1 + b d2.
    full = core.landscape(problem, runs, core.network.GIVEN, centre=pca.centre, directions=(pca.d1, pca.d2), resolution=5)
    assert np.array_equal(full.losses, pca.losses)


def test_a_path_inside_the_plane_has_nothing_off_it():
    rng = np.random.default_rng(0)
    c, d1, d2 = rng.standard_normal((3, 12))
    ab = rng.standard_normal((20, 2))
    coords, off = project(c + ab @ np.stack([d1, d2]), c, d1, d2)
    assert np.allclose(coords, ab) and off < 1e-20
    _, off = project(np.stack([c, c + rng.standard_normal(12)]), c, d1, d2)
    assert 0.5 < off <= 1.0


def test_bad_landscape_arguments_name_the_field(trained):
    problem, runs = trained
    for kwargs, field in (({"plane": "tsne"}, "plane"), ({"resolution": 1}, "resolution"),
                          ({"centre": {"run": 5}}, "centre.run"), ({"centre": [1.0, 2.0]}, "centre"),
                          ({"centre": "middle"}, "centre"), ({"centre": [[1.0], "a"]}, "centre"),
                          ({"plane": "points", "through": (0, 0)}, "through")):
        with pytest.raises(core.InvalidInput) as e:
            core.landscape(problem, runs, **kwargs)
        assert e.value.field == field


def test_an_advance_is_bounded_in_work_so_limits_are_checked_between_pieces():
    run = core.NetworkRun({"data": "moons", "samples": 1000, "hidden": [64, 64]}, "sgd", steps=10_000)
    k0, k1 = run.advance(1 << 15)
    assert 1 <= k1 - k0 <= max(1, core.network.ADVANCE_WORK // (1000 * run.problem.n_params))


def test_a_minibatch_runs_true_losses_are_the_full_data_loss_at_its_weights():
    network = {"data": "circles", "samples": 40, "hidden": [4], "batch_size": 8}
    problem = core.network_problem(network)
    run = core.trajectory({"network": network}, "adam", steps=10, hyperparameters={"lr": 0.05})
    true = core.landscape(problem, [run], "random", resolution=3).path_losses[0]
    assert np.allclose(true, [problem.loss(w) for w in run.weights], rtol=1e-13)
    assert not np.allclose(true, run.losses)  # each step's loss is its batch's


def test_the_pca_plane_is_spanned_by_the_first_two_singular_vectors():
    rng = np.random.default_rng(1)
    for shape in ((300, 40), (40, 300)):
        diffs = rng.standard_normal(shape) @ np.diag(np.linspace(1.0, 0.01, shape[1]) ** 2)
        d1, d2 = core.network.principal_directions(diffs)
        _, _, vt = np.linalg.svd(diffs, full_matrices=False)
        assert abs(abs(d1 @ vt[0]) - 1) < 1e-12 and abs(abs(d2 @ vt[1]) - 1) < 1e-12
        assert abs(d1 @ d2) < 1e-12
        # Each points where the rows went on the whole, whatever sign the eigensolver gave it.
        assert d1 @ diffs.sum(axis=0) >= 0 and d2 @ diffs.sum(axis=0) >= 0
        flipped = core.network.principal_directions(-diffs)
        assert np.allclose(flipped[0], -d1, atol=1e-12) and np.allclose(flipped[1], -d2, atol=1e-12)
    line = np.outer(rng.standard_normal(5), rng.standard_normal(8))  # every row on one line
    d1, d2 = core.network.principal_directions(line)
    assert np.isclose(abs(d1 @ line[0]) / np.linalg.norm(line[0]), 1) and abs(d1 @ d2) < 1e-12


# --- tanh ------------------------------------------------------------------------------------

def _cpu_has_fma() -> bool:
    try:
        with open("/proc/cpuinfo") as f:
            return " fma " in f.read()
    except OSError:
        return False


def test_the_networks_tanh_is_libms_bit_for_bit_over_every_branch():
    """core.mlp's inlined tanh against libm's (glibc's tanh over its expm1): arguments at every scale its
    branches see (below 2^-55, k = 0, +-1, the general reduction with k < 20, k >= 20 and k > 56, |x| >= 22),
    their edges and the special values. glibc runs its expm1's FMA variant on a CPU with FMA, which the port
    follows; elsewhere its plain variant may differ in the last place."""
    import math

    from numba import njit

    from core.mlp import _tanh

    rng = np.random.default_rng(11)
    n = 2_000 if JIT_OFF else 400_000
    x = np.concatenate([rng.standard_normal(n) * scale for scale in (1e-17, 1e-9, 1e-3, 0.2, 0.5, 1, 3, 8, 15, 30)]
                       + [np.linspace(-25, 25, 10 * n)])
    edges = [0.0, -0.0, 2.0 ** -55, -(2.0 ** -55), 2.0 ** -54, 0.5 * math.log(2) / 2, 1.5 * math.log(2) / 2, 1.0, -1.0,
             math.nextafter(1.0, 0), 10.0, 19.7, 22.0, math.nextafter(22.0, 0), -22.0, 710.0, 5e-324,
             np.inf, -np.inf]
    x = np.concatenate([x, edges, np.nextafter(edges, np.inf), np.nextafter(edges, -np.inf)])
    ours = np.array([_tanh(v) for v in x]) if JIT_OFF else njit(lambda a: [_tanh(v) for v in a])(x)
    ours = np.asarray(ours)
    ref = np.array([math.tanh(v) for v in x])
    ulps = np.abs(ours.view(np.int64) - ref.view(np.int64))
    worst = int(np.argmax(ulps))
    assert ulps[worst] <= (0 if _cpu_has_fma() else 1), (x[worst], ours[worst], ref[worst])
    assert np.isnan(_tanh(np.nan))
