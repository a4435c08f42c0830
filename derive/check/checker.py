"""The checker: a verdict for every claim, and a report for every derivation.

For one claim ``lhs = rhs`` under stated assumptions (and possibly a case):

1. try to prove it symbolically, for symbolic K, with the normal form
   (``normal_form``), under a time limit; if proved, find the smallest set of
   assumptions that still proves it;
2. evaluate both sides numerically at K = 1..7 (``numeric``); a point where
   they differ refutes the claim, and is kept as the counterexample;
3. combine: proved (and numerically confirmed), numeric only (with what
   blocked the proof), refuted, or undecided (with the reason).

A claim that fails under its stated assumptions but is proved once another
assumption is added names that assumption: it is what the step silently uses.
"""

from __future__ import annotations

import dataclasses
import itertools
import signal
import threading
from contextlib import contextmanager
from dataclasses import dataclass

import sympy as sp
from sympy.polys.polyerrors import BasePolynomialError

from .. import assumptions as assumption_registry
from . import numeric
from .diagnosis import diagnose
from .licensing import License, check_license
from ..derivation import Case, Claim, Definition, Derivation, Finding, Step, check_expression, derivation_claims, walk
from ..notation import E, InputSize, Variable, c, t, v
from ..errors import DerivationError, EvaluationError
from ..justifications import REGISTRY as JUSTIFICATIONS
from .normal_form import Context, proves_equal, rebuild
from ..verdicts import Counterexample, Status, Verdict, format_value, worst

#: seconds one claim may spend in SymPy before it is called undecided
STEP_TIME_LIMIT = 20.0

#: SymPy failures we have seen and contain, each reported by name, never as a proof:
#: StopIteration from simplify on Sums (sympy issue 14570), RecursionError on deep
#: trees, NotImplementedError for unsupported operations, polynomial errors from
#: together/fraction on non-polynomial atoms, ValueError (e.g. "Can't calculate
#: derivative wrt ..."), TypeError (a relational with no truth value) and
#: ZeroDivisionError / OverflowError from exact arithmetic on huge numbers.
SYMPY_FAILURES = (StopIteration, RecursionError, NotImplementedError, BasePolynomialError, ValueError, TypeError,
                  ZeroDivisionError, OverflowError)
#: what stops the numeric check as a whole (an unsupported construct, a tree too deep to
#: evaluate); a point where a side is undefined is skipped inside numeric.search instead
NUMERIC_FAILURES = (EvaluationError, RecursionError, ValueError, TypeError)
#: a claim that is not proved is "numeric" only when at least this many points said yes
MIN_NUMERIC_POINTS = 5


class StepTimeout(Exception):
    """The time limit of one claim ran out."""


@contextmanager
def time_limit(seconds: float):
    """Raise StepTimeout after `seconds` (main thread only; elsewhere no limit)."""
    if seconds is None or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(_signum, _frame):
        raise StepTimeout()

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _subsets_by_strength(names: frozenset[str]):
    """Subsets of names, weakest first: by how much they assume in all, then by count."""
    ordered = assumption_registry.ordered(names)
    subsets = [frozenset(c) for r in range(len(ordered) + 1) for c in itertools.combinations(ordered, r)]
    return sorted(subsets, key=lambda s: (len(assumption_registry.closure(s)), len(s), assumption_registry.ordered(s)))


def _without_implied(names: frozenset[str]) -> tuple[str, ...]:
    """Drop names implied by others in the set, for a shorter report."""
    implied = set()
    for n in names:
        implied |= assumption_registry.closure([n]) - {n}
    return assumption_registry.ordered(names - implied)


def _prove(lhs, rhs, names, case) -> tuple[bool, sp.Expr]:
    return proves_equal(lhs, rhs, Context(assumption_registry.closure(names), case))


def minimal_assumptions(lhs, rhs, stated: frozenset[str], case: Case | None) -> frozenset[str] | None:
    for subset in _subsets_by_strength(assumption_registry.closure(stated)):
        if _prove(lhs, rhs, subset, case)[0]:
            return subset
    return None


