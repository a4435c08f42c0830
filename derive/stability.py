"""Derivations behind the generated code's numerics, proved by the same checker.

The generated NumPy functions never evaluate the textbook formulas directly:
they shift the logits, work in log space, use log1p for the partition sum and
compute the label entry of the gradient as minus the sum of the other
probabilities.  Each of those rewrites is an identity, stated here as a
derivation, and the code generator (``kernels.py``) lowers the *proved*
results, never formulas typed into a template.
"""

from __future__ import annotations

import sympy as sp

from .derivation import Derivation, Step
from .notation import E, Sum, c, d, delta, gamma, i, j, k, m, mu, t, v, y, z

SOURCE = "derive/stability.py (numerics of the generated code)"


def _identity(**fields) -> Derivation:
    """A derivation of this module: its result is its last step unless given."""
    fields.setdefault("result", fields["steps"][-1].expr)
    return Derivation(source=SOURCE, **fields)


def _shifted_partition(shift):
    return Sum(sp.exp(z[i] - shift), i)


def shift_invariance() -> Derivation:
    return _identity(
        name="shift_invariance",
        title="Softmax is invariant under a common shift of the logits",
        start=y[k],
        start_latex=r"y_k",
        steps=(
            Step(sp.exp(z[k]) / Sum(sp.exp(z[i]), i), r"= \frac{e^{z_k}}{\sum_{i=1}^K e^{z_i}}", "definition_of_softmax"),
            Step(sp.exp(z[k] - c) / _shifted_partition(c), r"= \frac{e^{z_k - c}}{\sum_{i=1}^K e^{z_i - c}}", "shift_logits"),
        ),
        result_latex=r"y_k = \frac{e^{z_k - c}}{\sum_{i=1}^K e^{z_i - c}}",
    )


def log_softmax() -> Derivation:
    L = sp.log(_shifted_partition(m))
    return _identity(
        name="log_softmax",
        title="log-softmax with the maximum shifted out",
        start=sp.log(y[k]),
        start_latex=r"\ln y_k",
        steps=(
            Step(sp.log(sp.exp(z[k]) / Sum(sp.exp(z[i]), i), evaluate=False),
                 r"= \ln \frac{e^{z_k}}{\sum_{i=1}^K e^{z_i}}", "definition_of_softmax"),
            Step(z[k] - sp.log(Sum(sp.exp(z[i]), i)), r"= z_k - \ln \sum_{i=1}^K e^{z_i}", "log_of_quotient"),
            Step((z[k] - m) - L, r"= (z_k - m) - \ln \sum_{i=1}^K e^{z_i - m}", "shift_logits"),
        ),
        result_latex=r"\ln y_k = (z_k - m) - \ln \sum_{i=1}^K e^{z_i - m}",
    )


def log1p_partition() -> Derivation:
    rest = Sum((1 - delta(i, mu)) * sp.exp(z[i] - m), i)
    return _identity(
        name="log1p_partition",
        title="The shifted partition sum is 1 plus the other terms: evaluate it with log1p",
        start=sp.log(_shifted_partition(m)),
        start_latex=r"\ln \sum_{i=1}^K e^{z_i - m}",
        steps=(
            Step(sp.log(1 + rest), r"= \operatorname{log1p}\Big(\sum_{i \neq \mu} e^{z_i - m}\Big)", "max_term_is_one"),
        ),
        result_latex=r"\ln \sum_i e^{z_i - m} = \operatorname{log1p}\Big(\sum_{i \neq \mu} e^{z_i - m}\Big)",
    )


def log1p_partition_unshifted() -> Derivation:
    rest = Sum((1 - delta(i, mu)) * sp.exp(z[i]), i)
    return _identity(
        name="log1p_partition_unshifted",
        title=r"The same log1p, from the unshifted exponentials (no rounded difference $z_i - m$)",
        start=sp.log(_shifted_partition(m)),
        start_latex=r"\ln \sum_{i=1}^K e^{z_i - m}",
        steps=(
            Step(sp.log(1 + rest / sp.exp(z[mu])),
                 r"= \operatorname{log1p}\Big(\sum_{i \neq \mu} e^{z_i} \big/ e^{z_\mu}\Big)", "max_term_is_one"),
        ),
        result_latex=r"\ln \sum_i e^{z_i - m} = \operatorname{log1p}\Big(\sum_{i \neq \mu} e^{z_i} \big/ e^{z_\mu}\Big)",
    )


