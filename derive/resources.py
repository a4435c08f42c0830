"""Where the package's own data lives: the derivation files and the templates.

Found through ``importlib.resources``, so they are found the same way from a
checkout, an editable install or a wheel.  The top-level ``templates/``
directory of the checkout is installed as the package ``derive.templates``.
"""

from __future__ import annotations

from importlib import resources

#: the derivations that ship with derive, by group (each is derive/derivations/<name>.deriv)
NOTES = ("jacobian", "route1", "route2")
NUMERICS = ("shift_invariance", "log_softmax", "log1p_partition", "log1p_partition_unshifted", "cross_entropy_soft",
            "cross_entropy_label", "gradient_soft", "gradient_label", "sum_split_at_label", "softmax_vjp")
#: the rules behind justifications that are identities, each proved once (justifications.py names them)
RULES = ("rule_delta_sifts", "rule_factor_leaves_sum", "rule_sum_of_targets", "rule_log_of_quotient",
         "rule_softmax_sums_to_one")


def derivation_file(name: str):
    """The packaged derivation file of a built-in derivation (a Traversable; str() is its path)."""
    return resources.files("derive") / "derivations" / f"{name}.deriv"


def template(name: str) -> str:
    """The text of a packaged template."""
    return (resources.files("derive.templates") / name).read_text(encoding="utf-8")
