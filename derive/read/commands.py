"""The reader's rules for commands: fractions and derivatives, functions, vectors, indicators, cases.

A mixin of the Parser (latex.py): these methods read at the cursor and call
back into the grammar (expression, term, factor) for what stands inside.
"""

from __future__ import annotations

import sympy as sp

from . import layer
from .matrices import MATRIX_ENVIRONMENTS
from .tokens import Token

_FUNCTIONS = {r"\ln": sp.log, r"\log": sp.log, r"\exp": sp.exp}
OPEN = {"(": ")", "[": "]", r"\{": r"\}", r"\lbrack": r"\rbrack", r"\llbracket": r"\rrbracket", r"\langle": r"\rangle",
        "|": "|",
        r"\lvert": r"\rvert", r"\vert": r"\vert"}
#: delimiters whose content is an absolute value, not a parenthesised expression
ABSOLUTE = {"|", r"\lvert", r"\vert"}


class CommandRules:
    def command(self) -> sp.Expr:
        tok = self.tok
        text = tok.text
        if text == r"\frac" or text == r"\dfrac" or text == r"\tfrac":
            return self.fraction()
        if text in _FUNCTIONS:
            self.advance()
            fn = _FUNCTIONS[text]
            if self.at("^"):
                raise self.error(f"powers of {text} are not supported; write ({text} x)^n")
            return fn(self.function_argument(text))
        if text in (r"\boxed", r"\vec", r"\mathbf", r"\bm", r"\boldsymbol"):
            self.advance()
            if text != r"\boxed" and self._ones_vector():
                return sp.Integer(1)  # \mathbf 1: the vector of ones, read entrywise
            if text == r"\mathbf" and self.at("{") and self.peek().text == "1":
                return self.indicator_after_command()
            if text == r"\vec" or text in (r"\mathbf", r"\bm", r"\boldsymbol"):
                return self.vector()
            self.expect("{")
            value = self.expression()
            self.expect("}")
            return value
        if text == r"\mathbb":
            self.advance()
            return self.indicator_after_command()
        if text == r"\delta":
            self.advance()
            self.expect("_")
            indices = self.subscript_indices()
            if len(indices) != 2:
                raise self.error(f"a Kronecker delta takes two indices, got {len(indices)}", tok)
            return sp.KroneckerDelta(*indices)
        if text == r"\begin":
            return self.environment()
        if text == r"\partial":
            return self.partial_operator()
        if text == r"\nabla":
            return self.gradient()
        if text in self.names.indexed or text in self.names.abbreviations:
            self.advance()
            return self.subscripted(tok)
        if text in self.names.scalars or text in self.names.indices:
            self.advance()
            return self.name(tok)
        if text in (r"\dots", r"\cdots", r"\ldots"):
            raise self.error(r"'\dots' may only stand between '+' signs, as in e^{z_1} + \dots + e^{z_K}")
        if text in OPEN:
            return self.group()
        raise self.error(f"unknown command '{text}'")

    # -- commands -----------------------------------------------------------------

    def function_argument(self, name: str) -> sp.Expr:
        """The argument of \\ln, \\log or \\exp.

        Parenthesised (``\\ln(x)``, ``\\ln\\left(x\\right)``, ``\\ln{x}``), a
        fraction, a sum (which extends over the product after it), or else the
        product of plain factors that follows: ``\\ln x y`` is ln(xy), as most
        readers and SymPy's own parser take it.  A fraction, parenthesis or
        function written right after such an unparenthesised argument could be
        inside the logarithm or outside it: that is refused, not guessed.
        """
        self.skip_sizing()
        if self.at("(", "[", "{", r"\{"):
            return self.group()
        if self.at(r"\sum"):
            return self.factor()
        if self.at(r"\frac", r"\dfrac", r"\tfrac"):
            value = self.fraction()
        else:
            value = self.factor()
            while self._starts_plain_factor():
                value = value * self.factor()
        if self.starts_factor() or self.at(r"\left"):
            raise self.error(f"unclear whether '{self.tok.text}' belongs inside {name}: write "
                             f"{name}\\left(...\\right) around the whole argument, or put a \\cdot before what "
                             "is outside it")
        return value

    def _starts_plain_factor(self) -> bool:
        """A letter, a number or a declared name: what may follow inside an unparenthesised argument."""
        tok = self.tok
        if tok.kind in ("letter", "num"):
            return True
        return tok.kind == "cmd" and (tok.text in self.names.indexed or tok.text in self.names.scalars
                                      or tok.text in self.names.indices or tok.text in self.names.abbreviations)

    def fraction(self) -> sp.Expr:
        self.advance()
        if self.at("{") and (self.peek().text == r"\partial" or self.peek().text == "-"
                             and self.peek(2).text == r"\partial"):
            return self.partial()
        if self.at("{") and self.peek().text == "d" and "d" not in self.names.scalars and self._is_leibniz():
            return self.partial(marker="d")
        numerator = self.fraction_argument()
        denominator = self.fraction_argument()
        return numerator / denominator

    def fraction_argument(self) -> sp.Expr:
        """An argument of \\frac: braced, or one token as TeX takes it (\\frac12 is 1/2, one digit each)."""
        tok = self.tok
        if tok.kind == "num" and len(tok.text) > 1:
            rest = tok.text[1:]
            self.tokens[self.pos] = Token("num" if rest[0].isdigit() else "char", rest, tok.line, tok.column + 1)
            return sp.Integer(int(tok.text[0]))
        return self.script()

    def _one_token_number(self, tok: Token) -> None:
        """An unbraced script is one token to TeX, and a number token is one digit: refuse '^12'."""
        if len(tok.text) > 1:
            raise self.error(f"TeX reads the unbraced '{tok.text}' here as '{tok.text[0]}' followed by "
                             f"'{tok.text[1:]}'; write {{{tok.text}}} if that is what is meant", tok)

    def _is_leibniz(self) -> bool:
        """{d ...}{d x}: the denominator of the fraction starts with d too."""
        depth, n = 0, self.pos
        while n < len(self.tokens):
            text = self.tokens[n].text
            depth += text == "{"
            depth -= text == "}"
            n += 1
            if depth == 0:
                return self.tokens[n].text == "{" and self.tokens[min(n + 1, len(self.tokens) - 1)].text == "d"
        return False

    def partial(self, marker: str = r"\partial") -> sp.Expr:
        """\\frac{\\partial f}{\\partial x} or \\frac{\\partial}{\\partial x} <factor> (also with d).

        Also as people write it: a sign before the \\partial (\\frac{- \\partial f}{\\partial x}),
        and \\frac{\\partial}{x} without the \\partial below (recorded as a finding).
        """
        self.expect("{")
        sign = 1
        if self.at("-") and self.peek().text == marker:
            self.advance()
            sign = -1
        self.expect(marker)
        body = None
        if not self.at("}"):
            body = self.term()
        self.expect("}")
        self.expect("{")
        start = self.tok
        if self.at(marker):
            self.advance()
        else:
            self.names.notes.append((start.line, start.column,
                                     f"the derivative's denominator lacks ${marker}$: read as ${marker} {start.text}$"))
        variable = self.derivative_variable()
        self.expect("}")
        if not (isinstance(variable, sp.Indexed)):
            raise self.error("a derivative is taken with respect to an indexed name such as z_j", start)
        if body is None:
            self.skip_sizing()
            if not self.starts_factor() and not self.at(r"\left"):
                raise self.error(r"expected what to differentiate after \frac{\partial}{\partial ...}")
            body = self.factor()
        return sign * self.derivative_of(body, variable)

    def partial_operator(self) -> sp.Expr:
        """\\partial_{o_j} f (the derivative as an operator) and \\partial f / \\partial x (written inline)."""
        start = self.advance()
        if self.at("_"):
            self.advance()
            variable = self.derivative_variable() if not self.at("{") else self.braced_variable()
            return self.derivative_of(self.factor(), self._variable_or_error(variable, start))
        body = self.factor()
        self.skip_sizing()
        if not self.at("/"):
            raise self.error(r"a '\partial' outside a fraction is written \partial f / \partial x or "
                             r"\partial_{x} f", start)
        self.advance()
        self.expect(r"\partial")
        variable = self.factor()
        return self.derivative_of(body, self._variable_or_error(variable, start))

    def gradient(self) -> sp.Expr:
        """\\nabla_{\\mathbf z} L: the gradient, read entrywise as \\partial L / \\partial z at the vector index."""
        start = self.advance()
        self.expect("_")
        variable = self.braced_variable() if self.at("{") else self.derivative_variable()
        return self.derivative_of(self.factor(), self._variable_or_error(variable, start))

    def derivative_of(self, body: sp.Expr, variable) -> sp.Expr:
        """d body / d variable; through a linear layer by the chain rule (layer.py)."""
        if layer.is_layer_variable(variable) and not self.parts_so_far:
            self.first_through_layer = True
        return layer.derivative(body, variable, self.names.layer)

    def braced_variable(self) -> sp.Expr:
        self.expect("{")
        variable = self.derivative_variable()
        self.expect("}")
        return variable

    def derivative_variable(self) -> sp.Expr:
        """The variable below a \\partial.  Written as a vector (\\mathbf z, or a bare z), the derivative is read
        entrywise, and so is the rest of the formula: dL/do = p - y is dL/do_r = p_r - y_r."""
        saved, entry = self.vector_context, self.names.vector_index
        if entry is None:
            return self.term()
        marker = sp.Dummy("entry", integer=True, positive=True)  # tells z written bare from z_j written out
        self.names.vector_index, self.vector_context = marker, True
        try:
            variable = self.term()
        finally:
            self.names.vector_index = entry
        written_as_vector = isinstance(variable, sp.Indexed) and variable.indices == (marker,)
        self.vector_context = True if written_as_vector else saved
        # d S / d a, both vectors, in a matrix formula: the Jacobian, entry (r, c) = d S_r / d a_c
        column = self.names.column_index if written_as_vector and self.names.column_index is not None else entry
        return variable.xreplace({marker: column})

    def script_term(self) -> sp.Expr:
        if self.at("{"):
            self.advance()
            value = self.term()
            self.expect("}")
            return value
        return self.primary()

    def _variable_or_error(self, variable, start):
        if not isinstance(variable, sp.Indexed):
            raise self.error("a derivative is taken with respect to an indexed name such as z_j", start)
        return variable

    def vector(self) -> sp.Expr:
        self.expect("{")
        tok = self.advance()
        self.expect("}")
        if self.names.vector_index is None:
            raise self.error(r"\vec{...} needs 'vector index:' in the header (the component it stands for)", tok)
        if tok.text not in self.names.indexed:
            raise self.error(f"'{tok.text}' is not an indexed name", tok)
        return self.names.indexed[tok.text][self.names.vector_index]

    def _ones_vector(self) -> bool:
        """\\mathbf 1 or \\mathbf{1} not followed by a condition: the vector of ones (consumed)."""
        if self.at("1"):
            after = 1
        elif self.at("{") and self.peek().text == "1" and self.peek(2).text == "}":
            after = 3
        else:
            return False
        if self.peek(after).text in ("(", "[", "_", r"\{", r"\left") or self.names.vector_index is None:
            return False
        self.pos += after
        return True

    def indicator_after_command(self) -> sp.Expr:
        self.expect("{")
        self.expect("1")
        self.expect("}")
        if self.at("_"):
            self.advance()
            self.expect("{")
            value = self.condition_value()
            self.expect("}")
            return value
        return self.indicator()

    def indicator(self) -> sp.Expr:
        opener = self.advance().text
        closer = OPEN.get(opener, "}")
        value = self.condition_value()
        self.expect(closer)
        return value

    def relation(self, where: str) -> tuple:
        """index = index or index \\neq index: (left, right, equal)."""
        left = self.index_value(self.advance())
        rel = self.advance()
        right = self.index_value(self.advance())
        if rel.text not in ("=", r"\neq", r"\ne"):
            raise self.error(f"expected '=' or '\\neq' in {where}, found '{rel.text}'", rel)
        return left, right, rel.text == "="

    def condition_value(self) -> sp.Expr:
        left, right, equal = self.relation("an indicator")
        delta = sp.KroneckerDelta(left, right)
        return delta if equal else 1 - delta

    def environment(self) -> sp.Expr:
        begin = self.advance()
        name = self.braced_word()
        if name in MATRIX_ENVIRONMENTS:
            return self.matrix_literal(name, begin)
        if name != "cases":
            raise self.error(f"only 'cases' and matrix environments can stand inside an expression, found '{name}'")
        return self.cases()

    def cases(self) -> sp.Expr:
        pieces = []
        while True:
            value = self.expression()
            self.expect("&")
            if self.tok.kind == "letter" and "".join(t.text for t in self.tokens[self.pos:self.pos + 2]) == "if":
                self.advance()  # "& if & i = j": the word typed as letters, between ampersands
                self.advance()
                if self.at("&"):
                    self.advance()
            condition = self.condition()
            pieces.append((value, condition))
            if self.at(r"\\"):
                self.advance()
                if self.at(r"\end"):
                    break
                continue
            break
        end = self.expect(r"\end")
        if self.braced_word() != "cases":
            raise self.error("this '\\end' must end the 'cases' begun before it", end)
        return sp.Piecewise(*pieces)

    def condition(self):
        if self.at(r"\text"):
            self.advance()
            words = self.braced_word().strip()
            if words in ("otherwise", "else", "sonst"):
                return sp.true
            if words not in ("if", "for", "when"):
                raise self.error(f"expected \\text{{if }} or \\text{{otherwise}}, found \\text{{{words}}}")
        left, right, equal = self.relation("a case condition")
        return sp.Eq(left, right) if equal else sp.Ne(left, right)

    def _looks_like_indicator(self) -> bool:
        depth, n = 0, self.pos
        while n < len(self.tokens):
            text = self.tokens[n].text
            if text in ("(", "["):
                depth += 1
            elif text in (")", "]"):
                depth -= 1
                if depth == 0:
                    return False
            elif text in ("=", r"\neq", r"\ne") and depth == 1:
                return True
            n += 1
        return False
