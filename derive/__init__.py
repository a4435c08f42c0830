"""derive: a symbolic derivation checker for softmax and cross-entropy gradients.

The small public API, for checking your own steps::

    from derive import check_equal
    from derive.notation import y, z, t, j, k, d, delta, Sum

    v = check_equal(d(y[k], z[j]), y[k] * (delta(j, k) - y[j]), assumptions=["index_range"])
    v.status          # Status.PROVED
    v.assumptions_used

The data flows notation -> derivation -> normal_form / numeric -> checker ->
verdicts -> presentation / codegen / report -> cli.
"""

from .checker import check_derivation, check_equal
from .derivation import Case, Derivation, Finding, Step
from .verdicts import Counterexample, Status, Verdict

__all__ = ["check_equal", "check_derivation", "Case", "Derivation", "Finding", "Step",
           "Counterexample", "Status", "Verdict"]
