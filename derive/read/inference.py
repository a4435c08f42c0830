"""Notation inference: what a document's letters mean, read off how they are used.

So that a header is rarely needed:

* the softmax definition, wherever it stands (``y_k = e^{z_k} / \\sum e^{...}``,
  ``\\sigma(\\mathbf z)_i = ...``, ``\\hat y_i = \\exp(o_i)/\\sum_j \\exp(o_j)``),
  names the probabilities (a letter, a decorated letter or a function) and
  the logits;
* the loss definition (``L = -\\sum_i y_i \\log p_i`` and its variants) names
  the loss and the targets;
* the upper limit of the sums is the class count; letters used as
  subscripts, summation indices or in ``i = j`` conditions are indices;
* ``X = ...`` with X a name nothing else explains is an abbreviation
  (``\\Sigma = \\sum_k e^{a_k}``, the notes' ``z = \\sum_j e^{z_j}``,
  ``g_i = e^{a_i}``); a capital or Greek letter nothing explains is a
  constant (``C`` with ``\\log C = -\\max a``, a temperature ``T``);
* prose saying the targets are one-hot (or sum to one) states that assumption.

Header lines (front matter) override any of this.  When inference cannot
decide between two readings it says so, with the header line that settles it.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from ..derivation import Finding
from .keys import GREEK, read_key
from .formulas import case_label, split
from .tokens import Token, tokenize

#: conventional letters for each role, used only when no definition decides
CONVENTIONS = {
    "logits": ("z", "o", "a", "x", "f", "h", "u", "s"),
    "probabilities": ("y", "p", r"\hat{y}", "s", "q", r"\sigma", r"\hat{p}", "a"),
    "targets": ("t", "y", "q"),
    "loss": ("E", "L", "J", r"\ell", "l", "H", r"\mathcal{L}", "CE", r"\xi"),
}
_SPECIAL = {"e", "d"}  # Euler's e and the d of d/dx are not names


@dataclass(frozen=True)
class Abbreviation:
    key: str
    index: str | None   # g_i = e^{a_i}: "i"
    body: str           # the LaTeX of what it stands for
    line: int
    column: int


@dataclass
class Inference:
    roles: dict = field(default_factory=dict)            # role -> key
    #: further names a document gives a role (the loss written H and L, logits z and a): role -> keys
    aliases: dict = field(default_factory=dict)
    functions: set = field(default_factory=set)          # the probabilities written as a function
    indices: list = field(default_factory=list)
    words: set = field(default_factory=set)
    abbreviations: list = field(default_factory=list)
    constants: list = field(default_factory=list)
    #: what the probabilities and the loss are defined as: role -> (index letter or None, LaTeX, line, column)
    bodies: dict = field(default_factory=dict)
    #: a linear layer z_j = sum_i w_{ij} x_i + b_j: (index letter, LaTeX of the right side, line, column)
    layer: tuple | None = None
    #: the layer's variables (w, x, b) and its input size (D), by key
    variables: set = field(default_factory=set)
    input_size: str | None = None
    layer_at: tuple = (0, 0)
    #: names of the identity matrix: I in I_{kj} (two indices, nothing else explains it)
    identities: set = field(default_factory=set)
    #: (line, column) of formulas that define softmax, the loss or an abbreviation
    definitions: set = field(default_factory=set)
    #: assumptions stated in the document's prose or formulas: (name, line)
    assumptions: list = field(default_factory=list)
    findings: list = field(default_factory=list)
    #: a loss written with a subscript (L_i, E_n): the example it is for, not a class index
    loss_subscripted: bool = False
    #: readings that could go either way: (message, the header line that settles it)
    ambiguities: list = field(default_factory=list)
    #: the correct class's letter, named in the prose before the derivation, and the line saying so
    label: tuple | None = None
    #: the label carries the example's index (y_i): read y_i as the class, the i dropped
    label_subscripted: bool = False
    #: fragments that hold a derivative with '=' (where steps are)
    claims: list = field(default_factory=list)


def _formulas(fragment) -> list[list[Token]]:
    """The formulas of a fragment (a display may hold several), each without its case label."""
    return [case_label(f)[1] for f in split(tokenize(fragment.text, fragment.line, fragment.column))]


def formula_position(tokens: list[Token]) -> tuple[int, int]:
    """Where a formula starts: how definitions found here are recognised when the document is read."""
    return (tokens[0].line, tokens[0].column) if tokens else (0, 0)


def _parts(tokens: list[Token]) -> list[list[Token]]:
    """The parts of a chain a = b = c at nesting depth 0 (also &= and line breaks of aligned blocks)."""
    parts, current, depth = [], [], 0
    for tok in tokens:
        if tok.kind == "end":
            break
        if tok.text in ("{", "(", "[", r"\left"):
            depth += 1
        elif tok.text in ("}", ")", "]", r"\right"):
            depth -= 1
        if tok.text == "=" and depth <= 0:
            parts.append(current)
            current = []
            continue
        if tok.text in ("&", r"\\"):
            continue
        current.append(tok)
    parts.append(current)
    return parts


def _group(tokens: list[Token], n: int) -> tuple[list[Token], int] | None:
    """The tokens of the group opening at n ({...}, (...), [...], \\left(...\\right)), and the index after it."""
    if n >= len(tokens):
        return None
    opener = tokens[n].text
    if opener == r"\left":
        n += 1
        opener = tokens[n].text if n < len(tokens) else ""
    closers = {"{": "}", "(": ")", "[": "]"}
    if opener not in closers:
        return None
    depth, m = 0, n
    while m < len(tokens) and tokens[m].kind != "end":
        if tokens[m].text == opener:
            depth += 1
        elif tokens[m].text == closers[opener]:
            depth -= 1
            if depth == 0:
                inner = tokens[n + 1:m]
                if inner and inner[-1].text == r"\right":
                    inner = inner[:-1]
                return inner, m + 1
        m += 1
    return None


def _exp_arguments(tokens: list[Token], words) -> list[str]:
    """The names exponentiated in tokens: e^{z_k}, \\exp(z_k), \\text{exp}(z_k), exp(z_k)."""
    found = []
    n = 0
    while n < len(tokens):
        tok = tokens[n]
        inner = None
        if tok.text == "e" and n + 1 < len(tokens) and tokens[n + 1].text == "^":
            inner = _group(tokens, n + 2) or ([tokens[n + 2]], n + 3) if n + 2 < len(tokens) else None
        elif tok.text == r"\exp":
            inner = _group(tokens, n + 1)
        else:
            key = read_key(tokens, n, words | {"exp"})
            if key is not None and key.text == "exp":
                inner = _group(tokens, key.end)
        if inner:
            body = inner[0]
            m = 0
            while m < len(body):
                key = read_key(body, m, words)
                if key is not None and key.text not in _SPECIAL:
                    if key.end < len(body) and body[key.end].text == "_":
                        found.append(key.text)
                    break
                m += 1
        n += 1
    return found


def _fraction_core(part: list[Token]) -> list[Token]:
    """The part without punctuation, \\displaystyle and the parentheses wrapped around all of it."""
    core = [t for t in part if t.text not in (".", ",", ";", r"\displaystyle")]
    while core and core[0].text in (r"\left", "(") and core[-1].text == ")":
        core = core[1:-1]
        if core and core[0].text == "(":
            core = core[1:]
        if core and core[-1].text == r"\right":
            core = core[:-1]
    return core


def _just_a_fraction(part: list[Token]) -> bool:
    """The part is one fraction (perhaps in \\left( \\right) or followed by punctuation): a definition's right side."""
    core = _fraction_core(part)
    if not core or core[0].text not in (r"\frac", r"\dfrac", r"\tfrac"):
        return False
    numerator = _group(core, 1)
    denominator = _group(core, numerator[1]) if numerator else None
    return denominator is not None and denominator[1] == len(core)


