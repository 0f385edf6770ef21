"""A surface typed as text: f(x, y) parsed, checked and compiled to a tape of opcodes.

The text never reaches Python's eval: a recursive-descent parser of our own
reads the grammar below and nothing else, and every error names the column.

    sum    := term (('+' | '-') term)*
    term   := unary (('*' | '/') unary)*
    unary  := ('-' | '+') unary | power
    power  := atom (('^' | '**') unary)?        right-associative: 2^3^2 = 2^9
    atom   := number | 'x' | 'y' | 'pi' | 'e' | name '(' sum (',' sum)* ')' | '(' sum ')'

A formula compiles to a tape, a float64 array [n, op_1, arg_1, ..., op_n, arg_n]
of stack-machine instructions. One precompiled numba kernel (`formula`)
evaluates any tape with forward-mode derivatives, carrying (f, df/dx, df/dy)
through every instruction, so a new formula runs at once: the generated
dispatch loop treats it as one more surface whose constants are the tape.
A second one (`formula_hessian`) runs the same tape in second-order forward
mode for the exact Hessian, the surface's `hessian` as for a built-in one.
abs, min and max return a subgradient: sign(a) da with sign(0) = 0, and the
derivative of the argument chosen (the first one at a tie).
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import numba
import numpy as np
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from core.spec import SurfaceSpec

MAX_CHARS = 500
MAX_DEPTH = 32  # nested parentheses, calls, signs and powers
MAX_NODES = 200
MAX_EXPONENT = 1000.0  # |c| of a constant power x^c; past it every |x| > 1 overflows at once
MAX_STACK = 64  # the kernel's stack; a formula within MAX_DEPTH needs at most MAX_DEPTH + 2
DEFAULT_DOMAIN = (-5.0, 5.0, -5.0, 5.0)
MAX_DOMAIN = 1e6


class FormulaError(ValueError):
    """A formula that cannot be used; `field` is "formula" or "domain", `column` counts from 1."""

    def __init__(self, message: str, column: int | None = None, field: str = "formula"):
        super().__init__(message)
        self.column = column
        self.field = field


# --- the language --------------------------------------------------------------

# Stack-machine opcodes. "C" ops take their constant from the instruction's argument.
X, Y, CONST, ADD, SUB, MUL, DIV, POW, NEG, SQUARE, POWC = range(1, 12)
ADDC, SUBC, RSUBC, MULC, DIVC, RDIVC = range(12, 18)
SIN, COS, TAN, ASIN, ACOS, ATAN, SINH, COSH, TANH, EXP, LOG, LOG10, SQRT, ABS = range(18, 32)
ATAN2, MIN, MAX = range(32, 35)

UNARY = {
    "sin": (SIN, math.sin), "cos": (COS, math.cos), "tan": (TAN, math.tan),
    "asin": (ASIN, math.asin), "acos": (ACOS, math.acos), "atan": (ATAN, math.atan),
    "sinh": (SINH, math.sinh), "cosh": (COSH, math.cosh), "tanh": (TANH, math.tanh),
    "exp": (EXP, math.exp), "log": (LOG, math.log), "log10": (LOG10, math.log10),
    "sqrt": (SQRT, math.sqrt), "abs": (ABS, abs),
}
BINARY_CALLS = {"atan2": (ATAN2, math.atan2), "min": (MIN, min), "max": (MAX, max)}
FUNCTIONS = tuple(UNARY) + tuple(BINARY_CALLS)
CONSTANTS = {"pi": math.pi, "e": math.e}
NAMES = ("x", "y", *CONSTANTS, *FUNCTIONS)
OPERATORS = {"+": (ADD, ADDC, None), "-": (SUB, SUBC, RSUBC), "*": (MUL, MULC, None), "/": (DIV, DIVC, RDIVC)}


@dataclass(frozen=True)
class Node:
    """An expression: kind is "num", "x", "y", an operator, "neg" or a function name."""

    kind: str
    args: tuple = ()
    value: float = 0.0
    column: int = 0

    @property
    def constant(self) -> bool:
        return self.kind == "num"


def _describe(ch: str) -> str:
    if ch.isascii() and ch.isprintable():
        return repr(ch)
    name = unicodedata.name(ch, "a control character")
    return f"{ch!r} (U+{ord(ch):04X} {name}; only plain ASCII is understood)"


def tokenize(text: str) -> list[tuple[str, str, int]]:
    """(kind, text, column) tokens; kind is "num", "name", "op", "bad" (a character outside the language) or "end"."""
    out = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in " \t\r\n":
            i += 1
        elif ch.isascii() and (ch.isdigit() or ch == "." and i + 1 < n and text[i + 1].isdigit()):
            j = i
            while j < n and text[j].isascii() and text[j].isdigit():
                j += 1
            if j < n and text[j] == ".":
                j += 1
                while j < n and text[j].isascii() and text[j].isdigit():
                    j += 1
            if j < n and text[j] in "eE":
                k = j + 1
                if k < n and text[k] in "+-":
                    k += 1
                if k < n and text[k].isascii() and text[k].isdigit():
                    while k < n and text[k].isascii() and text[k].isdigit():
                        k += 1
                    j = k
            out.append(("num", text[i:j], i + 1))
            i = j
        elif ch.isascii() and (ch.isalpha() or ch == "_"):
            j = i
            while j < n and text[j].isascii() and (text[j].isalnum() or text[j] == "_"):
                j += 1
            out.append(("name", text[i:j], i + 1))
            i = j
        elif text.startswith("**", i):
            out.append(("op", "^", i + 1))
            i += 2
        elif ch in "+-*/^(),":
            out.append(("op", ch, i + 1))
            i += 1
        else:
            # Reported when the parser reaches it, so errors come in reading order.
            out.append(("bad", ch, i + 1))
            i += 1
    out.append(("end", "", n + 1))
    return out


class _Parser:
    def __init__(self, text: str, max_depth: int, max_nodes: int):
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0
        self.nodes = 0
        self.max_depth = max_depth
        self.max_nodes = max_nodes

    def peek(self):
        return self.tokens[self.i]

    def take(self):
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def expect(self, text: str):
        kind, value, col = self.take()
        if value != text or kind != "op":
            raise self.unexpected((kind, value, col), f"; expected {text!r}")

    def unexpected(self, tok, hint: str = "") -> FormulaError:
        kind, value, col = tok
        if kind == "end":
            return FormulaError(f"the formula ends too soon at column {col}{hint}", col)
        if kind == "bad":
            return FormulaError(f"unexpected {_describe(value)} at column {col}", col)
        if kind == "name" and value not in NAMES:
            return FormulaError(f"unknown name {value!r} at column {col}; allowed: {', '.join(NAMES)}", col)
        if kind != "op" and self.i >= 2 and self.tokens[self.i - 2][0] in ("num", "name") and not hint:
            hint = "; write '*' to multiply, e.g. 2*x"
        return FormulaError(f"unexpected {value!r} at column {col}{hint}", col)

    def node(self, kind, args=(), value=0.0, column=0) -> Node:
        self.nodes += 1
        if self.nodes > self.max_nodes:
            raise FormulaError(f"more than {self.max_nodes} terms and operations at column {column}; "
                               f"the limit is {self.max_nodes}", column)
        return _fold(Node(kind, tuple(args), value, column))

    def enter(self, col: int):
        self.depth += 1
        if self.depth > self.max_depth:
            raise FormulaError(f"nested more than {self.max_depth} deep at column {col}; "
                               f"the limit is {self.max_depth}", col)

    def parse(self) -> Node:
        tree = self.sum()
        tok = self.peek()
        if tok[0] != "end":
            raise self.unexpected(self.take())
        return tree

    def sum(self) -> Node:
        left = self.term()
        while self.peek()[1] in ("+", "-") and self.peek()[0] == "op":
            _, op, col = self.take()
            left = self.node(op, (left, self.term()), column=col)
        return left

    def term(self) -> Node:
        left = self.unary()
        while self.peek()[1] in ("*", "/") and self.peek()[0] == "op":
            _, op, col = self.take()
            left = self.node(op, (left, self.unary()), column=col)
        return left

    def unary(self) -> Node:
        kind, value, col = self.peek()
        if kind == "op" and value in ("-", "+"):
            self.take()
            self.enter(col)
            arg = self.unary()
            self.depth -= 1
            return arg if value == "+" else self.node("neg", (arg,), column=col)
        return self.power()

    def power(self) -> Node:
        base = self.atom()
        kind, value, col = self.peek()
        if kind == "op" and value == "^":
            self.take()
            self.enter(col)
            exponent = self.unary()
            self.depth -= 1
            return self.node("^", (base, exponent), column=col)
        return base

    def atom(self) -> Node:
        tok = self.take()
        kind, value, col = tok
        if kind == "num":
            v = float(value)
            if not math.isfinite(v):
                raise FormulaError(f"the number {value} at column {col} is too large", col)
            return self.node("num", value=v, column=col)
        if kind == "name":
            if value in ("x", "y"):
                return self.node(value, column=col)
            if value in CONSTANTS:
                return self.node("num", value=CONSTANTS[value], column=col)
            if value in FUNCTIONS:
                nxt = self.peek()
                if nxt[1] != "(":
                    raise FormulaError(f"{value} at column {col} needs its argument in parentheses, "
                                       f"e.g. {value}({'x' if value in UNARY else 'x, y'})", col)
                self.take()
                self.enter(col)
                args = [self.sum()]
                while self.peek()[1] == ",":
                    self.take()
                    args.append(self.sum())
                self.expect(")")
                self.depth -= 1
                want = 1 if value in UNARY else 2
                if len(args) != want:
                    raise FormulaError(f"{value} at column {col} takes {want} argument{'s' * (want > 1)}, "
                                       f"not {len(args)}", col)
                return self.node(value, args, column=col)
            raise FormulaError(f"unknown name {value!r} at column {col}; allowed: {', '.join(NAMES)}", col)
        if kind == "op" and value == "(":
            self.enter(col)
            inner = self.sum()
            self.expect(")")
            self.depth -= 1
            return inner
        raise self.unexpected(tok)


def _apply(kind: str, a: float, b: float = 0.0) -> float:
    if kind == "+":
        return a + b
    if kind == "-":
        return a - b
    if kind == "*":
        return a * b
    if kind == "/":
        return a / b
    if kind == "^":
        return math.pow(a, b)
    if kind == "neg":
        return -a
    if kind in UNARY:
        return UNARY[kind][1](a)
    return BINARY_CALLS[kind][1](a, b)


def _fold(node: Node) -> Node:
    """A node whose arguments are all numbers, as one number; refuses what is not finite.

    Numbers are floats throughout, so 9^9^9 overflows at once instead of
    computing a 370-million-digit integer.
    """
    if node.kind == "^" and not node.args[0].constant and node.args[1].constant and abs(node.args[1].value) > MAX_EXPONENT:
        c = node.args[1]
        raise FormulaError(f"the exponent {c.value:g} at column {node.column} is outside "
                           f"[-{MAX_EXPONENT:g}, {MAX_EXPONENT:g}]", node.column)
    if not node.args or not all(a.constant for a in node.args):
        return node
    shown = node.kind if node.kind in FUNCTIONS else f"'{'-' if node.kind == 'neg' else node.kind}'"
    try:
        v = _apply(node.kind, *(a.value for a in node.args))
    except ZeroDivisionError:
        raise FormulaError(f"division by zero at column {node.column}", node.column) from None
    except OverflowError:
        raise FormulaError(f"{shown} at column {node.column} overflows: its value is larger than 1.8e308",
                           node.column) from None
    except ValueError:
        raise FormulaError(f"{shown} at column {node.column} is undefined for these numbers", node.column) from None
    if not math.isfinite(v):
        raise FormulaError(f"{shown} at column {node.column} overflows: its value is larger than 1.8e308", node.column)
    return Node("num", value=float(v), column=node.column)


def parse(text, max_chars: int = MAX_CHARS, max_depth: int = MAX_DEPTH, max_nodes: int = MAX_NODES) -> Node:
    """The expression tree of a formula; raises FormulaError naming the column."""
    if not isinstance(text, str):
        raise FormulaError(f"must be text such as \"x^2 + y^2\", not {type(text).__name__}")
    if len(text) > max_chars:
        raise FormulaError(f"is {len(text)} characters long; the limit is {max_chars}", max_chars + 1)
    if not text.strip():
        raise FormulaError("is empty; write a function of x and y such as \"x^2 + 3*y^2\"", 1)
    return _Parser(text, min(max_depth, MAX_DEPTH), min(max_nodes, MAX_NODES)).parse()


# --- the tape ------------------------------------------------------------------

def _emit(node: Node, out: list) -> int:
    """Append node's instructions to out; returns the stack depth they need."""
    k = node.kind
    if k == "num":
        out.append((CONST, node.value))
        return 1
    if k in ("x", "y"):
        out.append((X if k == "x" else Y, 0.0))
        return 1
    if k == "neg":
        need = _emit(node.args[0], out)
        out.append((NEG, 0.0))
        return need
    if k in UNARY:
        need = _emit(node.args[0], out)
        out.append((UNARY[k][0], 0.0))
        return need
    a, b = node.args
    if k == "^" and b.constant:
        need = _emit(a, out)
        out.append((SQUARE, 0.0) if b.value == 2.0 else (POWC, b.value))
        return need
    if k in OPERATORS:
        full, right_c, left_c = OPERATORS[k]
        if b.constant:
            need = _emit(a, out)
            out.append((right_c, b.value))
            return need
        if a.constant:
            # a + b and a * b are exactly b + a and b * a in IEEE arithmetic.
            need = _emit(b, out)
            out.append((left_c if left_c is not None else right_c, a.value))
            return need
    op = {"^": POW, **{name: ops[0] for name, ops in OPERATORS.items()},
          **{name: ops[0] for name, ops in BINARY_CALLS.items()}}[k]
    need = max(_emit(a, out), 1 + _emit(b, out))
    out.append((op, 0.0))
    return need


