"""Verdicts are values: what the checker concluded about one claim, and why.

A frozen dataclass with a status from a small enum, never a free-form string.
``proved`` means the normal forms agree for symbolic K (and the numeric check
agrees too); ``numeric`` means every sampled point agrees but no proof was
found; ``refuted`` carries a point that really breaks the claim; ``undecided``
says what stopped the checker (a time limit, a SymPy failure, an expression
that cannot be evaluated).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .numeric import Point


class Status(enum.Enum):
    PROVED = "proved"
    NUMERIC = "numeric"
    REFUTED = "refuted"
    UNDECIDED = "undecided"

    @property
    def rank(self) -> int:
        """Worse verdicts rank higher: combining verdicts keeps the worst."""
        return {"proved": 0, "numeric": 1, "undecided": 2, "refuted": 3}[self.value]


@dataclass(frozen=True)
class Counterexample:
    """A point where the two sides differ, with both values (re-evaluating reproduces it)."""

    point: Point
    lhs: str
    rhs: str
    case: str | None = None

    def as_dict(self) -> dict:
        out = self.point.as_dict()
        out.update({"lhs": self.lhs, "rhs": self.rhs})
        if self.case:
            out["case"] = self.case
        return out

    def describe(self) -> str:
        idx = ", ".join(f"{k}={v}" for k, v in self.point.as_dict()["indices"].items())
        return f"K={self.point.K}" + (f", {idx}" if idx else "") + f": lhs={self.lhs}, rhs={self.rhs}"


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

    @property
    def proved(self) -> bool:
        return self.status is Status.PROVED

    def as_dict(self) -> dict:
        return {
            "verdict": self.status.value,
            "assumptions_used": list(self.assumptions_used),
            "counterexample": self.counterexample.as_dict() if self.counterexample else None,
            "message": self.message,
            "method": self.method,
            "missing_assumptions": list(self.missing_assumptions),
        }