def _outer_numerator(part: list[Token]):
    core = _fraction_core(part)
    group = _group(core, 1) if core else None
    return group[0] if group else None


def _fractions(tokens: list[Token]):
    """(numerator, denominator) token lists of every \\frac in tokens, and of a / b at the top level."""
    depth = 0
    for n, tok in enumerate(tokens):
        depth += tok.text in ("{", "(", "[", r"\left")
        depth -= tok.text in ("}", ")", "]", r"\right")
        if tok.text == "/" and depth == 0:
            yield tokens[:n], tokens[n + 1:]
    for n, tok in enumerate(tokens):
        if tok.text in (r"\frac", r"\dfrac", r"\tfrac"):
            numerator = _group(tokens, n + 1)
            if numerator is None:
                continue
            denominator = _group(tokens, numerator[1])
            if denominator is not None:
                yield numerator[0], denominator[0]


def _subject(part: list[Token], words) -> tuple[str, bool, bool] | None:
    """The name a chain's first part is about: (key, written as a function, subscripted), e.g. \\sigma(z)_i.

    The last name in the part wins (``\\text{Softmax } y_k``: y); subscripts are skipped, and a word in
    \\text{...} counts only when it is applied (``\\text{softmax}(x)``).
    """
    found = None
    n = 0
    while n < len(part):
        if part[n].text in (r"\text", r"\textrm", r"\mbox") and not _applied_word(part, n):
            group = _group(part, n + 1)
            n = group[1] if group else n + 1
            continue
        key = read_key(part, n, words)
        if key is None:
            n += 1
            continue
        end = key.end
        function = False
        if end < len(part) and part[end].text == "(":
            group = _group(part, end)
            if group is not None:
                function, end = True, group[1]
        subscripted = end < len(part) and part[end].text == "_"
        if subscripted:
            group = _group(part, end + 1)
            end = group[1] if group else end + 2
        if key.text not in _SPECIAL:
            found = (key.text, function, subscripted)
        n = max(end, n + 1)
    return found


