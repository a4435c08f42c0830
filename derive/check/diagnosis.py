"""Why a refuted step is wrong: its residual, the kind of slip, and what the line should read.

A refuted step claims ``previous = this``.  The residual ``previous - this``,
brought to the checker's normal form and folded back into the derivation's
notation (softmax entries as y, the partition sum as a sum), is usually what a
person needs to see: ``-t_j`` for a forgotten term, ``2(y_j - t_j)`` for a lost
minus sign.  On top of it the kind of slip is named where one fits, each by a
proof, not a guess:

* ``sign``: this = -previous;
* ``factor``: this times a constant c is previous (c found numerically, then proved);
* ``swapped indices``: equal after swapping two free indices;
* ``case``: true only when two indices are equal (or only when they differ), or
  true in the other case than the one claimed;
* ``range``: a sum over one index too many or too few (off by one at a limit);
* ``assumption``: true under an assumption the derivation does not state;
* ``missing term`` / ``extra term``: the residual is one term (named as the
  k = j term of a sum where it is one);

and the suggested line, which the checker proves equal to the previous line.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass

import sympy as sp

from .. import assumptions as assumption_registry
from ..derivation import Case
from ..notation import K, free_indices, gamma, rebuild, t, y, z
from . import numeric
from .normal_form import Context, normal_form, proves_equal

#: how many points the constant ratio of a wrong factor is sampled at
FACTOR_POINTS = 3


@dataclass(frozen=True)
class Diagnosis:
    """What is wrong with a refuted step.  Expressions are the checker's; the output layer prints them in the
    derivation's own letters."""

    kind: str                      # one of KINDS, or "" when no named slip fits
    detail: str                    # the slip in words, e.g. "indices j and k swapped"
    residual: sp.Expr              # previous - this, folded into the notation
    suggestion: sp.Expr | None     # what the line should read (proved equal to the previous line)
    suggestion_note: str = ""      # how the suggestion was found
    #: expressions the detail names, at its {0}, {1}: printed in the derivation's letters by the output layer
    shown: tuple = ()

    def as_dict(self, printer=str) -> dict:
        return {"kind": self.kind or None, "detail": self.detail, "residual": printer(self.residual),
                "suggestion": None if self.suggestion is None else printer(self.suggestion),
                "suggestion_note": self.suggestion_note}


KINDS = ("sign", "factor", "swapped indices", "case", "range", "assumption", "missing term", "extra term")


def _prove(lhs, rhs, names, case) -> bool:
    try:
        return proves_equal(lhs, rhs, Context(assumption_registry.closure(names), case))[0]
    except Exception:  # noqa: BLE001 (a failed attempt at one kind is not an error of the step)
        return False


def diagnose(previous: sp.Expr, this: sp.Expr, stated: frozenset, case: Case | None,
             missing: tuple = ()) -> Diagnosis:
    """The diagnosis of the refuted claim previous = this under the stated assumptions and case."""
    ctx = Context(assumption_registry.closure(stated), case)
    one_hot = "one_hot" in ctx.assumptions
    try:
        residual = fold(normal_form(previous, ctx) - normal_form(this, ctx), one_hot)
    except Exception:  # noqa: BLE001
        residual = fold(rebuild(previous - this), one_hot)
    for finder in (_assumption, _sign, _factor, _swapped, _index_mixup, _case, _range, _term_sign, _term):
        try:
            found = finder(previous, this, stated, case, missing, residual)
        except Exception:  # noqa: BLE001 (SymPy may fail on one attempt; the others still run)
            found = None
        if found is not None:
            kind, detail, suggestion, *shown = found
            if suggestion is not None:
                suggestion = fold(suggestion, one_hot)
                if not _prove(suggestion, previous, stated, case):
                    suggestion = None
            return Diagnosis(kind, detail, residual, suggestion or _derived(previous, stated, case),
                             "" if suggestion is not None else "the previous line, worked out",
                             tuple(shown[0]) if shown else ())
    return Diagnosis("", "", residual, _derived(previous, stated, case), "the previous line, worked out")


def _derived(previous, stated, case) -> sp.Expr | None:
    """The previous line with its derivatives taken and its sums sifted, in the notation: what this line
    should equal."""
    ctx = Context(assumption_registry.closure(stated), case)
    try:
        out = fold(normal_form(previous, ctx), "one_hot" in ctx.assumptions)
    except Exception:  # noqa: BLE001
        return None
    return out if _prove(out, previous, stated, case) else None


