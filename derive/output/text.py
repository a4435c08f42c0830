"""Checker results as plain data (for --json) and as terminal text.

Pure functions from reports to dicts and strings; only the CLI prints.
"""

from __future__ import annotations

import sympy as sp

from ..check.checker import DerivationReport
from ..verdicts import Status
from .explain import diagnosis_dict, diagnosis_lines

MARKS = {Status.PROVED: "✓", Status.NUMERIC: "~", Status.REFUTED: "✗", Status.UNDECIDED: "?"}


def step_dict(report, names: dict | None = None) -> dict:
    step, verdict = report.step, report.verdict
    return {
        "index": report.index,
        "latex": step.latex,
        "sympy": sp.sstr(step.expr),
        "justification": step.justification if step.justification != "none" else None,
        "license": report.license.as_dict() if report.license is not None else None,
        "case": step.case.label if step.case else None,
        "lemma": sp.sstr(step.lhs) if step.lhs is not None else None,
        "line": step.line or None,
        "stated_assumptions": list(report.stated),
        **verdict.as_dict(),
        "diagnosis": diagnosis_dict(verdict.diagnosis, names),
    }


def derivation_dict(report: DerivationReport, allow_numeric: bool = False, strict: bool = False) -> dict:
    d = report.derivation
    return {
        "name": d.name,
        "title": d.title,
        "status": report.status.value,
        "passed": report.passed(allow_numeric, strict),
        "failures": report.failures(allow_numeric, strict),
        "result": {
            "latex": report.result.latex,
            "sympy": sp.sstr(report.result.expr),
            "reached_by_steps": report.result.reached.status is Status.PROVED,
            "reached": report.result.reached.as_dict(),
            "rederived": report.result.rederived.as_dict(),
        },
        "steps": [step_dict(s, d.names) for s in report.steps],
        "findings": [{"kind": f.kind, "step": f.step, "message": f.message} for f in report.findings],
    }


def counts(reports) -> dict:
    out = {s.value: 0 for s in Status}
    for r in reports:
        for s in r.steps:
            out[s.verdict.status.value] += 1
    return out


def to_json_data(reports, allow_numeric: bool = False, strict: bool = False) -> dict:
    summary = counts(reports)
    summary["derivations_passed"] = sum(r.passed(allow_numeric, strict) for r in reports)
    summary["derivations_failed"] = len(reports) - summary["derivations_passed"]
    summary["steps_not_following_their_reason"] = sum(len(r.unlicensed()) for r in reports)
    return {"derivations": [derivation_dict(r, allow_numeric, strict) for r in reports], "summary": summary}


def to_text(reports, allow_numeric: bool = False, strict: bool = False) -> str:
    lines: list[str] = []
    for r in reports:
        d = r.derivation
        lines.append(f"{d.name}: {d.title}")
        lines.append(f"  start  {d.start_latex}")
        for s in r.steps:
            v = s.verdict
            case = f" [case {s.step.case.label}]" if s.step.case else ""
            used = ", ".join(v.assumptions_used) or "-"
            where = f" (line {s.step.line})" if s.step.line else ""
            reason = s.step.justification.replace("_", " ") if s.step.justification != "none" else "unjustified"
            lines.append(f"  {s.index:>2} {MARKS[v.status]} {v.status.value:<9} {reason}{case}; "
                         f"uses: {used}{where}")
            lines.append(f"       {s.step.latex}")
            if v.status is not Status.PROVED or v.unconfirmed:
                lines.append(f"       {v.explain(d.names)}")
            lines += [f"       {line}" for line in diagnosis_lines(v.diagnosis, d.names)]
            lines += [f"       {line}" for line in license_lines(s.license)]
        res = r.result
        lines.append(f"  result {res.latex}: reached by the steps: {_yes_no(res.reached)}; "
                     f"independent SymPy re-derivation: {res.rederived.status.value}")
        if res.reached.status is not Status.PROVED:
            lines.append(f"       {res.reached.explain(d.names)}")
        if r.findings:
            lines.append("  findings about the notes:")
            for f in r.findings:
                where = f" (step {f.step})" if f.step else ""
                lines.append(f"    - [{f.kind}]{where} {f.message}")
        failures = r.failures(allow_numeric, strict)
        lines.append(f"  verdict: {'PASS' if not failures else 'FAIL: ' + '; '.join(failures)}")
        lines.append("")
    c = counts(reports)
    total = sum(c.values())
    passed = sum(r.passed(allow_numeric, strict) for r in reports)
    lines.append(f"summary: {len(reports)} derivation(s), {passed} pass, {len(reports) - passed} fail; "
                 f"{total} steps: " + ", ".join(f"{n} {k}" for k, n in c.items()))
    return "\n".join(lines)


def license_lines(license) -> list[str]:
    """A warning under a step that is true but does not follow by its reason; for a step without a reason,
    the rules it bundles when it leaps over several."""
    if license is None:
        return []
    if license.status == "not licensed":
        return [f"! {license.sentence()}"]
    if license.status == "unjustified" and len(license.needs) >= 2:
        return [f"! {license.sentence()}"]
    return []


def _yes_no(verdict) -> str:
    return {Status.PROVED: "yes", Status.NUMERIC: "numerically only", Status.REFUTED: "no"}.get(
        verdict.status, "undecided")
