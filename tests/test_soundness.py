"""Issue 9: verdicts you can trust.  One regression test (or more) per numbered item.

Every example here was reproduced on the main branch before the fix: a false
statement proved, a true one refuted, a wrong result that exited 0, a crash or
a hang.  The property tests at the end generalise them.
"""

import json
import random
import subprocess
import sys

import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from derive import check_equal
from derive.check import checker as checker_module
from derive.check import numeric
from derive.check.checker import check_derivation
from derive.read.derivation_file import parse
from derive.errors import ParseError
from derive.notation import E, K, Sum, d, delta, i, j, k, m, mu, t, y, z
from derive.output.text import to_json_data, to_text
from derive.output.report import build_tex
from derive.verdicts import Status

from reference import defined, differ, value
from statements import FALSE_CLAIMS, RANGE, SUM_ONE, mutations, true_identities

HEADER = "indices: i, j, k\nrange: 1..K\nassume: \\sum_k t_k = 1\n"
CHAIN = (r"$$\frac{\partial E}{\partial z_j} = \sum_{k=1}^K \frac{\partial E}{\partial y_k} "
         r"\frac{\partial y_k}{\partial z_j}$$ [by: chain rule]" "\n")
SIFT = (r"$$= -\sum_{k=1}^K t_k (\delta_{jk} - y_j)$$ [by: substitution]" "\n"
        r"$$= y_j - t_j$$ [by: kronecker delta sifts]" "\n")
RESULT = "result: \\frac{\\partial E}{\\partial z_j} = y_j - t_j\n"


def _cli(path, *flags):
    return subprocess.run([sys.executable, "-m", "derive", "check", *flags, str(path)],
                          capture_output=True, text=True, timeout=300)


def _file(tmp_path, text, name="claim.deriv"):
    path = tmp_path / name
    path.write_text(text)
    return path


# --- 1. wrong results fail, everywhere alike ----------------------------------------------------

def test_right_steps_with_a_wrong_result_fail_in_exit_code_json_text_and_report(tmp_path):
    text = HEADER + "result: \\frac{\\partial E}{\\partial z_j} = t_j - y_j\n" + CHAIN + SIFT
    path = _file(tmp_path, text)
    run = _cli(path)
    assert run.returncode == 1, run.stdout
    assert "FAIL" in run.stdout and "last line is not shown to equal the stated result" in run.stdout
    data = json.loads(_cli(path, "--json").stdout)
    (derivation,) = data["derivations"]
    assert derivation["status"] == "refuted" and derivation["passed"] is False
    assert data["summary"]["derivations_failed"] == 1
    report = check_derivation(parse(text, "claim.deriv"))
    assert all(s.verdict.status is Status.PROVED for s in report.steps)
    assert "1 of 1 derivations fail" in build_tex([report], None)


def test_a_derivation_that_stops_early_fails(tmp_path):
    run = _cli(_file(tmp_path, HEADER + RESULT + CHAIN))
    assert run.returncode == 1 and "FAIL" in run.stdout


def test_a_last_line_equal_to_the_result_but_written_differently_passes(tmp_path):
    text = HEADER + RESULT + CHAIN + r"$$= -\sum_{k=1}^K t_k (\delta_{jk} - y_j)$$ [by: substitution]" "\n" \
        r"$$= -(t_j - y_j)$$ [by: kronecker delta sifts]" "\n"
    run = _cli(_file(tmp_path, text), "--json")
    assert run.returncode == 0, run.stdout
    result = json.loads(run.stdout)["derivations"][0]["result"]
    assert result["reached_by_steps"] is True


def test_only_side_results_never_reach_the_result(tmp_path):
    text = HEADER + RESULT + r"$$\frac{\partial E}{\partial y_k} = \frac{-t_k}{y_k}$$" "\n"
    report = check_derivation(parse(text, "lemma.deriv"))
    assert report.steps[0].verdict.status is Status.PROVED
    assert not report.passed() and report.result.reached.status is Status.UNDECIDED


# --- 2. a restated start is compared with the start ----------------------------------------------

def test_a_second_attempt_is_compared_with_the_start_not_with_the_wrong_first_one():
    text = (HEADER + RESULT + r"$$\frac{\partial E}{\partial z_j} = t_j - y_j$$ [by: chain rule]" "\n"
            + CHAIN + SIFT)
    report = check_derivation(parse(text, "attempts.deriv"))
    assert [s.verdict.status for s in report.steps] == [Status.REFUTED] + [Status.PROVED] * 3
    assert report.result.reached.status is Status.PROVED  # the last line is right; the first attempt is not


