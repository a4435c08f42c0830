"""Text from a derivation file, made safe to put in a TeX document.

A derivation file is data written by somebody else.  Nothing from it reaches
TeX as it stands:

* prose (titles, sources, findings) is escaped: every TeX special character
  prints as itself, non-ASCII letters are mapped to TeX commands or to a
  visible ``[U+XXXX]``, control characters are dropped;
* math in prose (``$...$``) and the LaTeX of formulas is kept only if every
  token is on an allowlist of harmless math commands and characters, braces,
  ``\\left``/``\\right`` and environments balance, and nothing can change how
  TeX reads what follows (no ``%``, ``#``, ``$``, ``^^``, ``\\def``,
  ``\\input``, ``\\catcode``, ``\\csname``...); otherwise the caller typesets the
  parsed expression instead, or prints the text escaped.

The same tokenizer as the LaTeX reader is used, so what is validated is what
TeX will see token by token; the few places where TeX's own reading differs
from the tokenizer's (``^^`` escapes, a ``%`` comment, a backslash before a
non-letter) are rejected outright.
"""

from __future__ import annotations

import re
import unicodedata

#: commands that only typeset math: no side effects, no file access, no redefinition
MATH_COMMANDS = frozenset(r"""
\alpha \beta \gamma \delta \epsilon \varepsilon \zeta \eta \theta \vartheta \iota \kappa \lambda \mu \nu \xi \pi
\varpi \rho \varrho \sigma \varsigma \tau \upsilon \phi \varphi \chi \psi \omega \Gamma \Delta \Theta \Lambda \Xi \Pi
\Sigma \Upsilon \Phi \Psi \Omega \ell
\frac \dfrac \tfrac \sum \prod \int \partial \nabla \ln \log \exp \max \min \arg \sup \inf \lim \det \sqrt \binom
\cdot \times \div \pm \mp \neq \ne \leq \geq \le \ge \approx \equiv \sim \simeq \propto \in \notin \subset \subseteq
\to \rightarrow \leftarrow \Rightarrow \Leftarrow \implies \iff \mapsto \infty \dots \ldots \cdots \vdots \ddots
\left \right \big \Big \bigg \Bigg \bigl \bigr \Bigl \Bigr \biggl \biggr \middle
\quad \qquad \, \; \: \! \text \textrm \textit \textbf \mathrm \mathbf \mathit \mathcal \mathbb \mathsf \mathtt
\boldsymbol \bm \operatorname \hat \widehat \tilde \widetilde \bar \overline \underline \vec \dot \ddot \boxed
\top \intercal \prime \lbrack \rbrack \{ \} \langle \rangle \lvert \rvert \vert \lVert \rVert \| \mid \setminus
\cup \cap \forall \exists \circ \star \ast \odot \otimes \oplus \displaystyle \textstyle \limits \nolimits
\therefore \because \begin \end \\ \mbox \thinspace \medspace \thickspace \colon \land \lor \neg \lnot
\not \_ \% \& \# \$
""".split()) | {"\\ "}

#: environments that may stand in a formula
ENVIRONMENTS = frozenset({"cases", "aligned", "align", "align*", "split", "gathered", "gather", "gather*",
                          "equation", "equation*", "matrix", "bmatrix", "pmatrix", "vmatrix", "Bmatrix", "smallmatrix"})

_TOKEN = re.compile(r"\\[A-Za-z]+|\\.|[0-9]+(?:\.[0-9]+)?|[A-Za-z]|\s+|.", re.DOTALL)
#: characters that may stand in math as themselves
_PLAIN = set("+-=*/()[]<>|,.;:!'_^{}&~?@\"`") | {"\n"}
#: characters a formula may not contain at all (TeX would read the rest of the file differently)
_FORBIDDEN = {"%": "a % comment", "#": "a macro parameter #", "$": "a $ (math shift)"}


class UnsafeTex(ValueError):
    """What was found that cannot go to TeX as it stands."""


def validate_math(latex: str) -> str:
    """latex unchanged when it is safe to compile in math mode; else UnsafeTex saying why."""
    if "^^" in latex:
        raise UnsafeTex("'^^' (TeX's character-code escape)")
    depth, sizing, environments = 0, 0, []
    tokens = [m.group(0) for m in _TOKEN.finditer(latex)]
    for n, tok in enumerate(tokens):
        if tok.isspace() or tok.isalnum() or re.fullmatch(r"[0-9]+(\.[0-9]+)?", tok):
            if not tok.isascii():
                raise UnsafeTex(f"the character {tok!r} (only ASCII may stand in a formula)")
            continue
        if tok in _FORBIDDEN:
            raise UnsafeTex(_FORBIDDEN[tok])
        if tok.startswith("\\"):
            if tok not in MATH_COMMANDS:
                raise UnsafeTex(f"the command '{tok}'")
            if tok in (r"\begin", r"\end"):
                name = _braced_name(tokens, n + 1)
                if name not in ENVIRONMENTS:
                    raise UnsafeTex(f"the environment '{name}'")
                if tok == r"\begin":
                    environments.append(name)
                elif not environments or environments.pop() != name:
                    raise UnsafeTex(f"'\\end{{{name}}}' without its '\\begin'")
            elif tok == r"\left":
                sizing += 1
            elif tok == r"\right":
                sizing -= 1
                if sizing < 0:
                    raise UnsafeTex("'\\right' without its '\\left'")
            continue
        if tok == "{":
            depth += 1
        elif tok == "}":
            depth -= 1
            if depth < 0:
                raise UnsafeTex("a '}' without its '{'")
        elif tok == "&" and not environments:
            raise UnsafeTex("an '&' outside an alignment")
        elif tok not in _PLAIN:
            raise UnsafeTex(f"the character {tok!r}")
    if depth:
        raise UnsafeTex("a '{' that is never closed")
    if sizing:
        raise UnsafeTex("a '\\left' without its '\\right'")
    if environments:
        raise UnsafeTex(f"'\\begin{{{environments[-1]}}}' that is never ended")
    return latex


