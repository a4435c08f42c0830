"""Bad input to the generated functions: clear ValueError / TypeError naming the argument and shapes."""

import numpy as np
import pytest


Z = np.zeros((2, 3))


@pytest.mark.parametrize("call,error,match", [
    (lambda g: g.softmax(np.zeros((2, 0))), ValueError, r"class axis of z is empty: shape \(2, 0\)"),
    (lambda g: g.softmax(np.array(1.0)), ValueError, "scalar"),
    (lambda g: g.softmax(Z, axis=2), ValueError, r"axis 2 is out of range for z with shape \(2, 3\)"),
    (lambda g: g.softmax(Z.astype(complex)), TypeError, "z must hold real numbers.*complex128"),
    (lambda g: g.softmax(np.array([["a", "b"]])), TypeError, "z must hold real numbers"),
    (lambda g: g.softmax(np.array([[True, False]])), TypeError, "z must hold real numbers.*bool"),
    (lambda g: g.cross_entropy(Z, np.array([0, 3])), ValueError,
     r"labels must lie in 0..2 \(K = 3\); label 3 at \(1,\)"),
    (lambda g: g.cross_entropy(Z, np.array([-1, 0])), ValueError, "label -1"),
    (lambda g: g.cross_entropy(Z, np.array([0, 1, 2])), ValueError, r"labels must have the batch shape \(2,\).*\(3,\)"),
    (lambda g: g.cross_entropy_grad(Z, np.array([0.0, 1.0])), TypeError, "class labels must be integers"),
    (lambda g: g.cross_entropy_grad(Z, np.full((2, 4), 0.25)), ValueError,
     r"target must have the shape of z.*\(2, 3\).*\(2, 4\)"),
    (lambda g: g.cross_entropy_grad(Z, np.full((2, 3), 0.5)), ValueError,
     "soft targets must sum to 1.*row 0 sums to 1.5"),
    (lambda g: g.cross_entropy(Z, np.array(["x", "y"])), TypeError,
     "target must be integer class labels or float soft targets"),
    (lambda g: g.softmax_vjp(Z, np.zeros((3, 2))), ValueError, r"v must have the shape of z"),
    # int64 label arrays, which the numba module's direct path takes, beside logits it must not take
    (lambda g: g.cross_entropy_grad(np.array(1.0), np.array([0])), ValueError, "scalar"),
    (lambda g: g.cross_entropy(np.array(1.0), np.array([0])), ValueError, "scalar"),
    (lambda g: g.cross_entropy_grad(np.zeros(3), np.array([1])), ValueError, r"labels must have the batch shape \(\)"),
    (lambda g: g.cross_entropy_grad([[0.0, 1.0]], np.array([2])), ValueError, r"label 2 at \(0,\)"),
    (lambda g: g.cross_entropy_grad(np.zeros((2, 0)), np.array([0, 0])), ValueError, "class axis of z is empty"),
])
def test_bad_input_is_named(g, call, error, match):
    with pytest.raises(error, match=match):
        call(g)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_batch_of_no_rows_gives_results_of_no_rows(g, dtype):
    z = np.zeros((0, 3), dtype)
    labels, soft = np.zeros(0, np.int64), np.zeros((0, 3))
    for result, shape in ((g.softmax(z), (0, 3)), (g.log_softmax(z), (0, 3)), (g.cross_entropy(z, labels), (0,)),
                          (g.cross_entropy(z, soft), (0,)), (g.cross_entropy_grad(z, labels), (0, 3)),
                          (g.cross_entropy_grad(z, soft), (0, 3)), (g.softmax_vjp(z, z), (0, 3)),
                          (g.softmax_jacobian(z), (0, 3, 3))):
        assert result.shape == shape and result.dtype == dtype, (result.shape, result.dtype, shape)


def test_logits_as_lists_with_label_arrays_give_what_arrays_give(g):
    z, labels = [[0.0, 1.0, 2.0], [3.0, -1.0, 0.5]], np.array([2, 0])
    for name in ("cross_entropy_grad", "cross_entropy"):
        assert np.array_equal(getattr(g, name)(z, labels), getattr(g, name)(np.array(z), labels)), name


def test_integer_logits_are_computed_as_float64(g):
    out = g.softmax(np.array([1, 2, 3]))
    assert out.dtype == np.float64 and np.isclose(out.sum(), 1)


def test_nan_stays_in_its_row(g):
    z = np.array([[np.nan, 0.0], [0.0, 0.0]])
    out = g.cross_entropy_grad(z, np.array([0, 1]))
    assert np.isnan(out[0]).all() and np.array_equal(out[1], [0.5, -0.5])


