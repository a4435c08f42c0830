"""Verdicts are values: what the checker concluded about one claim, and why.

A frozen dataclass with a status from a small enum, never a free-form string.
``proved`` means the normal forms agree for symbolic K (and, where some point
could be evaluated, the numeric check agrees too); ``numeric`` means every
sampled point agrees but no proof was found; ``refuted`` carries a point that
really breaks the claim; ``undecided`` says what stopped the checker (a time
limit, a SymPy failure, an expression that cannot be evaluated).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from fractions import Fraction

import mpmath


@dataclass(frozen=True)
class Point:
    """Concrete values: K, the free indices, logits z_1..z_K and targets t_1..t_K."""

    K: int
    indices: dict = field(hash=False)
    z: tuple
    t: tuple
    #: the cotangent v_1..v_K and the shift c (m is always max_k z_k)
    v: tuple = ()
    c: float = 0.0
    #: values of the derivation's own constants, as (name, value) pairs
    constants: tuple = ()

    def as_dict(self) -> dict:
        out = {
            "K": self.K,
            "indices": {str(s): v for s, v in sorted(self.indices.items(), key=lambda kv: str(kv[0]))},
            "z": [float(v) for v in self.z],
            "t": [str(v) if isinstance(v, Fraction) else float(v) for v in self.t],
        }
        if self.v:
            out["v"] = [float(x) for x in self.v]
        if self.c:
            out["c"] = float(self.c)
        if self.constants:
            out["constants"] = {name: float(value) for name, value in self.constants}
        return out


class Status(enum.Enum):
    PROVED = "proved"
    NUMERIC = "numeric"
    REFUTED = "refuted"
    UNDECIDED = "undecided"

    @property
    def rank(self) -> int:
        """Worse verdicts rank higher: combining verdicts keeps the worst."""
        return {"proved": 0, "numeric": 1, "undecided": 2, "refuted": 3}[self.value]


def worst(statuses) -> Status:
    """The worst of some statuses (proved when there are none)."""
    return max(statuses, key=lambda s: s.rank, default=Status.PROVED)


#: how each quantity of the notation is called unless a derivation names it otherwise
DEFAULT_NAMES = {"z": "z", "t": "t", "y": "y", "v": "v", "c": "c", "E": "E", "K": "K"}


def _short(value) -> str:
    if isinstance(value, str):
        return value
    return f"{float(value):.4g}"


@dataclass(frozen=True)
class Counterexample:
    """A point where the two sides differ, with both values (re-evaluating reproduces it)."""

    point: Point
    lhs: str
    rhs: str
    case: str | None = None
    #: the inputs the claim reads besides the logits ("t", "v", "c"), shown with the point
    reads: tuple[str, ...] = ("t",)

    def as_dict(self) -> dict:
        out = self.point.as_dict()
        out.update({"lhs": self.lhs, "rhs": self.rhs})
        if self.case:
            out["case"] = self.case
        return out

    def describe(self, names: dict | None = None) -> str:
        """'K=2, j=1, z=(0.41, -1.2), t=(0.5, 0.5): lhs=..., rhs=...' in the derivation's letters."""
        names = {**DEFAULT_NAMES, **(names or {})}
        point = self.point
        parts = [f"{names['K']}={point.K}"]
        # an index is shown by its own name: a document may call an index y while y names its probabilities
        parts += [f"{names.get('index ' + str(s), str(s))}={value}"
                  for s, value in sorted(point.indices.items(), key=lambda kv: str(kv[0]))]
        vectors = {"z": point.z, "t": point.t, "v": point.v}
        for base in ("z", "t", "v"):
            if base == "z" or base in self.reads:
                parts.append(f"{names[base]}=({', '.join(_short(x) for x in vectors[base])})")
        if "c" in self.reads:
            parts.append(f"{names['c']}={_short(point.c)}")
        parts += [f"{names.get(name, name)}={_short(value)}" for name, value in point.constants]
        if "layer" in self.reads:
            parts.append(f"input size {point.K + 1}, the layer's weights and inputs drawn from the point")
        return ", ".join(parts) + f": lhs={self.lhs}, rhs={self.rhs}"


def format_value(value) -> str:
    """A side's value for messages: 6 significant digits; complex where a logarithm left the reals."""
    if isinstance(value, mpmath.mpc) and value.imag != 0:
        sign = "+" if value.imag >= 0 else "-"
        return f"{mpmath.nstr(value.real, 6)}{sign}{mpmath.nstr(abs(value.imag), 6)}i"
    if isinstance(value, mpmath.mpc):
        value = value.real
    return mpmath.nstr(mpmath.mpf(value), 6)


@dataclass(frozen=True)
class Verdict:
    status: Status
    assumptions_used: tuple[str, ...] = ()
    counterexample: Counterexample | None = None
    message: str = ""
    method: str = ""
    residual: str = ""
    points_checked: int = 0
    #: assumptions not stated under which the claim would be proved
    missing_assumptions: tuple[str, ...] = ()
    #: sampled points skipped because a side has no real value there
    points_skipped: int = 0
    #: for a proof: whether some point could be evaluated and agreed; why not, when it could not
    unconfirmed: str = ""
    #: what the message adds after the counterexample (a missing assumption)
    hint: str = ""
    #: for a refuted step: why it is wrong (check.diagnosis.Diagnosis); printed by the output layer
    diagnosis: object = None

    @property
    def proved(self) -> bool:
        return self.status is Status.PROVED

    def explain(self, names: dict | None = None) -> str:
        """The message, with a counterexample written in the derivation's own letters."""
        if self.status is Status.REFUTED and self.counterexample is not None:
            return f"refuted at {self.counterexample.describe(names)}.{self.hint}"
        return self.message

    def as_dict(self) -> dict:
        return {
            "verdict": self.status.value,
            "assumptions_used": list(self.assumptions_used),
            "counterexample": self.counterexample.as_dict() if self.counterexample else None,
            "message": self.message,
            "method": self.method,
            "missing_assumptions": list(self.missing_assumptions),
            "points_checked": self.points_checked,
            "points_skipped": self.points_skipped,
            "numerically_confirmed": self.status is Status.PROVED and not self.unconfirmed,
        }
