"""Markdown and LaTeX documents as input: the derivations in someone's notes, as they wrote them.

``parse_document`` reads the document's math (``document.py``), infers what its
letters mean (``inference.py``; front matter overrides), and walks the
formulas in order, as a reader would:

* the softmax and loss definitions and abbreviations are notation, recorded
  as definitions the checker proves, not as steps;
* a formula beginning with ``=`` continues the chain; one that restates the
  derivation's start (also under a case, or as a vector) is compared with the
  start; a derivative with respect to the logits of something new begins a
  new derivation, as do a heading and prose saying "alternatively"; any other
  formula is a side result;
* a case is set by prose or inline math such as "If $j = k$" or a label in the
  formula (``i = j:``, ``\\text{if } i \\neq j``), and ends at prose that puts the
  cases together or at a heading;
* prose saying the targets are one-hot (or sum to one) states that assumption.

Every formula that cannot be read is an error with its file, line and column;
the rest of the document is still read.  Nothing here proves anything.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import sympy as sp

from ..derivation import Case, Definition, Derivation, Finding, Step
from ..errors import DeriveError, ParseError
from ..notation import E, K, Constant, InputSize, Variable, free_indices, index, rebuild, t, y, z
from . import derivation_file as files
from .document import fragments
from .formulas import case_label, split
from .inference import formula_position, infer
from .latex import Parser, guarded
from .matrices import is_matrix_formula
from .slips import index_slips
from .names import Names
from .keys import read_key
from .tokens import Token, tokenize

#: prose that ends a case split ("Putting those together", "in both cases", "using the Kronecker delta")
_COMBINE = re.compile(r"combin|in (?:both|all|either) cases|summari[sz]e|in summary|"
                      r"to sum up|kronecker delta|so the derivative .{0,40} is|in general", re.IGNORECASE)
#: prose naming a class other than the correct one, just before its letter: "for an incorrect class $j$"
_OTHER_CLASS = re.compile(r"\b(?:incorrect|wrong|other|non-?target|non-?label|false) class(?:es)?\s*$", re.IGNORECASE)
#: prose that may combine the cases, or only the pieces of one case: combines when both cases were derived
_TOGETHER = re.compile(r"putting (?:those|these|them|it|everything) together|all together|altogether|"
                       r"together,? we", re.IGNORECASE)
#: prose that begins another derivation of the same thing
_ANOTHER = re.compile(r"\balternative(?:ly)?\b|\banother (?:way|route|derivation|approach)\b|"
                      r"\bsecond (?:way|route|derivation)\b", re.IGNORECASE)
_HEADING = re.compile(r"^[ \t]{0,3}#{1,6}[ \t]+(\S.*)$|\\(?:sub)*section\*?\{([^}]*)\}", re.MULTILINE)
#: a probability written in words of probability theory, P(l = k | x), Pr(...): a statement not checked
_PROBABILITY = re.compile(r"(?:^|[^A-Za-z\\])(?:P|\\Pr|\\mathbb\{P\}|\\mathrm\{P\})\s*\\?(?:left)?\(")


@dataclass
class Document:
    path: str
    derivations: list[Derivation] = field(default_factory=list)
    errors: list[ParseError] = field(default_factory=list)
    #: what inference read the letters as, for the reader ("o: logits", ...)
    notation: dict = field(default_factory=dict)


def load_document(path) -> Document:
    return parse_document(files.read_text(path), str(path))


def parse_document(text: str, path: str = "<document>") -> Document:
    if text.startswith("\ufeff"):
        text = text[1:]
    text = files.printable_text(text, path)
    header, parts = fragments(text, path)
    src = files._Source(text, path)
    inference = infer(parts, {key for key, *_ in header})
    builder = _Builder(src, path, inference, header)
    for fragment in parts:
        builder.feed(fragment)
    return builder.finish(hashlib.sha256(text.encode("utf-8")).hexdigest()[:16])


# ---------------------------------------------------------------------------------------------------
# notation: inference, with the front matter's keys overriding it


#: what a document's front matter may say (the rest is read from the document itself)
DOCUMENT_KEYS = {"title", "indices", "range", "logits", "targets", "probabilities", "loss", "label", "assume",
                 "constants", "let"}


def _names(src, inference, header) -> tuple[Names, dict, list, list[Finding]]:
    """(Names, display names for counterexamples, stated assumptions, findings about the notation)."""
    findings = list(inference.findings)
    values: dict[str, list] = {}
    for key, value, line, col in header:
        if key not in DOCUMENT_KEYS:
            raise src.error(f"unknown front matter key '{key}'; a document's front matter may give "
                            f"{', '.join(sorted(DOCUMENT_KEYS))}", line, col)
        values.setdefault(key, []).append((value, line, col))
    roles = dict(inference.roles)
    for role, key in (("logits", "logits"), ("targets", "targets"), ("probabilities", "probabilities"),
                      ("loss", "loss")):
        if key in values:
            roles[role] = values[key][0][0]
    if "range" in values:
        text_, line, col = values["range"][0]
        match = re.fullmatch(r"1\s*(?:\.\.|,\s*\\dots\s*,|\.\.\.)\s*(\S+)", text_.strip())
        if not match:
            raise src.error(f"the range is 1..N with N the number of classes, got '{text_}'", line, col)
        roles["classes"] = match.group(1)
    indexed = {}
    for role, base in (("logits", z), ("probabilities", y), ("targets", t)):
        for key in [roles.get(role), *sorted(inference.aliases.get(role, ()))]:
            if key and key not in inference.functions:
                indexed.setdefault(key, base)
    scalars = {roles.get("classes") or "K": K}
    for key in [roles.get("loss"), *sorted(inference.aliases.get("loss", ()))]:
        if key:
            scalars.setdefault(key, E)
    functions = {key: y for key in inference.functions}
    taken = set(indexed) | set(scalars) | set(functions)
    if "indices" in values:
        letters = [x.strip() for x in values["indices"][0][0].split(",") if x.strip()]
    else:
        letters = [key for key in inference.indices if key not in taken]
    indices = {key: index(key.lstrip("\\")) for key in letters}
    label = values["label"][0][0] if "label" in values else None
    first_claim = min((f.line for f in inference_claims(inference)), default=0)
    if label is None and inference.label is not None and inference.label_subscripted:
        label = inference.label[0]  # p_{y_i}, 1(y_i = k): y_i is the correct class of example i
        findings.append(Finding("notation", f"${label}_i$ is read as the correct class of the example (line "
                                f"{inference.label[1]}); the targets are one-hot at it", line=inference.label[1]))
    if label is None and inference.label is not None and inference.label[1] < first_claim:
        label = inference.label[0]  # "Assume the index of correct class is k", before any step: k is the label
        findings.append(Finding("notation", f"${label}$ is read as the correct class (line {inference.label[1]} "
                                "names it so); the targets are one-hot at it", line=inference.label[1]))
    if label:
        indices[label] = index("gamma")
    elif r"\gamma" not in indices:
        indices[r"\gamma"] = index("gamma")
    elif "label" not in values:
        where = next((n for n, text in enumerate(src.lines, start=1) if "\\gamma" in text), None)
        findings.append(Finding("notation", f"$\\gamma$ is used as an index (line {where}) but never introduced; read "
                                "as the correct class (where the targets are one-hot, $t_k = \\delta_{k\\gamma}$)",
                                line=where))
    declared = [x.strip() for value, _, _ in values.get("constants", []) for x in value.split(",") if x.strip()]
    constants = {key: Constant(key.lstrip("\\")) for key in [*declared, *inference.constants]
                 if key not in taken and key not in indices}
    names = Names(indexed=indexed, scalars=scalars, indices=indices, functions=functions, constants=constants,
                  words=frozenset(inference.words), default_range=True,
                  deltas=frozenset(key for key in inference.identities if key not in taken),
                  label=label if inference.label_subscripted else None)
    for key in sorted(names.deltas):
        findings.append(Finding("notation", f"${key}$ with two indices is read as the identity matrix: "
                                f"${key}_{{kj}} = 1$ if $k = j$, else $0$"))
    names.vector_index = _vector_index(names)
    for abbreviation in inference.abbreviations:
        try:
            body = guarded_formula(src, abbreviation.body, names, abbreviation.line, abbreviation.column)
        except (ParseError, DeriveError):
            continue  # what cannot be read cannot abbreviate; the formulas using it will say so
        if abbreviation.index is None:
            names.abbreviations[abbreviation.key] = body
            if abbreviation.key in indexed:
                findings.append(Finding("notation", f"${abbreviation.key}$ names both ${abbreviation.key}_1, \\dots, "
                                        f"{abbreviation.key}_K$ and ${abbreviation.key} = {abbreviation.body}$ (line "
                                        f"{abbreviation.line}); a letter with two meanings"))
        else:
            parameter = index(abbreviation.index.lstrip("\\"))
            names.indexed_abbreviations[abbreviation.key] = (parameter, body)
    findings += _layer_names(src, inference, names)
    for role, key in (("logits", "logits"), ("probabilities", "probabilities"), ("loss", "loss")):
        others = sorted(a for a in inference.aliases.get(role, ()) if a != roles.get(role))
        if others and key not in values and roles.get(role):
            # two readings: one name for one quantity, or two quantities; the front matter can say which
            named = ", ".join(f"${o}$" for o in others)
            findings.append(Finding("notation", f"{named} and ${roles[role]}$ are both read as the "
                                    f"{role}; if they are different quantities, name the {role} in the front "
                                    f"matter ('{key}: {roles[role]}')"))
    for value, line, col in values.get("let", []):  # let: \Sigma = \sum_k e^{a_k}
        if "=" not in value:
            raise src.error("let: needs 'name = expression'", line, col)
        name, after = value.split("=", 1)
        body_col = col + value.index("=") + 1 + (len(after) - len(after.lstrip()))
        names.abbreviations[name.strip()] = guarded_formula(src, after.strip(), names, line, body_col)
    findings += _own_definitions(src, inference, names, roles)
    for key, value in constants.items():
        findings.append(Finding("notation", f"${key}$ is read as a positive constant (it is not an index, "
                                "a logit, a probability, a target or the loss)"))
    display = {"z": roles.get("logits", "z"), "t": roles.get("targets", "t"),
               "y": roles.get("probabilities", "y"), "E": roles.get("loss", "E"), "K": roles.get("classes", "K")}
    if label:
        display["index gamma"] = label
    display = {k: v.lstrip("\\") for k, v in display.items()}
    stated = ["index_range"]
    if label is not None and "label" not in values:
        stated.append("one_hot")  # the class is named, so the targets are one-hot at it
    for name, _line in inference.assumptions:
        if name not in stated:
            stated.append(name)
    for value, line, col in values.get("assume", []):
        stated.append(files._assumption(src, value, names, line, col))
    return names, display, stated, findings


def _layer_names(src, inference, names: Names) -> list[Finding]:
    """A linear layer before the softmax: its weights, inputs and biases become variables of the derivation,
    and derivatives with respect to them go through the logits (layer.py)."""
    if inference.layer is None:
        return []
    letter, text, line, column = inference.layer
    if letter not in names.indices:
        return []
    for key in sorted(inference.variables):
        names.variables[key] = Variable(key.lstrip("\\"))
        names.constants.pop(key, None)
    if inference.input_size:
        names.scalars[inference.input_size] = InputSize(inference.input_size)
        names.constants.pop(inference.input_size, None)
        names.indices.pop(inference.input_size, None)  # the D of x_D is the last input, not an index
    try:
        body = guarded_formula(src, text, names, line, column)
    except (ParseError, DeriveError):
        return []
    names.layer = (names.indices[letter], body)
    size = f"; its input size {inference.input_size} is sampled as K + 1" if inference.input_size else ""
    named = ", ".join(f"${v}$" for v in sorted(inference.variables))
    return [Finding("notation", f"line {line} defines the logits by a linear layer of {named}: derivatives with "
                    f"respect to them go through the logits by the chain rule{size}", line=line)]


def _own_definitions(src, inference, names: Names, roles: dict) -> list[Finding]:
    """A softmax that is not the standard one (a temperature, a shift) is the document's own function: its
    name then stands for its definition, and so does a loss written with it."""
    key = roles.get("probabilities")
    body = inference.bodies.get("probabilities")
    if key is None or body is None or key not in names.indexed or body[0] not in names.indices:
        return []
    letter, text, line, column = body
    try:
        expr = guarded_formula(src, text, names, line, column)
    except (ParseError, DeriveError):
        return []
    parameter = names.indices[letter]
    if _is_softmax(expr, parameter):
        return []
    del names.indexed[key]
    names.indexed_abbreviations[key] = (parameter, expr)
    out = [Finding("notation", f"${key}_{letter}$ is defined as ${text}$ (line {line}), not as the standard softmax; "
                   f"${key}$ stands for this definition wherever it is used", line=line)]
    loss, written = roles.get("loss"), inference.bodies.get("loss")
    if loss is not None and written is not None and loss in names.scalars:
        try:
            loss_expr = guarded_formula(src, written[1], names, written[2], written[3])
        except (ParseError, DeriveError):
            return out
        del names.scalars[loss]
        names.abbreviations[loss] = loss_expr
        out.append(Finding("notation", f"${loss}$ is defined with ${key}$ (line {written[2]}), so it stands for "
                           f"${written[1]}$ wherever it is used", line=written[2]))
    return out


def _is_softmax(expr, parameter) -> bool:
    """expr is e^{z_i} / sum_k e^{z_k} with i the parameter."""
    numerator, denominator = sp.together(expr).as_numer_denom()
    if numerator != sp.exp(z[parameter]) or not isinstance(denominator, sp.Sum) or len(denominator.limits) != 1:
        return False
    bound, low, high = denominator.limits[0]
    return denominator.function == sp.exp(z[bound]) and low == 1 and high == K


def inference_claims(inference):
    """The displays with a derivative: where a derivation's steps begin (to place prose before or after them)."""
    return inference.claims