def missing_assumptions(lhs, rhs, stated: frozenset[str], case: Case | None) -> tuple[str, ...]:
    """Assumptions not stated under which the claim would be proved (the weakest that work)."""
    allowed = assumption_registry.closure(stated)
    candidates = [n for n in assumption_registry.REGISTRY if n not in allowed]
    working = [n for n in candidates if _prove(lhs, rhs, allowed | {n}, case)[0]]
    # keep the weakest: drop any that implies another working one
    return tuple(n for n in working if not (assumption_registry.closure([n]) - {n}) & set(working))


def _reads(lhs, rhs) -> tuple[str, ...]:
    """Which inputs besides the logits the claim reads (to show them with a counterexample)."""
    atoms = set()
    for side in (lhs, rhs):
        atoms |= {a.base for a in side.atoms(sp.Indexed)} | side.free_symbols
    reads = []
    if t in atoms or E in atoms:
        reads.append("t")
    if v in atoms:
        reads.append("v")
    if c in atoms:
        reads.append("c")
    if any(isinstance(a, Variable) for a in atoms) or any(isinstance(a, InputSize) for a in atoms):
        reads.append("layer")
    return tuple(reads)


def check_equal(lhs: sp.Expr, rhs: sp.Expr, assumptions=(), case: Case | None = None,
                seconds: float | None = STEP_TIME_LIMIT, diagnose_refuted: bool = True) -> Verdict:
    """Decide lhs = rhs under the given assumption names (and case), for symbolic K."""
    for side, expr in (("lhs", lhs), ("rhs", rhs)):
        try:
            check_expression(expr, ("check_equal", None))
        except DerivationError as exc:
            raise EvaluationError(f"check_equal: {side}: {exc.problem}") from None
    stated = frozenset(assumptions)
    unknown = stated - set(assumption_registry.REGISTRY)
    if unknown:
        raise EvaluationError(f"unknown assumption(s) {sorted(unknown)}; known: {sorted(assumption_registry.REGISTRY)}")
    allowed = assumption_registry.closure(stated)
    proved, leftover, blocked = False, None, ""
    used: frozenset[str] | None = None
    try:
        with time_limit(seconds):
            proved, leftover = _prove(lhs, rhs, allowed, case)
            if proved:
                used = minimal_assumptions(lhs, rhs, stated, case)
    except StepTimeout:
        blocked = f"the symbolic proof ran out of its {seconds:g} s time limit"
    except SYMPY_FAILURES as exc:
        blocked = f"SymPy failed during the proof ({type(exc).__name__}: {_first_line(exc)})"

    found, numeric_error = None, ""
    limit = numeric.CONFIRM_COMBINATIONS if proved else numeric.SEARCH_COMBINATIONS
    try:
        with time_limit(seconds):
            found = numeric.search(lhs, rhs, allowed, case, limit=limit)
    except NUMERIC_FAILURES as exc:
        numeric_error = f"numeric evaluation failed ({type(exc).__name__}: {_first_line(exc)})"
    except StepTimeout:
        numeric_error = f"numeric evaluation ran out of its {seconds:g} s time limit"
    checked = found.checked if found else 0
    skipped = found.skipped if found else 0

    counterexample = None
    if found is not None and found.sample is not None:
        sample = found.sample
        counterexample = Counterexample(sample.point, format_value(sample.lhs), format_value(sample.rhs),
                                        case.label if case else None, _reads(lhs, rhs))
    counts = dict(points_checked=checked, points_skipped=skipped)

    if proved and used is not None:
        if counterexample is not None:
            return Verdict(Status.UNDECIDED, counterexample=counterexample, method="symbolic+numeric",
                           message="the symbolic proof and the numeric check disagree; this is a checker bug, "
                                   "please report it",
                           **counts)
        unconfirmed = numeric_error or ("" if checked else found.why_unconfirmed())
        if unconfirmed:
            note = f"not confirmed numerically: {unconfirmed}"
        else:
            note = f"confirmed at {checked} points"
            if skipped:
                note += f" ({skipped} skipped where a side is undefined)"
        return Verdict(Status.PROVED, _without_implied(used), method="symbolic",
                       message=f"proved symbolically for all K; {note}", unconfirmed=unconfirmed, **counts)

    missing = ()
    if not blocked:
        try:
            with time_limit(seconds):
                missing = missing_assumptions(lhs, rhs, stated, case)
        except (StepTimeout,) + SYMPY_FAILURES:
            missing = ()
    hint = ""
    if missing:
        hint = " It is proved if one also assumes: " + "; ".join(
            f"{n} ({assumption_registry.REGISTRY[n].sentence})" for n in missing) + ", which this step does not state."
    residual = "" if leftover is None else str(leftover)

    if counterexample is not None:
        found_why = None
        if diagnose_refuted:
            try:
                with time_limit(seconds):
                    found_why = diagnose(lhs, rhs, stated, case, missing)
            except (StepTimeout,) + SYMPY_FAILURES:
                found_why = None
        return Verdict(Status.REFUTED, counterexample=counterexample, method="numeric",
                       message=f"refuted at {counterexample.describe()}.{hint}", residual=residual,
                       missing_assumptions=missing, hint=hint, diagnosis=found_why, **counts)
    why = blocked or f"no symbolic proof (left over: {residual})"
    if numeric_error or checked < MIN_NUMERIC_POINTS:
        evidence = numeric_error or (found.why_unconfirmed() if not checked else
                                     f"only {checked} sampled points could be evaluated ({skipped} skipped)")
        return Verdict(Status.UNDECIDED, method="none", message=f"{why}; {evidence}.{hint}", residual=residual,
                       missing_assumptions=missing, hint=hint, **counts)
    skipped_note = f", {skipped} skipped where a side is undefined" if skipped else ""
    return Verdict(Status.NUMERIC, method="numeric", residual=residual,
                   message=f"holds at all {checked} sampled points (K = 1..12 and three values up to 50"
                           f"{skipped_note}) but is not proved: {why}.{hint}",
                   missing_assumptions=missing, hint=hint, **counts)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else ""


