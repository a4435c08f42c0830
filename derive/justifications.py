"""Named justifications: the reasons a derivation gives for each step.

A justification is data with its own sentence for the report.  Most are
checked the same way (the two sides must be equal); ``combine_cases`` is
checked case by case against the last step of each case.  A justification may
itself state an assumption: "one-hot target" is the notes saying t is one-hot,
and the checker then reports whether that much was needed.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Justification:
    name: str
    sentence: str
    states: tuple[str, ...] = ()
    merges_cases: bool = False
    #: the sentence for the report, with its formula typeset (plain sentence when empty)
    latex: str = ""


REGISTRY: dict[str, Justification] = {
    x.name: x
    for x in (
        Justification("definition", "a definition from the notation is written out"),
        Justification("definition_of_softmax", "softmax written out, y_k = e^{z_k} / sum_i e^{z_i}",
                      latex=r"softmax written out, $y_k = e^{z_k} / \sum_i e^{z_i}$"),
        Justification("definition_of_cross_entropy", "cross-entropy written out, E = -sum_k t_k ln y_k",
                      latex=r"cross-entropy written out, $E = -\sum_k t_k \ln y_k$"),
        Justification("chain_rule", "chain rule through y_1..y_K", latex=r"chain rule through $y_1, \dots, y_K$"),
        Justification("quotient_rule", "quotient rule (f/g)' = (f'g - fg')/g^2",
                      latex=r"quotient rule $(f/g)' = (f'g - fg')/g^2$"),
        Justification("derivative_of_ln", "derivative of ln: (ln u)' = u'/u",
                      latex=r"derivative of $\ln$: $(\ln u)' = u'/u$"),
        Justification("derivative_of_linear_term", "derivative of sum_k t_k z_k is t_j",
                      latex=r"the derivative of $\sum_k t_k z_k$ is $t_j$"),
        Justification("kronecker_delta_sifts", "Kronecker delta sifts a sum: sum_k f_k delta_jk = f_j",
                      latex=r"Kronecker delta sifts a sum: $\sum_k f_k \delta_{jk} = f_j$"),
        Justification("linearity_of_sum", "a sum splits over + and scalar factors"),
        Justification("factor_leaves_sum", "a factor free of the summation index leaves the sum"),
        Justification("sum_of_targets_is_one", "the targets sum to one", states=("targets_sum_to_one",)),
        Justification("one_hot_target", "t_k = 1 only for the correct class", states=("one_hot",),
                      latex=r"$t_k = 1$ only for the correct class"),
        Justification("log_of_quotient", "ln(a/b) = ln a - ln b and ln e^x = x",
                      latex=r"$\ln(a/b) = \ln a - \ln b$ and $\ln e^x = x$"),
        Justification("substitution", "earlier results substituted"),
        Justification("algebra", "algebraic rearrangement"),
        Justification("shift_logits", "every logit shifted by the same constant: e^{z-c} = e^z e^{-c} cancels",
                      latex=r"every logit shifted by the same constant: $e^{z-c} = e^z e^{-c}$ cancels"),
        Justification("max_term_is_one", "the term at the maximum is e^{z_mu - m} = e^0 = 1", states=("max_at_mu",),
                      latex=r"the term at the maximum is $e^{z_\mu - m} = e^0 = 1$"),
        Justification("softmax_sums_to_one", "sum_k y_k = 1", latex=r"$\sum_k y_k = 1$"),
        Justification("nonnegative_terms", "rewritten as a sum of terms that are each >= 0 (no cancellation)"),
        Justification("combine_cases", "the cases combined with a Kronecker delta", merges_cases=True),
    )
}
