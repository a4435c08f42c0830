"""High-precision numeric evaluation of expressions at concrete K.

Independent of the symbolic normal form on purpose: sums are loops, deltas are
comparisons, and derivatives are taken numerically with ``mpmath.diff`` at 30
significant digits.  A step that the normal form cannot prove can still be
confirmed (or refuted, with the exact point that breaks it) here, and a
"proved" step is cross-checked so a bug in the rewrite rules cannot pass
silently.

Expressions are compiled once into Python closures over an environment (K,
index values, logits, targets, ...), then evaluated at many points.  A point
where a side has no real value (a division by zero, the logarithm of a
negative number, an index outside 1..K) says nothing about the claim: it is
skipped, never a counterexample, and the search goes on.
"""

from __future__ import annotations

import itertools
import random
import zlib
from collections import Counter
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable

import mpmath
import sympy as sp

from .. import assumptions as assumption_registry
from ..derivation import Case
from ..errors import EvaluationError
from ..notation import E, K, Constant, InputSize, Variable, c, free_indices, gamma, m, mu, t, v, y, z
from ..verdicts import Point

DIGITS = 30
#: two sides agree when |lhs - rhs| <= TOLERANCE * max(1, |lhs|, |rhs|)
TOLERANCE = mpmath.mpf(10) ** -20
#: the numbers of classes tried, in this order: K = 2..12, a few drawn from 13..50, and K = 1 last,
#: because softmax is the constant 1 at K = 1, so a counterexample there says little
SMALL_K = tuple(range(2, 13))
LARGE_K = (13, 50)
LARGE_K_DRAWS = 3
#: index combinations per K when searching for a counterexample (all when fewer) ...
SEARCH_COMBINATIONS = 49
#: ... and when confirming a claim that is already proved (a cross-check of the proof, not a search)
CONFIRM_COMBINATIONS = 3
#: at K above 12 each evaluation costs O(K) or more: at most this many combinations there
LARGE_K_COMBINATIONS = 3


class Undefined(EvaluationError):
    """The expression has no real value at this point (division by zero, an index out of range...)."""


def _mp(value):
    return mpmath.mpf(value.numerator) / value.denominator if isinstance(value, Fraction) else mpmath.mpf(value)


class _Env:
    """What a compiled closure reads: the point, plus overrides for differentiation."""

    __slots__ = ("K", "idx", "z", "t", "v", "c", "constants", "y_override", "_y", "_m", "_variables", "_seed")

    def __init__(self, point: Point):
        self.K = point.K
        self.idx = dict(point.indices)
        self.z = [mpmath.mpf(x) for x in point.z]
        self.t = [_mp(x) for x in point.t]
        self.v = [mpmath.mpf(x) for x in point.v]
        self.c = mpmath.mpf(point.c)
        self.constants = {name: mpmath.mpf(value) for name, value in point.constants}
        self.y_override = {}
        self._y = None
        self._m = None
        self._variables = {}
        self._seed = repr((point.K, tuple(point.z)))

    def derived(self, z_values=None, t_values=None, v_values=None, y_override=None) -> "_Env":
        """A copy with some logits, targets, cotangents or y values changed (numeric differentiation).

        m = max_k z_k is recomputed from the changed logits: it is not a constant of the row.
        """
        other = _Env.__new__(_Env)
        other.K, other.idx, other.c, other.constants = self.K, dict(self.idx), self.c, self.constants
        other.z = self.z if z_values is None else z_values
        other.t = self.t if t_values is None else t_values
        other.v = self.v if v_values is None else v_values
        other.y_override = {**self.y_override, **(y_override or {})}
        other._y = self._y if z_values is None else None
        other._m = self._m if z_values is None else None
        other._variables, other._seed = self._variables, self._seed
        return other

    def variable(self, name: str, entry: tuple):
        """The value of a further variable's entry: drawn from the point (its logits), so repeatable."""
        key = (name, entry)
        if key not in self._variables:
            seed = zlib.crc32(repr((name, entry, self._seed)).encode())  # the same point, the same values
            self._variables[key] = mpmath.mpf(round(random.Random(seed).uniform(-2, 2), 6))
        return self._variables[key]

    @property
    def m(self):
        if self._m is None:
            self._m = max(self.z)
        return self._m

    def y(self, n: int):
        if n in self.y_override:
            return self.y_override[n]
        if self._y is None:
            top = self.m
            w = [mpmath.exp(x - top) for x in self.z]
            s = mpmath.fsum(w)
            self._y = [x / s for x in w]
        return self._y[n - 1]


