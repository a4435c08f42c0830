"""The report as one self-contained HTML page: the same contents as the PDF, math as MathML.

No script, no stylesheet or font from the network: browsers lay out MathML
natively.  Formulas are converted from LaTeX by ``latex2mathml`` and then
rebuilt element by element from an allowlist of MathML elements and
attributes, so nothing a derivation file says can become markup: text is
escaped by the serializer, anything else is dropped.  The page is rendered from
``templates/report.html.j2`` with autoescaping on.
"""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET

import jinja2
from latex2mathml.converter import convert
from markupsafe import Markup

from .. import assumptions as assumption_registry
from .. import resources
from ..check.checker import DerivationReport
from ..justifications import REGISTRY as JUSTIFICATIONS
from ..notation import latex
from ..verdicts import Status
from .explain import detail
from .report import Meta, Numerics, _numerics_view, _same_text, overall_plain
from .tex_safe import safe_math

TEMPLATE = "report.html.j2"
MATHML = "http://www.w3.org/1998/Math/MathML"
MARKS = {Status.PROVED: "✓", Status.NUMERIC: "≈", Status.REFUTED: "✗", Status.UNDECIDED: "?"}

_ELEMENTS = {"math", "mrow", "mi", "mn", "mo", "ms", "mtext", "mspace", "msub", "msup", "msubsup", "mfrac",
             "msqrt", "mroot", "mover", "munder", "munderover", "mtable", "mtr", "mtd", "mstyle", "mpadded",
             "mphantom", "menclose", "mfenced", "semantics"}
_ATTRIBUTES = {"display", "stretchy", "fence", "form", "accent", "accentunder", "mathvariant", "displaystyle",
               "scriptlevel", "columnalign", "rowspacing", "columnspacing", "linethickness", "lspace", "rspace",
               "width", "height", "depth", "notation", "separators", "open", "close", "minsize", "maxsize",
               "movablelimits", "largeop", "symmetric", "mathsize", "columnlines", "rowlines", "frame"}


def mathml(formula: str, display: bool = False) -> str:
    """A LaTeX formula as sanitized MathML (markup safe to put in the page), or its text in <code>."""
    source = formula.replace("<", r"\lt ").replace(">", r"\gt ").replace("&", " ")
    try:
        root = ET.fromstring(convert(source, display="block" if display else "inline"))
        clean = _clean(root)
    except Exception:  # noqa: BLE001 (a formula the converter cannot take is shown as its source)
        return f"<code>{html.escape(formula)}</code>"
    _space_operator_names(clean)
    clean.set("xmlns", MATHML)
    return ET.tostring(clean, encoding="unicode", short_empty_elements=False)


_OPERATOR_NAMES = {"ln", "log", "exp", "sin", "cos", "tan", "tanh", "max", "min", "det", "diag", "softmax"}


def _space_operator_names(root: ET.Element) -> None:
    """A thin space around ln, log, exp, ... where TeX puts one (next to a letter, not before a parenthesis):
    latex2mathml writes <mi>ln</mi> with no space, which browsers set as "t_klny_k"."""
    def is_name(node: ET.Element) -> bool:
        tag = node.tag.split("}")[-1]
        if tag in ("msub", "munder", "msubsup", "munderover") and len(node):
            return is_name(node[0])  # \max_k: the name with its subscript
        return tag in ("mi", "mo") and (node.text or "").strip() in _OPERATOR_NAMES

    for parent in list(root.iter()):
        if parent.tag.split("}")[-1] not in ("math", "mrow", "mstyle", "mtd", "mpadded"):
            continue  # a script's arguments have fixed positions
        children = list(parent)
        for position in range(len(children) - 1, -1, -1):
            child = children[position]
            if not is_name(child):
                continue
            after = children[position + 1] if position + 1 < len(children) else None
            if after is not None and not (after.tag.endswith("mo") and (after.text or "").strip() in "([{|"):
                parent.insert(position + 1, ET.Element("mspace", {"width": "0.1667em"}))
            before = children[position - 1] if position > 0 else None
            if before is not None and not before.tag.endswith("mo"):
                parent.insert(position, ET.Element("mspace", {"width": "0.1667em"}))


def _clean(node: ET.Element) -> ET.Element:
    tag = node.tag.split("}")[-1]
    if tag not in _ELEMENTS:
        raise ValueError(f"unexpected element {tag}")
    out = ET.Element(tag, {k: v for k, v in node.attrib.items() if k in _ATTRIBUTES and re.fullmatch(r"[\w .%-]*", v)})
    out.text = node.text
    for child in node:
        cleaned = _clean(child)
        cleaned.tail = child.tail
        out.append(cleaned)
    return out


def math_markup(latex_source: str, display: bool = False) -> str:
    """The author's LaTeX, when it is safe (tex_safe's allowlist), as MathML; else its escaped text."""
    safe = safe_math(latex_source)
    return mathml(safe, display) if safe is not None else f"<code>{html.escape(latex_source)}</code>"


def prose(text: str) -> str:
    """Prose with math between $...$: text escaped, math as MathML."""
    parts = str(text).split("$")
    if len(parts) % 2 == 0:
        return html.escape(text)
    return "".join(html.escape(part) if n % 2 == 0 else math_markup(part) for n, part in enumerate(parts))


