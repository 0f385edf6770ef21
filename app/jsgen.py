"""The page's engine, generated: the registry's scalar kernels translated from their Python to JavaScript.

The kernels are written in a small, restricted Python (numbers in, numbers out),
so they can be read with `ast` and written out again as JavaScript: the page
then steps the same functions the server compiles with numba, never a second,
hand-written copy. Whatever falls outside that Python is refused with a reason,
and that optimizer or surface stays on the server:

- a whole-vector kernel (array state, the surface probed elsewhere by core.probe)
  runs in its own loop, which only the server has;
- a surface with a `prepare` step (numpy data, minibatches drawn by numpy's generator);
- a call of `fma` (one rounding of a * b + c): JavaScript has no fused multiply-add,
  and a * b + c rounded twice differs in the last bit, which the references these
  kernels follow amplify (today only whole kernels call it);
- any node or call not in the whitelist below.

    python -m app.jsgen PATH      writes the module to PATH (static/js/generated/kernels.js)

The module exports the translated kernels behind one calling convention per form
(`step(p, g, t, lr_t, h, s)` for an optimizer, `value(x, y, P)` for a surface),
the schedules' factor functions, and what was refused and why. The loop that calls
them is static/js/engine.js, which follows core.engine's run_trajectory.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import json
import math
import sys
import textwrap
import types
from dataclasses import dataclass, field
from pathlib import Path

from core import formula as _formula
from core import schedules as _schedules
from core.optimizers import OPTIMIZERS
from core.spec import OptimizerSpec, SurfaceSpec
from core.surfaces import SURFACES


class Refused(Exception):
    """A kernel the translator cannot take; `reason` says what in it, for the page to show."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


# Functions of numpy and math with a JavaScript twin of the same IEEE meaning. sqrt is correctly
# rounded on both sides; exp, log, sin, cos, pow and the rest come from different libms (glibc under
# numba, V8's fdlibm port in the page) and may differ in the last bit.
_MATH = {
    "sqrt": "Math.sqrt", "exp": "Math.exp", "log": "Math.log", "log10": "Math.log10", "expm1": "Math.expm1",
    "log1p": "Math.log1p", "sin": "Math.sin", "cos": "Math.cos", "tan": "Math.tan", "arcsin": "Math.asin",
    "asin": "Math.asin", "arccos": "Math.acos", "acos": "Math.acos", "arctan": "Math.atan", "atan": "Math.atan",
    "sinh": "Math.sinh", "cosh": "Math.cosh", "tanh": "Math.tanh", "arctan2": "Math.atan2", "atan2": "Math.atan2",
    "floor": "Math.floor", "ceil": "Math.ceil", "fabs": "Math.abs", "abs": "Math.abs", "absolute": "Math.abs",
    # Python's and numpy's meanings where JavaScript's differ (NaN, signed zero, pow(1, NaN)): the runtime's.
    "sign": "rt.sign", "power": "rt.pow", "pow": "rt.pow",
}
# Correctly rounded (or exact) on both sides: a kernel that calls only these gives the server's bits.
_EXACT = {"sqrt", "floor", "ceil", "fabs", "abs", "absolute", "sign"}
_MATH_CONSTANTS = {"pi": "Math.PI", "e": "Math.E", "inf": "Infinity", "nan": "NaN"}
_BUILTINS = {"min": "rt.min", "max": "rt.max", "abs": "Math.abs", "float": "", "int": "Math.trunc"}
# numpy's array-making calls in a schedule's factors, which work on a vector of steps: element by element
# here, the shape they copy is one step.
_ELEMENTWISE = {"ones_like": "1.0", "zeros_like": "0.0"}
# Calls whose Python body cannot be translated but whose meaning is plain: a scratch buffer on the machine
# stack (core.formula's alloca) is a buffer of the module here, since a kernel never calls itself.
_SCRATCH = {(_formula.__name__, "_stack")}

_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
_COMPARE = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "===", ast.NotEq: "!=="}
_RESERVED = {
    "arguments", "await", "break", "case", "catch", "class", "const", "continue", "debugger", "default", "delete",
    "do", "else", "enum", "eval", "export", "extends", "false", "finally", "for", "function", "if", "implements",
    "import", "in", "instanceof", "interface", "let", "new", "null", "package", "private", "protected", "public",
    "return", "static", "super", "switch", "this", "throw", "true", "try", "typeof", "var", "void", "while", "with",
    "yield", "Math", "rt", "NaN", "Infinity", "undefined",
}


