"""An independent evaluator for tests: SymPy with a concrete K, nothing of derive's checker.

Sums are written out term by term once K is a number (an empty or reversed
range sums to 0, as in the checker's convention; SymPy's own ``doit`` follows
Karr's convention, which differs for ranges reversed by two or more),
derivatives are taken by ``diff`` on the concrete expression, values are
substituted and evaluated with ``evalf`` at 30 digits.  Only the notation's
definitions are shared.
"""

from __future__ import annotations

from fractions import Fraction

import sympy as sp

from derive.notation import K, c, m, t, unfold_all, unfold_E, v, y, z


def _substitute_free(node, subs):
    """Replace free symbols only; a sum's bound index shadows them (SymPy's subs
    misses symbols inside a Derivative inside a Sum, so we walk ourselves)."""
    if isinstance(node, sp.Symbol):
        return subs.get(node, node)
    if isinstance(node, sp.Sum):
        body, inner = node.function, dict(subs)
        limits = []
        for var, lo, hi in node.limits:
            limits.append((var, _substitute_free(lo, inner), _substitute_free(hi, inner)))
            inner.pop(var, None)
        return sp.Sum(_substitute_free(body, inner), *limits)
    if not node.args or isinstance(node, sp.IndexedBase):
        return node
    args = [_substitute_free(a, subs) if isinstance(a, sp.Basic) else a for a in node.args]
    return node.func(*args)


def expand_sums(expr):
    """Every Sum with numeric limits written out term by term (empty when upper < lower)."""
    if not isinstance(expr, sp.Basic) or not expr.args or isinstance(expr, sp.Indexed):
        return expr
    if isinstance(expr, sp.Sum):
        body = expr.function
        for var, lo, hi in expr.limits:  # innermost first
            lo, hi = expand_sums(lo), expand_sums(hi)
            if not (lo.is_Integer and hi.is_Integer):
                raise ValueError(f"limits {lo}, {hi} are not numbers")
            body = sp.Add(*[body.xreplace({var: sp.Integer(n)}) for n in range(int(lo), int(hi) + 1)])
        return expand_sums(body)
    if isinstance(expr, sp.Derivative):
        return expr
    return expr.func(*[expand_sums(a) for a in expr.args])


def _concrete(expr, point):
    """K and the free indices replaced by their values (bound indices untouched)."""
    subs = {K: sp.Integer(point.K)}
    subs.update({s: sp.Integer(v) for s, v in point.indices.items()})
    return _substitute_free(expr, subs)


def _evaluate_derivatives(expr, point):
    def evaluate(node):
        body = node.expr
        for var, count in node.variable_count:
            if var.base == z:
                body = unfold_all(body)
                if m in body.free_symbols:
                    body = body.xreplace({m: sp.Max(*[z[n] for n in range(1, point.K + 1)])})
            elif var.base in (y, t):
                body = unfold_E(body)
            # free indices were substituted already; what is left here is bound outside
            body = expand_sums(_substitute_free(body, {K: sp.Integer(point.K)}))
            body = sp.diff(body, var, count)
        return body

    return expr.replace(lambda e: isinstance(e, sp.Derivative), evaluate)


def value(expr, point):
    e = _concrete(expr, point)
    e = _evaluate_derivatives(e, point)
    e = expand_sums(_substitute_free(unfold_all(e), {K: sp.Integer(point.K)}))
    values = {}
    for n in range(1, point.K + 1):
        values[z[n]] = sp.Float(point.z[n - 1], 30)
        tv = point.t[n - 1]
        values[t[n]] = sp.Rational(tv.numerator, tv.denominator) if isinstance(tv, Fraction) else sp.Float(tv, 30)
        if point.v:
            values[v[n]] = sp.Float(point.v[n - 1], 30)
    values[c] = sp.Float(point.c, 30)
    values[m] = max(values[z[n]] for n in range(1, point.K + 1))
    return sp.N(e.xreplace(values), 30)


def defined(a) -> bool:
    """A finite real number (the reference is undefined at a division by zero, a log of a negative...)."""
    return a.is_number and a.is_finite is not False and not a.has(sp.zoo, sp.nan, sp.oo, -sp.oo) \
        and abs(sp.im(a)) < 1e-25


def differ(a, b, tol=1e-15) -> bool:
    a, b = complex(a), complex(b)
    return abs(a - b) > tol * max(1.0, abs(a), abs(b))