Closure = Callable[[_Env], object]


def _integer(value, what: str) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, mpmath.mpf) and value == int(value):
        return int(value)
    raise Undefined(f"{what} is not an integer")


def _index_value(env: _Env, n) -> int:
    n = _integer(n, "an index")
    if n < 1 or n > env.K:
        raise Undefined("an index lies outside 1..K")
    return n


def compile_expr(expr: sp.Basic) -> Closure:
    """A closure evaluating expr at an environment; raises EvaluationError on what it cannot evaluate."""
    if isinstance(expr, sp.Integer):
        value = int(expr)
        return lambda env: value
    if isinstance(expr, sp.Rational):
        p, q = int(expr.p), int(expr.q)
        return lambda env: mpmath.mpf(p) / q
    if isinstance(expr, sp.Number):
        if expr in (sp.oo, -sp.oo, sp.zoo, sp.nan):
            raise EvaluationError(f"'{expr}' is not a number that can be evaluated")
        value = mpmath.mpf(str(expr))
        return lambda env: value
    if expr is sp.E:
        return lambda env: mpmath.e
    if expr is sp.pi:
        return lambda env: mpmath.pi
    if expr == K:
        return lambda env: env.K
    if expr == E:
        return compile_expr(-sp.Sum(t[_E_INDEX] * sp.log(y[_E_INDEX]), (_E_INDEX, 1, K)))
    if expr == c:
        return lambda env: env.c
    if expr == m:
        return lambda env: env.m
    if isinstance(expr, Constant):
        name = expr.name
        return lambda env: env.constants[name]
    if isinstance(expr, InputSize):  # a layer's input size: K + 1 (not K, which would hide a mix-up of the
        return lambda env: env.K + 1  # two; above K, so every sampled index is a valid input index)
    if isinstance(expr, sp.Symbol):
        name = expr

        def symbol(env):
            try:
                return env.idx[name]
            except KeyError:
                raise EvaluationError(f"no value for symbol '{name}'") from None

        return symbol
    if isinstance(expr, sp.Indexed):
        return _compile_indexed(expr)
    if isinstance(expr, sp.Add):
        parts = [compile_expr(a) for a in expr.args]
        return lambda env: mpmath.fsum(p(env) for p in parts)
    if isinstance(expr, sp.Mul):
        parts = [compile_expr(a) for a in expr.args]

        def product(env):
            out = 1
            for p in parts:
                out = out * p(env)
            return out

        return product
    if isinstance(expr, sp.Pow):
        return _compile_power(expr)
    if isinstance(expr, (sp.exp, sp.log, sp.Abs, sp.sign)):
        return _compile_function(expr)
    if isinstance(expr, sp.KroneckerDelta):
        a, b = compile_expr(expr.args[0]), compile_expr(expr.args[1])
        return lambda env: 1 if a(env) == b(env) else 0
    if isinstance(expr, sp.Sum):
        return _compile_sum(expr)
    if isinstance(expr, sp.Product):
        body = compile_expr(expr.function)
        for var, lower, upper in expr.limits:
            body = _loop(body, var, compile_expr(lower), compile_expr(upper), multiply=True)
        return body
    if isinstance(expr, sp.Piecewise):
        pieces = [(compile_expr(val), _compile_condition(cond)) for val, cond in expr.args]

        def piecewise(env):
            for value, cond in pieces:
                if cond(env):
                    return value(env)
            raise Undefined("no case of the case split applies")

        return piecewise
    if isinstance(expr, sp.Derivative):
        return _compile_derivative(expr)
    raise EvaluationError(f"cannot evaluate {type(expr).__name__} '{expr}' numerically")


_E_INDEX = sp.Symbol("kappa_num", integer=True, positive=True)


def _compile_power(expr: sp.Pow) -> Closure:
    base, exponent = compile_expr(expr.base), compile_expr(expr.exp)

    def power(env):
        b, e = base(env), exponent(env)
        if b == 0 and e < 0:
            raise Undefined("division by zero")
        if isinstance(e, int) and e < 0:
            return mpmath.mpf(1) / mpmath.power(b, -e)
        return mpmath.power(b, e)

    return power


_FUNCTIONS = {sp.exp: mpmath.exp, sp.Abs: abs, sp.sign: mpmath.sign}