# ---------------------------------------------------------------------------
# derivations


@dataclass(frozen=True)
class StepReport:
    index: int
    step: Step
    previous: tuple[sp.Expr, ...]
    verdict: Verdict
    stated: tuple[str, ...]
    #: does the step follow by its cited reason (licensing.py)? None when not checked (a false step)
    license: License | None = None


@dataclass(frozen=True)
class ResultReport:
    """The derivation's claimed end result: reached by the chain, and re-derived independently."""

    expr: sp.Expr
    latex: str
    #: the chain's last line = the stated result (proved equal, not textually equal)
    reached: Verdict
    #: start = result, re-derived by SymPy from the definitions alone
    rederived: Verdict


@dataclass(frozen=True)
class DerivationReport:
    derivation: Derivation
    steps: tuple[StepReport, ...]
    result: ResultReport
    findings: tuple[Finding, ...]
    #: each 'define:' line with the checker's verdict that it is the notation's definition
    definitions: tuple[tuple[Definition, Verdict], ...] = ()

    @property
    def status(self) -> Status:
        """The one verdict on the whole derivation (see `failures` for what makes it fail).

        A derivation is proved only when every step is proved, its last line is
        proved equal to its stated result, and the independent re-derivation
        does not refute that result.
        """
        statuses = [s.verdict.status for s in self.steps] + [self.result.reached.status]
        statuses += [v.status for _, v in self.definitions]
        if self.result.rederived.status is Status.REFUTED:
            statuses.append(Status.REFUTED)
        return worst(statuses)

    def passed(self, allow_numeric: bool = False, strict: bool = False) -> bool:
        """Pass/fail, the same for the exit code, JSON, text and report.  With strict, a step that is
        proved but does not follow by its cited reason (or cites none) fails too."""
        ok = {Status.PROVED, Status.NUMERIC} if allow_numeric else {Status.PROVED}
        return self.status in ok and not (strict and self.unlicensed())

    def unlicensed(self) -> list:
        return [s for s in self.steps if s.license is not None and s.license.warning]

    def failures(self, allow_numeric: bool = False, strict: bool = False) -> list[str]:
        """Why the derivation does not pass, one short reason each (empty when it passes)."""
        ok = {Status.PROVED, Status.NUMERIC} if allow_numeric else {Status.PROVED}
        strict_out = [f"step {s.index} is proved but {s.license.status} ({s.license.sentence()})"
                      for s in self.unlicensed()] if strict else []
        out = [f"the definition on line {d.line} is not {d.what} ({v.status.value})"
               for d, v in self.definitions if v.status not in ok]
        out += [f"step {s.index} is {s.verdict.status.value}" for s in self.steps if s.verdict.status not in ok]
        if self.result.reached.status not in ok:
            out.append(f"the last line is not shown to equal the stated result ({self.result.reached.status.value})")
        if self.result.rederived.status is Status.REFUTED:
            out.append("the independent re-derivation refutes the stated result")
        return out + strict_out


