"""A recursive-descent parser for the LaTeX math of hand derivations -> SymPy expressions.

It reads what the notes write: ``\\frac``, ``\\sum`` in all its forms
(``\\sum_{k=1}^K``, ``\\sum_k^K``, ``\\sum_k``), subscripts as indices
(``z_k``, ``t_{j}``, ``\\delta_{jk}``), ``e^{...}`` and ``\\exp``, ``\\ln`` and
``\\log``, partial derivatives (``\\frac{\\partial E}{\\partial z_j}`` and
``\\frac{\\partial}{\\partial z_j}\\left(...\\right)``), ``\\left( \\right)`` and
other delimiters, ``\\cdot`` and juxtaposition, ``e^{z_1} + \\dots + e^{z_K}`` as
a sum, ``\\vec{}``, ``\\boxed{}``, ``cases``, ``\\text{}``, ``\\quad`` and
indicators ``\\mathbb{1}[a = b]``.  Expressions are built with SymPy's
constructors from tokens; the text is never ``eval``'d or ``sympify``'d.

Conventions (those of the notes): a ``\\sum`` extends over the product that
follows it, up to the next ``+`` or ``-`` at the same level; ``\\ln x y`` is
``\\ln(x) y``.  Every error is a :class:`ParseError` with the line and column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import sympy as sp

from ..errors import ParseError
from ..notation import K, d


@dataclass(frozen=True)
class Token:
    kind: str  # "cmd", "char", "num", "letter", "end"
    text: str
    line: int
    column: int


_TOKEN = re.compile(r"\\[A-Za-z]+|\\.|[0-9]+(?:\.[0-9]+)?|[A-Za-z]|\S")
_IGNORED = {r"\quad", r"\qquad", r"\,", r"\;", r"\:", r"\!", r"\displaystyle", r"\therefore", r"\nonumber",
            r"\limits", r"\relax"}
_SIZED = {r"\left", r"\right", r"\bigl", r"\bigr", r"\Bigl", r"\Bigr", r"\biggl", r"\biggr"}


def tokenize(text: str, line: int = 1, column: int = 1) -> list[Token]:
    """Tokens of a LaTeX math string; positions are 1-based and relative to the file."""
    tokens = []
    lines = text.split("\n")
    for row, content in enumerate(lines):
        base_col = column if row == 0 else 1
        for m in _TOKEN.finditer(content):
            tok = m.group(0)
            if tok == "%":  # a LaTeX comment ends the line
                break
            kind = ("cmd" if tok.startswith("\\") else "num" if tok[0].isdigit()
                    else "letter" if tok.isalpha() else "char")
            if tok in _IGNORED:
                continue
            tokens.append(Token(kind, tok, line + row, base_col + m.start()))
    last_line = line + len(lines) - 1
    last_col = (column if len(lines) == 1 else 1) + len(lines[-1])
    tokens.append(Token("end", "end of formula", last_line, last_col))
    return tokens


@dataclass
class Names:
    """What the letters of a derivation mean (built from its header)."""

    indexed: dict  # letter -> IndexedBase
    scalars: dict  # letter or \command -> Symbol (E, K, ...)
    indices: dict  # letter or \command -> index Symbol
    abbreviations: dict = field(default_factory=dict)  # bare letter -> expression (the notes' z = sum_j e^{z_j})
    vector_index: sp.Symbol | None = None  # what \vec{y} means: y_<vector_index>
    default_range: bool = True  # sums without limits run over 1..K
    unranged_sums: list = field(default_factory=list)  # positions of sums written without a range


_DOTS = sp.Symbol("__dots__")
_FUNCTIONS = {r"\ln": sp.log, r"\log": sp.log, r"\exp": sp.exp}
_OPEN = {"(": ")", "[": "]", r"\{": r"\}", r"\lbrack": r"\rbrack", r"\langle": r"\rangle", "|": "|",
         r"\lvert": r"\rvert", r"\vert": r"\vert"}
#: delimiters whose content is an absolute value, not a parenthesised expression
_ABSOLUTE = {"|", r"\lvert", r"\vert"}


class Parser:
    def __init__(self, text: str, names: Names, line: int = 1, column: int = 1, path: str = "<input>",
                 source_lines: list[str] | None = None):
        self.tokens = tokenize(text, line, column)
        self.pos = 0
        self.names = names
        self.path = path
        self.source_lines = source_lines or text.split("\n")
        self.first_line = line if source_lines is None else 1
        #: (first token, token after) of each part of the last chain, to cut out its LaTeX
        self.spans: list[tuple[Token, Token]] = []

    # -- token helpers --------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.tokens[self.pos]

    def peek(self, n=1) -> Token:
        return self.tokens[min(self.pos + n, len(self.tokens) - 1)]

    def advance(self) -> Token:
        tok = self.tok
        self.pos = min(self.pos + 1, len(self.tokens) - 1)
        return tok

    def error(self, message: str, tok: Token | None = None) -> ParseError:
        tok = tok or self.tok
        index = tok.line - self.first_line
        source = self.source_lines[index] if 0 <= index < len(self.source_lines) else ""
        return ParseError(message, tok.line, tok.column, source, self.path)

    def expect(self, text: str) -> Token:
        if self.tok.text != text:
            raise self.error(f"expected '{text}', found '{self.tok.text}'")
        return self.advance()

    def at(self, *texts) -> bool:
        return self.tok.text in texts

    def skip_sizing(self) -> None:
        while self.tok.text in _SIZED or self.tok.text in {r"\big", r"\Big", r"\bigg", r"\Bigg"}:
            self.advance()

    # -- entry points -----------------------------------------------------------
    def chain(self) -> list:
        """a = b = c (also &= and \\\\ line breaks of aligned): the list of expressions.

        A chain that starts with '=' continues the previous formula: its first entry is None.
        """
        begun = self.skip_environment_begin()
        parts = self._chain_parts()
        self.skip_environment_end(begun)
        if self.tok.kind != "end":
            raise self.error(f"unexpected '{self.tok.text}'; expected '=', '+', '-' or the end of the formula")
        return parts

    def _chain_parts(self) -> list:
        if self.at(r"\boxed"):  # a boxed result: the chain inside the box
            self.advance()
            self.expect("{")
            parts = self._chain_parts()
            self.expect("}")
            return parts
        parts = []
        while self.at("&"):
            self.advance()
        if self.at("="):
            parts.append(None)
            self.spans.append((self.tok, self.tok))
        else:
            start = self.tok
            parts.append(self.expression())
            self.spans.append((start, self.tok))
        while True:
            while self.at("&", r"\\"):
                self.advance()
            if self.at("="):
                start = self.advance()
                while self.at("&"):
                    self.advance()
                parts.append(self.expression())
                self.spans.append((start, self.tok))
                continue
            break
        return parts

    def skip_environment_begin(self) -> str | None:
        """An alignment environment around the chain: its name (None when there is none)."""
        if self.at(r"\begin"):
            self.advance()
            name = self.braced_word()
            if name not in ("aligned", "align", "align*", "equation", "equation*", "split", "gathered"):
                raise self.error(f"environment '{name}' cannot hold a derivation chain")
            return name
        return None

    def skip_environment_end(self, begun: str | None) -> None:
        if self.at(r"\end"):
            start = self.advance()
            name = self.braced_word()
            if name != begun:
                raise self.error(f"'\\end{{{name}}}' does not end " +
                                 (f"'\\begin{{{begun}}}'" if begun else "an environment begun here"), start)

    def braced_word(self) -> str:
        self.expect("{")
        word = ""
        while not self.at("}"):
            if self.tok.kind == "end":
                raise self.error("unclosed '{'")
            word += self.advance().text
        self.advance()
        return word

    # -- grammar ------------------------------------------------------------------
    def expression(self) -> sp.Expr:
        terms = []
        if self.at("+", "-"):
            sign = -1 if self.advance().text == "-" else 1
            terms.append(sign * self.term())
        else:
            terms.append(self.term())
        while self.at("+", "-"):
            sign = -1 if self.advance().text == "-" else 1
            if self.at(r"\dots", r"\cdots", r"\ldots"):
                self.advance()
                terms.append(_DOTS)
                continue
            terms.append(sign * self.term())
        return self._fold_dots(terms)

    def _fold_dots(self, terms):
        while _DOTS in terms:
            n = terms.index(_DOTS)
            if n == 0 or n == len(terms) - 1:
                raise self.error(r"'\dots' needs a first and a last term around it")
            first, last = terms[n - 1], terms[n + 1]
            summed = _as_sum(first, last, list(self.names.indices.values()))
            if summed is None:
                raise self.error(rf"cannot read '{first} + \dots + {last}' as a sum from 1 to K")
            terms[n - 1:n + 2] = [summed]
        return sp.Add(*terms)

    def term(self) -> sp.Expr:
        factors = [self.factor()]
        while True:
            if self.at(r"\cdot", r"\times"):
                self.advance()
                factors.append(self.factor())
            elif self.at("/"):
                self.advance()
                factors.append(1 / self.factor())
            elif self.starts_factor():
                factors.append(self.factor())
            else:
                break
        return sp.Mul(*factors)

    def starts_factor(self) -> bool:
        tok = self.tok
        if tok.kind in ("letter", "num"):
            return True
        if tok.kind == "cmd":
            return tok.text not in {r"\right", r"\end", r"\\", r"\cdot", r"\times", r"\neq", r"\ne", r"\text"} \
                and tok.text not in {r"\rbrack", r"\rangle", r"\}"}
        return tok.text in ("(", "[", "{")

    def factor(self) -> sp.Expr:
        if self.at("-"):
            self.advance()
            return -self.factor()
        if self.at(r"\sum"):
            return self.summation()
        base = self.primary()
        if self.at("^"):
            self.advance()
            exponent = self.script()
            if base == sp.E:
                return sp.exp(exponent)
            return sp.Pow(base, exponent)
        return base

    def script(self) -> sp.Expr:
        """A super- or subscript: {expr} or a single token."""
        if self.at("{"):
            self.advance()
            value = self.expression()
            self.expect("}")
            return value
        tok = self.tok
        if tok.kind == "num":
            self._one_token_number(tok)
            self.advance()
            return sp.Integer(int(tok.text))
        self.advance()
        return self.name(tok)

    def _one_token_number(self, tok: Token) -> None:
        """An unbraced script is one token to TeX, and a number token is one digit: refuse '^12'."""
        if len(tok.text) > 1:
            raise self.error(f"TeX reads the unbraced '{tok.text}' here as '{tok.text[0]}' followed by "
                             f"'{tok.text[1:]}'; write {{{tok.text}}} if that is what is meant", tok)

    def fraction_argument(self) -> sp.Expr:
        """An argument of \\frac: braced, or one token as TeX takes it (\\frac12 is 1/2, one digit each)."""
        tok = self.tok
        if tok.kind == "num" and len(tok.text) > 1:
            rest = tok.text[1:]
            self.tokens[self.pos] = Token("num" if rest[0].isdigit() else "char", rest, tok.line, tok.column + 1)
            return sp.Integer(int(tok.text[0]))
        return self.script()

    def summation(self) -> sp.Expr:
        start = self.advance()
        var, lower, upper, excluded = None, None, None, None
        if self.at("_"):
            self.advance()
            if self.at("{"):
                self.advance()
                var = self.index_symbol(self.advance())
                if self.at("="):
                    self.advance()
                    lower = self.expression()
                elif self.at(r"\neq", r"\ne"):  # \sum_{k \neq j}: over 1..K without j
                    self.advance()
                    excluded = self.index_value(self.advance())
                self.expect("}")
            else:
                var = self.index_symbol(self.advance())
        if self.at("^"):
            self.advance()
            upper = self.script()
        if var is None:
            raise self.error(r"a '\sum' needs its index, as in \sum_{k=1}^K or \sum_k", start)
        if lower is None or upper is None:
            if lower is None and upper is None and excluded is None:
                self.names.unranged_sums.append((start.line, start.column, str(var)))
            lower = 1 if lower is None else lower
            upper = K if upper is None else upper
        summand = self.term()
        if excluded is not None:
            summand = (1 - sp.KroneckerDelta(var, excluded)) * summand
        return sp.Sum(summand, (var, lower, upper))

    def primary(self) -> sp.Expr:
        self.skip_sizing()
        tok = self.tok
        if tok.kind == "num":
            self.advance()
            if tok.text == "1" and self.at("(", "[") and self._looks_like_indicator():
                return self.indicator()
            return sp.Integer(int(tok.text)) if tok.text.isdigit() else sp.Rational(tok.text)
        if tok.text == "{" and self.peek().kind == "letter" and self.peek(2).text == "}" and self.peek(3).text == "_":
            self.advance()  # SymPy writes {z}_{k}
            letter = self.advance()
            self.advance()
            return self.subscripted(letter)
        if tok.text in _OPEN or tok.text == "{":
            return self.group()
        if tok.kind == "letter":
            self.advance()
            return self.subscripted(tok)
        if tok.kind == "cmd":
            return self.command()
        raise self.error(f"unexpected '{tok.text}'; expected a number, a name, '(' or a command such as \\frac")

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

    def group(self) -> sp.Expr:
        opener = self.advance().text
        closer = "}" if opener == "{" else _OPEN[opener]
        value = self.expression()
        self.skip_sizing()
        if self.at(closer) or (opener == "(" and self.at(")")):
            self.advance()
            return sp.Abs(value) if opener in _ABSOLUTE else value
        raise self.error(f"expected '{closer}' to close '{opener}', found '{self.tok.text}'")

    def subscripted(self, tok: Token) -> sp.Expr:
        letter = tok.text
        if letter == "e" and letter not in self.names.indexed and self.at("^"):
            return sp.E
        if letter in self.names.indexed:
            if not self.at("_"):
                if letter in self.names.abbreviations:
                    return self.names.abbreviations[letter]
                raise self.error(f"'{letter}' is indexed; write {letter}_k (or define the bare letter with let:)", tok)
            self.advance()
            index = self.subscript_indices()
            if len(index) != 1:
                raise self.error(f"'{letter}' takes one index, got {len(index)}", tok)
            return self.applied(tok, self.names.indexed[letter][index[0]])
        if letter in self.names.abbreviations:
            return self.names.abbreviations[letter]
        return self.name(tok)

    # -- function application: E(\vec y, \vec t), y_k(\vec z) -----------------------------
    def applied(self, head: Token, value: sp.Expr) -> sp.Expr:
        """`value` followed by a parenthesised list of variables is the quantity written as a function.

        ``E(\\vec y, \\vec t)``, ``E(z_j)`` and ``y_k(\\vec z)`` name what the
        quantity depends on; they are the quantity itself, not a product.  A list
        naming a variable the quantity does not depend on is refused (it is not
        clear what is meant).  Anything else in the parentheses (``y_j(1 - y_j)``)
        is a genuine product, read as such by the caller.
        """
        if not self.at("("):
            return value
        found = self._argument_list()
        if found is None:
            return value
        bases, after = found
        depends = self._depends_on(value)
        wrong = [b for b in bases if b not in depends]
        if wrong:
            named = ", ".join(sorted({str(self._letter_of(b)) for b in wrong}))
            what = (f"depends only on {', '.join(sorted(str(self._letter_of(b)) for b in depends))}" if depends
                    else "is not a function of anything")
            raise self.error(f"'{head.text}(...)' reads as a function of {named}, but {head.text} {what}; "
                             rf"for a product write {head.text} \cdot (...)", head)
        self.pos = after
        return value

    def _depends_on(self, value) -> set:
        """The variables a quantity of the notation is a function of."""
        from ..notation import E as loss, t as targets, y as probabilities, z as logits

        if value == loss:
            return {logits, probabilities, targets}
        if isinstance(value, sp.Indexed) and value.base == probabilities:
            return {logits}
        return set()

    def _letter_of(self, base) -> str:
        return next((letter for letter, b in self.names.indexed.items() if b == base), str(base))

    def _argument_list(self):
        """(the variables named, position after ')') when the parentheses hold only variables, else None.

        A variable is a letter of the notation alone (z), with a subscript (z_j,
        z_{j}) or under \\vec / \\mathbf / \\boldsymbol / \\bm; \\dots may stand
        between them.  Unclosed parentheses are not an argument list (the
        product reading then reports the missing ')').
        """
        items, current, n, depth = [], [], self.pos + 1, 0
        while True:
            tok = self.tokens[n]
            if tok.kind == "end":
                raise self.error("this '(' is never closed")
            if tok.text == "{":
                depth += 1
            elif tok.text == "}":
                depth -= 1
            elif depth == 0 and tok.text in (",", ")"):
                items.append(current)
                current = []
                if tok.text == ")":
                    break
                n += 1
                continue
            elif depth == 0 and tok.text == "(":
                return None
            current.append(tok.text)
            n += 1
        bases = []
        for item in items:
            if item in ([r"\dots"], [r"\ldots"], [r"\cdots"]):
                continue
            base = self._variable(item)
            if base is None:
                return None
            bases.append(base)
        return (bases, n + 1) if bases else None

    def _variable(self, item: list):
        if item and item[0] in (r"\vec", r"\mathbf", r"\boldsymbol", r"\bm"):
            item = [x for x in item[1:] if x not in "{}"]
        letter = item[0] if item else None
        if letter not in self.names.indexed:
            return None
        rest = item[1:]
        if rest and (rest[0] != "_" or len(rest) < 2):
            return None
        return self.names.indexed[letter]

    def subscript_indices(self) -> list:
        """_k, _{k}, _{jk}, _{j,k}, _1, _{j\\gamma}: a list of index expressions."""
        if not self.at("{"):
            tok = self.advance()
            if tok.kind == "num":
                self._one_token_number(tok)
            return [self.index_value(tok)]
        self.advance()
        out = []
        while not self.at("}"):
            if self.tok.kind == "end":
                raise self.error("unclosed subscript")
            if self.at(","):
                self.advance()
                continue
            tok = self.advance()
            if self.at("+", "-") and len(out) == 0:  # an index expression such as k+1
                value = self.index_value(tok)
                while self.at("+", "-"):
                    sign = 1 if self.advance().text == "+" else -1
                    value = value + sign * self.index_value(self.advance())
                out.append(value)
                continue
            out.append(self.index_value(tok))
        self.advance()
        return out

    def index_value(self, tok: Token):
        if tok.kind == "num":
            return sp.Integer(int(tok.text))
        if tok.text == "K":
            return K
        return self.index_symbol(tok)

    def index_symbol(self, tok: Token) -> sp.Symbol:
        if tok.text in self.names.indices:
            return self.names.indices[tok.text]
        raise self.error(f"'{tok.text}' is not an index; declared indices: {', '.join(self.names.indices)}", tok)

    def name(self, tok: Token) -> sp.Expr:
        if tok.text in self.names.scalars:
            return self.applied(tok, self.names.scalars[tok.text])
        if tok.text in self.names.indices:
            return self.names.indices[tok.text]
        known = sorted(set(self.names.indexed) | set(self.names.scalars) | set(self.names.indices)
                       | set(self.names.abbreviations))
        raise self.error(f"unknown name '{tok.text}'; this derivation defines {', '.join(known)}", tok)

    # -- commands -----------------------------------------------------------------
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
            return self.cases()
        if text in self.names.indexed or text in self.names.abbreviations:
            self.advance()
            return self.subscripted(tok)
        if text in self.names.scalars or text in self.names.indices:
            self.advance()
            return self.name(tok)
        if text in (r"\dots", r"\cdots", r"\ldots"):
            raise self.error(r"'\dots' may only stand between '+' signs, as in e^{z_1} + \dots + e^{z_K}")
        if text in _OPEN:
            return self.group()
        raise self.error(f"unknown command '{text}'")

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
        if self.at("{") and self.peek().text == r"\partial":
            return self.partial()
        if self.at("{") and self.peek().text == "d" and "d" not in self.names.scalars and self._is_leibniz():
            return self.partial(marker="d")
        numerator = self.fraction_argument()
        denominator = self.fraction_argument()
        return numerator / denominator

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
        """\\frac{\\partial f}{\\partial x} or \\frac{\\partial}{\\partial x} <factor> (also with d)."""
        self.expect("{")
        self.expect(marker)
        body = None
        if not self.at("}"):
            body = self.term()
        self.expect("}")
        self.expect("{")
        start = self.expect(marker)
        variable = self.term()
        self.expect("}")
        if not (isinstance(variable, sp.Indexed)):
            raise self.error("a derivative is taken with respect to an indexed name such as z_j", start)
        if body is None:
            self.skip_sizing()
            if not self.starts_factor() and not self.at(r"\left"):
                raise self.error(r"expected what to differentiate after \frac{\partial}{\partial ...}")
            body = self.factor()
        return d(body, variable)

    def vector(self) -> sp.Expr:
        self.expect("{")
        tok = self.advance()
        self.expect("}")
        if self.names.vector_index is None:
            raise self.error(r"\vec{...} needs 'vector index:' in the header (the component it stands for)", tok)
        if tok.text not in self.names.indexed:
            raise self.error(f"'{tok.text}' is not an indexed name", tok)
        return self.names.indexed[tok.text][self.names.vector_index]

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
        closer = _OPEN.get(opener, "}")
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

    def cases(self) -> sp.Expr:
        self.advance()
        name = self.braced_word()
        if name != "cases":
            raise self.error(f"only the 'cases' environment can stand inside an expression, found '{name}'")
        pieces = []
        while True:
            value = self.expression()
            self.expect("&")
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


def _as_sum(first: sp.Expr, last: sp.Expr, letters=()) -> sp.Expr | None:
    """first + ... + last as sum_{i=1}^K f(i), when first = f(1) and last = f(K).

    The bound index is the first of `letters` (the derivation's indices) that does
    not occur in the terms, so the sum prints and reads back like one written out.
    """
    taken = first.free_symbols | last.free_symbols
    bound = next((s for s in letters if s not in taken), sp.Symbol("n", integer=True, positive=True))
    template = first.replace(lambda e: isinstance(e, sp.Indexed) and e.indices == (1,),
                             lambda e: e.base[bound])
    if bound not in template.free_symbols:
        return None
    if template.xreplace({bound: K}) != last:
        return None
    return sp.Sum(template, (bound, 1, K))


#: what SymPy raises when asked to build something meaningless (a sum whose limits
#: contain its own index, a power of a relation, ...): reported as a parse error there
SYMPY_BUILD_ERRORS = (ValueError, TypeError, NotImplementedError, sp.SympifyError)


def guarded(parser: Parser, rule):
    """Run a parser rule; input nested too deeply or that SymPy refuses becomes a ParseError."""
    try:
        return rule()
    except RecursionError:
        raise parser.error("the formula is nested too deeply") from None
    except SYMPY_BUILD_ERRORS as exc:
        raise parser.error(f"cannot build this expression: {exc}") from None


def parse_expression(text: str, names: Names, **where) -> sp.Expr:
    parser = Parser(text, names, **where)

    def rule():
        value = parser.expression()
        if parser.tok.kind != "end":
            raise parser.error(f"unexpected '{parser.tok.text}' after the expression")
        return value

    return guarded(parser, rule)
