"""Bad input to the generated functions: clear ValueError / TypeError naming the argument and shapes."""

import numpy as np
import pytest

from derive.measure import load_generated as load

g = load()
Z = np.zeros((2, 3))


@pytest.mark.parametrize("call,error,match", [
    (lambda: g.softmax(np.zeros((2, 0))), ValueError, r"class axis of z is empty: shape \(2, 0\)"),
    (lambda: g.softmax(np.array(1.0)), ValueError, "scalar"),
    (lambda: g.softmax(Z, axis=2), ValueError, r"axis 2 is out of range for z with shape \(2, 3\)"),
    (lambda: g.softmax(Z.astype(complex)), TypeError, "z must hold real numbers.*complex128"),
    (lambda: g.softmax(np.array([["a", "b"]])), TypeError, "z must hold real numbers"),
    (lambda: g.softmax(np.array([[True, False]])), TypeError, "z must hold real numbers.*bool"),
    (lambda: g.cross_entropy(Z, np.array([0, 3])), ValueError, r"labels must lie in 0..2 \(K = 3\); label 3 at \(1,\)"),
    (lambda: g.cross_entropy(Z, np.array([-1, 0])), ValueError, "label -1"),
    (lambda: g.cross_entropy(Z, np.array([0, 1, 2])), ValueError, r"labels must have the batch shape \(2,\).*\(3,\)"),
    (lambda: g.cross_entropy_grad(Z, np.array([0.0, 1.0])), TypeError, "class labels must be integers"),
    (lambda: g.cross_entropy_grad(Z, np.full((2, 4), 0.25)), ValueError, r"target must have the shape of z.*\(2, 3\).*\(2, 4\)"),
    (lambda: g.cross_entropy_grad(Z, np.full((2, 3), 0.5)), ValueError, "soft targets must sum to 1.*row 0 sums to 1.5"),
    (lambda: g.cross_entropy(Z, np.array(["x", "y"])), TypeError, "target must be integer class labels or float soft targets"),
    (lambda: g.softmax_vjp(Z, np.zeros((3, 2))), ValueError, r"v must have the shape of z"),
])
def test_bad_input_is_named(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_integer_logits_are_computed_as_float64():
    out = g.softmax(np.array([1, 2, 3]))
    assert out.dtype == np.float64 and np.isclose(out.sum(), 1)


def test_nan_stays_in_its_row():
    z = np.array([[np.nan, 0.0], [0.0, 0.0]])
    out = g.cross_entropy_grad(z, np.array([0, 1]))
    assert np.isnan(out[0]).all() and np.array_equal(out[1], [0.5, -0.5])


def test_out_parameter_writes_in_place_and_is_checked():
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


def test_out_may_be_the_input_itself():
    rng = np.random.default_rng(9)
    z = rng.standard_normal((5, 7)) * 3
    labels = rng.integers(0, 7, 5)
    for fn, args in ((g.softmax, ()), (g.log_softmax, ()), (g.cross_entropy_grad, (labels,)),
                     (g.softmax_vjp, (np.ones_like(z),))):
        expected = fn(z, *args)
        inplace = z.copy()
        assert fn(inplace, *args, out=inplace) is inplace
        np.testing.assert_array_equal(inplace, expected)
