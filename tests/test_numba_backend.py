"""The numba backend: its runtime helpers against high-precision references, its lowering, its file and commands.

What the public functions compute is tested by the same tests as the NumPy module (the fixture ``g`` runs
tests/test_generated_*.py and test_autodiff_peers.py on both).  Here:

* ``_exp_plus`` within 0.7 ulp of mpmath on 30 000 points across the whole range (subnormal results,
  overflow, -inf), and the remainder it takes really carried (e^(z - m) for z, m where z - m rounds);
* ``_sum_faithful`` faithfully rounded against math.fsum, with a skipped entry; ``_sum_compensated``;
* ``_row_max``: the non-finite policy and the least index of the maximum, a NaN found in any position;
* ``_exp_shifted_float32`` (float32 arithmetic) within 0.85 ulp of float32 on 280 000 points, subnormal and
  zero results included, and its remainder carried;
* ``_maximum``, ``_fma`` and ``_quotient`` (Markstein's division) against exact references; ``_scale``
  (2^n rounded once, float64 and float32) the same with and without AVX-512;
* the lowering: loops from the proved expressions, an expression outside its rules refused;
* the file: reproducible, numpy + numba + math only, the runtime copied verbatim, --check covers it;
* ``derive warm``: compiles; without numba or without the file, a clear message, never a traceback.
"""

from __future__ import annotations

import ast
import importlib.util
import math
import os
import shutil
import subprocess
import sys

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from derive.codegen import kernels, loops, render_numba
from derive.codegen.lowering import canonical_sums
from derive.codegen.render import runtime_source
from derive.errors import LoweringError
from derive.notation import K, i, k, z

from generated_module import NUMBA_PATH, load, load_numba, top_level_imports

HAS_NUMBA = importlib.util.find_spec("numba") is not None
needs_numba = pytest.mark.skipif(not HAS_NUMBA, reason="numba is not installed (pip install 'derive[fast]')")


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "derive", *args], capture_output=True, text=True, timeout=600,
                          cwd=cwd)


@pytest.fixture(scope="module")
def rt():
    """The runtime module, compiled by numba (its helpers also run as plain Python through .py_func)."""
    if not HAS_NUMBA:
        pytest.skip("numba is not installed (pip install 'derive[fast]')")
    from derive.codegen import runtime_numba

    return runtime_numba


@pytest.fixture(scope="module")
def exp_many(rt):
    import numba

    @numba.njit
    def run(xs, rems, out):
        for n in range(xs.shape[0]):
            out[n] = rt._exp_plus(xs[n], rems[n])
        return out

    return lambda xs, rems: run(xs, rems, np.empty_like(xs))


def _ulps(got: float, exact) -> float:
    if exact == 0:
        return 0.0 if got == 0 else math.inf
    spacing = np.spacing(float(exact)) if abs(float(exact)) >= 2.2250738585072014e-308 else 5e-324
    return float(abs(mpmath.mpf(got) - exact) / mpmath.mpf(abs(float(spacing))))


@mpmath.workprec(130)
def test_exp_is_accurate_to_a_fraction_of_an_ulp_over_its_whole_range(exp_many):
    rng = np.random.default_rng(3)
    xs = np.concatenate([-rng.random(12000) * 745, rng.random(4000) * 709.7, -rng.random(4000) * 1e-3,
                         -rng.random(4000) * 2, rng.random(4000) - 0.5, -745 + rng.random(2000) * 37])
    got = exp_many(xs, np.zeros_like(xs))
    errors = np.array([_ulps(g_, mpmath.exp(mpmath.mpf(float(x)))) for x, g_ in zip(xs, got)])
    normal = xs > -708.39  # below, the result is subnormal and is rounded twice (p, then p * 2^n)
    assert errors[normal].max() < 0.7, errors[normal].max()
    assert errors[~normal].max() < 1.0, errors[~normal].max()
    # the same arithmetic in plain Python (what the module's docstring promises the test can run)
    plain = [_ulps(_plain_exp(x), mpmath.exp(mpmath.mpf(float(x)))) for x in xs[:300]]
    assert max(plain) < 0.7


def _plain_exp(x):
    from derive.codegen import runtime_numba

    clamped = min(max(float(x), -746.0), 710.0)  # what _exp_plus does before it calls _exp_clamped
    return runtime_numba._exp_clamped.py_func(clamped, 0.0)