def _just_a_name(part: list[Token], words) -> bool:
    """The part names one thing (L, L_i, E_n, J(\\theta), H(y, p), \\mathcal{L}): a definition's left side."""
    core = [t for t in part if t.text not in (r"\leftarrow", r"\Leftarrow", r"\therefore")]
    key = read_key(core, 0, words) if core else None
    if key is None:
        return False
    end = key.end
    if end < len(core) and core[end].text == "_":
        group = _group(core, end + 1)
        end = group[1] if group else end + 2
    if end < len(core) and core[end].text in ("(", r"\left"):
        group = _group(core, end)
        end = group[1] if group else len(core) + 1
    return end == len(core)


def _applied_word(tokens: list[Token], n: int) -> bool:
    """\\text{word} followed by '(' or '_': a function's name written in text (\\text{softmax}(x))."""
    group = _group(tokens, n + 1)
    return group is not None and group[1] < len(tokens) and tokens[group[1]].text in ("(", "_", r"\left")


_LOGS = {r"\log", r"\ln"}


def _loss_terms(part: list[Token], words) -> tuple[str, str] | None:
    """(targets key, probabilities key) when part is -sum_i T_i log A_i (in any of its spellings)."""
    texts = [t.text for t in part]
    if r"\sum" not in texts or "-" not in texts[:texts.index(r"\sum") + 1]:
        return None
    for n in range(len(part)):
        is_log = part[n].text in _LOGS
        key = read_key(part, n, words | {"log", "ln"})
        word_log = key is not None and key.text in ("log", "ln")
        if not (is_log or word_log):
            continue
        after = n + 1 if is_log else key.end
        group = _group(part, after)
        inside = group[0] if group else part[after:]
        probability = read_key(inside, 0, words) if inside else None
        target = None
        for m in range(n - 1, -1, -1):  # the name right before the log, with a subscript
            if part[m].text == "_":
                k = read_key(part, m - 1, words) if m >= 1 else None
                if k is None and m >= 2:
                    k = read_key(part, m - 2, words)
                if k is not None:
                    target = k.text
                break
            if part[m].text in (r"\sum", "-", "+"):
                break
        if probability is not None and target is not None and probability.text != target:
            return target, probability.text
    return None


def _single_loss(part: list[Token], words) -> str | None:
    """When part is the loss of one example (-log p_{y_i}, -\\log(e^{f_{y_i}} / ...), -\\ln \\hat y_c):
    the probabilities' name when the log is of one ("" when it is of an expression); else None."""
    core = [t for t in part if t.text not in (r"\left", r"\right", r"\displaystyle", r"\Big", r"\big", ".", ",")]
    if len(core) < 3 or core[0].text != "-":
        return None
    if core[1].text in _LOGS:
        after = 2
    else:
        key = read_key(core, 1, words | {"log", "ln"})
        if key is None or key.text not in ("log", "ln"):
            return None
        after = key.end
    group = _group(core, after)
    inside = group[0] if group and group[1] == len(core) else core[after:]
    name = read_key(inside, 0, words) if inside else None
    if name is not None and name.end + 2 == len(inside) and inside[name.end].text == "_":
        return name.text  # -log p_c: one probability
    return ""


def _indices(tokens: list[Token]) -> Counter:
    """Letters and Greek letters used in index positions: subscripts, summation indices, i = j conditions."""
    out = Counter()
    for n, tok in enumerate(tokens):
        if tok.text in (r"\neq", r"\ne") and 0 < n < len(tokens) - 1:
            for side in (tokens[n - 1], tokens[n + 1]):
                if side.kind == "letter" or side.text in GREEK:
                    out[side.text] += 1
        if tok.text != "_" or n + 1 >= len(tokens):
            continue
        nxt = tokens[n + 1]
        if nxt.kind == "letter" or nxt.text in GREEK:
            out[nxt.text] += 1
        elif nxt.text == "{":
            group = _group(tokens, n + 1)
            if group:
                for inner in group[0]:
                    if inner.kind == "letter" or inner.text in GREEK:
                        out[inner.text] += 1
    return out