# --- 3. deltas sift only into ranges that hold the index; c is not an index -------------------------

@pytest.mark.parametrize("name", ["true for K <= 7 only", "true for K <= 7 only, singular", "delta at a real constant"])
def test_issue_false_proofs_are_refuted(name):
    _, lhs, rhs, assumptions = next(x for x in FALSE_CLAIMS if x[0] == name)
    verdict = check_equal(lhs, rhs, assumptions)
    assert verdict.status is Status.REFUTED, verdict.message
    point = verdict.counterexample.point
    assert differ(value(lhs, point), value(rhs, point))


def test_true_only_below_k_8_is_refuted_at_k_8():
    _, lhs, rhs, assumptions = FALSE_CLAIMS[0]
    assert check_equal(lhs, rhs, assumptions).counterexample.point.K == 8


@pytest.mark.parametrize("lhs,rhs", [
    (sp.Sum(y[i], (i, 2, K)), 1 - y[1]),                       # a boundary term split off
    (sp.Sum(delta(i, j), (i, 1, K + 1)), sp.Integer(1)),       # j lies in 1..K, inside 1..K+1
    (sp.Sum(1 + Sum(delta(i, k), k), (i, 1, K)), 2 * K),       # a bound i in 1..K sifts
    (Sum(delta(i, 1) * y[i], i), y[1]),                         # 1 always lies in 1..K
])
def test_sums_over_other_ranges_that_hold_are_proved(lhs, rhs):
    assert check_equal(lhs, rhs, RANGE).status is Status.PROVED


# --- 4. the numeric safety net ------------------------------------------------------------------

def test_a_singular_point_is_skipped_and_the_search_goes_on():
    # undefined wherever j = k (the first points tried at every K), wrong elsewhere
    verdict = check_equal(1 / (1 - delta(j, k)), sp.Integer(2), RANGE)
    assert verdict.status is Status.REFUTED and verdict.points_skipped > 0


def test_targets_under_sum_to_one_alone_may_be_negative():
    verdict = check_equal(Sum(sp.Abs(t[k]), k), sp.Integer(1), SUM_ONE)
    assert verdict.status is Status.REFUTED
    assert min(verdict.counterexample.point.t) < 0


def test_a_proof_no_point_confirms_says_so_in_text_json_and_report(tmp_path):
    text = ("indices: i, j, k\nrange: 1..K\nresult: \\ln(-y_j) = \\ln(-y_j)\n"
            "$$\\ln(-y_j) = \\ln(-y_j)$$ [by: algebra]\n")
    report = check_derivation(parse(text, "complex.deriv"))
    verdict = report.steps[0].verdict
    assert verdict.status is Status.PROVED and "not confirmed numerically" in verdict.message
    assert "not confirmed numerically" in to_text([report])
    assert to_json_data([report])["derivations"][0]["steps"][0]["numerically_confirmed"] is False
    assert "not confirmed numerically" in build_tex([report], None)


# --- 5. m is the row maximum, not a constant --------------------------------------------------------

def test_derivative_of_the_maximum_is_not_zero():
    assert check_equal(d(m, z[j]), sp.Integer(0), ("index_range", "max_at_mu")).status is Status.REFUTED
    assert check_equal(d(m, z[j]), delta(j, mu), ("index_range", "max_at_mu")).status is Status.PROVED
    assert check_equal(d(m, z[j]), sp.Integer(0), RANGE).status is not Status.PROVED


# --- 6. equal infinities, undefined points --------------------------------------------------------

def test_minus_infinity_equals_minus_infinity():
    lhs = sp.log(1 - y[j])
    rhs = sp.log(Sum((1 - delta(k, j)) * sp.exp(z[k]), k)) - sp.log(Sum(sp.exp(z[i]), i))
    assert check_equal(lhs, rhs, RANGE).status in (Status.PROVED, Status.NUMERIC)
    same = check_equal(lhs, lhs, RANGE)
    assert same.status is Status.PROVED and "checker bug" not in same.message


def test_zero_times_log_zero_is_skipped_not_a_counterexample():
    expr = (1 - y[j]) * sp.log(1 - y[j])
    assert check_equal(expr, expr + 0 * y[k], RANGE).status is Status.PROVED


# --- 7. counterexamples: K >= 2 first, in the derivation's own letters -------------------------------

