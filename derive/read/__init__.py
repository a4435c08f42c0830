"""Reading derivations: the LaTeX tokenizer and grammar, and the derivation-file loader.

Turns text into :class:`derive.derivation.Derivation` data, never evaluates or proves anything.
"""
