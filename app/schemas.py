"""Request and response models, derived from the registry.

The models check shapes and names (the enums come from core's registries, so
a new optimizer or surface appears here with no edit). Numbers are passed
through untouched and validated by core, so a bad value gets the same message
from the API as from Python: "hyperparameters.lr = -1 is outside [1e-06, 10]".
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Annotated, Any, Literal, Union

from pydantic_core import PydanticCustomError
from pydantic import (
    AfterValidator, BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, StrictBool, StrictInt, Tag, WithJsonSchema, create_model,
    model_validator,
)

import core
import core.external
from app.linkgrammar import key as link_key
from app.serialize import FIELDS, Encoding
from core.explore import CRITERIA, MAX_SEEDS

# The registry's ids, as the API's documentation lists them.
OptimizerEnum = Enum("OptimizerName", {k: k for k in core.OPTIMIZERS}, type=str)


def _known_optimizer(value) -> str:
    """A registry id, or a class the operator offered (core.external.OFFERED); a name is never imported here."""
    if isinstance(value, str) and (value in core.OPTIMIZERS or value in core.external.OFFERED):
        return value
    allowed = ", ".join(repr(k) for k in [*core.OPTIMIZERS, *core.external.OFFERED])
    shown = repr(value) if isinstance(value, str) else f"{value!r} (not a name)"
    raise ValueError(f"unknown optimizer {shown}; allowed: {allowed}")


OptimizerName = Annotated[Any, AfterValidator(_known_optimizer), WithJsonSchema({
    "type": "string", "enum": list(core.OPTIMIZERS),
    "description": "a registry id (see /api/catalog), or a module:Class the server's operator offers"})]
SurfaceName = Enum("SurfaceName", {k: k for k in core.SURFACES}, type=str)
ScheduleName = Enum("ScheduleName", {k: k for k in core.SCHEDULES}, type=str)
FieldName = Enum("FieldName", {k: k for k in FIELDS}, type=str)

# Checked by core, which accepts what Python's json gives (NaN included) and explains what is wrong.
Number = Annotated[Any, WithJsonSchema({"type": "number"})]
Integer = Annotated[Any, WithJsonSchema({"type": "integer"})]
# A hyperparameter of kind "bool" (rmsprop's centered) also takes true and false.
HyperValue = Annotated[Any, WithJsonSchema({"anyOf": [{"type": "number"}, {"type": "boolean"}]})]
# Parsed by core.formula, whose errors name the column; never evaluated as Python.
Formula = Annotated[Any, WithJsonSchema({"type": "string", "maxLength": 500, "description": (
    "f(x, y) with + - * / ^ ** ( ), pi, e and sin cos tan asin acos atan atan2 sinh cosh tanh exp log log10 "
    "sqrt abs min max")})]
Domain = Annotated[Any, WithJsonSchema({"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4,
                                        "description": "[x_min, x_max, y_min, y_max]; [-5, 5, -5, 5] when omitted"})]
Start = Annotated[Any, WithJsonSchema({"anyOf": [
    {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2}, {"type": "null"}]})]


class SurfaceRef(BaseModel):
    """A surface: its name, {"name": ..., param: value} to set its own parameters, or your own
    {"formula": "(1-x)^2 + 100*(y-x^2)^2", "domain": [x_min, x_max, y_min, y_max]}."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, Number]
    name: SurfaceName | None = None
    formula: Formula = None
    domain: Domain = None

    @model_validator(mode="after")
    def _named(self):
        if self.formula is None and self.name is None:
            raise PydanticCustomError("missing", 'Field required: a name, or a formula such as {"formula": "x^2 + 3*y^2"}')
        if self.formula is not None and self.name is not None:
            raise PydanticCustomError("value_error", "a formula is the surface: give a name or a formula, not both")
        return self

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, value):
        if isinstance(value, dict) and value.get("name") == "custom":
            # "custom" names no registry entry: the formula is the surface.
            value = {k: v for k, v in value.items() if k != "name"}
            value.setdefault("formula", None)
        return {"name": value} if isinstance(value, str) else value

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema, handler):
        # Documented as what it accepts: a bare name, or the object with parameters.
        obj = handler.resolve_ref_schema(handler(core_schema))
        name = obj["properties"]["name"]
        return {"anyOf": [name.get("anyOf", [name])[0], obj], "title": "Surface", "description": cls.__doc__}

    def as_core(self) -> str | dict:
        if self.formula is not None:
            return {"formula": self.formula, **({} if self.domain is None else {"domain": self.domain}),
                    **(self.__pydantic_extra__ or {})}
        params = dict(self.__pydantic_extra__ or {})
        return {"name": self.name.value, **params} if params else self.name.value


