"""The LaTeX proof report: checker results, findings and measured numerics, as a document.

``build_tex`` is pure: it takes derivation reports, numeric measurements and
the generated module's source and returns the text of ``report.tex``, rendered
from ``templates/report.tex.j2`` with LaTeX-safe Jinja delimiters
(``\\VAR{...}``, ``\\BLOCK{...}``) and StrictUndefined.  Every piece of prose
that comes from a derivation is escaped with :func:`tex_escape`; the notes'
own LaTeX is set in math mode as written.  Compiling is ``latex_build``'s job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import jinja2

from .. import assumptions as assumption_registry
from ..check.checker import DerivationReport
from .. import resources
from ..justifications import REGISTRY as JUSTIFICATIONS
from ..notation import latex, rendered_name
from .explain import show
from .prose import plain
from .latex_build import SOURCE_MARKER
from .tex_safe import safe_math, tex_escape, tex_prose
from ..verdicts import Status

TEMPLATE = "report.tex.j2"

MARKS = {
    Status.PROVED: r"\textcolor{ok}{$\checkmark$}",
    Status.NUMERIC: r"\textcolor{warn}{$\approx$}",
    Status.REFUTED: r"\textcolor{bad}{$\boldsymbol{\times}$}",
    Status.UNDECIDED: r"\textcolor{warn}{?}",
}


def _number(value) -> str:
    try:
        return f"{float(value):.6g}"
    except (TypeError, ValueError):
        return tex_escape(value)


def sympy_latex(expr, names: dict | None = None) -> str:
    return latex(expr, names)


def as_written(latex: str, *exprs, names: dict | None = None) -> str:
    """The author's LaTeX when every token of it is safe to compile, else the parsed expression(s) printed."""
    safe = safe_math(latex)
    if safe is not None:
        return safe
    return " = ".join(sympy_latex(e, names) for e in exprs)


def source_marker(path: str, line: int) -> str:
    """A TeX comment naming where a step came from, so a TeX error can be traced to the user's file.

    The path is reduced to printable ASCII: a newline in it would end the comment.
    """
    if not path:
        return ""
    shown = "".join(ch if " " <= ch <= "~" else "?" for ch in path)
    return f"{SOURCE_MARKER}{shown}:{line}"


def _step_view(step_report, path: str = "", names: dict | None = None) -> dict:
    step, verdict = step_report.step, step_report.verdict
    reason = JUSTIFICATIONS[step.justification]
    cex = verdict.counterexample
    sides = (step.lhs, step.expr) if step.lhs is not None else (step.expr,)
    notes = as_written(step.latex, *sides, names=names)
    reading = (sympy_latex(step.lhs, names) + " = " if step.lhs is not None else "") + sympy_latex(step.expr, names)
    return {
        "index": step_report.index,
        "marker": source_marker(path, step.line),
        "notes": notes,
        "sympy": "" if _same_text(reading, notes) else reading,
        "justification": (reason.latex or tex_escape(reason.sentence)) if step.justification != "none"
        else "no reason given",
        "justification_name": tex_escape(step.justification),
        "case": step.case.latex if step.case else "",
        "lemma": step.lhs is not None,
        "mark": MARKS[verdict.status],
        "status": verdict.status.value,
        "used": _names_tex(verdict.assumptions_used) if verdict.proved else "",
        # a counterexample has its own table: the message would repeat it
        "message": tex_escape(verdict.hint.strip() if cex is not None else verdict.message),
        "unconfirmed": verdict.status is Status.PROVED and bool(verdict.unconfirmed),
        "diagnosis": _diagnosis_view(verdict.diagnosis, names),
        "license": None if step_report.license is None else {
            "warning": step_report.license.warning or step_report.license.status == "not reconstructed",
            "sentence": tex_escape(step_report.license.sentence()),
        },
        "counterexample": None if cex is None else {
            "K": cex.point.K,
            "indices": ", ".join(f"${sympy_latex(k, names)} = {v}$" for k, v in
                                 sorted(cex.point.indices.items(), key=lambda kv: str(kv[0]))) or "none",
            "z": ", ".join(_number(x) for x in cex.point.z),
            "t": ", ".join(_number(x) for x in cex.point.t),
            "lhs": _number(cex.lhs),
            "rhs": _number(cex.rhs),
        },
    }


def tex_name(name: str) -> str:
    """An identifier in typewriter type that may break after an underscore (rule_factor_leaves_sum)."""
    return tex_escape(name).replace(r"\_", r"\_\allowbreak{}").replace("-", r"-\allowbreak{}")