def _derivative_variables(tokenized, words) -> set:
    """Names differentiated by with a subscript.

    The x of \\partial x_i in a fraction's denominator, after a '/', or as \\partial_{x_i}; not the
    L of \\partial L_i, which is what is differentiated.
    """
    out = set()
    for _, tokens in tokenized:
        below = _denominator_positions(tokens)
        for n, tok in enumerate(tokens[:-2]):
            if tok.text != r"\partial" or not (n in below or tokens[n + 1].text == "_"):
                continue
            m = n + 2 if tokens[n + 1].text in ("_", "{") else n + 1
            if tokens[n + 1].text == "_" and m < len(tokens) and tokens[m].text == "{":
                m += 1
            key = read_key(tokens, m, words) if m < len(tokens) else None
            if key is not None and key.end < len(tokens) and tokens[key.end].text == "_":
                out.add(key.text)
    return out


def _denominator_positions(tokens: list[Token]) -> set:
    """Positions of tokens in a fraction's denominator or right after a '/'."""
    out = set()
    for n, tok in enumerate(tokens):
        if tok.text in (r"\frac", r"\dfrac", r"\tfrac"):
            numerator = _group(tokens, n + 1)
            if numerator is None:
                continue
            denominator = _group(tokens, numerator[1])
            if denominator is not None:
                out |= set(range(numerator[1], denominator[1]))
        elif tok.text == "/":
            out.add(n + 1)
    return out


def _upper_limits(tokens: list[Token]) -> Counter:
    out = Counter()
    for n, tok in enumerate(tokens):
        if tok.text not in (r"\sum", r"\prod"):
            continue
        m = n + 1
        for _ in range(2):  # \sum_{...}^{K} or \sum^{K}_{...}
            if m < len(tokens) and tokens[m].text == "_":
                group = _group(tokens, m + 1)
                m = group[1] if group else m + 2
            elif m < len(tokens) and tokens[m].text == "^":
                group = _group(tokens, m + 1)
                limit = group[0] if group else [tokens[m + 1]] if m + 1 < len(tokens) else []
                if len(limit) == 1 and limit[0].kind == "letter":
                    out[limit[0].text] += 1
                m = group[1] if group else m + 2
    return out


_ONE_HOT = re.compile(r"one[- ]hot|only for the correct class|only one .{0,40}(?:is )?(?:equal to )?(?:one|1)\b|"
                      r"is 1 (?:for|at) the (?:correct|true) class|the rest (?:is|are) zero|1-of-K|one-of-K|"
                      r"all elements (?:are )?zero except", re.IGNORECASE)
_SUMS_TO_ONE = re.compile(r"sums? (?:up )?to (?:one|1)\b|(?:is|are|forms?) an? (?:probability )?distribution",
                          re.IGNORECASE)
#: words that deny what follows ("the targets need not sum to one")
_DENIED = re.compile(r"\b(?:not|no longer|never|n't|cannot|neither|nor|would need|needs? to|must|should)\b[^.;]{0,40}$",
                     re.IGNORECASE)
_CALLED = re.compile(r"which we call \$?([A-Za-z])\$?", re.IGNORECASE)
#: the correct class named before the derivation: "Assume the index of correct class is k", "let c be the true class"
_LABEL = re.compile(r"(?:(?:index of (?:the )?)?(?:correct|true|target) class is\s*\$?\s*([A-Za-z])\b"
                    r"|(?:correct|true|target) class \$\s*([A-Za-z])\s*\$"
                    r"|let \$?([A-Za-z])\$? be the (?:correct|true|target) class"
                    r"|\b(?:class )?label \$\s*([A-Za-z])\b)",
                    re.IGNORECASE)


