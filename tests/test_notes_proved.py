"""The notes' three derivations: every step proved for symbolic K, with minimal assumptions."""

import pytest

from derive.check.checker import check_derivation
from derive.read.builtin import notes as all_derivations
from derive.verdicts import Status

DERIVATIONS = all_derivations()


@pytest.fixture(scope="module")
def reports():
    return {name: check_derivation(d) for name, d in DERIVATIONS.items()}


@pytest.mark.parametrize("name", list(DERIVATIONS))
def test_every_step_is_proved_symbolically(reports, name):
    for step in reports[name].steps:
        assert step.verdict.status is Status.PROVED, (name, step.index, step.verdict.message)
        assert step.verdict.method == "symbolic"
        assert step.verdict.points_checked > 0, "a proof is also confirmed numerically"


@pytest.mark.parametrize("name", list(DERIVATIONS))
def test_result_is_reached_and_rederived_independently(reports, name):
    result = reports[name].result
    assert result.reached
    assert result.rederived.status is Status.PROVED


def test_both_routes_end_at_y_minus_t(reports):
    from derive.notation import t, y, j
    for name in ("route1", "route2"):
        assert reports[name].result.expr == y[j] - t[j]


def _used(reports, name, index):
    return set(reports[name].steps[index - 1].verdict.assumptions_used)


def test_route1_sift_step_needs_only_sum_of_targets(reports):
    # -sum_k t_k (delta_jk - y_j) = -(t_j - y_j): the notes invoke one-hot targets
    assert _used(reports, "route1", 5) == {"index_range", "targets_sum_to_one"}
    messages = [f.message for f in reports["route1"].findings if f.step == 5 and f.kind == "assumption"]
    assert any("'one_hot'" in m and "weaker 'targets_sum_to_one'" in m for m in messages)


def test_route2_assumptions(reports):
    assert _used(reports, "route2", 10) == {"targets_sum_to_one"}
    assert _used(reports, "route2", 11) == {"one_hot"}
    assert _used(reports, "route2", 5) == set()  # a rearrangement inside the derivative


def test_jacobian_cases_use_index_range_only_for_the_derivative(reports):
    assert _used(reports, "jacobian", 2) == {"index_range"}
    assert _used(reports, "jacobian", 3) == set()


def test_findings_about_the_notes_are_reported(reports):
    kinds = {(name, f.kind) for name, r in reports.items() for f in r.findings}
    assert ("route2", "scope") in kinds
    text = " ".join(f.message for r in reports.values() for f in r.findings)
    assert "partition sum" in text and r"P(l = k \mid x)" in text