@mpmath.workprec(200)
def test_exp_polynomial_is_within_a_hundredth_of_an_ulp_on_its_interval(rt):
    # e^r = 1 + r + r^2 q(r) on |r| <= ln2 / 2: the fitted q's error there, against mpmath, in units of 2^-53
    half = mpmath.log(2) / 2
    worst = 0
    for n in range(-1000, 1001):
        r = half * n / 1000 if n else mpmath.mpf(2) ** -30
        q = sum(mpmath.mpf(c) * r ** power for power, c in enumerate(rt._EXP_Q))
        worst = max(worst, abs(r * r * q - (mpmath.exp(r) - 1 - r)) * mpmath.mpf(2) ** 53)
    assert worst < 0.01, float(worst)
    # the Taylor coefficients cut at the same degree are 40 times further off: the check can tell
    taylor = [1 / mpmath.factorial(power + 2) for power in range(len(rt._EXP_Q))]
    r = half
    assert abs(r * r * sum(c * r ** p for p, c in enumerate(taylor)) - (mpmath.exp(r) - 1 - r)) * 2 ** 53 > 0.1


def test_exp_edges(exp_many):
    xs = np.array([-np.inf, -800.0, -746.0, -745.13, -708.4, 0.0, 709.78, 710.0, 800.0, np.inf])
    got = exp_many(xs, np.zeros_like(xs))
    with np.errstate(over="ignore"):
        expected = np.exp(xs)
    for x, g_, e in zip(xs, got, expected):
        assert (g_ == e) or abs(g_ - e) <= np.spacing(e), (x, g_, e)
    assert np.isnan(exp_many(np.array([np.nan]), np.zeros(1))[0])


@mpmath.workprec(130)
def test_exp_carries_the_remainder_of_a_rounded_difference(rt, exp_many):
    rng = np.random.default_rng(9)
    zs, ms = rng.standard_normal(2000) * 300, rng.standard_normal(2000) * 300 + 400
    got = np.array([rt._exp_shifted(a, b) for a, b in zip(zs, ms)])
    exact = [mpmath.exp(mpmath.mpf(float(a)) - mpmath.mpf(float(b))) for a, b in zip(zs, ms)]
    assert max(_ulps(g_, e) for g_, e in zip(got, exact)) < 1.0
    # without the remainder the rounding of z - m is amplified by exp: the test above would see it
    naive = exp_many(zs - ms, np.zeros_like(zs))
    assert max(_ulps(g_, e) for g_, e in zip(naive, exact)) > 2.0


@pytest.fixture(scope="module")
def exp_float32_many(rt):
    return _each(rt._exp_shifted_float32)


def _each(helper):
    """helper(a[n], b) for every n of the array a, compiled, as the kernels call the runtime's helpers in a loop."""
    import numba

    @numba.njit
    def run(a, b, out):
        for n in range(a.shape[0]):
            out[n] = helper(a[n], b)
        return out

    return lambda a, b: run(a, b, np.empty_like(a))


def _ulps_float32(got, exact):
    """|got - exact| in ulps of float32 at exact (the subnormal ulp 2^-149 below 2^-126)."""
    exact = np.asarray(exact, np.float64)
    spacing = np.maximum(np.spacing(np.abs(exact).astype(np.float32)).astype(np.float64), 2.0 ** -149)
    return np.abs(np.asarray(got, np.float64) - exact) / spacing


@mpmath.workprec(100)
def test_float32_exp_is_within_an_ulp_of_float32_over_its_whole_range(rt, exp_float32_many):
    # z and m float32 as the kernels get them; z - m is exact in float64, e^(z - m) there off by 2^-53 at most:
    # a reference 2^29 times finer than float32's ulp (mpmath for a subset)
    rng = np.random.default_rng(32)
    naive_worst = 0.0
    for m in (np.float32(0.0), np.float32(37.25), np.float32(-3000.5), np.float32(1e6)):
        d = np.concatenate([-rng.random(40000) * 110, -rng.random(20000), -rng.random(5000) * 1e-3,
                            -87.3 - rng.random(5000) * 16.5])  # the last: subnormal and zero results
        zs = (m + d).astype(np.float32)
        got = exp_float32_many(zs, float(m))
        assert got.dtype == np.float32
        exact = np.exp(zs.astype(np.float64) - float(m))
        errors = _ulps_float32(got, exact)
        assert errors.max() < 0.85, (m, errors.max(), zs[errors.argmax()])
        picks = rng.choice(zs.size, 300, replace=False)
        reference = [mpmath.exp(mpmath.mpf(float(zs[n])) - mpmath.mpf(float(m))) for n in picks]
        assert _ulps_float32(got[picks], [float(x) for x in reference]).max() < 0.85
        # z - m rounded to float32 without its remainder (where it rounds: m = 37.25, z < 0): e^(z - m) off by
        # up to |z - m| ulp; the test sees it
        naive = np.exp((zs - m).astype(np.float64)).astype(np.float32)
        naive_worst = max(naive_worst, _ulps_float32(naive, exact).max())
    assert naive_worst > 2.0
    edges = exp_float32_many(np.array([-np.inf, 5.0, 5.0 - 2 ** -21, -200.0, -1e30], np.float32), 5.0)
    assert list(edges[[0, 1, 3, 4]]) == [0.0, 1.0, 0.0, 0.0] and 0.999 < edges[2] < 1.0
    # the same arithmetic in plain Python on numpy float32 scalars: within an ulp of the compiled (no FMA there)
    zs = (np.float32(37.25) + rng.uniform(-100, 0, 300)).astype(np.float32)
    plain = [rt._exp_shifted_float32.py_func(x, 37.25) for x in zs]
    assert all(isinstance(x, np.float32) for x in plain)
    assert _ulps_float32(plain, exp_float32_many(zs, 37.25)).max() <= 1.0