class ScheduleRef(BaseModel):
    """A learning-rate schedule and its parameters, e.g. {"name": "cosine", "t_max": 500, "warmup_steps": 10}."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, Number]
    name: ScheduleName

    def as_core(self) -> dict:
        return {"name": self.name.value, **(self.__pydantic_extra__ or {})}


class Noise(BaseModel):
    """Gaussian noise N(0, sigma^2) added to every gradient coordinate; seed defaults to the request's."""

    model_config = ConfigDict(extra="allow")
    sigma: Number = 0.0
    seed: Integer = None

    def as_core(self) -> dict:
        return self.model_dump(exclude_unset=True)


Hyperparameters = Annotated[
    dict[str, HyperValue],
    Field(description="overrides of the optimizer's defaults, by torch.optim name; see /api/catalog"),
]


class RunSpec(BaseModel):
    """One optimizer in a comparison."""

    model_config = ConfigDict(extra="forbid")
    optimizer: OptimizerName
    hyperparameters: Hyperparameters = {}
    label: str | None = Field(None, max_length=link_key("{opt}.label").max_length, description="the run's own name in legends (plain text)")
    schedule: ScheduleRef | None = Field(None, description="this run's own learning-rate schedule, instead of the "
                                         'request\'s (e.g. {"name": "cosine", "t_max": 500} beside a run that keeps '
                                         'a constant rate: {"name": "constant"})')


class TrajectoryRequest(BaseModel):
    """Runs of several optimizers on one surface, from one start, for the same number of steps.

    Keys not listed here (such as the page's display settings) are ignored.
    """

    surface: SurfaceRef
    start: Start = Field(None, description="[x, y]; the surface's default start when omitted")
    steps: Integer = 300
    runs: list[RunSpec] = Field(min_length=1)
    schedule: ScheduleRef | None = None
    noise: Noise | None = None
    seed: Integer = 0
    fields: list[FieldName] | None = Field(
        None, description="arrays to return for each run; all of them when omitted. "
        "Asking only for points and losses keeps responses small when nothing else is drawn.",
    )
    encoding: Encoding = Field(
        "json", description='how each array is written: "json" as lists of numbers; "base64" as '
        '{"dtype": "float64", "shape": [n, 2], "base64": "..."}, the little-endian float64 bytes of the '
        "array in base64, exact to the bit, about 45% smaller and much faster to write and to read.",
    )

    def field_names(self) -> tuple[str, ...]:
        return FIELDS if self.fields is None else tuple(f.value for f in self.fields)


class GridRange(BaseModel):
    """num values from low to high, evenly spaced, or geometrically when log is true."""

    model_config = ConfigDict(extra="forbid")
    low: Number
    high: Number
    num: Integer
    log: StrictBool = False  # true or false: "yes" or 1 is refused, not read as true


# A list or a range, told apart by its JSON type, so a bad range gets the range's error alone
# (not also "Input should be a valid list"). The tag is left out of error locs (app.services.validation.clean_errors).
GridAxis = Annotated[
    Union[Annotated[list[Number], Tag("list")], Annotated[GridRange, Tag("range")]],
    Discriminator(lambda v: "list" if isinstance(v, list) else "range"),
]
GRID_AXIS_TAGS = ("list", "range")


class SweepRequest(BaseModel):
    """One optimizer over a grid of two hyperparameters, or of start points ("x" and "y").

    Unknown keys are refused: a key it would ignore is a mistake.
    """

    model_config = ConfigDict(extra="forbid")
    surface: SurfaceRef
    optimizer: OptimizerName
    start: Start = Field(None, description="[x, y]; the surface's default start when omitted")
    steps: Integer = 300
    grid: dict[str, GridAxis] = Field(
        description='exactly two names, each a hyperparameter of the optimizer or "x" / "y", '
        'to a list of values or {"low", "high", "num", "log"}',
    )
    hyperparameters: Hyperparameters = {}
    schedule: ScheduleRef | None = None
    tol: Number = Field(1e-3, description="a cell has converged once loss - minimum value <= tol")
    seed: Integer = 0
    noise: Noise | None = Field(None, description="gradient noise; every cell sees the same draws, as every cell "
                                "sees the same minibatches")