def _python(fn):
    return getattr(fn, "py_func", fn)


def _definition(fn) -> ast.FunctionDef | ast.Lambda:
    """The syntax tree of a function, or of a lambda found by its line in its module's source."""
    if fn.__name__ != "<lambda>":
        node = ast.parse(textwrap.dedent(inspect.getsource(fn))).body[0]
        if not isinstance(node, ast.FunctionDef):
            raise Refused(f"{fn.__name__} is not a plain function")
        return node
    # A lambda's own source is the lines around it, not a statement: find it in its module instead.
    module = inspect.getmodule(fn)
    line = fn.__code__.co_firstlineno
    found = [n for n in ast.walk(ast.parse(inspect.getsource(module))) if isinstance(n, ast.Lambda) and n.lineno == line]
    if len(found) != 1:
        raise Refused(f"a lambda on line {line} of {module.__name__} that is not alone on its line")
    return found[0]


def _js_name(name: str) -> str:
    return f"{name}_" if name in _RESERVED else name


def _number(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    v = float(v) if not isinstance(v, int) else v
    if isinstance(v, float):
        if math.isnan(v):
            return "NaN"
        if math.isinf(v):
            return "Infinity" if v > 0 else "-Infinity"
        return repr(v)
    return str(v)


@dataclass
class _Module:
    """The helpers translated so far (shared by every kernel that calls them) and the scratch buffers."""

    helpers: dict[str, str] = field(default_factory=dict)  # JS name -> function text
    libm: dict[str, set] = field(default_factory=dict)  # JS name -> the libm functions it calls, helpers' too
    scratch: dict[str, str] = field(default_factory=dict)  # JS name -> declaration
    translating: set = field(default_factory=set)

    def helper(self, fn, elementwise: bool = False) -> str:
        py = _python(fn)
        name = f"h_{py.__module__.split('.')[-1]}_{py.__name__}{'_e' if elementwise else ''}"
        if name not in self.helpers:
            if name in self.translating:
                raise Refused(f"{py.__name__} calls itself")
            self.translating.add(name)
            try:
                function = _Function(py, self, name, elementwise)
                self.helpers[name] = function.translate()
                self.libm[name] = function.libm
            finally:
                self.translating.discard(name)
        return name


class _Function:
    """One Python function's body as a JavaScript function; raises Refused at the first node outside the whitelist."""

    def __init__(self, fn, module: _Module, js_name: str, elementwise: bool = False):
        self.fn = fn
        self.module = module
        self.js_name = js_name
        self.elementwise = elementwise
        self.globals = dict(fn.__globals__)
        if fn.__closure__:
            self.globals.update(zip(fn.__code__.co_freevars, (c.cell_contents for c in fn.__closure__)))
        self.node = _definition(fn)
        self.params = [a.arg for a in self.node.args.args]
        self.locals: set[str] = set()
        self.temp = 0
        self.libm: set[str] = set()

    def where(self, node) -> str:
        line = getattr(node, "lineno", 0)
        if isinstance(self.node, ast.Lambda):  # parsed from the whole module: its lines are the file's
            return f"a lambda (line {line})"
        return f"{self.fn.__name__} (line {line + self.fn.__code__.co_firstlineno - 1})"

    def refuse(self, node, what: str):
        raise Refused(f"{self.where(node)}: {what}")

    def translate(self) -> str:
        args = self.node.args
        if args.vararg or args.kwarg or args.kwonlyargs or args.defaults or args.posonlyargs:
            self.refuse(self.node, "takes more than plain positional arguments")
        body = self.node.body
        if isinstance(self.node, ast.Lambda):
            body = [ast.Return(value=body, lineno=self.node.lineno)]
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            body = body[1:]  # the docstring
        lines = self.block(body, 1)
        params = [_js_name(p) for p in self.params]
        decl = sorted(self.locals - set(self.params))
        head = [f"  let {', '.join(_js_name(n) for n in decl)};"] if decl else []
        return "\n".join([f"function {self.js_name}({', '.join(params)}) {{", *head, *lines, "}"])

    # --- statements ---------------------------------------------------------------

    def block(self, stmts, depth: int) -> list[str]:
        out = []
        for s in stmts:
            out += self.statement(s, depth)
        return out

    def statement(self, s, depth: int) -> list[str]:
        pad = "  " * depth
        if isinstance(s, ast.Return):
            if s.value is None:
                self.refuse(s, "returns nothing")
            if isinstance(s.value, ast.Tuple):
                return [f"{pad}return [{', '.join(self.expr(e) for e in s.value.elts)}];"]
            return [f"{pad}return {self.expr(s.value)};"]
        if isinstance(s, ast.Assign):
            if len(s.targets) != 1:
                self.refuse(s, "assigns to several targets at once")
            return self.assign(s.targets[0], s.value, pad)
        if isinstance(s, ast.AugAssign):
            op = _BINOPS.get(type(s.op))
            if op is None:
                self.refuse(s, f"augmented assignment {type(s.op).__name__}")
            target = self.target(s.target)
            return [f"{pad}{target} = {target} {op} {self.expr(s.value)};"]
        if isinstance(s, ast.If):
            out = [f"{pad}if ({self.test(s.test)}) {{", *self.block(s.body, depth + 1)]
            if s.orelse:
                out += [f"{pad}}} else {{", *self.block(s.orelse, depth + 1)]
            return out + [f"{pad}}}"]
        if isinstance(s, ast.For):
            return self.for_range(s, depth)
        if isinstance(s, ast.Pass):
            return []
        if isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant) and isinstance(s.value.value, str):
            return []
        self.refuse(s, f"a {type(s).__name__} statement")

    def for_range(self, s: ast.For, depth: int) -> list[str]:
        pad = "  " * depth
        call = s.iter
        if (s.orelse or not isinstance(s.target, ast.Name) or not isinstance(call, ast.Call)
                or not isinstance(call.func, ast.Name) or call.func.id != "range" or self.resolve(call.func) is not range
                or len(call.args) not in (1, 2) or call.keywords):
            self.refuse(s, "a loop other than `for i in range(a[, b])`")
        lo, hi = ("0", call.args[0]) if len(call.args) == 1 else (self.expr(call.args[0]), call.args[1])
        i = _js_name(s.target.id)
        self.locals.add(s.target.id)
        self.temp += 1
        end = f"end{self.temp}_"
        # range() reads its bound once, and the loop variable keeps its last value after the loop, as in Python.
        return [f"{pad}for (let {end} = {self.expr(hi)}, i{self.temp}_ = {lo}; i{self.temp}_ < {end}; i{self.temp}_++) {{",
                f"{pad}  {i} = i{self.temp}_;", *self.block(s.body, depth + 1), f"{pad}}}"]

    def assign(self, target, value, pad: str) -> list[str]:
        if isinstance(target, ast.Tuple):
            names = target.elts
            if isinstance(value, ast.Tuple):
                if len(value.elts) != len(names):
                    self.refuse(value, "unpacks a tuple of another length")
                # Every right-hand value is read before any target is written, as Python does.
                temps = []
                out = []
                for e in value.elts:
                    self.temp += 1
                    temps.append(f"t{self.temp}_")
                    out.append(f"{pad}const {temps[-1]} = {self.expr(e)};")
                for t, tmp in zip(names, temps):
                    out.append(f"{pad}{self.target(t)} = {tmp};")
                return [f"{pad}{{", *["  " + ln for ln in out], f"{pad}}}"]
            self.temp += 1
            tmp = f"r{self.temp}_"
            out = [f"{pad}{{", f"{pad}  const {tmp} = {self.expr(value)};"]
            for n, t in enumerate(names):
                out.append(f"{pad}  {self.target(t)} = {tmp}[{n}];")
            return out + [f"{pad}}}"]
        if isinstance(target, ast.Name) and isinstance(value, ast.Call):
            scratch = self.scratch_call(value)
            if scratch is not None:
                self.locals.add(target.id)
                return [f"{pad}{_js_name(target.id)} = {scratch};"]
        return [f"{pad}{self.target(target)} = {self.expr(value)};"]

    def target(self, t) -> str:
        if isinstance(t, ast.Name):
            if t.id == "_":
                self.locals.add("_")
                return "_"
            self.locals.add(t.id)
            return _js_name(t.id)
        if isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name) and t.value.id in self.locals | set(self.params):
            return f"{_js_name(t.value.id)}[{self.index(t.slice)}]"
        self.refuse(t, f"assigns to a {type(t).__name__}")

    def index(self, node) -> str:
        if isinstance(node, ast.Tuple) or isinstance(node, ast.Slice):
            self.refuse(node, "indexes with a slice or several indices")
        return self.expr(node)

    def scratch_call(self, call: ast.Call) -> str | None:
        fn = self.resolve(call.func) if isinstance(call.func, ast.Name) else None
        py = _python(fn) if fn is not None else None
        if py is None or (getattr(py, "__module__", None), getattr(py, "__name__", None)) not in _SCRATCH:
            return None
        if len(call.args) != 1:
            self.refuse(call, "a scratch buffer of other than one size")
        size = self.constant(call.args[0])
        if size is None:
            self.refuse(call, "a scratch buffer whose size is not a constant")
        name = f"scratch{len(self.module.scratch)}_"
        self.module.scratch[name] = f"const {name} = new Float64Array({int(size)});"
        return name

    # --- expressions ----------------------------------------------------------------

    def resolve(self, node):
        """The Python object a global name or a module attribute stands for, or None."""
        if isinstance(node, ast.Name):
            if node.id in self.locals or node.id in self.params:
                return None
            if node.id in self.globals:
                return self.globals[node.id]
            import builtins
            return getattr(builtins, node.id, None)
        if isinstance(node, ast.Attribute):
            base = self.resolve(node.value)
            if isinstance(base, types.ModuleType):
                return getattr(base, node.attr, None)
        return None

    def constant(self, node):
        """A number the node is known to be when the module is loaded (a global constant), or None."""
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return node.value
        v = self.resolve(node)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return v
        return None

    def test(self, node) -> str:
        if isinstance(node, (ast.Compare, ast.BoolOp)) or (isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not)):
            return self.expr(node)
        if isinstance(node, ast.Constant) and isinstance(node.value, bool):
            return self.expr(node)
        # Python's truth of a number: NaN is true.
        return f"rt.truth({self.expr(node)})"

    def expr(self, node) -> str:
        if isinstance(node, ast.Constant):
            if isinstance(node.value, (bool, int, float)):
                return _number(node.value)
            self.refuse(node, f"the constant {node.value!r}")
        if isinstance(node, ast.Name):
            if node.id in self.locals or node.id in self.params:
                return _js_name(node.id)
            v = self.constant(node)
            if v is not None:
                return _number(v)
            if isinstance(self.resolve(node), bool):
                return _number(self.resolve(node))
            self.refuse(node, f"the name {node.id!r}, neither a local nor a numeric constant")
        if isinstance(node, ast.Attribute):
            base = self.resolve(node.value)
            if isinstance(base, types.ModuleType) and base.__name__ in ("math", "numpy") and node.attr in _MATH_CONSTANTS:
                return _MATH_CONSTANTS[node.attr]
            v = self.constant(node)
            if v is not None:
                return _number(v)
            self.refuse(node, f"the attribute {ast.unparse(node)}")
        if isinstance(node, ast.BinOp):
            a, b = self.expr(node.left), self.expr(node.right)
            if isinstance(node.op, ast.Pow):
                self.libm.add("pow")
                return f"rt.pow({a}, {b})"
            if isinstance(node.op, ast.Mod):
                return f"rt.mod({a}, {b})"
            if isinstance(node.op, ast.FloorDiv):
                return f"Math.floor({a} / {b})"
            op = _BINOPS.get(type(node.op))
            if op is None:
                self.refuse(node, f"the operator {type(node.op).__name__}")
            return f"({a} {op} {b})"
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub):
                return f"(-{self.expr(node.operand)})"
            if isinstance(node.op, ast.UAdd):
                return self.expr(node.operand)
            if isinstance(node.op, ast.Not):
                return f"(!{self.test(node.operand)})"
            self.refuse(node, f"the operator {type(node.op).__name__}")
        if isinstance(node, ast.Compare):
            parts, left = [], self.expr(node.left)
            for op, right in zip(node.ops, node.comparators):
                js = _COMPARE.get(type(op))
                if js is None:
                    self.refuse(node, f"the comparison {type(op).__name__}")
                r = self.expr(right)
                parts.append(f"({left} {js} {r})")
                left = r
            return parts[0] if len(parts) == 1 else f"({' && '.join(parts)})"
        if isinstance(node, ast.BoolOp):
            op = " && " if isinstance(node.op, ast.And) else " || "
            return f"({op.join(self.test(v) for v in node.values)})"
        if isinstance(node, ast.IfExp):
            return f"({self.test(node.test)} ? {self.expr(node.body)} : {self.expr(node.orelse)})"
        if isinstance(node, ast.Subscript):
            if isinstance(node.value, ast.Name) and (node.value.id in self.locals or node.value.id in self.params):
                key = node.slice
                if self.elementwise and isinstance(key, ast.Constant) and isinstance(key.value, str):
                    return f"{_js_name(node.value.id)}.{key.value}"
                return f"{_js_name(node.value.id)}[{self.index(key)}]"
            v = self.resolve(node.value)
            i = self.constant(node.slice)
            if isinstance(v, tuple) and i is not None and isinstance(v[int(i)], (int, float)):
                return _number(v[int(i)])
            self.refuse(node, f"the subscript {ast.unparse(node)}")
        if isinstance(node, ast.Call):
            return self.call(node)
        self.refuse(node, f"a {type(node).__name__} expression")

    def call(self, node: ast.Call) -> str:
        if node.keywords:
            if self.elementwise and isinstance(node.func, ast.Attribute) and node.func.attr in _ELEMENTWISE:
                return _ELEMENTWISE[node.func.attr]
            self.refuse(node, f"keyword arguments in {ast.unparse(node.func)}(...)")
        # x.astype(float) on a vector of steps: the step itself, element by element.
        if (self.elementwise and isinstance(node.func, ast.Attribute) and node.func.attr == "astype"
                and self.resolve(node.func.value) is None):
            return self.expr(node.func.value)
        fn = self.resolve(node.func)
        mod = getattr(fn, "__module__", None) or ""
        name = getattr(fn, "__name__", "")
        known = fn in (min, max, abs, float, int) or name == "fma" or hasattr(fn, "py_func") or (
            inspect.isfunction(fn) and mod.startswith("core.")) or (
            (mod == "math" or mod.startswith("numpy")) and (name in _MATH or (self.elementwise and name in (
                *_ELEMENTWISE, "floor_divide", "where"))))
        if fn is None or not known:
            self.refuse(node, f"the call {ast.unparse(node.func)}(...)")
        args = [self.expr(a) for a in node.args]
        if fn in (min, max, abs, float, int):
            js = _BUILTINS[name]
            if name in ("min", "max") and len(args) != 2:
                self.refuse(node, f"{name} of other than two numbers")
            return f"{js}({', '.join(args)})" if js else f"({args[0]})"
        if self.elementwise and mod.startswith("numpy") and name in _ELEMENTWISE:
            return _ELEMENTWISE[name]
        if self.elementwise and mod.startswith("numpy") and name == "floor_divide":
            return f"Math.floor({args[0]} / {args[1]})"
        if self.elementwise and mod.startswith("numpy") and name == "where":
            return f"({args[0]} ? {args[1]} : {args[2]})"
        if name in _MATH and (mod == "math" or mod.startswith("numpy")):
            if name not in _EXACT:
                self.libm.add(name)
            return f"{_MATH[name]}({', '.join(args)})"
        if name == "fma":
            self.refuse(node, "calls fma (a * b + c rounded once): JavaScript has no fused multiply-add")
        if hasattr(fn, "py_func") or (inspect.isfunction(fn) and mod.startswith("core.")):
            helper = self.module.helper(fn, self.elementwise)
            self.libm |= self.module.libm[helper]
            return f"{helper}({', '.join(args)})"
        self.refuse(node, f"the call {ast.unparse(node.func)}(...)")


