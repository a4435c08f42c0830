"""Derivation files: a derivation written the way the notes are, in LaTeX, as plain text.

A file is a header of ``key: value`` lines, then the formulas, each between
``$$`` and ``$$`` (as in the notes), optionally followed by
``[by: justification; case: j = k; assume: name]``::

    name: route1
    title: Route 1: the chain rule
    indices: i, j, k, \\gamma
    range: 1..K
    define: y_k = \\frac{e^{z_k}}{\\sum_{i=1}^K e^{z_i}}
    define: E = -\\sum_{k=1}^K t_k \\ln y_k
    result: \\frac{\\partial E}{\\partial z_j} = y_j - t_j

    $$\\frac{\\partial E}{\\partial z_j} = \\sum_{k=1}^K \\frac{\\partial E}{\\partial y_k}
      \\frac{\\partial y_k}{\\partial z_j}$$ [by: chain rule]

Header keys: ``name``, ``title``, ``indices`` (the letters used as indices),
``range`` (``1..K``: sums without limits run over it, and free indices lie in
it), ``logits``/``targets``/``probabilities``/``loss`` (the letters, default
z, t, y, E), ``label`` (the correct class, default \\gamma), ``vector index``
(what ``\\vec{y}`` stands for), ``define`` (checked against softmax and
cross-entropy), ``let`` (an abbreviation such as the notes' z = \\sum_j e^{z_j}),
``assume``, ``result`` and ``finding`` (a note recorded for the report, e.g. a
fix made while transcribing).

The first formula starts the chain; a formula that begins with ``=`` continues
it; a formula that begins with the start again (or with it under the step's
case) restates it and continues; any other formula is a side result checked
on its own.  Every error names the file, line and column.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import re
import stat
import unicodedata
from pathlib import Path

import sympy as sp

from .. import assumptions as assumption_registry
from ..derivation import Case, Definition, Derivation, Finding, Step, derivation_claims
from ..errors import InputError
from ..justifications import REGISTRY as JUSTIFICATIONS
from ..errors import ParseError
from .latex import Parser, guarded, parse_expression
from .names import Names
from .tokens import Token
from ..notation import E, K, c, free_indices, gamma, i, j, k, m, mu, rebuild, t, v, y, z

_INDEX_NAMES = {"i": i, "j": j, "k": k, r"\gamma": gamma, r"\mu": mu}
_FINDING_KINDS = {"notation", "scope", "assumption", "range", "cases", "transcription"}
_KEYS = {"name", "title", "indices", "range", "logits", "targets", "probabilities", "loss", "label",
         "vector index", "cotangent", "constants", "define", "let", "assume", "result", "finding", "source"}
#: the constants a derivation may use: a shift of every logit, and the row maximum m = max_k z_k
_CONSTANTS = {"c": c, "m": m}


#: header keys whose value is LaTeX math: a % starts a comment there, as in the formulas
_FORMULA_KEYS = {"result", "define", "let", "assume"}
#: header keys whose value is prose: a % is a percent sign there
_PROSE_KEYS = {"title", "source", "finding"}
MAX_TITLE = 300
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")


def strip_comment(line: str) -> str:
    """The line up to its first unescaped '%' (a LaTeX comment), same columns before it."""
    for match in re.finditer("%", line):
        backslashes = len(line[:match.start()]) - len(line[:match.start()].rstrip("\\"))
        if backslashes % 2 == 0:
            return line[:match.start()]
    return line


class _Source:
    """The file's text with positions, for error messages with a caret.

    ``code_lines`` are the lines with LaTeX comments removed: formulas are read
    and cut from them, so a comment never reaches the parsed formula, the
    report or the generated code.
    """

    def __init__(self, text: str, path: str):
        self.text, self.path = text, path
        self.lines = text.split("\n")
        self.code_lines = [strip_comment(line) for line in self.lines]

    def error(self, message: str, line: int, column: int = 1) -> ParseError:
        source = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        return ParseError(message, line, column, source, self.path)

    def offset(self, line: int, column: int) -> int:
        return sum(len(x) + 1 for x in self.code_lines[:line - 1]) + column - 1

    def cut(self, start: Token, end: Token) -> str:
        code = "\n".join(self.code_lines)
        return " ".join(code[self.offset(start.line, start.column):self.offset(end.line, end.column)].split())


#: invisible characters that only space or join text (zero-width space, soft hyphen, word joiner, ...):
#: copied notes are full of them; they are read as spaces, so positions stay those of the file
INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\u00ad\ufeff\u180e"), " ")


def printable_text(text: str, path: str) -> str:
    """The text with invisible spacing characters as spaces; control and other format characters
    (ESC, bidirectional overrides) refused with their position (check_characters)."""
    text = text.translate(INVISIBLE)
    check_characters(text, path)
    return text


def check_characters(text: str, path: str) -> None:
    """Refuse control and format characters (ESC, bidirectional overrides, ...) with their position."""
    for number, line in enumerate(text.split("\n"), start=1):
        for column, ch in enumerate(line, start=1):
            if ch != "\t" and unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs"):
                shown = line[:column - 1].encode("unicode_escape").decode() + f"\\u{ord(ch):04x}"
                raise ParseError(f"control character U+{ord(ch):04X} ({unicodedata.name(ch, 'unnamed')}); "
                                 "a derivation file holds printable text only", number, column,
                                 shown[-120:], path)


def _split_header_and_blocks(src: _Source):
    header: list[tuple[str, str, int, int]] = []  # key, value, line, column of the value
    blocks: list[tuple[str, int, int, str, int]] = []  # math, line, column, annotation, annotation line
    n = 0
    lines = src.code_lines
    while n < len(lines):
        raw = lines[n]
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            n += 1
            continue
        if "$$" in raw and not _header_key(src.lines[n]):
            col = raw.index("$$") + 3
            rest = raw[raw.index("$$") + 2:]
            body, start_line, start_col = [], n + 1, col
            while "$$" not in rest:
                body.append(rest)
                n += 1
                if n >= len(lines):
                    raise src.error("this '$$' is never closed", start_line, start_col - 2)
                rest = lines[n]
            body.append(rest[:rest.index("$$")])
            after = rest[rest.index("$$") + 2:].strip()
            blocks.append(("\n".join(body), start_line, start_col, after, n + 1))
            n += 1
            continue
        if ":" not in stripped:
            raise src.error("expected 'key: value' in the header or a formula between '$$' and '$$'", n + 1,
                            len(raw) - len(raw.lstrip()) + 1)
        key = stripped.split(":", 1)[0].strip().lower()
        if key in _PROSE_KEYS:  # a % in prose is a percent sign
            raw = src.lines[n]
            stripped = raw.strip()
        key, value = stripped.split(":", 1)
        key = key.strip().lower()
        if key not in _KEYS:
            raise src.error(f"unknown header key '{key}'; known keys: {', '.join(sorted(_KEYS))}", n + 1,
                            len(raw) - len(raw.lstrip()) + 1)
        column = raw.index(":") + 2 + (len(value) - len(value.lstrip()))
        header.append((key, value.strip(), n + 1, column))
        n += 1
    return header, blocks


def _header_key(line: str) -> str | None:
    """The key when the line is a header line ('title: ...'), even if its value holds '$$'."""
    key = line.split(":", 1)[0].strip().lower() if ":" in line else None
    return key if key in _KEYS and not line.lstrip().startswith("$") else None


def _first(values: dict, key: str, default: str) -> str:
    """The value of the first header line with this key, or the default."""
    return values.get(key, [(default, 0, 0)])[0][0]


def _names(src: _Source, header) -> tuple[Names, dict]:
    values: dict[str, list] = {}
    for key, value, line, col in header:
        values.setdefault(key, []).append((value, line, col))

    roles = {}
    for key, target, default in (("logits", z, "z"), ("targets", t, "t"), ("probabilities", y, "y"),
                                 ("cotangent", v, "v")):
        roles[_first(values, key, default)] = target
    scalars = {"K": K, _first(values, "loss", "E"): E}
    if "constants" in values:
        text, line, col = values["constants"][0]
        for name in [x.strip() for x in text.split(",") if x.strip()]:
            if name not in _CONSTANTS:
                raise src.error(f"constant '{name}' is not one of {', '.join(_CONSTANTS)} "
                                "(c: a shift of every logit, m: the row maximum)", line, col)
            scalars[name] = _CONSTANTS[name]
    indices = {}
    if "indices" in values:
        text, line, col = values["indices"][0]
        for name in [x.strip() for x in text.split(",") if x.strip()]:
            if name not in _INDEX_NAMES:
                raise src.error(f"index '{name}' is not one of {', '.join(_INDEX_NAMES)}", line, col)
            indices[name] = _INDEX_NAMES[name]
    else:
        indices = {"i": i, "j": j, "k": k}
    label = _first(values, "label", r"\gamma")
    indices[label] = gamma
    vector = _first(values, "vector index", "")
    names = Names(indexed=roles, scalars=scalars, indices=indices,
                  vector_index=indices.get(vector) if vector else None,
                  default_range="range" in values)
    if "range" in values:
        text, line, col = values["range"][0]
        if text.replace(" ", "") not in ("1..K", r"1,\dots,K", "1...K"):
            raise src.error(f"the range must be 1..K (K classes), got '{text}'", line, col)
    return names, values


def _chain(src: _Source, text: str, names: Names, line: int, col: int) -> tuple[list, list]:
    """The parts of a chain a = b = ... and their (first token, token after) spans."""
    parser = Parser(text, names, line=line, column=col, path=src.path, source_lines=src.lines)
    parts = guarded(parser, parser.chain)
    if parser.inequality:
        raise parser.error("this formula states an inequality (\\neq, <, \\le, ...); a step must be an "
                           "equality, which the checker decides", parser.tokens[0])
    return parts, parser.spans


def _formula(src, text, names, line, col) -> sp.Expr:
    return parse_expression(text, names, line=line, column=col, path=src.path, source_lines=src.lines)


def _equation(src, text, names, line, col) -> tuple[sp.Expr, sp.Expr]:
    parts, _ = _chain(src, text, names, line, col)
    if len(parts) != 2 or parts[0] is None:
        raise src.error("expected one equation 'left = right'", line, col)
    return parts[0], parts[1]


_ASSUMPTION_FORMS = {
    "targets_sum_to_one": lambda lhs, rhs: isinstance(lhs, sp.Sum) and rhs == 1
    and lhs.function == t[lhs.limits[0][0]],
    "one_hot": lambda lhs, rhs: isinstance(lhs, sp.Indexed) and lhs.base == t
    and rhs == sp.KroneckerDelta(lhs.indices[0], gamma),
}


def _assumption(src, text, names, line, col) -> str:
    if text in assumption_registry.REGISTRY:
        return text
    lhs, rhs = _equation(src, text, names, line, col)
    for name, matches in _ASSUMPTION_FORMS.items():
        if matches(lhs, rhs) or matches(rhs, lhs):
            return name
    raise src.error(f"assumption not recognised; write one of {', '.join(assumption_registry.REGISTRY)} "
                    r"or \sum_k t_k = 1 or t_k = \delta_{k\gamma}", line, col)


def _definition(src, text, names, line, col) -> Definition:
    """A 'define:' line: its shape is checked here, whether it holds is the checker's job."""
    lhs, rhs = _equation(src, text, names, line, col)
    if not (lhs == E or (isinstance(lhs, sp.Indexed) and lhs.base == y)):
        raise src.error("define: gives the probabilities (softmax, y_k = ...) or the loss (cross-entropy, E = ...)",
                        line, col)
    return Definition(lhs, rhs, line)