def test_counterexample_prefers_k_of_two_or_more():
    # false at K = 1 too (y_j = 1 there), where a counterexample says little
    verdict = check_equal(y[j], 2 * y[j], RANGE)
    assert verdict.counterexample.point.K == 2
    assert check_equal(d(E, z[j]), t[j] - y[j], SUM_ONE).counterexample.point.K >= 2


def test_k_one_only_when_nothing_else_breaks_the_claim():
    verdict = check_equal(sp.KroneckerDelta(K, 1), sp.Integer(0), RANGE)
    assert verdict.status is Status.REFUTED and verdict.counterexample.point.K == 1


def test_text_output_prints_logits_and_targets_in_the_derivations_letters(tmp_path):
    text = ("logits: o\nprobabilities: p\nloss: L\nindices: i, j, k\nrange: 1..K\nassume: \\sum_k t_k = 1\n"
            "result: \\frac{\\partial L}{\\partial o_j} = p_j - t_j\n"
            "$$\\frac{\\partial L}{\\partial o_j} = t_j - p_j$$ [by: chain rule]\n")
    run = _cli(_file(tmp_path, text))
    assert run.returncode == 1
    line = next(x for x in run.stdout.splitlines() if "refuted at" in x)
    assert "o=(" in line and "t=(" in line and "z=(" not in line


# --- 8-11. crashes, hangs, second derivatives ------------------------------------------------------

def test_directly_nested_sums_are_checked(tmp_path):
    assert check_equal(Sum(Sum(y[j] * y[k], k), j), sp.Integer(1), RANGE).status is Status.PROVED
    text = ("indices: i, j, k\nrange: 1..K\nresult: \\sum_j \\sum_k y_j y_k = 1\n"
            "$$\\sum_j \\sum_k y_j y_k = \\sum_j y_j \\sum_k y_k$$\n$$= 1$$\n")
    run = _cli(_file(tmp_path, text))
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stdout + run.stderr


def test_derivative_with_respect_to_a_target(tmp_path):
    text = ("indices: i, j, k\nrange: 1..K\nassume: t_k = \\delta_{k\\gamma}\n"
            "result: \\frac{\\partial E}{\\partial t_j} = -\\ln y_j\n"
            "$$\\frac{\\partial E}{\\partial t_j} = -\\ln y_j$$\n")
    run = _cli(_file(tmp_path, text))
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stdout + run.stderr


