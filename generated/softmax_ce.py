# GENERATED FILE -- DO NOT EDIT.
# Written by `derive codegen` from templates/softmax_ce.py.j2 and these derivations
# (name: the file it was read from, and the first 16 hex digits of the SHA-256 of that file's text):
#   cross_entropy_label: derive/derivations/cross_entropy_label.deriv 2c8082ab3aed3993
#   cross_entropy_soft: derive/derivations/cross_entropy_soft.deriv 13e88bb6b5bb97b7
#   gradient_label: derive/derivations/gradient_label.deriv 87fb8f275c3c2d07
#   gradient_soft: derive/derivations/gradient_soft.deriv 88cc43a12237e1a3
#   jacobian: derive/derivations/jacobian.deriv a1d99da60be6624e
#   log1p_partition: derive/derivations/log1p_partition.deriv fb5efdef40b98e36
#   log1p_partition_unshifted: derive/derivations/log1p_partition_unshifted.deriv 1ed8b061bcc87010
#   log_softmax: derive/derivations/log_softmax.deriv 397751c244f1023c
#   route1: derive/derivations/route1.deriv 8dffe01457b0a027
#   route2: derive/derivations/route2.deriv 0bbf245e8b497602
#   shift_invariance: derive/derivations/shift_invariance.deriv c16579c5a22918e9
#   softmax_vjp: derive/derivations/softmax_vjp.deriv efb46e4c55e1dc22
#   sum_split_at_label: derive/derivations/sum_split_at_label.deriv 9cc0d48553bf6eb8
# Every kernel below is lowered from an expression the derive checker proved for symbolic K.
# Regenerate with `derive codegen`; `derive codegen --check` tells when this file is stale.
r"""Softmax, log-softmax, their derivatives and cross-entropy, generated from proved derivations.

All functions work along ``axis`` (the class axis, last by default) of an array
with any leading batch shape.  softmax, log_softmax, softmax_vjp and
cross_entropy_grad take ``out=`` (an array of the result's shape and dtype) to
write into instead of allocating.  float32 in gives float32 out, float64 gives
float64 (other real numbers are computed as float64); the work is done in
float64 in blocks of rows, and results are rounded once at the end.

Non-finite input, for every function:

* ``-inf`` masks a class: probability 0, log-probability ``-inf``, gradient
  entry y_j - t_j = -t_j; the cross-entropy is ``+inf`` when the label (or a
  soft target with positive weight) is on a masked class, finite otherwise;
* a row whose logits are all ``-inf``, or that holds ``+inf`` or NaN, has no
  softmax: every result of that row is NaN (the scalar cross-entropy too);
* other rows are not affected.  No finite input overflows or produces NaN.
"""

import math

import numpy as np

_BLOCK = 1 << 15  # elements per row block: the block's buffers stay in cache
_MAX = np.finfo(np.float64).max
_FEW = 16  # row counts below which checks run on Python floats
_FEW_TERMS = 64  # block sizes up to which _row_sums adds Python floats
_SCALAR_SIGMA = 1 << 12  # block sizes from which _row_sums tries one split point for all rows


def _diagonal(matrices):
    """A writeable view of the diagonals of a C-contiguous (rows, K, K) array, shape (rows, K)."""
    rows, size = matrices.shape[0], matrices.shape[-1]
    return matrices.reshape(rows, size * size)[:, :: size + 1]  # not -1: a batch of 0 rows has no size to infer


def _dtype_of(name, a):
    kind = a.dtype.kind
    if kind == "f" and a.dtype.itemsize <= 4:
        return np.dtype(np.float32)
    if kind == "f" and a.dtype.itemsize == 8:
        return np.dtype(np.float64)
    if kind in "iu":
        return np.dtype(np.float64)
    raise TypeError(f"{name} must hold real numbers (float32 or float64); got dtype {a.dtype}")


def _rows(name, a, axis):
    r"""(rows, K) float64-ready view of `a` with the class axis last, its output dtype, and how to undo it."""
    a = np.asarray(a)
    if a.dtype.kind == "b" or a.dtype.kind not in "fiu":
        raise TypeError(f"{name} must hold real numbers (float32 or float64); got dtype {a.dtype}")
    dtype = _dtype_of(name, a)
    if a.ndim == 0:
        raise ValueError(f"{name} must have a class axis; got a scalar")
    _check_axis(axis)
    if not -a.ndim <= axis < a.ndim:
        raise ValueError(f"axis {axis} is out of range for {name} with shape {a.shape}")
    moved = a if axis in (-1, a.ndim - 1) else np.moveaxis(a, axis, -1)
    if moved.shape[-1] == 0:
        raise ValueError(f"the class axis of {name} is empty: shape {a.shape}, axis {axis}")
    batch = moved.shape[:-1]
    flat = np.ascontiguousarray(moved, dtype=dtype).reshape(-1, moved.shape[-1])
    return flat, dtype, batch


def _check_axis(axis):
    """axis is an integer (a Python or NumPy int, not a bool or a float that happens to be whole)."""
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"axis must be an integer (the class axis, e.g. -1); got {type(axis).__name__} {axis!r}")


def _restore(flat, batch, axis, ndim):
    shaped = flat.reshape(batch + flat.shape[-1:])
    return shaped if axis in (-1, ndim - 1) else np.moveaxis(shaped, -1, axis if axis >= 0 else ndim + axis)


def _output(out, shape, dtype, batch, axis, ndim, *inputs):
    """(rows, K) array to compute into, and how to finish: into `out` itself when it is a
    C-contiguous array of the right shape and dtype with the class axis last and shares no
    memory with an input (kernels may use `out` as scratch), else into a new array."""
    if out is None:
        flat = np.empty(shape, dtype)
        return flat, lambda: _restore(flat, batch, axis, ndim)
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a NumPy array; got {type(out).__name__}")
    if not out.flags.writeable:
        raise ValueError("out is read-only; pass a writeable array (or no out)")
    expected = _restore(np.empty(shape, dtype), batch, axis, ndim).shape
    if out.shape != expected or out.dtype != dtype:
        raise ValueError(f"out must have shape {expected} and dtype {dtype}; got shape {out.shape}, dtype {out.dtype}")
    if axis in (-1, ndim - 1) and out.flags.c_contiguous \
            and not any(np.may_share_memory(out, a) for a in inputs):
        return out.reshape(shape), lambda: out
    flat = np.empty(shape, dtype)

    def finish():
        np.copyto(out, _restore(flat, batch, axis, ndim))
        return out

    return flat, finish


def _like(name, a, other_name, shape, axis):
    flat, _, batch = _rows(name, a, axis)
    if batch + flat.shape[-1:] != shape:
        raise ValueError(f"{name} must have the shape of {other_name} (class axis last: {shape}); "
                         f"got {batch + flat.shape[-1:]}")
    return flat


def _work(block):
    """float64 working copy (the shifted kernels carry remainders that need it)."""
    return block if block.dtype == np.float64 else block.astype(np.float64)