def _vector_index(names: Names) -> sp.Symbol:
    """The index a vector equation is read at, entrywise: a letter the derivation does not use."""
    used = set(names.known())
    for letter in ("j", "i", "k", "r", "s", "u", "n"):
        if letter not in used or letter in names.indices:
            return names.indices.get(letter) or index(letter)
    return index("r")


def guarded_formula(src, text: str, names: Names, line: int, column: int) -> sp.Expr:
    return files._formula(src, text, names, line, column)


# ---------------------------------------------------------------------------------------------------
# the walk through the document


def _lists_a_vector(tokens: list[Token]) -> bool:
    """'\\mathbf x = \\begin{bmatrix} x_1 ... x_n \\end{bmatrix}' (or (x_1, \\dots, x_n)): a vector's entries named."""
    texts = [t.text for t in tokens]
    if "=" not in texts:
        return False
    left, right = tokens[:texts.index("=")], texts[texts.index("=") + 1:]
    if right.count("=") and all(r"\begin" in part[:3] for part in _split_at(right, "=")):
        right = right[:right.index("=")]  # y = [y_1 ... y_n] = [0 ... 1 ... 0]
    key = read_key(left, 0) if left else None
    if key is None or not key.vector:
        return False
    rest = [x for x in texts[key.end:texts.index("=")] if x != "&"]
    if rest and not (rest[0] == "(" and rest[-1] == ")"):  # \mathbf s(\mathbf x) = [...]
        return False
    right = [x for x in right if x != "&"]
    return bool(right) and (right[0] == r"\begin" and "matrix" in "".join(right[:12]) or right[0] in ("(", r"\left")
                            and any(x in (r"\dots", r"\ldots", r"\cdots") for x in right))


