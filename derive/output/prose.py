"""Prose with inline math ($...$), and LaTeX formulas, for a terminal.

Findings, messages and titles are prose whose formulas sit between ``$`` signs, so
that the report can typeset them (tex_safe.tex_prose).  A terminal shows them
either as the LaTeX between the signs (the default: what the author wrote), or,
with ``--unicode``, in a linear Unicode form: ``\\frac{\\partial E}{\\partial z_j} =
y_j - t_j`` becomes ``∂E/∂z_j = y_j − t_j``.
"""

from __future__ import annotations

import re

from ..read.tokens import tokenize

_SYMBOLS = {
    r"\partial": "∂", r"\sum": "Σ", r"\prod": "Π", r"\cdot": "·", r"\times": "×", r"\neq": "≠", r"\ne": "≠",
    r"\le": "≤", r"\leq": "≤", r"\ge": "≥", r"\geq": "≥", r"\in": "∈", r"\dots": "…", r"\ldots": "…",
    r"\cdots": "⋯", r"\vdots": "⋮", r"\ddots": "⋱", r"\infty": "∞", r"\to": "→", r"\rightarrow": "→",
    r"\mid": "|", r"\nabla": "∇", r"\approx": "≈", r"\pm": "±", r"\forall": "∀", r"\therefore": "∴",
    r"\leftarrow": "←", r"\Leftarrow": "⇐", r"\top": "ᵀ", r"\intercal": "ᵀ", r"\ln": "ln", r"\log": "log",
    r"\exp": "exp", r"\max": "max", r"\min": "min", r"\{": "{", r"\}": "}", r"\lvert": "|", r"\rvert": "|",
    r"\langle": "⟨", r"\rangle": "⟩", r"\lbrack": "[", r"\rbrack": "]", r"\\": "; ",
}
_GREEK = {
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "varepsilon": "ε", "zeta": "ζ",
    "eta": "η", "theta": "θ", "vartheta": "ϑ", "iota": "ι", "kappa": "κ", "lambda": "λ", "mu": "μ", "nu": "ν",
    "xi": "ξ", "pi": "π", "rho": "ρ", "sigma": "σ", "varsigma": "ς", "tau": "τ", "upsilon": "υ", "phi": "φ",
    "varphi": "φ", "chi": "χ", "psi": "ψ", "omega": "ω", "Gamma": "Γ", "Delta": "Δ", "Theta": "Θ",
    "Lambda": "Λ", "Xi": "Ξ", "Pi": "Π", "Sigma": "Σ", "Phi": "Φ", "Psi": "Ψ", "Omega": "Ω", "ell": "ℓ",
}
_ACCENTS = {r"\hat": "\u0302", r"\widehat": "\u0302", r"\tilde": "\u0303", r"\widetilde": "\u0303",
            r"\bar": "\u0304", r"\overline": "\u0304", r"\vec": "", r"\mathbf": "", r"\boldsymbol": "",
            r"\bm": "", r"\mathrm": "", r"\text": "", r"\textrm": "", r"\operatorname": "", r"\mathcal": "",
            r"\mathit": "", r"\mathsf": "", r"\mbox": "", r"\mathbb": "", r"\boxed": "", r"\textbf": ""}
_DROPPED = {r"\left", r"\right", r"\big", r"\Big", r"\bigg", r"\Bigg", r"\bigl", r"\bigr", r"\Bigl", r"\Bigr",
            r"\displaystyle", r"\nonumber", r"\notag", "&"}
