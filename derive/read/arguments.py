"""The reader's rule for a quantity written as a function: E(\\vec y, \\vec t), y_k(\\vec z), E(z_j).

A mixin of the Parser (latex.py).  Parentheses after a quantity that hold only
variables name what it depends on; anything else in them is a product.
"""

from __future__ import annotations

import sympy as sp

from ..notation import E as LOSS, t as TARGETS, y as PROBABILITIES, z as LOGITS
from .keys import read_key
from .tokens import Token


#: a name in an argument list that the derivation does not otherwise use (J(\theta)): a model parameter
_PARAMETER = object()


class ArgumentRules:
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
        if value == LOSS:  # J(\theta), L(W): the loss as a function of the model's parameters
            bases = [b for b in bases if b is not _PARAMETER]
        wrong = [b for b in bases if b not in depends]
        if wrong:
            named = ", ".join(sorted({str(self._letter_of(b)) for b in wrong}))
            what = (f"depends only on {', '.join(sorted(str(self._letter_of(b)) for b in depends))}" if depends
                    else "is not a function of anything")
            raise self.error(f"'{head.text}(...)' reads as a function of {named}, but {head.text} {what}; "
                             rf"for a product write {head.text} \cdot (...)", head)
        self.pos = after
        return value

    # -- function application: E(\vec y, \vec t), y_k(\vec z) -----------------------------

    def _depends_on(self, value) -> set:
        """The variables a quantity of the notation is a function of."""
        if value == LOSS:
            return {LOGITS, PROBABILITIES, TARGETS}
        if isinstance(value, sp.Indexed) and value.base == PROBABILITIES:
            return {LOGITS}
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
            current.append(tok)
            n += 1
        bases = []
        for item in items:
            if [t.text for t in item] in ([r"\dots"], [r"\ldots"], [r"\cdots"]):
                continue
            base = self._variable(item)
            if base is None:
                return None
            bases.append(base)
        return (bases, n + 1) if bases else None

    def _variable(self, item: list):
        """The indexed base a list item names: z, \\mathbf z, \\vec{z}, \\hat{\\mathbf y}, z_j (None otherwise)."""
        if not item:
            return None
        key = read_key(item + [Token("end", "", 0, 0)], 0, self.names.words)
        if key is not None and key.end == len(item) and key.text not in self.names.known() \
                and key.text not in ("e", "d"):
            return _PARAMETER  # a name the derivation does not use otherwise: a parameter (theta, W)
        if key is not None and key.text in self.names.functions and key.end == len(item):
            return self.names.functions[key.text]  # H(\mathbf y, \mathbf s) with s(\cdot) the softmax
        if key is None or key.text not in self.names.indexed:
            return None
        rest = item[key.end:]
        if rest and (rest[0].text != "_" or len(rest) < 2):
            return None
        return self.names.indexed[key.text]