def cross_entropy_soft() -> Derivation:
    L = sp.log(_shifted_partition(m))
    return _identity(
        name="cross_entropy_soft",
        title="Cross-entropy from log-softmax, as a sum of non-negative terms",
        start=E,
        start_latex=r"E",
        steps=(
            Step(-Sum(t[k] * sp.log(y[k]), k), r"= -\sum_{k=1}^K t_k \ln y_k", "definition_of_cross_entropy"),
            Step(-Sum(t[k] * ((z[k] - m) - L), k), r"= -\sum_{k=1}^K t_k \Big((z_k - m) - \ln \sum_i e^{z_i - m}\Big)",
                 "substitution"),
            Step(Sum(t[k] * ((m - z[k]) + L), k), r"= \sum_{k=1}^K t_k \Big((m - z_k) + \ln \sum_i e^{z_i - m}\Big)",
                 "nonnegative_terms"),
        ),
        result_latex=r"E = \sum_k t_k \Big((m - z_k) + \ln \sum_i e^{z_i - m}\Big)",
        assumptions=(),
    )


def cross_entropy_label() -> Derivation:
    L = sp.log(_shifted_partition(m))
    return _identity(
        name="cross_entropy_label",
        title=r"Cross-entropy for a class label $\gamma$",
        start=E,
        start_latex=r"E",
        steps=(
            Step(Sum(t[k] * ((m - z[k]) + L), k), r"= \sum_{k=1}^K t_k \Big((m - z_k) + \ln \sum_i e^{z_i - m}\Big)",
                 "substitution"),
            Step((m - z[gamma]) + L, r"= (m - z_\gamma) + \ln \sum_i e^{z_i - m}", "one_hot_target"),
        ),
        result_latex=r"E = (m - z_\gamma) + \ln \sum_i e^{z_i - m}",
    )


def gradient_soft() -> Derivation:
    return _identity(
        name="gradient_soft",
        title=r"Gradient for soft targets: only $\sum_k t_k = 1$ is needed",
        start=d(E, z[j]),
        start_latex=r"\frac{\partial E}{\partial z_j}",
        steps=(Step(y[j] - t[j], r"= y_j - t_j", "sum_of_targets_is_one"),),
        result_latex=r"\frac{\partial E}{\partial z_j} = y_j - t_j",
    )


def gradient_label() -> Derivation:
    others = Sum((1 - delta(k, gamma)) * y[k], k)
    return _identity(
        name="gradient_label",
        title="Gradient for a class label: the label entry without cancellation",
        start=d(E, z[j]),
        start_latex=r"\frac{\partial E}{\partial z_j}",
        steps=(
            Step(y[j] - delta(j, gamma), r"= y_j - \delta_{j\gamma}", "one_hot_target"),
            Step(y[gamma] - 1, r"\left.\frac{\partial E}{\partial z_j}\right|_{j=\gamma} = y_\gamma - 1", "algebra",
                 lhs=(y[j] - delta(j, gamma)).xreplace({j: gamma})),
            Step(-others, r"y_\gamma - 1 = -\sum_{k \neq \gamma} y_k", "softmax_sums_to_one",
                 lhs=y[gamma] - 1),
        ),
        result=y[j] - delta(j, gamma),
        result_latex=r"\frac{\partial E}{\partial z_j} = y_j - \delta_{j\gamma},\quad y_\gamma - 1 = -\sum_{k\neq\gamma} y_k",
        assumptions=("index_range", "one_hot"),
    )


def sum_split_at_label() -> Derivation:
    shifted = sp.exp(z[i] - c)
    rest = Sum((1 - delta(i, gamma)) * shifted, i)
    return _identity(
        name="sum_split_at_label",
        title="The partition sum split into the label's term and the rest",
        start=Sum(shifted, i),
        start_latex=r"\sum_{i=1}^K e^{z_i - c}",
        steps=(
            Step(rest + sp.exp(z[gamma] - c), r"= \sum_{i \neq \gamma} e^{z_i - c} + e^{z_\gamma - c}",
                 "kronecker_delta_sifts"),
        ),
        result_latex=r"\sum_i e^{z_i - c} = \sum_{i \neq \gamma} e^{z_i - c} + e^{z_\gamma - c}",
    )


def softmax_vjp() -> Derivation:
    return _identity(
        name="softmax_vjp",
        title="Vector-Jacobian product of softmax without forming the Jacobian",
        start=Sum(v[k] * d(y[k], z[j]), k),
        start_latex=r"\sum_{k=1}^K v_k \frac{\partial y_k}{\partial z_j}",
        steps=(
            Step(Sum(v[k] * y[k] * (delta(j, k) - y[j]), k), r"= \sum_{k=1}^K v_k y_k (\delta_{jk} - y_j)", "substitution"),
            Step(y[j] * (v[j] - Sum(v[k] * y[k], k)), r"= y_j \Big(v_j - \sum_{k=1}^K v_k y_k\Big)", "kronecker_delta_sifts"),
        ),
        result_latex=r"(v^\top J)_j = y_j (v_j - \langle v, y \rangle)",
    )


def all_derivations() -> dict[str, Derivation]:
    out = {}
    for build in (shift_invariance, log_softmax, log1p_partition, log1p_partition_unshifted, cross_entropy_soft,
                  cross_entropy_label,
                  gradient_soft, gradient_label, sum_split_at_label, softmax_vjp):
        derivation = build()
        out[derivation.name] = derivation
    return out
