"""Lowering of the two-index kernels (the Jacobian): straight into the output, no K x K temporary."""

from __future__ import annotations

import sympy as sp

from ..errors import LoweringError


def matrix_code(expr: sp.Expr, row, col, names: dict, out: str = "out") -> list[str]:
    """Statements writing a two-index expression into ``out[..., row, col]`` with no K x K temporary.

    The Jacobian is quadratic in K, so its temporaries are what costs memory: a
    broadcast expression such as y_k (delta_jk - y_j) builds three K x K arrays
    besides the output.  Instead the expression is split on delta_{row col}:

    * off the diagonal (delta = 0) it must be c f(row) g(col), a rank-one product:
      one ``np.multiply`` of a column and a row vector straight into ``out``
      (and a sign or scale in place);
    * on the diagonal (delta = 1, row = col) it is a vector expression of its own,
      evaluated as written (y_k (1 - y_k), without the cancellation of y_k - y_k^2)
      and assigned to the diagonal view.

    Anything else raises LoweringError rather than falling back to a broadcast.
    """
    delta = sp.KroneckerDelta(row, col)
    off = sp.expand(expr).xreplace({delta: 0})
    diagonal = expr.xreplace({delta: 1}).xreplace({row: col})
    coeff, factors = off.as_coeff_mul()
    by_row = [f for f in factors if row in f.free_symbols and col not in f.free_symbols]
    by_col = [f for f in factors if col in f.free_symbols and row not in f.free_symbols]
    if len(by_row) + len(by_col) != len(factors) or not by_row or not by_col:
        raise LoweringError(f"off the diagonal, {expr} is not a product of a {row} factor and a {col} factor")
    left = vector_code(sp.Mul(*by_row), row, names)
    right = vector_code(sp.Mul(*by_col), col, names)
    lines = [f"np.multiply({left}[..., :, None], {right}[..., None, :], out={out})  # {sp.sstr(off)} off the diagonal"]
    if coeff == -1:
        lines.append(f"np.negative({out}, out={out})")
    elif coeff != 1:
        lines.append(f"np.multiply({out}, {float(coeff)!r}, out={out})")
    lines.append(f"_diagonal({out})[...] = {vector_code(diagonal, col, names)}  # {sp.sstr(diagonal)} on it")
    return lines


def vector_code(expr: sp.Expr, index, names: dict) -> str:
    """An expression in one class index as elementwise NumPy code on the (rows, K) inputs in `names`."""
    if expr.is_Number:
        return repr(float(expr))
    if isinstance(expr, sp.Indexed):
        base, (at,) = expr.base, expr.indices
        if base not in names or at != index:
            raise LoweringError(f"{expr} is not an input of this kernel indexed by {index}")
        return names[base]
    if isinstance(expr, sp.Add):
        return "(" + " + ".join(vector_code(a, index, names) for a in expr.args).replace("+ -", "- ") + ")"
    if isinstance(expr, sp.Mul):
        coeff, rest = expr.as_coeff_Mul()
        body = " * ".join(vector_code(a, index, names) for a in sp.Mul.make_args(rest))
        return body if coeff == 1 else f"-{body}" if coeff == -1 else f"{float(coeff)!r} * {body}"
    raise LoweringError(f"no elementwise rule for {type(expr).__name__}: {expr}")