def _step(report, names) -> dict:
    step, verdict = report.step, report.verdict
    sides = (step.lhs, step.expr) if step.lhs is not None else (step.expr,)
    written = math_markup(step.latex, display=True) if safe_math(step.latex) is not None else \
        mathml(" = ".join(latex(e, names) for e in sides), display=True)
    reading = (latex(step.lhs, names) + " = " if step.lhs is not None else "") + latex(step.expr, names)
    cex = verdict.counterexample
    diagnosis = verdict.diagnosis
    reason = JUSTIFICATIONS[step.justification]
    return {
        "index": report.index,
        "mark": MARKS[verdict.status],
        "status": verdict.status.value,
        "justification": prose(reason.latex or reason.sentence) if step.justification != "none"
        else "no reason given",
        "case": mathml(step.case.latex) if step.case else "",
        "lemma": step.lhs is not None,
        "used": ", ".join(verdict.assumptions_used) or "none" if verdict.proved else "",
        "written": written,
        "reading": "" if _same_text(reading, safe_math(step.latex) or "") else mathml(reading, display=True),
        "message": prose(verdict.explain(names)) if verdict.status is not Status.PROVED or verdict.unconfirmed
        else "",
        "line": step.line,
        "license": None if report.license is None else {
            "warning": report.license.warning or report.license.status == "not reconstructed",
            "sentence": report.license.sentence()},
        "counterexample": None if cex is None else {
            "K": cex.point.K,
            "indices": ", ".join(f"{k} = {v}" for k, v in cex.point.as_dict()["indices"].items()) or "none",
            "z": ", ".join(f"{float(x):.6g}" for x in cex.point.z),
            "t": ", ".join(f"{float(x):.6g}" for x in cex.point.t),
            "lhs": cex.lhs, "rhs": cex.rhs},
        "diagnosis": None if diagnosis is None else {
            "kind": diagnosis.kind,
            "detail": prose(detail(diagnosis, names, lambda m: f"${m}$")),
            "residual": mathml(latex(diagnosis.residual, names)) if diagnosis.residual != 0 else "",
            "suggestion": mathml("= " + latex(diagnosis.suggestion, names)) if diagnosis.suggestion is not None
            else "",
            "note": diagnosis.suggestion_note},
    }


def _derivation(report: DerivationReport, number: int) -> dict:
    d = report.derivation
    ours = d.source.startswith("shared/notes/")
    start = math_markup(d.start_latex, display=True) if safe_math(d.start_latex) is not None else \
        mathml(latex(d.start, d.names), display=True)
    result = math_markup(d.result_latex) if safe_math(d.result_latex) is not None else \
        mathml(f"{latex(d.start, d.names)} = {latex(d.result, d.names)}")
    return {
        "anchor": f"d{number}",
        "name": d.name,
        "title": prose(d.title),
        "source": d.source,
        "status": report.status.value,
        "mark": MARKS[report.status],
        "passed": report.passed(),
        "start": start,
        "steps": [_step(s, d.names) for s in report.steps],
        "result": result,
        "reached": report.result.reached.status is Status.PROVED,
        "rederived": report.result.rederived.status.value,
        "rederived_mark": MARKS[report.result.rederived.status],
        "rederived_used": ", ".join(report.result.rederived.assumptions_used),
        "findings_heading": "Findings about the notes" if ours else "Findings",
        "findings": [{"kind": f.kind, "step": f.step, "message": prose(f.message)} for f in report.findings],
        "counts": {s.value: sum(1 for x in report.steps if x.verdict.status is s) for s in Status},
    }


def build_html(reports: list[DerivationReport], numerics: Numerics | None, meta: Meta = Meta()) -> str:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=True, trim_blocks=True,
                             lstrip_blocks=True, keep_trailing_newline=True)
    views = [_derivation(r, n) for n, r in enumerate(reports, start=1)]
    total = {s.value: sum(v["counts"][s.value] for v in views) for s in Status}
    numbers = _numerics_view(numerics, for_tex=False) if numerics is not None else None
    return env.from_string(resources.template(TEMPLATE)).render(
        meta={"title": Markup(prose(meta.title)), "title_text": meta.title.replace("$", ""),
              "date": meta.date, "version": meta.version},
        headline=overall_plain(reports),
        derivations=[{**v, **{k: Markup(v[k]) for k in ("title", "start", "result")},
                      "steps": [_markup_step(s) for s in v["steps"]],
                      "findings": [{**f, "message": Markup(f["message"])} for f in v["findings"]]}
                     for v in views],
        total=total,
        steps=sum(total.values()),
        refuted=[(v, s) for v in views for s in v["steps"] if s["counterexample"] is not None],
        assumptions=[{"name": a.name, "latex": Markup(mathml(a.latex)),
                      "sentence": Markup(prose(a.sentence))}
                     for a in assumption_registry.REGISTRY.values()],
        notation=Markup(mathml(r"y_k = \frac{e^{z_k}}{\sum_{i=1}^K e^{z_i}}, \qquad "
                                      r"E = -\sum_{k=1}^K t_k \ln y_k", display=True)),
        numerics=numbers,
    )


def _markup_step(step: dict) -> dict:
    """The step's pieces that are already markup (MathML, escaped prose) marked safe for the template."""
    out = dict(step)
    for key in ("case", "written", "reading", "message", "justification"):
        out[key] = Markup(step[key])
    if step["diagnosis"] is not None:
        out["diagnosis"] = {**step["diagnosis"], **{k: Markup(step["diagnosis"][k])
                                                    for k in ("detail", "residual", "suggestion")}}
    return out