def compile_tape(tree: Node) -> np.ndarray:
    """The tape [n, op_1, arg_1, ..., op_n, arg_n] the `formula` kernel evaluates."""
    ops: list[tuple[int, float]] = []
    need = _emit(tree, ops)
    if need > MAX_STACK:
        raise FormulaError(f"needs {need} intermediate values at once; the limit is {MAX_STACK}", 1)
    tape = np.empty(1 + 2 * len(ops))
    tape[0] = len(ops)
    tape[1:] = np.array(ops, dtype=float).ravel()
    return tape


# --- the kernel ----------------------------------------------------------------

if numba.config.DISABLE_JIT:
    def _stack(n):
        return np.empty(n)
else:
    @intrinsic
    def _stack_buffer(typingctx, n):
        def codegen(context, builder, signature, args):
            # alloca, not np.empty: no allocation or reference counting per call of an inlined kernel.
            return cgutils.alloca_once(builder, context.get_value_type(types.float64), size=args[0])
        return types.CPointer(types.float64)(n), codegen

    @njit(inline="always")
    def _stack(n):
        return numba.carray(_stack_buffer(n), (n,))


kernel = njit(error_model="numpy", cache=True)


@kernel
def formula(x, y, P):
    """A typed formula's value and gradient: the tape in P run on a stack of (f, df/dx, df/dy).

    The top of the stack lives in the locals (f, fx, fy), the rest in (v, dx, dy):
    most instructions then touch no memory.
    """
    v = _stack(MAX_STACK)
    dx = _stack(MAX_STACK)
    dy = _stack(MAX_STACK)
    t = 0
    f, fx, fy = 0.0, 0.0, 0.0
    for i in range(int(P[0])):
        op = int(P[2 * i + 1])
        c = P[2 * i + 2]
        if op <= CONST:
            v[t], dx[t], dy[t] = f, fx, fy
            t += 1
            if op == X:
                f, fx, fy = x, 1.0, 0.0
            elif op == Y:
                f, fx, fy = y, 0.0, 1.0
            else:
                f, fx, fy = c, 0.0, 0.0
        elif op < ADDC:
            if op <= POW:
                # a binary operation on a (below) and b (the top)
                t -= 1
                a, ax, ay = v[t], dx[t], dy[t]
                if op == ADD:
                    f, fx, fy = a + f, ax + fx, ay + fy
                elif op == SUB:
                    f, fx, fy = a - f, ax - fx, ay - fy
                elif op == MUL:
                    f, fx, fy = a * f, ax * f + a * fx, ay * f + a * fy
                elif op == DIV:
                    q = a / f
                    f, fx, fy = q, (ax - q * fx) / f, (ay - q * fy) / f
                else:
                    b = f
                    r = a ** b
                    s = b * a ** (b - 1.0)
                    # the log term only where the exponent moves: 0^b with a fixed b has no log(0)
                    lx = r * np.log(a) * fx if fx != 0.0 else 0.0
                    ly = r * np.log(a) * fy if fy != 0.0 else 0.0
                    f, fx, fy = r, s * ax + lx, s * ay + ly
            elif op == NEG:
                f, fx, fy = -f, -fx, -fy
            elif op == SQUARE:
                s = 2.0 * f
                f, fx, fy = f * f, s * fx, s * fy
            else:
                s = c * f ** (c - 1.0)
                f, fx, fy = f ** c, s * fx, s * fy
        elif op < SIN:
            if op == ADDC:
                f = f + c
            elif op == SUBC:
                f = f - c
            elif op == RSUBC:
                f, fx, fy = c - f, -fx, -fy
            elif op == MULC:
                f, fx, fy = f * c, fx * c, fy * c
            elif op == DIVC:
                f, fx, fy = f / c, fx / c, fy / c
            else:
                q = c / f
                s = -q / f
                f, fx, fy = q, s * fx, s * fy
        elif op < ATAN2:
            a = f
            if op == SIN:
                r, s = np.sin(a), np.cos(a)
            elif op == COS:
                r, s = np.cos(a), -np.sin(a)
            elif op == TAN:
                r = np.tan(a)
                s = 1.0 + r * r
            elif op == ASIN:
                r, s = np.arcsin(a), 1.0 / np.sqrt(1.0 - a * a)
            elif op == ACOS:
                r, s = np.arccos(a), -1.0 / np.sqrt(1.0 - a * a)
            elif op == ATAN:
                r, s = np.arctan(a), 1.0 / (1.0 + a * a)
            elif op == SINH:
                r, s = np.sinh(a), np.cosh(a)
            elif op == COSH:
                r, s = np.cosh(a), np.sinh(a)
            elif op == TANH:
                r = np.tanh(a)
                s = 1.0 - r * r
            elif op == EXP:
                r = np.exp(a)
                s = r
            elif op == LOG:
                r, s = np.log(a), 1.0 / a
            elif op == LOG10:
                r, s = np.log10(a), 1.0 / (a * 2.302585092994046)
            elif op == SQRT:
                r = np.sqrt(a)
                s = 0.5 / r
            else:
                r = abs(a)
                s = 1.0 if a > 0.0 else (-1.0 if a < 0.0 else 0.0)
            f, fx, fy = r, s * fx, s * fy
        else:
            t -= 1
            a, ax, ay = v[t], dx[t], dy[t]
            if op == ATAN2:
                d = a * a + f * f
                f, fx, fy = np.arctan2(a, f), (f * ax - a * fx) / d, (f * ay - a * fy) / d
            elif op == MIN:
                if not f < a:
                    f, fx, fy = a, ax, ay
            elif not a < f:
                f, fx, fy = a, ax, ay
    return f, fx, fy


