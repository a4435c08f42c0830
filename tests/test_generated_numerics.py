"""The generated NumPy functions against independent references: finite differences and mpmath."""

import math

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from derive.output.measure import accuracy, central_difference, max_ulps, relative_error
from generated_module import load

numpy_module = load()  # its partition-sum helper is tested directly



@st.composite
def logits(draw, max_k=50):
    k = draw(st.integers(1, max_k))
    batch = draw(st.lists(st.integers(1, 3), min_size=0, max_size=2))
    seed = draw(st.integers(0, 2**32 - 1))
    scale = draw(st.sampled_from([0.5, 1.0, 3.0]))
    rng = np.random.default_rng(seed)
    return rng.standard_normal(tuple(batch) + (k,)) * scale, rng


def _close(analytic, numeric, what):
    """Agreement far tighter than a 0.1% error (a factor 1.001 on any entry fails)."""
    err = relative_error(analytic, numeric)
    assert err < 2e-5, f"{what}: worst relative error {err:.3g}"


@settings(max_examples=40, deadline=None)
@given(logits())
def test_label_gradient_matches_finite_differences(g, data):
    z, rng = data
    labels = rng.integers(0, z.shape[-1], z.shape[:-1])
    numeric = central_difference(lambda x: g.cross_entropy(x, labels), z)
    _close(g.cross_entropy_grad(z, labels), numeric, "label gradient")


@settings(max_examples=40, deadline=None)
@given(logits())
def test_soft_gradient_matches_finite_differences(g, data):
    z, rng = data
    t = rng.random(z.shape) + 0.01
    t /= t.sum(axis=-1, keepdims=True)
    numeric = central_difference(lambda x: g.cross_entropy(x, t), z)
    _close(g.cross_entropy_grad(z, t), numeric, "soft gradient")


@settings(max_examples=30, deadline=None)
@given(logits(max_k=20))
def test_jacobian_matches_finite_differences(g, data):
    z, _ = data
    numeric = central_difference(g.softmax, z)  # [..., k (output), j (input)]
    analytic = g.softmax_jacobian(z)  # [..., j, k] = dy_k / dz_j
    _close(np.swapaxes(analytic, -1, -2), numeric, "Jacobian")


@settings(max_examples=40, deadline=None)
@given(logits())
def test_vjp_matches_finite_differences(g, data):
    z, rng = data
    v = rng.standard_normal(z.shape)
    numeric = central_difference(lambda x: np.sum(v * g.softmax(x), axis=-1), z)
    _close(g.softmax_vjp(z, v), numeric, "VJP")


def test_a_wrong_gradient_would_be_caught(g):
    z = np.random.default_rng(0).standard_normal((4, 7))
    labels = np.array([0, 3, 6, 2])
    numeric = central_difference(lambda x: g.cross_entropy(x, labels), z)
    with pytest.raises(AssertionError):
        _close(g.cross_entropy_grad(z, labels) * 1.001, numeric, "scaled gradient")


# --- mpmath reference (derive.measure: 400 digits, the textbook formulas) ------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("scale", [1, 10, 100, 1e4])
@pytest.mark.parametrize("classes", [1, 2, 3, 10, 1000])
def test_accuracy_against_mpmath(g, dtype, scale, classes):
    with np.errstate(all="raise"):  # no overflow or invalid operation escapes to the caller
        row = accuracy(g, dtype, scale, classes)
    assert row.ulps.pop("all_finite")
    for name, err in row.ulps.items():
        assert err <= 4, f"{name}: {err:.2f} ulp"


@pytest.mark.parametrize("scale, classes, rows", [(10, 1000, 10), (10, 10, 400)])
def test_accuracy_where_a_pairwise_partition_sum_broke_the_bound(g, scale, classes, rows):
    # These logits gave 4.6 and 4.1 ulp when the partition sum was a plain pairwise np.add.reduce
    row = accuracy(g, np.float64, scale, classes, rows=rows, seed=7)
    row.ulps.pop("all_finite")
    assert max(row.ulps.values()) <= 4, row.ulps