# --- the registry ------------------------------------------------------------------

def optimizer_step(spec: OptimizerSpec, kernel: str) -> str:
    """The step of both coordinates, as core.engine.optimizer_call writes it for the scalar loop."""
    nh, ns = len(spec.hyperparameters), len(spec.state)
    args = ["p[i]", "g[i]", "t", "lr_t"] + [f"h[{q}]" for q in range(nh)] + [f"s[{2 * q} + i]" for q in range(ns)]
    body = [f"    const r = {kernel}({', '.join(args)});", "    p[i] = r[0];"]
    body += [f"    s[{2 * q} + i] = r[{q + 1}];" for q in range(ns)]
    if not ns:
        body = [f"    p[i] = {kernel}({', '.join(args)});"]
    return "\n".join(["(p, g, t, lr_t, h, s) => {", "  for (let i = 0; i < 2; i++) {", *body, "  }", "}"])


def surface_value(spec: SurfaceSpec, kernel: str) -> str:
    """The surface's (f, gx, gy) at (x, y), its constants read from P as core.engine.surface_call reads them."""
    if spec.whole_params:
        return f"(x, y, P) => {kernel}(x, y, P)"
    n_const = len(inspect.signature(_python(spec.kernel)).parameters) - 2 - spec.batch_columns
    return f"(x, y, P) => {kernel}({', '.join(['x', 'y'] + [f'P[{q}]' for q in range(n_const)])})"