@kernel
def formula_hessian(x, y, P):
    """A typed formula's Hessian (fxx, fxy, fyy): the tape in P run on a stack of (f, fx, fy, fxx, fxy, fyy).

    Second-order forward mode on the same tape as `formula`, the top of the stack
    again in locals. A unary instruction g(a) gives g, g' and g'' and one chain rule
    carries them through; a binary one either has a rule of its own or gives its
    first and second partial derivatives to a common rule. abs, min and max are
    piecewise linear in their arguments: their second derivative is 0 off the kinks.
    """
    v = _stack(MAX_STACK)
    dx = _stack(MAX_STACK)
    dy = _stack(MAX_STACK)
    dxx = _stack(MAX_STACK)
    dxy = _stack(MAX_STACK)
    dyy = _stack(MAX_STACK)
    t = 0
    f, fx, fy, fxx, fxy, fyy = 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
    for i in range(int(P[0])):
        op = int(P[2 * i + 1])
        c = P[2 * i + 2]
        if op <= CONST:
            v[t], dx[t], dy[t], dxx[t], dxy[t], dyy[t] = f, fx, fy, fxx, fxy, fyy
            t += 1
            if op == X:
                f, fx, fy = x, 1.0, 0.0
            elif op == Y:
                f, fx, fy = y, 0.0, 1.0
            else:
                f, fx, fy = c, 0.0, 0.0
            fxx, fxy, fyy = 0.0, 0.0, 0.0
        elif op <= POW or op >= ATAN2:
            # a binary operation on a (below) and b (the top)
            t -= 1
            a, ax, ay, axx, axy, ayy = v[t], dx[t], dy[t], dxx[t], dxy[t], dyy[t]
            if op == ADD:
                f, fx, fy, fxx, fxy, fyy = a + f, ax + fx, ay + fy, axx + fxx, axy + fxy, ayy + fyy
            elif op == SUB:
                f, fx, fy, fxx, fxy, fyy = a - f, ax - fx, ay - fy, axx - fxx, axy - fxy, ayy - fyy
            elif op == MUL:
                fxx, fxy, fyy = (axx * f + 2.0 * ax * fx + a * fxx, axy * f + ax * fy + ay * fx + a * fxy,
                                 ayy * f + 2.0 * ay * fy + a * fyy)
                f, fx, fy = a * f, ax * f + a * fx, ay * f + a * fy
            elif op == DIV:
                # q = a / b from q b = a, differentiated once and twice
                q = a / f
                qx = (ax - q * fx) / f
                qy = (ay - q * fy) / f
                fxx, fxy, fyy = ((axx - 2.0 * qx * fx - q * fxx) / f, (axy - qx * fy - qy * fx - q * fxy) / f,
                                 (ayy - 2.0 * qy * fy - q * fyy) / f)
                f, fx, fy = q, qx, qy
            elif op == MIN:
                if not f < a:
                    f, fx, fy, fxx, fxy, fyy = a, ax, ay, axx, axy, ayy
            elif op == MAX:
                if not a < f:
                    f, fx, fy, fxx, fxy, fyy = a, ax, ay, axx, axy, ayy
            else:
                b = f
                if op == POW:
                    r = a ** b
                    pa = b * a ** (b - 1.0)
                    paa = b * (b - 1.0) * a ** (b - 2.0)
                    # the log terms only where the exponent moves: 0^b with a fixed b has no log(0)
                    if fx != 0.0 or fy != 0.0 or fxx != 0.0 or fxy != 0.0 or fyy != 0.0:
                        la = np.log(a)
                        pb = r * la
                        pab = a ** (b - 1.0) * (1.0 + b * la)
                        pbb = pb * la
                    else:
                        pb, pab, pbb = 0.0, 0.0, 0.0
                else:
                    d = a * a + b * b
                    r = np.arctan2(a, b)
                    pa, pb = b / d, -a / d
                    paa, pab, pbb = -2.0 * a * b / (d * d), (a * a - b * b) / (d * d), 2.0 * a * b / (d * d)
                fxx, fxy, fyy = (paa * ax * ax + 2.0 * pab * ax * fx + pbb * fx * fx + pa * axx + pb * fxx,
                                 paa * ax * ay + pab * (ax * fy + ay * fx) + pbb * fx * fy + pa * axy + pb * fxy,
                                 paa * ay * ay + 2.0 * pab * ay * fy + pbb * fy * fy + pa * ayy + pb * fyy)
                f, fx, fy = r, pa * ax + pb * fx, pa * ay + pb * fy
        else:
            # a unary instruction g(a): r = g(a), s = g'(a), s2 = g''(a)
            a = f
            if op == NEG:
                r, s, s2 = -a, -1.0, 0.0
            elif op == SQUARE:
                r, s, s2 = a * a, 2.0 * a, 2.0
            elif op == POWC:
                r, s = a ** c, c * a ** (c - 1.0)
                # a^1 is linear: no 0 * inf at a = 0
                s2 = c * (c - 1.0) * a ** (c - 2.0) if c != 1.0 else 0.0
            elif op == ADDC:
                r, s, s2 = a + c, 1.0, 0.0
            elif op == SUBC:
                r, s, s2 = a - c, 1.0, 0.0
            elif op == RSUBC:
                r, s, s2 = c - a, -1.0, 0.0
            elif op == MULC:
                r, s, s2 = a * c, c, 0.0
            elif op == DIVC:
                r, s, s2 = a / c, 1.0 / c, 0.0
            elif op == RDIVC:
                r = c / a
                s = -r / a
                s2 = -2.0 * s / a
            elif op == SIN:
                r, s = np.sin(a), np.cos(a)
                s2 = -r
            elif op == COS:
                r, s = np.cos(a), -np.sin(a)
                s2 = -r
            elif op == TAN:
                r = np.tan(a)
                s = 1.0 + r * r
                s2 = 2.0 * r * s
            elif op == ASIN:
                s = 1.0 / np.sqrt(1.0 - a * a)
                r, s2 = np.arcsin(a), a * s * s * s
            elif op == ACOS:
                s = -1.0 / np.sqrt(1.0 - a * a)
                r, s2 = np.arccos(a), a * s * s * s
            elif op == ATAN:
                s = 1.0 / (1.0 + a * a)
                r, s2 = np.arctan(a), -2.0 * a * s * s
            elif op == SINH:
                r, s = np.sinh(a), np.cosh(a)
                s2 = r
            elif op == COSH:
                r, s = np.cosh(a), np.sinh(a)
                s2 = r
            elif op == TANH:
                r = np.tanh(a)
                s = 1.0 - r * r
                s2 = -2.0 * r * s
            elif op == EXP:
                r = np.exp(a)
                s, s2 = r, r
            elif op == LOG:
                r, s = np.log(a), 1.0 / a
                s2 = -s * s
            elif op == LOG10:
                r, s = np.log10(a), 1.0 / (a * 2.302585092994046)
                s2 = -s / a
            elif op == SQRT:
                r = np.sqrt(a)
                s = 0.5 / r
                s2 = -0.5 * s / a
            else:
                r = abs(a)
                s = 1.0 if a > 0.0 else (-1.0 if a < 0.0 else 0.0)
                s2 = 0.0
            fxx, fxy, fyy = s2 * fx * fx + s * fxx, s2 * fx * fy + s * fxy, s2 * fy * fy + s * fyy
            f, fx, fy = r, s * fx, s * fy
    return fxx, fxy, fyy