def _bound(expr) -> set:
    """The indices bound by sums in expr."""
    return {limit[0] for node in sp.preorder_traversal(expr) if isinstance(node, (sp.Sum, sp.Product))
            for limit in node.limits}


def _split_at(texts: list[str], separator: str) -> list[list[str]]:
    out = [[]]
    for text in texts:
        if text == separator:
            out.append([])
        elif text not in ("&", r"\\"):
            out[-1].append(text)
    return out


def _misindexed_softmax(left, right) -> sp.Symbol | None:
    """The index of right when left is a probability y_j and right the softmax in another index.

    Authors write p_j = e^{a_i} / \\sum_k e^{a_k}: a definition with a typo, not a false claim to refute.
    """
    if not (isinstance(left, sp.Indexed) and left.base == y and isinstance(right, sp.Expr)):
        return None
    numerator, denominator = right.as_numer_denom()
    if not (isinstance(numerator, sp.exp) and isinstance(numerator.args[0], sp.Indexed)
            and numerator.args[0].base == z and isinstance(denominator, sp.Sum)):
        return None
    bound = denominator.limits[0][0]
    if denominator.function != sp.exp(z[bound]) or len(denominator.limits) != 1:
        return None
    which = numerator.args[0].indices[0]
    return which if which != left.indices[0] and which.is_Symbol else None


