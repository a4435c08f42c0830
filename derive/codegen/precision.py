"""Where generated code trades speed for accuracy: decided here, in one place, with the reasons.

* A sum of exponentials (a partition sum) divides every softmax entry or is the
  argument of its logarithm, so for a float64 result it is summed faithfully
  (``_row_sums``: error below one ulp); a plain pairwise ``np.add.reduce`` is
  off by several ulp at K = 1000.  For a float32 result the plain float64 sum
  is already thousands of times finer than needed.  Other sums (mixed signs,
  such as <v, y>) are plain.
* Dividing a vector by a row into a float32 output: a float64 reciprocal
  (rounded to 2^-53, far below a float32 ulp) and a multiplication, which is
  cheaper; when the vector is read for the last time, in place and then one
  casting copy, which beats a ufunc casting as it writes (15% at 4096x1000).
"""

from __future__ import annotations

import sympy as sp


def is_partition(body: sp.Expr) -> bool:
    """A summand that is a product of exponentials: its sum is a partition sum."""
    return isinstance(body, sp.exp) or (isinstance(body, sp.Mul) and all(
        isinstance(f, sp.exp) for f in sp.Mul.make_args(body)))


def reduction(body: sp.Expr, vector: str, target: str, scratch: str | None) -> str:
    """The statement summing `vector` along the class axis into `target` (scratch: for a partition sum)."""
    if is_partition(body):
        return f"_row_sums({vector}, {target}, {scratch}, faithful=out.dtype == np.float64)"
    return f"np.add.reduce({vector}, axis=-1, keepdims=True, out={target})"


def divide_into_output(numerator: str, row: str, into: str, in_place: bool, note: str = "") -> list[str]:
    """Statements for into = numerator / row, with the float32 rule of the module docstring."""
    return [
        f"if {into}.dtype == np.float32:",
        f"    np.multiply({numerator}, 1.0 / {row}, out={numerator if in_place else into}){note}",
    ] + ([f"    np.copyto({into}, {numerator}, casting='same_kind')"] if in_place else []) + [
        "else:",
        f"    np.divide({numerator}, {row}, out={into}){note}",
    ]