_SUPERSCRIPTS = str.maketrans("0123456789+-=()n", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ⁿ")


def plain(text: str, unicode: bool = False) -> str:
    """Prose for a terminal: the $ signs dropped, the math left as LaTeX or made Unicode."""
    def math(match: re.Match) -> str:
        return to_unicode(match.group(1)) if unicode else match.group(1)

    return re.sub(r"\$([^$]*)\$", math, text)


def to_unicode(latex: str) -> str:
    """A LaTeX formula in a linear Unicode form (for reading, not for parsing back)."""
    try:
        tokens = [t for t in tokenize(latex) if t.kind != "end"]
    except Exception:  # noqa: BLE001 (a terminal rendering never fails: fall back to the LaTeX)
        return latex
    out, _ = _sequence(tokens, 0, closer=None, top=True)
    return re.sub(r"\s+", " ", out).replace("( ", "(").replace(" )", ")").strip()


_FRACTION = "\x00"  # marks a fraction's text until it is known whether a factor follows it
_OPERATORS = "=+−·×≠≤≥→≈±"


def _joined(pieces: list[str], top: bool, compact: bool = False) -> str:
    """Pieces side by side: a space between two names (t_k ln y_k), operators spaced at the top level, and a
    fraction followed by a factor put in parentheses ((1/T)(q_i − p_i))."""
    if compact:  # a subscript or a word: its letters side by side (delta_jk, diag)
        return "".join(p.lstrip(_FRACTION) for p in pieces)
    out = ""
    for n, piece in enumerate(pieces):
        if not piece:
            continue
        if piece.startswith(_FRACTION):
            piece = piece[1:]
            after = next((p for p in pieces[n + 1:] if p.strip()), "").lstrip(_FRACTION)
            if after and (after[0].isalnum() or after[0] in "(∂Σ√"):
                piece = f"({piece})"
        if top and piece in _OPERATORS or top and piece.strip() in _OPERATORS and piece.strip():
            out = out.rstrip() + f" {piece.strip()} "
            continue
        if out and out[-1:] not in " ([{_^/" and piece[:1] not in " )]}_^,;.!'/ᵀ⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻" and \
                piece[:1] not in _OPERATORS and out[-1:] not in _OPERATORS + "−Σ√∂":
            out += " "
        out += piece
    return out


def _sequence(tokens, n, closer, top=False, compact=False):
    out = []
    while n < len(tokens):
        tok = tokens[n]
        if closer is not None and tok.text == closer:
            return _joined(out, top, compact), n + 1
        piece, n = _item(tokens, n)
        out.append(piece)
    return _joined(out, top, compact), n


def _group(tokens, n, compact=False):
    """The text of a braced group at n (or of one item), and the index after it."""
    if n < len(tokens) and tokens[n].text == "{":
        return _sequence(tokens, n + 1, "}", compact=compact)
    if n < len(tokens):
        return _item(tokens, n)
    return "", n


def _atomic(text: str) -> bool:
    """One factor: no space, and no operator outside parentheses (so a/b needs no parentheses around it)."""
    depth = 0
    for char in text:
        depth += char in "([{"
        depth -= char in ")]}"
        if depth == 0 and (char.isspace() or char in _OPERATORS + "/"):
            return False
    return bool(text)


def _item(tokens, n):
    tok = tokens[n]
    text = tok.text
    if text in (r"\frac", r"\dfrac", r"\tfrac"):
        top, n = _group(tokens, n + 1)
        bottom, n = _group(tokens, n)
        top = top.strip() if _atomic(top.strip()) else f"({top.strip()})"
        bottom = bottom.strip() if _atomic(bottom.strip()) else f"({bottom.strip()})"
        return f"{_FRACTION}{top.strip()}/{bottom.strip()}", n
    if text == r"\sqrt":
        inside, n = _group(tokens, n + 1)
        return f"√({inside})", n
    if text in ("_", "^"):
        inside, n = _group(tokens, n + 1, compact=text == "_")
        inside = inside.strip()
        if text == "^" and inside.translate(_SUPERSCRIPTS) != inside and all(
                c in "0123456789+-=()n" for c in inside):
            return inside.translate(_SUPERSCRIPTS), n
        if text == "^":
            return ("^" + (inside if len(inside) <= 1 or inside.isalnum() else f"({inside})")), n
        return ("_" + (inside if len(inside) <= 1 or _atomic(inside) else "{" + inside + "}")), n
    if text in _ACCENTS:
        inside, n = _group(tokens, n + 1, compact=text in (r"\mathrm", r"\operatorname", r"\text", r"\textrm",
                                                          r"\mbox", r"\mathit", r"\mathsf", r"\textbf"))
        mark = _ACCENTS[text]
        return (inside + mark if mark and len(inside) == 1 else inside), n
    if text == r"\begin" or text == r"\end":
        _, n = _group(tokens, n + 1)
        return ("{ " if text == r"\begin" else " }"), n
    if text in _DROPPED:
        return "", n + 1
    if text == "{":
        inside, n = _sequence(tokens, n + 1, "}")
        return inside, n
    if text.startswith("\\") and text[1:] in _GREEK:
        return _GREEK[text[1:]], n + 1
    if text in _SYMBOLS:
        return _SYMBOLS[text], n + 1
    if text == "-":
        return "−", n + 1
    if text.startswith("\\") and len(text) > 1 and text[1].isalpha():
        return text[1:], n + 1
    if text.startswith("\\"):
        return " ", n + 1  # \, \; \  and friends: a space
    return text, n + 1
