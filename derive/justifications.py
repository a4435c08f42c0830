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
    #: the rewrite rules a step citing it may use (check/licensing.py), beyond bookkeeping and algebra
    licenses: tuple[str, ...] = ()
    #: a built-in derivation that proves the rule once for symbolic K, where the rule is an identity
    identity: str = ""


REGISTRY: dict[str, Justification] = {
    x.name: x
    for x in (
        Justification("none", "no reason given"),
        Justification("definition", "a definition from the notation is written out",
                      licenses=("unfold_softmax", "unfold_cross_entropy")),
        Justification("definition_of_softmax", "softmax written out, y_k = e^{z_k} / sum_i e^{z_i}",
                      latex=r"softmax written out, $y_k = e^{z_k} / \sum_i e^{z_i}$", licenses=("unfold_softmax",)),
        Justification("definition_of_cross_entropy", "cross-entropy written out, E = -sum_k t_k ln y_k",
                      latex=r"cross-entropy written out, $E = -\sum_k t_k \ln y_k$",
                      licenses=("unfold_cross_entropy",)),
        Justification("chain_rule", "chain rule through y_1..y_K", latex=r"chain rule through $y_1, \dots, y_K$",
                      licenses=("chain_rule",)),
        Justification("quotient_rule", "quotient rule (f/g)' = (f'g - fg')/g^2",
                      latex=r"quotient rule $(f/g)' = (f'g - fg')/g^2$", licenses=("quotient",)),
        Justification("product_rule", "product rule (fg)' = f'g + fg'", latex=r"product rule $(fg)' = f'g + fg'$",
                      licenses=("product",)),
        Justification("power_rule", "power rule (u^n)' = n u^{n-1} u'", latex=r"power rule $(u^n)' = n u^{n-1} u'$",
                      licenses=("derivative_power",)),
        Justification("derivative_of_exp", "derivative of exp: (e^u)' = e^u u'",
                      latex=r"derivative of $\exp$: $(e^u)' = e^u u'$", licenses=("derivative_exp",)),
        Justification("derivative_of_ln", "derivative of ln: (ln u)' = u'/u",
                      latex=r"derivative of $\ln$: $(\ln u)' = u'/u$", licenses=("derivative_ln",)),
        Justification("derivative_of_linear_term", "derivative of sum_k t_k z_k is t_j",
                      latex=r"the derivative of $\sum_k t_k z_k$ is $t_j$", licenses=("sift",)),
        Justification("kronecker_delta_sifts", "Kronecker delta sifts a sum: sum_k f_k delta_jk = f_j",
                      latex=r"Kronecker delta sifts a sum: $\sum_k f_k \delta_{jk} = f_j$", licenses=("sift",),
                      identity="rule_delta_sifts"),
        Justification("linearity_of_sum", "a sum splits over + and scalar factors"),
        Justification("factor_leaves_sum", "a factor free of the summation index leaves the sum",
                      licenses=("factor_out",), identity="rule_factor_leaves_sum"),
        Justification("sum_of_targets_is_one", "the targets sum to one", states=("targets_sum_to_one",),
                      licenses=("sum_targets",), identity="rule_sum_of_targets"),
        Justification("one_hot_target", "t_k = 1 only for the correct class", states=("one_hot",),
                      latex=r"$t_k = 1$ only for the correct class", licenses=("one_hot",)),
        Justification("log_of_quotient", "ln(a/b) = ln a - ln b and ln e^x = x",
                      latex=r"$\ln(a/b) = \ln a - \ln b$ and $\ln e^x = x$", licenses=("log_split",),
                      identity="rule_log_of_quotient"),
        Justification("substitution", "earlier results substituted", licenses=("substitute",)),
        Justification("algebra", "algebraic rearrangement (ring and field identities, powers, exponent laws)"),
        Justification("shift_logits", "every logit shifted by the same constant: e^{z-c} = e^z e^{-c} cancels",
                      latex=r"every logit shifted by the same constant: $e^{z-c} = e^z e^{-c}$ cancels",
                      licenses=("exp_laws",)),
        Justification("max_term_is_one", "the term at the maximum is e^{z_mu - m} = e^0 = 1", states=("max_at_mu",),
                      latex=r"the term at the maximum is $e^{z_\mu - m} = e^0 = 1$", licenses=("max_term", "exp_laws")),
        Justification("softmax_sums_to_one", "sum_k y_k = 1", latex=r"$\sum_k y_k = 1$", licenses=("softmax_sum",),
                      identity="rule_softmax_sums_to_one"),
        Justification("nonnegative_terms", "rewritten as a sum of terms that are each >= 0 (no cancellation)",
                      licenses=("exp_laws",)),
        Justification("combine_cases", "the cases combined with a Kronecker delta", merges_cases=True),
    )
}
