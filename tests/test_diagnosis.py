"""Why a refuted step is wrong: the kind of slip, the residual, and what the line should read.

Every case below is a realistic wrong step, each kind of slip in at least two notations.  The diagnosis
must name the kind, and the line it suggests must be proved equal to the line before the wrong step
(by the checker, independently of how the suggestion was found).  Two cancelling errors are reported
with the cancellation.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from derive.check.checker import check_derivation, check_equal
from derive.read.documents import parse_document
from derive.verdicts import Status

SOFTMAX_ZY = "Softmax $y_k = e^{z_k} / \\sum_{i=1}^K e^{z_i}$, loss $E = -\\sum_{k=1}^K t_k \\ln y_k$.\n\n"
SOFTMAX_AP = ("Scores $a_j$, probabilities $p_i = e^{a_i} / \\sum_{c=1}^C e^{a_c}$, "
              "loss $L = -\\sum_{c=1}^C y_c \\log p_c$.\n\n")
ONE_HOT = "The targets are one-hot.\n\n"

CASES = [
    # sign: the whole line, or one term, has the wrong sign
    ("sign", SOFTMAX_ZY + ONE_HOT + "$$\\frac{\\partial E}{\\partial z_j} = -\\sum_{k=1}^K t_k (\\delta_{jk} - y_j) "
     "= t_j - y_j$$\n"),
    ("sign", SOFTMAX_AP + "If $i \\neq j$:\n\n$$\\frac{\\partial p_i}{\\partial a_j} = "
     "\\frac{-e^{a_i} e^{a_j}}{(\\sum_{c=1}^C e^{a_c})^2} = p_i p_j$$\n"),
    ("sign", SOFTMAX_ZY + ONE_HOT + "$$\\frac{\\partial E}{\\partial z_j} = -\\sum_{k=1}^K t_k (\\delta_{jk} - y_j) "
     "= -t_j - y_j$$\n"),
    # factor: off by a constant
    ("factor", SOFTMAX_ZY + ONE_HOT + "$$\\frac{\\partial E}{\\partial z_j} = -\\sum_{k=1}^K t_k (\\delta_{jk} - y_j) "
     "= 2 (y_j - t_j)$$\n"),
    ("factor", SOFTMAX_AP + "If $i = j$:\n\n$$\\frac{\\partial p_i}{\\partial a_i} = p_i - p_i^2 = "
     "\\frac{1}{2} p_i (1 - p_i)$$\n"),
    # swapped indices
    ("swapped indices", SOFTMAX_ZY + "$$\\frac{\\partial \\ln y_k}{\\partial z_j} = \\frac{1}{y_k} "
     "\\frac{\\partial y_k}{\\partial z_j} = \\delta_{jk} - y_k$$\n"),
    ("swapped indices", SOFTMAX_AP + "$$\\frac{\\partial \\log p_i}{\\partial a_j} = \\delta_{ij} - p_i$$\n"),
    # ... or one entry inside a sum written with the summation index where the free one is meant
    ("swapped indices", SOFTMAX_ZY + ONE_HOT + "$$\\frac{\\partial E}{\\partial z_j} = "
     "-\\sum_{k=1}^K t_k (\\delta_{jk} - y_j) = \\sum_{k=1}^K t_k y_k - t_j$$\n"),
    # case: true only in one case, or in the other case than the one claimed
    ("case", SOFTMAX_ZY + "$$\\frac{\\partial y_k}{\\partial z_j} = y_k (1 - y_j)$$\n"),
    ("case", SOFTMAX_AP + "If $i \\neq j$:\n\n$$\\frac{\\partial p_i}{\\partial a_j} = p_i (1 - p_i)$$\n"),
    # range: a sum off by one at a limit
    ("range", SOFTMAX_ZY + "$$E = -\\sum_{k=1}^K t_k \\ln y_k = -\\sum_{k=2}^K t_k \\ln y_k$$\n"),
    ("range", SOFTMAX_AP + "$$\\frac{\\partial L}{\\partial a_j} = \\sum_{c=1}^C y_c p_j - y_j "
     "= \\sum_{c=1}^{C-1} y_c p_j - y_j$$\n"),
    # assumption: true only under an assumption the derivation does not state
    ("assumption", SOFTMAX_ZY + "$$\\frac{\\partial E}{\\partial z_j} = -\\sum_{k=1}^K t_k (\\delta_{jk} - y_j) "
     "= y_j - t_j$$\n"),
    ("assumption", SOFTMAX_AP + "$$\\frac{\\partial L}{\\partial a_j} = p_j \\sum_{c=1}^C y_c - y_j = p_j - y_j$$\n"),
    # missing term: the j = k term of the chain-rule sum forgotten, a term dropped
    ("missing term", SOFTMAX_ZY + ONE_HOT + "$$\\frac{\\partial E}{\\partial z_j} = "
     "-\\sum_{k=1}^K t_k (\\delta_{jk} - y_j) = \\sum_{k=1}^K t_k y_j$$\n"),
    ("missing term", SOFTMAX_AP + "The labels are one-hot.\n\n$$\\frac{\\partial L}{\\partial a_j} = "
     "\\sum_{c=1}^C y_c p_j - y_j = p_j$$\n"),
    # extra term
    ("extra term", SOFTMAX_ZY + ONE_HOT + "$$\\frac{\\partial E}{\\partial z_j} = "
     "-\\sum_{k=1}^K t_k (\\delta_{jk} - y_j) = y_j - t_j + t_j y_j$$\n"),
    ("extra term", SOFTMAX_AP + "The labels are one-hot.\n\n$$\\frac{\\partial L}{\\partial a_j} = "
     "p_j - y_j + p_j^2$$\n"),
]


def first_refuted(text: str):
    document = parse_document(text, "slip.md")
    assert not document.errors, [str(e) for e in document.errors]
    for derivation in document.derivations:
        for report in check_derivation(derivation).steps:
            if report.verdict.status is Status.REFUTED:
                return derivation, report
    raise AssertionError("no step was refuted")


@pytest.mark.parametrize("kind, text", CASES, ids=[f"{kind}-{n}" for n, (kind, _) in enumerate(CASES)])
def test_each_slip_is_named_and_the_suggested_line_is_right(kind, text):
    derivation, report = first_refuted(text)
    diagnosis = report.verdict.diagnosis
    assert diagnosis is not None
    assert diagnosis.kind == kind, (diagnosis.kind, diagnosis.detail)
    if diagnosis.suggestion is not None:  # what the line should read equals the line before it
        previous = report.previous[0]
        stated = derivation.stated_assumptions(report.step)
        assert check_equal(diagnosis.suggestion, previous, stated, report.step.case).status is Status.PROVED
    if kind not in ("case", "assumption"):
        assert diagnosis.suggestion is not None


def test_every_kind_has_two_cases():
    kinds = [kind for kind, _ in CASES]
    assert all(kinds.count(k) >= 2 for k in set(kinds))
    assert {"sign", "factor", "swapped indices", "case", "range", "assumption", "missing term",
            "extra term"} <= set(kinds)


def test_the_forgotten_j_equals_k_term_is_named_as_such():
    _, report = first_refuted(next(text for kind, text in CASES if kind == "missing term"))
    assert "the k = j term of the sum over k" in report.verdict.diagnosis.detail


def test_two_cancelling_errors_are_both_reported_and_the_cancellation_too():
    text = SOFTMAX_ZY + ONE_HOT + ("$$\\begin{aligned}\\frac{\\partial E}{\\partial z_j} &= -\\sum_{k=1}^K t_k "
                                   "(\\delta_{jk} - y_j) \\\\ &= -t_j - y_j \\\\ &= -t_j + y_j\\end{aligned}$$\n")
    document = parse_document(text, "cancel.md")
    report = check_derivation(document.derivations[0])
    refuted = [s.index for s in report.steps if s.verdict.status is Status.REFUTED]
    assert refuted == [2, 3]
    assert all(report.steps[n - 1].verdict.diagnosis.kind == "sign" for n in refuted)
    messages = [f.message for f in report.findings if f.kind == "cancellation"]
    assert messages and "steps 2 and 3" in messages[0] and "right for the wrong reason" in messages[0]


def test_a_single_error_is_not_called_a_cancellation():
    _, report = first_refuted(CASES[0][1])
    document = parse_document(CASES[0][1], "one.md")
    findings = check_derivation(document.derivations[0]).findings
    assert not [f for f in findings if f.kind == "cancellation"]


def test_the_diagnosis_is_in_the_json_and_the_text(tmp_path):
    path = tmp_path / "slip.md"
    path.write_text(CASES[0][1])
    run = subprocess.run([sys.executable, "-m", "derive", "check", str(path), "--json"], capture_output=True,
                         text=True)
    step = [s for s in json.loads(run.stdout)["derivations"][0]["steps"] if s["verdict"] == "refuted"][0]
    assert step["diagnosis"]["kind"] == "sign"
    assert step["diagnosis"]["suggestion_latex"]
    text = subprocess.run([sys.executable, "-m", "derive", "check", str(path)], capture_output=True, text=True)
    assert "why: sign" in text.stdout and "this line should read" in text.stdout
