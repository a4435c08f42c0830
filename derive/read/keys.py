"""Name keys: one canonical spelling for each way of writing a name, shared by inference and the grammar.

``\\hat y``, ``\\hat{y}`` and ``\\widehat{y}`` are the key ``\\hat{y}``; ``\\mathbf{y}``,
``\\boldsymbol y``, ``\\bm{y}`` and ``\\vec y`` are the letter ``y`` written as a
vector; ``\\mathrm{CE}``, ``\\text{CE}`` and ``\\operatorname{CE}`` are ``CE``;
``\\mathcal{L}`` stays ``\\mathcal{L}``; a Greek command is itself.  A name is
read by ``read_key`` from a token list, so that notation inference and the
parser agree on what is one name.
"""

from __future__ import annotations

from dataclasses import dataclass

from .tokens import Token

#: a name written as a vector: the same letter, in bold or with an arrow
VECTOR_MARKERS = (r"\mathbf", r"\boldsymbol", r"\bm", r"\vec", r"\mathbfit", r"\pmb")
#: decorations that make a different name (\hat y is not y)
DECORATIONS = {r"\hat": r"\hat", r"\widehat": r"\hat", r"\tilde": r"\tilde", r"\widetilde": r"\tilde",
               r"\bar": r"\bar", r"\overline": r"\bar", r"\check": r"\check"}
#: commands whose braced argument is a word naming something (softmax, CE, exp)
WORD_COMMANDS = (r"\mathrm", r"\operatorname", r"\text", r"\textrm", r"\mathit", r"\textit", r"\mathsf")
FONTS = (r"\mathcal", r"\mathscr", r"\mathfrak")
GREEK = frozenset(r"""\alpha \beta \gamma \delta \epsilon \varepsilon \zeta \eta \theta \vartheta \iota \kappa \lambda
\mu \nu \xi \pi \varpi \rho \varrho \sigma \varsigma \tau \upsilon \phi \varphi \chi \psi \omega \Gamma \Delta \Theta
\Lambda \Xi \Pi \Sigma \Upsilon \Phi \Psi \Omega \ell""".split())


@dataclass(frozen=True)
class Key:
    text: str        # the canonical spelling
    end: int         # index of the first token after the name
    vector: bool     # written in bold or with an arrow
    word: bool = False  # a multi-letter word (\mathrm{softmax}, CE)


def _braced(tokens: list[Token], n: int) -> tuple[list[Token], int] | None:
    """The tokens inside {...} starting at n, and the index after '}' (None when not braced or unclosed)."""
    if n >= len(tokens) or tokens[n].text != "{":
        return None
    depth, m = 0, n
    while m < len(tokens):
        depth += tokens[m].text == "{"
        depth -= tokens[m].text == "}"
        if depth == 0:
            return tokens[n + 1:m], m + 1
        if tokens[m].kind == "end":
            return None
        m += 1
    return None


def _argument(tokens: list[Token], n: int) -> tuple[list[Token], int] | None:
    """A command's argument: braced, or one token."""
    braced = _braced(tokens, n)
    if braced is not None:
        return braced
    if n < len(tokens) and tokens[n].kind in ("letter", "cmd") and tokens[n].kind != "end":
        return [tokens[n]], n + 1
    return None


def read_key(tokens: list[Token], n: int, words=frozenset()) -> Key | None:
    """The name starting at tokens[n], or None when none starts there.

    ``words`` are multi-letter names written as plain letters that this
    derivation uses (CE, log): the longest one spelled by the letters at n wins.
    """
    tok = tokens[n]
    if tok.kind == "letter":
        run = ""
        for m in range(n, min(n + 12, len(tokens))):
            if tokens[m].kind != "letter" or (m > n and tokens[m].column != tokens[m - 1].column + 1):
                break
            run += tokens[m].text
        for length in range(len(run), 1, -1):
            if run[:length] in words:
                return Key(run[:length], n + length, False, True)
        return Key(tok.text, n + 1, False)
    if tok.kind != "cmd":
        return None
    if tok.text in GREEK:
        return Key(tok.text, n + 1, False)
    if tok.text in VECTOR_MARKERS:
        inner = _argument(tokens, n + 1)
        if inner is None or not inner[0]:
            return None
        key = read_key(inner[0], 0, words) if inner[0] else None
        if key is None or key.end != len(inner[0]):
            return None
        return Key(key.text, inner[1], True, key.word)
    if tok.text in DECORATIONS:
        inner = _argument(tokens, n + 1)
        if inner is None or not inner[0]:
            return None
        key = read_key(inner[0], 0, words)
        if key is None or key.end != len(inner[0]):
            return None
        return Key(f"{DECORATIONS[tok.text]}{{{key.text}}}", inner[1], key.vector)
    if tok.text in WORD_COMMANDS or tok.text in FONTS:
        inner = _braced(tokens, n + 1)
        if inner is None or not inner[0] or not all(t.kind == "letter" for t in inner[0]):
            return None
        word = "".join(t.text for t in inner[0])
        if tok.text in FONTS:
            return Key(f"{tok.text}{{{word}}}", inner[1], False)
        return Key(word, inner[1], False, len(word) > 1)
    return None