def _braced_name(tokens: list[str], n: int) -> str:
    while n < len(tokens) and tokens[n].isspace():
        n += 1
    if n >= len(tokens) or tokens[n] != "{":
        raise UnsafeTex("an environment without a name")
    name = []
    for tok in tokens[n + 1:]:
        if tok == "}":
            return "".join(name).strip()
        name.append(tok)
    raise UnsafeTex("an environment name that is never closed")


def safe_math(latex: str) -> str | None:
    """latex when it is safe (see validate_math), else None (the caller prints something else)."""
    try:
        return validate_math(latex)
    except UnsafeTex:
        return None


_SPECIALS = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}", '"': r"\textquotedbl{}",
}

#: Greek letters, as math
_GREEK = dict(zip(
    "αβγδεζηθικλμνξπρςστυφχψωΓΔΘΛΞΠΣΥΦΨΩ",
    "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi pi rho varsigma sigma tau upsilon "
    "phi chi psi omega Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega".split()))
#: non-ASCII characters with a TeX rendering of their own (Greek, common math and typography)
_UNICODE = {
    **{ch: rf"\ensuremath{{\{name}}}" for ch, name in _GREEK.items()},
    **dict(zip("οΑΒΕΖΗΙΚΜΝΟΡΤΧ", "oABEZHIKMNOPTX")),  # Greek letters that look Latin
    "∂": r"\ensuremath{\partial}", "∑": r"\ensuremath{\sum}", "∏": r"\ensuremath{\prod}", "∇": r"\ensuremath{\nabla}",
    "≠": r"\ensuremath{\neq}", "≤": r"\ensuremath{\leq}", "≥": r"\ensuremath{\geq}", "≈": r"\ensuremath{\approx}",
    "→": r"\ensuremath{\to}", "←": r"\ensuremath{\leftarrow}", "⇒": r"\ensuremath{\Rightarrow}",
    "×": r"\ensuremath{\times}", "·": r"\ensuremath{\cdot}", "−": r"\ensuremath{-}", "∞": r"\ensuremath{\infty}",
    "∈": r"\ensuremath{\in}", "√": r"\ensuremath{\surd}", "±": r"\ensuremath{\pm}", "✓": r"\ensuremath{\checkmark}",
    "…": r"\dots{}", "–": "--", "—": "---", "‘": "`", "’": "'", "“": "``", "”": "''", "\u00a0": "~",
    "°": r"\ensuremath{^\circ}",
}


#: Latin Extended-A letters pdflatex's utf8 input does not know (Ħ ħ ĸ Ŀ ŀ ŉ Ŧ ŧ ſ)
_NOT_SET_UP = set("\u0126\u0127\u0138\u013f\u0140\u0149\u0166\u0167\u017f")


def _unicode(ch: str) -> str:
    if ch in _UNICODE:
        return _UNICODE[ch]
    if unicodedata.category(ch).startswith("C"):
        return ""  # a control or unassigned character: never printed
    # Latin letters with accents (Latin-1 and Latin Extended-A): T1 fonts and pdflatex's utf8 input have
    # them, except a few that LaTeX has not set up (checked by compiling every one)
    if 0xC0 <= ord(ch) <= 0x17F and unicodedata.category(ch).startswith("L") and ch not in _NOT_SET_UP:
        return ch
    return rf"\textsf{{[U+{ord(ch):04X}]}}"


_SPECIAL_RE = re.compile(r"[\\&%$#_{}~^<>|\"]|[^\x20-\x7e]")


def tex_escape(text: str) -> str:
    """Prose -> LaTeX that prints it literally: specials escaped, Unicode mapped, control characters dropped."""
    def one(m):
        ch = m.group(0)
        if ch in _SPECIALS:
            return _SPECIALS[ch]
        if ch in "\t\n\r":
            return " "
        return _unicode(ch)

    return _SPECIAL_RE.sub(one, str(text))


def tex_prose(text: str) -> str:
    """Prose that may hold math between $...$: safe math is kept as math, everything else escaped.

    With an odd number of '$' there is no well-formed math, so all of it is escaped.
    """
    parts = str(text).split("$")
    if len(parts) % 2 == 0:
        return tex_escape(text)
    out = []
    for n, part in enumerate(parts):
        if n % 2 == 0:
            out.append(tex_escape(part))
        else:
            math = safe_math(part)
            kept = math is not None and part.strip()
            out.append(f"${math}$" if kept else r"\texttt{" + tex_escape(f"${part}$") + "}")
    return "".join(out)
