"""Bad derivations fail with a message naming the derivation and the step, never a traceback."""

import dataclasses
import json
import subprocess
import sys

import pytest
import sympy as sp

from derive.errors import DerivationError
from derive.notation import j, y
from derive.read.builtin import notes as all_derivations

ROUTE1 = all_derivations()["route1"]


def _with_step(index, **changes):
    steps = list(ROUTE1.steps)
    steps[index - 1] = dataclasses.replace(steps[index - 1], **changes)
    return dataclasses.replace(ROUTE1, steps=tuple(steps))


def test_undefined_symbol():
    with pytest.raises(DerivationError, match=r"derivation 'route1', step 4: undefined symbol 'q'"):
        _with_step(4, expr=y[j] * sp.Symbol("q"))


def test_symbol_with_wrong_assumptions_is_named():
    with pytest.raises(DerivationError, match="same name as a notation symbol"):
        _with_step(2, expr=sp.Symbol("j") + y[j])


def test_unknown_indexed_name():
    with pytest.raises(DerivationError, match="step 3: undefined indexed name 'w'"):
        _with_step(3, expr=sp.IndexedBase("w")[j])


def test_unknown_justification():
    with pytest.raises(DerivationError, match="step 5: unknown justification 'magic'"):
        _with_step(5, justification="magic")


def test_unknown_assumption():
    with pytest.raises(DerivationError, match="step 1: unknown assumption 'nice_targets'"):
        _with_step(1, assumptions=("nice_targets",))


def test_step_that_is_not_an_expression():
    with pytest.raises(DerivationError, match="step 6: expected a SymPy expression, got str"):
        _with_step(6, expr="y_j - t_j")


def test_not_a_step():
    with pytest.raises(DerivationError, match="step 2: expected a Step"):
        dataclasses.replace(ROUTE1, steps=(ROUTE1.steps[0], "= y_j"))


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "derive", *args], capture_output=True, text=True, timeout=120)


def test_cli_unknown_derivation_is_a_usage_error():
    run = _cli("check", "nonsense")
    assert run.returncode == 2
    assert "unknown derivation(s) nonsense" in run.stderr
    assert "Traceback" not in run.stderr


def test_cli_unknown_flag_is_a_usage_error():
    run = _cli("check", "--frobnicate")
    assert run.returncode == 2 and "Traceback" not in run.stderr


def test_cli_json_shape_and_exit_code():
    run = _cli("check", "--json")
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    names = [d["name"] for d in data["derivations"]]
    assert names == ["jacobian", "route1", "route2"]
    for d in data["derivations"]:
        assert {"name", "title", "result", "steps", "findings"} <= set(d)
        for s in d["steps"]:
            assert {"index", "latex", "justification", "verdict", "assumptions_used", "counterexample",
                    "message"} <= set(s)
            assert s["verdict"] == "proved"


def test_cli_text_and_list():
    run = _cli("check", "route1")
    assert run.returncode == 0
    assert "summary: 1 derivation, 1 pass, 0 fail; 6 steps: 6 proved" in run.stdout
    listing = _cli("list")
    assert listing.returncode == 0 and "route2" in listing.stdout