def _assumption(previous, this, stated, case, missing, residual):
    if not missing:
        return None
    names = ", ".join(missing)
    sentences = "; ".join(assumption_registry.REGISTRY[n].sentence for n in missing)
    return ("assumption", f"true only if {sentences} ({names}), which the derivation does not state", None)


def _sign(previous, this, stated, case, missing, residual):
    if _prove(previous, -this, stated, case):
        return "sign", "the sign is wrong: this line is minus what it should be", -this
    return None


def _factor(previous, this, stated, case, missing, residual):
    rng = random.Random(7)
    ratios = []
    for _ in range(FACTOR_POINTS):
        point = _point(previous, this, rng, assumption_registry.closure(stated))
        a, b = numeric.real_value(numeric.evaluate(previous, point)), numeric.real_value(numeric.evaluate(this, point))
        if a is None or b is None or b == 0:
            return None
        ratios.append(float(a / b))
    if max(ratios) - min(ratios) > 1e-9 * max(1.0, abs(ratios[0])):
        return None
    factor = sp.nsimplify(ratios[0], rational=True, tolerance=1e-9)
    if factor in (0, 1, -1) or not factor.is_Rational or abs(factor.q) > 12 or abs(factor.p) > 12:
        return None
    if _prove(previous, factor * this, stated, case):
        return "factor", f"a factor is wrong: this line times {factor} is what it should be", factor * this
    return None


def _point(previous, this, rng, assumed=frozenset()) -> numeric.Point:
    indices = free_indices(previous, this)
    size = 3 + max(len(indices), 1)
    values = {s: rng.randint(1, size) for s in indices}
    zs = tuple(round(rng.uniform(-2, 2), 6) for _ in range(size))
    label = values.get(gamma) or rng.randint(1, size)
    ts = tuple(assumption_registry.draw_targets(assumed, size, label, rng))  # targets as the assumptions say
    vs = tuple(round(rng.uniform(-1, 1), 6) for _ in range(size))
    constants = sorted({s.name for s in (previous.free_symbols | this.free_symbols) if type(s).__name__ == "Constant"})
    return numeric.Point(size, values, zs, ts, vs, 0.5, tuple((c, 1.3) for c in constants))


def _swapped(previous, this, stated, case, missing, residual):
    indices = free_indices(previous, this)
    for a, b in itertools.combinations(indices, 2):
        swapped = this.xreplace({a: b, b: a})
        if swapped != this and _prove(previous, swapped, stated, case):
            return "swapped indices", f"indices {a} and {b} are swapped", swapped
    return None


def _index_mixup(previous, this, stated, case, missing, residual):
    """One entry written with the wrong index: y_k inside a sum over k where y_j (the free j) is meant, or
    the other way round."""
    free = free_indices(previous, this)
    for node in sp.preorder_traversal(this):
        if not isinstance(node, sp.Sum) or len(node.limits) != 1:
            continue
        bound = node.limits[0][0]
        for entry in sorted(node.function.atoms(sp.Indexed), key=str):
            index = entry.indices[0]
            for other in ([bound] if index in free else free if index == bound else []):
                fixed_body = node.function.xreplace({entry: entry.base[other]})
                fixed = this.xreplace({node: sp.Sum(fixed_body, node.limits[0])})
                if _prove(previous, fixed, stated, case):
                    return ("swapped indices", "{0} is written where {1} is meant", fixed,
                            (entry, entry.base[other]))
    return None


def _case(previous, this, stated, case, missing, residual):
    if case is not None:
        other = Case(case.left, case.right, not case.equal)
        if _prove(previous, this, stated, other):
            relation = "=" if other.equal else "!="
            return ("case", f"true when {other.left} {relation} {other.right}, the other case than the one "
                    "claimed", None)
        return None
    indices = free_indices(previous, this)
    for a, b in itertools.combinations(indices, 2):
        for equal in (True, False):
            if _prove(previous, this, stated, Case(a, b, equal)):
                relation = "=" if equal else "!="
                return "case", f"true only when {a} {relation} {b}, but claimed for all {a}, {b}", None
    return None