def _compile_function(expr) -> Closure:
    arg = compile_expr(expr.args[0])
    if isinstance(expr, sp.log):
        def log(env):
            value = arg(env)
            return mpmath.mpf("-inf") if value == 0 else mpmath.log(value)
        return log
    fn = _FUNCTIONS[expr.func]
    return lambda env: fn(arg(env))


def _variable_index(env: _Env, n) -> int:
    """An index of a further variable: a class (1..K) or an input (1..D, D sampled as K + 1)."""
    n = _integer(n, "an index")
    if n < 1 or n > env.K + 1:
        raise Undefined("an index lies outside 1..K")
    return n


def _compile_indexed(expr: sp.Indexed) -> Closure:
    if isinstance(expr.base, Variable):  # w_{ij}, x_i, b_j: an independent real number per entry
        name = str(expr.base.label)
        indices = [compile_expr(n) for n in expr.indices]
        return lambda env: env.variable(name, tuple(_variable_index(env, n(env)) for n in indices))
    if len(expr.indices) != 1:
        raise EvaluationError(f"'{expr}' has {len(expr.indices)} indices; expected one")
    index = compile_expr(expr.indices[0])
    if expr.base == z:
        return lambda env: env.z[_index_value(env, index(env)) - 1]
    if expr.base == t:
        return lambda env: env.t[_index_value(env, index(env)) - 1]
    if expr.base == y:
        return lambda env: env.y(_index_value(env, index(env)))
    if expr.base == v:
        return lambda env: env.v[_index_value(env, index(env)) - 1]
    raise EvaluationError(f"unknown indexed name '{expr.base}'")


def _compile_sum(expr: sp.Sum) -> Closure:
    """A loop per limit, innermost first; an empty or reversed range sums to 0."""
    body = compile_expr(expr.function)
    for var, lower, upper in expr.limits:
        body = _loop(body, var, compile_expr(lower), compile_expr(upper))
    return body


def _loop(body: Closure, var, lower: Closure, upper: Closure, multiply: bool = False) -> Closure:
    def total(env):
        lo, hi = _integer(lower(env), "summation limit"), _integer(upper(env), "summation limit")
        saved = env.idx.get(var, _MISSING)
        terms = []
        try:
            for n in range(lo, hi + 1):
                env.idx[var] = n
                terms.append(body(env))
        finally:
            if saved is _MISSING:
                env.idx.pop(var, None)
            else:
                env.idx[var] = saved
        if multiply:
            return mpmath.fprod(terms) if terms else 1
        return mpmath.fsum(terms) if terms else 0

    return total


_MISSING = object()


def _compile_condition(cond) -> Callable[[_Env], bool]:
    if cond is sp.true:
        return lambda env: True
    if cond is sp.false:
        return lambda env: False
    if isinstance(cond, (sp.Eq, sp.Ne)):
        a, b = compile_expr(cond.args[0]), compile_expr(cond.args[1])
        same = isinstance(cond, sp.Eq)
        return lambda env: (a(env) == b(env)) == same
    if isinstance(cond, (sp.And, sp.Or)):
        parts = [_compile_condition(x) for x in cond.args]
        combine = all if isinstance(cond, sp.And) else any
        return lambda env: combine(p(env) for p in parts)
    if isinstance(cond, sp.Not):
        inner = _compile_condition(cond.args[0])
        return lambda env: not inner(env)
    raise EvaluationError(f"cannot evaluate the condition '{cond}'")


#: the variables a derivative may be taken with respect to, and the attribute of _Env holding them
_DIFFERENTIABLE = {z: "z", t: "t", v: "v", y: "y"}