def infer(fragments, header_keys: set[str] = frozenset()) -> Inference:
    """What the document's names mean (see the module docstring); header keys given are left alone."""
    result = Inference()
    math = [f for f in fragments if f.kind in ("display", "inline")]
    tokenized = [(f, formula) for f in math for formula in _formulas(f)]
    words = set()
    for _, tokens in tokenized:  # \mathrm{CE}, \operatorname{softmax}: words named by a command
        for n in range(len(tokens)):
            key = read_key(tokens, n)
            prose = tokens[n].text in (r"\text", r"\textrm", r"\mbox") and not _applied_word(tokens, n)
            if key is not None and key.word and not prose:
                words.add(key.text)
    result.words = words

    softmax_subjects, logits, losses, single_probabilities = [], Counter(), [], []
    previous_first = None
    for fragment, tokens in tokenized:
        parts = _parts(tokens)
        if len(parts) > 1 and any(t.text == r"\partial" for t in tokens):
            result.claims.append(fragment)
        first = parts[0] if parts[0] else previous_first
        if fragment.kind == "display":
            previous_first = first if parts[0] else previous_first
        derivative = first is not None and any(t.text == r"\partial" for t in first)
        for part in parts[1:] or []:
            for numerator, denominator in _fractions(part):
                top = _exp_arguments(numerator, words)
                bottom = _exp_arguments(denominator, words)
                if top and bottom and r"\sum" in [t.text for t in denominator] and top[0] == bottom[0]:
                    logits[top[0]] += 1
                    # a definition: 'name = the fraction' and nothing more (not a derivative, not a longer chain)
                    whole = _just_a_fraction(part) and numerator == _outer_numerator(part) or \
                        [t.text for t in _fraction_core(part)] == \
                        [t.text for t in numerator] + ["/"] + [t.text for t in denominator]
                    defining = first and not derivative and len(parts) == 2 and whole
                    subject = _subject(first, words) if defining else None
                    if subject is not None and subject[0] != top[0]:
                        softmax_subjects.append((subject, tokens, (fragment, first, part)))
            loss = _loss_terms(part, words)
            single = _single_loss(part, words) if loss is None and part is parts[1] else None
            if single is not None:  # L_i = -log p_{y_i}: the loss of one example, its label names the class
                loss = (None, single or None)
            if loss is not None and first and len(parts) == 2 and _just_a_name(first, words):
                subject = _subject(first, words)
                if subject is not None and not any(t.text == r"\partial" for t in first):
                    losses.append((subject, loss, tokens, (fragment, first, parts[1])))
    if logits:
        result.roles["logits"] = logits.most_common(1)[0][0]
        result.aliases["logits"] = {name for name in logits if name != result.roles["logits"]}
    for (key, function, _), tokens, written in softmax_subjects:
        if "probabilities" not in result.roles:
            result.roles["probabilities"] = key
            result.bodies["probabilities"] = _body(written)
        elif key != result.roles["probabilities"]:
            result.aliases.setdefault("probabilities", set()).add(key)
        result.definitions.add(formula_position(tokens))
        if function:
            result.functions.add(key)
    for (key, _, subscripted), (target, probability), tokens, written in losses:
        if "loss" not in result.roles:
            result.roles["loss"] = key
            result.bodies["loss"] = _body(written)
            result.loss_subscripted = subscripted
            if target is not None:
                result.roles.setdefault("targets", target)
            if probability is not None:
                single_probabilities.append(probability)
        elif key != result.roles["loss"]:
            result.aliases.setdefault("loss", set()).add(key)
        result.definitions.add(formula_position(tokens))

    for probability in single_probabilities:  # the loss -log \\hat y_c names the probabilities \\hat y
        if "probabilities" not in result.roles and probability not in result.functions:
            result.roles["probabilities"] = probability
        elif probability != result.roles.get("probabilities"):
            result.aliases.setdefault("probabilities", set()).add(probability)
    _layer(result, tokenized, words)
    limits, indices = Counter(), Counter()
    for _, tokens in tokenized:
        if formula_position(tokens) != result.layer_at:  # the D of a layer's sum is not the number of classes
            limits += _upper_limits(tokens)
        indices += _indices(tokens)
    if limits:
        result.roles["classes"] = limits.most_common(1)[0][0]
        if len(limits) > 1:
            other = [k for k, _ in limits.most_common()[1:]]
            named = ", ".join(f"${o}$" for o in other)
            result.findings.append(Finding("range", f"the sums run to ${result.roles['classes']}$ and also to "
                                           f"{named}; ${result.roles['classes']}$ is read as the number "
                                           f"of classes (a front matter line 'range: 1..{other[0]}' says "
                                           "otherwise)"))
    _formula_label(result, tokenized)
    _fill_by_convention(result, tokenized, words)
    taken = set(result.roles.values()).union(*result.aliases.values()) | result.variables
    for name in _derivative_variables(tokenized, words):  # d L / d o_i with o nowhere else: o are logits too
        if name not in taken and name not in indices and name not in _SPECIAL and "logits" in result.roles:
            result.aliases.setdefault("logits", set()).add(name)
            taken.add(name)
    result.indices = [name for name, _ in indices.most_common() if name not in taken and name != "e"]
    _abbreviations(result, tokenized, words)
    _prose_abbreviations(result, fragments, words)
    _identities(result, tokenized, words)
    _constants(result, tokenized, words)
    _prose(result, fragments)
    _stated_sums(result, fragments)
    return result


def _fill_by_convention(result: Inference, tokenized, words) -> None:
    """Roles no definition settled: the conventional letter that the document uses (and the derivatives show)."""
    used = Counter()
    for _, tokens in tokenized:
        n = 0
        while n < len(tokens):
            key = read_key(tokens, n, words)
            if key is None:
                n += 1
                continue
            subscripted = key.end < len(tokens) and tokens[key.end].text == "_"
            used[(key.text, subscripted)] += 1
            n = key.end
    taken = set(result.roles.values()) | ({result.label[0]} if result.label_subscripted else set())
    for role, letters in CONVENTIONS.items():
        if role in result.roles:
            continue
        scalar = role == "loss"
        for letter in letters:
            if letter not in taken and used[(letter, not scalar)] > 0:
                result.roles[role] = letter
                taken.add(letter)
                break