@st.composite
def nonnegative_rows(draw):
    size = draw(st.integers(1, 300))
    scale = draw(st.sampled_from([1.0, 1e-200, 1e200, 1e-310]))
    values = draw(st.lists(st.floats(0, 1, allow_nan=False), min_size=size, max_size=size))
    return np.array(values) * scale, draw(st.integers(-1, size - 1))


@needs_numba
@settings(max_examples=150, deadline=None)
@given(nonnegative_rows())
def test_faithful_sum_is_faithful(row):
    from derive.codegen import runtime_numba as rt

    values, skip = row
    got = rt._sum_faithful(values, skip)
    exact = math.fsum(v for n, v in enumerate(values.tolist()) if n != skip)
    assert abs(got - exact) < np.spacing(exact) or got == exact, (got, exact)


@needs_numba
def test_faithful_sum_passes_on_nan_and_inf(rt):
    assert np.isnan(rt._sum_faithful(np.array([1.0, np.nan, 2.0]), -1))
    assert rt._sum_faithful(np.array([1.0, np.inf]), -1) == np.inf
    assert rt._sum_faithful(np.array([1.0, np.nan]), 1) == 1.0  # the skipped entry is left out


@needs_numba
def test_compensated_sum_of_terms_of_either_sign(rt):
    rng = np.random.default_rng(4)
    for _ in range(50):
        terms = rng.standard_normal(500) * 10.0 ** rng.integers(-5, 5, 500)
        exact = math.fsum(terms)
        assert abs(rt._sum_compensated(terms, -1) - exact) <= 2 * np.spacing(abs(exact)) + 1e-30


@needs_numba
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_row_max_and_its_policy(rt, dtype):
    rows = np.array([[1.0, 5.0, 5.0, -np.inf, 2.0], [np.nan, 1, 2, 3, 4], [0, np.inf, 0, 0, 0],
                     [-np.inf] * 5, [7, 1, 2, 3, 7]], dtype)
    assert rt._row_max(rows, 0) == (5.0, 1, True)  # the least index where the maximum is attained
    assert not rt._row_max(rows, 1)[2] and not rt._row_max(rows, 2)[2] and not rt._row_max(rows, 3)[2]
    assert rt._row_max(rows, 4)[:2] == (7.0, 0)
    long = np.random.default_rng(0).standard_normal((1, 1003)).astype(dtype)
    assert rt._row_max(long, 0)[:2] == (float(long.max()), int(long.argmax()))


@needs_numba
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_row_max_finds_a_nan_or_inf_wherever_it_is(rt, dtype):
    # the max reduction is vectorised with a tail: a NaN in any position, of rows of any length, must reach m
    for n in range(1, 70):
        for position in range(n):
            row = np.zeros((1, n), dtype)
            row[0, position] = np.nan
            assert rt._row_max_value(row, 0)[1] is False and rt._row_max(row, 0)[2] is False, (n, position)
            row[0, position] = np.inf
            assert rt._row_max_value(row, 0)[1] is False, (n, position)
            row[0, position] = 3.0
            assert rt._row_max_value(row, 0) == (3.0, True) and rt._row_max(row, 0) == (3.0, position, True)
    assert rt._row_max_value(np.full((1, 7), -np.inf, dtype), 0)[1] is False
    assert rt._row_max_value(np.empty((1, 0), dtype), 0)[1] is False