def _compile_derivative(expr: sp.Derivative) -> Closure:
    """Partial derivatives of any order by mpmath.diff: with respect to logits (y and m follow),
    targets or cotangents, or probabilities (held free, E as a function of y)."""
    body = compile_expr(expr.expr)
    variables = []
    for var, count in expr.variable_count:
        if not (isinstance(var, sp.Indexed) and var.base in _DIFFERENTIABLE and len(var.indices) == 1):
            raise EvaluationError(f"cannot differentiate with respect to '{var}'")
        if not (isinstance(count, (int, sp.Integer)) and int(count) >= 1):
            raise EvaluationError(f"cannot differentiate {count} times")
        variables.append((_DIFFERENTIABLE[var.base], compile_expr(var.indices[0]), int(count)))
    bases = {name for name, _, _ in variables}
    if "y" in bases and len(bases) > 1:
        raise EvaluationError("a derivative mixes probabilities (held free) with other variables")

    def derivative(env):
        orders: Counter = Counter()
        for name, index, count in variables:
            orders[(name, _index_value(env, index(env)))] += count
        keys = list(orders)
        start = [env.y(n) if name == "y" else getattr(env, name)[n - 1] for name, n in keys]

        def at(*values):
            changed = {"z": None, "t": None, "v": None}
            overrides = {}
            for (name, n), x in zip(keys, values):
                if name == "y":
                    overrides[n] = x
                    continue
                if changed[name] is None:
                    changed[name] = list(getattr(env, name))
                changed[name][n - 1] = x
            return body(env.derived(z_values=changed["z"], t_values=changed["t"], v_values=changed["v"],
                                    y_override=overrides))

        if len(keys) == 1:
            return mpmath.diff(at, start[0], orders[keys[0]])
        return mpmath.diff(at, tuple(start), tuple(orders[key] for key in keys))

    return derivative


def evaluate(expr: sp.Expr, point: Point):
    """expr at a point, at DIGITS significant digits."""
    with mpmath.workdps(DIGITS):
        return compile_expr(expr)(_Env(point))


def real_value(value):
    """The value as a real number (an mpf, possibly infinite), or None where it is not one (NaN, complex)."""
    if isinstance(value, mpmath.mpc):
        if value.imag != 0:
            return None
        value = value.real
    if isinstance(value, int):
        return mpmath.mpf(value)
    if not isinstance(value, mpmath.mpf) or mpmath.isnan(value):
        return None
    return value


def agree(a, b) -> bool:
    """Equal within TOLERANCE (relative to max(1, |a|, |b|)); equal infinities are equal."""
    if mpmath.isinf(a) or mpmath.isinf(b):
        return a == b
    scale = max(mpmath.mpf(1), abs(a), abs(b))
    return abs(a - b) <= TOLERANCE * scale


@dataclass(frozen=True)
class Sample:
    point: Point
    lhs: object
    rhs: object


@dataclass(frozen=True)
class Search:
    """What sampling found: the first point that breaks the claim (if any), and how many points said anything."""

    sample: Sample | None
    checked: int
    skipped: int = 0
    #: why points were skipped, most frequent first, e.g. "division by zero (at K=1)"
    skipped_because: tuple[str, ...] = ()

    def why_unconfirmed(self) -> str:
        reasons = "; ".join(self.skipped_because[:3]) or "no point was sampled"
        return f"no sampled point could be evaluated ({self.skipped} skipped: {reasons})"


#: combinations of index values up to which all are listed; above, they are drawn at random
_ENUMERATE_UP_TO = 4096


