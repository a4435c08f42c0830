"""What the letters of a derivation mean: the reader's symbol table, built from a file's header."""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp


@dataclass
class Names:
    """What the letters of a derivation mean (built from its header)."""

    indexed: dict  # letter -> IndexedBase
    scalars: dict  # letter or \command -> Symbol (E, K, ...)
    indices: dict  # letter or \command -> index Symbol
    abbreviations: dict = field(default_factory=dict)  # bare letter -> expression (the notes' z = sum_j e^{z_j})
    vector_index: sp.Symbol | None = None  # what \vec{y} means: y_<vector_index>
    #: in a formula read as a matrix equation, the column of the entry (the row is vector_index)
    column_index: sp.Symbol | None = None
    default_range: bool = True  # sums without limits run over 1..K
    unranged_sums: list = field(default_factory=list)  # positions of sums written without a range
    #: names of functions whose i-th entry is an indexed quantity: \sigma(\mathbf z)_i, softmax(o)_j, s(x)_i
    functions: dict = field(default_factory=dict)  # key -> IndexedBase
    #: indexed abbreviations g_i = e^{a_i}: key -> (the index in the definition, the expression)
    indexed_abbreviations: dict = field(default_factory=dict)
    #: constants of the derivation (C with log C = -max z, a temperature T): key -> Symbol
    constants: dict = field(default_factory=dict)
    #: names of the identity matrix (I_{kj} = delta_kj), said so in the prose or by convention
    deltas: frozenset = frozenset()
    #: the letter of the correct class when it carries the example's index (y_i in p_{y_i}, 1(y_i = k))
    label: str | None = None
    #: a linear layer before the softmax: further variables (w, x, b) by key, and z's definition
    variables: dict = field(default_factory=dict)
    layer: tuple | None = None  # (the index of z_j, the expression z_j stands for)
    #: the derivative a prime (f') refers to: the start of the derivation being read, when it is d/dx
    prime_variable: object = None
    #: multi-letter names written as plain letters (CE): read as one name, not a product
    words: frozenset = frozenset()
    #: terms read as inside the sum before them, since they use its index: (line, column, index)
    scope_notes: list = field(default_factory=list)
    #: other readings the author should know about: (line, column, what was read how)
    notes: list = field(default_factory=list)

    def known(self) -> list[str]:
        """Every name this derivation defines, for error messages."""
        return sorted(set(self.indexed) | set(self.scalars) | set(self.indices) | set(self.abbreviations)
                      | set(self.functions) | set(self.indexed_abbreviations) | set(self.constants)
                      | set(self.deltas) | set(self.variables))