def _annotation(src, text: str, line: int) -> dict:
    out = {"by": ("none",), "case": None, "assume": ()}
    text = text.strip()
    if not text:
        return out
    if not (text.startswith("[") and text.endswith("]")):
        raise src.error("after '$$' expected '[by: ...; case: ...; assume: ...]'", line)
    for item in text[1:-1].split(";"):
        if not item.strip():
            continue
        if ":" not in item:
            raise src.error(f"expected 'key: value' in the annotation, got '{item.strip()}'", line)
        key, value = (x.strip() for x in item.split(":", 1))
        if key == "by":
            reasons = []
            for reason in value.split(","):
                name = reason.strip().replace(" ", "_").replace("-", "_").lower()
                if name not in JUSTIFICATIONS or name == "none":
                    close = difflib.get_close_matches(name, [n for n in JUSTIFICATIONS if n != "none"], n=2,
                                                      cutoff=0.5)
                    hint = f"did you mean {' or '.join(repr(c.replace('_', ' ')) for c in close)}? " if close else ""
                    raise src.error(f"unknown justification '{reason.strip()}'; {hint}known: "
                                    f"{', '.join(sorted(n for n in JUSTIFICATIONS if n != 'none'))}", line)
                reasons.append(name)
            out["by"] = tuple(reasons)
        elif key == "case":
            out["case"] = value
        elif key == "assume":
            names = tuple(x.strip() for x in value.split(",") if x.strip())
            for name in names:
                if name not in assumption_registry.REGISTRY:
                    close = difflib.get_close_matches(name, list(assumption_registry.REGISTRY), n=2, cutoff=0.5)
                    hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
                    raise src.error(f"unknown assumption '{name}'; {hint}known: "
                                    f"{', '.join(assumption_registry.REGISTRY)}", line)
            out["assume"] = names
        else:
            raise src.error(f"unknown annotation '{key}'; use by, case or assume", line)
    return out