@st.composite
def nonnegative_blocks(draw):
    # up to 40 x 300: blocks on both sides of _SCALAR_SIGMA, rows of similar and of wildly different sums
    rows, k = draw(st.integers(1, 40)), draw(st.integers(1, 300))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    spread = draw(st.sampled_from([1.0, 10.0, 300.0]))
    shifts = rng.choice(draw(st.sampled_from([[0.0], [-700.0, 0.0, 690.0], [0.0, 20.0]])), (rows, 1))
    block = np.exp(np.clip(rng.standard_normal((rows, k)) * spread + shifts, -800.0, 709.0))
    block[rng.random((rows, k)) < draw(st.sampled_from([0.0, 0.3]))] = 0.0
    return block


@settings(max_examples=300, deadline=None)
@given(nonnegative_blocks())
def test_partition_sums_are_faithfully_rounded(block):
    with np.errstate(all="ignore"):  # as inside the kernels: overflow is detected, not warned about
        got = numpy_module._row_sums(block, np.empty((block.shape[0], 1)), np.empty_like(block))[:, 0]
    for value, row in zip(got, block):
        try:
            exact = math.fsum(row)  # correctly rounded
        except OverflowError:
            exact = math.inf
        if exact > np.finfo(np.float64).max / 4:
            # near overflow the split point overflows: NaN, which the unshifted kernels redo shifted
            assert np.isnan(value) or value == exact or abs(value - exact) <= np.spacing(exact), (value, exact)
        else:
            assert abs(value - exact) <= np.spacing(exact), (value, exact)


@pytest.mark.parametrize("rows", [1, 4])  # 21 terms: on Python floats; 84 terms: on arrays
def test_partition_sums_keep_terms_below_half_an_ulp(rows):
    # 1 + 20 * 2^-53 = 1 + 10 * 2^-52 exactly; adding the tiny terms one by one to 1 gives 1.0
    block = np.array([[1.0] + [2.0**-53] * 20] * rows)
    got = numpy_module._row_sums(block, np.empty((rows, 1)), np.empty_like(block))[:, 0]
    assert got.tolist() == [1.0 + 10 * 2.0**-52] * rows


def test_partition_sums_keep_nan_and_inf_in_their_rows():
    block = np.exp(np.random.default_rng(1).standard_normal((4, 50)))
    block[1, 3], block[2, 7] = np.nan, np.inf
    with np.errstate(all="ignore"):
        got = numpy_module._row_sums(block, np.empty((4, 1)), np.empty_like(block))[:, 0]
    assert np.isnan(got[1]) and not np.isfinite(got[2])
    assert abs(got[0] - math.fsum(block[0])) <= np.spacing(got[0])
    assert abs(got[3] - math.fsum(block[3])) <= np.spacing(got[3])


@pytest.mark.parametrize("classes", [20, 1000, 50_000])
def test_the_partition_sum_of_softmax_is_faithful_at_every_length(g, classes):
    # y_0 = e^0 / s = 1 / s for a row whose maximum is z_0 = 0: with s faithfully rounded (< 1 ulp) and one
    # correctly rounded division, y_0 is within 1.5 ulp of 1 / s; a plain sum of 50 000 terms is not.  20
    # classes go through the rows-as-lanes kernels (64 rows), the others row by row.
    rng = np.random.default_rng(classes)
    rows = 64 if classes == 20 else 2
    z = np.concatenate([np.zeros((rows, 1)), -rng.uniform(0.0, 9.0, (rows, classes - 1))], axis=1)
    y = g.softmax(z)
    with mpmath.workdps(40):
        for r in (0, rows - 1):
            exact = 1 / mpmath.fsum(mpmath.exp(mpmath.mpf(float(x))) for x in z[r])
            error = max_ulps([y[r, 0]], [[exact]], np.float64)
            assert error <= 1.5, (classes, r, error)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("classes, rows", [(10, 64), (1000, 3)])