@kernel
def evaluate(P, points, out):
    """(f, df/dx, df/dy) of the tape at each row of points."""
    for j in range(points.shape[0]):
        out[j, 0], out[j, 1], out[j, 2] = formula(points[j, 0], points[j, 1], P)


@kernel
def newton(P, starts, bounds, out):
    """Newton's method for grad f = 0 from every start, the Hessian by central differences of the exact gradient.

    out[j] = (x, y, converged, |grad|); a start leaves the domain widened by a
    tenth on each side, or meets a singular Hessian, unconverged.
    """
    wx = 0.1 * (bounds[1] - bounds[0])
    wy = 0.1 * (bounds[3] - bounds[2])
    for j in range(starts.shape[0]):
        px, py = starts[j, 0], starts[j, 1]
        converged = 0.0
        g = np.inf
        for _ in range(80):
            f, gx, gy = formula(px, py, P)
            g = np.sqrt(gx * gx + gy * gy)
            hx = 1e-5 * max(1.0, abs(px))
            hy = 1e-5 * max(1.0, abs(py))
            _, a1, b1 = formula(px + hx, py, P)
            _, a2, b2 = formula(px - hx, py, P)
            _, a3, b3 = formula(px, py + hy, P)
            _, a4, b4 = formula(px, py - hy, P)
            hxx = (a1 - a2) / (2.0 * hx)
            hyy = (b3 - b4) / (2.0 * hy)
            hxy = 0.5 * ((b1 - b2) / (2.0 * hx) + (a3 - a4) / (2.0 * hy))
            det = hxx * hyy - hxy * hxy
            if not (det != 0.0 and np.isfinite(det) and np.isfinite(g)):
                break
            sx = (hyy * gx - hxy * gy) / det
            sy = (hxx * gy - hxy * gx) / det
            px -= sx
            py -= sy
            if not (bounds[0] - wx <= px <= bounds[1] + wx and bounds[2] - wy <= py <= bounds[3] + wy):
                break
            if abs(sx) <= 1e-10 * max(1.0, abs(px)) and abs(sy) <= 1e-10 * max(1.0, abs(py)):
                converged = 1.0
                break
        out[j, 0], out[j, 1], out[j, 2], out[j, 3] = px, py, converged, g


