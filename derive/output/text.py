"""Checker results as plain data (for --json) and as terminal text.

Pure functions from reports to dicts and strings; only the CLI prints.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import textwrap
from dataclasses import dataclass

import sympy as sp

from ..check.checker import DerivationReport
from ..verdicts import Status
from .explain import diagnosis_dict, diagnosis_lines
from .prose import plain, to_unicode

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


@dataclass(frozen=True)
class Style:
    """How the terminal output looks: wrapped to `width` columns (None: not wrapped), verdicts in colour,
    formulas as LaTeX (the author's) or in Unicode (∂E/∂z_j = y_j − t_j)."""

    width: int | None = None
    colour: bool = False
    unicode: bool = False


_COLOURS = {"proved": "32", "PASS": "32", "numeric": "33", "undecided": "33", "refuted": "31", "FAIL": "31",
            "!": "33"}


def terminal_style(unicode: bool = False, stream=None) -> Style:
    """The style for a terminal: wrapped to its width and coloured when it is one (NO_COLOR says no colour);
    piped output is neither wrapped nor coloured, so a script reads whole lines."""
    stream = stream or sys.stdout
    tty = hasattr(stream, "isatty") and stream.isatty()
    width = shutil.get_terminal_size(fallback=(100, 24)).columns if tty else None
    colour = tty and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"
    return Style(width=max(width, 40) if width else None, colour=colour, unicode=unicode)


def _formula(latex: str, style: Style) -> str:
    return to_unicode(latex) if style.unicode else latex


def _prose(text: str, style: Style) -> str:
    return plain(text, style.unicode)


def to_text(reports, allow_numeric: bool = False, strict: bool = False, style: Style = Style()) -> str:
    lines: list[str] = []
    for r in reports:
        d = r.derivation
        lines.append(f"{d.name}: {_prose(d.title, style)}")
        lines.append(f"  start  {_formula(d.start_latex, style)}")
        for s in r.steps:
            v = s.verdict
            case = f" [case {s.step.case.label}]" if s.step.case else ""
            where = f" (line {s.step.line})" if s.step.line else ""
            reason = s.step.justification.replace("_", " ") if s.step.justification != "none" else "unjustified"
            used = f"; uses: {', '.join(v.assumptions_used) or 'no assumption'}" if v.proved else ""
            lines.append(f"  {s.index:>2} {MARKS[v.status]} {v.status.value:<9} {reason}{case}{used}{where}")
            lines.append(f"       {_formula(s.step.latex, style)}")
            if v.status is not Status.PROVED or v.unconfirmed:
                lines.append(f"       {_prose(v.explain(d.names), style)}")
            lines += [f"       {_prose(line, style)}" for line in diagnosis_lines(v.diagnosis, d.names, style.unicode)]
            lines += [f"       {_prose(line, style)}" for line in license_lines(s.license)]
        res = r.result
        lines.append(f"  result {_formula(res.latex, style)}: reached by the steps: {_yes_no(res.reached)}; "
                     f"independent SymPy re-derivation: {res.rederived.status.value}")
        if res.reached.status is not Status.PROVED:
            lines.append(f"       {_prose(res.reached.explain(d.names), style)}")
        if r.findings:
            lines.append("  findings about the notes:" if d.source.startswith("shared/notes/") else "  findings:")
            for f in r.findings:
                where = f" (step {f.step})" if f.step else ""
                lines.append(f"    - [{f.kind}]{where} {_prose(f.message, style)}")
        failures = r.failures(allow_numeric, strict)
        lines.append(f"  verdict: {'PASS' if not failures else 'FAIL: ' + _prose('; '.join(failures), style)}")
        lines.append("")
    c = counts(reports)
    total = sum(c.values())
    passed = sum(r.passed(allow_numeric, strict) for r in reports)
    derivations = "derivation" if len(reports) == 1 else "derivations"
    lines.append(f"summary: {len(reports)} {derivations}, {passed} pass, {len(reports) - passed} fail; "
                 f"{total} {'step' if total == 1 else 'steps'}: " + ", ".join(f"{n} {k}" for k, n in c.items()))
    return "\n".join(_styled(line, style) for line in lines)


def _styled(line: str, style: Style) -> str:
    """One line made safe to print (control characters shown as escapes), wrapped and coloured."""
    line = printable(line)
    if style.width and len(line) > style.width:
        indent = len(line) - len(line.lstrip(" "))
        body = line.lstrip(" ")
        hanging = indent + (2 if body.startswith(("- [", "result", "verdict")) else 0) + \
            (4 if re.match(r"\d+ ", body) else 0)
        line = textwrap.fill(body, width=style.width, initial_indent=" " * indent,
                             subsequent_indent=" " * min(hanging, style.width // 2),
                             break_on_hyphens=False, break_long_words=True)
    if style.colour:
        line = re.sub(r"(✓ proved|~ numeric|\? undecided|✗ refuted|\bPASS\b|\bFAIL\b|^\s+! )",
                      lambda m: _paint(m.group(1)), line, flags=re.MULTILINE)
    return line


def _paint(text: str) -> str:
    key = next((k for k in _COLOURS if k in text), None)
    return f"\x1b[{_COLOURS[key]}m{text}\x1b[0m" if key else text


def printable(text: str) -> str:
    """text with every non-printable character but newline shown as an escape (\\x1b, \\u202e, ...): a file
    cannot move the cursor or recolour the terminal."""
    return "".join(ch if ch == "\n" or ch.isprintable() else ch.encode("unicode_escape").decode("ascii")
                   for ch in str(text))


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
