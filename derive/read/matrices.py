"""Vectors and matrices, read entry by entry.

A checker of scalar equations can still check ``\\partial \\mathbf S / \\partial \\mathbf a =
\\mathrm{diag}(\\mathbf S) - \\mathbf S \\mathbf S^T``: every side is read at one entry (r, c),
with r the formula's vector index and c its column index, both free indices of the
statement.  So ``\\mathbf S`` is S_r, a transposed ``\\mathbf S^T`` is S_c, ``\\mathrm{diag}(\\mathbf S)``
is delta_rc S_r, a bare identity ``I`` is delta_rc, and a matrix written out
(``\\begin{bmatrix} ... \\end{bmatrix}``, with ``\\vdots``, ``\\cdots``, ``\\ddots`` or not) is
the pattern its entries follow: the diagonal from entry (1, 1), the rest from
entry (1, 2), checked against every entry written.  The document reader says
in a finding which index meaning it used.

A mixin of the Parser (latex.py), like the other rule modules.
"""

from __future__ import annotations

import sympy as sp

from ..notation import K
from .keys import read_key

#: environments that write a vector or a matrix
MATRIX_ENVIRONMENTS = {"matrix", "bmatrix", "pmatrix", "Bmatrix", "vmatrix", "Vmatrix", "smallmatrix", "array"}
#: what stands for the entries left out
ELLIPSES = {r"\vdots", r"\cdots", r"\ddots", r"\dots", r"\ldots", r"\iddots", "..."}
#: superscripts that transpose
TRANSPOSES = {"T", r"\top", r"\intercal", r"\mathsf", r"\mathrm", r"\text"}

_GAP = object()  # an ellipsis cell