def _names_tex(names, empty: str = "none") -> str:
    """Assumption names, each in typewriter type, separated where a line may break."""
    return ", ".join(r"\mbox{\texttt{" + tex_escape(n) + "}}" for n in names) or empty


def _same_text(reading: str, written: str) -> bool:
    """The reading says nothing the written line does not (y_k - 1 read as y_k - 1): not shown twice."""
    def bare(text):
        return re.sub(r"[\s{}]|\\left|\\right|^=", "", text)

    return bare(reading) == bare(written)


def _diagnosis_view(diagnosis, names) -> dict | None:
    """Why a refuted step is wrong, typeset: printed from the checker's expressions, never from user text."""
    if diagnosis is None:
        return None
    return {
        "kind": tex_escape(diagnosis.kind),
        "detail": "".join(f"${show(diagnosis.shown[int(piece[1])], names)}$" if re.fullmatch(r"\{\d\}", piece)
                          and int(piece[1]) < len(diagnosis.shown) else tex_escape(piece)
                          for piece in re.split(r"(\{\d\})", diagnosis.detail)),
        "residual": show(diagnosis.residual, names) if diagnosis.residual != 0 else "",
        "suggestion": show(diagnosis.suggestion, names) if diagnosis.suggestion is not None else "",
        "note": tex_escape(diagnosis.suggestion_note),
    }


def _derivation_view(report: DerivationReport) -> dict:
    d = report.derivation
    steps = [_step_view(s, d.path, d.names) for s in report.steps]
    ours = d.source.startswith("shared/notes/")
    return {
        "name": tex_name(d.name),
        "title": tex_prose(d.title),
        "title_plain": pdf_text(d.title),
        "notation": _notation_line(d.names),
        "findings_heading": "Findings about the notes" if ours else "Findings",
        "source": tex_name(d.source).replace("/", r"/\allowbreak{}"),
        "written": "As written in the notes" if ours else "As written",
        "start": as_written(d.start_latex, d.start, names=d.names),
        "steps": steps,
        "result": as_written(d.result_latex, d.start, d.result, names=d.names),
        "reached": report.result.reached.status is Status.PROVED,
        "passed": report.passed(),
        "rederived_mark": MARKS[report.result.rederived.status],
        "rederived": report.result.rederived.status.value,
        "rederived_used": _names_tex(report.result.rederived.assumptions_used, empty=""),
        "status": report.status.value,
        "mark": MARKS[report.status],
        "findings": [{"kind": tex_escape(f.kind), "step": f.step, "message": tex_prose(f.message)}
                     for f in report.findings],
        "counts": {s.value: sum(1 for x in report.steps if x.verdict.status is s) for s in Status},
    }


_PDF_SPECIALS = {"\\": "/", "{": "(", "}": ")", "$": "", "&": "and", "#": "No.", "%": " percent", "~": " ",
                 "^": "^", "_": r"\_"}


def pdf_text(prose: str) -> str:
    """Prose (math in $...$) as plain Unicode for a PDF bookmark or metadata: TeX's special characters
    replaced, other characters kept as they are (hyperref's unicode option writes them to the PDF)."""
    text = plain(prose, unicode=True)
    out = "".join(_PDF_SPECIALS.get(ch, ch) if ch in _PDF_SPECIALS else ch for ch in text
                  if ch.isprintable())
    return out.replace("^", r"\^{}")


_ROLES = (("z", "logits"), ("y", "probabilities"), ("t", "targets"), ("E", "loss"), ("K", "number of classes"))


def _notation_line(names: dict) -> str:
    """'logits $a$, probabilities $S$' where the derivation's letters differ from the notation's."""
    parts = []
    for key, role in _ROLES:
        shown = names.get(key)
        if shown and shown != key:
            math = safe_math(rendered_name(shown) or "")
            parts.append(f"{role} ${math}$" if math else f"{role} \\texttt{{{tex_escape(shown)}}}")
    return ", ".join(parts)


def overall_plain(reports: list[DerivationReport]) -> str:
    """The report's headline as plain text, from the one pass/fail definition (DerivationReport.passed)."""
    failed = [r for r in reports if not r.passed()]
    if not reports:
        return "No derivation was checked."
    if not failed:
        return (f"All {len(reports)} derivations pass: every step is proved and each last line is proved "
                "equal to the stated result." if len(reports) > 1 else
                "The derivation passes: every step is proved and its last line is proved equal to the stated result.")
    parts = [f"{r.derivation.name}: " + plain("; ".join(r.failures()), unicode=True) for r in failed]
    return f"{len(failed)} of {len(reports)} derivations fail. " + "; ".join(parts) + "."


