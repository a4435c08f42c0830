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
    default_range: bool = True  # sums without limits run over 1..K
    unranged_sums: list = field(default_factory=list)  # positions of sums written without a range