class MatrixRules:
    def transposed(self) -> bool:
        """Consume ^T, ^{T}, ^\\top, ^{\\top}, ^\\intercal, ^\\mathsf{T} after a vector; True when there was one."""
        if not self.at("^"):
            return False
        n = self.pos + 1
        texts = [t.text for t in self.tokens[n:n + 5]]
        if texts[:1] in (["T"], [r"\top"], [r"\intercal"]):
            self.pos = n + 1
            return True
        if texts[:1] == ["{"] and texts[1:3] in (["T", "}"], [r"\top", "}"], [r"\intercal", "}"]):
            self.pos = n + 3
            return True
        if texts[:1] in ([r"\mathsf"], [r"\mathrm"], [r"\text"]) and texts[1:4] == ["{", "T", "}"]:
            self.pos = n + 4
            return True
        return False

    def column_entry(self):
        """The entry a transposed vector stands for: the column index in a matrix formula, else the vector's."""
        return self.names.column_index if self.names.column_index is not None else self.names.vector_index

    def diagonal(self, tok) -> sp.Expr:
        """diag(x): x on the diagonal, entry (r, c) = delta_rc x_r."""
        if self.names.column_index is None or self.names.vector_index is None:
            raise self.error("diag(...) is a matrix; it can only stand in a formula read entry by entry "
                             "(a matrix equation)", tok)
        saved = self.vector_context
        self.vector_context = True
        try:
            inside = self.function_argument("diag")
        finally:
            self.vector_context = saved
        return sp.KroneckerDelta(self.names.vector_index, self.names.column_index) * inside

    def jacobian(self, tok) -> sp.Expr:
        """J_{\\mathbf x}(\\mathbf s) (or J_{\\mathbf s}(\\mathbf x)): the Jacobian of the probabilities with
        respect to the logits, whichever order the author writes them in; entry (r, c) = ds_r / dx_c."""
        from ..notation import d, y as probabilities, z as logits

        if self.names.column_index is None or self.names.vector_index is None:
            raise self.error("a Jacobian J is a matrix; it can only stand in a formula read entry by entry", tok)
        self.expect("_")
        below = self._jacobian_vector()
        self.skip_sizing()
        if not self.at("("):
            raise self.error("write the Jacobian as J_{x}(s): with respect to x, of s", tok)
        self.advance()
        inside = self._jacobian_vector()
        self.skip_sizing()
        self.expect(")")
        if {below, inside} != {logits, probabilities}:
            raise self.error("a Jacobian J_{x}(s) here relates the logits and the probabilities", tok)
        r, c = self.names.vector_index, self.names.column_index
        return d(probabilities[r], logits[c])

    def _jacobian_vector(self):
        braced = self.at("{")
        if braced:
            self.advance()
        key = read_key(self.tokens, self.pos, self.names.words)
        if key is None:
            raise self.error("expected a vector such as \\mathbf x")
        self.pos = key.end
        if braced:
            self.expect("}")
        if key.text in self.names.functions:
            return self.names.functions[key.text]
        if key.text in self.names.indexed:
            return self.names.indexed[key.text]
        raise self.error(f"'{key.text}' is not a vector of this derivation")

    def identity_matrix(self) -> sp.Expr:
        return sp.KroneckerDelta(self.names.vector_index, self.names.column_index)

    def matrix_literal(self, name: str, begin) -> sp.Expr:
        """The rows and cells of a matrix environment, as the pattern its entries follow."""
        if name == "array" and self.at("{"):
            self.braced_word()  # the column specification {ccc}
        rows: list[list] = [[]]
        while True:
            if self.tok.kind == "end":
                raise self.error(f"\\begin{{{name}}} is never ended", begin)
            if self.at(r"\end"):
                break
            if self.tok.text in ELLIPSES:
                self.advance()
                rows[-1].append(_GAP)
            elif [t.text for t in self.tokens[self.pos:self.pos + 3]] == [".", ".", "."]:
                self.pos += 3  # ... typed as full stops
                rows[-1].append(_GAP)
            elif self.at("&") or self.at(r"\\"):
                rows[-1].append(None)  # an empty cell
            else:
                rows[-1].append(self.expression())
            self.skip_sizing()
            if self.at("&"):
                self.advance()
                continue
            if self.at(r"\\"):
                self.advance()
                if not self.at(r"\end"):
                    rows.append([])
                continue
            if not self.at(r"\end"):
                raise self.error(f"expected '&', '\\\\' or '\\end{{{name}}}' in the {name}, found '{self.tok.text}'")
        end = self.expect(r"\end")
        if self.braced_word() != name:
            raise self.error(f"this '\\end' must end the '{name}' begun before it", end)
        rows = [[cell for cell in row if cell is not None] for row in rows]
        rows = [row for row in rows if row]
        if not rows:
            raise self.error(f"an empty {name}", begin)
        return self._pattern(rows, begin)

    def _pattern(self, rows: list[list], begin) -> sp.Expr:
        width = max(len(row) for row in rows)
        r, c = self.names.vector_index, self.names.column_index
        if width == 1 or len(rows) == 1:  # a column or a row vector: entry r
            cells = [row[0] for row in rows] if width == 1 else rows[0]
            if r is None:
                raise self.error("a vector written out can only stand in a formula read entry by entry", begin)
            base = _base(cells[0])
            labels = _labels(cells, base)
            first = _first_explicit(cells, labels, base)
            if first is None:
                raise self.error("a vector written out needs its first entry", begin)
            template = _generalize(first, {base: r})
            return self._with_exceptions(
                template, [(labels[n], None, cell) for n, cell in enumerate(cells) if cell is not _GAP], begin)
        if r is None or c is None:
            raise self.error("a matrix written out can only stand in a formula read entry by entry", begin)
        if any(len(row) != width for row in rows):
            raise self.error("the rows of this matrix have different numbers of entries", begin)
        base = _base(rows[0][0])
        row_labels = _labels([_GAP if all(cell is _GAP for cell in row) else 0 for row in rows], base)
        column_labels = _labels([_GAP if all(row[n] is _GAP for row in rows) else 0 for n in range(width)], base)
        cells = [(row_labels[a], column_labels[b], rows[a][b], a == b) for a in range(len(rows)) for b in range(width)
                 if rows[a][b] is not _GAP and row_labels[a] is not None and column_labels[b] is not None]
        by_position = {(a, b): cell for a, b, cell, _ in cells}
        if (base, base) not in by_position or (base, base + 1) not in by_position:
            raise self.error("a matrix written out needs its first two entries to show the pattern", begin)
        if base == 0:
            self.names.notes.append((begin.line, begin.column, "the matrix numbers its entries from $0$; entry "
                                     "$(r, c)$ is read with the derivation's indices for the 0-based $r$ and $c$"))
        diagonal = _generalize(by_position[(base, base)], {base: r})
        off = _generalize(by_position[(base, base + 1)], {base: r, base + 1: c})
        template = off if _same(off.xreplace({c: r}), diagonal) else \
            sp.KroneckerDelta(r, c) * diagonal + (1 - sp.KroneckerDelta(r, c)) * off
        return self._with_exceptions(template, cells, begin, diagonal, off)

    def _with_exceptions(self, template, cells, begin, diagonal=None, off=None) -> sp.Expr:
        """The template, with each written entry that does not follow it put in as written (an author's
        slip in one entry is then refuted at that entry, not hidden by the pattern).  An entry is compared
        with the diagonal or the off-diagonal pattern by where it is written, not by its labels' values."""
        r, c = self.names.vector_index, self.names.column_index
        out = template
        for row, column, cell, *where in cells:
            values = {r: row} if column is None else {r: row, c: column}
            if where and diagonal is not None:
                expected = (diagonal if where[0] else off).xreplace(values)
            else:
                expected = template.xreplace(values)
            if _same(expected, cell):
                continue
            where = f"{row}" if column is None else f"({row}, {column})"
            self.names.notes.append((begin.line, begin.column, f"entry ${where}$ of the matrix does not follow the "
                                     "pattern of the first entries; it is read as written"))
            at = sp.KroneckerDelta(r, row) if column is None else \
                sp.KroneckerDelta(r, row) * sp.KroneckerDelta(c, column)
            out = out + at * (cell - expected)
        return out


