"""The generated functions' kernels, built from proved expressions.

Each kernel is one proved expression (a derivation's result, with other proved
rewrites substituted into it) plus the axis conventions of the lowering.  No
formula is typed here: the expressions are taken from the derivations in
``stability.py`` and the notes, and before any code is written each kernel's
final expression is checked, by the checker, to equal the quantity it claims
(y_k, ln y_k, E, dE/dz_j, ...).  A kernel that is not *proved* stops codegen.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import sympy as sp

from . import notes, stability
from .checker import check_equal
from .errors import DeriveError
from .notation import E, Sum, c, d, gamma, i, j, k, m, mu, v, y, z


class CodegenError(DeriveError):
    """A kernel could not be built, proved or lowered; nothing is written."""


@dataclass(frozen=True)
class Kernel:
    """One generated private function: ``out`` receives ``expr`` along the class axis."""

    name: str
    expr: sp.Expr
    class_index: sp.Symbol
    inputs: tuple[str, ...]          # argument names besides `out`
    output: str                      # "vec": (rows, K); "row": (rows, 1); "matrix": (rows, K, K)
    claim: sp.Expr                   # what expr equals ...
    assumptions: tuple[str, ...]     # ... under these assumptions
    sources: tuple[str, ...]         # "derivation, step" strings for the docstring
    scatter: sp.Expr | None = None   # value written at the label entry (class gamma)
    returns: sp.Expr | None = None   # a row value handed back (the partition sum, for the fast path)

    @property
    def exprs(self) -> list:
        """Everything the kernel computes: the vector, and the label entry and row result if any."""
        return [e for e in (self.expr, self.scatter, self.returns) if e is not None]

    @property
    def shifted(self) -> bool:
        """Whether the kernel reads the row maximum m = z_mu (then it computes it first)."""
        return any(m in e.free_symbols for e in self.exprs)


_REPLACED: dict = {}


@lru_cache(maxsize=None)
def _built_in():
    return {**notes.all_derivations(), **stability.all_derivations()}


def _derivations():
    """The derivations kernels are built from: built in, unless replaced by ones from files."""
    return {**_built_in(), **_REPLACED}


def replace_derivations(derivations) -> None:
    """Build kernels from these derivations instead of the built-in ones of the same name."""
    unknown = [d.name for d in derivations if d.name not in _built_in()]
    if unknown:
        raise CodegenError(f"no kernel uses derivation(s) {', '.join(unknown)}; "
                           f"replaceable: {', '.join(_built_in())}")
    _REPLACED.update({d.name: d for d in derivations})


def _result(name: str) -> sp.Expr:
    return _derivations()[name].result


def _cite(name: str) -> str:
    """'name (step n): start = result', printed from the parsed expressions (never the file's text)."""
    derivation = _derivations()[name]
    return f"{name} (step {len(derivation.steps)}): {sp.sstr(derivation.start)} = {sp.sstr(derivation.result)}"


def _softmax(shift) -> sp.Expr:
    """y_k from the shift-invariance derivation, with the shift c chosen."""
    return _result("shift_invariance").xreplace({c: shift})


def _log1p_rewrite(expr: sp.Expr, name: str = "log1p_partition") -> sp.Expr:
    """ln sum_i e^{z_i - m} -> log1p(sum_{i != mu} ...) wherever it occurs (a log1p_partition derivation)."""
    lp = _derivations()[name]
    return expr.xreplace({lp.start: lp.result})


def _pull_row_factor_out_of_sums(expr: sp.Expr) -> sp.Expr:
    """sum_k f_k g = g sum_k f_k for g free of k (factor_leaves_sum, proved in route 2)."""

    def pull(s: sp.Sum):
        var = s.limits[0][0]
        inside, outside = [], []
        for f in sp.Mul.make_args(s.function):
            (inside if var in f.free_symbols else outside).append(f)
        return sp.Mul(*outside) * sp.Sum(sp.Mul(*inside), *s.limits)

    return expr.replace(lambda e: isinstance(e, sp.Sum), pull)


def _label_gradient(shift) -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    """(y_k with the partition sum split at the label, the label entry -R/S, S)."""
    split = _derivations()["sum_split_at_label"]
    partition = split.start.xreplace({c: shift})
    S = split.result.xreplace({c: shift})
    y_k = _softmax(shift).xreplace({partition: S})
    complement = _derivations()["gradient_label"].steps[-1].expr  # -sum_{k != gamma} y_k
    softmax_at = {y[k]: _softmax(shift).xreplace({partition: S})}
    label_entry = _pull_row_factor_out_of_sums(complement.xreplace(softmax_at))
    return y_k, label_entry, S


def build_kernels() -> tuple[Kernel, ...]:
    log_softmax = _log1p_rewrite(_result("log_softmax"))
    log_softmax_unshifted = _log1p_rewrite(_result("log_softmax"), "log1p_partition_unshifted")
    partition_at_mu = _derivations()["sum_split_at_label"].result.xreplace({c: 0, gamma: mu})
    ce_soft = _log1p_rewrite(_result("cross_entropy_soft"))
    ce_label = _log1p_rewrite(_result("cross_entropy_label"))
    ce_soft_unshifted = _log1p_rewrite(_result("cross_entropy_soft"), "log1p_partition_unshifted")
    ce_label_unshifted = _log1p_rewrite(_result("cross_entropy_label"), "log1p_partition_unshifted")
    grad_unshifted, entry_unshifted, s_unshifted = _label_gradient(0)
    grad_shifted, entry_shifted, _ = _label_gradient(m)
    jac = _result("jacobian")
    vjp = _result("softmax_vjp")
    soft = _result("gradient_soft")
    cite = _cite
    return (
        Kernel("_softmax_unshifted", _softmax(0), k, ("z",), "vec", y[k], (),
               (cite("shift_invariance") + ", with c = 0",), returns=_softmax(0).as_numer_denom()[1]),
        Kernel("_softmax_shifted", _softmax(m), k, ("z",), "vec", y[k], (),
               (cite("shift_invariance") + ", with c = m",)),
        Kernel("_log_softmax_unshifted", log_softmax_unshifted, k, ("z",), "vec", sp.log(y[k]), ("max_at_mu",),
               (cite("log_softmax"), cite("log1p_partition_unshifted"), cite("sum_split_at_label") + ", at mu, c = 0"),
               returns=partition_at_mu),
        Kernel("_log_softmax", log_softmax, k, ("z",), "vec", sp.log(y[k]), ("max_at_mu",),
               (cite("log_softmax"), cite("log1p_partition"))),
        Kernel("_cross_entropy_soft_unshifted", ce_soft_unshifted, k, ("z", "t"), "row", E, ("max_at_mu",),
               (cite("cross_entropy_soft"), cite("log1p_partition_unshifted")), returns=partition_at_mu),
        Kernel("_cross_entropy_soft", ce_soft, k, ("z", "t"), "row", E, ("max_at_mu",),
               (cite("cross_entropy_soft"), cite("log1p_partition"))),
        Kernel("_cross_entropy_label_unshifted", ce_label_unshifted, k, ("z", "gamma"), "row", E,
               ("max_at_mu", "one_hot"), (cite("cross_entropy_label"), cite("log1p_partition_unshifted")),
               returns=partition_at_mu),
        Kernel("_cross_entropy_label", ce_label, k, ("z", "gamma"), "row", E, ("max_at_mu", "one_hot"),
               (cite("cross_entropy_label"), cite("log1p_partition"))),
        Kernel("_gradient_label_unshifted", grad_unshifted, k, ("z", "gamma"), "vec",
               d(E, z[k]), ("one_hot",),
               (cite("gradient_label"), cite("sum_split_at_label") + ", with c = 0"),
               scatter=entry_unshifted, returns=s_unshifted),
        Kernel("_gradient_label_shifted", grad_shifted, k, ("z", "gamma"), "vec",
               d(E, z[k]), ("one_hot",),
               (cite("gradient_label"), cite("sum_split_at_label") + ", with c = m"),
               scatter=entry_shifted),
        Kernel("_gradient_soft", soft.xreplace({j: k}), k, ("y", "t"), "vec", d(E, z[k]),
               ("targets_sum_to_one",), (cite("gradient_soft"), cite("route1"), cite("route2"))),
        Kernel("_softmax_vjp", vjp.xreplace({j: k, k: i}), k, ("y", "v"), "vec",
               Sum(v[i] * d(y[i], z[k]), i), (), (cite("softmax_vjp"),)),
        Kernel("_softmax_jacobian", jac, k, ("y",), "matrix", d(y[k], z[j]), (), (cite("jacobian"),)),
    )


def composed(kernel: Kernel) -> sp.Expr:
    """The kernel's value as one expression (the label entry as a case), for the proof."""
    if kernel.scatter is None:
        return kernel.expr
    return sp.Piecewise((kernel.scatter, sp.Eq(kernel.class_index, gamma)), (kernel.expr, True))


def prove(kernel: Kernel):
    """The checker's verdict that the kernel computes what it claims."""
    return check_equal(kernel.claim, composed(kernel), kernel.assumptions + ("index_range",))