@dataclass
class _Open:
    """A derivation being read."""

    title: str
    start: sp.Expr
    start_latex: str
    steps: list = field(default_factory=list)
    chain: sp.Expr | None = None


class _Builder:
    def __init__(self, src, path: str, inference, header):
        self.src, self.path, self.inference = src, path, inference
        self.names, self.display_names, self.stated, self.findings = _names(src, inference, header)
        self.values = {}
        for key, value, line, col in header:
            self.values.setdefault(key, []).append((value, line, col))
        self.errors: list[ParseError] = []
        self.definitions: list[Definition] = []
        self.done: list[_Open] = []
        self.current: _Open | None = None
        self.case: Case | None = None
        self.heading = self.values["title"][0][0] if "title" in self.values else ""
        self.fresh = False  # prose asked for a new derivation of the same start
        self.last_derivative = None  # the latest derivative a derivation started from (what a prime refers to)
        self.last_prose = ""
        self.first_through_layer = False  # the formula begins with a derivative by a layer's variable

    # -- fragments --------------------------------------------------------------------------------
    def feed(self, fragment) -> None:
        if fragment.kind == "prose":
            self.prose(fragment)
        elif fragment.kind == "inline":
            self.inline(fragment)
        else:
            self.display(fragment)

    def prose(self, fragment) -> None:
        self.last_prose = fragment.text
        for match in _HEADING.finditer(fragment.text):
            self.close()
            self.heading = (match.group(1) or match.group(2) or "").strip()
            line = fragment.line + fragment.text[:match.start()].count("\n")
            raw = _HEADING.search(self.src.lines[line - 1]) if 0 < line <= len(self.src.lines) else None
            if raw is not None:  # the heading with its inline math, as written ("Derivative of $p_j$")
                self.heading = (raw.group(1) or raw.group(2) or "").strip()
            self.case = None
        text = " ".join(fragment.text.split())
        if _COMBINE.search(text) or _TOGETHER.search(text) and self.both_cases_derived():
            self.case = None
        if _ANOTHER.search(text):
            self.fresh = True

    def after_unreadable_row(self, fragment, formula: list[Token], case, error) -> None:
        """An aligned chain with a row that cannot be read: the rows after it are still a chain of their own
        (each checked against the row before it, never against a row before the unreadable one)."""
        for n, tok in enumerate(formula):
            if tok.text != r"\\" or (tok.line, tok.column) <= (error.line, error.column):
                continue
            rest = formula[n + 1:]
            while rest and rest[0].text == "&":
                rest = rest[1:]
            if len(rest) > 1 and rest[0].text == "=" and any(t.text == "=" for t in rest[1:]):
                self.close()
                self.formula(fragment, rest[1:], case)
            return

    def both_cases_derived(self) -> bool:
        """The derivation being read has steps in a case and in its complement (j = k, then j != k)."""
        if self.current is None:
            return False
        cases = {step.case for step in self.current.steps if step.case is not None}
        return any(a.equal != b.equal and {a.left, a.right} == {b.left, b.right} for a in cases for b in cases)

    def inline(self, fragment) -> None:
        tokens = [t for t in tokenize(fragment.text, fragment.line, fragment.column) if t.kind != "end"]
        label = self.names.indices.get(self.display_names.get("index gamma", ""))
        if len(tokens) == 1 and label is not None and tokens[0].text in self.names.indices \
                and _OTHER_CLASS.search(self.last_prose):
            self.case = Case(self.names.indices[tokens[0].text], label, False)  # "for an incorrect class $j$"
            return
        stripped = tokens[2:-1] if len(tokens) > 3 and tokens[0].text == r"\boxed" else tokens
        case = _case_of(stripped, self.names)
        if case is not None:
            self.case = case
            return
        if any(t.text == r"\partial" for t in tokens) and any(t.text == "=" for t in tokens):
            self.display(fragment)  # a derivative claimed in passing ("✓ $dE/dy_k = -t_k/y_k$") is a step

    def display(self, fragment) -> None:
        tokens = tokenize(fragment.text, fragment.line, fragment.column)
        for formula in split(tokens):
            label, formula = case_label(formula)
            if not formula or _numeric_example(formula):
                continue
            if formula_position(formula) in self.inference.definitions:
                self.definition(fragment, formula)
                continue
            if _lists_a_vector(formula):
                continue  # \mathbf x = [x_1 ... x_n]: notation, what the vector's entries are called
            case = self.case
            if label is not None:
                try:
                    case = Case(self.names.indices[label.left], self.names.indices[label.right], label.equal)
                except KeyError:
                    pass
            self.formula(fragment, formula, case)

    def definition(self, fragment, formula: list[Token]) -> None:
        """A softmax or loss definition, or an abbreviation: notation, checked as a definition where it can be."""
        parsed = self.parse(fragment, formula, quiet=True)
        if parsed is None:
            return
        parts, _ = parsed
        if len(parts) == 2 and parts[0] is not None and (
                parts[0] == E or isinstance(parts[0], sp.Indexed) and parts[0].base == y):
            self.definitions.append(Definition(parts[0], parts[1], formula[0].line))

    # -- one formula ------------------------------------------------------------------------------
    def parse(self, fragment, formula: list[Token], quiet=False):
        text, line, column = _span(fragment, formula)
        if _PROBABILITY.search(text):
            self.findings.append(_probability_finding(text, line))
            return None
        parser = Parser(text, self.names, line=line, column=column, path=self.path, source_lines=self.src.lines)
        self.names.prime_variable = self.current.start if self.current is not None and isinstance(
            self.current.start, sp.Derivative) else self.last_derivative
        matrix = is_matrix_formula(formula) and self.names.vector_index is not None
        if matrix:
            self.names.column_index = self.column_index()
        try:
            parts = guarded(parser, parser.chain)
        except ParseError as exc:
            if not quiet:
                self.errors.append(exc)
            return None
        finally:
            self.names.column_index = None
        row_index = self.names.vector_index
        if matrix and parts and parts[0] is not None and row_index not in free_indices(parts[0]) \
                and self.column_index() not in free_indices(parts[0]):
            # H = -\mathbf y \log \mathbf s^T: a scalar, so the product of a row and a column is their dot product
            parser = Parser(text, self.names, line=line, column=column, path=self.path, source_lines=self.src.lines)
            try:
                parts = guarded(parser, parser.chain)
            except ParseError as exc:
                if not quiet:
                    self.errors.append(exc)
                return None
            parts = [p if p is None or row_index not in free_indices(p) else sp.Sum(p, (row_index, 1, K))
                     for p in parts]
            self.findings.append(Finding(
                "notation", f"line {line}: a scalar written with vectors; $u v^T$ and $u^T v$ are read as the dot "
                f"product $\\sum_{self.letter(row_index)} u_{self.letter(row_index)} v_{self.letter(row_index)}$",
                line=line))
        elif matrix and len({frozenset(set(free_indices(p)) & {row_index, self.column_index()})
                             for p in parts if p is not None}) > 1:
            # \nabla_x H = \nabla_s H J: a vector times a matrix (a sum over the inner index), not entrywise
            if not quiet:
                self.errors.append(parser.error(
                    "this formula multiplies a vector and a matrix; it is not read entry by entry (write the "
                    "entries with indices and the sum over the inner index)", formula[0]))
            return None
        elif matrix:
            row, column = self.letter(self.names.vector_index), self.letter(self.column_index())
            self.findings.append(Finding(
                "notation", f"line {line} is a matrix equation, read entry by entry: entry $({row}, {column})$ of "
                f"$\\partial \\mathbf{{s}} / \\partial \\mathbf{{a}}$ is $\\partial s_{row} / \\partial a_{column}$, "
                f"$u v^T$ and $u^T v$ are the outer product $u_{row} v_{column}$, $\\mathrm{{diag}}(u)$ is "
                f"$u_{row}$ on the diagonal", line=line))
        texts = [self.src.cut(a, b) for a, b in parser.spans]
        self.part_lines = [a.line for a, _ in parser.spans]
        self.first_through_layer = parser.first_through_layer
        if parser.inequality and len(parser.relations) == len(parts) - 1:
            # a = b \neq 0: the equalities before the first inequality are claims; the inequality is not decided
            keep = parser.relations.index(next(r for r in parser.relations if r != "=")) + 1
            self.findings.append(Finding("structure", f"line {line}: ${texts[keep] if keep < len(texts) else ''}$ "
                                         "states an inequality; inequalities are not checked", line=line))
            parts, texts, self.part_lines = parts[:keep], texts[:keep], self.part_lines[:keep]
        self.findings += [f for f in index_slips(parts, line, self.letter) if f not in self.findings]
        return parts, texts

    def formula(self, fragment, formula: list[Token], case: Case | None) -> None:
        errors_before = len(self.errors)
        parsed = self.parse(fragment, formula)
        if parsed is None:
            if len(self.errors) > errors_before:
                self.after_unreadable_row(fragment, formula, case, self.errors[-1])
            return
        parts, texts = parsed
        line = self.part_lines[1:] if len(self.part_lines) == len(parts) else formula[0].line
        if len(parts) < 2:
            return  # an expression on its own claims nothing
        first = parts[0]
        misindexed = _misindexed_softmax(first, parts[1])
        if misindexed is not None:
            self.findings.append(Finding(
                "notation", f"line {formula[0].line}: ${texts[0]}$ is defined by a softmax in index "
                f"${self.letter(misindexed)}$, not ${self.letter(first.indices[0])}$; read as the "
                f"definition of the softmax (a typo?), not checked as a step", line=formula[0].line))
            if len(parts) == 2:
                return
            self.close()
            self.fresh = False
            self.current = _Open(self.heading or "", parts[1], texts[1])
            self.current.chain = parts[1]
            self.add_steps(parts[2:], texts[2:], case, line[1:] if isinstance(line, list) else line,
                           restates=False, lemma=None)
            return
        if first is None:
            if self.current is None:
                self.findings.append(Finding("structure", f"line {formula[0].line}: a formula beginning with '=' "
                                             "but nothing before it to continue; not checked"))
                return
            self.add_steps(parts[1:], texts[1:], case, line, restates=False, lemma=None)
            return
        if self.current is not None and not self.fresh:
            restated = self.restates(first, case)
            if restated and any(symbol in p.free_symbols | _bound(p) for p in parts[1:] if p is not None
                                for symbol in restated.values()):
                restated = None  # renaming i to j would capture a j the formula already uses: a new derivation
            if restated is not None:
                self.add_steps([_rename(p, restated) for p in parts[1:]], self.joined(texts), case, line,
                               restates=True, lemma=None)
                return
            if not self.begins_new(first):
                self.add_steps(parts[1:], self.joined(texts), case, line, restates=False, lemma=first)
                return
        self.close()
        if self.case is not None and not {self.case.left, self.case.right} <= set(
                free_indices(*[p for p in parts if p is not None])):
            if case == self.case:  # a derivation about other indices: the case split is over
                case = None
            self.case = None
        self.fresh = False
        self.current = _Open(self.heading or "", first, texts[0])
        if isinstance(first, sp.Derivative):
            self.last_derivative = first
        self.current.chain = first
        self.add_steps(parts[1:], self.joined(texts), case, line, restates=True, lemma=None)

    def column_index(self) -> sp.Symbol:
        """The index a matrix formula's columns are read at: an index of the document other than the rows'."""
        row = self.names.vector_index
        for letter in ("i", "k", "j", "l", "m", "c"):
            symbol = self.names.indices.get(letter)
            if symbol is not None and symbol != row:
                return symbol
        return next((s for s in self.names.indices.values() if s != row and s.name != "gamma"), index("c"))

    def letter(self, symbol) -> str:
        """How the document writes an index."""
        return next((key for key, value in self.names.indices.items() if value == symbol), str(symbol))

    @staticmethod
    def joined(texts: list[str]) -> list[str]:
        """The LaTeX of each step, the first carrying the formula's left side as the author wrote it."""
        out = list(texts[1:])
        if out:
            out[0] = f"{texts[0]} {out[0]}"
        return out

    def restates(self, expr, case: Case | None) -> dict | None:
        """{} when expr is the current start (or it under the case), a renaming for its vector form, else None."""
        start = rebuild(self.current.start)
        expr = rebuild(expr)
        if expr == start:
            return {}
        if case is not None and case.equal and expr == start.xreplace({case.left: case.right}):
            return {}
        mine, theirs = free_indices(expr), free_indices(start)
        if len(mine) == len(theirs) == 1 and expr.xreplace({mine[0]: theirs[0]}) == start:
            return {mine[0]: theirs[0]}
        return None

    def begins_new(self, expr) -> bool:
        """A derivative of something with respect to the logits, or a layer's variable (read by the chain
        rule, so no longer a Derivative), that is not the current start begins anew."""
        if self.first_through_layer:
            return True
        if not isinstance(expr, sp.Derivative):
            return False
        variables = [v for v, _ in expr.variable_count]
        return all(isinstance(v, sp.Indexed) and v.base == z for v in variables)

    def add_steps(self, exprs, texts, case, line, restates, lemma) -> None:
        current = self.current
        lines = line if isinstance(line, list) else [line] * len(exprs)
        for n, (expr, latex) in enumerate(zip(exprs, texts)):
            current.steps.append(Step(expr, latex, "none", case=case, lhs=lemma, restates=restates and n == 0,
                                      line=lines[n]))
            if lemma is not None:
                lemma = expr
        if lemma is None and exprs:
            current.chain = exprs[-1]

    # -- the end ----------------------------------------------------------------------------------
    def close(self) -> None:
        if self.current is not None and self.current.steps:
            self.done.append(self.current)
        self.current = None

    def finish(self, digest: str) -> Document:
        self.close()
        document = Document(self.path, errors=self.errors, notation=dict(self.display_names))
        stem = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(self.path).stem)[:40] or "document"
        findings = list(self.findings) + files.scope_findings(self.names)
        if self.names.unranged_sums:
            where = ", ".join(sorted({str(line) for line, _, _ in self.names.unranged_sums}, key=int))
            findings.append(Finding("range", f"sums written without a range or a lower limit (lines {where}) are "
                                    f"read as running over $1, \\dots, {self.display_names['K']}$"))
        owners = self.owners(findings)
        for number, opened in enumerate(self.done, start=1):
            name = f"{stem}-{number}" if len(self.done) > 1 else stem
            chain = [s for s in opened.steps if s.lhs is None]
            result = chain[-1].expr if chain else opened.start
            last = re.sub(r"^.*?(?<![<>!\\])=\s*", "", chain[-1].latex, count=1) if chain else opened.start_latex
            split = self.case_result(chain)
            if split is not None:
                result, last = split
            derivation = Derivation(
                name=name if name[:1].isalpha() else "d_" + name,
                title=(opened.title or f"${opened.start_latex}$")[:300],
                start=opened.start, start_latex=opened.start_latex, steps=tuple(opened.steps), result=result,
                result_latex=f"{opened.start_latex} = {last}", assumptions=tuple(self.stated),
                findings=tuple(f for f, owner in zip(findings, owners) if owner == number - 1),
                source=self.path, names=self.display_names, path=self.path,
                definitions=tuple(self.definitions) if number == 1 else (), digest=digest)
            extra = files._scope_findings(derivation)
            if extra:
                derivation = dataclasses.replace(derivation, findings=derivation.findings + tuple(extra))
            document.derivations.append(derivation)
        return document

    def case_result(self, chain) -> tuple | None:
        """A derivation that ends in two cases (i = j, then i != j) and never combines them claims both:
        its result is the two ends as a case split."""
        ends: dict = {}
        for step in reversed(chain):
            if step.case is None:
                break
            ends.setdefault(step.case, step)
        if len(ends) != 2:
            return None
        first, second = ends
        if {first.equal, second.equal} != {True, False} or {first.left, first.right} != {second.left, second.right}:
            return None
        equal, unequal = (first, second) if first.equal else (second, first)
        left, right = self.letter(equal.left), self.letter(equal.right)

        def written(step):
            return re.sub(r"^.*?(?<![<>!\\])=\s*", "", step.latex, count=1)
        result = sp.Piecewise((ends[equal].expr, sp.Eq(equal.left, equal.right)), (ends[unequal].expr, True))
        latex = (f"\\begin{{cases}} {written(ends[equal])} & {left} = {right} \\\\ "
                 f"{written(ends[unequal])} & {left} \\neq {right} \\end{{cases}}")
        return result, latex

    def owners(self, findings) -> list[int]:
        """For each finding, the derivation it belongs with: the one whose lines hold its line, else the first."""
        spans = [(min(s.line for s in o.steps), max(s.line for s in o.steps)) for o in self.done]
        out = []
        for finding in findings:
            owner = 0
            if finding.line:
                for n, (first, last) in enumerate(spans):
                    if first <= finding.line:
                        owner = n
                    if first <= finding.line <= last:
                        break
            out.append(owner)
        return out


