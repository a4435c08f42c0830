"""An independent evaluator for tests: SymPy with a concrete K, nothing of derive's checker.

Sums are expanded by SymPy (``doit`` with numeric limits), derivatives taken by
``diff`` on the concrete expression, values substituted and evaluated with
``evalf`` at 30 digits.  Only the notation's definitions are shared.
"""

from __future__ import annotations

from fractions import Fraction

import sympy as sp

from derive.notation import K, t, unfold_all, unfold_E, z


def _substitute_free(node, subs):
    """Replace free symbols only; a sum's bound index shadows them (SymPy's subs
    misses symbols inside a Derivative inside a Sum, so we walk ourselves)."""
    if isinstance(node, sp.Symbol):
        return subs.get(node, node)
    if isinstance(node, sp.Sum):
        (var, lo, hi), = node.limits
        inner = {s: v for s, v in subs.items() if s != var}
        return sp.Sum(_substitute_free(node.function, inner), (var, _substitute_free(lo, subs), _substitute_free(hi, subs)))
    if not node.args or isinstance(node, sp.IndexedBase):
        return node
    args = [_substitute_free(a, subs) if isinstance(a, sp.Basic) else a for a in node.args]
    return node.func(*args)


def _concrete(expr, point):
    """K and the free indices replaced by their values (bound indices untouched)."""
    subs = {K: sp.Integer(point.K)}
    subs.update({s: sp.Integer(v) for s, v in point.indices.items()})
    return _substitute_free(expr, subs)


def _evaluate_derivatives(expr, point):
    def evaluate(node):
        body = node.expr
        (var, count), = node.variable_count
        body = unfold_all(body) if var.base == z else unfold_E(body)
        # free indices were substituted already; what is left here is bound outside
        body = _substitute_free(body, {K: sp.Integer(point.K)}).doit()
        return sp.diff(body, var, count)

    return expr.replace(lambda e: isinstance(e, sp.Derivative), evaluate)


def value(expr, point):
    e = _concrete(expr, point)
    e = _evaluate_derivatives(e, point)
    e = _substitute_free(unfold_all(e), {K: sp.Integer(point.K)}).doit()
    values = {}
    for n in range(1, point.K + 1):
        values[z[n]] = sp.Float(point.z[n - 1], 30)
        tv = point.t[n - 1]
        values[t[n]] = sp.Rational(tv.numerator, tv.denominator) if isinstance(tv, Fraction) else sp.Float(tv, 30)
    return sp.N(e.xreplace(values), 30)


def differ(a, b, tol=1e-15) -> bool:
    a, b = complex(a), complex(b)
    return abs(a - b) > tol * max(1.0, abs(a), abs(b))
