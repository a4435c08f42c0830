"""One display, several formulas: where a display splits, and the case label a formula carries.

People join formulas in one display with ``,\\quad``, ``;\\quad``, ``\\text{and}``,
``\\quad\\text{where}\\quad`` or a line break of a ``gather``; they put a case in
the formula itself: ``i = j:\\ ...``, ``..., \\quad i = j``, ``\\text{if } i \\neq j``,
``(i = j)``, ``\\text{for } k \\neq c``.  This module finds both on the token
list (positions stay those of the file).
"""

from __future__ import annotations

from dataclasses import dataclass

from .tokens import Token

_OPENERS = {"{", "(", "[", r"\left", r"\begin"}
_CLOSERS = {"}", ")", "]", r"\right", r"\end"}
#: words in \text{...} that join two formulas
JOINING_WORDS = {"and", "where", "with", "so", "thus", "hence", "i.e.", "ie", "or", "equivalently", "therefore",
                 "giving", "gives", "yields", "which"}
#: words before a case condition
CASE_WORDS = {"if", "for", "when", "whenever"}
_RELATIONS = {"=": True, r"\neq": False, r"\ne": False}


def _depths(tokens: list[Token]) -> list[int]:
    out, depth = [], 0
    for tok in tokens:
        if tok.text in _CLOSERS:
            depth -= 1
        out.append(depth)
        if tok.text in _OPENERS:
            depth += 1
    return out


def _first_word(text: str) -> str:
    words = text.lower().split()
    return words[0].strip(",.;:") if words else ""


def _text_word(tokens: list[Token], n: int) -> tuple[str, int] | None:
    """(the word, the index after it) when tokens[n] starts \\text{word} (also \\textrm, \\mbox)."""
    if tokens[n].text not in (r"\text", r"\textrm", r"\mbox", r"\textit") or n + 1 >= len(tokens) \
            or tokens[n + 1].text != "{":
        return None
    m, word = n + 2, []
    while m < len(tokens) and tokens[m].text != "}":
        previous = tokens[m - 1]
        if word and (tokens[m].line != previous.line or tokens[m].column > previous.column + len(previous.text)):
            word.append(" ")  # the spaces between words are not tokens: put them back from the columns
        word.append(tokens[m].text)
        m += 1
    return "".join(word).strip(), m + 1


#: environments that only align or number the formulas inside them
ALIGNMENTS = {"align", "align*", "aligned", "equation", "equation*", "gather", "gather*", "gathered", "split",
              "multline", "multline*", "eqnarray", "eqnarray*", "alignat", "alignat*", "flalign", "flalign*"}


def unwrap(tokens: list[Token]) -> list[Token]:
    """The inside of an alignment environment that wraps the whole display (\\begin{align} ... \\end{align})."""
    while tokens and tokens[0].text == r"\begin" and len(tokens) > 1 and tokens[1].text == "{":
        close = next((n for n in range(2, len(tokens)) if tokens[n].text == "}"), None)
        if close is None:
            break
        name = "".join(t.text for t in tokens[2:close])
        end = max((n for n, t in enumerate(tokens) if t.text == r"\end"), default=None)
        if name not in ALIGNMENTS or end is None or end <= close or tokens[-1].text != "}":
            break
        if "".join(t.text for t in tokens[end + 2:-1]) != name:
            break
        tokens = tokens[close + 1:end]
    return tokens


def split(tokens: list[Token]) -> list[list[Token]]:
    """The formulas of a display (its final 'end' token is dropped): split where a joining word, a comma
    or a semicolon at nesting depth 0 is followed by another relation (a = b), or at an aligned line
    break (\\\\) whose next line does not continue the chain with '='."""
    tokens = unwrap([t for t in tokens if t.kind != "end"])
    depths = _depths(tokens)
    cuts = []
    for n, tok in enumerate(tokens):
        if depths[n] != 0:
            continue
        word = _text_word(tokens, n)
        if word is not None and _first_word(word[0]) in JOINING_WORDS:
            cuts.append((n, word[1]))
        elif tok.text in (",", ";") and _has_relation(tokens, depths, n + 1) and not _only_a_case(tokens, n + 1):
            cuts.append((n, n + 1))
        elif tok.text == r"\\" and not _continues(tokens, n + 1) and _has_relation(tokens, depths, n + 1):
            cuts.append((n, n + 1))
    out, start = [], 0
    for cut, resume in cuts:
        if cut > start:
            out.append(tokens[start:cut])
        start = resume
    if start < len(tokens):
        out.append(tokens[start:])
    return [f for f in (_without_quantifier(f) for f in out) if f]