def _labels(cells: list, base: int = 1) -> list:
    """The index of each row (or column): 1, 2, ... up to a gap, then ..., K-1, K after it; a gap has None.
    With base 0 (entries s_0, s_1, ..., s_n), the first is 0."""
    if _GAP not in cells:
        return list(range(base, len(cells) + base))
    gap = cells.index(_GAP)
    after = len(cells) - gap - 1
    out = list(range(base, gap + base)) + [None]
    out += [K - (after - 1 - n) for n in range(after)]
    return out


def _base(cell) -> int:
    """0 when the first entry is written with index 0 (s_0), else 1."""
    if cell is _GAP or not isinstance(cell, sp.Basic):
        return 1
    numbers = [i for e in cell.atoms(sp.Indexed) for i in e.indices if i.is_Integer]
    return 0 if numbers and min(numbers) == 0 else 1


def _first_explicit(cells, labels, label):
    for cell, value in zip(cells, labels):
        if value == label and cell is not _GAP:
            return cell
    return None


def _generalize(expr: sp.Expr, mapping: dict) -> sp.Expr:
    """expr with the entry numbers in its subscripts replaced by index symbols: S_1 S_2 -> S_r S_c."""
    def index(value):
        return mapping.get(int(value), value) if value.is_Integer else value

    return expr.replace(lambda e: isinstance(e, sp.Indexed),
                        lambda e: e.base[tuple(index(i) for i in e.indices)])


def _same(a, b) -> bool:
    try:
        return sp.expand(a - b) == 0
    except (TypeError, ValueError):
        return a == b


def is_matrix_formula(tokens) -> bool:
    """Whether a formula is a matrix equation: a matrix written out, diag(...), a transposed vector, or the
    derivative of a vector by a vector (the Jacobian)."""
    texts = [t.text for t in tokens]
    for n, text in enumerate(texts):
        if text == r"\begin" and n + 1 < len(texts):
            name = _environment_name(texts, n + 1)
            if name in MATRIX_ENVIRONMENTS and _has_columns(texts, n):
                return True
        key = read_key(tokens, n, {"diag"}) if tokens[n].kind in ("letter", "cmd") else None
        if key is None:
            continue
        if key.text == "diag" or key.text == "J" and key.end < len(texts) and texts[key.end] == "_":
            return True
        if key.vector and key.end + 1 < len(texts) and texts[key.end] == "^" and (
                texts[key.end + 1] in (r"T", r"\top", r"\intercal") or texts[key.end + 1:key.end + 3] in
                (["{", "T"], ["{", r"\top"])):
            return True
        if key.vector and n >= 1 and texts[n - 1] == r"\partial" and _vector_below(tokens, n):
            return True
    return False


def _environment_name(texts, n) -> str:
    if n >= len(texts) or texts[n] != "{":
        return ""
    name = ""
    for text in texts[n + 1:]:
        if text == "}":
            return name
        name += text
    return ""


def _has_columns(texts, n) -> bool:
    """The environment starting at n has an '&' of its own: more than one column."""
    depth = 0
    for text in texts[n + 1:]:
        if text == r"\begin":
            depth += 1
        elif text == r"\end":
            if depth == 0:
                return False
            depth -= 1
        elif text == "&" and depth == 0:
            return True
    return False


def _vector_below(tokens, n) -> bool:
    """The vector at n (after \\partial, in a numerator) is divided by \\partial of another vector."""
    for m in range(n + 1, min(n + 12, len(tokens) - 1)):
        if tokens[m].text == r"\partial":
            key = read_key(tokens, m + 1, set())
            return key is not None and key.vector
    return False
