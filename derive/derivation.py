"""Derivations as data: an ordered list of steps, validated when built.

A derivation starts from an expression (``start``) and each :class:`Step`
claims ``previous = expr``.  A step inside a case split (``case``) follows the
previous step of the same case, or the last step before the split; the first
step after the split (justified by ``combine_cases``) is checked against the
last step of every case.  A step with ``lhs`` is a side result (a lemma such
as dE/dy_k = -t_k/y_k): it claims ``lhs = expr`` and does not move the chain.

Validation happens here, once, so that bad input (an undefined symbol, an
unknown justification or assumption, something that is not an expression)
fails with a message naming the derivation and the step.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from . import assumptions as assumption_registry
from . import justifications as justification_registry
from .errors import DerivationError
from .notation import INDEXED_BASES, INDICES, SCALARS, Constant, InputSize, Variable, is_index


@dataclass(frozen=True)
class Case:
    """A case of a split: ``left = right`` (equal) or ``left != right``."""

    left: sp.Symbol
    right: sp.Symbol
    equal: bool

    @property
    def label(self) -> str:
        return f"{self.left} {'=' if self.equal else '!='} {self.right}"

    @property
    def latex(self) -> str:
        relation = "=" if self.equal else r"\neq"
        return f"{sp.latex(self.left)} {relation} {sp.latex(self.right)}"

    def complement(self) -> "Case":
        return Case(self.left, self.right, not self.equal)


@dataclass(frozen=True)
class Step:
    expr: sp.Expr
    latex: str
    justification: str
    case: Case | None = None
    assumptions: tuple[str, ...] = ()
    lhs: sp.Expr | None = None
    note: str = ""
    #: the formula starts again from the derivation's start (a second attempt, or the start
    #: under a case): it is compared with the start, not with the line before it
    restates: bool = False
    #: the line of the derivation file where the step's formula starts (0: not from a file)
    line: int = 0


@dataclass(frozen=True)
class Definition:
    """A definition the derivation states (softmax or cross-entropy in its own letters), checked, not trusted."""

    lhs: sp.Expr
    rhs: sp.Expr
    line: int = 0

    @property
    def what(self) -> str:
        return "softmax" if isinstance(self.lhs, sp.Indexed) else "the cross-entropy -sum_k t_k ln y_k"


@dataclass(frozen=True)
class Finding:
    """Something sloppy or ambiguous in the notes, reported, never silently fixed."""

    kind: str
    message: str
    step: int | None = None
    #: the line of the file it is about (0: the derivation as a whole)
    line: int = 0


@dataclass(frozen=True)
class Derivation:
    name: str
    title: str
    start: sp.Expr
    start_latex: str
    steps: tuple[Step, ...]
    result: sp.Expr
    result_latex: str
    assumptions: tuple[str, ...] = ("index_range",)
    findings: tuple[Finding, ...] = ()
    source: str = ""
    extra: dict = field(default_factory=dict, compare=False, hash=False)
    #: what the derivation calls the notation's quantities, e.g. {"z": "o", "y": "p", "E": "L"}
    names: dict = field(default_factory=dict, compare=False, hash=False)
    #: the file the derivation was read from ('' when built in code)
    path: str = ""
    #: its 'define:' lines, which the checker proves equal to the notation's definitions
    definitions: tuple[Definition, ...] = ()
    #: a content hash of the text it was read from ('' when built in code)
    digest: str = ""

    def __post_init__(self):
        validate(self)

    def stated_assumptions(self, step: Step) -> frozenset[str]:
        """What this derivation states for a step: its own, the step's and its justification's."""
        j = justification_registry.REGISTRY[step.justification]
        return frozenset(self.assumptions) | frozenset(step.assumptions) | frozenset(j.states)


_KNOWN_SYMBOLS = frozenset(INDICES) | frozenset(SCALARS) | frozenset(b.label for b in INDEXED_BASES)


def check_expression(expr, where) -> None:
    """Raise DerivationError(*where, ...) unless expr is an expression in the notation."""
    if not isinstance(expr, sp.Expr):
        raise DerivationError(*where, f"expected a SymPy expression, got {type(expr).__name__} {expr!r:.60}")
    for base in expr.atoms(sp.IndexedBase):
        if base not in INDEXED_BASES and not isinstance(base, Variable):
            raise DerivationError(*where, f"undefined indexed name '{base}'; the notation defines z, t, y")
    labels = {base.label for base in expr.atoms(sp.IndexedBase) if isinstance(base, Variable)}
    for sym in sorted(expr.atoms(sp.Symbol) - labels, key=str):
        # the notation's symbols, any index (a derivation may call its indices c, d, l, ...), its constants
        if sym in _KNOWN_SYMBOLS or is_index(sym) or isinstance(sym, (Constant, InputSize)):
            continue
        names = {s.name for s in _KNOWN_SYMBOLS}
        hint = " (same name as a notation symbol, different assumptions)" if sym.name in names else ""
        raise DerivationError(*where, f"undefined symbol '{sym}'{hint}; the notation defines {sorted(names)}")


def _known_assumptions() -> list[str]:
    return sorted(assumption_registry.REGISTRY)


def validate(derivation: Derivation) -> None:
    name = derivation.name
    if not derivation.steps:
        raise DerivationError(name, None, "has no steps")
    check_expression(derivation.start, (name, 0))
    check_expression(derivation.result, (name, None))
    for a in derivation.assumptions:
        if a not in assumption_registry.REGISTRY:
            raise DerivationError(name, None, f"unknown assumption '{a}'; known: {_known_assumptions()}")
    for number, step in enumerate(derivation.steps, start=1):
        where = (name, number)
        if not isinstance(step, Step):
            raise DerivationError(*where, f"expected a Step, got {type(step).__name__}")
        check_expression(step.expr, where)
        if step.lhs is not None:
            check_expression(step.lhs, where)
        if step.justification not in justification_registry.REGISTRY:
            known = ", ".join(sorted(justification_registry.REGISTRY))
            raise DerivationError(*where, f"unknown justification '{step.justification}'; known: {known}")
        for a in step.assumptions:
            if a not in assumption_registry.REGISTRY:
                raise DerivationError(*where, f"unknown assumption '{a}'; known: {_known_assumptions()}")
        if step.case is not None and not (is_index(step.case.left) and is_index(step.case.right)):
            raise DerivationError(*where, f"a case must relate two indices, got {step.case.label}")


@dataclass(frozen=True)
class Claim:
    """What one step claims: ``previous = step.expr`` for each (previous, case) pair."""

    index: int
    step: Step
    against: tuple[tuple[sp.Expr, Case | None], ...]
    findings: tuple[Finding, ...] = ()


def walk(derivation: Derivation) -> tuple[list[Claim], tuple[tuple[sp.Expr, Case | None], ...]]:
    """Pair every step with what it must equal, and find the chain's last line(s).

    A step continues the chain (the previous line, or the last line of its
    case), except: a side result (``lhs``) is checked on its own; a step that
    restates the start (a second attempt, the start under a case) is compared
    with the start; the first step after a case split is compared with the
    last line of every case (also when it restates the start, if it says it
    combines the cases).  The last lines are the chain's end, or the last
    line of each case when the derivation ends inside a split (none when no
    step ever continues from the start).
    """
    claims: list[Claim] = []
    chain, moved = derivation.start, False
    open_cases: dict[Case, sp.Expr] = {}
    for number, step in enumerate(derivation.steps, start=1):
        findings: list[Finding] = []
        if step.lhs is not None:
            against = ((step.lhs, step.case),)
        elif step.case is not None:
            previous = derivation.start if step.restates else open_cases.get(step.case, chain)
            against = ((previous, step.case),)
            open_cases[step.case] = step.expr
        elif open_cases and (justification_registry.REGISTRY[step.justification].merges_cases or not step.restates):
            against = tuple((prev, case) for case, prev in open_cases.items())
            if not justification_registry.REGISTRY[step.justification].merges_cases:
                findings.append(Finding("justification", f"step {number} follows a case split but is not "
                                        "justified as combining the cases", number))
            findings.extend(_coverage_findings(list(open_cases), number))
            open_cases, chain, moved = {}, step.expr, True
        else:
            against = ((derivation.start if step.restates else chain, None),)
            open_cases, chain, moved = {}, step.expr, True
        claims.append(Claim(number, step, against, tuple(findings)))
    if open_cases:
        ends = tuple((expr, case) for case, expr in open_cases.items())
    else:
        ends = ((chain, None),) if moved else ()
    return claims, ends


def derivation_claims(derivation: Derivation) -> list[Claim]:
    return walk(derivation)[0]


def _coverage_findings(cases: list[Case], number: int) -> list[Finding]:
    pairs = {(c.left, c.right) for c in cases}
    out = []
    for left, right in pairs:
        have = {c.equal for c in cases if (c.left, c.right) == (left, right)}
        if have != {True, False}:
            missing = Case(left, right, not next(iter(have)))
            out.append(Finding("cases", f"the case split before step {number} does not cover {missing.label}", number))
    return out