def overall_verdict(reports: list[DerivationReport]) -> str:
    """The headline, typeset."""
    return tex_escape(overall_plain(reports))


@dataclass(frozen=True)
class Numerics:
    """Measurements of the generated module taken while the report is built."""

    accuracy: list  # of derive.measure.AccuracyRow
    finite_differences: dict
    source: str


def _numerics_view(numerics: Numerics | None, for_tex: bool = True) -> dict | None:
    """The measurements as table cells (TeX-escaped unless for_tex is False: the HTML page escapes its own)."""
    if numerics is None:
        return None
    escape = tex_escape if for_tex else (lambda text: text)
    names = ["softmax", "log_softmax", "ce_label", "ce_soft", "grad_label", "grad_soft"]
    worst = {}
    for row in numerics.accuracy:
        for name in names:
            key = (row.dtype, name)
            worst[key] = max(worst.get(key, 0.0), row.ulps[name])
    dtypes = sorted({row.dtype for row in numerics.accuracy}, reverse=True)
    kernels = numerics.source
    if "# kernels:" in kernels:  # from the first kernel to the last, without the section comments around them
        kernels = kernels.split("# kernels:", 1)[1].split("# public functions")[0]
        kernels = kernels.split("\n", 1)[1] if "\n" in kernels else kernels
        lines = kernels.rstrip().split("\n")
        while lines and (not lines[-1].strip() or lines[-1].lstrip().startswith("#")):
            lines.pop()
        kernels = "\n".join(lines)
    return {
        "columns": [escape(n) for n in names],
        "rows": [{"dtype": d, "cells": [f"{worst[(d, n)]:.2f}" for n in names]} for d in dtypes],
        "grid": escape(", ".join(sorted({f"K={r.classes}" for r in numerics.accuracy}, key=lambda s: int(s[2:])))
                       + "; scales " + ", ".join(sorted({f"{r.scale:g}" for r in numerics.accuracy}, key=float))),
        "all_finite": all(r.ulps["all_finite"] for r in numerics.accuracy),
        "fd": [{"name": escape(k), "value": f"{v:.1e}"} for k, v in numerics.finite_differences.items()],
        "listing": kernels.strip("-\n "),
    }


@dataclass(frozen=True)
class Meta:
    """The report's title block and PDF metadata."""

    title: str = "A step-by-step check of the softmax cross-entropy gradient"
    date: str = ""
    version: str = ""


def build_tex(reports: list[DerivationReport], numerics: Numerics | None, meta: Meta = Meta(),
              code_missing: bool = False) -> str:
    """report.tex: the derivations, and the generated code's measurements when given (code_missing: they
    were asked for, but there is no generated file to measure)."""
    env = jinja2.Environment(
        undefined=jinja2.StrictUndefined,
        block_start_string=r"\BLOCK{", block_end_string="}", variable_start_string=r"\VAR{",
        variable_end_string="}", comment_start_string=r"\#{", comment_end_string="}",
        trim_blocks=True, lstrip_blocks=True, autoescape=False, keep_trailing_newline=True)
    views = [_derivation_view(r) for r in reports]
    total = {s.value: sum(v["counts"][s.value] for v in views) for s in Status}
    refuted = [(v, s) for v in views for s in v["steps"] if s["counterexample"] is not None]
    failed = sum(not r.passed() for r in reports)
    return env.from_string(resources.template(TEMPLATE)).render(
        meta={"title_tex": tex_prose(meta.title), "title": pdf_text(meta.title), "date": tex_escape(meta.date),
              "version": tex_escape(meta.version), "author": tex_escape(f"derive {meta.version}".strip()),
              "subject": tex_escape(f"Step-by-step check of {len(reports)} derivation(s): "
                                    f"{len(reports) - failed} pass, {failed} fail"),
              "keywords": "softmax, cross-entropy, gradient, derivation, proof, SymPy"},
        toc=len(reports) > 1 or numerics is not None,
        code_missing=code_missing and numerics is None,
        headline=overall_verdict(reports),
        derivations=views,
        total=total,
        steps=sum(total.values()),
        refuted=refuted,
        assumptions=[{"name": tex_escape(a.name), "latex": a.latex, "sentence": tex_prose(a.sentence)}
                     for a in assumption_registry.REGISTRY.values()],
        numerics=_numerics_view(numerics),
        marks={s.value: MARKS[s] for s in Status},
    )