def _optimizer_refusal(spec: OptimizerSpec) -> str | None:
    if spec.whole:
        return "steps the whole parameter vector, in a loop only the server has"
    if spec.external is not None or spec.kernel is None:
        return "steps itself in Python"
    return None


def _surface_refusal(spec: SurfaceSpec) -> str | None:
    if spec.prepare is not None:
        return "draws its minibatches with numpy's generator"
    if spec.batch_columns:
        return "reads per-step data"
    return None


@dataclass
class Generated:
    source: str
    optimizers: dict[str, str]  # id -> JS kernel name
    surfaces: dict[str, str]
    refused: dict[str, dict[str, str]]
    # The libm functions (exp, log, pow, cos...) each translated optimizer, surface and schedule calls:
    # where there are none, the page's results are the server's to the bit.
    libm: dict[str, set]


def generate() -> Generated:
    """The module's text for the registry as it is now."""
    module = _Module()
    kernels: dict[str, str] = {}
    entries, surfaces, schedules = [], [], []
    refused: dict[str, dict[str, str]] = {"optimizers": {}, "surfaces": {}, "schedules": {}, "step_size": {}}
    done = {"optimizers": {}, "surfaces": {}}
    libm: dict[str, set] = {}

    def translated(kind: str, spec, fn, prefix: str, reason: str | None = None, elementwise: bool = False):
        """The kernel's JS name, or None with the reason it stays on the server recorded."""
        js = f"{prefix}_{spec.id}"
        before = dict(module.helpers), dict(module.scratch)
        try:
            if reason:
                raise Refused(reason)
            function = _Function(_python(fn), module, js, elementwise)
            kernels[js] = function.translate()
        except Refused as e:
            module.helpers, module.scratch = before  # a refused kernel leaves no half-translated helper behind
            refused[kind][spec.id] = e.reason
            return None
        libm[js] = function.libm
        return js

    for spec in OPTIMIZERS.values():
        name = translated("optimizers", spec, spec.kernel, "k", _optimizer_refusal(spec))
        if name is None:
            continue
        done["optimizers"][spec.id] = name
        init = {slot: (v if isinstance(v, str) else float(v)) for slot, v in spec.init.items()}
        # The inspector's bias-corrected step size, a rule over numpy arrays read element by element.
        size = None if spec.step_size is None else translated("step_size", spec, spec.step_size, "z", elementwise=True)
        entries.append(
            f"  {spec.id}: {{ hyperparameters: {_js_list(h.name for h in spec.hyperparameters)}, "
            f"state: {_js_list(spec.state)}, init: {_js_object(init)}, stepSize: {size or 'null'},\n"
            f"    step: {_indent(optimizer_step(spec, name))} }},")
    for spec in [*SURFACES.values(), _formula.CUSTOM]:
        name = translated("surfaces", spec, spec.kernel, "s", _surface_refusal(spec))
        if name is None:
            continue
        done["surfaces"][spec.id] = name
        surfaces.append(f"  {spec.id}: {{ params: {_js_list(h.name for h in spec.params)}, "
                        f"value: {surface_value(spec, name)} }},")
    for spec in _schedules.SCHEDULES.values():
        name = translated("schedules", spec, spec.factors, "f", elementwise=True)
        if name is not None:
            schedules.append(f"  {spec.id}: {{ params: {_js_list(h.name for h in spec.params)}, factors: {name} }},")

    body = "\n\n".join([*module.scratch.values(), *module.helpers.values(), *kernels.values()])
    text = "\n".join([
        "// Generated by app/jsgen.py from the registry's kernels (python -m app.jsgen); edits here are overwritten.",
        'import * as rt from "../runtime.js";',
        "",
        body,
        "",
        "export const OPTIMIZERS = {", *entries, "};",
        "",
        "export const SURFACES = {", *surfaces, "};",
        "",
        "export const SCHEDULES = {", *schedules, "};",
        "",
        f"export const REFUSED = {json.dumps(refused, indent=2, ensure_ascii=False)};",
        "",
    ])
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    text += f'export const SOURCE_HASH = "{digest}";\n'
    return Generated(text, done["optimizers"], done["surfaces"], refused, libm)


def _indent(text: str) -> str:
    return text.replace("\n", "\n    ")


def _js_list(items) -> str:
    return "[" + ", ".join(f'"{i}"' for i in items) + "]"


def _js_object(d: dict) -> str:
    return "{" + ", ".join(f"{k}: {_number(v) if not isinstance(v, str) else repr(v)}" for k, v in d.items()) + "}"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__)
        return 2
    path = Path(argv[0])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(generate().source)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
