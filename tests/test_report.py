"""The LaTeX report: compiles with real pdflatex, shows every verdict, survives special characters."""

import dataclasses
import os
import shutil
import subprocess
import sys

import pytest
import sympy as sp

from derive.output import latex_build
from derive.check.checker import check_derivation
from derive.derivation import Finding
from derive.read.builtin import notes as all_derivations
from derive.output.report import build_tex, tex_escape

NOTES = all_derivations()
needs_tex = pytest.mark.skipif(not shutil.which("pdflatex") or not shutil.which("pdftotext"),
                               reason="TeX Live / poppler-utils not installed (.ci/run installs them)")


def _pdf_text(pdf):
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout


@needs_tex
def test_cli_report_compiles_and_shows_every_verdict(tmp_path):
    run = subprocess.run([sys.executable, "-m", "derive", "report", "-o", str(tmp_path)],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    text = _pdf_text(tmp_path / "report.pdf")
    assert "derivations pass" in text and "every step is proved" in text
    for derivation in NOTES.values():
        assert derivation.name in text
    # one verdict line per step, across all derivations in the report
    total_steps = sum(len(d.steps) for d in NOTES.values())
    assert text.count("proved") >= total_steps
    assert "Accuracy against a 400-digit mpmath reference" in text
    assert "def _gradient_label_unshifted" in text  # listing from the actual generated file
    assert (tmp_path / "report.tex").exists()


def _broken_route1():
    route1 = NOTES["route1"]
    steps = list(route1.steps)
    y, t = sp.IndexedBase("y", positive=True), sp.IndexedBase("t", real=True)
    j = sp.Symbol("j", integer=True, positive=True)
    steps[3] = dataclasses.replace(steps[3], expr=-(t[j] + y[j]))  # -(t_j - y_j) with the sign of y_j wrong
    steps[3] = dataclasses.replace(steps[3], latex=r"= - (t_j + y_j)", justification="algebra")
    return dataclasses.replace(route1, steps=tuple(steps))


@needs_tex
def test_report_shows_a_refuted_step_with_its_counterexample(tmp_path):
    report = check_derivation(_broken_route1())
    refuted = [s for s in report.steps if s.verdict.status.value == "refuted"]
    assert [s.index for s in refuted][:1] == [4]
    pdf = latex_build.compile_pdf(tmp_path, build_tex([report], None))
    text = _pdf_text(pdf)
    assert "Counterexample to step 4" in text
    assert "refuted" in text
    cex = refuted[0].verdict.counterexample
    assert f"{float(cex.lhs):.6g}" in text and f"{float(cex.rhs):.6g}" in text
    assert "1 of 1 derivations fail" in text and "step 4 is refuted" in text


@needs_tex
def test_prose_with_latex_special_characters_compiles(tmp_path):
    nasty = r"50% of t_k & z_j #1 {x} ~ ^ \ $ | <a> \textbf{x} \end{document}"
    route = dataclasses.replace(NOTES["route1"], title=nasty, source=nasty,
                                findings=(Finding("notation", nasty, 2),))
    pdf = latex_build.compile_pdf(tmp_path, build_tex([check_derivation(route)], None))
    text = _pdf_text(pdf)
    assert "50% of t_k & z_j #1 {x}" in text


def test_escape_covers_every_special_character():
    assert tex_escape("_%&#${}~^\\") == r"\_\%\&\#\$\{\}\textasciitilde{}\textasciicircum{}\textbackslash{}"


@needs_tex
def test_failed_compile_keeps_the_previous_report(tmp_path):
    good = build_tex([check_derivation(NOTES["jacobian"])], None)
    pdf = latex_build.compile_pdf(tmp_path, good)
    before = pdf.read_bytes()
    # user LaTeX can no longer break the build (it is validated), so break the document itself
    broken = good.replace(r"\begin{document}", r"\begin{document}\notacommand{z}")
    with pytest.raises(latex_build.TexError) as err:
        latex_build.compile_pdf(tmp_path, broken)
    assert "Undefined control sequence" in str(err.value)
    assert len(str(err.value).splitlines()) < 40  # the relevant lines, not the whole log
    assert pdf.read_bytes() == before
    assert (tmp_path / "report.tex").read_text() == good


def test_missing_tex_gives_a_clear_message_and_nonzero_exit(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    env = dict(os.environ, PATH=str(empty))
    run = subprocess.run([sys.executable, "-m", "derive", "report", "jacobian", "-o", str(tmp_path / "out")],
                         capture_output=True, text=True, timeout=600, env=env)
    assert run.returncode == 1
    assert "pdflatex was not found" in run.stderr and "apt-get install texlive-latex-base" in run.stderr
    assert "Traceback" not in run.stderr
    assert (tmp_path / "out" / "report.tex").exists()


def test_report_says_when_the_generated_module_is_missing():
    tex = build_tex([check_derivation(NOTES["jacobian"])], None, code_missing=True)
    assert "was not found when this report was built" in tex and "run \\texttt{derive codegen}" in tex
    assert "Generated NumPy code" not in build_tex([check_derivation(NOTES["jacobian"])], None)