# --- a formula as a surface ----------------------------------------------------

CUSTOM_CODE = 1000  # past any registry code: the registry numbers its surfaces from 0
MAX_LANDMARKS = 24  # per kind; a ripple has hundreds, the lowest matter most
LANDMARK_STARTS = 16  # per axis


def latex(node: Node, parent: int = 0) -> str:
    """The formula in LaTeX for the page's KaTeX, parenthesised only where precedence needs it."""
    prec = {"+": 1, "-": 1, "*": 2, "/": 2, "neg": 3, "^": 4}
    k = node.kind
    if k == "num":
        v = node.value
        text = "\\pi" if v == math.pi else "e" if v == math.e else f"{v:.12g}".replace("e+", "e")
        if "e" in text and text != "e":
            m, ex = text.split("e")
            text = f"{m} \\cdot 10^{{{int(ex)}}}"
        return f"({text})" if v < 0 and parent else text
    if k in ("x", "y"):
        return k
    if k in FUNCTIONS:
        names = {"asin": "\\arcsin", "acos": "\\arccos", "atan": "\\arctan", "log10": "\\log_{10}",
                 "abs": None, "sqrt": None, "atan2": "\\operatorname{atan2}", "min": "\\min", "max": "\\max"}
        inner = ", ".join(latex(a) for a in node.args)
        if k == "abs":
            return f"\\left|{inner}\\right|"
        if k == "sqrt":
            return f"\\sqrt{{{inner}}}"
        name = names.get(k) or "\\" + k
        return f"{name}\\left({inner}\\right)"
    p = prec[k]
    if k == "neg":
        text = "-" + latex(node.args[0], p)
    elif k == "^":
        text = f"{latex(node.args[0], p + 1)}^{{{latex(node.args[1])}}}"
    elif k == "/":
        text = f"\\frac{{{latex(node.args[0])}}}{{{latex(node.args[1])}}}"
        p = 5
    else:
        op = {"+": " + ", "-": " - ", "*": " \\cdot "}[k]
        text = latex(node.args[0], p) + op + latex(node.args[1], p + (k in "-"))
    return f"\\left({text}\\right)" if p < parent or (p == parent and k in ("^",)) else text


