"""The reader's rule for names: whatever a derivation calls its quantities, read into the notation.

A name is read as one key (``keys.py``: ``\\hat{y}``, ``\\mathbf z``, ``\\sigma``,
``\\mathrm{CE}``) and resolved through the derivation's symbol table:

* an indexed quantity with its subscript (``p_j``, ``\\hat y_i``), or written as
  a vector (``\\mathbf p``: its entry at the vector index);
* the probabilities written as a function of the logits: ``\\sigma(\\mathbf z)_i``,
  ``\\mathrm{softmax}(\\mathbf o)_j``, ``s_i``; applied to another vector
  (``s(\\mathbf x + c)_i``) it is the softmax of that vector, written out;
* an abbreviation (``\\Sigma``, the notes' ``z``), an indexed one (``g_i``), the
  loss (``L``, ``L_i``, ``\\mathrm{CE}``), the class count, a constant, an index;
* ``log``, ``ln`` and ``exp`` typed as plain letters are the functions.

A mixin of the Parser (latex.py).
"""

from __future__ import annotations

import sympy as sp

from ..notation import K
from .keys import Key, read_key
from .tokens import Token

#: words that are functions whichever way they are typed
FUNCTION_WORDS = {"log": sp.log, "ln": sp.log, "exp": sp.exp}
#: the softmax by its name: its entries are the probabilities
SOFTMAX_WORDS = {"softmax", "Softmax", "softargmax"}


class NameRules:
    def read_name(self) -> sp.Expr | None:
        """The quantity a name at the cursor denotes, or None when no name of this derivation starts here."""
        key = read_key(self.tokens, self.pos, self.names.words | set(FUNCTION_WORDS) | SOFTMAX_WORDS | {"diag"})
        if key is None or key.text == "e" and "e" not in self.names.known():
            return None
        tok = self.tok
        names = self.names
        text = key.text
        if text == "diag" and "diag" not in names.known():
            self.pos = key.end
            return self.diagonal(tok)
        if text == "J" and "J" not in names.known() and self.peek(key.end - self.pos).text == "_":
            self.pos = key.end
            return self.jacobian(tok)
        if text == "I" and names.column_index is not None and "I" not in names.known() \
                and self.peek(key.end - self.pos).text != "_":
            self.pos = key.end  # the identity matrix in a matrix formula
            return self.identity_matrix()
        if text in FUNCTION_WORDS and text not in names.known():
            self.pos = key.end
            return FUNCTION_WORDS[text](self.function_argument(tok.text if tok.kind == "cmd" else text))
        if text in names.functions or text in SOFTMAX_WORDS:
            self.pos = key.end
            return self.probability_function(key, tok)
        if text in names.indexed:
            self.pos = key.end
            return self.indexed_name(key, tok)
        if text in names.deltas and self.peek(key.end - self.pos).text == "_":
            self.pos = key.end + 1  # I_{kj}: an entry of the identity matrix
            indices = self.subscript_indices()
            if len(indices) != 2:
                raise self.error(f"'{text}' is the identity matrix; an entry takes two indices, got {len(indices)}",
                                 tok)
            return sp.KroneckerDelta(*indices)
        if text in names.variables:  # w_{ij}, x_i, b_j of a linear layer
            self.pos = key.end
            if not self.at("_"):
                raise self.error(f"'{text}' is a layer's variable; write it with its index, as {text}_i", tok)
            self.advance()
            return names.variables[text][tuple(self.subscript_indices())]
        if text in names.indexed_abbreviations:
            self.pos = key.end
            return self.indexed_abbreviation(key, tok)
        for table in (names.abbreviations, names.constants, names.indices):
            if text in table:
                self.pos = key.end
                return table[text]
        if text in names.scalars:
            self.pos = key.end
            value = names.scalars[text]
            if self.at("_") and value != K:  # L_i, E_n: the loss of one example, the example index dropped
                self.advance()
                self.subscript_indices()
            return self.applied(tok, value)
        return None

    def vector_entry(self, key: Key, tok: Token):
        if self.names.vector_index is None:
            raise self.error(rf"'{key.text}' is written as a vector; say which entry it stands for with "
                             "'vector index:' in the header", tok)
        return self.names.vector_index

    def indexed_name(self, key: Key, tok: Token) -> sp.Expr:
        base = self.names.indexed[key.text]
        if self.at("_"):
            self.advance()
            index = self.subscript_indices()
            if len(index) != 1:
                raise self.error(f"'{key.text}' takes one index, got {len(index)}", tok)
            return self.applied(tok, base[index[0]])
        if key.vector or self.names.vector_index is not None and self.vector_context:
            entry = self.vector_entry(key, tok)  # \vec z is the vector, not an abbreviation
            if self.transposed():
                entry = self.column_entry()
            return self.applied(tok, base[entry])
        if key.text in self.names.abbreviations:
            return self.names.abbreviations[key.text]
        raise self.error(f"'{key.text}' is indexed; write {key.text}_k (or define the bare letter with let:)", tok)

    def indexed_abbreviation(self, key: Key, tok: Token) -> sp.Expr:
        parameter, body = self.names.indexed_abbreviations[key.text]
        if not self.at("_"):
            raise self.error(f"'{key.text}' stands for an expression in an index; write {key.text}_k", tok)
        self.advance()
        (index,) = self.subscript_indices()[:1]
        return body.xreplace({parameter: index})

    def probability_function(self, key: Key, tok: Token) -> sp.Expr:
        """f(\\mathbf z)_i, f_i, f(\\mathbf z) (a vector): the probabilities, or the softmax of another vector."""
        from ..notation import y as probabilities

        argument = self.vector_argument() if self.at("(", r"\left") else "logits"
        if self.at("_"):
            self.advance()
            index = self.subscript_indices()[0]
        else:
            index = self.vector_entry(key, tok)
            if self.transposed():
                index = self.column_entry()
        if argument == "logits":
            return probabilities[index]
        bound = sp.Symbol("n_s", integer=True, positive=True)
        return sp.exp(argument(index)) / sp.Sum(sp.exp(argument(bound)), (bound, 1, K))

    def vector_argument(self):
        """The argument of a probability function: "logits" for the logit vector, else a function of the entry index.

        ``(\\mathbf z)``, ``(z)``, ``(z_1, \\dots, z_K)`` are the logits; ``(\\mathbf x + c)`` is read entrywise.
        """
        from ..notation import z as logits

        found = self._argument_list()
        if found is not None:
            bases, after = found
            if all(b == logits for b in bases):
                self.pos = after
                return "logits"
        self.skip_sizing()
        self.expect("(")
        marker = sp.Dummy("entry", integer=True, positive=True)
        saved, saved_context = self.names.vector_index, self.vector_context
        self.names.vector_index, self.vector_context = marker, True
        try:
            value = self.expression()
        finally:
            self.names.vector_index, self.vector_context = saved, saved_context
        self.skip_sizing()
        self.expect(")")
        if value == logits[marker]:
            return "logits"
        return lambda index: value.xreplace({marker: index})