def _case(src, text: str, names: Names, line: int) -> Case:
    for rel, equal in ((r"\neq", False), ("!=", False), (r"\ne", False), ("=", True)):
        if rel in text:
            left, right = (x.strip() for x in text.split(rel, 1))
            if left in names.indices and right in names.indices:
                return Case(names.indices[left], names.indices[right], equal)
    raise src.error(f"a case is 'j = k' or 'j \\neq k' between declared indices, got '{text}'", line)


#: a derivation file larger than this is refused (the notes' files are about 2 kB)
MAX_FILE_BYTES = 5 * 1024 * 1024


def read_text(path) -> str:
    """The text of a derivation file or document: a regular file, at most MAX_FILE_BYTES, UTF-8, BOM dropped.

    A FIFO would block and a device (/dev/zero) never ends: anything but a
    regular file is refused before it is opened.
    """
    path = Path(path)
    try:
        info = path.stat()
    except OSError as exc:
        raise InputError(f"{path}: cannot read the file: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        kind = ("a directory" if stat.S_ISDIR(info.st_mode) else "a FIFO" if stat.S_ISFIFO(info.st_mode)
                else "a device" if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode) else "not a regular file")
        raise InputError(f"{path}: is {kind}; give a derivation file")
    if info.st_size > MAX_FILE_BYTES:
        raise InputError(f"{path}: is {info.st_size / 2**20:.1f} MB; a derivation file may be at most "
                         f"{MAX_FILE_BYTES // 2**20} MB")
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise InputError(f"{path}: cannot read the file: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_BYTES:
        raise InputError(f"{path}: is larger than {MAX_FILE_BYTES // 2**20} MB")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise InputError(f"{path}:{line}: the file is not UTF-8 text (byte 0x{data[exc.start]:02x})") from None
    return text[1:] if text.startswith("\ufeff") else text


def load(path) -> Derivation:
    """Parse a derivation file into a validated Derivation (errors name file, line and column)."""
    return parse(read_text(path), str(path))


def parse(text: str, path: str = "<input>") -> Derivation:
    if text.startswith("\ufeff"):
        text = text[1:]
    text = printable_text(text, path)
    src = _Source(text, path)
    header, blocks = _split_header_and_blocks(src)
    names, values = _names(src, header)
    findings: list[Finding] = []
    for value, line, col in values.get("let", []):
        if "=" not in value:
            raise src.error("let: needs 'name = expression'", line, col)
        letter, after = value.split("=", 1)
        letter, body = letter.strip(), after.strip()
        body_col = col + value.index("=") + 1 + (len(after) - len(after.lstrip()))
        names.abbreviations[letter] = _formula(src, body, names, line, body_col)
        if letter in names.indexed:
            findings.append(Finding("notation", f"${letter}$ names both ${letter}_1, \\dots, {letter}_K$ and "
                                    f"${letter} = {body}$ (line {line}); a letter with two meanings"))
    stated = ["index_range"] if names.default_range else []
    for value, line, col in values.get("assume", []):
        stated.append(_assumption(src, value, names, line, col))
    definitions = tuple(_definition(src, value, names, line, col) for value, line, col in values.get("define", []))
    if "result" not in values:
        raise src.error("the header needs 'result: <what the derivation proves>'", 1)
    result_text, line, col = values["result"][0]
    result_lhs, result = _equation(src, result_text, names, line, col)
    for value, _line, _col in values.get("finding", []):
        kind, _, message = value.partition(":")
        if kind.strip() in _FINDING_KINDS and message.strip():
            findings.append(Finding(kind.strip(), message.strip()))
        else:
            findings.append(Finding("transcription", value))
    if not blocks:
        raise src.error("no formulas: write each step between '$$' and '$$'", len(src.lines))

    start, steps = result_lhs, []
    start_latex = result_text.split("=", 1)[0].strip()
    for math, line, col, annotation, annotation_line in blocks:
        parts, spans = _chain(src, math, names, line, col)
        texts = [src.cut(a, b) for a, b in spans]
        lead = math.lstrip()
        if lead.startswith((r"\therefore", r"\because")) and texts:  # the tokenizer skips it; the notes have it
            texts[0] = lead.split(None, 1)[0] + " " + texts[0]
        notes = _annotation(src, annotation, annotation_line)
        case = _case(src, notes["case"], names, annotation_line) if notes["case"] else None
        restates = parts[0] is not None and _restates(parts[0], start, case)
        lemma = None if parts[0] is None or restates else parts[0]
        pairs = list(zip(parts[1:], texts[1:]))
        if parts[0] is not None and pairs:  # the step's LaTeX keeps its left side, as the notes write it
            pairs[0] = (pairs[0][0], texts[0] + " " + pairs[0][1])
        reasons = notes["by"]
        if len(reasons) not in (1, len(pairs)):
            raise src.error(f"{len(reasons)} justifications for {len(pairs)} steps: give one, or one per '='",
                            annotation_line)
        boxed = lead.startswith(r"\boxed")
        for n, (expr, latex) in enumerate(pairs):
            if boxed and len(pairs) == 1:
                latex = r"\boxed{" + latex + "}"
            reason = reasons[0] if len(reasons) == 1 else reasons[n]
            steps.append(Step(expr, latex, reason, case=case, assumptions=notes["assume"], lhs=lemma,
                              restates=restates and n == 0, line=line))
            if lemma is not None:
                lemma = expr
    if not steps:
        raise src.error("the derivation has a start but no '=' step", blocks[0][1])
    findings.extend(scope_findings(names))
    for line, col, var in names.unranged_sums:
        if not names.default_range:
            findings.append(Finding("range", f"the sum over ${var}$ at line {line}, column {col} has no range and "
                                    "the header declares none (range: 1..K); read as $1, \\dots, K$"))
    name = _name(src, values, path)
    if "title" in values and len(values["title"][0][0]) > MAX_TITLE:
        _, line, col = values["title"][0]
        raise src.error(f"the title has {len(values['title'][0][0])} characters; at most {MAX_TITLE}", line, col)
    label = _first(values, "label", r"\gamma")
    display = {"z": _first(values, "logits", "z"), "t": _first(values, "targets", "t"),
               "y": _first(values, "probabilities", "y"), "v": _first(values, "cotangent", "v"),
               "E": _first(values, "loss", "E"), "index gamma": label.lstrip("\\")}
    derivation = Derivation(
        name=name, title=_first(values, "title", name), start=start, start_latex=start_latex,
        steps=tuple(steps), result=result, result_latex=result_text,
        assumptions=tuple(dict.fromkeys(stated)), findings=tuple(findings),
        source=_first(values, "source", path), names=display, path=path, definitions=definitions,
        digest=hashlib.sha256(text.encode("utf-8")).hexdigest()[:16])
    extra = _scope_findings(derivation)
    return dataclasses.replace(derivation, findings=derivation.findings + tuple(extra)) if extra else derivation


def scope_findings(names: Names) -> list[Finding]:
    """A finding for every term read as inside the sum before it (see Parser._extend_sums), and for every
    other reading the author should know about (a \\sum without an index, an e^a_k, a matrix entry)."""
    out = [Finding("scope", f"line {line}, column {col}: index ${var}$ is free in the term after the sum over ${var}$; "
                   "read as inside that sum (put the summand in parentheses if that is not meant)",
                   line=line)
           for line, col, var in dict.fromkeys(names.scope_notes)]
    out += [Finding("notation", f"line {line}, column {col}: {what}", line=line)
            for line, col, what in dict.fromkeys(names.notes)]
    return out


def _name(src: _Source, values: dict, path: str) -> str:
    """The derivation's name: from 'name:' (a letter, then letters, digits, '_', '.', '-'), else the file's stem."""
    if "name" in values:
        name, line, col = values["name"][0]
        if not _NAME.fullmatch(name):
            raise src.error("a name starts with a letter and holds letters, digits, '_', '.' or '-' "
                            "(at most 64)", line, col)
        return name
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(path).stem)[:64]
    return stem if stem[:1].isalpha() else "d_" + stem[:62]


