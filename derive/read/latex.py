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

Conventions: a ``\\sum`` extends over the product that follows it, up to the
next ``+`` or ``-`` at the same level; ``\\ln x y`` is ln(xy), and an unclear
argument (``\\ln y_k \\frac{a}{b}``) is refused.  Every error is a
:class:`ParseError` with the line and column.

This module holds the grammar of expressions and chains; ``tokens.py`` the
tokenizer and the cursor, ``commands.py`` the commands (fractions, derivatives,
functions, vectors, indicators, cases) and ``arguments.py`` a quantity written
as a function of its variables.
"""

from __future__ import annotations

import sympy as sp

from ..notation import K, free_indices
from ..notation import z as LOGITS
from .arguments import ArgumentRules
from .commands import ABSOLUTE, OPEN, CommandRules
from .matrices import MatrixRules
from .named import NameRules
from .names import Names
from .tokens import SIZES, Cursor, Token


_DOTS = sp.Symbol("__dots__")
#: relations read in a chain but not decided by the checker
INEQUALITIES = (r"\neq", r"\ne", "<", ">", r"\le", r"\leq", r"\ge", r"\geq", r"\lt", r"\gt")
#: tokens that end a factor list
_ENDS = {r"\\", r"\end", r"\right", r"\cdot", r"\times"}


class Parser(Cursor, NameRules, CommandRules, ArgumentRules, MatrixRules):
    """The grammar of expressions and chains; commands and function application are its mixins."""

    def __init__(self, text: str, names: Names, line: int = 1, column: int = 1, path: str = "<input>",
                 source_lines: list[str] | None = None):
        super().__init__(text, line, column, path, source_lines)
        self.names = names
        #: (first token, token after) of each part of the last chain, to cut out its LaTeX
        self.spans: list[tuple[Token, Token]] = []
        #: inside the argument of a probability function: bare vectors are read entrywise
        self.vector_context = False
        #: the chain states an inequality (\neq, <, \le ...): read, but not a claim the checker decides
        self.inequality = False
        #: the chain starts with a derivative by a linear layer's variable (read by the chain rule)
        self.first_through_layer = False
        #: the relation before each part after the first ('=', '\\neq', '<', ...)
        self.relations: list[str] = []
        #: the parts of the chain read so far (a sum written without its index must not bind one of theirs)
        self.parts_so_far: list = []

    # -- entry points -----------------------------------------------------------
    def chain(self) -> list:
        """a = b = c (also &= and \\\\ line breaks of aligned): the list of expressions.

        A chain that starts with '=' continues the previous formula: its first entry is None.
        """
        begun = self.skip_environment_begin()
        parts = self._chain_parts()
        self.skip_punctuation()
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
        if self.at(*INEQUALITIES):  # "\neq 0" continuing a chain: an inequality, not checked
            self.inequality = True
            self.relations.append(self.advance().text)
            parts.append(None)
            parts.append(self.expression())
            self.spans += [(self.tok, self.tok), (self.tok, self.tok)]
            return parts
        if self.at("="):
            parts.append(None)
            self.spans.append((self.tok, self.tok))
        else:
            start = self.tok
            parts.append(self.expression())
            self.spans.append((start, self.tok))
        self.parts_so_far = parts
        while True:
            self.skip_punctuation()
            while self.at("&", r"\\"):
                self.advance()
            if self.at("="):
                start = self.advance()
                self.relations.append("=")
                while self.at("&"):
                    self.advance()
                parts.append(self.expression())
                self.spans.append((start, self.tok))
                continue
            if self.at(*INEQUALITIES):
                start = self.advance()
                self.relations.append(start.text)
                self.inequality = True
                parts.append(self.expression())
                self.spans.append((start, self.tok))
                continue
            break
        self.skip_punctuation()
        return parts

    def skip_punctuation(self) -> None:
        """A full stop or comma ending a formula or a line of an alignment is punctuation of the text."""
        while self.at(".", ",", ";") and self.peek().text in ("end of formula", r"\\", "&", r"\end", "}") \
                and self.peek().kind in ("end", "cmd", "char"):
            self.advance()

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

    # -- grammar ------------------------------------------------------------------
    def expression(self) -> sp.Expr:
        terms, starts = [], []
        starts.append(self.tok)
        if self.at("+", "-"):
            sign = -1 if self.advance().text == "-" else 1
            terms.append(sign * self.term())
        else:
            terms.append(self.term())
        while self.at("+", "-"):
            starts.append(self.tok)
            sign = -1 if self.advance().text == "-" else 1
            if self.at(r"\dots", r"\cdots", r"\ldots"):
                self.advance()
                terms.append(_DOTS)
                continue
            terms.append(sign * self.term())
        return self._fold_dots(self._extend_sums(terms, starts))

    def _extend_sums(self, terms: list, starts: list) -> list:
        """A term right after a sum that uses the sum's index (free) is read as inside the sum.

        ``\\sum_k t_k \\ln S - t_k z_k`` read literally leaves k free in the last term;
        the author means it inside (a sum extends over the product after it, and
        a free k there would be a new index out of nowhere).  Recorded, so the
        reader is told and can add \\left( \\right) if that is not what is meant.
        """
        out, n = [], 0
        # an index free in the chain before (the j of d/dx_j) is that free index after the sum, not the sum's
        free_before = set(free_indices(*[p for p in self.parts_so_far if p is not None]))
        while n < len(terms):
            term = terms[n]
            sign, core = (-1, -term) if isinstance(term, sp.Mul) and term.could_extract_minus_sign() else (1, term)
            if isinstance(core, sp.Sum) and len(core.limits) == 1 and core.limits[0][0] not in free_before:
                var = core.limits[0][0]
                body, m = core.function, n + 1
                while m < len(terms) and terms[m] is not _DOTS and var in terms[m].free_symbols:
                    body = body + sign * terms[m]
                    tok = starts[m]
                    self.names.scope_notes.append((tok.line, tok.column, str(var)))
                    m += 1
                if m > n + 1:
                    out.append(sign * sp.Sum(body, *core.limits))
                    n = m
                    continue
            out.append(term)
            n += 1
        return out

    def _fold_dots(self, terms):
        while _DOTS in terms:
            n = terms.index(_DOTS)
            if n == 0 or n == len(terms) - 1:
                raise self.error(r"'\dots' needs a first and a last term around it")
            last = terms[n + 1]
            written = {tok.text for tok in self.tokens}  # a letter the formula uses elsewhere would be captured
            letters = [s for key, s in self.names.indices.items() if key not in written]
            letters += [s for key, s in self.names.indices.items() if key in written]
            # f(1) + f(2) + ... + f(K): the longest run of written terms before the dots that starts at f(1)
            for run in range(n, 0, -1):
                written_terms = terms[n - run:n]
                if _DOTS in written_terms:
                    continue
                summed = _as_sum(written_terms[0], last, letters)
                if summed is not None and all(
                        summed.function.xreplace({summed.limits[0][0]: q + 1}) == term
                        for q, term in enumerate(written_terms)):
                    terms[n - run:n + 2] = [summed]
                    break
            else:
                raise self.error(rf"cannot read '{terms[n - 1]} + \dots + {last}' as a sum from 1 to K")
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
            elif self.at(".") and self.peek().kind in ("letter", "cmd") and self.peek().text not in _ENDS:
                self.advance()  # p_j.p_i: a full stop between two factors is a product
                factors.append(self.factor())
            elif self.starts_factor():
                factors.append(self.factor())
            else:
                break
        return sp.Mul(*factors)

    def starts_factor(self) -> bool:
        tok = self.tok
        if tok.kind in ("letter", "num"):
            return True
        if tok.text in (r"\right", r"\bigr", r"\Bigr", r"\biggr", r"\Biggr"):
            return False  # \right| and \bigr) close a group whatever delimiter follows
        if tok.text in SIZES:
            # \Bigg) closes a group: a sizing command starts a factor only before an opening delimiter
            return self.peek().text in ("(", "[", r"\{", "|", r"\langle", r"\lvert")
        if tok.text in (r"\text", r"\textrm", r"\mbox"):  # \text{diag}(...) is a factor; \text{ if } is not
            close = next((n for n in range(self.pos + 1, min(self.pos + 20, len(self.tokens)))
                          if self.tokens[n].text == "}"), None)
            return close is not None and self.tokens[min(close + 1, len(self.tokens) - 1)].text in ("(", r"\left")
        if tok.kind == "cmd":
            return tok.text not in {r"\right", r"\end", r"\\", r"\cdot", r"\times", r"\neq", r"\ne"} \
                and tok.text not in {r"\rbrack", r"\rangle", r"\}"}
        return tok.text in ("(", "[", "{")

    def factor(self) -> sp.Expr:
        if self.at("-"):
            self.advance()
            return -self.factor()
        if self.at(r"\sum", r"\prod"):
            summed = self.summation()
            while self.at("'"):  # \sum': the derivative of the partition sum
                prime = self.advance()
                summed = sp.Derivative(summed, self.prime_variable(prime))
            if self.at("^") and not summed.free_symbols - {K}:  # \sum'^2
                self.advance()
                summed = summed ** self.exponent_of(summed)
            return summed
        base = self.primary()
        while self.at("'"):  # e_j': the derivative with respect to the variable this derivation differentiates by
            prime = self.advance()
            base = sp.Derivative(base, self.prime_variable(prime))
        if self.at("^"):
            self.advance()
            exponent = self.exponent_of(base)
            if base == sp.E:
                return sp.exp(exponent)
            return sp.Pow(base, exponent)
        return base

    def exponent_of(self, base) -> sp.Expr:
        """The exponent after '^'.  e^a_k is read as e^{a_k} when a is indexed: TeX would set the k under
        the e, but the author means the k-th logit (recorded as a finding)."""
        tok = self.tok
        if base == sp.E and tok.kind == "letter" and tok.text in self.names.indexed and self.peek().text == "_":
            self.names.notes.append((tok.line, tok.column,
                                     f"$e^{tok.text}_k$ is read as $e^{{{tok.text}_k}}$ (TeX sets the subscript "
                                     "under the e)"))
            return self.primary()
        return self.script()

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

    def summation(self) -> sp.Expr:
        start = self.advance()
        var, lower, upper, excluded = None, None, None, None
        for _ in range(2):  # \sum_{k=1}^K and \sum^K_{k=1}
            if self.at("_") and var is None:
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
            elif self.at("^") and upper is None:
                self.advance()
                upper = self.script()
        if var is None:
            if start.text == r"\prod":
                raise self.error(r"a '\prod' needs its index, as in \prod_{k=1}^K", start)
            return self.sum_without_index(start, upper)
        if start.text == r"\sum" and (not (self.starts_factor() or self.at("-", r"\sum")) or self.at("'")):
            from ..notation import z as logits  # \sum_k with nothing after it: the partition sum, named by its index

            self.names.notes.append((start.line, start.column, f"a $\\sum_{{{var}}}$ with nothing to sum is read as "
                                     f"the partition sum $\\sum_{{{var}}} e^{{{self._letter_of(logits)}_{var}}}$"))
            return sp.Sum(sp.exp(logits[var]), (var, 1 if lower is None else lower, K if upper is None else upper))
        if lower is None or upper is None:
            if lower is None and upper is None and excluded is None:
                self.names.unranged_sums.append((start.line, start.column, str(var)))
            lower = 1 if lower is None else lower
            upper = K if upper is None else upper
        summand = self.term()
        if start.text == r"\prod":
            if excluded is not None:  # prod_{k != j} a_k: a_j left out is a_j^0
                summand = summand ** (1 - sp.KroneckerDelta(var, excluded))
            return sp.Product(summand, (var, lower, upper))
        if excluded is not None:
            summand = (1 - sp.KroneckerDelta(var, excluded)) * summand
        return sp.Sum(summand, (var, lower, upper))

    def sum_without_index(self, start: Token, upper) -> sp.Expr:
        """A \\sum written without its index.

        Alone (``e_j / \\sum``, ``\\sum^2``, ``\\sum'``), it stands for the sum a text calls
        "the sum": the partition sum of the logits.  Before a summand with exactly
        one index (``\\sum e^{x_j}``), it sums over that index.  Either reading is
        recorded as a finding; anything else is an error.
        """
        from ..notation import z as logits

        if not self.starts_factor() or self.at("'"):
            bound = sp.Symbol("n_s", integer=True, positive=True)
            self.names.notes.append((start.line, start.column, "a $\\sum$ with nothing to sum is read as the "
                                     f"partition sum $\\sum_i e^{{{self._letter_of(logits)}_i}}$"))
            partition = sp.Sum(sp.exp(logits[bound]), (bound, 1, K))
            return partition if upper is None else partition ** upper  # \sum^2: the partition sum squared
        summand = self.term()
        seen = set(free_indices(*[p for p in self.parts_so_far if p is not None]))
        candidates = sorted((s for s in summand.free_symbols if s.is_integer and s != K), key=str)
        if len(candidates) != 1 or candidates[0] in seen:  # never bind an index that is free elsewhere
            raise self.error(r"a '\sum' needs its index, as in \sum_{k=1}^K or \sum_k", start)
        var = candidates[0]
        self.names.notes.append((start.line, start.column,
                                 f"a $\\sum$ without an index is read as the sum over ${var}$"))
        self.names.unranged_sums.append((start.line, start.column, str(var)))
        return sp.Sum(summand, (var, 1, K if upper is None else upper))

    def primary(self) -> sp.Expr:
        self.skip_sizing()
        tok = self.tok
        if tok.kind == "num":
            self.advance()
            if tok.text == "1" and self.at("(", "[") and self._looks_like_indicator():
                return self.indicator()
            if tok.text == "1" and self.at("_") and self.peek().text == "{":  # 1_{i=j}: an indicator
                self.advance()
                self.expect("{")
                value = self.condition_value()
                self.expect("}")
                return value
            return sp.Integer(int(tok.text)) if tok.text.isdigit() else sp.Rational(tok.text)
        if tok.text == "{" and self.peek().kind == "letter" and self.peek(2).text == "}" and self.peek(3).text == "_":
            self.advance()  # SymPy writes {z}_{k}
            letter = self.advance()
            self.advance()
            return self.subscripted(letter)
        if tok.text in OPEN or tok.text == "{":
            return self.group()
        named = self.read_name()
        if named is not None:
            return named
        if tok.kind == "letter":
            self.advance()
            return self.subscripted(tok)
        if tok.kind == "cmd":
            return self.command()
        raise self.error(f"unexpected '{tok.text}'; expected a number, a name, '(' or a command such as \\frac")

    def group(self) -> sp.Expr:
        if self._entry_follows():
            return self.vector_entry_group()
        if self.tok.text in ("[", r"\lbrack", r"\llbracket") and self._iverson():
            return self.indicator()  # [y = k]: Iverson's bracket, 1 when the condition holds
        opener = self.advance().text
        closer = "}" if opener == "{" else OPEN[opener]
        value = self.expression()
        self.skip_sizing()
        if self.at(closer) or (opener == "(" and self.at(")")):
            self.advance()
            return sp.Abs(value) if opener in ABSOLUTE else value
        raise self.error(f"expected '{closer}' to close '{opener}', found '{self.tok.text}'")

    def _iverson(self) -> bool:
        """[a = b] or [a \\neq b] with a and b single tokens: a condition, not a bracketed expression."""
        texts = [t.text for t in self.tokens[self.pos:self.pos + 5]]
        return len(texts) == 5 and texts[2] in ("=", r"\neq", r"\ne") and texts[4] in ("]", r"\rbrack", r"\rrbracket") \
            and self.tokens[self.pos + 1].kind in ("letter", "num", "cmd") \
            and self.tokens[self.pos + 3].kind in ("letter", "num", "cmd")

    def _entry_follows(self) -> bool:
        """A bracketed vector expression followed by a subscript: [\\sigma(\\mathbf a)]_i is its i-th entry."""
        if self.tok.text not in ("[", "(") or self.names.vector_index is None:
            return False
        depth, n = 0, self.pos
        while n < len(self.tokens) and self.tokens[n].kind != "end":
            depth += self.tokens[n].text in ("[", "(")
            depth -= self.tokens[n].text in ("]", ")")
            if depth == 0:
                return n + 1 < len(self.tokens) and self.tokens[n + 1].text == "_"
            n += 1
        return False

    def vector_entry_group(self) -> sp.Expr:
        marker = sp.Dummy("entry", integer=True, positive=True)
        saved, saved_context = self.names.vector_index, self.vector_context
        self.names.vector_index, self.vector_context = marker, True
        try:
            opener = self.advance().text
            value = self.expression()
            self.skip_sizing()
            self.expect("]" if opener == "[" else ")")
        finally:
            self.names.vector_index, self.vector_context = saved, saved_context
        self.expect("_")
        entry = self.subscript_indices()[0]
        return value.xreplace({marker: entry})

    def subscripted(self, tok: Token) -> sp.Expr:
        letter = tok.text
        if letter == "e" and letter not in self.names.indexed and self.at("^"):
            return sp.E
        if letter == "e" and self.at("_") and "e" not in self.names.known() and self.logits() is not None:
            self.advance()  # e_j: shorthand for e^{x_j}
            (entry,) = self.subscript_indices()[:1]
            logit = self._letter_of(self.logits())
            self.names.notes.append((tok.line, tok.column, f"$e_{entry}$ is read as $e^{{{logit}_{entry}}}$, the "
                                     "exponential of a logit"))
            return sp.exp(self.logits()[entry])
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
        if tok.text == self.names.label and self.at("_"):
            self.advance()  # y_i in f_{y_i}: the correct class of example i; the example index is dropped
            self.subscript_indices()
            return self.index_symbol(tok)
        if tok.text == "K" or self.names.scalars.get(tok.text) == K:  # p_n: the last class when n classes
            return K
        return self.index_symbol(tok)

    def index_symbol(self, tok: Token) -> sp.Symbol:
        if tok.text in self.names.indices:
            return self.names.indices[tok.text]
        raise self.error(f"'{tok.text}' is not an index; declared indices: {', '.join(self.names.indices)}", tok)

    def prime_variable(self, prime: Token):
        """The variable a prime differentiates by: the one of the derivative this formula or its derivation
        starts from (d/dx_i); recorded as a note."""
        starts = [p for p in self.parts_so_far[:1] if isinstance(p, sp.Derivative)]
        if not starts and isinstance(self.names.prime_variable, sp.Derivative):
            starts = [self.names.prime_variable]
        variables = [v for v, _ in starts[0].variable_count] if starts else []
        if len(variables) != 1:
            raise self.error("a prime (f') needs the variable it differentiates by; write \\frac{\\partial f}"
                             "{\\partial x} instead", prime)
        self.names.notes.append((prime.line, prime.column, f"a prime is read as the derivative with respect to "
                                 f"${self._letter_of(variables[0].base)}_{variables[0].indices[0]}$, the variable this "
                                 "derivation differentiates by"))
        return variables[0]

    def logits(self):
        """The logits' indexed base, when the derivation names them."""
        return next((base for base in self.names.indexed.values() if base == LOGITS), None)

    def name(self, tok: Token) -> sp.Expr:
        if tok.text in self.names.scalars:
            return self.applied(tok, self.names.scalars[tok.text])
        if tok.text in self.names.constants:  # e^c: a constant as a one-token script
            return self.names.constants[tok.text]
        if tok.text in self.names.indices:
            return self.names.indices[tok.text]
        raise self.error(f"unknown name '{tok.text}'; this derivation defines {', '.join(self.names.known())}", tok)



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