@pytest.mark.parametrize("margin", [0.0, 12.0, 40.0])
def test_gradient_with_the_label_at_the_maximum_and_elsewhere(g, classes, rows, margin, dtype):
    # The label entry is -sum_{k != label} y_k.  When the label holds the maximum (a confident, right
    # prediction) that sum is tiny and must still be accurate to a few ulp; when it does not, the sum holds
    # the maximum term (float32 kernels then take it as the sum of all minus the label's term, which cannot
    # cancel there).  The kernels take different paths for the two: both against mpmath.
    rng = np.random.default_rng(int(margin) + classes)
    z = rng.standard_normal((rows, classes))
    labels = rng.integers(0, classes, rows)
    at_max = np.arange(rows) % 2 == 0  # every other row: the label is made the maximum, by `margin`
    z[at_max, labels[at_max]] = z[at_max].max(axis=1) + margin
    # and a row whose other terms a plain sum loses: one e^-40, the rest 2^-54 times smaller, each below half
    # an ulp of it (added one by one they vanish; 998 of them are 250 ulp of the label entry)
    z[0] = -40.0 - 54 * math.log(2)
    z[0, (labels[0] + 1) % classes] = -40.0
    z[0, labels[0]] = 0.0
    z = z.astype(dtype)
    got = g.cross_entropy_grad(z, labels)
    assert got.dtype == dtype
    with mpmath.workdps(40):
        for r in (0, 1, rows - 2, rows - 1):
            exps = [mpmath.exp(mpmath.mpf(float(x))) for x in z[r]]
            total = mpmath.fsum(exps)
            expected = [e / total for e in exps]
            expected[labels[r]] = -mpmath.fsum(e for k, e in enumerate(exps) if k != labels[r]) / total
            error = max_ulps(got[r], [expected], dtype)
            assert error <= 3, (r, bool(at_max[r]), error)


def test_accuracy_check_catches_a_one_ulp_bias(g):
    class Biased:
        def __getattr__(self, name):
            fn = getattr(g, name)
            return lambda *a: fn(*a) * (1 + 8 * np.finfo(np.float64).eps)
    row = accuracy(Biased(), np.float64, 1, 10)
    assert row.ulps["softmax"] > 4


def test_softmax_of_a_dominant_logit_is_exactly_one_hot(g):
    for dtype in (np.float64, np.float32):
        out = g.softmax(np.array([1000, 0, 0, 0], dtype))
        assert out.tolist() == [1.0, 0.0, 0.0, 0.0] and out.dtype == dtype


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_no_overflow_or_nan_for_extreme_finite_input(g, dtype):
    big = np.finfo(dtype).max
    z = np.array([[big, -big, 0, 1], [-big, -big, -big, -big], [big, big, big, big], [1e-300, 0, -0.0, 5]], dtype)
    with np.errstate(all="raise"):
        outs = [g.softmax(z), g.log_softmax(z), g.cross_entropy(z, np.array([1, 0, 2, 3])),
                g.cross_entropy_grad(z, np.array([1, 0, 2, 3])), g.softmax_vjp(z, np.ones_like(z)),
                g.softmax_jacobian(z)]
    for out in outs:
        assert not np.any(np.isnan(out))
    assert np.all(np.isfinite(outs[0])) and np.all(np.isfinite(outs[3]))
    np.testing.assert_array_equal(outs[0][2], np.full(4, 0.25, dtype))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1e308, 1e308, allow_nan=False, allow_infinity=False), min_size=1, max_size=12))
def test_any_finite_row_gives_finite_results(g, row):
    z = np.array(row)
    label = np.array(len(row) - 1)
    for out in (g.softmax(z), g.log_softmax(z), g.cross_entropy_grad(z, label)):
        assert not np.any(np.isnan(out))
    assert np.all(np.isfinite(g.softmax(z)))
    assert np.isfinite(g.cross_entropy_grad(z, label)).all()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_rows_sum_to_one_and_shift_invariance(g, dtype):
    rng = np.random.default_rng(7)
    # multiples of 2^-10: adding 64 (or 1000) is exact, so the two inputs really differ by a shift
    z = (np.round(rng.standard_normal((50, 300)) * 5 * 1024) / 1024).astype(dtype)
    y = g.softmax(z)
    eps = np.finfo(dtype).eps
    assert np.all(np.abs(y.astype(np.float64).sum(axis=-1) - 1) <= 4 * eps)
    for shift in (64, 1000):
        shifted = g.softmax(z + dtype(shift))
        # each side is within a few ulp of the truth, so they agree within twice that
        assert np.all(np.abs(shifted - y) <= 8 * eps * np.maximum(y, np.finfo(dtype).tiny))