def _abbreviations(result: Inference, tokenized, words) -> None:
    """X = <expression> with X a name no role explains: X abbreviates the expression."""
    roles = set(result.roles.values())
    for fragment, tokens in tokenized:
        parts = _parts(tokens)
        if len(parts) < 2 or not parts[0]:
            continue
        first = [t for t in parts[0] if t.text not in (r"\leftarrow", r"\Leftarrow", r"\therefore")]
        key = read_key(first, 0, words) if first else None
        if key is None or key.text in _SPECIAL or key.text in (r"\delta", r"\partial") \
                or key.text in result.indices or key.text == result.roles.get("classes"):
            continue
        rest = first[key.end:]
        index = None
        if rest and rest[0].text == "_" and len(rest) in (2, 4):
            index = rest[1].text if len(rest) == 2 else rest[2].text
            rest = []
        if rest:
            continue
        body_parts = [p for p in parts[1:] if p]
        if not body_parts:
            continue
        body_tokens = body_parts[0]
        texts = {t.text for t in body_tokens}
        if texts & {r"\begin", r"\boxed", r"\vdots", r"\dots", r"\ldots"} or all(
                t.kind in ("num", "char") for t in body_tokens):
            continue  # a vector written out, a numeric example: not an abbreviation
        body = _text(fragment, body_tokens)
        is_role_name = key.text in roles
        if is_role_name and not (key.text == result.roles.get("logits") and index is None and r"\sum" in texts):
            continue  # a definition of a role, not an abbreviation (z itself may abbreviate: the notes' z)
        if index is not None and key.text in result.indices:
            continue
        result.abbreviations.append(Abbreviation(key.text, index, body, fragment.line, fragment.column))
        result.definitions.add(formula_position(tokens))
        for other in body_parts[1:]:  # h_i = \sum_k e^{a_k} = \Sigma: \Sigma names the same thing
            name = read_key(other, 0, words)
            if name is not None and name.end == len(other) and name.text not in roles:
                result.abbreviations.append(Abbreviation(name.text, None, body, fragment.line, fragment.column))


def _text(fragment, tokens: list[Token]) -> str:
    """The source text spanned by tokens of a fragment."""
    lines = fragment.text.split("\n")
    first, last = tokens[0], tokens[-1]

    def offset(tok):
        row = tok.line - fragment.line
        col = tok.column - (fragment.column if row == 0 else 1)
        return sum(len(x) + 1 for x in lines[:row]) + col

    return fragment.text[offset(first):offset(last) + len(last.text)]


def _identities(result: Inference, tokenized, words) -> None:
    """I_{kj}: the identity matrix's entries (PRML's I_kj), when nothing else explains the letter."""
    explained = set(result.roles.values()).union(*result.aliases.values()) | set(result.indices)
    for _, tokens in tokenized:
        for n in range(len(tokens)):
            key = read_key(tokens, n, words)
            if key is None or key.text != "I" or key.text in explained or key.end + 4 >= len(tokens):
                continue
            after = tokens[key.end:key.end + 5]
            if [t.text for t in after[:2]] == ["_", "{"] and after[4].text == "}" \
                    and all(t.text in result.indices for t in after[2:4]):
                result.identities.add(key.text)


def _constants(result: Inference, tokenized, words) -> None:
    """Capital or Greek letters, never subscripted, that nothing else explains: constants of the derivation;
    and lowercase letters that are never subscripted anywhere (the c of s(\\mathbf x + c))."""
    explained = set(result.roles.values()).union(*result.aliases.values()) | set(result.indices)
    explained |= {a.key for a in result.abbreviations}
    explained |= set(result.functions) | result.identities | result.variables | {result.input_size}
    explained |= {r"\partial", r"\delta", r"\sum", r"\prod", r"\infty", r"\pi", r"\nabla"}
    candidates, lowercase, subscripted_letters = Counter(), Counter(), set()
    for _, tokens in tokenized:
        subscripted_letters |= {tokens[n].text for n in range(len(tokens) - 1) if tokens[n + 1].text == "_"}
    for _, tokens in tokenized:
        texts = [t.text for t in tokens]
        if any(texts[n] in ("P", r"\Pr") and texts[n + 1] in ("(", r"\left") for n in range(len(texts) - 1)):
            continue  # P(l = k | x): a statement about probabilities, whose letters are not constants
        hidden = set()  # tokens inside \text{...}, \mathbb{...}: prose and number sets, not names
        for n, tok in enumerate(tokens):
            if tok.text in (r"\begin", r"\end", r"\operatorname", r"\mathrm") or \
                    tok.text in (r"\text", r"\textrm", r"\mbox", r"\mathbb", r"\mathbbm", r"\mathds") \
                    and not _applied_word(tokens, n):
                group = _group(tokens, n + 1)
                hidden |= set(range(n + 1, group[1])) if group else {n + 1}
        inside = 0  # the letters of a name already read (the C of \mathcal{C}_k), or a function's arguments
        for n, tok in enumerate(tokens):
            if n in hidden or n < inside:
                continue
            key = read_key(tokens, n, words)
            if key is None:
                continue
            inside = key.end
            if key.word:
                continue
            subscripted = key.end < len(tokens) and tokens[key.end].text == "_"
            applied = key.end < len(tokens) and tokens[key.end].text in ("(", r"\left")
            if applied and key.text in explained:
                group = _group(tokens, key.end)
                inside = group[1] if group else inside  # J(\theta): the loss's parameters are not constants
            transpose = key.text == "T" and n >= 1 and tokens[n - 1].text in ("^", "{")
            if subscripted or applied or transpose or key.text in explained:
                continue  # P(l = k | x) is an unknown function, not a constant
            if (len(key.text) == 1 and key.text.isupper()) or key.text in GREEK:
                candidates[key.text] += 1
            elif len(key.text) == 1 and key.text.islower() and key.text not in _SPECIAL and not key.vector:
                differentiated = n >= 1 and tokens[n - 1].text in (r"\partial", "d")
                if not differentiated:
                    lowercase[key.text] += 1  # the c of s(x + c): a shift, a scale
    for name, _ in candidates.most_common():
        result.constants.append(name)
    for name, _ in lowercase.most_common():
        if name not in subscripted_letters:
            result.constants.append(name)


