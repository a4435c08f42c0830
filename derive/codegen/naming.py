"""Names for the values a kernel computes, so that generated code reads like the math it came from.

``name_of`` maps an index-form expression to a short Python name: z_k - m is
``shifted``, e^{z_k - m} is ``exp_shifted``, a sum of exponentials is
``partition`` (``partition_rest`` without the label's entry), ln(1 + x) is
``log1p_`` followed by the name of x, a value at the label is ``..._at_gamma``.
Names only need to be helpful: the buffer pool makes them unique.
"""

from __future__ import annotations

import sympy as sp

MAX_LENGTH = 28


def name_of(expr: sp.Expr, class_index: sp.Symbol, shift: sp.Symbol | None = None) -> str:
    """A readable name for the value of expr (a vector along class_index, or a per-row value)."""
    name = _name(expr, class_index, shift)
    return name if len(name) <= MAX_LENGTH else name.split("_")[0] or "value"


def _label_suffix(expr, class_index) -> str:
    """'_at_gamma' for a value taken at a per-row label (z_gamma, e^{z_mu - m}), else ''."""
    labels = sorted(str(s) for s in expr.free_symbols if str(s) in ("gamma", "mu"))
    return f"_at_{labels[0]}" if labels and class_index not in expr.free_symbols else ""


def _is_partition(expr) -> bool:
    return isinstance(expr, sp.Sum) and any(isinstance(f, sp.exp) for f in sp.Mul.make_args(expr.function))


def _name(expr, class_index, shift) -> str:
    if isinstance(expr, sp.Indexed):
        return f"{expr.base}{_label_suffix(expr, class_index)}"
    if shift is not None and isinstance(expr, sp.Add) and len(expr.args) == 2 and \
            any(a in (shift, -shift) for a in expr.args):
        other = next(a for a in expr.args if a not in (shift, -shift))
        if isinstance(other, sp.Indexed):  # z - m
            return "shifted" + _label_suffix(other, class_index)
        if isinstance(-other, sp.Indexed):  # m - z
            return "minus_shifted" + _label_suffix(-other, class_index)
        return "shifted_" + _name(other, class_index, shift)
    if isinstance(expr, sp.exp):
        return "exp_" + _name(expr.args[0], class_index, shift)
    if isinstance(expr, sp.log):
        arg = expr.args[0]
        if isinstance(arg, sp.Add) and sp.Integer(1) in arg.args:
            return "log1p_" + _name(arg - 1, class_index, shift)
        return "log_" + _name(arg, class_index, shift)
    if isinstance(expr, sp.Sum):
        body = expr.function
        leaves_out = any(isinstance(f, sp.Add) and any(isinstance(-a, sp.KroneckerDelta) for a in f.args)
                         for f in sp.Mul.make_args(body))
        return ("partition" if _is_partition(expr) else "sum") + ("_rest" if leaves_out else "")
    if isinstance(expr, sp.Mul):
        coeff, rest = expr.as_coeff_Mul()
        if coeff == -1:
            return "minus_" + _name(rest, class_index, shift)
        if any(isinstance(f, sp.Pow) and f.exp == -1 for f in sp.Mul.make_args(expr)):
            return "ratio"
        return "product"
    if isinstance(expr, sp.Pow):
        return "square" if expr.exp == 2 else "power"
    if isinstance(expr, sp.Add):
        if any(_is_partition(a) for a in expr.args):
            return "partition"  # the rest of the partition sum plus the label's term
        return "terms" if class_index in expr.free_symbols else "total"
    return "value"