def _range(previous, this, stated, case, missing, residual):
    for node in sp.preorder_traversal(this):
        if not isinstance(node, sp.Sum) or len(node.limits) != 1:
            continue
        var, low, high = node.limits[0]
        for new_low, new_high in ((1, K), (low - 1, high), (low + 1, high), (low, high + 1), (low, high - 1)):
            if (new_low, new_high) == (low, high):
                continue
            fixed = this.xreplace({node: sp.Sum(node.function, (var, new_low, new_high))})
            if _prove(previous, fixed, stated, case):
                return ("range", f"the sum over {var} runs over the wrong range: {low}..{high} where "
                        f"{new_low}..{new_high} is meant", fixed)
    return None


def _term_sign(previous, this, stated, case, missing, residual):
    """One term of this line has the wrong sign: the residual is minus twice that term."""
    for term in sp.Add.make_args(sp.expand(fold(this))):
        if len(sp.Add.make_args(sp.expand(fold(this)))) > 1 and _same(residual, -2 * term):
            return "sign", "one term has the wrong sign", this - 2 * term
    return None


def _term(previous, this, stated, case, missing, residual):
    if residual == 0 or isinstance(sp.expand(residual), sp.Add):
        return None  # one term; a longer residual is shown, not named
    named = _sum_term(previous, this, residual)
    extra = any(rebuild(t) == rebuild(-residual) for t in sp.Add.make_args(sp.expand(fold(this))))
    if extra:
        return "extra term", f"an extra term{named}: this line has the difference too many", this + residual
    return "missing term", f"a term is missing{named}: this line lacks the difference", this + residual


def _sum_term(previous, this, residual) -> str:
    """' (the k = j term of the sum over k)' when the residual is one term of a sum in either line."""
    for expr in (previous, this):
        for node in sp.preorder_traversal(expr):
            if not isinstance(node, sp.Sum) or len(node.limits) != 1:
                continue
            var = node.limits[0][0]
            for free in free_indices(previous, this):
                pieces = [node.function, *sp.Add.make_args(sp.expand(node.function))]
                for piece in pieces:  # the whole summand, or one of its terms (-t_k delta_jk of -t_k(delta_jk - y_j))
                    term = fold(piece.xreplace({var: free}))
                    if _same(term, residual) or _same(term, -residual):
                        return f" (the {var} = {free} term of the sum over {var})"
    return ""


def _same(a, b) -> bool:
    try:
        return sp.expand(a - b) == 0
    except Exception:  # noqa: BLE001
        return False


def fold(expr: sp.Expr, one_hot: bool = False) -> sp.Expr:
    """expr in the derivation's notation: e^{z_k} / sum_i e^{z_i} back to y_k, delta_{k gamma} back to t_k
    where the targets are one-hot, then factored."""
    expr = rebuild(expr)
    if one_hot:
        expr = expr.replace(lambda e: isinstance(e, sp.KroneckerDelta) and gamma in e.args,
                            lambda e: t[next(a for a in e.args if a != gamma)] if len(set(e.args)) == 2 else e)
    partitions = [s for s in expr.atoms(sp.Sum)
                  if len(s.limits) == 1 and s.limits[0][1:] == (1, K) and s.function == sp.exp(z[s.limits[0][0]])]
    if partitions:
        total = sp.Dummy("S", positive=True)
        e = expr.xreplace({p: total for p in partitions})
        def as_probabilities(node: sp.exp):  # e^{2 z_j} = (y_j S)^2, e^{z_a + z_b} = y_a S y_b S
            out = sp.Integer(1)
            for term in sp.Add.make_args(sp.expand(node.args[0])):
                coeff, rest = term.as_coeff_Mul()
                if not (coeff.is_Integer and isinstance(rest, sp.Indexed) and rest.base == z):
                    return node
                out *= (y[rest.indices[0]] * total) ** coeff
            return out

        e = e.replace(lambda x: isinstance(x, sp.exp), as_probabilities)
        e = sp.cancel(sp.expand(e))
        if total not in e.free_symbols:
            expr = e
    try:
        factored = sp.factor(sp.expand(expr))
    except Exception:  # noqa: BLE001
        return expr
    return factored if sp.count_ops(factored) <= sp.count_ops(expr) else expr