def _restates(expr, start, case: Case | None) -> bool:
    if rebuild(expr) == rebuild(start):
        return True
    return case is not None and case.equal and rebuild(expr) == rebuild(start).xreplace({case.left: case.right})


def _scope_findings(derivation: Derivation) -> list[Finding]:
    """An index free in a step but not in what it must equal: usually a sum whose scope ended too early."""
    out = []
    for claim in derivation_claims(derivation):
        mine = set(free_indices(claim.step.expr))
        for previous, case in claim.against:
            theirs = set(free_indices(previous))
            if case is not None:
                theirs |= {case.left, case.right}
            if "one_hot" in assumption_registry.closure(derivation.stated_assumptions(claim.step)):
                theirs.add(gamma)  # the one-hot assumption introduces the correct class
            extra = mine - theirs
            if extra:
                names = ", ".join(sorted(str(s) for s in extra))
                out.append(Finding("scope", f"step {claim.index}: index ${names}$ is free here but not in the "
                                   "expression it must equal; is it meant to be bound by a sum?", claim.index))
            lost = set(free_indices(previous)) - mine - ({case.left} if case is not None and case.equal else set())
            if lost and claim.step.lhs is None:
                names = ", ".join(sorted(str(s) for s in lost))
                out.append(Finding("scope", f"step {claim.index}: index ${names}$ is free in the expression this "
                                   "step must equal but not here; is it bound where it must be free?", claim.index))
    return out
