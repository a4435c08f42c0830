"""Does each step follow by the reason it cites?  A second verdict, next to whether it is true.

The notes' own steps, checked by hand (what each cited rule does, what else the step needs):

* jacobian 2, dy_k/dz_k = (e^{z_k} z - e^{z_k} e^{z_k}) / z^2 [quotient rule]: the quotient rule gives
  (f'g - fg')/g^2, but y_k must first be written as e^{z_k}/z (definition of softmax), f' = e^{z_k} is the
  derivative of exp, and g' = d(sum_i e^{z_i})/dz_k = e^{z_k} collapses a sum (delta sifting).
* route1 2, dE/dy_k = -t_k/y_k [derivative of ln]: E must be written out (definition of cross-entropy),
  then d ln y_i / dy_k = delta_ik / y_i, and sum_i t_i delta_ik / y_i = t_k / y_k sifts.
* route1 5, -sum_k t_k (delta_jk - y_j) = -(t_j - y_j) [one hot target]: t_k = delta_k,gamma, and
  sum_k t_k delta_jk = t_j is a sifting step (the checker also says sum t = 1 would have done).
* route2 7, d/dz_j [sum_k t_k ln sum_i e^{z_i}] = sum_k t_k e^{z_j} / sum_i e^{z_i} [derivative of ln]:
  also d e^{z_i}/dz_j (derivative of exp) and the sum over i collapsing (sifting).
* route1 1 [chain rule], route2 3 [log of quotient], route2 9 [factor leaves sum], route2 10 [sum of targets
  is one] follow by their reasons alone.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from derive.check.checker import check_derivation
from derive.justifications import REGISTRY
from derive.read.builtin import load, notes, rules
from derive.read.derivation_file import parse
from derive.errors import ParseError
from derive.verdicts import Status

HEADER = "indices: i, j, k\nrange: 1..K\n"


def licenses(name: str) -> dict[int, tuple[str, tuple]]:
    report = check_derivation(notes()[name])
    return {s.index: (s.license.status, s.license.needs) for s in report.steps if s.license is not None}


def test_the_notes_steps_by_hand():
    jacobian, route1, route2 = licenses("jacobian"), licenses("route1"), licenses("route2")
    assert jacobian[2] == ("not licensed", ("definition_of_softmax", "derivative_of_exp", "kronecker_delta_sifts"))
    assert route1[2] == ("not licensed", ("definition_of_cross_entropy", "kronecker_delta_sifts"))
    assert route1[5] == ("not licensed", ("kronecker_delta_sifts",))
    assert route2[7] == ("not licensed", ("derivative_of_exp", "kronecker_delta_sifts"))
    for table, index in ((route1, 1), (route2, 3), (route2, 9), (route2, 10), (route1, 3), (jacobian, 1)):
        assert table[index] == ("licensed", ()), (index, table[index])


def test_every_notes_step_is_licensed_or_says_what_it_needs():
    for name in notes():
        for step in check_derivation(notes()[name]).steps:
            assert step.license is not None
            assert step.license.status in ("licensed", "not licensed"), (name, step.index, step.license)
            if step.license.status == "not licensed":
                assert step.license.needs and all(n in REGISTRY for n in step.license.needs)


def one_step(formula: str, reason: str, extra_header: str = "", start: str = r"\frac{\partial E}{\partial z_j}"):
    text = HEADER + extra_header + f"result: {start} = {formula.split(' = ')[-1]}\n\n$${formula}$$ [by: {reason}]\n"
    report = check_derivation(parse(text, "one.deriv"))
    step = report.steps[0]
    assert step.verdict.status is Status.PROVED, step.verdict.message
    return report, step.license


CHAIN = (r"\frac{\partial E}{\partial z_j} = "
         r"\sum_{k=1}^K \frac{\partial E}{\partial y_k} \frac{\partial y_k}{\partial z_j}")
WRONGLY_CITED = [
    # the chain rule, cited as the quotient rule
    (CHAIN, "quotient rule", "", "chain_rule"),
    # a factor leaving a sum, cited as delta sifting
    (r"\sum_{k=1}^K y_j t_k = y_j \sum_{k=1}^K t_k", "kronecker delta sifts", "", "factor_leaves_sum"),
    # delta sifting, cited as a factor leaving the sum
    (r"\sum_{k=1}^K t_k \delta_{jk} = t_j", "factor leaves sum", "", "kronecker_delta_sifts"),
    # the whole gradient in one line, cited as one small rule
    (r"\frac{\partial E}{\partial z_j} = y_j - t_j", "kronecker delta sifts", "assume: targets_sum_to_one\n",
     "definition_of_cross_entropy"),
]


@pytest.mark.parametrize("formula, reason, header, needed", WRONGLY_CITED)
def test_a_wrongly_cited_reason_is_caught(formula, reason, header, needed):
    start = formula.split(" = ")[0].strip()
    _, license_ = one_step(formula, reason, header, start)
    assert license_.status == "not licensed"
    assert needed in license_.needs


CORRECTLY_CITED = [
    (CHAIN, "chain rule", ""),
    (r"\sum_{k=1}^K y_j t_k = y_j \sum_{k=1}^K t_k", "factor leaves sum", ""),
    (r"\sum_{k=1}^K t_k \delta_{jk} = t_j", "kronecker delta sifts", ""),
    (r"y_j \sum_{k=1}^K t_k - t_j = y_j - t_j", "sum of targets is one", ""),
    (r"\ln \frac{e^{z_k}}{\sum_{i=1}^K e^{z_i}} = z_k - \ln \sum_{i=1}^K e^{z_i}", "log of quotient", ""),
    (r"y_k = \frac{e^{z_k}}{\sum_{i=1}^K e^{z_i}}", "definition of softmax", ""),
]


@pytest.mark.parametrize("formula, reason, header", CORRECTLY_CITED)
def test_a_correctly_cited_reason_is_not_flagged(formula, reason, header):
    start = formula.split(" = ")[0].strip()
    _, license_ = one_step(formula, reason, header, start)
    assert license_.status == "licensed", license_


def test_one_hot_where_the_sum_of_targets_suffices_is_caught():
    report, license_ = one_step(r"y_j \sum_{k=1}^K t_k - t_j = y_j - t_j", "one hot target", "",
                                r"y_j \sum_{k=1}^K t_k - t_j")
    assert license_.status == "not licensed"
    assert any("targets_sum_to_one" in f.message and "suffices" in f.message for f in report.findings)


def test_a_step_without_a_reason_is_unjustified_and_a_leap_lists_what_it_bundles():
    text = HEADER + "assume: targets_sum_to_one\nresult: \\frac{\\partial E}{\\partial z_j} = y_j - t_j\n\n" \
        "$$\\frac{\\partial E}{\\partial z_j} = y_j - t_j$$\n"
    step = check_derivation(parse(text, "leap.deriv")).steps[0]
    assert step.license.status == "unjustified"
    assert len(step.license.needs) >= 3
    assert {"definition_of_cross_entropy", "kronecker_delta_sifts"} <= set(step.license.needs)


def test_the_issues_example_passes_by_default_and_fails_with_strict(tmp_path):
    path = tmp_path / "sifts.deriv"
    path.write_text(HEADER + "assume: targets_sum_to_one\nresult: \\frac{\\partial E}{\\partial z_j} = y_j - t_j\n\n"
                    "$$\\frac{\\partial E}{\\partial z_j} = y_j - t_j$$ [by: kronecker delta sifts]\n")
    plain = subprocess.run([sys.executable, "-m", "derive", "check", str(path)], capture_output=True, text=True)
    assert plain.returncode == 0
    assert "proved, but not by 'kronecker delta sifts' alone" in plain.stdout
    strict = subprocess.run([sys.executable, "-m", "derive", "check", str(path), "--strict"], capture_output=True,
                            text=True)
    assert strict.returncode == 1
    assert "FAIL" in strict.stdout


def test_an_unknown_reason_gets_a_suggestion():
    with pytest.raises(ParseError, match="did you mean 'kronecker delta sifts'"):
        parse(HEADER + "result: \\sum_{k=1}^K t_k \\delta_{jk} = t_j\n\n"
              "$$\\sum_{k=1}^K t_k \\delta_{jk} = t_j$$ [by: kronecker delta sift]\n", "typo.deriv")


def test_every_rule_that_is_an_identity_is_proved_once():
    named = {j.identity for j in REGISTRY.values() if j.identity}
    assert named == set(rules())
    for name in named:
        report = check_derivation(load(name))
        assert report.passed(), name
        assert not report.unlicensed(), name


def test_every_justification_has_a_sentence_and_known_rules():
    from derive.check.licensing import REWRITES, RULE_JUSTIFICATION

    for justification in REGISTRY.values():
        assert justification.sentence
        assert set(justification.licenses) <= set(REWRITES), justification.name
    assert set(RULE_JUSTIFICATION.values()) <= set(REGISTRY)