def resolve_domain(domain) -> tuple[float, float, float, float]:
    """[x_min, x_max, y_min, y_max], checked; the default when None."""
    if domain is None:
        return DEFAULT_DOMAIN
    try:
        if isinstance(domain, (str, bytes)) or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                       for v in domain):
            raise TypeError
        values = [float(v) for v in domain]
    except (TypeError, ValueError, OverflowError):
        raise FormulaError("must be four numbers [x_min, x_max, y_min, y_max]", field="domain") from None
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise FormulaError("must be four finite numbers [x_min, x_max, y_min, y_max]", field="domain")
    if any(abs(v) > MAX_DOMAIN for v in values):
        raise FormulaError(f"every bound must be within [-{MAX_DOMAIN:g}, {MAX_DOMAIN:g}]", field="domain")
    if not (values[0] < values[1] and values[2] < values[3]):
        raise FormulaError(f"{values} must have x_min < x_max and y_min < y_max", field="domain")
    return tuple(values)


def critical_points(tape: np.ndarray, domain) -> tuple[tuple, tuple, float | None]:
    """Minima and saddle points of a tape inside the domain, found by Newton from a grid of starts.

    De-duplicated, classified by the signs of the Hessian's eigenvalues, the
    lowest minima and saddles first; the minimum value is the lowest minimum's.
    """
    x0, x1, y0, y1 = domain
    n = LANDMARK_STARTS
    # Starts at cell centres, so a symmetric domain does not start on its axes of symmetry.
    gx, gy = np.meshgrid(x0 + (np.arange(n) + 0.5) * (x1 - x0) / n, y0 + (np.arange(n) + 0.5) * (y1 - y0) / n)
    starts = np.column_stack([gx.ravel(), gy.ravel()])
    with np.errstate(all="ignore"):
        probe = np.empty((len(starts), 3))
        evaluate(tape, starts, probe)
        scale = np.nanmedian(np.hypot(probe[:, 1], probe[:, 2])) if np.isfinite(probe).any() else 1.0
        out = np.empty((len(starts), 4))
        newton(tape, starts, np.array(domain, dtype=float), out)
    tol = 1e-6 * max(1.0, scale if np.isfinite(scale) else 1.0)
    keep = (out[:, 2] == 1.0) & (out[:, 3] <= tol)
    keep &= (out[:, 0] >= x0) & (out[:, 0] <= x1) & (out[:, 1] >= y0) & (out[:, 1] <= y1)
    merge = 1e-5 * max(x1 - x0, y1 - y0)
    found: list[np.ndarray] = []
    for p in out[keep, :2]:
        if all(np.hypot(*(p - q)) > merge for q in found):
            found.append(p)
    minima, saddles = [], []
    for p in found:
        kind, value = _classify(tape, p)
        if kind == "minimum":
            minima.append((value, p))
        elif kind == "saddle":
            saddles.append((value, p))
    minima.sort(key=lambda m: m[0])
    saddles.sort(key=lambda m: m[0])
    fmin = float(minima[0][0]) if minima else None
    as_points = lambda items: tuple((float(p[0]), float(p[1])) for _, p in items[:MAX_LANDMARKS])
    return as_points(minima), as_points(saddles), fmin


