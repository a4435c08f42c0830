"""The generated functions' kernels, built from proved expressions.

Each kernel is one proved expression (a derivation's result, with other proved
rewrites substituted into it) plus the axis conventions of the lowering.  No
formula is typed here: the expressions are taken from the derivation files in
``derive/derivations/``, and before any code is written each kernel's
final expression is checked, by the checker, to equal the quantity it claims
(y_k, ln y_k, E, dE/dz_j, ...).  A kernel that is not *proved* stops codegen.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..read import builtin
from ..check.checker import check_equal
from ..errors import CodegenError
from ..notation import E, Sum, c, d, gamma, i, j, k, m, mu, v, y, z


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
    sources: tuple["Source", ...]    # the derivations (and steps) that prove it, for the docstring
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


@dataclass(frozen=True)
class Source:
    """A derivation a kernel is lowered from, and how it was specialised (", with c = 0")."""

    derivation: str
    note: str = ""


def _derivations() -> dict:
    """The built-in derivations, by name."""
    return builtin.everything()


def derivations(replacements=()) -> dict:
    """The derivations kernels are built from: built in, except those replaced by derivations of the same name."""
    built = _derivations()
    unknown = [d.name for d in replacements if d.name not in built]
    if unknown:
        raise CodegenError(f"no kernel uses derivation(s) {', '.join(unknown)}; replaceable: {', '.join(built)}")
    return {**built, **{d.name: d for d in replacements}}


def describe(source: Source, derivations: dict) -> str:
    """'file, step n (line l): start = result', printed from the parsed expressions (never the file's text)."""
    derivation = derivations[source.derivation]
    last = derivation.steps[-1]
    where = f"{derivation.path or derivation.name}, step {len(derivation.steps)}" + (
        f" (line {last.line})" if last.line else "")
    return f"{where}: {sp.sstr(derivation.start)} = {sp.sstr(derivation.result)}{source.note}"


def _softmax(D: dict, shift) -> sp.Expr:
    """y_k from the shift-invariance derivation, with the shift c chosen."""
    return D["shift_invariance"].result.xreplace({c: shift})


def _log1p_rewrite(D: dict, expr: sp.Expr, name: str = "log1p_partition") -> sp.Expr:
    """ln sum_i e^{z_i - m} -> log1p(sum_{i != mu} ...) wherever it occurs (a log1p_partition derivation)."""
    lp = D[name]
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


def _label_gradient(D: dict, shift) -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    """(y_k with the partition sum split at the label, the label entry -R/S, S)."""
    split = D["sum_split_at_label"]
    partition = split.start.xreplace({c: shift})
    S = split.result.xreplace({c: shift})
    y_k = _softmax(D, shift).xreplace({partition: S})
    complement = D["gradient_label"].steps[-1].expr  # -sum_{k != gamma} y_k
    softmax_at = {y[k]: _softmax(D, shift).xreplace({partition: S})}
    label_entry = _pull_row_factor_out_of_sums(complement.xreplace(softmax_at))
    return y_k, label_entry, S


def build_kernels(D: dict | None = None) -> tuple[Kernel, ...]:
    """The kernels, from the given derivations (by name; the built-in ones by default)."""
    D = _derivations() if D is None else D

    def result(name):
        return D[name].result

    def cite(name, note=""):
        return Source(name, note)

    log_softmax = _log1p_rewrite(D, result("log_softmax"))
    log_softmax_unshifted = _log1p_rewrite(D, result("log_softmax"), "log1p_partition_unshifted")
    partition_at_mu = D["sum_split_at_label"].result.xreplace({c: 0, gamma: mu})
    ce_soft = _log1p_rewrite(D, result("cross_entropy_soft"))
    ce_label = _log1p_rewrite(D, result("cross_entropy_label"))
    ce_soft_unshifted = _log1p_rewrite(D, result("cross_entropy_soft"), "log1p_partition_unshifted")
    ce_label_unshifted = _log1p_rewrite(D, result("cross_entropy_label"), "log1p_partition_unshifted")
    grad_unshifted, entry_unshifted, s_unshifted = _label_gradient(D, 0)
    grad_shifted, entry_shifted, _ = _label_gradient(D, m)
    jac = result("jacobian")
    vjp = result("softmax_vjp")
    soft = result("gradient_soft")
    return (
        Kernel("_softmax_unshifted", _softmax(D, 0), k, ("z",), "vec", y[k], (),
               (cite("shift_invariance", ", with c = 0"),), returns=_softmax(D, 0).as_numer_denom()[1]),
        Kernel("_softmax_shifted", _softmax(D, m), k, ("z",), "vec", y[k], (),
               (cite("shift_invariance", ", with c = m"),)),
        Kernel("_log_softmax_unshifted", log_softmax_unshifted, k, ("z",), "vec", sp.log(y[k]), ("max_at_mu",),
               (cite("log_softmax"), cite("log1p_partition_unshifted"), cite("sum_split_at_label", ", at mu, c = 0")),
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
               (cite("gradient_label"), cite("sum_split_at_label", ", with c = 0")),
               scatter=entry_unshifted, returns=s_unshifted),
        Kernel("_gradient_label_shifted", grad_shifted, k, ("z", "gamma"), "vec",
               d(E, z[k]), ("one_hot",),
               (cite("gradient_label"), cite("sum_split_at_label", ", with c = m")),
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
