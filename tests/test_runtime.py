"""The generated module's runtime (derive/codegen/runtime.py), tested directly as a module of its own.

The generated file carries a verbatim copy (checked below), so these tests are about the same code.
"""

import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from derive.codegen import runtime as rt
from derive.codegen.render import runtime_source

ROOT = Path(__file__).resolve().parent.parent


def test_the_generated_module_carries_the_runtime_verbatim():
    assert runtime_source() in (ROOT / "generated" / "softmax_ce.py").read_text()


def test_the_runtime_imports_nothing_but_numpy():
    from generated_module import top_level_imports

    # NumPy-only: math is the standard library (the tiny-input path)
    assert top_level_imports(runtime_source()) == {"numpy", "math"}


@pytest.mark.skipif(not shutil.which("ruff") and not (Path(sys.executable).parent / "ruff").exists(),
                    reason="ruff not installed (it is in the test extras)")
def test_the_package_and_the_generated_module_lint_clean():
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    run = subprocess.run([ruff, "check", "derive", "tests", "benchmarks"], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout


def test_two_sum_remainder_is_exact():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((5, 7)) * 1e3
    b = rng.standard_normal((5, 1)) * 1e3
    d = a - b
    r = rt._two_sum_remainder(a, b, d, np.empty_like(a), np.empty_like(a))
    for x, y, dd, rr in zip(a.ravel(), np.broadcast_to(b, a.shape).ravel(), d.ravel(), r.ravel()):
        assert math.fsum([dd, rr, -x, y]) == 0.0  # d + r == a - b exactly


def test_exp_with_remainder_is_closer_than_exp_of_the_rounded_difference():
    import mpmath

    a, b = np.array([[700.123456789]]), np.array([[0.987654321e-3]])
    d = a - b
    r = rt._two_sum_remainder(a, b, d, np.empty_like(a), np.empty_like(a))
    got = rt._exp_with_remainder(d, r, np.empty_like(a), np.empty_like(a))[0, 0]
    with mpmath.workdps(60):
        exact = mpmath.exp(mpmath.mpf(700.123456789) - mpmath.mpf(0.987654321e-3))
        assert abs(got - exact) <= abs(np.exp(d[0, 0]) - exact)
        assert abs(got - exact) / exact < 2 * 2.0**-52


@pytest.mark.parametrize("axis", [None, 1.5, "1", True])
def test_rows_refuses_an_axis_that_is_not_an_integer(axis):
    with pytest.raises(TypeError, match="axis must be an integer"):
        rt._rows("z", np.zeros((2, 3)), axis)


def test_rows_moves_the_class_axis_last_and_restore_undoes_it():
    z = np.arange(24.0).reshape(2, 3, 4)
    flat, dtype, batch = rt._rows("z", z, 1)
    assert flat.shape == (8, 3) and batch == (2, 4) and dtype == np.float64
    np.testing.assert_array_equal(rt._restore(flat, batch, 1, 3), z)


def test_labels_are_checked_before_the_cast():
    assert rt._labels(np.array([0, 2], np.uint8), (2,), 3).dtype == np.int64
    with pytest.raises(ValueError, match="label 300 at"):
        rt._labels(np.array([0, 300] * 10, np.uint16), (20,), 3)


def test_blocks_cover_every_row_once():
    for rows, k in ((1, 10), (5000, 10), (3, 50000), (40000, 1)):
        spans = list(rt._blocks(rows, k))
        assert spans[0][0] == 0 and spans[-1][1] == rows
        assert all(hi == lo for (_, hi), (lo, _) in zip(spans, spans[1:]))


def test_faithful_row_sums_beat_a_pairwise_sum():
    rng = np.random.default_rng(3)
    v = np.exp(rng.standard_normal((50, 1000)) * 10)
    got = rt._row_sums(v, np.empty((50, 1)), np.empty_like(v))[:, 0]
    exact = np.array([math.fsum(row) for row in v])
    assert np.all(np.abs(got - exact) <= np.spacing(exact))


def test_diagonal_is_a_writeable_view():
    m = np.zeros((2, 3, 3))
    rt._diagonal(m)[...] = [[1, 2, 3], [4, 5, 6]]
    np.testing.assert_array_equal(m[1], np.diag([4.0, 5, 6]))


def test_needs_shift_finds_unsafe_rows():
    total = np.array([[2.0], [0.5], [np.inf], [np.nan], [1.0]])
    assert rt._needs_shift(total).tolist() == [1, 2, 3]
    assert rt._needs_shift(np.full((100, 1), 3.0)) is None