def _span(fragment, tokens: list[Token]) -> tuple[str, int, int]:
    """The source text of a formula (a run of a fragment's tokens), with its line and column."""
    lines = fragment.text.split("\n")

    def offset(tok):
        row = tok.line - fragment.line
        col = tok.column - (fragment.column if row == 0 else 1)
        return sum(len(x) + 1 for x in lines[:row]) + col

    first, last = tokens[0], tokens[-1]
    return fragment.text[offset(first):offset(last) + len(last.text)], first.line, first.column


def _case_of(tokens: list[Token], names: Names) -> Case | None:
    """'j = k', 'i \\neq j' between two indices of the derivation: a case marker."""
    if len(tokens) != 3 or tokens[1].text not in ("=", r"\neq", r"\ne"):
        return None
    left, right = names.indices.get(tokens[0].text), names.indices.get(tokens[2].text)
    if left is None or right is None or left == right:
        return None
    return Case(left, right, tokens[1].text == "=")


def _numeric_example(tokens: list[Token]) -> bool:
    """o = \\boxed{2}\\boxed{3}\\boxed{4}, L = -log(0.245) = 1.406: an example with numbers, not a claim."""
    texts = [t.text for t in tokens]
    if any(t.kind == "num" and "." in t.text for t in tokens) and "_" not in texts:
        return True
    if r"\boxed" in texts and any(t.kind == "num" and "." in t.text for t in tokens):
        return True
    return r"\boxed" in texts and all(t.kind in ("num", "char") or t.text in (r"\boxed", "{", "}", "=", "-")
                                      or t.kind == "letter" for t in tokens) and \
        sum(t.text == r"\boxed" for t in tokens) >= 2


def _probability_finding(text: str, line: int) -> Finding:
    joint = re.search(r"P\s*\\?(?:left)?\(\s*[a-zA-Z]\s*=\s*[a-zA-Z]\s*,", text)
    if joint:
        return Finding("notation", f"line {line} writes a probability $P(l = k, x)$, a joint probability, where the "
                       "conditional $P(l = k \\mid x)$ is meant; statements about probabilities are not checked",
                       line=line)
    return Finding("notation", f"line {line} is a statement about probabilities ({text.strip()[:60]}); not checked",
                   line=line)


def _rename(expr, renaming: dict):
    return expr.xreplace(renaming) if renaming else expr