@pytest.mark.parametrize("formula", [r"E(\vec{y}, \vec{t} = y_j", r"E(z_j,", r"y_k(z_j", r"E(\vec{y}"])
def test_unclosed_argument_list_is_an_error_not_a_hang(formula):
    code = ("from derive.read.latex import parse_expression; from derive.errors import ParseError;"
            "from derive.notation import *;"
            "from derive.read.names import Names;"
            "n = Names(indexed={'z': z, 't': t, 'y': y}, scalars={'E': E, 'K': K}, indices={'j': j, 'k': k},"
            " vector_index=j);"
            f"\ntry:\n    parse_expression({formula!r}, n)\nexcept ParseError as e:\n    print('ParseError', e)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert run.stdout.startswith("ParseError") and "never closed" in run.stdout, run.stdout + run.stderr


def test_second_derivatives_are_evaluated():
    true = check_equal(d(d(E, z[j]), z[k]), y[j] * (delta(j, k) - y[k]), SUM_ONE)
    assert true.status is Status.PROVED and true.points_checked > 0 and "confirmed at" in true.message
    false = check_equal(d(d(E, z[j]), z[k]), y[j] * (delta(j, k) + y[k]), SUM_ONE)
    assert false.status is Status.REFUTED
    point = false.counterexample.point
    assert differ(value(d(d(E, z[j]), z[k]), point), value(y[j] * (delta(j, k) + y[k]), point))


# --- 12. SymPy failures are contained and named ------------------------------------------------------

@pytest.mark.parametrize("failure", [ValueError("Can't calculate derivative"), RecursionError("deep"),
                                     TypeError("cannot determine truth value")])
def test_sympy_failures_in_the_proof_are_named_never_a_traceback(monkeypatch, failure):
    def explode(*args, **kwargs):
        raise failure

    monkeypatch.setattr(checker_module, "proves_equal", explode)
    verdict = check_equal(y[j], y[j], RANGE)
    assert verdict.status is not Status.PROVED and type(failure).__name__ in verdict.message


def test_a_failure_of_the_numeric_check_is_named(monkeypatch):
    def explode(*args, **kwargs):
        raise RecursionError("too deep")

    monkeypatch.setattr(numeric, "search", explode)
    verdict = check_equal(y[j], y[j], RANGE)
    assert verdict.status is Status.PROVED and "RecursionError" in verdict.message
    assert "not confirmed numerically" in verdict.message


# --- 13-16. what the reader must not misread ---------------------------------------------------------

def _read(formula):
    text = ("indices: i, j, k\nrange: 1..K\nresult: y_j = y_j\n"
            f"$$y_j = {formula}$$\n")
    return parse(text, "read.deriv").steps[0].expr


@pytest.mark.parametrize("formula,expected", [
    (r"\frac12 y_j", y[j] / 2),
    (r"\frac12", sp.Rational(1, 2)),
    (r"\frac123", sp.Rational(3, 2)),         # TeX: \frac{1}{2} 3
    (r"|z_j - z_k|", sp.Abs(z[j] - z[k])),
    (r"\left| z_j \right|", sp.Abs(z[j])),
    (r"E(z_j)", E),
    (r"E(\vec{y}, \vec{t})", E),
    (r"y_k(\vec{z})", y[k]),
    (r"y_k(z_1, \dots, z_K)", y[k]),
    (r"y_j(1 - y_j)", y[j] * (1 - y[j])),      # a genuine product stays one
    (r"\ln y_j y_k", sp.log(y[j] * y[k])),
    (r"\ln y_j \cdot y_k", sp.log(y[j]) * y[k]),
    (r"\ln(y_j) y_k", sp.log(y[j]) * y[k]),
])
def test_reader_reads_what_tex_and_mathematicians_read(formula, expected):
    assert sp.simplify(_read(formula) - expected) == 0


@pytest.mark.parametrize("formula,message", [
    (r"z_j(t_j)", "reads as a function of t"),
    (r"\ln y_k \frac{1}{2}", "unclear whether"),
    (r"\ln y_k (1 - y_k)", "unclear whether"),
    (r"e^{z_12}", "TeX reads the unbraced '12'"),
    (r"y_j^12", "TeX reads the unbraced '12'"),
])
def test_reader_refuses_what_it_cannot_read_unambiguously(formula, message):
    with pytest.raises(ParseError, match=message.replace("(", r"\(")):
        _read(formula)


# --- properties ---------------------------------------------------------------------------------------

def _points(lhs, rhs, assumptions, rng):
    from derive import assumptions as registry
    from derive.notation import free_indices, gamma

    names = free_indices(lhs, rhs)
    assumed = registry.closure(assumptions)
    for size in (1, 2, 3, 5, 8, 9, 12):
        for _ in range(3):
            idx = {n: rng.randint(1, size) for n in names}
            zs = tuple(round(rng.uniform(-2, 2), 4) for _ in range(size))
            ts = tuple(registry.draw_targets(assumed, size, idx.get(gamma, 1), rng))
            vs = tuple(round(rng.uniform(-1, 1), 4) for _ in range(size))
            yield numeric.Point(size, idx, zs, ts, vs, 0.5)


def _really_differ(lhs, rhs, assumptions, rng) -> bool:
    """The independent reference finds a point where both sides are defined and differ."""
    for point in _points(lhs, rhs, assumptions, rng):
        try:
            a, b = value(lhs, point), value(rhs, point)
        except (ZeroDivisionError, ValueError, TypeError, IndexError):
            continue
        if defined(a) and defined(b) and differ(a, b, tol=1e-12):
            return True
    return False


@settings(max_examples=36, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10**6))
def test_true_identities_are_never_refuted_and_their_mutations_never_proved(seed):
    rng = random.Random(seed)
    ((name, lhs, rhs, assumptions),) = true_identities(rng, 1 + seed % 12)[-1:]
    verdict = check_equal(lhs, rhs, assumptions)
    assert verdict.status is not Status.REFUTED, (name, lhs, rhs, verdict.message)
    assert "checker bug" not in verdict.message, (name, verdict.message)
    for label, mutant in rng.sample(mutations(rhs), min(2, len(mutations(rhs)))):
        if not _really_differ(lhs, mutant, assumptions, rng):
            continue  # equivalent, or undefined wherever it could differ
        mutated = check_equal(lhs, mutant, assumptions)
        assert mutated.status is not Status.PROVED, (name, label, lhs, mutant, mutated.message)


@pytest.mark.parametrize("name,lhs,rhs,assumptions", FALSE_CLAIMS, ids=[x[0] for x in FALSE_CLAIMS])
def test_false_claims_are_never_proved(name, lhs, rhs, assumptions):
    verdict = check_equal(lhs, rhs, assumptions)
    assert verdict.status is not Status.PROVED, verdict.message
