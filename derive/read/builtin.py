"""The derivations that ship with derive, read from their packaged files (the one source for each).

The notes' three derivations and the identities behind the generated code are
ordinary derivation files in ``derive/derivations/``; codegen, the report, the
CLI and the tests all load them from there.
"""

from __future__ import annotations

from functools import lru_cache

from .. import resources
from ..derivation import Derivation
from .derivation_file import parse


@lru_cache(maxsize=None)
def load(name: str) -> Derivation:
    """A built-in derivation by name (read once; Derivation is immutable)."""
    source = resources.derivation_file(name)
    return parse(source.read_text(encoding="utf-8"), f"derive/derivations/{name}.deriv")


def notes() -> dict[str, Derivation]:
    """The notes' derivations, in the notes' order."""
    return {name: load(name) for name in resources.NOTES}


def numerics() -> dict[str, Derivation]:
    """The identities behind the generated code's numerics."""
    return {name: load(name) for name in resources.NUMERICS}


def rules() -> dict[str, Derivation]:
    """The identities behind justifications ('kronecker delta sifts', ...), each proved once."""
    return {name: load(name) for name in resources.RULES}


def everything() -> dict[str, Derivation]:
    return {**notes(), **numerics()}