@needs_numba
def test_maximum_is_the_ieee_maximum(rt):
    import numba

    compiled = numba.njit(lambda a, b: rt._maximum(a, b))
    for a, b in [(1.0, 2.0), (2.0, 1.0), (-math.inf, -5.0), (math.nan, 1.0), (1.0, math.nan), (math.inf, 0.0)]:
        for f in (compiled, rt._maximum):
            got = f(a, b)
            assert (math.isnan(got) and (math.isnan(a) or math.isnan(b))) or got == max(a, b), (a, b, got)


@needs_numba
def test_fma_rounds_once(rt):
    import fractions

    import numba

    compiled = numba.njit(lambda a, b, c: rt._fma(a, b, c))
    rng = np.random.default_rng(7)
    for a, b, c in zip(rng.standard_normal(2000) * 1e3, rng.standard_normal(2000), rng.standard_normal(2000) * 1e3):
        a, b, c = float(a), float(b), float(-a * b if c > 0 else c)  # half the cases cancel to the product's error
        exact = float(fractions.Fraction(a) * fractions.Fraction(b) + fractions.Fraction(c))
        assert compiled(a, b, c) == exact and rt._fma(a, b, c) == exact, (a, b, c)


@needs_numba
def test_pow2_read_off_a_rounded_float(rt):
    import numba

    compiled = numba.njit(lambda t: rt._pow2_rounded(t))
    for n in (-1022, -1021, -217, -150, -5, -1, 0, 1, 3, 1023):
        t = (n + 0.3) + rt._ROUND  # adding _ROUND rounds to the integer n
        assert t - rt._ROUND == n and compiled(t) == rt._pow2_rounded(t) == math.ldexp(1.0, n), n


@needs_numba
def test_quotient_is_the_correctly_rounded_division(rt):
    divide_all = _each(rt._quotient)
    rng = np.random.default_rng(3)
    for _ in range(20):
        b = float(np.exp(rng.uniform(0, 40)) * rng.uniform(1, 2))  # a partition sum: >= 1
        a = rng.uniform(0, 1, 50_000) * np.exp(rng.uniform(-690, 0, 50_000))
        np.testing.assert_array_equal(divide_all(a, b), a / b)
    assert rt._quotient(1.0, 3.0) == 1.0 / 3.0 and rt._quotient(0.0, 7.0) == 0.0


def test_float32_quotient_is_rounded_once_from_float32_arithmetic(rt):
    # a float32 term divided by a float64 sum: 1/b as two float32 parts and one FMA; the float32 result must be
    # the correctly rounded quotient a / b, or at worst the other neighbour of a quotient within 2^-20 ulp of
    # the midpoint between two floats (the product is formed to 2^-47)
    divide_all = _each(rt._quotient_single)
    rng = np.random.default_rng(8)
    for _ in range(10):
        b = float(np.exp(rng.uniform(0, 10)) * rng.uniform(1, 2))
        a = (rng.uniform(0.5, 1, 100_000) * np.exp2(rng.integers(-140, 1, 100_000))).astype(np.float32)
        got = divide_all(a, b)
        assert got.dtype == np.float32
        exact = a.astype(np.float64) / b  # 2^-53 relative: far finer than float32
        rounded = exact.astype(np.float32)
        large = np.abs(exact) >= 2.0 ** -100
        off = (got != rounded) & large
        spacing = np.spacing(np.abs(rounded).astype(np.float32)).astype(np.float64)
        midpoint_distance = np.abs(np.abs(exact - got.astype(np.float64)) - spacing / 2) / spacing
        assert off.sum() <= 2 and (midpoint_distance[off] < 2.0 ** -20).all(), (off.sum(), b)
        # below 2^-100 (a probability no float32 sum can tell from 0 against 1) a lo loses bits to underflow:
        # within one ulp there
        assert (~large).sum() > 100 and (np.abs(exact - got)[~large] <= spacing[~large]).all()