def _layer(result: Inference, tokenized, words) -> None:
    """z_j = sum_{i=1}^D w_{ij} x_i + b_j: the logits defined by a linear layer of other subscripted names."""
    logits = result.roles.get("logits")
    roles = set(result.roles.values()).union(*result.aliases.values())
    for fragment, tokens in tokenized:
        parts = _parts(tokens)
        if logits is None or len(parts) != 2 or not parts[0] or not parts[1]:
            continue
        first, body = parts[0], [t for t in parts[1] if t.text not in (".", ",", ";")]
        key = read_key(first, 0, words)
        if key is None or key.text != logits or [t.text for t in first[key.end:key.end + 1]] != ["_"] \
                or r"\sum" not in [t.text for t in body]:
            continue
        rest = first[key.end + 1:]
        letters = [t.text for t in rest if t.kind == "letter"]
        if len(letters) != 1:
            continue
        names, n = set(), 0
        while n < len(body):
            found = read_key(body, n, words)
            if found is not None and found.end < len(body) and body[found.end].text == "_" \
                    and found.text not in roles and found.text not in _SPECIAL:
                names.add(found.text)
            n = found.end if found is not None else n + 1
        if not names:
            continue
        limits = _upper_limits(body)
        result.layer = (letters[0], _text(fragment, body), body[0].line, body[0].column)
        result.variables = names
        result.input_size = next((name for name in limits if len(name) == 1 and name.isalpha()), None)
        result.layer_at = formula_position(tokens)
        result.definitions.add(result.layer_at)
        return


def _formula_label(result: Inference, tokenized) -> None:
    """The correct class as a formula writes it: the y of p_{y_i} or f_{y_i}, of 1(y_i = k), [y_i = k]."""
    explained = set(result.roles.values()).union(*result.aliases.values())
    for fragment, tokens in tokenized:
        texts = [t.text for t in tokens]
        for n in range(len(tokens) - 3):
            letter = tokens[n]
            if letter.kind != "letter" or letter.text in explained or texts[n + 1] != "_":
                continue
            nested = n >= 2 and texts[n - 1] == "{" and texts[n - 2] == "_"  # p_{y_i}
            compared = n + 3 < len(texts) and texts[n + 3] in ("=", r"\neq", r"\ne") and n >= 1 \
                and texts[n - 1] in ("(", "[", r"\{", "{")  # 1(y_i = k), [y_i = k]
            if (nested or compared) and tokens[n + 2].kind == "letter":
                result.label = (letter.text, fragment.line)
                result.label_subscripted = True
                return


#: prose between two inline formulas that makes the first an abbreviation of the second
_STANDS_FOR = re.compile(r"^\s*,?\s*(?:stands for|denotes|is short(?:hand)? for|abbreviates|is defined as|"
                         r"is written for|means)\s*$", re.IGNORECASE)
_WRITE_FOR = re.compile(r"\b(?:we )?write\s*$", re.IGNORECASE)


