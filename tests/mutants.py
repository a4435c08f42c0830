"""Deliberately broken steps: small edits people make by mistake."""

from __future__ import annotations

import sympy as sp

from derive.check.normal_form import rebuild
from derive.notation import free_indices, j, k, y


def _nodes(expr, kind):
    return [n for n in sp.preorder_traversal(expr) if isinstance(n, kind)]


def _replace_first(expr, kind, make, accept=lambda n: True):
    for node in _nodes(expr, kind):
        if accept(node):
            new = make(node)
            if new is not None and new != node:
                return expr.xreplace({node: new})
    return None


def sign_flipped(e):
    return -e


def term_dropped(e):
    return _replace_first(e, sp.Add, lambda n: sp.Add(*n.args[1:]))


def j_k_swapped(e):
    if {j, k} & set(free_indices(e)):
        return e.xreplace({j: k, k: j})
    return None


def y_j_y_k_swapped(e):
    if e.has(y[j]) or e.has(y[k]):
        return e.xreplace({y[j]: y[k], y[k]: y[j]})
    return None


def delta_removed(e):
    return _replace_first(e, sp.KroneckerDelta, lambda n: sp.Integer(1))


def exponent_changed(e):
    changed = _replace_first(e, sp.Pow, lambda n: sp.Pow(n.base, n.exp + 1),
                             accept=lambda n: n.exp.is_Integer)
    if changed is None:
        changed = _replace_first(e, sp.exp, lambda n: sp.exp(2 * n.args[0]))
    return changed


def factor_missing(e):
    return _replace_first(e, sp.Mul, lambda n: sp.Mul(*n.args[1:]),
                          accept=lambda n: len(n.args) >= 2 and not n.args[0].is_Number)


OPERATORS = {f.__name__: f for f in (sign_flipped, term_dropped, j_k_swapped, y_j_y_k_swapped,
                                     delta_removed, exponent_changed, factor_missing)}


def mutants(expr):
    """(operator name, mutant) for every operator that applies and changes expr."""
    base = rebuild(expr)
    out = []
    for name, op in OPERATORS.items():
        m = op(base)
        if m is not None and m != base:
            out.append((name, m))
    return out