_SCALE_PROBE = """
import sys
import numba
import numpy as np
from derive.codegen import runtime_numba as rt

@numba.njit
def run(p, n, out):
    for i in range(p.shape[0]):
        out[i] = rt._scale(p[i], n[i])

@numba.njit
def exps(x, out):
    for i in range(x.shape[0]):
        out[i] = rt._exp_plus(x[i], 0.0)

@numba.njit
def exps32(z, out):
    for i in range(z.shape[0]):
        out[i] = rt._exp_shifted_float32(z[i], 0.0)

rng = np.random.default_rng(5)
p = rng.uniform(0.5, 2.0, 20000)
n = rng.integers(-1076, 1025, 20000).astype(np.float64)
x = np.concatenate([rng.uniform(-746, 710, 20000), [-745.2, -744.0, -708.5, 709.7, -np.inf]])
a, b = np.empty_like(p), np.empty_like(x)
run(p, n, a)
exps(x, b)
p32 = rng.uniform(0.5, 2.0, 20000).astype(np.float32)
n32 = rng.integers(-160, 1, 20000).astype(np.float32)
z32 = np.concatenate([rng.uniform(-110, 0, 20000), [-103.5, -87.5, -np.inf]]).astype(np.float32)
a32, b32 = np.empty_like(p32), np.empty_like(z32)
run(p32, n32, a32)  # float32: the same helper at float32's width
exps32(z32, b32)
np.save(sys.argv[1], np.concatenate([a, b, a32, b32]))
print(rt._has_scalef())
"""


@needs_numba
def test_scale_rounds_once_with_or_without_avx512(tmp_path):
    # _scale is vscalefpd where the CPU has AVX-512 and exponent bits elsewhere: both must give math.ldexp's
    # result, and the exp built on them the same bits; the second is compiled here for a Haswell (AVX2) target
    script = tmp_path / "probe.py"
    script.write_text(_SCALE_PROBE)
    haswell = ("+64bit,+avx,+avx2,+bmi,+bmi2,+cmov,+cx16,+f16c,+fma,+fxsr,+lzcnt,+mmx,+movbe,+popcnt,+sse,+sse2,"
               "+sse3,+sse4.1,+sse4.2,+ssse3,+xsave")
    results, kinds = [], []
    for name, env in (("host", {}), ("haswell", {"NUMBA_CPU_NAME": "haswell", "NUMBA_CPU_FEATURES": haswell})):
        run = subprocess.run([sys.executable, str(script), str(tmp_path / f"{name}.npy")], capture_output=True,
                             text=True, timeout=600, env={**os.environ, "NUMBA_DISABLE_CACHING": "1", **env})
        assert run.returncode == 0, run.stderr
        kinds.append(run.stdout.strip())
        results.append(np.load(tmp_path / f"{name}.npy"))
    assert kinds[1] == "False"
    rng = np.random.default_rng(5)
    p, n = rng.uniform(0.5, 2.0, 20000), rng.integers(-1076, 1025, 20000)
    from derive.codegen import runtime_numba

    expected = [runtime_numba._scale(float(a), int(b)) for a, b in zip(p, n)]  # math.ldexp, inf past the top
    assert math.inf in expected and 0.0 in expected and min(e for e in expected if e) < 2.2250738585072014e-308
    np.testing.assert_array_equal(results[0][:20000], expected)
    np.testing.assert_array_equal(results[1], results[0])
    # float32: _scale (vscalefps, or float32 exponent bits in two halves) rounds p 2^n once, subnormals included
    x_size = 20005
    rng.uniform(-746, 710, 20000)  # x, drawn between the two in the probe
    p32 = rng.uniform(0.5, 2.0, 20000).astype(np.float32)
    n32 = rng.integers(-160, 1, 20000)
    expected32 = np.array([math.ldexp(float(a), int(b)) for a, b in zip(p32, n32)]).astype(np.float32)
    assert 0.0 in expected32 and expected32[expected32 > 0].min() < 1.1754944e-38
    np.testing.assert_array_equal(results[0][20000 + x_size:40000 + x_size].astype(np.float32), expected32)


# --- the lowering ----------------------------------------------------------------------------------------


def test_every_numba_kernel_is_a_proved_kernel_lowered_to_loops():
    by_name = {kern.name: kern for kern in kernels.build_kernels()}
    text = render_numba.render()
    tree = ast.parse(text)
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    for name in render_numba.KERNELS:
        fn = functions[name]
        assert any(isinstance(n, ast.For) for n in ast.walk(fn)), name  # fused loops, not ufunc passes
        doc = ast.get_docstring(fn)
        for source in by_name[name].sources:
            assert f"derive/derivations/{source.derivation}.deriv" in doc, (name, source)
        assert "Checker: proved" in doc