def test_out_parameter_writes_in_place_and_is_checked(g):
    rng = np.random.default_rng(5)
    z = rng.standard_normal((4, 6))
    labels = np.array([0, 5, 2, 3])
    for fn, args in ((g.softmax, ()), (g.log_softmax, ()), (g.cross_entropy_grad, (labels,)),
                     (g.softmax_vjp, (np.ones_like(z),))):
        out = np.full_like(z, np.nan)
        assert fn(z, *args, out=out) is out
        np.testing.assert_array_equal(out, fn(z, *args))
    transposed = np.empty((6, 4))
    assert g.softmax(z.T, axis=0, out=transposed) is transposed
    np.testing.assert_array_equal(transposed, g.softmax(z.T, axis=0))
    with pytest.raises(ValueError, match=r"out must have shape \(4, 6\) and dtype float64"):
        g.softmax(z, out=np.empty((4, 6), np.float32))
    with pytest.raises(TypeError, match="out must be a NumPy array"):
        g.softmax(z, out=[[0.0] * 6] * 4)


def test_out_may_be_the_input_itself(g):
    rng = np.random.default_rng(9)
    z = rng.standard_normal((5, 7)) * 3
    labels = rng.integers(0, 7, 5)
    for fn, args in ((g.softmax, ()), (g.log_softmax, ()), (g.cross_entropy_grad, (labels,)),
                     (g.softmax_vjp, (np.ones_like(z),))):
        expected = fn(z, *args)
        inplace = z.copy()
        assert fn(inplace, *args, out=inplace) is inplace
        np.testing.assert_array_equal(inplace, expected)


@pytest.mark.parametrize("axis", [None, "0", 0.0, 1.0, True, np.float64(1.0), [1]])
def test_axis_must_be_an_integer(g, axis):
    with pytest.raises(TypeError, match="axis must be an integer"):
        g.softmax(Z, axis=axis)


def test_numpy_integer_axis_is_accepted(g):
    np.testing.assert_array_equal(g.softmax(Z, axis=np.int64(1)), g.softmax(Z, axis=1))


def test_float16_soft_targets_summing_to_one_in_float16_are_accepted(g):
    t16 = np.array([[0.1, 0.2, 0.7], [0.3, 0.3, 0.4]], np.float16)  # sums to 1.000122 in float64
    grad = g.cross_entropy_grad(np.zeros((2, 3)), t16)
    np.testing.assert_allclose(grad, 1 / 3 - t16.astype(np.float64))
    with pytest.raises(ValueError, match="must sum to 1"):
        g.cross_entropy_grad(np.zeros((1, 3)), np.array([[0.1, 0.2, 0.8]], np.float16))


def test_a_huge_unsigned_label_is_reported_as_itself(g):
    with pytest.raises(ValueError, match=f"label {2**64 - 1} at"):
        g.cross_entropy(Z, np.array([0, 2**64 - 1], np.uint64))


def test_read_only_out_is_named(g):
    out = np.empty((2, 3))
    out.flags.writeable = False
    with pytest.raises(ValueError, match="out is read-only"):
        g.softmax(Z, out=out)


INF, NAN = np.inf, np.nan
POLICY_ROWS = {"holds +inf": [0.0, INF, 1.0], "holds NaN": [0.0, NAN, 1.0], "all -inf": [-INF, -INF, -INF],
               "two +inf": [INF, INF, 0.0], "+inf and -inf": [INF, -INF, 0.0]}


@pytest.mark.parametrize("row", list(POLICY_ROWS))
def test_a_row_without_a_softmax_is_nan_in_every_result(g, row):
    z = np.array([POLICY_ROWS[row], [1.0, 2.0, 3.0]])
    labels, soft = np.array([0, 2]), np.array([[0.2, 0.3, 0.5]] * 2)
    results = [g.softmax(z), g.log_softmax(z), g.cross_entropy(z, labels), g.cross_entropy(z, soft),
               g.cross_entropy_grad(z, labels), g.cross_entropy_grad(z, soft), g.softmax_vjp(z, soft),
               g.softmax_jacobian(z)]
    for result in results:
        assert np.all(np.isnan(result[0])), result
        assert np.all(np.isfinite(result[1])), result  # the other row is not affected


def test_minus_infinity_masks_a_class_in_every_result(g):
    z = np.array([[0.0, -INF, 1.0]])
    y = g.softmax(z)
    assert y[0, 1] == 0 and np.isclose(y.sum(), 1)
    assert g.log_softmax(z)[0, 1] == -INF
    assert g.cross_entropy(z, np.array([1]))[0] == INF          # the label on a masked class
    assert np.isfinite(g.cross_entropy(z, np.array([2]))[0])
    assert g.cross_entropy(z, np.array([[0.5, 0.0, 0.5]]))[0] < INF  # no weight on it: finite
    assert g.cross_entropy(z, np.array([[0.5, 0.1, 0.4]]))[0] == INF
    np.testing.assert_allclose(g.cross_entropy_grad(z, np.array([1]))[0], [y[0, 0], -1.0, y[0, 2]])
    np.testing.assert_allclose(g.cross_entropy_grad(z, np.array([[0.5, 0.1, 0.4]]))[0],
                               [y[0, 0] - 0.5, -0.1, y[0, 2] - 0.4])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_softmax_jacobian_needs_at_most_twice_its_output(g, dtype):
    import tracemalloc

    z = np.random.default_rng(2).standard_normal(2000).astype(dtype)
    tracemalloc.start()
    try:
        jac = g.softmax_jacobian(z)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak <= 2 * jac.nbytes, (peak, jac.nbytes)