def _combine(verdicts: list[Verdict]) -> Verdict:
    worst_one = max(verdicts, key=lambda v: v.status.rank)
    if worst_one.status is not Status.PROVED:
        return worst_one
    used = frozenset().union(*(v.assumptions_used for v in verdicts))
    unconfirmed = "; ".join(v.unconfirmed for v in verdicts if v.unconfirmed)
    return Verdict(Status.PROVED, _without_implied(used), method="symbolic",
                   message="proved in every case; " + "; ".join(v.message for v in verdicts),
                   points_checked=sum(v.points_checked for v in verdicts),
                   points_skipped=sum(v.points_skipped for v in verdicts), unconfirmed=unconfirmed)


def check_claim(derivation: Derivation, claim: Claim, diagnose_refuted: bool = True) -> StepReport:
    stated = derivation.stated_assumptions(claim.step)
    verdicts = [check_equal(prev, claim.step.expr, stated, case, diagnose_refuted=diagnose_refuted)
                for prev, case in claim.against]
    verdict = verdicts[0] if len(verdicts) == 1 else _combine(verdicts)
    previous = tuple(prev for prev, _ in claim.against)
    return StepReport(claim.index, claim.step, previous, verdict, assumption_registry.ordered(stated))


def check_step(derivation: Derivation, number: int) -> StepReport:
    """Check step `number` (1-based) of a derivation alone."""
    return check_claim(derivation, derivation_claims(derivation)[number - 1])


def _reached(derivation: Derivation, ends) -> Verdict:
    """Whether the chain's last line(s) equal the stated result, under what the derivation states anywhere.

    Equal means proved equal, not textually equal.  A last line that still
    holds a derivative the result does not hold has not reached the result,
    even though the checker could evaluate that derivative itself: the
    derivation stopped before doing so (the chain rule written out, say).
    """
    if not ends:
        return Verdict(Status.UNDECIDED, method="none",
                       message="no step continues the derivation from its start, so nothing reaches the result")
    pending = set()
    for expr, _ in ends:
        pending |= _derivatives(expr) - _derivatives(derivation.result)
    if pending:
        shown = ", ".join(sorted(sp.sstr(x) for x in pending))
        return Verdict(Status.UNDECIDED, method="none",
                       message=f"the last line still holds {shown}: the derivation stops before computing it")
    stated = frozenset(derivation.assumptions).union(*(derivation.stated_assumptions(s) for s in derivation.steps))
    verdicts = [check_equal(expr, derivation.result, stated, case) for expr, case in ends]
    return verdicts[0] if len(verdicts) == 1 else _combine(verdicts)


def _derivatives(expr: sp.Expr) -> set:
    return {rebuild(x) for x in sp.preorder_traversal(rebuild(expr)) if isinstance(x, sp.Derivative)}


