"""True identities and false statements for testing the checker's soundness.

True identities are built from random pieces by applying one rewrite that is
valid for every K (splitting a boundary term off a sum, sifting a delta whose
index lies in the range, Fubini for nested sums, symmetry of second
derivatives, ...); the pieces include nested sums, sums over other ranges,
deltas at numbers, derivatives of derivatives and factors that are singular
at some points.  False statements are mutations of true ones (which the tests
keep only when an independent evaluation shows they really are false), plus a
hand-written list of claims that are true only for small K or only under an
assumption that is not stated.

Each statement is ``(name, lhs, rhs, assumptions)``.
"""

from __future__ import annotations

import random

import sympy as sp

from derive.notation import E, K, Sum, c, d, delta, gamma, i, j, k, m, t, v, y, z

RANGE = ("index_range",)
SUM_ONE = ("index_range", "targets_sum_to_one")


def _piece(rng: random.Random, at) -> sp.Expr:
    """A random term in the index `at` (bound or free): logits, probabilities, targets, deltas, powers."""
    options = [
        lambda: z[at], lambda: y[at], lambda: t[at], lambda: v[at], lambda: sp.exp(z[at]),
        lambda: delta(at, j), lambda: delta(at, 1), lambda: at, lambda: at ** 2, lambda: sp.Integer(rng.randint(1, 3)),
        lambda: y[at] * (1 - y[at]), lambda: t[at] * sp.log(y[at]),
    ]
    return rng.choice(options)()


def _scalar_piece(rng: random.Random, at) -> sp.Expr:
    """A term in `at` that needs no value of an indexed name (so indices beyond 1..K stay defined)."""
    return rng.choice([lambda: delta(at, j), lambda: delta(at, 1), lambda: at, lambda: at ** 2,
                       lambda: sp.Integer(rng.randint(1, 3)), lambda: delta(at, K)])()


def _singular(rng: random.Random) -> sp.Expr:
    """A factor that has no value at some points (K = 1, where y_j = 1)."""
    return rng.choice([1 / (1 - y[j]), sp.log(1 - y[j]), 1 / (y[j] - 1) ** 2, sp.Integer(1)])


def true_identities(rng: random.Random, count: int):
    """`count` random true identities, each from one valid rewrite."""
    makers = [_split_top, _split_bottom, _split_zero, _sift_free, _sift_one, _fubini, _nested_softmax,
              _hessian_symmetry, _hessian_value, _target_derivative, _complement_sum, _algebra]
    out = []
    for n in range(count):
        maker = makers[n % len(makers)]
        name, lhs, rhs, assumptions = maker(rng)
        factor = _singular(rng)
        out.append((f"{name}#{n}", lhs * factor, rhs * factor, assumptions))
    return out


def _split_top(rng):
    f = _scalar_piece(rng, i) + _scalar_piece(rng, i)
    return "split K+1", sp.Sum(f, (i, 1, K + 1)), Sum(f, i) + f.xreplace({i: K + 1}), RANGE


def _split_bottom(rng):
    f = _piece(rng, i) * _piece(rng, i)
    return "split 2..K", sp.Sum(f, (i, 2, K)), Sum(f, i) - f.xreplace({i: 1}), RANGE


def _split_zero(rng):
    f = _scalar_piece(rng, i) + _scalar_piece(rng, i)
    return "split 0..K", sp.Sum(f, (i, 0, K)), f.xreplace({i: 0}) + Sum(f, i), RANGE


def _sift_free(rng):
    g = _piece(rng, i) + _piece(rng, i)
    return "sift j", Sum(delta(i, j) * g, i), g.xreplace({i: j}), RANGE


def _sift_one(rng):
    g = _piece(rng, i) * _piece(rng, i)
    return "sift 1", Sum(delta(i, 1) * g, i), g.xreplace({i: 1}), RANGE


def _fubini(rng):
    g, h = _piece(rng, i), _piece(rng, k)
    return "fubini", Sum(Sum(g * h, k), i), Sum(g, i) * Sum(h, k), RANGE


def _nested_softmax(rng):
    g = _piece(rng, i)
    return "nested softmax", Sum(Sum(y[i] * y[k] * g, k), i), Sum(y[i] * g, i), RANGE