def _prose_abbreviations(result: Inference, fragments, words) -> None:
    """'where $\\Sigma$ stands for $\\sum_k e^{a_k}$', 'we write $\\Sigma$ for $...$': abbreviations in words."""
    roles = set(result.roles.values()).union(*result.aliases.values())
    for n in range(len(fragments) - 2):
        first, words_between, second = fragments[n], fragments[n + 1], fragments[n + 2]
        if first.kind != "inline" or words_between.kind != "prose" or second.kind != "inline":
            continue
        between = " ".join(words_between.text.split())
        if _STANDS_FOR.match(between):
            name, body = first, second
        elif between.lower().strip() == "for" and n >= 1 and fragments[n - 1].kind == "prose" \
                and _WRITE_FOR.search(fragments[n - 1].text):
            name, body = first, second
        else:
            continue
        tokens = [t for t in tokenize(name.text, name.line, name.column) if t.kind != "end"]
        key = read_key(tokens, 0, words) if tokens else None
        if key is None or key.text in roles or key.text in result.indices:
            continue
        index = None
        if key.end == len(tokens) - 2 and tokens[key.end].text == "_" and tokens[-1].kind == "letter":
            index = tokens[-1].text
        elif key.end != len(tokens):
            continue
        result.abbreviations.append(Abbreviation(key.text, index, body.text, body.line, body.column))


def _body(written) -> tuple:
    """(the defined name's index letter, the definition's LaTeX, line, column) of 'q_i = <body>'."""
    fragment, first, body = written
    letters = [t.text for t in first if t.kind == "letter"]
    index = letters[-1] if len(first) >= 3 and first[-2].text == "_" and first[-1].kind == "letter" else None
    if index is None and len(first) >= 5 and first[-4].text == "_" and first[-3].text == "{" and len(letters) >= 1:
        index = first[-2].text if first[-2].kind == "letter" else None  # q_{i}
    core = [t for t in body if t.text not in (".", ",", ";")]
    while core and core[-1].text in (".", ",", ";"):
        core = core[:-1]
    return index, _text(fragment, core), core[0].line, core[0].column


def _stated_sums(result: Inference, fragments) -> None:
    """A formula that says the targets sum to one (\\sum_k t_k = 1), in the text or a display of its own."""
    target = result.roles.get("targets")
    if not target or len(target) != 1:
        return
    pattern = re.compile(r"^\\sum(?:_\{?\s*\w+\s*(?:=\s*1\s*)?\}?)?(?:\^\{?\s*\w+\s*\}?)?\s*"
                         + re.escape(target) + r"_\{?\s*\w+\s*\}?\s*=\s*1\s*[.,;]?$")
    for fragment in fragments:
        if fragment.kind in ("inline", "display") and pattern.match(" ".join(fragment.text.split())):
            result.assumptions.append(("targets_sum_to_one", fragment.line))


def _prose(result: Inference, fragments) -> None:
    """Assumptions and naming stated in words: one-hot targets, targets summing to one, 'which we call j'."""
    for text, line_at in _paragraphs(fragments):
        one_hot, sums = _affirmed(_ONE_HOT, text), _affirmed(_SUMS_TO_ONE, text)
        if one_hot:
            result.assumptions.append(("one_hot", line_at(one_hot.start())))
        elif sums:
            result.assumptions.append(("targets_sum_to_one", line_at(sums.start())))
        named = _LABEL.search(text)
        if named and result.label is None:
            result.label = (next(g for g in named.groups() if g), line_at(named.start()))
        called = _CALLED.search(text)
        if called:
            letter, line = called.group(1), line_at(called.start())
            result.findings.append(Finding("notation", f"the text calls the correct class ${letter}$ ('which we call "
                                           f"{letter}', line {line}); if ${letter}$ is also a free index, the "
                                           "class needs a name of its own (read as the label $\\gamma$)", line=line))


def _affirmed(pattern, text: str):
    """The first match of pattern that the sentence does not deny or merely require."""
    for match in pattern.finditer(text):
        sentence_start = max(text.rfind(".", 0, match.start()), text.rfind(";", 0, match.start())) + 1
        if not _DENIED.search(text[sentence_start:match.start()]):
            return match
    return None


def _paragraphs(fragments):
    """The text between displays, inline math back in $...$, whitespace collapsed, with a function from
    an offset in that text to the line of the file it came from."""
    chars: list[str] = []
    lines: list[int] = []

    def add(text: str, line: int) -> None:
        for char in text:
            if char.isspace():
                if chars and chars[-1] != " ":
                    chars.append(" ")
                    lines.append(line)
                if char == "\n":
                    line += 1
                continue
            chars.append(char)
            lines.append(line)

    def flush():
        text, at = "".join(chars), list(lines)
        return text, lambda offset: at[min(offset, len(at) - 1)] if at else 0

    for fragment in fragments:
        if fragment.kind == "display":
            if chars:
                yield flush()
            chars.clear()
            lines.clear()
            continue
        if fragment.kind == "inline":
            add(" $", fragment.line)
            add(fragment.text, fragment.line)
            add("$ ", fragment.line)
        else:
            add(fragment.text, fragment.line)
    if chars:
        yield flush()
