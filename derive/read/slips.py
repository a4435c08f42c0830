"""Slips of notation authors make, found in a formula as read: findings, not parse errors.

* a summation index that is also free in the formula (p_i = e^{x_i} / \\sum_i e^{x_i}; dL/dx_i =
  \\sum_i ...): SymPy reads the bound one as bound, which is rarely what a reader sees;
* a sum whose lower limit is an index (\\sum_{i=c}^{C}: index and bound mixed up).

The formula is checked as read either way; the finding tells the author what was read.
"""

from __future__ import annotations

import sympy as sp

from ..derivation import Finding
from ..notation import free_indices


def index_slips(parts, line: int, letter) -> list[Finding]:
    """Findings for the parts of one formula (a = b = c) on a line; letter(symbol) prints an index."""
    exprs = [p for p in parts if isinstance(p, sp.Basic)]
    free = set()
    for expr in exprs:
        free |= set(free_indices(expr))
    out, seen = [], set()
    for expr in exprs:
        for node in sp.preorder_traversal(expr):
            if not isinstance(node, sp.Sum):
                continue
            for var, low, _high in node.limits:
                if var in free and ("free", var) not in seen:
                    seen.add(("free", var))
                    out.append(Finding("notation", f"line {line}: ${letter(var)}$ is both the index of a sum and a "
                                       f"free index of this formula; the sum's ${letter(var)}$ is read as its own "
                                       f"(bound) index, so write the sum with another letter", line=line))
                if isinstance(low, sp.Symbol) and low.is_integer and ("low", var) not in seen:
                    seen.add(("low", var))
                    out.append(Finding("notation", f"line {line}: the sum over ${letter(var)}$ starts at "
                                       f"${letter(low)}$, an index, not at $1$: were the index and the bound mixed "
                                       f"up ($\\sum_{{{letter(low)}=1}}$ meant)?", line=line))
    return out