# --- tuning and basins --------------------------------------------------------------------

class TuneRequest(BaseModel):
    """Optimizers whose learning rate to tune on one surface, start, schedule and noise; unknown keys are refused."""

    model_config = ConfigDict(extra="forbid")
    surface: SurfaceRef
    start: Start = Field(None, description="[x, y]; the surface's default start when omitted")
    steps: Integer = 500
    optimizers: list[RunSpec] = Field(min_length=1, description="each optimizer with its other hyperparameters; "
                                      "a given lr is ignored, since lr is what is swept")
    schedule: ScheduleRef | None = None
    noise: Noise | None = None
    seed: Integer = 0
    num: Integer = Field(64, description="learning rates tried per optimizer, across its range (log where the "
                         "catalog says so)")
    lr_range: list[Number] | None = Field(None, min_length=2, max_length=2,
                                          description="[low, high] instead of each optimizer's whole range")
    criterion: Literal[CRITERIA] = Field("final_loss", description='"final_loss": the lowest final loss; '
                                         '"steps_to_tol": the fewest steps until loss - minimum value <= tol')
    tol: Number = 1e-3
    seeds: Integer = Field(5, description=f"noise seeds per learning rate when noise.sigma > 0 (at most {MAX_SEEDS}); "
                           "the criterion judges their mean")


class LrCurveResult(BaseModel):
    """One optimizer's results per learning rate; null where a run diverged or never reached the tolerance."""

    optimizer: OptimizerName
    hyperparameters: dict[str, float]
    lr: list[float]
    final_losses: list[float | None]
    steps_to_tol: list[float | None]
    diverged: list[bool]
    best_index: int | None
    best_lr: float | None = Field(description="null when every learning rate diverged")
    met: bool = Field(description="false when no lr reached the tolerance and the pick fell back to final loss")


class TuneResponse(BaseModel):
    surface: str
    start: list[float]
    steps: int
    criterion: str
    tol: float
    minimum_value: float | None
    noise: dict | None
    seeds: list[int] = Field(description="the noise seeds each lr was averaged over; empty without noise")
    results: list[LrCurveResult]


class BasinsRequest(SweepRequest):
    """A sweep (usually of start points "x" and "y") whose cells are labelled by the minimum they end at."""

    radius: Number = Field(None, description="how near a minimum a run must end to count as reaching it; "
                           "2% of the surface's larger domain side when omitted")


# --- responses (documentation: the handlers write JSON with orjson directly) ------------------

class HyperparameterInfo(BaseModel):
    name: str
    symbol: str
    default: float
    low: float
    high: float
    log: bool
    kind: str
    help: str


class OptimizerInfo(BaseModel):
    id: OptimizerEnum
    label: str
    help: str
    rule: str
    reference: str
    state: list[str]
    torch: dict | None
    has_step_size: bool
    hyperparameters: list[HyperparameterInfo]


class SurfaceInfo(BaseModel):
    id: SurfaceName
    label: str
    help: str
    formula: str
    reference: str
    domain: list[list[float]]
    start: list[float]
    minima: list[list[float]]
    saddles: list[list[float]]
    minimum_value: float | None
    stochastic: bool
    params: list[HyperparameterInfo]


class ScheduleInfo(BaseModel):
    id: ScheduleName
    label: str
    help: str
    params: list[HyperparameterInfo]


class Limits(BaseModel):
    max_steps: int
    max_runs: int
    max_answer_steps: int
    max_sweep_cells: int
    max_sweep_steps: int
    max_grid_resolution: int
    max_body_bytes: int
    max_compute_seconds: float
    max_formula_chars: int
    max_formula_depth: int
    max_formula_nodes: int


class Catalog(BaseModel):
    optimizers: list[OptimizerInfo]
    surfaces: list[SurfaceInfo]
    schedules: list[ScheduleInfo]
    limits: Limits


class EncodedArray(BaseModel):
    """An array of a request with "encoding": "base64": its little-endian float64 bytes, in base64."""

    dtype: Literal["float64"]
    shape: list[int]
    base64: str


class RunResult(BaseModel):
    """One run; per-point arrays have one entry more than per-step ones (the start)."""

    optimizer: OptimizerName
    label: str | None = None
    hyperparameters: dict[str, float]
    points: list[list[float]] | EncodedArray | None = None
    losses: list[float] | EncodedArray | None = None
    lr: list[float] | EncodedArray | None = None
    gradients: list[list[float]] | EncodedArray | None = None
    state: dict[str, list[list[float]] | EncodedArray] | None = None
    effective_lr: list[list[float]] | EncodedArray | None = None
    step_size: list[float] | EncodedArray | None = None
    diverged_at: int | None