def test_the_label_entry_is_never_the_sum_minus_the_entry():
    text = render_numba.render()
    body = text.split("def _gradient_label_shifted", 1)[1].split("\ndef ", 1)[0]
    split, otherwise = body.split("if z[r, g] < m:", 1)[1].split("else:", 1)
    assert "_sum_split(out[r], g, estimate0)" in otherwise and "if i != g else 0.0" in otherwise  # left out
    # the label not the maximum: its split parts taken back out of the split sums, the high one exactly
    assert "high0 = high0 - part  # exact" in split and "low0 = low0 - (out[r, g] - part)" in split
    assert "out[r, g] = -_quotient(s0, h0)" in body  # minus the others over the whole sum


def test_float32_kernels_subtract_the_label_term_only_where_the_others_hold_the_maximum():
    body = render_numba.render().split("def _gradient_label_shifted_single(", 1)[1].split("\ndef ", 1)[0]
    condition, otherwise = body.split("if z[r, g] < m:", 1)[1].split("else:", 1)
    assert "estimate0 - float(out[r, g])" in condition  # the sum of all (>= 1 + the label's term) minus it
    assert "estimate0 - " not in otherwise and "if i != g else 0.0" in otherwise  # the label at the maximum: left out


def test_terms_are_kept_in_out_only_in_outs_own_precision_and_read_back_in_place():
    text = render_numba.render()

    def body(name):
        return text.split(f"def {name}(", 1)[1].split("\ndef ", 1)[0]

    for name in ("_softmax_shifted", "_gradient_label_shifted", "_log_softmax"):  # always given a float64 out
        assert "buffer0 = np.empty(K)" not in body(name) and "out[r, i] = _exp_shifted(z[r, i], m)" in body(name)
    for name in ("_softmax_shifted_single", "_gradient_label_shifted_single"):  # float32 terms in a float32 out
        assert "np.empty(K" not in body(name) and "out[r, i] = _exp_shifted_float32(z[r, i], m)" in body(name)
    for name in ("_softmax_vjp", "_cross_entropy_soft"):  # no float32 terms, or a row result
        assert "buffer0 = np.empty(K)" in body(name), name
    assert "buffer0 = np.empty(K, np.float32)" in body("_cross_entropy_label_single")  # a row result
    # float64 terms (the compensated sum's) never go into a float32 out
    assert "buffer1 = np.empty(K)" in body("_cross_entropy_soft_single")


def test_an_expression_outside_the_rules_is_refused():
    kernel = next(kern for kern in kernels.build_kernels() if kern.name == "_softmax_shifted")
    for expr in (sp.Sum(sp.exp(z[i]), (i, 0, K)) * z[k], z[k] ** 3, sp.sin(z[k])):
        with pytest.raises(LoweringError):
            loops.lower(kernel, canonical_sums(expr))


# --- the file and the commands ---------------------------------------------------------------------------


def test_the_numba_file_is_committed_reproducible_and_checked(tmp_path):
    assert NUMBA_PATH.read_text() == render_numba.render() == render_numba.render()
    assert runtime_source() in NUMBA_PATH.read_text() and runtime_source("runtime_numba.py") in NUMBA_PATH.read_text()
    copy = tmp_path / "generated"
    copy.mkdir()
    shutil.copy(NUMBA_PATH, copy / NUMBA_PATH.name)
    shutil.copy(NUMBA_PATH.parent / "softmax_ce.py", copy / "softmax_ce.py")
    text = (copy / NUMBA_PATH.name).read_text()
    edited = text.replace("_sum_split(out[r], g, estimate0)", "_sum_split(out[r], -1, estimate0)")
    assert edited != text
    (copy / NUMBA_PATH.name).write_text(edited)
    run = _cli("codegen", "--check", "-o", str(copy))
    assert run.returncode == 1
    assert "softmax_ce_numba.py is stale" in run.stdout and "softmax_ce.py is up to date" in run.stdout
    assert "--backend numba" in run.stdout


def test_the_numba_module_imports_numpy_numba_and_math_only():
    # llvmlite is numba's code generator, installed with it: the intrinsics (llvm.maximum, llvm.fma) name its types
    assert top_level_imports(NUMBA_PATH.read_text()) == {"numpy", "numba", "llvmlite", "math"}


@needs_numba
def test_codegen_writes_and_warms_and_warm_reloads(tmp_path):
    run = _cli("codegen", "--backend", "numba", "-o", str(tmp_path))
    assert run.returncode == 0, run.stderr
    assert (tmp_path / NUMBA_PATH.name).read_text() == NUMBA_PATH.read_text()
    assert "compiled 32 kernel signatures" in run.stdout
    again = _cli("warm", str(tmp_path / NUMBA_PATH.name))
    assert again.returncode == 0 and "32 kernel signatures" in again.stdout, again.stderr


