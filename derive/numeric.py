"""High-precision numeric evaluation of expressions at concrete K.

Independent of the symbolic normal form on purpose: sums are loops, deltas are
comparisons, and derivatives are taken numerically with ``mpmath.diff`` at 30
significant digits.  A step that the normal form cannot prove can still be
confirmed (or refuted, with the exact point that breaks it) here, and a
"proved" step is cross-checked so a bug in the rewrite rules cannot pass
silently.

Expressions are compiled once into Python closures over an :class:`Point`
(K, index values, logits, targets), then evaluated at many points.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable

import mpmath
import sympy as sp

from . import assumptions as assumption_registry
from .derivation import Case
from .errors import EvaluationError
from .notation import E, K, c, free_indices, gamma, m, mu, t, v, y, z

DIGITS = 30
#: two sides agree when |lhs - rhs| <= TOLERANCE * max(1, |lhs|, |rhs|)
TOLERANCE = mpmath.mpf(10) ** -20
SAMPLED_K = tuple(range(1, 8))
#: index combinations per K when searching for a counterexample (all when fewer) ...
SEARCH_COMBINATIONS = 49
#: ... and when confirming a claim that is already proved
CONFIRM_COMBINATIONS = 8


@dataclass(frozen=True)
class Point:
    """Concrete values: K, the free indices, logits z_1..z_K and targets t_1..t_K."""

    K: int
    indices: dict = field(hash=False)
    z: tuple
    t: tuple
    #: the cotangent v_1..v_K and the shift c (m is always max_k z_k)
    v: tuple = ()
    c: float = 0.0

    def as_dict(self) -> dict:
        out = {
            "K": self.K,
            "indices": {str(s): v for s, v in sorted(self.indices.items(), key=lambda kv: str(kv[0]))},
            "z": [float(v) for v in self.z],
            "t": [str(v) if isinstance(v, Fraction) else float(v) for v in self.t],
        }
        if self.v:
            out["v"] = [float(x) for x in self.v]
        if self.c:
            out["c"] = float(self.c)
        return out


class _Env:
    """What a compiled closure reads: the point, plus overrides for differentiation."""

    __slots__ = ("K", "idx", "z", "t", "v", "scalars", "y_override", "_y")

    def __init__(self, point: Point):
        self.K = point.K
        self.idx = dict(point.indices)
        self.z = [mpmath.mpf(v) for v in point.z]
        self.t = [mpmath.mpf(v.numerator) / v.denominator if isinstance(v, Fraction) else mpmath.mpf(v) for v in point.t]
        self.v = [mpmath.mpf(x) for x in point.v]
        self.scalars = {c: mpmath.mpf(point.c), m: max(self.z)}
        self.y_override = {}
        self._y = None

    def derived(self, z_values=None, y_override=None) -> "_Env":
        """A copy with some logits or some y values changed (for numeric differentiation)."""
        other = _Env.__new__(_Env)
        other.K, other.idx, other.t, other.v = self.K, dict(self.idx), self.t, self.v
        other.z = self.z if z_values is None else z_values
        # m stays the maximum of the unperturbed logits: it is a constant of the row
        other.scalars = self.scalars
        other.y_override = y_override or {}
        other._y = None
        return other

    def y(self, n: int):
        if n in self.y_override:
            return self.y_override[n]
        if self._y is None:
            m = max(self.z)
            w = [mpmath.exp(v - m) for v in self.z]
            s = mpmath.fsum(w)
            self._y = [v / s for v in w]
        return self._y[n - 1]


Closure = Callable[[_Env], object]


def _index_value(env: _Env, n) -> int:
    if not isinstance(n, int) or n < 1 or n > env.K:
        raise EvaluationError(f"index value {n} is outside 1..{env.K}")
    return n


def compile_expr(expr: sp.Basic) -> Closure:
    """A closure evaluating expr at an environment; raises EvaluationError on unknown names."""
    if isinstance(expr, sp.Integer):
        v = int(expr)
        return lambda env: v
    if isinstance(expr, sp.Rational):
        p, q = int(expr.p), int(expr.q)
        return lambda env: mpmath.mpf(p) / q
    if isinstance(expr, sp.Number):
        v = mpmath.mpf(str(expr))
        return lambda env: v
    if expr is sp.E:
        return lambda env: mpmath.e
    if expr == K:
        return lambda env: env.K
    if expr == E:
        inner = compile_expr(-sp.Sum(t[_E_INDEX] * sp.log(y[_E_INDEX]), (_E_INDEX, 1, K)))
        return inner
    if expr in (c, m):
        name = expr
        return lambda env: env.scalars[name]
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
        base, exponent = compile_expr(expr.base), compile_expr(expr.exp)

        def power(env):
            b, e = base(env), exponent(env)
            if isinstance(e, int) and e < 0:
                return mpmath.mpf(1) / mpmath.power(b, -e)
            return mpmath.power(b, e)

        return power
    if isinstance(expr, sp.exp):
        arg = compile_expr(expr.args[0])
        return lambda env: mpmath.exp(arg(env))
    if isinstance(expr, sp.log):
        arg = compile_expr(expr.args[0])
        return lambda env: mpmath.log(arg(env))
    if isinstance(expr, sp.KroneckerDelta):
        a, b = compile_expr(expr.args[0]), compile_expr(expr.args[1])
        return lambda env: 1 if a(env) == b(env) else 0
    if isinstance(expr, sp.Sum):
        return _compile_sum(expr)
    if isinstance(expr, sp.Piecewise):
        pieces = [(compile_expr(v), _compile_condition(c)) for v, c in expr.args]

        def piecewise(env):
            for value, cond in pieces:
                if cond(env):
                    return value(env)
            raise EvaluationError("no case of the case split applies")

        return piecewise
    if isinstance(expr, sp.Derivative):
        return _compile_derivative(expr)
    raise EvaluationError(f"cannot evaluate {type(expr).__name__} '{expr}' numerically")


_E_INDEX = sp.Symbol("kappa_num", integer=True, positive=True)


def _compile_indexed(expr: sp.Indexed) -> Closure:
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
    if len(expr.limits) > 1:
        return _compile_sum(sp.Sum(sp.Sum(expr.function, *expr.limits[:-1]), expr.limits[-1]))
    var, lower, upper = expr.limits[0]
    body, lo, hi = compile_expr(expr.function), compile_expr(lower), compile_expr(upper)

    def total(env):
        saved = env.idx.get(var, _MISSING)
        terms = []
        for n in range(int(lo(env)), int(hi(env)) + 1):
            env.idx[var] = n
            terms.append(body(env))
        if saved is _MISSING:
            env.idx.pop(var, None)
        else:
            env.idx[var] = saved
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
        parts = [_compile_condition(c) for c in cond.args]
        combine = all if isinstance(cond, sp.And) else any
        return lambda env: combine(p(env) for p in parts)
    if isinstance(cond, sp.Not):
        inner = _compile_condition(cond.args[0])
        return lambda env: not inner(env)
    raise EvaluationError(f"cannot evaluate the condition '{cond}'")


def _compile_derivative(expr: sp.Derivative) -> Closure:
    """d f / d x_n by mpmath.diff, x being z (y follows) or y (held free)."""
    body = compile_expr(expr.expr)
    variables = []
    for var, count in expr.variable_count:
        if not (isinstance(var, sp.Indexed) and var.base in (z, y)):
            raise EvaluationError(f"cannot differentiate with respect to '{var}'")
        variables.append((var.base, compile_expr(var.indices[0]), int(count)))
    if len(variables) != 1 or variables[0][2] != 1:
        raise EvaluationError(f"only first derivatives are evaluated numerically: '{expr}'")
    base, index, _ = variables[0]

    def derivative(env):
        n = _index_value(env, index(env))
        if base == z:

            def f(x):
                zs = list(env.z)
                zs[n - 1] = x
                return body(env.derived(z_values=zs))

            return mpmath.diff(f, env.z[n - 1])

        def g(x):
            return body(env.derived(y_override={n: x}))

        return mpmath.diff(g, env.y(n))

    return derivative


def evaluate(expr: sp.Expr, point: Point):
    """expr at a point, at DIGITS significant digits."""
    with mpmath.workdps(DIGITS):
        return compile_expr(expr)(_Env(point))


def agree(a, b) -> bool:
    scale = max(mpmath.mpf(1), abs(a), abs(b))
    return abs(a - b) <= TOLERANCE * scale


@dataclass(frozen=True)
class Sample:
    point: Point
    lhs: object
    rhs: object


def _index_assignments(names, size, case: Case | None, assumed: frozenset, rng, limit: int):
    """Assignments of the free indices to 1..size, honouring the case.

    All of them when there are at most `limit`; otherwise the ones where all
    indices are equal (where deltas switch on) and a random sample of the rest.
    """
    names = [n for n in names if not (n == mu and "max_at_mu" in assumed)]
    if "one_hot" in assumed and gamma not in names:
        names.append(gamma)
    combos = []
    for values in itertools.product(range(1, size + 1), repeat=len(names)):
        assignment = dict(zip(names, values))
        if case is not None and case.left in assignment and case.right in assignment:
            if (assignment[case.left] == assignment[case.right]) != case.equal:
                continue
        combos.append(assignment)
    if len(combos) > limit:
        diagonal = [c for c in combos if len(set(c.values())) == 1][: limit // 2]
        rest = [c for c in combos if len(set(c.values())) > 1]
        combos = diagonal + rng.sample(rest, min(len(rest), limit - len(diagonal)))
    return combos


def search(lhs: sp.Expr, rhs: sp.Expr, assumed: frozenset, case: Case | None, seed: int = 0,
           limit: int = SEARCH_COMBINATIONS):
    """Evaluate both sides at sampled points; return (first failing Sample or None, number checked).

    Points: K = 1..7 in turn (smallest counterexample first), random real
    logits, targets drawn to satisfy exactly the assumed assumptions, and the
    free indices over 1..K (restricted to the case).
    """
    rng = random.Random(seed)
    left, right = compile_expr(lhs), compile_expr(rhs)
    names = free_indices(lhs, rhs)
    checked = 0
    with mpmath.workdps(DIGITS):
        for size in SAMPLED_K:
            zs = tuple(round(rng.uniform(-3, 3), 6) for _ in range(size))
            vs = tuple(round(rng.uniform(-1, 1), 6) for _ in range(size))
            shift = round(rng.uniform(-5, 5), 6)
            for assignment in _index_assignments(names, size, case, assumed, rng, limit):
                if "max_at_mu" in assumed:
                    assignment = {**assignment, mu: zs.index(max(zs)) + 1}
                gamma_value = assignment.get(gamma)
                if gamma_value is None:
                    gamma_value = rng.randint(1, size)
                ts = tuple(assumption_registry.draw_targets(assumed, size, gamma_value, rng))
                point = Point(size, assignment, zs, ts, vs, shift)
                a, b = left(_Env(point)), right(_Env(point))
                checked += 1
                if not agree(a, b):
                    return Sample(point, a, b), checked
    return None, checked