def test_soft_gradient_rows_sum_to_zero(g):
    rng = np.random.default_rng(3)
    z = rng.standard_normal((20, 30)) * 4
    t = rng.random((20, 30))
    t /= t.sum(axis=-1, keepdims=True)
    assert np.all(np.abs(g.cross_entropy_grad(z, t).sum(axis=-1)) <= 8 * np.finfo(np.float64).eps)


def test_axis_and_batch_shapes(g):
    rng = np.random.default_rng(11)
    z = rng.standard_normal((3, 5, 4))
    np.testing.assert_allclose(g.softmax(z, axis=1), np.moveaxis(g.softmax(np.moveaxis(z, 1, -1)), -1, 1))
    labels = rng.integers(0, 5, (3, 4))
    assert g.cross_entropy(z, labels, axis=1).shape == (3, 4)
    grad = g.cross_entropy_grad(z, labels, axis=1)
    assert grad.shape == z.shape
    np.testing.assert_allclose(np.moveaxis(grad, 1, -1), g.cross_entropy_grad(np.moveaxis(z, 1, -1), labels))
    assert g.softmax_jacobian(z).shape == (3, 5, 4, 4)


def test_non_finite_policy(g):
    z = np.array([[0.0, -np.inf, 1.0], [-np.inf, -np.inf, -np.inf], [0.0, np.nan, 1.0], [1.0, 2.0, 3.0]])
    y = g.softmax(z)
    assert y[0, 1] == 0 and np.isclose(y[0].sum(), 1)  # -inf masks a class
    assert np.all(np.isnan(y[1])) and np.all(np.isnan(y[2]))  # all -inf, NaN: NaN in that row only
    assert np.all(np.isfinite(y[[0, 3]]))
    ls = g.log_softmax(z)
    assert ls[0, 1] == -np.inf and np.isfinite(ls[0, [0, 2]]).all()
    ce = g.cross_entropy(z, np.array([1, 0, 0, 2]))
    assert ce[0] == np.inf and np.isnan(ce[1]) and np.isnan(ce[2]) and np.isfinite(ce[3])
    grad = g.cross_entropy_grad(z, np.array([0, 0, 0, 2]))
    assert np.isfinite(grad[0]).all() and np.isnan(grad[1]).all() and np.isnan(grad[2]).all()
    assert np.isfinite(grad[3]).all()


# --- the NumPy module's tiny-input path (Python floats) ------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_tiny_inputs_take_the_python_float_path_and_agree_with_the_array_path(dtype, monkeypatch):
    rng = np.random.default_rng(21)
    calls = []
    original = numpy_module._tiny
    monkeypatch.setattr(numpy_module, "_tiny", lambda *a: calls.append(a[0].__name__) or original(*a))
    for rows, classes in ((1, 10), (2, 7), (3, 16), (1, 1), (4, 3)):
        z = (rng.standard_normal((rows, classes)) * 30).astype(dtype)
        z[0, 0] = -np.inf  # a masked class
        labels = rng.integers(0, classes, rows)
        tiny = [numpy_module.softmax(z), numpy_module.log_softmax(z), numpy_module.cross_entropy(z, labels),
                numpy_module.cross_entropy_grad(z, labels)]
        monkeypatch.setattr(numpy_module, "_TINY", 0)
        monkeypatch.setattr(numpy_module, "_TINY_SOFTMAX", 0)
        arrays = [numpy_module.softmax(z), numpy_module.log_softmax(z), numpy_module.cross_entropy(z, labels),
                  numpy_module.cross_entropy_grad(z, labels)]
        monkeypatch.undo()
        monkeypatch.setattr(numpy_module, "_tiny", lambda *a: calls.append(a[0].__name__) or original(*a))
        for a, b in zip(tiny, arrays):
            assert a.dtype == b.dtype == dtype and a.shape == b.shape
            with np.errstate(invalid="ignore"):  # -inf - -inf where a class is masked
                close = np.abs(a - b) <= 2 * np.spacing(np.maximum(np.abs(a), np.abs(b))).astype(dtype)
            same = (a == b) | close | (np.isnan(a) & np.isnan(b))
            assert np.all(same), (rows, classes, a, b)
    assert {"_softmax_shifted_py", "_log_softmax_py", "_cross_entropy_label_py",
            "_gradient_label_shifted_py"} <= set(calls)