def check_derivation(derivation: Derivation, licenses: bool = True, diagnoses: bool = True) -> DerivationReport:
    """Every step checked (true?); with `licenses`, whether each proved step follows by its reason; with
    `diagnoses`, why each refuted step is wrong."""
    reports: list[StepReport] = []
    findings: list[Finding] = list(derivation.findings)
    claims, ends = walk(derivation)
    known: list = []  # earlier results a later step may substitute: (a derivative, what it was shown to be)
    for claim in claims:
        report = check_claim(derivation, claim, diagnoses)
        if licenses and report.verdict.status is Status.PROVED:
            report = dataclasses.replace(report, license=_license(derivation, claim, tuple(known)))
        if report.verdict.status is Status.PROVED:
            for previous, _ in claim.against[:1]:
                shown = claim.step.lhs if claim.step.lhs is not None else previous
                if isinstance(shown, sp.Derivative):
                    known.append((shown, claim.step.expr))
        reports.append(report)
        findings.extend(claim.findings)
        findings.extend(_assumption_findings(claim.index, claim.step, report.verdict))
    # a derivation of one case (j = k only) claims its result in that case: re-derive it there too
    cases = {case for _, case in ends}
    rederived = check_equal(derivation.start, derivation.result,
                            frozenset(derivation.assumptions) | _used_anywhere(reports),
                            cases.pop() if len(cases) == 1 else None)
    result = ResultReport(derivation.result, derivation.result_latex, _reached(derivation, ends), rederived)
    findings.extend(_cancellations(reports, result))
    stated = ["index_range", *derivation.assumptions]
    definitions = tuple((d, check_equal(d.lhs, d.rhs, stated)) for d in derivation.definitions)
    return DerivationReport(derivation, tuple(reports), result, tuple(findings), definitions)


def _license(derivation: Derivation, claim, known: tuple) -> License:
    """The step's second verdict: does it follow by its reason?  A combination of cases is checked case by
    case already; a step with several previous lines is checked against each."""
    step = claim.step
    justification = JUSTIFICATIONS[step.justification]
    cited = () if step.justification == "none" else (step.justification,)
    if justification.merges_cases:
        return License("licensed", cited, ())
    assumed = assumption_registry.closure(derivation.stated_assumptions(step))
    worst_one = None
    for previous, case in claim.against:
        found = check_license(previous, step.expr, cited, case, known, assumed)
        if worst_one is None or found.warning or found.status == "not reconstructed":
            worst_one = found
    return worst_one


def _cancellations(reports, result) -> list[Finding]:
    """Wrong steps whose errors cancel: the chain is wrong at each of them, yet it ends at the right result
    (the steps' differences telescope to zero)."""
    wrong = [r.index for r in reports if r.verdict.status is Status.REFUTED and r.step.lhs is None]
    if len(wrong) < 2 or result.reached.status is not Status.PROVED or result.rederived.status is not Status.PROVED:
        return []
    listed = ", ".join(str(n) for n in wrong[:-1]) + f" and {wrong[-1]}"
    return [Finding("cancellation", f"steps {listed} are each wrong, but their errors cancel: step {wrong[-1]} "
                    f"undoes what step {wrong[0]} broke, so the end result is right for the wrong reason",
                    wrong[-1])]


def _used_anywhere(reports) -> frozenset[str]:
    return frozenset(a for r in reports for a in r.verdict.assumptions_used)


def _assumption_findings(number: int, step: Step, verdict: Verdict) -> list[Finding]:
    """What the step states beyond what it needs, or needs beyond what it states."""
    out = []
    if verdict.proved:
        used = assumption_registry.closure(verdict.assumptions_used)
        claimed = set(step.assumptions) | set(JUSTIFICATIONS[step.justification].states)
        for name in assumption_registry.ordered(claimed):
            if name in used:
                continue
            weaker = [w for w in assumption_registry.closure([name]) - {name} if w in used and w != "index_range"]
            if weaker:
                out.append(Finding("assumption", f"step {number} is justified by '{name}' "
                                   f"({assumption_registry.REGISTRY[name].sentence}), but the weaker "
                                   + ", ".join(f"'{w}' ({assumption_registry.REGISTRY[w].sentence})" for w in weaker)
                                   + " suffices", number))
            else:
                out.append(Finding("assumption", f"step {number} states '{name}' but does not need it", number))
    elif verdict.missing_assumptions:
        out.append(Finding("assumption", f"step {number} needs an assumption the derivation never states: "
                           + "; ".join(f"'{n}' ({assumption_registry.REGISTRY[n].sentence})"
                                       for n in verdict.missing_assumptions), number))
    return out