def _index_assignments(names, size, case: Case | None, assumed: frozenset, rng, limit: int):
    """Assignments of the free indices to 1..size, honouring the case.

    All of them when there are at most `limit`; otherwise the ones where all
    indices are equal (where deltas switch on) and a random sample of the rest.
    """
    names = [n for n in names if not (n == mu and "max_at_mu" in assumed)]
    if "one_hot" in assumed and gamma not in names:
        names.append(gamma)

    def allowed(assignment):
        if case is not None and case.left in assignment and case.right in assignment:
            return (assignment[case.left] == assignment[case.right]) == case.equal
        return True

    if size ** len(names) <= _ENUMERATE_UP_TO:
        combos = [a for values in itertools.product(range(1, size + 1), repeat=len(names))
                  if allowed(a := dict(zip(names, values)))]
    else:
        combos, seen = [], set()
        for _ in range(limit * 20):
            values = tuple(rng.randint(1, size) for _ in names)
            if values not in seen and allowed(a := dict(zip(names, values))):
                seen.add(values)
                combos.append(a)
            if len(combos) >= limit:
                break
        diagonal = [a for n in (1, size) if allowed(a := {name: n for name in names})]
        combos = diagonal + combos
    if len(combos) > limit:
        diagonal = [x for x in combos if len(set(x.values())) <= 1][: max(1, limit // 2)]
        rest = [x for x in combos if len(set(x.values())) > 1]
        combos = diagonal + rng.sample(rest, min(len(rest), limit - len(diagonal)))
    return combos


def sampled_sizes(rng: random.Random, draws: int = LARGE_K_DRAWS) -> list[int]:
    """K = 2..12, then `draws` values drawn from 13..50, then K = 1."""
    return list(SMALL_K) + sorted(rng.sample(range(LARGE_K[0], LARGE_K[1] + 1), draws)) + [1]


def search(lhs: sp.Expr, rhs: sp.Expr, assumed: frozenset, case: Case | None, seed: int = 0,
           limit: int = SEARCH_COMBINATIONS) -> Search:
    """Evaluate both sides at sampled points; the first point where they differ, and the counts.

    Points: K in the order of `sampled_sizes` (so a counterexample has the
    smallest K >= 2 that breaks the claim, K = 1 only when nothing else does),
    random real logits, targets drawn to satisfy exactly the assumed
    assumptions, and the free indices over 1..K (restricted to the case).
    Points where a side is undefined are skipped.  Raises EvaluationError when
    an expression cannot be evaluated at all (an unsupported construct).
    """
    rng = random.Random(seed)
    left, right = _cached(lhs), _cached(rhs)
    names = free_indices(lhs, rhs)
    constants = sorted({s.name for s in (lhs.atoms(Constant) | rhs.atoms(Constant))})
    checked, skipped = 0, Counter()
    with mpmath.workdps(DIGITS):
        # confirming a proof: one large K (each costs O(K^2) where a sum holds derivatives)
        for size in sampled_sizes(rng, 1 if limit <= CONFIRM_COMBINATIONS else LARGE_K_DRAWS):
            zs = tuple(round(rng.uniform(-3, 3), 6) for _ in range(size))
            vs = tuple(round(rng.uniform(-1, 1), 6) for _ in range(size))
            shift = round(rng.uniform(-5, 5), 6)
            per_size = limit if size <= SMALL_K[-1] else max(1, min(limit // 2, LARGE_K_COMBINATIONS))
            for assignment in _index_assignments(names, size, case, assumed, rng, per_size):
                if "max_at_mu" in assumed:
                    assignment = {**assignment, mu: zs.index(max(zs)) + 1}
                gamma_value = assignment.get(gamma)
                if gamma_value is None:
                    gamma_value = rng.randint(1, size)
                ts = tuple(assumption_registry.draw_targets(assumed, size, gamma_value, rng))
                point = Point(size, assignment, zs, ts, vs, shift,
                              tuple((name, round(rng.uniform(0.2, 3.0), 6)) for name in constants))
                try:
                    a, b = left(point), right(point)
                except (Undefined, ZeroDivisionError, OverflowError) as exc:
                    skipped[f"{_reason(exc)} (at K={size})" if size == 1 else _reason(exc)] += 1
                    continue
                a, b = real_value(a), real_value(b)
                if a is None or b is None:
                    skipped["a side is not a real number there"] += 1
                    continue
                checked += 1
                if not agree(a, b):
                    return Search(Sample(point, a, b), checked, sum(skipped.values()), _most_common(skipped))
    return Search(None, checked, sum(skipped.values()), _most_common(skipped))


#: values already computed: a derivation's steps are each compared with the next, and the assumption
#: search repeats a comparison with other targets, so the same expression meets the same point often
_VALUES: dict = {}
_COMPILED: dict = {}
_CACHE_LIMIT = 20000


def _cached(expr: sp.Expr):
    """expr as a function of a point, remembering its values (and its errors) per point."""
    try:
        closure = _COMPILED[expr]
    except KeyError:
        closure = _COMPILED.setdefault(expr, compile_expr(expr))
    if len(_VALUES) > _CACHE_LIMIT or len(_COMPILED) > _CACHE_LIMIT:
        _VALUES.clear()
        _COMPILED.clear()

    def at(point):
        key = (expr, point.K, tuple(sorted(point.indices.items(), key=lambda kv: str(kv[0]))), point.z, point.t,
               point.v, point.c, point.constants, mpmath.mp.dps)
        try:
            found = _VALUES[key]
        except KeyError:
            try:
                found = (True, closure(_Env(point)))
            except (Undefined, ZeroDivisionError, OverflowError) as exc:
                found = (False, exc)
            _VALUES[key] = found
        if not found[0]:
            raise found[1]
        return found[1]

    return at


def _reason(exc: Exception) -> str:
    if isinstance(exc, ZeroDivisionError):
        return "division by zero"
    if isinstance(exc, OverflowError):
        return "overflow"
    return str(exc)


def _most_common(counter: Counter) -> tuple[str, ...]:
    return tuple(f"{why} x{count}" for why, count in counter.most_common())
