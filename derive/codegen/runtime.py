"""The runtime of the generated NumPy module: what every kernel and public function relies on.

An ordinary module, linted and unit-tested on its own (tests/test_runtime.py).  ``derive codegen``
copies everything below the marker line verbatim into ``generated/softmax_ce.py``, which stays a
single NumPy-only file: this part of it must import nothing but NumPy.  The kernels the generated
file adds call these helpers by name; codegen checks that every name they use is defined here.
"""

# --- copied into the generated module from here ---
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