def _classify(tape: np.ndarray, p: np.ndarray) -> tuple[str, float]:
    ev = np.empty((1, 3))
    with np.errstate(all="ignore"):
        evaluate(tape, np.array([p], dtype=float), ev)
        # Exact, where differences of the gradient err by ~h^2 times its third derivative, and one evaluation, not four.
        hxx, hxy, hyy = formula_hessian(float(p[0]), float(p[1]), tape)
    eig = np.linalg.eigvalsh(np.array([[hxx, hxy], [hxy, hyy]])) if np.isfinite([hxx, hyy, hxy]).all() else None
    if eig is None or not np.isfinite(ev[0, 0]):
        return "unknown", math.nan
    big = max(abs(eig[0]), abs(eig[1]))
    if big == 0 or min(abs(eig[0]), abs(eig[1])) <= 1e-8 * big:
        return "degenerate", float(ev[0, 0])
    if eig[0] > 0:
        return "minimum", float(ev[0, 0])
    return ("saddle" if eig[1] > 0 else "maximum"), float(ev[0, 0])


CUSTOM = SurfaceSpec(
    id="custom",
    label="Custom…",
    help="Your own f(x, y), typed as a formula; its minima and saddle points are found numerically.",
    formula="f(x, y)",
    domain=((DEFAULT_DOMAIN[0], DEFAULT_DOMAIN[1]), (DEFAULT_DOMAIN[2], DEFAULT_DOMAIN[3])),
    start=(0.0, 0.0),
    minima=(),
    reference="typed by the user",
    whole_params=True,
    kernel=formula,
    hessian=formula_hessian,
    code=CUSTOM_CODE,
)


