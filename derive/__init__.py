"""derive: a symbolic derivation checker for softmax and cross-entropy gradients.

The small public API, for checking your own steps::

    from derive import check_equal
    from derive.notation import y, z, t, j, k, d, delta, Sum

    v = check_equal(d(y[k], z[j]), y[k] * (delta(j, k) - y[j]), assumptions=["index_range"])
    v.status          # Status.PROVED
    v.assumptions_used

The package is laid out as the data flows, and imports point one way only:
base (errors, notation, assumptions, justifications, derivation, verdicts,
resources) -> read (LaTeX -> derivations) -> check (normal form, numeric
evaluation, checker) -> codegen / output (generated code; text, JSON, report)
-> cli.
"""

__version__ = "0.1.0"

from .check.checker import check_derivation, check_equal  # noqa: E402
from .derivation import Case, Derivation, Finding, Step  # noqa: E402
from .verdicts import Counterexample, Status, Verdict  # noqa: E402

__all__ = ["check_equal", "check_derivation", "Case", "Derivation", "Finding", "Step",
           "Counterexample", "Status", "Verdict"]