def test_warm_says_what_is_missing(tmp_path, monkeypatch, capsys):
    run = _cli("warm", str(tmp_path / "nowhere.py"))
    assert run.returncode in (1, 3) and "Traceback" not in run.stderr
    assert "does not exist" in run.stderr or "numba is not installed" in run.stderr
    from derive import cli
    from derive.codegen import warming

    monkeypatch.setattr(warming, "numba_available", lambda: False)
    assert cli.main(["warm", str(NUMBA_PATH)]) == 1
    assert "pip install 'derive[fast]'" in capsys.readouterr().err


@needs_numba
def test_a_broken_numba_file_is_reported_not_raised(tmp_path):
    broken = tmp_path / "softmax_ce_numba.py"
    broken.write_text("import numpy as np\n\ndef warm():\n    raise RuntimeError('boom')\n")
    run = _cli("warm", str(broken))
    assert run.returncode == 1 and "could not be compiled" in run.stderr and "Traceback" not in run.stderr


@needs_numba
def test_both_backends_agree_to_a_few_ulp():
    numba_module = load_numba()
    from generated_module import load

    numpy_module = load()
    rng = np.random.default_rng(11)
    z = rng.standard_normal((50, 37)) * 20
    labels = rng.integers(0, 37, 50)
    for name, args in (("softmax", ()), ("log_softmax", ()), ("cross_entropy_grad", (labels,))):
        a, b = getattr(numba_module, name)(z, *args), getattr(numpy_module, name)(z, *args)
        assert np.all(np.abs(a - b) <= 8 * np.spacing(np.maximum(np.abs(a), np.abs(b)))), name


@needs_numba
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("scale", [1, 100, 1e4])
def test_rows_as_lanes_kernels_within_4_ulp_of_mpmath(dtype, scale):
    from derive.output.measure import accuracy

    module = load_numba()
    assert 10 < module._LANES_K and 70 >= module._LANES_ROWS  # these inputs take the rows-as-lanes kernels
    row = accuracy(module, dtype, scale, 10, rows=70, seed=5)  # 70 rows: a full block of 64 and a partial one
    assert row.ulps.pop("all_finite")
    assert max(row.ulps.values()) <= 4, row.ulps


@needs_numba
def test_rows_as_lanes_keep_the_non_finite_policy_row_by_row():
    from generated_module import load

    numba_module, numpy_module = load_numba(), load()
    rng = np.random.default_rng(8)
    z = rng.standard_normal((100, 7)) * 10
    z[3, 2] = np.nan
    z[10, 0] = np.inf
    z[20] = -np.inf
    z[30, [1, 4]] = -np.inf  # masked classes
    z[70, 5] = z[70].max() + 1e-13  # a maximum barely above the rest
    labels = rng.integers(0, 7, 100)
    labels[30] = 4  # the label on a masked class: cross-entropy +inf
    soft = rng.random((100, 7))
    soft /= soft.sum(axis=-1, keepdims=True)
    for name, args in (("softmax", ()), ("log_softmax", ()), ("cross_entropy", (labels,)), ("cross_entropy", (soft,)),
                       ("cross_entropy_grad", (labels,)), ("cross_entropy_grad", (soft,))):
        a, b = getattr(numba_module, name)(z, *args), getattr(numpy_module, name)(z, *args)
        assert np.array_equal(np.isnan(a), np.isnan(b)) and np.array_equal(np.isinf(a), np.isinf(b)), name
        finite = np.isfinite(b)
        a, b = np.where(finite, a, 0.0), np.where(finite, b, 0.0)
        assert np.all(np.abs(a - b)[finite] <= 8 * np.spacing(np.maximum(np.abs(a), np.abs(b)))[finite]), name


@needs_numba
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("classes", [1000, 4000])
def test_the_maximum_found_ahead_gives_each_row_what_it_gives_alone(dtype, classes):
    # the next row's maximum is found in the loop that computes the current row's exps: a NaN, +inf or all
    # -inf in any position of the next row must still reach that row's policy, and every row must be bit for
    # bit what it is computed alone (a single row has no next one)
    module = load_numba()
    rng = np.random.default_rng(12)
    z = (rng.standard_normal((12, classes)) * 30).astype(dtype)
    z[1, 0], z[3, classes - 1], z[5, 417] = np.nan, np.inf, np.nan
    z[7] = -np.inf
    z[9, :500] = -np.inf  # masked classes only: the row keeps its softmax
    z[11, classes - 1] = 1e4  # the last row's maximum at its end
    labels = rng.integers(0, classes, 12)
    for name, args in (("softmax", ()), ("cross_entropy_grad", (labels,))):
        fn = getattr(module, name)
        together = fn(z, *args)
        alone = np.concatenate([fn(z[r:r + 1], *(a[r:r + 1] for a in args)) for r in range(12)])
        assert np.array_equal(together, alone, equal_nan=True), name
        assert np.isnan(together[[1, 3, 5, 7]]).all() and not np.isnan(np.delete(together, [1, 3, 5, 7], 0)).any()
        reference = getattr(load(), name)(z, *args)  # the NumPy module: the same policy, a few ulp apart
        np.testing.assert_allclose(together, reference, rtol=1e-5 if dtype == np.float32 else 1e-13, atol=1e-30)


