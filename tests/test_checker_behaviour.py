"""The checker on purpose-built claims: missing assumptions, SymPy failures, time limits, the API."""

import dataclasses
import time

import pytest
import sympy as sp

from derive import check_equal
from derive.check import normal_form
from derive.check import checker as checker_module
from derive.check.checker import check_step
from derive.notation import E, Sum, d, delta, gamma, j, k, t, y, z
from derive.read.builtin import notes as all_derivations
from derive.verdicts import Status

from reference import differ, value

NOTES = all_derivations()


def _drop_assumption(derivation, index, name):
    """The derivation with `name` no longer stated for step `index` (not by the step, not by its justification)."""
    step = derivation.steps[index - 1]
    justification = "algebra" if name in ("one_hot", "targets_sum_to_one") else step.justification
    steps = list(derivation.steps)
    steps[index - 1] = dataclasses.replace(step, justification=justification,
                                           assumptions=tuple(a for a in step.assumptions if a != name))
    kept = tuple(a for a in derivation.assumptions if a != name)
    return dataclasses.replace(derivation, steps=tuple(steps), assumptions=kept)


@pytest.mark.parametrize("name,index,removed,expected_missing", [
    ("route2", 10, "targets_sum_to_one", "targets_sum_to_one"),
    ("route1", 5, "one_hot", "targets_sum_to_one"),   # the weakest assumption that works is named
    ("route2", 11, "one_hot", "one_hot"),
    ("route1", 3, "index_range", "index_range"),
    ("jacobian", 2, "index_range", "index_range"),
])
def test_step_without_its_assumption_is_not_proved_and_names_it(name, index, removed, expected_missing):
    broken = _drop_assumption(NOTES[name], index, removed)
    verdict = check_step(broken, index).verdict
    assert verdict.status is not Status.PROVED
    assert expected_missing in verdict.missing_assumptions
    assert expected_missing in verdict.message


def test_missing_sum_to_one_is_refuted_with_a_real_counterexample():
    broken = _drop_assumption(NOTES["route2"], 10, "targets_sum_to_one")
    report = check_step(broken, 10)
    assert report.verdict.status is Status.REFUTED
    cex = report.verdict.counterexample
    assert differ(value(report.previous[0], cex.point), value(report.step.expr, cex.point))
    assert sum(cex.point.t) != 1


def test_missing_index_range_holds_numerically_only():
    broken = _drop_assumption(NOTES["jacobian"], 2, "index_range")
    verdict = check_step(broken, 2).verdict
    assert verdict.status is Status.NUMERIC
    assert "not proved" in verdict.message


def test_api_proves_a_users_step():
    v = check_equal(d(y[k], z[j]), y[k] * (delta(j, k) - y[j]), assumptions=["index_range"])
    assert v.status is Status.PROVED
    assert v.assumptions_used == ("index_range",)


def test_api_refutes_a_users_wrong_step():
    v = check_equal(d(E, z[j]), t[j] - y[j], assumptions=["index_range", "targets_sum_to_one"])
    assert v.status is Status.REFUTED
    cex = v.counterexample
    assert differ(value(d(E, z[j]), cex.point), value(t[j] - y[j], cex.point))


def test_api_rejects_unknown_assumption():
    from derive.errors import EvaluationError
    with pytest.raises(EvaluationError, match="unknown assumption"):
        check_equal(y[j], y[j], assumptions=["targets_are_nice"])


def test_sympy_failure_is_never_a_proof(monkeypatch):
    def explode(*args, **kwargs):
        raise StopIteration  # what simplify does on some Sums (sympy issue 14570)

    monkeypatch.setattr(checker_module, "proves_equal", explode)
    v = check_equal(d(y[k], z[j]), y[k] * (delta(j, k) - y[j]), assumptions=["index_range"])
    assert v.status is Status.NUMERIC
    assert "StopIteration" in v.message


def test_time_limit_makes_a_step_undecided_not_proved(monkeypatch):
    def slow(*args, **kwargs):
        time.sleep(5)
        return True, sp.Integer(0)

    monkeypatch.setattr(checker_module, "proves_equal", slow)
    started = time.monotonic()
    v = check_equal(y[j], y[j], assumptions=[], seconds=0.2)
    assert time.monotonic() - started < 3
    assert v.status is not Status.PROVED
    assert "time limit" in v.message


def test_alpha_equivalent_sums_are_equal_and_capture_is_avoided():
    ctx = normal_form.Context(frozenset({"index_range"}))
    i2 = sp.Symbol("i", integer=True, positive=True)
    a = Sum(sp.exp(z[i2]), i2)
    b = Sum(sp.exp(z[k]), k)
    assert normal_form.proves_equal(a, b, ctx)[0]
    # the notes' sum over j next to a free j: the bound j must not be captured by d/dz_j
    notes_sum = sp.Sum(sp.exp(z[j]), (j, 1, sp.Symbol("K", integer=True, positive=True)))
    assert normal_form.proves_equal(d(sp.log(notes_sum), z[j]), y[j], ctx)[0]


def test_one_hot_case_form():
    pw = sp.Piecewise((y[j], sp.Ne(j, gamma)), (y[j] - 1, True))
    assert check_equal(y[j] - t[j], pw, ["one_hot"]).status is Status.PROVED
    wrong = sp.Piecewise((y[j] - 1, sp.Ne(j, gamma)), (y[j], True))
    assert check_equal(y[j] - t[j], wrong, ["one_hot"]).status is Status.REFUTED


def test_slow_numeric_check_is_undecided_not_proved(monkeypatch):
    from derive.check import numeric

    def slow_search(*args, **kwargs):
        time.sleep(5)
        return None, 0

    def no_proof(*args, **kwargs):
        return False, sp.Integer(1)

    monkeypatch.setattr(numeric, "search", slow_search)
    monkeypatch.setattr(checker_module, "proves_equal", no_proof)
    started = time.monotonic()
    v = check_equal(y[j], y[j], assumptions=[], seconds=0.2)
    assert time.monotonic() - started < 3
    assert v.status is Status.UNDECIDED and "time limit" in v.message


def test_api_rejects_what_is_not_an_expression_in_the_notation():
    from derive.errors import EvaluationError
    with pytest.raises(EvaluationError, match="check_equal: lhs: expected a SymPy expression, got str"):
        check_equal("y_j", y[j])
    with pytest.raises(EvaluationError, match="check_equal: rhs: undefined symbol 'q'"):
        check_equal(y[j], sp.Symbol("q"))