#: a statement of the range a formula holds for: \forall j \in 1..N, \text{for all } j, j = 1, ..., N
_QUANTIFIER_WORDS = {"for all", "for each", "for every", "forall"}


def _without_quantifier(tokens: list[Token]) -> list[Token]:
    """The formula without a trailing '\\forall j' or '\\text{for all } j ...': it only states the range."""
    depths = _depths(tokens)
    for n, tok in enumerate(tokens):
        if depths[n] != 0:
            continue
        word = _text_word(tokens, n)
        phrase = " ".join(word[0].lower().split()) if word else ""
        if tok.text == r"\forall" or any(phrase.startswith(w) for w in _QUANTIFIER_WORDS):
            cut = n
            while cut > 0 and tokens[cut - 1].text in (",", ";", r"\quad", r"\qquad"):
                cut -= 1
            return tokens[:cut]
    return tokens


def _only_a_case(tokens: list[Token], n: int) -> bool:
    """What follows is just a case condition (', i = j' or ', \\text{if } i \\neq j'): it labels the formula."""
    rest = [t for t in tokens[n:] if t.text not in (".", ",", ";")]
    word = _text_word(rest, 0) if rest else None
    if word is not None and _first_word(word[0]) in CASE_WORDS:
        rest = rest[word[1]:]
    if rest and rest[0].text == "(" and rest[-1].text == ")":
        rest = rest[1:-1]
    return len(rest) == 3 and _relation(rest) is not None


def _continues(tokens: list[Token], n: int) -> bool:
    while n < len(tokens) and tokens[n].text == "&":
        n += 1
    return n < len(tokens) and tokens[n].text == "="


def _has_relation(tokens: list[Token], depths: list[int], n: int) -> bool:
    """Whether the stretch from n to the next comma, semicolon or joining word at depth 0 holds an '='."""
    for m in range(n, len(tokens)):
        if depths[m] != 0:
            continue
        if tokens[m].text in (",", ";") or _text_word(tokens, m) is not None and m > n:
            return False
        if tokens[m].text == "=":
            return True
    return False


@dataclass(frozen=True)
class CaseLabel:
    left: str
    right: str
    equal: bool


def case_label(tokens: list[Token]) -> tuple[CaseLabel | None, list[Token]]:
    """A case written into the formula, and the formula without it.

    Leading: ``i = j:`` or ``i \\neq j:``.  Trailing, after a comma, a word such as
    \\text{if} or nothing: ``i = j``, ``(i \\neq j)``, ``i = j;``.  Only a relation
    between two single letters or Greek letters counts.
    """
    if len(tokens) >= 4 and tokens[3].text == ":" and _relation(tokens[0:3]):
        return _relation(tokens[0:3]), tokens[4:]
    body = list(tokens)
    while body and body[-1].text in (".", ",", ";"):
        body.pop()
    closing = body and body[-1].text == ")"
    core = body[:-1] if closing else body
    if len(core) >= 3 and _relation(core[-3:]):
        label = _relation(core[-3:])
        rest = core[:-3]
        if closing:
            if not rest or rest[-1].text != "(":
                return None, tokens
            rest = rest[:-1]
        introduced = closing
        if len(rest) >= 3 and rest[-1].text == "}":  # \text{if } before the condition
            start = max(i for i, t in enumerate(rest) if t.text == "{")
            word = "".join(t.text for t in rest[start + 1:-1]).strip().lower()
            if start >= 1 and rest[start - 1].text in (r"\text", r"\textrm", r"\mbox") and word in CASE_WORDS:
                rest, introduced = rest[:start - 1], True
        if rest and rest[-1].text in (",", ";"):
            rest, introduced = rest[:-1], True
        if introduced and rest:
            return label, rest
    return None, tokens


def _relation(three: list[Token]) -> CaseLabel | None:
    left, rel, right = three
    if rel.text not in _RELATIONS:
        return None
    if not (_is_index_token(left) and _is_index_token(right)) or left.text == right.text:
        return None
    return CaseLabel(left.text, right.text, _RELATIONS[rel.text])


def _is_index_token(tok: Token) -> bool:
    from .keys import GREEK

    return tok.kind == "letter" or tok.text in GREEK
