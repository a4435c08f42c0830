"""The assumptions a step may rely on, as a registry of named objects.

Each assumption carries what the checker needs to use it: a sentence for the
report, the assumptions it implies (one-hot targets sum to one), a symbolic
rewrite, and how to draw random data that satisfies it.  A derivation names
the assumptions it states; the checker finds which of them a step really needs.
"""

from __future__ import annotations

import random
from fractions import Fraction
from dataclasses import dataclass, field
from typing import Callable

import sympy as sp

from .notation import K, gamma, m, mu, rewrite_outside_derivatives, t, z


@dataclass(frozen=True)
class Assumption:
    name: str
    latex: str
    sentence: str
    implies: tuple[str, ...] = ()
    #: symbolic rewrite applied while normalising (None: the assumption acts
    #: elsewhere, e.g. index_range enables Kronecker-delta sifting).
    rewrite: Callable[[sp.Expr], sp.Expr] | None = field(default=None, compare=False)


def _outside_derivatives(query, value):
    """A rewrite that leaves unevaluated derivatives (and their variables) alone."""
    return lambda expr: rewrite_outside_derivatives(expr, query, value)


_targets_sum_to_one = _outside_derivatives(
    lambda e: isinstance(e, sp.Sum) and len(e.limits) == 1 and e.limits[0][1:] == (1, K)
    and e.function == t[e.limits[0][0]],
    lambda e: sp.Integer(1))

_one_hot = _outside_derivatives(
    lambda e: isinstance(e, sp.Indexed) and e.base == t,
    lambda e: sp.KroneckerDelta(e.indices[0], gamma))

_max_at_mu = _outside_derivatives(lambda e: e == m, lambda e: z[mu])


REGISTRY: dict[str, Assumption] = {
    a.name: a
    for a in (
        Assumption(
            "index_range",
            r"i, j, k, \gamma \in \{1, \dots, K\}",
            "every free index lies in $1, \\dots, K$",
        ),
        Assumption(
            "targets_sum_to_one",
            r"\sum_{k=1}^K t_k = 1",
            "the targets sum to one",
            rewrite=_targets_sum_to_one,
        ),
        Assumption(
            "one_hot",
            r"t_k = \delta_{k\gamma}",
            "the targets are one-hot: $t_k = 1$ for the correct class $\\gamma$, $0$ otherwise",
            implies=("targets_sum_to_one", "index_range"),
            rewrite=_one_hot,
        ),
        Assumption(
            "max_at_mu",
            r"m = z_\mu = \max_k z_k",
            "the shift $m$ is the row maximum, attained at index $\\mu$",
            implies=("index_range",),
            rewrite=_max_at_mu,
        ),
    )
}


def closure(names) -> frozenset[str]:
    """The named assumptions together with everything they imply."""
    out: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name not in out:
            out.add(name)
            todo.extend(REGISTRY[name].implies)
    return frozenset(out)


def ordered(names) -> tuple[str, ...]:
    """Assumption names in registry order (stable output)."""
    return tuple(n for n in REGISTRY if n in set(names))


def draw_targets(names: frozenset[str], size: int, gamma_value: int | None, rng: random.Random):
    """Random targets t_1..t_size that satisfy exactly the given assumptions, and nothing more.

    Under "the targets sum to one" alone they are sometimes a probability vector
    and sometimes have negative entries: nothing else is assumed, so a step
    that needs t_k >= 0 must not pass.  Rationals, so the sum is exactly one.
    """
    if "one_hot" in names:
        return [1 if n == gamma_value else 0 for n in range(1, size + 1)]
    if "targets_sum_to_one" in names:
        if rng.random() < 0.5:
            raw = [Fraction(rng.randint(1, 1000)) for _ in range(size)]
            total = sum(raw)
            return [r / total for r in raw]
        rest = [Fraction(rng.randint(-1000, 2000), 1000) for _ in range(size - 1)]
        return rest + [1 - sum(rest)]
    return [rng.uniform(-1.0, 2.0) for _ in range(size)]
