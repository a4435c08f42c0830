"""A refuted step's diagnosis, printed for people: in the derivation's own letters, as LaTeX.

The checker's expressions carry its internal names (z, y, t, E, K) and bound
indices such as _s1; here they are printed in the derivation's letters (a, S,
N ...) with bound indices renamed to letters the expression does not use.
"""

from __future__ import annotations

import re

import sympy as sp

from ..notation import latex, readable_bound

def readable(expr: sp.Expr) -> sp.Expr:
    """Bound indices (_s1, Dummy) renamed to plain letters the expression does not use."""
    return readable_bound(expr)


def show(expr, names: dict | None = None) -> str:
    """LaTeX of a checker expression in the derivation's letters."""
    if expr is None:
        return ""
    return latex(expr, names)


def detail(diagnosis, names: dict | None = None, wrap=lambda math: math) -> str:
    """The diagnosis's detail with the expressions it names printed in the derivation's letters."""
    return "".join(wrap(show(diagnosis.shown[int(piece[1])], names)) if re.fullmatch(r"\{\d\}", piece)
                   and int(piece[1]) < len(diagnosis.shown) else piece
                   for piece in re.split(r"(\{\d\})", diagnosis.detail))


def diagnosis_lines(diagnosis, names: dict | None = None, unicode: bool = False) -> list[str]:
    """The terminal lines under a refuted step (formulas between $ signs: the caller prints them)."""
    if diagnosis is None:
        return []
    out = []
    if diagnosis.kind:
        out.append(f"why: {diagnosis.kind}: {detail(diagnosis, names, lambda m: f'${m}$')}")
    if diagnosis.residual is not None and diagnosis.residual != 0:
        out.append(f"previous line minus this line: ${show(diagnosis.residual, names)}$")
    if diagnosis.suggestion is not None:
        note = f" ({diagnosis.suggestion_note})" if diagnosis.suggestion_note else ""
        out.append(f"this line should read: $= {show(diagnosis.suggestion, names)}${note}")
    return out


def diagnosis_dict(diagnosis, names: dict | None = None) -> dict | None:
    if diagnosis is None:
        return None
    return {
        "kind": diagnosis.kind or None,
        "detail": detail(diagnosis, names),
        "residual_latex": show(diagnosis.residual, names),
        "residual": sp.sstr(readable(diagnosis.residual)),
        "suggestion_latex": show(diagnosis.suggestion, names) if diagnosis.suggestion is not None else None,
        "suggestion": sp.sstr(readable(diagnosis.suggestion)) if diagnosis.suggestion is not None else None,
        "suggestion_note": diagnosis.suggestion_note,
    }