def _blocks(n, size):
    if n * size <= _BLOCK:  # one block: the common small case, without building a list
        return ((0, n),)
    step = max(1, _BLOCK // size)
    return [(lo, min(n, lo + step)) for lo in range(0, n, step)]


def _row_sums(v, out, scratch, faithful=True):
    r"""Row sums of the nonnegative (rows, K) block v into out, faithfully rounded (error < 1 ulp).

    A plain pairwise sum of K terms is off by up to several ulp, and every entry
    of softmax is divided by it: that alone breaks a 4-ulp bound.  Instead each
    term is split at a power of two sigma above the row sum (Rump, Ogita and
    Oishi's ExtractVector): hi = (v + sigma) - sigma is v rounded to a multiple
    of ulp(sigma), and lo = v - hi is exact.  The hi parts add up exactly in any
    order, the lo parts are below ulp(sigma) each, so their own rounding errors
    are negligible, and out = sum(hi) + sum(lo) is rounded once.
    One sigma for the whole block (cheaper scalar passes) when the row sums are
    within 2^20 of each other (and the block is large enough for that to pay);
    else one per row.  faithful=False: the plain float64 sum only (for float32
    results, where its error is far below an ulp).  NaN and inf stay in their rows;
    a row whose sum is within a factor 4 of overflow gives NaN (the unshifted
    kernels redo such rows shifted, where sums are at most K).
    """
    if faithful and v.size <= _FEW_TERMS:
        return _row_sums_compensated(v, out)
    _sum_along_rows(v, out)  # estimate: gives sigma
    if not faithful or v.shape[1] <= 2:  # a single addition is already correctly rounded
        return out
    top, low = (out.max(), out.min()) if v.size >= _SCALAR_SIGMA else (1.0, 0.0)
    if 0.0 < low and top <= low * 2.0 ** 20 and top <= _MAX / 4:  # NaN fails every comparison
        sigma = 2.0 ** (int(np.frexp(top)[1]) + 1)  # a power of two > 2 * every estimate
    else:  # one per row; inf (overflow) or NaN in the bad rows, which stays there
        sigma = np.ldexp(1.0, np.frexp(out)[1] + 1)
    np.add(v, sigma, out=scratch)
    np.subtract(scratch, sigma, out=scratch)  # hi
    _sum_along_rows(scratch, out)  # exact, in any order
    np.subtract(v, scratch, out=scratch)  # lo, exact
    out += _sum_along_rows(scratch, np.empty_like(out))
    return out


def _sum_along_rows(v, out):
    """Row sums of v into the (rows, 1) out.  For a block of several rows, a product
    with a ones vector: BLAS's matrix-vector kernel is 1.7x (long rows) to 7x (short
    rows) cheaper than np.add.reduce along the last axis, and accurate enough for
    what this is used for (an estimate, sums that are exact in any order, sums whose
    error is negligible).  A single long row would be a dot product, which OpenBLAS
    splits over threads that then slow down every later pass: np.add.reduce there."""
    if v.shape[0] > 1 and v.size <= _BLOCK:
        np.matmul(v, _ones(v.shape[1]), out=out[:, 0])  # a view even when out is strided
        return out
    return np.add.reduce(v, axis=-1, keepdims=True, out=out)


#: the read-only ones vector of the last size asked for (every block of a call has the same K)
_LAST_ONES = {"vector": np.ones(0)}


def _ones(size):
    """A read-only ones vector of this size, kept from the last call."""
    if _LAST_ONES["vector"].size != size:
        ones = np.ones(size)
        ones.flags.writeable = False
        _LAST_ONES["vector"] = ones
    return _LAST_ONES["vector"]


def _row_sums_compensated(v, out):
    r"""_row_sums for a handful of terms, on Python floats (a dozen array calls would cost more).

    Each addition's exact rounding error is recovered (TwoSum) and added back at
    the end (Ogita, Rump and Oishi's Sum2): as accurate as summing in twice the
    precision, then rounding once.
    """
    sums = []
    for row in v.tolist():
        total = error = 0.0
        for term in row:
            new = total + term
            back = new - total
            error += (total - (new - back)) + (term - back)
            total = new
        sums.append(total + error)
    out[:, 0] = sums
    return out


def _needs_shift(total):
    r"""Rows where the unshifted partition sum overflowed, is below 1 (underflow risk) or is NaN."""
    if total.shape[0] <= _FEW:  # a few rows: plain floats are cheaper than array calls
        bad = [n for n, value in enumerate(total[:, 0].tolist()) if not 1.0 <= value <= _MAX]
        return np.array(bad, dtype=np.intp) if bad else None
    if 1.0 <= total.min() and total.max() <= _MAX:  # NaN fails both comparisons
        return None
    return np.flatnonzero(~((total >= 1.0) & (total <= _MAX))[:, 0])


def _labels(target, batch, size):
    """Integer class labels of the batch shape, checked in their own dtype before any cast
    (a uint64 2**64 - 1 must be reported as itself, not wrapped to -1)."""
    labels = np.asarray(target)
    if labels.shape != batch:
        raise ValueError(f"labels must have the batch shape {batch} (one class index per row); got {labels.shape}")
    flat = labels.reshape(-1)
    if flat.size <= _FEW:
        if all(0 <= value < size for value in flat.tolist()):
            return flat.astype(np.int64)
    elif flat.min() >= 0 and flat.max() < size:
        return flat.astype(np.int64, copy=False)
    bad = np.flatnonzero((flat < 0) | (flat >= size))
    where = tuple(int(n) for n in np.unravel_index(bad[0], batch)) if batch else ()
    raise ValueError(f"labels must lie in 0..{size - 1} (K = {size}); label {flat[bad[0]].item()} at {where}")


def _targets(target, z_flat, batch, axis):
    t = _like("target", target, "z", batch + z_flat.shape[-1:], axis)
    given = np.asarray(target).dtype
    t = t.astype(np.float64, copy=False)
    sums = t.sum(axis=-1)
    # each of K targets carries its own rounding: the tolerance follows the precision they were given in
    eps = np.finfo(given).eps if given.kind == "f" else 0.0
    tolerance = max(8 * eps, 1e-12) * max(1, z_flat.shape[-1])
    bad = np.flatnonzero(~(np.abs(sums - 1.0) <= tolerance))
    if bad.size:
        raise ValueError(f"soft targets must sum to 1 along the class axis (the gradient y - t is proved under "
                         f"sum_k t_k = 1, nothing more); row {int(bad[0])} sums to {float(sums[bad[0]])!r}")
    return t


def _is_labels(target, batch):
    a = np.asarray(target)
    if a.dtype.kind in "iu":
        return True
    if a.dtype.kind == "b" or a.dtype.kind not in "f":
        raise TypeError(f"target must be integer class labels or float soft targets; got dtype {a.dtype}")
    if a.shape == batch and a.ndim < len(batch) + 1:
        raise TypeError(f"target has the batch shape {batch} but dtype {a.dtype}: class labels must be integers "
                        "(soft targets have the shape of z)")
    return False

def _two_sum_remainder(a, b, difference, remainder, scratch):
    """The exact remainder of difference = fl(a - b): difference + remainder == a - b exactly (Knuth's TwoSum).

    a is a (rows, K) block and b a (rows, 1) column; remainder receives the result, scratch is
    overwritten.  Where a logit is infinite there is no remainder (0 instead of NaN).
    """
    np.subtract(difference, a, out=scratch)
    np.subtract(difference, scratch, out=remainder)
    np.subtract(a, remainder, out=remainder)
    np.add(scratch, b, out=scratch)
    np.subtract(remainder, scratch, out=remainder)
    np.copyto(remainder, 0.0, where=np.isnan(remainder))
    return remainder


def _exp_with_remainder(difference, remainder, out, scratch):
    """e^(difference + remainder) as e^difference (1 + remainder): e^r = 1 + r to double precision for |r| <= ulp."""
    np.exp(difference, out=out)
    np.multiply(out, remainder, out=scratch)
    np.add(out, scratch, out=out)
    return out


def _unshifted_where_safe(unshifted, shifted, block, out, *per_row):
    """Run the unshifted kernel on a block; rows whose partition sum is unsafe are redone shifted."""
    total = unshifted(block, *per_row, out)
    redo = _needs_shift(total)
    if redo is not None:
        rows = block[redo]
        fixed = np.empty((redo.size,) + out.shape[1:], out.dtype)
        shifted(rows, *(a[redo] for a in per_row), fixed)
        # a row holding NaN or +inf, or all -inf, has no softmax: NaN in the whole row, for every function
        fixed[~np.isfinite(rows.max(axis=-1))] = np.nan
        out[redo] = fixed


def _zero_weight_on_masked_classes(z, t, out, log_softmax):
    """Rows where a target of weight 0 sits on a masked class (z_k = -inf): 0 (m - z_k) is 0 * inf = NaN in
    the kernel, but such a term contributes nothing (0 ln 0 = 0).  Those rare rows are redone as
    -sum over t_k != 0 of t_k ln y_k; a positive weight on a masked class still gives +inf."""
    nan = np.isnan(out[:, 0])
    if not nan.any():
        return
    rows = np.flatnonzero(nan & np.isfinite(z.max(axis=-1)))
    if rows.size:
        logs = log_softmax(z[rows])
        weights = t[rows]
        terms = np.multiply(weights, logs, out=np.zeros_like(logs), where=weights != 0)
        out[rows, 0] = -terms.sum(axis=-1)



# --- tiny inputs: the same algorithm on Python floats (the kernels named *_py) ---------------------------
#: inputs of at most this many entries take the Python-float kernels: below it a dozen ufunc calls cost
#: more than the arithmetic.  Measured crossovers (2-core Zen 4): log-softmax, cross-entropy and its label
#: gradient about 50-60 entries; softmax, whose array path is the cheapest, about 15.
_TINY = 48
_TINY_SOFTMAX = 16


def _py_row_max(row):
    """(m, mu, usable) of a row of floats: its maximum, the first index holding it, and whether the row has
    a softmax (no NaN, no +inf, not every entry -inf: a NaN or +inf makes the plain sum NaN or inf)."""
    m = max(row)
    total = sum(row)
    if total != total or not -math.inf < m < math.inf:
        return m, 0, False
    return m, row.index(m), True


def _py_exp_shifted(zk, m):
    """e^(z_k - m) with the rounding of z_k - m carried (TwoSum), as e^d + e^d r; -inf gives 0."""
    d = zk - m
    back = d - zk
    remainder = (zk - (d - back)) - (m + back)
    e = math.exp(d)
    return e if remainder != remainder else e + e * remainder


def _py_exp_shifted_row(row, m):
    """[e^(z_k - m) for z_k in row], each as _py_exp_shifted computes it (one call per row, not per entry:
    a Python call costs as much as the arithmetic it would wrap)."""
    exp = math.exp
    terms = []
    for zk in row:
        d = zk - m
        back = d - zk
        remainder = (zk - (d - back)) - (m + back)
        e = exp(d)
        terms.append(e if remainder != remainder else e + e * remainder)
    return terms


def _py_sum_faithful(terms, skip):
    """The correctly rounded sum of terms (all but index skip; -1: all): math.fsum."""
    if skip >= 0:
        terms = terms[:skip] + terms[skip + 1:]
    return math.fsum(terms)


_py_sum_compensated = _py_sum_faithful

__all__ = ["softmax", "log_softmax", "softmax_jacobian", "softmax_vjp", "cross_entropy", "cross_entropy_grad"]


# ---------------------------------------------------------------------------
# kernels: each lowered from a proved expression (see its docstring)


def _softmax_unshifted(z, out):
    r"""y[k] = exp(z[k])/Sum(exp(z[i]), (i, 1, K))

    Lowered from derive/derivations/shift_invariance.deriv, step 2 (line 10): y[k] = exp(-c + z[k])/Sum(exp(-c + z[i]), (i, 1, K)), with c = 0
    Checker: proved, assumptions used: none
    """
    exp_z = out if out.dtype == np.float64 else np.empty(z.shape)  # written last, read before
    partition = np.empty((z.shape[0], 1))
    scratch = np.empty(z.shape)
    np.exp(z, out=exp_z)
    _row_sums(exp_z, partition, scratch, faithful=out.dtype == np.float64)  # Sum(exp(z[_i1]), (_i1, 1, K))
    if out.dtype == np.float32:
        np.multiply(exp_z, 1.0 / partition, out=exp_z)
        np.copyto(out, exp_z, casting='same_kind')
    else:
        np.divide(exp_z, partition, out=out)
    return partition


def _softmax_shifted(z, out):
    r"""y[k] = exp(-m + z[k])/Sum(exp(-m + z[i]), (i, 1, K))

    Lowered from derive/derivations/shift_invariance.deriv, step 2 (line 10): y[k] = exp(-c + z[k])/Sum(exp(-c + z[i]), (i, 1, K)), with c = m
    Checker: proved, assumptions used: none
    """
    mu_flat = np.argmax(z, axis=-1) + np.arange(z.shape[0]) * z.shape[1]  # z_mu = max_k z_k
    m = z.reshape(-1)[mu_flat].reshape(-1, 1)  # m = z_mu
    shifted = np.empty(z.shape)
    remainder = np.empty(z.shape)
    scratch = np.empty(z.shape)
    exp_shifted = out if out.dtype == np.float64 else np.empty(z.shape)  # written last, read before
    partition = np.empty((z.shape[0], 1))
    np.subtract(z, m, out=shifted)
    _two_sum_remainder(z, m, shifted, remainder, scratch)  # shifted + remainder == z - m exactly
    _exp_with_remainder(shifted, remainder, exp_shifted, scratch)  # exp(-m + z[k])
    scratch_2 = shifted
    _row_sums(exp_shifted, partition, scratch_2, faithful=out.dtype == np.float64)  # Sum(exp(-m + z[_i1]), (_i1, 1, K))
    if out.dtype == np.float32:
        np.multiply(exp_shifted, 1.0 / partition, out=exp_shifted)
        np.copyto(out, exp_shifted, casting='same_kind')
    else:
        np.divide(exp_shifted, partition, out=out)


def _log_softmax_unshifted(z, out):
    r"""log(y[k]) = -m - log(1 + exp(-z[mu])*Sum((1 - KroneckerDelta(i, mu))*exp(z[i]), (i, 1, K))) + z[k]

    Lowered from derive/derivations/log_softmax.deriv, step 3 (line 11): log(y[k]) = -m - log(Sum(exp(-m + z[i]), (i, 1, K))) + z[k]
    Lowered from derive/derivations/log1p_partition_unshifted.deriv, step 1 (line 9): log(Sum(exp(-m + z[i]), (i, 1, K))) = log(1 + exp(-z[mu])*Sum((1 - KroneckerDelta(i, mu))*exp(z[i]), (i, 1, K)))
    Lowered from derive/derivations/sum_split_at_label.deriv, step 1 (line 9): Sum(exp(-c + z[i]), (i, 1, K)) = exp(-c + z[gamma]) + Sum((1 - KroneckerDelta(gamma, i))*exp(-c + z[i]), (i, 1, K)), at mu, c = 0
    Checker: proved, assumptions used: max_at_mu
    """
    mu_flat = np.argmax(z, axis=-1) + np.arange(z.shape[0]) * z.shape[1]  # z_mu = max_k z_k
    m = z.reshape(-1)[mu_flat].reshape(-1, 1)  # m = z_mu
    exp_z = np.empty(z.shape)
    partition_rest = np.empty((z.shape[0], 1))
    scratch = out if out.dtype == np.float64 else np.empty(z.shape)  # written last, read before
    exp_z_at_mu = np.empty((z.shape[0], 1))
    z_at_mu = np.empty((z.shape[0], 1))
    np.exp(z, out=exp_z)
    # Sum((1 - KroneckerDelta(_i1, mu))*exp(z[_i1]), (_i1, 1, K)): the sum without the mu entry, not sum - entry (no cancellation)
    exp_z_at_mu[:, 0] = exp_z.reshape(-1)[mu_flat]
    exp_z.reshape(-1)[mu_flat] = 0.0
    _row_sums(exp_z, partition_rest, scratch, faithful=out.dtype == np.float64)
    exp_z.reshape(-1)[mu_flat] = exp_z_at_mu[:, 0]
    partition = exp_z_at_mu
    np.add(partition_rest, exp_z_at_mu, out=partition)
    shifted = scratch
    np.subtract(z, m, out=shifted)
    z_at_mu[:, 0] = z.reshape(-1)[mu_flat]  # z[mu]
    minus_z_at_mu = z_at_mu
    np.negative(z_at_mu, out=minus_z_at_mu)
    exp_minus_z_at_mu = minus_z_at_mu
    np.exp(minus_z_at_mu, out=exp_minus_z_at_mu)
    product = partition_rest
    np.multiply(partition_rest, exp_minus_z_at_mu, out=product)
    log1p_product = product
    np.log1p(product, out=log1p_product)
    np.subtract(shifted, log1p_product, out=out)
    return partition


def _log_softmax(z, out):
    r"""log(y[k]) = -m - log(Sum((1 - KroneckerDelta(i, mu))*exp(-m + z[i]), (i, 1, K)) + 1) + z[k]

    Lowered from derive/derivations/log_softmax.deriv, step 3 (line 11): log(y[k]) = -m - log(Sum(exp(-m + z[i]), (i, 1, K))) + z[k]
    Lowered from derive/derivations/log1p_partition.deriv, step 1 (line 9): log(Sum(exp(-m + z[i]), (i, 1, K))) = log(Sum((1 - KroneckerDelta(i, mu))*exp(-m + z[i]), (i, 1, K)) + 1)
    Checker: proved, assumptions used: max_at_mu
    """
    mu_flat = np.argmax(z, axis=-1) + np.arange(z.shape[0]) * z.shape[1]  # z_mu = max_k z_k
    m = z.reshape(-1)[mu_flat].reshape(-1, 1)  # m = z_mu
    shifted = out if out.dtype == np.float64 else np.empty(z.shape)  # written last, read before
    remainder = np.empty(z.shape)
    scratch = np.empty(z.shape)
    exp_shifted = np.empty(z.shape)
    partition_rest = np.empty((z.shape[0], 1))
    exp_shifted_at_mu = np.empty((z.shape[0], 1))
    np.subtract(z, m, out=shifted)
    _two_sum_remainder(z, m, shifted, remainder, scratch)  # shifted + remainder == z - m exactly
    _exp_with_remainder(shifted, remainder, exp_shifted, scratch)  # exp(-m + z[k])
    scratch_2 = remainder
    # Sum((1 - KroneckerDelta(_i1, mu))*exp(-m + z[_i1]), (_i1, 1, K)): the sum without the mu entry, not sum - entry (no cancellation)
    exp_shifted_at_mu[:, 0] = exp_shifted.reshape(-1)[mu_flat]
    exp_shifted.reshape(-1)[mu_flat] = 0.0
    _row_sums(exp_shifted, partition_rest, scratch_2, faithful=out.dtype == np.float64)
    log1p_partition_rest = partition_rest
    np.log1p(partition_rest, out=log1p_partition_rest)
    np.subtract(shifted, log1p_partition_rest, out=out)


def _cross_entropy_soft_unshifted(z, t, out):
    r"""E = Sum((m + log(1 + exp(-z[mu])*Sum((1 - KroneckerDelta(i, mu))*exp(z[i]), (i, 1, K))) - z[k])*t[k], (k, 1, K))

    Lowered from derive/derivations/cross_entropy_soft.deriv, step 3 (line 11): E = Sum((m + log(Sum(exp(-m + z[i]), (i, 1, K))) - z[k])*t[k], (k, 1, K))
    Lowered from derive/derivations/log1p_partition_unshifted.deriv, step 1 (line 9): log(Sum(exp(-m + z[i]), (i, 1, K))) = log(1 + exp(-z[mu])*Sum((1 - KroneckerDelta(i, mu))*exp(z[i]), (i, 1, K)))
    Checker: proved, assumptions used: max_at_mu
    """
    mu_flat = np.argmax(z, axis=-1) + np.arange(z.shape[0]) * z.shape[1]  # z_mu = max_k z_k
    m = z.reshape(-1)[mu_flat].reshape(-1, 1)  # m = z_mu
    exp_z = np.empty(z.shape)
    partition_rest = np.empty((z.shape[0], 1))
    scratch = np.empty(z.shape)
    exp_z_at_mu = np.empty((z.shape[0], 1))
    z_at_mu = np.empty((z.shape[0], 1))
    np.exp(z, out=exp_z)
    # Sum((1 - KroneckerDelta(_i1, mu))*exp(z[_i1]), (_i1, 1, K)): the sum without the mu entry, not sum - entry (no cancellation)
    exp_z_at_mu[:, 0] = exp_z.reshape(-1)[mu_flat]
    exp_z.reshape(-1)[mu_flat] = 0.0
    _row_sums(exp_z, partition_rest, scratch, faithful=out.dtype == np.float64)
    exp_z.reshape(-1)[mu_flat] = exp_z_at_mu[:, 0]
    partition = exp_z_at_mu
    np.add(partition_rest, exp_z_at_mu, out=partition)
    minus_shifted = scratch
    np.subtract(m, z, out=minus_shifted)
    z_at_mu[:, 0] = z.reshape(-1)[mu_flat]  # z[mu]
    minus_z_at_mu = z_at_mu
    np.negative(z_at_mu, out=minus_z_at_mu)
    exp_minus_z_at_mu = minus_z_at_mu
    np.exp(minus_z_at_mu, out=exp_minus_z_at_mu)
    product = partition_rest
    np.multiply(partition_rest, exp_minus_z_at_mu, out=product)
    log1p_product = product
    np.log1p(product, out=log1p_product)
    terms = minus_shifted
    np.add(minus_shifted, log1p_product, out=terms)
    product_2 = terms
    np.multiply(terms, t, out=product_2)
    np.add.reduce(product_2, axis=-1, keepdims=True, out=out)  # Sum((m + log(1 + exp(-z[mu])*Sum((1 - KroneckerDelta(_i1, mu))*exp(z[_i1]), (_i1, 1, K))) - z[_i2])*t[_i2], (_i2, 1, K))
    return partition


def _cross_entropy_soft(z, t, out):
    r"""E = Sum((m + log(Sum((1 - KroneckerDelta(i, mu))*exp(-m + z[i]), (i, 1, K)) + 1) - z[k])*t[k], (k, 1, K))

    Lowered from derive/derivations/cross_entropy_soft.deriv, step 3 (line 11): E = Sum((m + log(Sum(exp(-m + z[i]), (i, 1, K))) - z[k])*t[k], (k, 1, K))
    Lowered from derive/derivations/log1p_partition.deriv, step 1 (line 9): log(Sum(exp(-m + z[i]), (i, 1, K))) = log(Sum((1 - KroneckerDelta(i, mu))*exp(-m + z[i]), (i, 1, K)) + 1)
    Checker: proved, assumptions used: max_at_mu
    """
    mu_flat = np.argmax(z, axis=-1) + np.arange(z.shape[0]) * z.shape[1]  # z_mu = max_k z_k
    m = z.reshape(-1)[mu_flat].reshape(-1, 1)  # m = z_mu
    minus_shifted = np.empty(z.shape)
    shifted = np.empty(z.shape)
    remainder = np.empty(z.shape)
    scratch = np.empty(z.shape)
    partition_rest = np.empty((z.shape[0], 1))
    exp_shifted_at_mu = np.empty((z.shape[0], 1))
    np.subtract(m, z, out=minus_shifted)
    np.subtract(z, m, out=shifted)
    _two_sum_remainder(z, m, shifted, remainder, scratch)  # shifted + remainder == z - m exactly
    exp_shifted = shifted
    _exp_with_remainder(shifted, remainder, exp_shifted, scratch)  # exp(-m + z[k])
    scratch_2 = remainder
    # Sum((1 - KroneckerDelta(_i1, mu))*exp(-m + z[_i1]), (_i1, 1, K)): the sum without the mu entry, not sum - entry (no cancellation)
    exp_shifted_at_mu[:, 0] = exp_shifted.reshape(-1)[mu_flat]
    exp_shifted.reshape(-1)[mu_flat] = 0.0
    _row_sums(exp_shifted, partition_rest, scratch_2, faithful=out.dtype == np.float64)
    log1p_partition_rest = partition_rest
    np.log1p(partition_rest, out=log1p_partition_rest)
    terms = minus_shifted
    np.add(minus_shifted, log1p_partition_rest, out=terms)
    product = terms
    np.multiply(terms, t, out=product)
    np.add.reduce(product, axis=-1, keepdims=True, out=out)  # Sum((m + log(Sum((1 - KroneckerDelta(_i1, mu))*exp(-m + z[_i1]), (_i1, 1, K)) + 1) - z[_i2])*t[_i2], (_i2, 1, K))


def _cross_entropy_label_unshifted(z, gamma, out):
    r"""E = m + log(1 + exp(-z[mu])*Sum((1 - KroneckerDelta(i, mu))*exp(z[i]), (i, 1, K))) - z[gamma]

    Lowered from derive/derivations/cross_entropy_label.deriv, step 2 (line 10): E = m + log(Sum(exp(-m + z[i]), (i, 1, K))) - z[gamma]
    Lowered from derive/derivations/log1p_partition_unshifted.deriv, step 1 (line 9): log(Sum(exp(-m + z[i]), (i, 1, K))) = log(1 + exp(-z[mu])*Sum((1 - KroneckerDelta(i, mu))*exp(z[i]), (i, 1, K)))
    Checker: proved, assumptions used: one_hot, max_at_mu
    """
    gamma_flat = gamma + np.arange(z.shape[0]) * z.shape[1]
    mu_flat = np.argmax(z, axis=-1) + np.arange(z.shape[0]) * z.shape[1]  # z_mu = max_k z_k
    m = z.reshape(-1)[mu_flat].reshape(-1, 1)  # m = z_mu
    exp_z = np.empty(z.shape)
    partition_rest = np.empty((z.shape[0], 1))
    scratch = np.empty(z.shape)
    exp_z_at_mu = np.empty((z.shape[0], 1))
    z_at_gamma = np.empty((z.shape[0], 1))
    z_at_mu = np.empty((z.shape[0], 1))
    np.exp(z, out=exp_z)
    # Sum((1 - KroneckerDelta(_i1, mu))*exp(z[_i1]), (_i1, 1, K)): the sum without the mu entry, not sum - entry (no cancellation)
    exp_z_at_mu[:, 0] = exp_z.reshape(-1)[mu_flat]
    exp_z.reshape(-1)[mu_flat] = 0.0
    _row_sums(exp_z, partition_rest, scratch, faithful=out.dtype == np.float64)
    exp_z.reshape(-1)[mu_flat] = exp_z_at_mu[:, 0]
    partition = exp_z_at_mu
    np.add(partition_rest, exp_z_at_mu, out=partition)
    z_at_gamma[:, 0] = z.reshape(-1)[gamma_flat]  # z[gamma]
    minus_shifted_at_gamma = z_at_gamma
    np.subtract(m, z_at_gamma, out=minus_shifted_at_gamma)
    z_at_mu[:, 0] = z.reshape(-1)[mu_flat]  # z[mu]
    minus_z_at_mu = z_at_mu
    np.negative(z_at_mu, out=minus_z_at_mu)
    exp_minus_z_at_mu = minus_z_at_mu
    np.exp(minus_z_at_mu, out=exp_minus_z_at_mu)
    product = partition_rest
    np.multiply(partition_rest, exp_minus_z_at_mu, out=product)
    log1p_product = product
    np.log1p(product, out=log1p_product)
    np.add(minus_shifted_at_gamma, log1p_product, out=out)
    return partition


def _cross_entropy_label(z, gamma, out):
    r"""E = m + log(Sum((1 - KroneckerDelta(i, mu))*exp(-m + z[i]), (i, 1, K)) + 1) - z[gamma]

    Lowered from derive/derivations/cross_entropy_label.deriv, step 2 (line 10): E = m + log(Sum(exp(-m + z[i]), (i, 1, K))) - z[gamma]
    Lowered from derive/derivations/log1p_partition.deriv, step 1 (line 9): log(Sum(exp(-m + z[i]), (i, 1, K))) = log(Sum((1 - KroneckerDelta(i, mu))*exp(-m + z[i]), (i, 1, K)) + 1)
    Checker: proved, assumptions used: one_hot, max_at_mu
    """
    gamma_flat = gamma + np.arange(z.shape[0]) * z.shape[1]
    mu_flat = np.argmax(z, axis=-1) + np.arange(z.shape[0]) * z.shape[1]  # z_mu = max_k z_k
    m = z.reshape(-1)[mu_flat].reshape(-1, 1)  # m = z_mu
    z_at_gamma = np.empty((z.shape[0], 1))
    shifted = np.empty(z.shape)
    remainder = np.empty(z.shape)
    scratch = np.empty(z.shape)
    partition_rest = np.empty((z.shape[0], 1))
    exp_shifted_at_mu = np.empty((z.shape[0], 1))
    z_at_gamma[:, 0] = z.reshape(-1)[gamma_flat]  # z[gamma]
    minus_shifted_at_gamma = z_at_gamma
    np.subtract(m, z_at_gamma, out=minus_shifted_at_gamma)
    np.subtract(z, m, out=shifted)
    _two_sum_remainder(z, m, shifted, remainder, scratch)  # shifted + remainder == z - m exactly
    exp_shifted = shifted
    _exp_with_remainder(shifted, remainder, exp_shifted, scratch)  # exp(-m + z[k])
    scratch_2 = remainder
    # Sum((1 - KroneckerDelta(_i1, mu))*exp(-m + z[_i1]), (_i1, 1, K)): the sum without the mu entry, not sum - entry (no cancellation)
    exp_shifted_at_mu[:, 0] = exp_shifted.reshape(-1)[mu_flat]
    exp_shifted.reshape(-1)[mu_flat] = 0.0
    _row_sums(exp_shifted, partition_rest, scratch_2, faithful=out.dtype == np.float64)
    log1p_partition_rest = partition_rest
    np.log1p(partition_rest, out=log1p_partition_rest)
    np.add(minus_shifted_at_gamma, log1p_partition_rest, out=out)


def _gradient_label_unshifted(z, gamma, out):
    r"""Derivative(E, z[k]) = exp(z[k])/(exp(z[gamma]) + Sum((1 - KroneckerDelta(gamma, i))*exp(z[i]), (i, 1, K))); at the label: -Sum((1 - KroneckerDelta(gamma, k))*exp(z[k]), (k, 1, K))/(exp(z[gamma]) + Sum((1 - KroneckerDelta(gamma, i))*exp(z[i]), (i, 1, K)))

    Lowered from derive/derivations/gradient_label.deriv, step 3 (line 11): Derivative(E, z[j]) = -KroneckerDelta(gamma, j) + y[j]
    Lowered from derive/derivations/sum_split_at_label.deriv, step 1 (line 9): Sum(exp(-c + z[i]), (i, 1, K)) = exp(-c + z[gamma]) + Sum((1 - KroneckerDelta(gamma, i))*exp(-c + z[i]), (i, 1, K)), with c = 0
    Checker: proved, assumptions used: one_hot
    """
    gamma_flat = gamma + np.arange(z.shape[0]) * z.shape[1]
    exp_z = out if out.dtype == np.float64 else np.empty(z.shape)  # written last, read before
    partition_rest = np.empty((z.shape[0], 1))
    scratch = np.empty(z.shape)
    exp_z_at_gamma = np.empty((z.shape[0], 1))
    partition = np.empty((z.shape[0], 1))
    ratio = np.empty((z.shape[0], 1))
    np.exp(z, out=exp_z)
    # Sum((1 - KroneckerDelta(_i1, gamma))*exp(z[_i1]), (_i1, 1, K)): the sum without the gamma entry, not sum - entry (no cancellation)
    exp_z_at_gamma[:, 0] = exp_z.reshape(-1)[gamma_flat]
    exp_z.reshape(-1)[gamma_flat] = 0.0
    _row_sums(exp_z, partition_rest, scratch, faithful=out.dtype == np.float64)
    exp_z.reshape(-1)[gamma_flat] = exp_z_at_gamma[:, 0]
    np.add(partition_rest, exp_z_at_gamma, out=partition)
    np.divide(partition_rest, partition, out=ratio)
    minus_ratio = ratio
    np.negative(ratio, out=minus_ratio)
    if out.dtype == np.float32:
        np.multiply(exp_z, 1.0 / partition, out=exp_z)
        np.copyto(out, exp_z, casting='same_kind')
    else:
        np.divide(exp_z, partition, out=out)
    out.reshape(-1)[gamma_flat] = minus_ratio[:, 0]  # the label entry
    return partition


def _gradient_label_shifted(z, gamma, out):
    r"""Derivative(E, z[k]) = exp(-m + z[k])/(exp(-m + z[gamma]) + Sum((1 - KroneckerDelta(gamma, i))*exp(-m + z[i]), (i, 1, K))); at the label: -Sum((1 - KroneckerDelta(gamma, k))*exp(-m + z[k]), (k, 1, K))/(exp(-m + z[gamma]) + Sum((1 - KroneckerDelta(gamma, i))*exp(-m + z[i]), (i, 1, K)))

    Lowered from derive/derivations/gradient_label.deriv, step 3 (line 11): Derivative(E, z[j]) = -KroneckerDelta(gamma, j) + y[j]
    Lowered from derive/derivations/sum_split_at_label.deriv, step 1 (line 9): Sum(exp(-c + z[i]), (i, 1, K)) = exp(-c + z[gamma]) + Sum((1 - KroneckerDelta(gamma, i))*exp(-c + z[i]), (i, 1, K)), with c = m
    Checker: proved, assumptions used: one_hot
    """
    gamma_flat = gamma + np.arange(z.shape[0]) * z.shape[1]
    mu_flat = np.argmax(z, axis=-1) + np.arange(z.shape[0]) * z.shape[1]  # z_mu = max_k z_k
    m = z.reshape(-1)[mu_flat].reshape(-1, 1)  # m = z_mu
    shifted = np.empty(z.shape)
    remainder = np.empty(z.shape)
    scratch = np.empty(z.shape)
    exp_shifted = out if out.dtype == np.float64 else np.empty(z.shape)  # written last, read before
    partition_rest = np.empty((z.shape[0], 1))
    exp_shifted_at_gamma = np.empty((z.shape[0], 1))
    partition = np.empty((z.shape[0], 1))
    ratio = np.empty((z.shape[0], 1))
    np.subtract(z, m, out=shifted)
    _two_sum_remainder(z, m, shifted, remainder, scratch)  # shifted + remainder == z - m exactly
    _exp_with_remainder(shifted, remainder, exp_shifted, scratch)  # exp(-m + z[k])
    scratch_2 = remainder
    # Sum((1 - KroneckerDelta(_i1, gamma))*exp(-m + z[_i1]), (_i1, 1, K)): the sum without the gamma entry, not sum - entry (no cancellation)
    exp_shifted_at_gamma[:, 0] = exp_shifted.reshape(-1)[gamma_flat]
    exp_shifted.reshape(-1)[gamma_flat] = 0.0
    _row_sums(exp_shifted, partition_rest, scratch_2, faithful=out.dtype == np.float64)
    exp_shifted.reshape(-1)[gamma_flat] = exp_shifted_at_gamma[:, 0]
    np.add(partition_rest, exp_shifted_at_gamma, out=partition)
    np.divide(partition_rest, partition, out=ratio)
    minus_ratio = ratio
    np.negative(ratio, out=minus_ratio)
    if out.dtype == np.float32:
        np.multiply(exp_shifted, 1.0 / partition, out=exp_shifted)
        np.copyto(out, exp_shifted, casting='same_kind')
    else:
        np.divide(exp_shifted, partition, out=out)
    out.reshape(-1)[gamma_flat] = minus_ratio[:, 0]  # the label entry


def _gradient_soft(y, t, out):
    r"""Derivative(E, z[k]) = -t[k] + y[k]

    Lowered from derive/derivations/gradient_soft.deriv, step 1 (line 8): Derivative(E, z[j]) = -t[j] + y[j]
    Lowered from derive/derivations/route1.deriv, step 6 (line 22): Derivative(E, z[j]) = -t[j] + y[j]
    Lowered from derive/derivations/route2.deriv, step 11 (line 27): Derivative(E, z[j]) = -t[j] + y[j]
    Checker: proved, assumptions used: index_range, targets_sum_to_one
    """
    np.subtract(y, t, out=out)


def _softmax_vjp(y, v, out):
    r"""Sum(Derivative(y[i], z[k])*v[i], (i, 1, K)) = (v[k] - Sum(v[i]*y[i], (i, 1, K)))*y[k]

    Lowered from derive/derivations/softmax_vjp.deriv, step 2 (line 9): Sum(Derivative(y[k], z[j])*v[k], (k, 1, K)) = (v[j] - Sum(v[k]*y[k], (k, 1, K)))*y[j]
    Checker: proved, assumptions used: index_range
    """
    product = out if out.dtype == np.float64 else np.empty(y.shape)  # written last, read before
    sum = np.empty((y.shape[0], 1))
    np.multiply(v, y, out=product)
    np.add.reduce(product, axis=-1, keepdims=True, out=sum)  # Sum(v[_i1]*y[_i1], (_i1, 1, K))
    terms = product
    np.subtract(v, sum, out=terms)
    np.multiply(terms, y, out=out)


def _softmax_jacobian(y, out):
    r"""Derivative(y[k], z[j]) = (KroneckerDelta(j, k) - y[j])*y[k]

    Lowered from derive/derivations/jacobian.deriv, step 7 (line 27): Derivative(y[k], z[j]) = (KroneckerDelta(j, k) - y[j])*y[k]
    Checker: proved, assumptions used: index_range
    """
    np.multiply(y[..., :, None], y[..., None, :], out=out)  # -y[j]*y[k] off the diagonal
    np.negative(out, out=out)
    _diagonal(out)[...] = (1.0 - y) * y  # (1 - y[k])*y[k] on it



# ---------------------------------------------------------------------------
# tiny-input kernels: the same proved expressions as loops over Python floats (lists of rows),
# for inputs of at most _TINY entries, where a dozen array calls cost more than the arithmetic


def _softmax_shifted_py(z, out):
    r"""y[k] = exp(-m + z[k])/Sum(exp(-m + z[i]), (i, 1, K))

    Lowered from derive/derivations/shift_invariance.deriv, step 2 (line 10): y[k] = exp(-c + z[k])/Sum(exp(-c + z[i]), (i, 1, K)), with c = m
    Checker: proved, assumptions used: none
    """
    rows, K = len(z), len(z[0])
    for r in range(rows):
        zr = z[r]
        m, mu, usable = _py_row_max(zr)  # m = z_mu = max_k z_k
        if not usable:  # NaN, +inf or no finite logit: the row has no softmax
            out[r] = [math.nan] * K
            continue
        buffer0 = _py_exp_shifted_row(zr, m)  # the terms of exp(-m + z[_i1])
        s0 = _py_sum_faithful(buffer0, -1)  # sum over i
        out[r] = [(buffer0[k] / (s0)) for k in range(K)]


def _log_softmax_py(z, out):
    r"""log(y[k]) = -m - log(Sum((1 - KroneckerDelta(i, mu))*exp(-m + z[i]), (i, 1, K)) + 1) + z[k]

    Lowered from derive/derivations/log_softmax.deriv, step 3 (line 11): log(y[k]) = -m - log(Sum(exp(-m + z[i]), (i, 1, K))) + z[k]
    Lowered from derive/derivations/log1p_partition.deriv, step 1 (line 9): log(Sum(exp(-m + z[i]), (i, 1, K))) = log(Sum((1 - KroneckerDelta(i, mu))*exp(-m + z[i]), (i, 1, K)) + 1)
    Checker: proved, assumptions used: max_at_mu
    """
    rows, K = len(z), len(z[0])
    for r in range(rows):
        zr = z[r]
        m, mu, usable = _py_row_max(zr)  # m = z_mu = max_k z_k
        if not usable:  # NaN, +inf or no finite logit: the row has no softmax
            out[r] = [math.nan] * K
            continue
        buffer0 = _py_exp_shifted_row(zr, m)  # the terms of exp(-m + z[_i1])
        s0 = _py_sum_faithful(buffer0, mu)  # sum over i, skipping i = mu
        h0 = math.log1p(s0)  # log(Sum((1 - KroneckerDelta(_i1, mu))*exp(-m + z[_i1]), (_i1, 1, K)) + 1)
        out[r] = [((zr[k] - (m)) - (h0)) for k in range(K)]


def _cross_entropy_label_py(z, gamma, out):
    r"""E = m + log(Sum((1 - KroneckerDelta(i, mu))*exp(-m + z[i]), (i, 1, K)) + 1) - z[gamma]

    Lowered from derive/derivations/cross_entropy_label.deriv, step 2 (line 10): E = m + log(Sum(exp(-m + z[i]), (i, 1, K))) - z[gamma]
    Lowered from derive/derivations/log1p_partition.deriv, step 1 (line 9): log(Sum(exp(-m + z[i]), (i, 1, K))) = log(Sum((1 - KroneckerDelta(i, mu))*exp(-m + z[i]), (i, 1, K)) + 1)
    Checker: proved, assumptions used: one_hot, max_at_mu
    """
    rows, K = len(z), len(z[0])
    for r in range(rows):
        zr = z[r]
        g = gamma[r]
        m, mu, usable = _py_row_max(zr)  # m = z_mu = max_k z_k
        if not usable:  # NaN, +inf or no finite logit: the row has no softmax
            out[r] = [math.nan] * 1
            continue
        buffer0 = _py_exp_shifted_row(zr, m)  # the terms of exp(-m + z[_i1])
        s0 = _py_sum_faithful(buffer0, mu)  # sum over i, skipping i = mu
        out[r] = [((m - (zr[g])) + math.log1p(s0))]


def _gradient_label_shifted_py(z, gamma, out):
    r"""Derivative(E, z[k]) = exp(-m + z[k])/(exp(-m + z[gamma]) + Sum((1 - KroneckerDelta(gamma, i))*exp(-m + z[i]), (i, 1, K))); at the label: -Sum((1 - KroneckerDelta(gamma, k))*exp(-m + z[k]), (k, 1, K))/(exp(-m + z[gamma]) + Sum((1 - KroneckerDelta(gamma, i))*exp(-m + z[i]), (i, 1, K)))

    Lowered from derive/derivations/gradient_label.deriv, step 3 (line 11): Derivative(E, z[j]) = -KroneckerDelta(gamma, j) + y[j]
    Lowered from derive/derivations/sum_split_at_label.deriv, step 1 (line 9): Sum(exp(-c + z[i]), (i, 1, K)) = exp(-c + z[gamma]) + Sum((1 - KroneckerDelta(gamma, i))*exp(-c + z[i]), (i, 1, K)), with c = m
    Checker: proved, assumptions used: one_hot
    """
    rows, K = len(z), len(z[0])
    for r in range(rows):
        zr = z[r]
        g = gamma[r]
        m, mu, usable = _py_row_max(zr)  # m = z_mu = max_k z_k
        if not usable:  # NaN, +inf or no finite logit: the row has no softmax
            out[r] = [math.nan] * K
            continue
        buffer0 = _py_exp_shifted_row(zr, m)  # the terms of exp(-m + z[_i1])
        s0 = _py_sum_faithful(buffer0, g)  # sum over i, skipping i = g
        h0 = (buffer0[g] + s0)  # exp(-m + z[gamma]) + Sum((1 - KroneckerDelta(_i1, gamma))*exp(-m + z[_i1]), (...
        out[r] = [(buffer0[k] / (h0)) for k in range(K)]
        out[r][g] = -(s0 / (h0))  # the label entry


#: the kernels whose results lie in [-1, 1] (probabilities, y - t): rounding them to float32 cannot overflow
_BOUNDED = {_softmax_shifted_py, _gradient_label_shifted_py}


#: the kernel that gives one value per row (the others give K)
_ONE_PER_ROW = {_cross_entropy_label_py}


def _tiny(kernel, flat, dtype, *per_row):
    """A Python-float kernel's (rows, K) or (rows, 1) result for an input of at most _TINY entries, as an
    array of dtype (each entry rounded once)."""
    if flat.shape[0] == 0:  # no rows (a batch of size 0): only the result's shape to give
        return np.empty((0, 1 if kernel in _ONE_PER_ROW else flat.shape[1]), dtype)
    rows = [None] * flat.shape[0]
    kernel(flat.tolist(), *[a.tolist() for a in per_row], rows)
    if dtype == np.float64 or kernel in _BOUNDED:
        return np.array(rows, dtype)
    with np.errstate(all="ignore"):  # a float64 result beyond float32's range rounds to inf, as on arrays
        return np.array(rows).astype(dtype)


def _tiny_into(out, value, batch, axis, ndim):
    """The tiny path's value shaped like the input (or written into out, checked as _output checks it)."""
    if out is None:
        return _restore(value, batch, axis, ndim)
    result, finish = _output(out, value.shape, value.dtype, batch, axis, ndim)
    result[...] = value
    return finish()


# ---------------------------------------------------------------------------
# public functions


def _softmax_rows(z, out):
    r"""softmax of (rows, K) blocks into out: unshifted where safe, shifted by the maximum elsewhere."""
    for lo, hi in _blocks(z.shape[0], z.shape[1]):
        _unshifted_where_safe(_softmax_unshifted, _softmax_shifted, _work(z[lo:hi]), out[lo:hi])


def softmax(z, axis=-1, out=None):
    r"""Softmax along `axis`: y_k = e^{z_k} / sum_i e^{z_i}.

    Computed unshifted (c = 0) where the partition sum is at least 1 and finite,
    and shifted by the row maximum elsewhere, with the rounding of z_k - m carried:
        derive/derivations/shift_invariance.deriv, step 2 (line 10): y[k] = exp(-c + z[k])/Sum(exp(-c + z[i]), (i, 1, K)), with c = 0
    """
    flat, dtype, batch = _rows("z", z, axis)
    if flat.size <= _TINY_SOFTMAX:
        return _tiny_into(out, _tiny(_softmax_shifted_py, flat, dtype), batch, axis, np.ndim(z))
    result, finish = _output(out, flat.shape, dtype, batch, axis, np.ndim(z), flat)
    with np.errstate(all="ignore"):
        _softmax_rows(flat, result)
    return finish()


def log_softmax(z, axis=-1, out=None):
    r"""log-softmax along `axis`: ln y_k = (z_k - m) - log1p(sum_{i != mu} e^{z_i - m}), m = z_mu = max_i z_i.

    The sum is formed from e^{z_i} / e^{z_mu} where the unshifted partition sum is
    safe (no rounded difference to carry), and from e^{z_i - m} with its TwoSum
    remainder elsewhere:
        derive/derivations/log_softmax.deriv, step 3 (line 11): log(y[k]) = -m - log(Sum(exp(-m + z[i]), (i, 1, K))) + z[k]
        derive/derivations/log1p_partition_unshifted.deriv, step 1 (line 9): log(Sum(exp(-m + z[i]), (i, 1, K))) = log(1 + exp(-z[mu])*Sum((1 - KroneckerDelta(i, mu))*exp(z[i]), (i, 1, K)))
        derive/derivations/sum_split_at_label.deriv, step 1 (line 9): Sum(exp(-c + z[i]), (i, 1, K)) = exp(-c + z[gamma]) + Sum((1 - KroneckerDelta(gamma, i))*exp(-c + z[i]), (i, 1, K)), at mu, c = 0
        derive/derivations/log_softmax.deriv, step 3 (line 11): log(y[k]) = -m - log(Sum(exp(-m + z[i]), (i, 1, K))) + z[k]
        derive/derivations/log1p_partition.deriv, step 1 (line 9): log(Sum(exp(-m + z[i]), (i, 1, K))) = log(Sum((1 - KroneckerDelta(i, mu))*exp(-m + z[i]), (i, 1, K)) + 1)
    """
    flat, dtype, batch = _rows("z", z, axis)
    if flat.size <= _TINY:
        return _tiny_into(out, _tiny(_log_softmax_py, flat, dtype), batch, axis, np.ndim(z))
    result, finish = _output(out, flat.shape, dtype, batch, axis, np.ndim(z), flat)
    with np.errstate(all="ignore"):
        for lo, hi in _blocks(*flat.shape):
            _unshifted_where_safe(_log_softmax_unshifted, _log_softmax, _work(flat[lo:hi]), result[lo:hi])
    return finish()


def softmax_jacobian(z, axis=-1):
    r"""Jacobian J[..., j, k] = dy_k/dz_j = y_k (delta_jk - y_j); the two class axes are the last two.

        derive/derivations/jacobian.deriv, step 7 (line 27): Derivative(y[k], z[j]) = (KroneckerDelta(j, k) - y[j])*y[k]
    """
    flat, dtype, batch = _rows("z", z, axis)
    y = np.empty(flat.shape, np.float64)
    out = np.empty(flat.shape + flat.shape[-1:], dtype)
    with np.errstate(all="ignore"):
        _softmax_rows(flat, y)
        _softmax_jacobian(y, out)
    return out.reshape(batch + out.shape[-2:])


def softmax_vjp(z, v, axis=-1, out=None):
    r"""Vector-Jacobian product sum_k v_k dy_k/dz_j = y_j (v_j - <v, y>), without forming the Jacobian.

        derive/derivations/softmax_vjp.deriv, step 2 (line 9): Sum(Derivative(y[k], z[j])*v[k], (k, 1, K)) = (v[j] - Sum(v[k]*y[k], (k, 1, K)))*y[j]
    """
    flat, dtype, batch = _rows("z", z, axis)
    vv = _like("v", v, "z", batch + flat.shape[-1:], axis)
    y = np.empty(flat.shape, np.float64)
    result, finish = _output(out, flat.shape, dtype, batch, axis, np.ndim(z), flat, vv)
    with np.errstate(all="ignore"):
        _softmax_rows(flat, y)
        for lo, hi in _blocks(*flat.shape):
            _softmax_vjp(y[lo:hi], _work(vv[lo:hi]), result[lo:hi])
    return finish()


def cross_entropy(z, target, axis=-1):
    r"""Cross-entropy E = -sum_k t_k ln y_k per row, from logits (never log(softmax)).

    `target` is either integer class labels of the batch shape (0..K-1) or soft
    targets shaped like z whose rows sum to 1.  Returns the batch shape.
    Labels: E = (m - z_gamma) + log1p(sum_{i != mu} e^{z_i - m}).
    Soft:   E = sum_k t_k ((m - z_k) + log1p(...)), a sum of non-negative terms.
        derive/derivations/cross_entropy_label.deriv, step 2 (line 10): E = m + log(Sum(exp(-m + z[i]), (i, 1, K))) - z[gamma]
        derive/derivations/log1p_partition_unshifted.deriv, step 1 (line 9): log(Sum(exp(-m + z[i]), (i, 1, K))) = log(1 + exp(-z[mu])*Sum((1 - KroneckerDelta(i, mu))*exp(z[i]), (i, 1, K)))
        derive/derivations/cross_entropy_soft.deriv, step 3 (line 11): E = Sum((m + log(Sum(exp(-m + z[i]), (i, 1, K))) - z[k])*t[k], (k, 1, K))
        derive/derivations/log1p_partition_unshifted.deriv, step 1 (line 9): log(Sum(exp(-m + z[i]), (i, 1, K))) = log(1 + exp(-z[mu])*Sum((1 - KroneckerDelta(i, mu))*exp(z[i]), (i, 1, K)))
    """
    flat, dtype, batch = _rows("z", z, axis)
    out = np.empty((flat.shape[0], 1), dtype)
    labels = _is_labels(target, batch)
    given = _labels(target, batch, flat.shape[1]) if labels else _targets(target, flat, batch, axis)
    if labels and flat.size <= _TINY:
        return _tiny(_cross_entropy_label_py, flat, dtype, given).reshape(batch)
    with np.errstate(all="ignore"):
        unshifted, shifted = ((_cross_entropy_label_unshifted, _cross_entropy_label) if labels else
                              (_cross_entropy_soft_unshifted, _cross_entropy_soft))
        for lo, hi in _blocks(*flat.shape):
            _unshifted_where_safe(unshifted, shifted, _work(flat[lo:hi]), out[lo:hi], given[lo:hi])
        if not labels:
            _zero_weight_on_masked_classes(flat, given, out, log_softmax)
    return out.reshape(batch)


def cross_entropy_grad(z, target, axis=-1, out=None):
    r"""Gradient dE/dz_j = y_j - t_j of the cross-entropy, from logits.

    Integer labels (batch shape): y_j - delta_{j gamma}, with the label entry
    computed as -sum_{k != gamma} y_k (no cancellation when y_gamma is near 1).
    Soft targets (shaped like z): y_j - t_j, which the checker proves needs only
    sum_k t_k = 1 (not one-hot targets); rows that do not sum to 1 are rejected.
        derive/derivations/gradient_label.deriv, step 3 (line 11): Derivative(E, z[j]) = -KroneckerDelta(gamma, j) + y[j]
        derive/derivations/sum_split_at_label.deriv, step 1 (line 9): Sum(exp(-c + z[i]), (i, 1, K)) = exp(-c + z[gamma]) + Sum((1 - KroneckerDelta(gamma, i))*exp(-c + z[i]), (i, 1, K)), with c = 0
        derive/derivations/gradient_soft.deriv, step 1 (line 8): Derivative(E, z[j]) = -t[j] + y[j]
        derive/derivations/route1.deriv, step 6 (line 22): Derivative(E, z[j]) = -t[j] + y[j]
        derive/derivations/route2.deriv, step 11 (line 27): Derivative(E, z[j]) = -t[j] + y[j]
    """
    flat, dtype, batch = _rows("z", z, axis)
    labels = _is_labels(target, batch)
    given = _labels(target, batch, flat.shape[1]) if labels else _targets(target, flat, batch, axis)
    if labels and flat.size <= _TINY:
        return _tiny_into(out, _tiny(_gradient_label_shifted_py, flat, dtype, given), batch, axis, np.ndim(z))
    out, finish = _output(out, flat.shape, dtype, batch, axis, np.ndim(z), flat,
                          given if not labels else flat)
    with np.errstate(all="ignore"):
        if labels:
            for lo, hi in _blocks(*flat.shape):
                _unshifted_where_safe(_gradient_label_unshifted, _gradient_label_shifted, _work(flat[lo:hi]),
                                      out[lo:hi], given[lo:hi])
        else:
            y = np.empty(flat.shape, np.float64)
            _softmax_rows(flat, y)
            for lo, hi in _blocks(*flat.shape):
                _gradient_soft(y[lo:hi], given[lo:hi], out[lo:hi])
    return finish()