@lru_cache(maxsize=256)
def custom_surface(text: str, domain: tuple[float, float, float, float] = DEFAULT_DOMAIN) -> SurfaceSpec:
    """A typed formula on a domain as a surface spec whose constants are its tape (cached)."""
    tree = parse(text)
    tape = compile_tape(tree)
    x0, x1, y0, y1 = domain
    found: list = []

    def landmarks(params: dict):
        # Found once, on first use: a trajectory does not wait for them.
        if not found:
            found.append(critical_points(tape, domain))
        return found[0]

    return SurfaceSpec(
        id="custom",
        label=f"f(x, y) = {' '.join(text.split())}" if len(text) <= 48 else "Custom f(x, y)",
        help=CUSTOM.help,
        formula=f"f(x, y) = {latex(tree)}",
        domain=((x0, x1), (y0, y1)),
        # Up and to the left of the centre, where typed functions often have their minimum.
        start=(round(x0 + 0.3 * (x1 - x0), 6), round(y0 + 0.7 * (y1 - y0), 6)),
        minima=(),
        reference="typed by the user; minima and saddle points found numerically",
        landmarks=landmarks,
        whole_params=True,
        kernel=formula,
        hessian=formula_hessian,
        code=CUSTOM_CODE,
        constants=tape,
        source=text,
    )


def warm() -> None:
    """Compile (or load) the landmark finder, so a first typed formula does not wait for it."""
    critical_points(compile_tape(parse("x^2 + y^2")), DEFAULT_DOMAIN)