@needs_numba
def test_float32_results_take_the_single_kernels_and_float64_results_never_do():
    module = load_numba()
    wide, narrow = np.zeros((4, 1000)), np.zeros((4, 1000), np.float32)
    assert module._layout(module._softmax_shifted, module._softmax_shifted_lanes, wide, wide) \
        is module._softmax_shifted
    assert module._layout(module._softmax_shifted, module._softmax_shifted_lanes, narrow, narrow) \
        is module._softmax_shifted_single
    many = np.zeros((100, 10), np.float32)
    chosen = module._layout(module._log_softmax, module._log_softmax_lanes, many, many)
    assert chosen is module._log_softmax_lanes_single
    text = render_numba.render()
    single = text.split("def _softmax_shifted_single", 1)[1].split("\ndef ", 1)[0]
    assert "_exp_shifted_float32(" in single and "_sum_split" not in single
    lanes_single = text.split("def _softmax_shifted_lanes_single", 1)[1].split("\ndef ", 1)[0]
    assert "_exp_shifted_single(" in lanes_single and "_sum_split" not in lanes_single


@needs_numba
def test_the_unchecked_fast_path_gives_what_the_checked_path_gives():
    module = load_numba()
    for rows in (5, 64):  # row by row, and rows as lanes
        z = np.random.default_rng(2).standard_normal((rows, 9)) * 20
        strided = np.asfortranarray(z)  # not C-contiguous: through _rows
        for name in ("softmax", "log_softmax"):
            fn = getattr(module, name)
            assert np.array_equal(fn(z), fn(strided)) and np.array_equal(fn(z), fn(z, out=np.empty_like(z)))
            assert np.array_equal(fn(z, axis=1), fn(z.T, axis=0).T)
    with pytest.raises(TypeError, match="axis must be an integer"):
        module.softmax(z, axis=True)  # a bool is not the axis 1, on either path
    with pytest.raises(ValueError, match="class axis of z is empty"):
        module.softmax(np.zeros((2, 0)))


@needs_numba
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_fast_path_with_labels_gives_what_the_checked_path_gives_and_reports_bad_labels_alike(dtype):
    module = load_numba()
    rng = np.random.default_rng(4)
    for rows, classes in ((5, 9), (64, 9), (3, 1000)):  # row by row, rows as lanes, long rows
        z = (rng.standard_normal((rows, classes)) * 20).astype(dtype)
        labels = rng.integers(0, classes, rows)
        strided = np.asfortranarray(z)  # not C-contiguous: through _rows and _labels
        for name in ("cross_entropy_grad", "cross_entropy"):
            fn = getattr(module, name)
            fast, checked = fn(z, labels), fn(strided, labels.astype(np.int32))
            assert fast.dtype == checked.dtype == dtype and np.array_equal(fast, checked), (name, rows)
            for bad in (-1, classes, 2 ** 40):
                wrong = labels.copy()
                wrong[rows // 2] = bad
                with pytest.raises(ValueError) as fast_error:
                    fn(z, wrong)
                with pytest.raises(ValueError) as checked_error:
                    fn(strided, wrong[::-1].copy()[::-1])  # the same labels, through the checks
                assert str(fast_error.value) == str(checked_error.value)
                assert f"label {bad} at ({rows // 2},)" in str(fast_error.value)
    # the kernels themselves: the first row whose label is out of range, nothing read or written with it
    z = np.zeros((70, 5))
    for kernel in (module._gradient_label_shifted, module._gradient_label_shifted_lanes):
        out = np.full((70, 5), 7.0)
        labels = np.zeros(70, np.int64)
        labels[[40, 50]] = [5, -1]
        assert kernel(z, labels, out) == 40 and kernel(z, np.zeros(70, np.int64), out) == -1