class TrajectoryResponse(BaseModel):
    surface: SurfaceName
    surface_params: dict[str, float]
    start: list[float]
    steps: int
    runs: list[RunResult]


class GridResponse(BaseModel):
    surface: SurfaceName
    surface_params: dict[str, float]
    x: list[float]
    y: list[float]
    z: list[list[float | None]] = Field(description="one row per y; null where the surface overflows")
    z_min: float | None
    z_max: float | None


class ErrorItem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ErrorResponse(BaseModel):
    detail: list[ErrorItem]


def _surface_params() -> dict[str, tuple]:
    """Every surface parameter name, as an optional query parameter saying which surfaces take it."""
    owners: dict[str, list[str]] = {}
    helps: dict[str, str] = {}
    for spec in core.SURFACES.values():
        for h in spec.params:
            owners.setdefault(h.name, []).append(spec.id)
            helps.setdefault(h.name, f"{h.help} [{h.low:g}, {h.high:g}], default {h.default:g}")
    return {
        name: (float | None, Field(None, description=f"{', '.join(ids)}: {helps[name]}"))
        for name, ids in owners.items()
    }


def _whole_text(value):
    """A query's integer as digits only: "2.0" and "1e2" are refused rather than read as 2 and 100."""
    if isinstance(value, str) and not re.fullmatch(r"[+-]?[0-9]{1,18}", value):
        raise ValueError("must be a whole number written in digits, such as 100")
    return value


GridQuery = create_model(
    "GridQuery",
    __config__=ConfigDict(extra="forbid"),
    resolution=(Annotated[int, BeforeValidator(_whole_text)], Field(100, description="points per axis")),
    x_min=(float | None, Field(None, description="the surface's domain when omitted")),
    x_max=(float | None, None),
    y_min=(float | None, None),
    y_max=(float | None, None),
    **_surface_params(),
)


# --- the network surface ------------------------------------------------------------

NetworkSpec = Annotated[dict[str, Any], WithJsonSchema({
    "type": "object", "description": (
        'a network, checked by core: {"data": "moons" | "circles" | "spirals" | "xor" | "blobs" | "digits", '
        '"samples": 200, "hidden": [16, 16], "activation": "tanh" | "relu", "seed": 0, "noise": 0.1, '
        '"batch_size": 32 (omitted: full batch)}')})]


class PlaneRequest(BaseModel):
    """The plane of the landscape: its kind, its centre and its grid (see core.landscape)."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["random", "pca", "points", "given"] = Field(
        "pca", description='"given": the plane through centre (weights) along directions, as an earlier answer '
        'drew it, so new runs are put on a plane already shown')
    centre: Any = Field("initial", description='"initial", "final" (the first run\'s end), {"run": i} or weights')
    directions: Annotated[Any, WithJsonSchema({"anyOf": [
        {"type": "array", "items": {"type": "array", "items": {"type": "number"}}}, {"type": "null"}]})] = Field(
        None, description="with kind given: two lists of the network's weights, the plane's d1 and d2 (an answer's "
        "plane.directions)")
    grid: StrictBool = Field(True, description="false: only the paths on the plane, without the loss on its grid")
    resolution: Integer = 31
    span: Number | None = None
    seed: Integer = 0
    through: list[StrictInt] = Field([0, 1], min_length=2, max_length=2,
                                   description="the two runs whose ends, with the start, span the plane of kind points")


class NetworkRequest(BaseModel):
    """Runs of several optimizers training one network from the same initial weights and batches."""

    model_config = ConfigDict(extra="forbid")
    network: NetworkSpec
    steps: Integer = 200
    runs: list[RunSpec] = Field(min_length=1)
    schedule: ScheduleRef | None = None
    noise: Noise | None = None
    seed: Integer = 0
    weights: StrictBool = Field(False, description="send every run's weights at every step (steps + 1 rows of P)")
    weights_every: Integer = Field(1, description="with weights: only the weights of every k-th point, and of each "
                                   "run's last, each chunk naming its points in weights_points; a long run's answer "
                                   "stays small")
    plane: PlaneRequest | None = Field(None, description="the loss on a plane and the paths projected on it")
    encoding: Encoding = "json"