def _hessian_symmetry(rng):
    f = rng.choice([E, sp.log(Sum(sp.exp(z[i]), i)), y[j] * y[k], Sum(t[i] * z[i] ** 2, i)])
    return "hessian symmetry", d(d(f, z[j]), z[k]), d(d(f, z[k]), z[j]), SUM_ONE


def _hessian_value(rng):
    return "hessian", d(d(E, z[j]), z[k]), y[j] * (delta(j, k) - y[k]), SUM_ONE


def _target_derivative(rng):
    return "d/dt", d(E, t[j]), -sp.log(y[j]), RANGE


def _complement_sum(rng):
    return "complement", Sum((1 - delta(i, j)) * y[i], i), 1 - y[j], RANGE


def _algebra(rng):
    a, b = _piece(rng, j), _piece(rng, k)
    return "algebra", (a + b) ** 2, a ** 2 + 2 * a * b + b ** 2, RANGE


def mutations(rhs: sp.Expr):
    """Small edits of a right side, most of which make a true identity false."""
    out = [("plus one", rhs + 1), ("sign", -rhs), ("double", 2 * rhs), ("j<->k", rhs.xreplace({j: k, k: j}))]
    sums = [s for s in sp.preorder_traversal(rhs) if isinstance(s, sp.Sum)]
    if sums:
        s = sums[0]
        var, lo, hi = s.limits[0]
        out.append(("upper+1", rhs.xreplace({s: sp.Sum(s.function, (var, lo, hi + 1))})))
        out.append(("lower+1", rhs.xreplace({s: sp.Sum(s.function, (var, lo + 1, hi))})))
    deltas = [x for x in sp.preorder_traversal(rhs) if isinstance(x, sp.KroneckerDelta)]
    if deltas:
        x = deltas[0]
        out.append(("delta at 2", rhs.xreplace({x: sp.KroneckerDelta(x.args[0], 2)})))
    return [(name, m) for name, m in out if m != rhs]


#: hand-written false claims: true only for small K, only with an assumption not stated, or just wrong
FALSE_CLAIMS = [
    ("true for K <= 7 only", sp.Sum(1 + Sum(delta(i, k), k), (i, 1, 2 * K - 7)),
     sp.Sum(1 + Sum(1 / K, k), (i, 1, 2 * K - 7)), RANGE),
    ("true for K <= 7 only, singular", sp.Sum(1 + Sum(delta(i, k), k), (i, 1, K + 1)) / (1 - y[j]),
     sp.Sum(1 + Sum(1 / K, k), (i, 1, K + 1)) / (1 - y[j]), RANGE),
    ("delta at a real constant", Sum(delta(k, c), k) / (1 - y[j]), 1 / (1 - y[j]), RANGE),
    ("delta at 2 sifted", Sum(delta(k, 2), k), sp.Integer(1), RANGE),  # 0 at K = 1
    ("range 3..K split", sp.Sum(1, (i, 3, K)), K - 2, RANGE),
    ("sum to 1 over 1..K-1", sp.Sum(y[i], (i, 1, K - 1)), sp.Integer(1), RANGE),
    ("derivative of the max", d(m, z[j]), sp.Integer(0), ("index_range", "max_at_mu")),
    ("sum of |t| under sum t = 1", Sum(sp.Abs(t[k]), k), sp.Integer(1), SUM_ONE),
    ("one-hot needed", Sum(t[k] ** 2, k), sp.Integer(1), SUM_ONE),
    ("gradient without sum t = 1", d(E, z[j]), y[j] - t[j], RANGE),
    ("hessian sign", d(d(E, z[j]), z[k]), y[j] * (delta(j, k) + y[k]), SUM_ONE),
    ("target derivative sign", d(E, t[j]), sp.log(y[j]), RANGE),
    ("nested sum off by K", Sum(Sum(y[i] * y[k], k), i), K, RANGE),
    ("wrong label", Sum(delta(k, gamma) * z[k], k), z[j], RANGE),
    ("index out of range", sp.Sum(z[i], (i, 1, K + 1)), Sum(z[i], i), RANGE),
]
