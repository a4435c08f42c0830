# GENERATED FILE -- DO NOT EDIT.
# Written by `derive codegen --backend numba` from templates/softmax_ce_numba.py.j2 and these derivations
# (name: the file it was read from, and the first 16 hex digits of the SHA-256 of that file's text):
#   cross_entropy_label: derive/derivations/cross_entropy_label.deriv 2c8082ab3aed3993
#   cross_entropy_soft: derive/derivations/cross_entropy_soft.deriv 13e88bb6b5bb97b7
#   gradient_label: derive/derivations/gradient_label.deriv 87fb8f275c3c2d07
#   gradient_soft: derive/derivations/gradient_soft.deriv 88cc43a12237e1a3
#   jacobian: derive/derivations/jacobian.deriv a1d99da60be6624e
#   log1p_partition: derive/derivations/log1p_partition.deriv fb5efdef40b98e36
#   log_softmax: derive/derivations/log_softmax.deriv 397751c244f1023c
#   route1: derive/derivations/route1.deriv 8dffe01457b0a027
#   route2: derive/derivations/route2.deriv 0bbf245e8b497602
#   shift_invariance: derive/derivations/shift_invariance.deriv c16579c5a22918e9
#   softmax_vjp: derive/derivations/softmax_vjp.deriv efb46e4c55e1dc22
#   sum_split_at_label: derive/derivations/sum_split_at_label.deriv 9cc0d48553bf6eb8
# Every kernel below is lowered from an expression the derive checker proved for symbolic K.
# Regenerate with `derive codegen --backend numba`; `derive codegen --check` tells when this file is stale.
r"""Softmax, log-softmax, their derivatives and cross-entropy as fused numba loops, from proved derivations.

The same functions, arguments, input checks and results as the NumPy module
``softmax_ce.py`` (see its docstring): ``axis`` with any batch shape, ``out=``,
labels or soft targets, float32 in gives float32 out, the same non-finite
policy, <= 4 ulp on every entry (float32 kernels compute their exponentials in
float32 arithmetic, twice the vector lanes: measured within 1.61 ulp, where the
NumPy module, all in float64, is within 0.5).  The difference is how they run:
each kernel is one loop nest over the rows that numba compiles (cached on disk,
see ``warm()``), so a row is read once, its exponentials, sums and results are
computed in registers and cache, and the loops vectorise.  Many short rows
(fewer than _LANES_K classes) take kernels that transpose blocks of rows so
that the rows are the vector lanes: a loop over 10 classes is too short to
vectorise, one over 64 rows is not.

Needs numba (``pip install 'derive[fast]'``).  The first call of each kernel in
a new process loads it from numba's cache; ``warm()`` (or ``derive warm``)
compiles every kernel for float32 and float64, in both layouts, ahead of time.
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

import math

import numba
import numpy as np
import llvmlite.binding as _llvm_binding  # numba's code generator, installed with it
from llvmlite import ir as _ir
from numba.core import types as _types
from numba.extending import intrinsic as _intrinsic
from numba.extending import overload as _overload

_jit = numba.njit(cache=True, error_model="numpy")

#: rows per block in the kernels for short rows (*_lanes): a block of rows is transposed so that the rows are
#: the SIMD lanes; those kernels take inputs of fewer than _LANES_K classes and at least _LANES_ROWS rows (measured:
#: 1.9x faster at 4096 x 10, 1.1x at 4096 x 48, 1.6x at 64 x 10)
_LANES = 64
_LANES_K = 49
_LANES_ROWS = 16
#: rows of at most _WIDE_K classes go in blocks of twice as many rows (measured at 4096 rows: 10 classes
#: 88 -> 87 us, 4 classes 47 -> 41 us, 30 classes 223 -> 211 us; at 48 classes 128 rows were slower, 359 us
#: against 336, the block no longer fitting the L1 cache)
_WIDE_K = 32
_INV_LN2 = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01  # trailing zeros: n * _LN2_HI is exact for |n| <= 2^11
_LN2_LO = 1.90821492927058770002e-10
_ROUND = 6755399441055744.0  # 1.5 * 2^52: x + _ROUND - _ROUND is x rounded to an integer, for |x| < 2^51
_ROUND_BITS = 0x4338000000000000  # the bits of _ROUND: the bits of n + _ROUND are _ROUND_BITS + n
#: (e^r - 1 - r) / r^2 on |r| <= ln2 / 2 as a polynomial of degree 10: fitted by least squares on 600 Chebyshev
#: nodes in 200-bit arithmetic, weighted by r^2 (the error that reaches e^r = 1 + r + r^2 q): at most 0.003 units
#: of 2^-53 (the Taylor polynomial of one degree more, 1/2! .. 1/13!, is off by 0.042 and costs an FMA more)
_EXP_Q = (0.5, 0.16666666666666685, 0.04166666666666671, 0.00833333333331633, 0.0013888888888863664,
          0.0001984126989789204, 2.4801587363804043e-05, 2.755723352968756e-06, 2.7557241540153237e-07,
          2.5112454311242147e-08, 2.092450042420037e-09)
#: the same constants in float32, for _exp_shifted_float32 (float32 constants keep numba's arithmetic in float32)
_F32_INV_LN2 = np.float32(1.4426950408889634)
_F32_LN2_HI = np.float32(0.693145751953125)  # 15 significant bits: n * _F32_LN2_HI is exact for |n| < 2^9
_F32_LN2_LO = np.float32(1.4286068203094172e-06)  # ln 2 - _F32_LN2_HI
_F32_ROUND = np.float32(12582912.0)  # 1.5 * 2^23: x + _F32_ROUND - _F32_ROUND is x rounded, for |x| < 2^22
_F32_LOW = np.float32(-110.0)  # e^-110 rounds to 0 in float32 (its least subnormal is 1.4e-45, e^-103.3)
_F32_TAYLOR = tuple(np.float32(1.0 / math.factorial(n)) for n in range(8))  # 1/0! .. 1/7!


@_intrinsic
def _bits_as_float(typingctx, bits):
    """The float64 whose IEEE bits are the int64 `bits` (a bitcast, one instruction)."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(_types.float64))
    return _types.float64(_types.int64), codegen


@_intrinsic
def _bits_as_float32(typingctx, bits):
    """The float32 whose IEEE bits are the low 32 bits of the int64 `bits`."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(builder.trunc(args[0], _ir.IntType(32)), context.get_value_type(_types.float32))
    return _types.float32(_types.int64), codegen


@_intrinsic
def _float_as_bits(typingctx, value):
    """The int64 holding the IEEE bits of the float64 `value` (a bitcast)."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(_types.int64))
    return _types.int64(_types.float64), codegen


def _call_llvm(name, signature, fastmath=()):
    """The code generator for an intrinsic that calls LLVM's `name` on floats of one type."""
    def codegen(context, builder, signature, values):
        kind = context.get_value_type(signature.return_type)
        function = builder.module.declare_intrinsic(name, [kind], _ir.FunctionType(kind, [kind] * len(values)))
        return builder.call(function, values, fastmath=fastmath)
    return signature, codegen


@_intrinsic
def _maximum_intrinsic(typingctx, a, b):
    """llvm.maximum: the IEEE maximum, NaN if either operand is; the sign of a zero maximum is not kept (the
    nsz flag: the shift z - m and the test z == m cannot tell -0 from +0, and without the flag the x86 code
    spends as much again on it: a 256 x 1000 float64 row max 41 -> 20 us, float32 35 -> 13 us)."""
    if a == b and isinstance(a, _types.Float):
        return _call_llvm("llvm.maximum", a(a, a), fastmath=("nsz",))


@_intrinsic
def _fma_intrinsic(typingctx, a, b, c):
    """llvm.fma: a * b + c rounded once."""
    if a == b == c and isinstance(a, _types.Float):
        return _call_llvm("llvm.fma", a(a, a, a))


@_intrinsic
def _ldexp_intrinsic(typingctx, x, n):
    """llvm.ldexp: x * 2^n rounded once, subnormal results included (AVX-512: one vscalefpd), for an
    integer-valued float n (converted straight to the int32 ldexp takes)."""
    if isinstance(x, _types.Float) and x == n:
        def codegen(context, builder, signature, values):
            kind, exponent = context.get_value_type(x), _ir.IntType(32)
            function = builder.module.declare_intrinsic("llvm.ldexp", [kind, exponent],
                                                        _ir.FunctionType(kind, [kind, exponent]))
            return builder.call(function, [values[0], builder.fptosi(values[1], exponent)])
        return x(x, n), codegen


def _has_scalef():
    """Whether numba compiles for a CPU with AVX-512 (vscalefpd): there llvm.ldexp is one instruction that
    vectorises; elsewhere LLVM calls the C library's ldexp for it, entry by entry (measured: 3x slower than
    building 2^n from exponent bits).  numba keys its cache by the CPU, so the choice is made per machine."""
    features = numba.config.CPU_FEATURES
    if features is None:
        features = _llvm_binding.get_host_cpu_features().flatten()
    return "+avx512f" in features.split(",")


def _exponent(x):
    """The binary exponent e of a positive normal float64, 2^e <= x < 2^(e+1) (in Python; compiled, from the
    exponent bits: math.frexp is a library call that costs more than a short row)."""
    return math.frexp(x)[1] - 1


@_overload(_exponent, inline="always")
def _exponent_compiled(x):
    def impl(x):
        return ((_float_as_bits(x) >> 52) & 0x7FF) - 1023
    return impl


def _pow2(n):
    """2.0 ** n for an integer -1022 <= n <= 1023 (in Python; compiled, from the exponent bits)."""
    return math.ldexp(1.0, int(n))


@_overload(_pow2, inline="always")
def _pow2_compiled(n):
    def impl(n):
        return _bits_as_float((n + 1023) << 52)
    return impl


def _pow2_rounded(t):
    """2^n for t = n + _ROUND (an integer -1022 <= n <= 1023 rounded by adding _ROUND), read off t's bits:
    no conversion between floats and integers (in Python, _pow2 of n)."""
    return _pow2(t - _ROUND)


@_overload(_pow2_rounded, inline="always")
def _pow2_rounded_compiled(t):
    def impl(t):
        return _bits_as_float((_float_as_bits(t) + (1023 - _ROUND_BITS)) << 52)
    return impl


def _scale(p, n):
    """p * 2^n rounded once in p's precision, subnormal results included: a float64 0.5 <= p <= 2 and an
    integer-valued -1076 <= n <= 1024 (inf beyond the range), or a float32 p and float32 -160 <= n <= 0 (in
    Python: math.ldexp, exact in float64, then rounded once to float32 for a float32 p)."""
    if isinstance(p, np.float32):
        return np.float32(math.ldexp(float(p), int(n)))
    try:
        return math.ldexp(p, int(n))
    except OverflowError:
        return math.inf


@_overload(_scale, inline="always")
def _scale_compiled(p, n):
    if _has_scalef():
        def impl(p, n):  # one vscalefpd (vscalefps), subnormal results without a slow path (measured: exp 185
            return _ldexp_intrinsic(p, n)  # -> 166 us at 256 x 1000, 283 -> 164 us on arguments down to -745)
    elif p == _types.float32:
        def impl(p, n):  # 2^n from exponent bits in two halves, each >= 2^-80 and normal: one rounding
            whole = int(n)
            half = whole >> 1
            return p * _bits_as_float32((half + 127) << 23) * _bits_as_float32((whole - half + 127) << 23)
    else:
        def impl(p, n):  # 2^n from exponent bits, in two halves so that subnormal results need no branch
            whole = int(n)
            half = whole >> 1
            return p * _pow2(half) * _pow2(whole - half)
    return impl


@numba.njit(cache=True, error_model="numpy", fastmath={"contract"})
def _exp_plus(x, rem):
    """e^(x + rem) for x in [-inf, inf] and |rem| <= ulp(x): < 0.66 ulp, branch-free (see the module doc)."""
    if not -746.0 <= x <= 710.0:  # beyond these e^x is 0 or inf in float64 anyway (a select, not a branch)
        rem = 0.0
    return _exp_clamped(min(max(x, -746.0), 710.0), rem)


@numba.njit(cache=True, error_model="numpy", fastmath={"contract"})
def _exp_clamped(x, rem):
    """_exp_plus for -746 <= x <= 710 (callers clamp only the side their arguments can reach)."""
    n = (x * _INV_LN2 + _ROUND) - _ROUND  # the integer nearest x / ln2, as a float: no conversions
    hi = x - n * _LN2_HI  # exact
    lo = n * _LN2_LO - rem
    r = hi - lo
    err = (hi - r) - lo  # what rounding r lost (Fast2Sum: |hi| >= |lo|)
    # p = (e^r - 1 - r) / r^2 by _EXP_Q, by Estrin's scheme: a dependency chain of 4 operations, not 11
    # (Horner's kept the loop waiting on latency: the exps of a 256 x 1000 softmax took 184 us, now 165)
    c = _EXP_Q
    r2 = r * r
    r4 = r2 * r2
    q0 = (c[0] + r * c[1]) + r2 * (c[2] + r * c[3])
    q1 = (c[4] + r * c[5]) + r2 * (c[6] + r * c[7])
    q2 = (c[8] + r * c[9]) + r2 * c[10]
    p = q0 + r4 * (q1 + r4 * q2)
    a = 1.0 + r
    p = a + (((1.0 - a) + r) + (r2 * p + err))  # 1 + r as a pair: one rounding at the end
    return _scale(p, n)


@_jit
def _exp_shifted(zk, m):
    """e^(z_k - m), with the rounding of z_k - m carried (TwoSum); a masked z_k = -inf gives 0 (its remainder is
    NaN, dropped with every remainder of an argument beyond -746).  z_k - m <= 0: only the lower clamp."""
    d = zk - m
    back = d - zk
    rem = (zk - (d - back)) - (m + back)
    if not d >= -746.0:  # a select, as in _exp_plus
        rem = 0.0
    return _exp_clamped(max(d, -746.0), rem)


@numba.njit(cache=True, error_model="numpy", fastmath={"contract"})
def _exp_shifted_single(zk, m):
    """e^(z_k - m) <= 1 to a relative error below 1e-9, for results rounded to float32 (whose ulp is 6e-8
    relative): no remainder carried (it is below 1e-16 relative), a degree-8 Taylor polynomial by Estrin's
    scheme (its truncation is 2e-10 on |r| <= ln2 / 2), and 0 below e^-150, which no float32 result divided by
    a sum >= 1 can tell from 0."""
    x = max(float(zk) - m, -150.0)
    rounded = x * _INV_LN2 + _ROUND
    n = rounded - _ROUND
    r = (x - n * _LN2_HI) - n * _LN2_LO
    r2 = r * r
    r4 = r2 * r2
    p = ((1.0 + r) + r2 * (0.5 + r * (1.0 / 6.0))) \
        + r4 * (((1.0 / 24.0 + r * (1.0 / 120.0)) + r2 * (1.0 / 720.0 + r * (1.0 / 5040.0))) + r4 * (1.0 / 40320.0))
    return p * _pow2_rounded(rounded)  # 2^n >= 2^-217 is normal: from bits (256 x 1000 softmax 113 -> 103 us)


@numba.njit(cache=True, error_model="numpy", fastmath={"contract"})
def _exp_shifted_float32(zk, m):
    """e^(z_k - m) <= 1 in float32 arithmetic, for float32 logits z_k and their maximum m (exact in float32):
    16 lanes of AVX-512 instead of the 8 of float64 (the exps of a 256 x 1000 float32 softmax: 74 -> 48 us).

    The rounding of z_k - m is carried (TwoSum: at z_k - m = -20 it alone would be 20 ulp of float32), then
    the Cody-Waite reduction z_k - m = n ln2 + r (d - n ln2_hi is exact), a degree-7 Taylor polynomial for
    |r| <= ln2 / 2 (truncation 5e-9 relative, 0.05 ulp), 1 + r added as a pair and one rounding of p 2^n.
    Measured on 1.6e6 points: within 0.82 ulp of float32 of e^(z_k - m) (1.06 with 1 + r rounded on its own,
    which saves 13% of the time).  A masked z_k = -inf gives 0 (the argument is clamped at -110, the NaN
    remainder dropped)."""
    mf = np.float32(m)
    d = zk - mf
    back = d - zk
    rem = (zk - (d - back)) - (mf + back)
    if not d >= _F32_LOW:  # a select: beyond it e^d is 0 in float32 anyway (and -inf has a NaN remainder)
        rem = np.float32(0.0)
    d = max(d, _F32_LOW)
    n = (d * _F32_INV_LN2 + _F32_ROUND) - _F32_ROUND  # the integer nearest d / ln2, as a float32
    r = ((d - n * _F32_LN2_HI) - n * _F32_LN2_LO) + rem
    r2 = r * r
    c = _F32_TAYLOR
    q = (c[2] + r * c[3]) + r2 * ((c[4] + r * c[5]) + r2 * (c[6] + r * c[7]))
    a = c[0] + r
    return _scale(a + (((c[0] - a) + r) + r2 * q), n)  # 1 + r as a pair: one rounding at the end


@_jit
def _row_max(z, r):
    """(m, mu, usable) of row r of z: its maximum, the least index where it is attained, and whether the row has a
    softmax at all (no NaN, no +inf, not every entry -inf).  The index is found by a min reduction once the
    maximum is known (a loop that tracks the index as it goes does not vectorise)."""
    m, usable = _row_max_value(z, r)
    if not usable:
        return m, 0, False
    n = z.shape[1]
    mu = n
    for i in range(n):
        mu = min(mu, i if float(z[r, i]) == m else n)
    return m, mu, True


def _maximum(a, b):
    """The larger of a and b, NaN if either is NaN (IEEE 754-2019 maximum; in Python, spelled out).

    Compiled, it is LLVM's ``llvm.maximum``, which the loop vectoriser turns into a SIMD max reduction:
    a row maximum that also carries any NaN of the row, in one pass at the width of the input's own type
    (measured at 256 x 1000: float64 68 -> 20 us, float32 94 -> 13 us, against a compare-and-select
    maximum plus a NaN count, which LLVM leaves scalar).  Of two zeros it may return either."""
    if a != a or b != b:
        return math.nan
    return a if a > b else b


@_overload(_maximum, inline="always")
def _maximum_compiled(a, b):
    def impl(a, b):
        return _maximum_intrinsic(a, b)
    return impl


def _fma(a, b, c):
    """a * b + c with one rounding (compiled, the FMA instruction; in Python, Dekker's exact product
    a b = high + low and math.fsum, which rounds the exact sum high + low + c once)."""
    factor = 134217729.0  # 2^27 + 1: Veltkamp's split of a float64 into two halves of 26 bits
    a_big, b_big = factor * a, factor * b
    a_high = a_big - (a_big - a)
    b_high = b_big - (b_big - b)
    a_low, b_low = a - a_high, b - b_high
    high = a * b
    low = ((a_high * b_high - high) + a_high * b_low + a_low * b_high) + a_low * b_low
    return math.fsum((high, low, c))


@_overload(_fma, inline="always")
def _fma_compiled(a, b, c):
    def impl(a, b, c):
        return _fma_intrinsic(a, b, c)
    return impl


@_jit
def _lanes(K):
    """Rows per block for the rows-as-lanes kernels, for rows of K classes."""
    return 2 * _LANES if K <= _WIDE_K else _LANES


@_jit
def _quotient(a, b):
    """a / b at the cost of a multiplication and two FMAs where b is the same for a whole loop (LLVM hoists
    1 / b out of it): Markstein's correction q + (a - q b) / b, the residual exact by the FMA.  Correctly
    rounded (measured: 2e7 quotients, equal to a / b but for 4 results below 1e-303, where the residual
    underflows, each 1 ulp off).  A division per entry cost 46 of 314 us of the 256 x 1000 float64 softmax;
    this costs 26.  For finite a and finite non-zero b (the kernels divide by sums >= 1)."""
    return _quotient_by(a, b, 1.0 / b)


@_jit
def _quotient_by(a, b, inverse):
    """_quotient given inverse = 1 / b (the rows-as-lanes kernels compute a row's inverse once, in lanes)."""
    q = a * inverse
    return _fma(_fma(-q, b, a), inverse, q)


def _quotient_single(a, b):
    """a / b for a result rounded to float32: a * (1 / b) in float64 is off by at most 2^-52 relative, far
    below float32's 2^-24, and LLVM hoists 1 / b out of the loop."""
    return a * (1.0 / b)


@_overload(_quotient_single, inline="always")
def _quotient_single_compiled(a, b):
    if a == _types.float32:
        def impl(a, b):  # a float32 term: 1 / b as two float32 parts, a hi + a lo with one FMA, all in float32
            inverse = 1.0 / b  # (16 lanes, not 8: 256 x 1000 float32 softmax 92 -> 84 us); the product
            high = np.float32(inverse)  # a (1 / b) to 2^-47, rounded once: the same float32 results as
            low = np.float32(inverse - high)  # float64 arithmetic gave on 7.4e6 entries (but for results
            return _fma(a, high, a * low)  # below 2^-100, where a * low underflows: within 1 ulp there)
    else:
        def impl(a, b):
            return a * (1.0 / b)
    return impl


@_jit
def _quotient_single_by(a, b, inverse):
    """_quotient_single given inverse = 1 / b."""
    return a * inverse


@_jit
def _row_max_value(z, r):
    """(m, usable) of row r of z, for kernels that do not need the index of the maximum: one max reduction in
    the input's type, which carries a NaN of the row into m, so usable (no NaN, no +inf, not every entry
    -inf) is read off m alone."""
    n = z.shape[1]
    if n == 0:
        return -math.inf, False
    top = z[r, 0]
    for i in range(1, n):
        top = _maximum(top, z[r, i])
    m = float(top)
    return m, -math.inf < m < math.inf


@numba.njit(cache=True, error_model="numpy", fastmath={"reassoc"})
def _add_reassoc(a, b):
    """a + b that LLVM may reorder: used only to accumulate sums that are exact, or whose error does not matter."""
    return a + b


@_jit
def _sum_faithful(buffer, skip):
    """The sum of the non-negative finite buffer[i], i != skip (skip = -1: none), faithfully rounded.

    A plain estimate gives sigma, a power of two above twice the sum; each term splits into hi =
    (v + sigma) - sigma, a multiple of ulp(sigma), and lo = v - hi, both exact.  The hi parts add
    up exactly in any order, the lo parts are each below ulp(sigma)/2 and their rounding is
    negligible, so hi + lo is rounded once.  NaN or inf in a term comes out as NaN or inf.
    """
    estimate = 0.0
    for i in range(buffer.shape[0]):
        estimate = _add_reassoc(estimate, buffer[i] if i != skip else 0.0)
    return _sum_split(buffer, skip, estimate)


@_jit
def _sum_split(buffer, skip, estimate):
    """_sum_faithful given the plain sum `estimate` (the loop that fills the buffer can form it as it goes,
    saving a pass over the row)."""
    if not (2.2250738585072014e-308 <= estimate < 1e300):
        return estimate  # 0 or subnormal (nothing to split: the terms add exactly), inf or NaN (passed on)
    sigma = _pow2(min(_exponent(estimate) + 2, 1023))  # > 2 * estimate
    high = 0.0
    low = 0.0
    for i in range(buffer.shape[0]):
        v = buffer[i] if i != skip else 0.0
        h = (v + sigma) - sigma
        high = _add_reassoc(high, h)
        low = _add_reassoc(low, v - h)
    return high + low


@_jit
def _split_point(K):
    """sigma for _sum_split's split of K terms each in [0, 1 + 2^-52], one of them 1: the softmax terms
    e^(z_i - m).  Their sum s lies in [1, K (1 + 2^-52)], so a power of two above 2 (K + 1) is above 2 s
    without an estimate, and the split can run in the loop that writes the terms (one pass fewer); the lo
    parts' rounding stays below K^2 2^-53 ulp(sigma) <= 2^-58 s for K <= 50 000, so hi + lo is still
    faithful."""
    return _pow2(_exponent(float(K)) + 2)


@_jit
def _sum_compensated(buffer, skip):
    """The sum of buffer[i], i != skip, terms of any sign, with Neumaier's compensation (error ~ 1 ulp
    + K^2 eps^2 of the sum of magnitudes)."""
    total = 0.0
    error = 0.0
    for i in range(buffer.shape[0]):
        if i == skip:
            continue
        v = buffer[i]
        new = total + v
        if abs(total) >= abs(v):
            error += (total - new) + v
        else:
            error += (v - new) + total
        total = new
    return total + error

__all__ = ["softmax", "log_softmax", "softmax_jacobian", "softmax_vjp", "cross_entropy", "cross_entropy_grad",
           "warm"]


# ---------------------------------------------------------------------------
# kernels: each lowered from a proved expression (see its docstring)


@_jit
def _softmax_shifted(z, out):
    r"""y[k] = exp(-m + z[k])/Sum(exp(-m + z[i]), (i, 1, K))

    Lowered from derive/derivations/shift_invariance.deriv, step 2 (line 10): y[k] = exp(-c + z[k])/Sum(exp(-c + z[i]), (i, 1, K)), with c = m
    Checker: proved, assumptions used: none
    """
    rows, K = z.shape[0], z.shape[1]
    known = False  # whether m_ahead, usable_ahead hold row r's maximum
    m_ahead, usable_ahead = 0.0, False
    for r in range(rows):
        if known:  # found while the previous row was computed
            m, usable = m_ahead, usable_ahead
        else:
            m, usable = _row_max_value(z, r)  # m = max_k z_k
        known = False
        if not usable:  # NaN, +inf or no finite logit: the row has no softmax
            out[r] = np.nan
            continue
        following = min(r + 1, rows - 1)  # the last row reads itself again: harmless
        top = z[following, 0]
        sigma0 = _split_point(K)
        high0 = 0.0
        low0 = 0.0
        for i in range(K):  # the terms of exp(-m + z[_i1]), split as they are written
            out[r, i] = _exp_shifted(z[r, i], m)
            top = _maximum(top, z[following, i])  # the next row's maximum, a NaN carried into it
            kept = out[r, i]
            part = (kept + sigma0) - sigma0  # exact
            high0 = _add_reassoc(high0, part)  # exact, in any order
            low0 = _add_reassoc(low0, kept - part)
        s0 = high0 + low0  # faithful sum over i
        m_ahead = float(top)
        usable_ahead = -math.inf < m_ahead < math.inf
        known = r + 1 < rows
        for k in range(K):
            out[r, k] = _quotient(out[r, k], s0)


@_jit
def _log_softmax(z, out):
    r"""log(y[k]) = -m - log(Sum((1 - KroneckerDelta(i, mu))*exp(-m + z[i]), (i, 1, K)) + 1) + z[k]

    Lowered from derive/derivations/log_softmax.deriv, step 3 (line 11): log(y[k]) = -m - log(Sum(exp(-m + z[i]), (i, 1, K))) + z[k]
    Lowered from derive/derivations/log1p_partition.deriv, step 1 (line 9): log(Sum(exp(-m + z[i]), (i, 1, K))) = log(Sum((1 - KroneckerDelta(i, mu))*exp(-m + z[i]), (i, 1, K)) + 1)
    Checker: proved, assumptions used: max_at_mu
    """
    rows, K = z.shape[0], z.shape[1]
    for r in range(rows):
        m, mu, usable = _row_max(z, r)  # m = z_mu = max_k z_k
        if not usable:  # NaN, +inf or no finite logit: the row has no softmax
            out[r] = np.nan
            continue
        estimate0 = 0.0
        for i in range(K):  # the terms of exp(-m + z[_i1])
            out[r, i] = _exp_shifted(z[r, i], m)
            estimate0 = _add_reassoc(estimate0, out[r, i] if i != mu else 0.0)
        s0 = _sum_split(out[r], mu, estimate0)  # faithful sum over i, skipping i = mu
        h0 = math.log1p(s0)  # log(Sum((1 - KroneckerDelta(_i1, mu))*exp(-m + z[_i1]), (_i1, 1, K)) + 1)
        for k in range(K):
            out[r, k] = ((z[r, k] - (m)) - (h0))


@_jit
def _cross_entropy_soft(z, t, out):
    r"""E = Sum((m + log(Sum((1 - KroneckerDelta(i, mu))*exp(-m + z[i]), (i, 1, K)) + 1) - z[k])*t[k], (k, 1, K))

    Lowered from derive/derivations/cross_entropy_soft.deriv, step 3 (line 11): E = Sum((m + log(Sum(exp(-m + z[i]), (i, 1, K))) - z[k])*t[k], (k, 1, K))
    Lowered from derive/derivations/log1p_partition.deriv, step 1 (line 9): log(Sum(exp(-m + z[i]), (i, 1, K))) = log(Sum((1 - KroneckerDelta(i, mu))*exp(-m + z[i]), (i, 1, K)) + 1)
    Checker: proved, assumptions used: max_at_mu
    """
    rows, K = z.shape[0], z.shape[1]
    buffer0 = np.empty(K)
    buffer1 = np.empty(K)
    for r in range(rows):
        m, mu, usable = _row_max(z, r)  # m = z_mu = max_k z_k
        if not usable:  # NaN, +inf or no finite logit: the row has no softmax
            out[r] = np.nan
            continue
        estimate0 = 0.0
        for i in range(K):  # the terms of exp(-m + z[_i1])
            buffer0[i] = _exp_shifted(z[r, i], m)
            estimate0 = _add_reassoc(estimate0, buffer0[i] if i != mu else 0.0)
        s0 = _sum_split(buffer0, mu, estimate0)  # faithful sum over i, skipping i = mu
        h0 = math.log1p(s0)  # log(Sum((1 - KroneckerDelta(_i1, mu))*exp(-m + z[_i1]), (_i1, 1, K)) + 1)
        for i in range(K):  # the terms of (m + log(Sum((1 - KroneckerDelta(_i1, mu))*exp(-m + z[_i1]), (_i1, 1, K)) + 1...
            buffer1[i] = ((m - (z[r, i])) + h0) * t[r, i]
        s1 = _sum_compensated(buffer1, -1)  # sum over i
        out[r, 0] = s1


@_jit
def _cross_entropy_label(z, gamma, out):
    r"""E = m + log(Sum((1 - KroneckerDelta(i, mu))*exp(-m + z[i]), (i, 1, K)) + 1) - z[gamma]

    Lowered from derive/derivations/cross_entropy_label.deriv, step 2 (line 10): E = m + log(Sum(exp(-m + z[i]), (i, 1, K))) - z[gamma]
    Lowered from derive/derivations/log1p_partition.deriv, step 1 (line 9): log(Sum(exp(-m + z[i]), (i, 1, K))) = log(Sum((1 - KroneckerDelta(i, mu))*exp(-m + z[i]), (i, 1, K)) + 1)
    Checker: proved, assumptions used: one_hot, max_at_mu
    """
    rows, K = z.shape[0], z.shape[1]
    buffer0 = np.empty(K)
    for r in range(rows):
        g = gamma[r]
        if not 0 <= g < K:  # a label out of range: no entry of the row is read with it
            return r
        m, mu, usable = _row_max(z, r)  # m = z_mu = max_k z_k
        if not usable:  # NaN, +inf or no finite logit: the row has no softmax
            out[r] = np.nan
            continue
        estimate0 = 0.0
        for i in range(K):  # the terms of exp(-m + z[_i1])
            buffer0[i] = _exp_shifted(z[r, i], m)
            estimate0 = _add_reassoc(estimate0, buffer0[i] if i != mu else 0.0)
        s0 = _sum_split(buffer0, mu, estimate0)  # faithful sum over i, skipping i = mu
        out[r, 0] = ((m - (z[r, g])) + math.log1p(s0))
    return -1  # every label in range


@_jit
def _gradient_label_shifted(z, gamma, out):
    r"""Derivative(E, z[k]) = exp(-m + z[k])/(exp(-m + z[gamma]) + Sum((1 - KroneckerDelta(gamma, i))*exp(-m + z[i]), (i, 1, K))); at the label: -Sum((1 - KroneckerDelta(gamma, k))*exp(-m + z[k]), (k, 1, K))/(exp(-m + z[gamma]) + Sum((1 - KroneckerDelta(gamma, i))*exp(-m + z[i]), (i, 1, K)))

    Lowered from derive/derivations/gradient_label.deriv, step 3 (line 11): Derivative(E, z[j]) = -KroneckerDelta(gamma, j) + y[j]
    Lowered from derive/derivations/sum_split_at_label.deriv, step 1 (line 9): Sum(exp(-c + z[i]), (i, 1, K)) = exp(-c + z[gamma]) + Sum((1 - KroneckerDelta(gamma, i))*exp(-c + z[i]), (i, 1, K)), with c = m
    Checker: proved, assumptions used: one_hot
    """
    rows, K = z.shape[0], z.shape[1]
    known = False  # whether m_ahead, usable_ahead hold row r's maximum
    m_ahead, usable_ahead = 0.0, False
    for r in range(rows):
        g = gamma[r]
        if not 0 <= g < K:  # a label out of range: no entry of the row is read with it
            return r
        if known:  # found while the previous row was computed
            m, usable = m_ahead, usable_ahead
        else:
            m, usable = _row_max_value(z, r)  # m = max_k z_k
        known = False
        if not usable:  # NaN, +inf or no finite logit: the row has no softmax
            out[r] = np.nan
            continue
        following = min(r + 1, rows - 1)  # the last row reads itself again: harmless
        top = z[following, 0]
        if z[r, g] < m:  # the maximum is among the terms summed: s in [1, K]
            sigma0 = _split_point(K)
            high0 = 0.0
            low0 = 0.0
            for i in range(K):  # the terms of exp(-m + z[_i1]), split as they are written
                out[r, i] = _exp_shifted(z[r, i], m)
                top = _maximum(top, z[following, i])  # the next row's maximum, a NaN carried into it
                kept = out[r, i]
                part = (kept + sigma0) - sigma0  # exact
                high0 = _add_reassoc(high0, part)  # exact, in any order
                low0 = _add_reassoc(low0, kept - part)
            part = (out[r, g] + sigma0) - sigma0  # the skipped term's, as in the loop
            high0 = high0 - part  # exact
            low0 = low0 - (out[r, g] - part)
            s0 = high0 + low0  # faithful sum over i
        else:  # the label holds the maximum: the sum may be tiny, its split point found from it
            estimate0 = 0.0
            for i in range(K):  # the terms of exp(-m + z[_i1])
                out[r, i] = _exp_shifted(z[r, i], m)
                top = _maximum(top, z[following, i])  # the next row's maximum, a NaN carried into it
                estimate0 = _add_reassoc(estimate0, out[r, i] if i != g else 0.0)
            s0 = _sum_split(out[r], g, estimate0)  # faithful sum over i, skipping i = g
        m_ahead = float(top)
        usable_ahead = -math.inf < m_ahead < math.inf
        known = r + 1 < rows
        h0 = (out[r, g] + s0)  # exp(-m + z[gamma]) + Sum((1 - KroneckerDelta(_i1, gamma))*exp(-m + z[_i1]), (...
        for k in range(K):
            out[r, k] = _quotient(out[r, k], h0)
        out[r, g] = -_quotient(s0, h0)  # the label entry
    return -1  # every label in range


@_jit
def _gradient_soft(y, t, out):
    r"""Derivative(E, z[k]) = -t[k] + y[k]

    Lowered from derive/derivations/gradient_soft.deriv, step 1 (line 8): Derivative(E, z[j]) = -t[j] + y[j]
    Lowered from derive/derivations/route1.deriv, step 6 (line 22): Derivative(E, z[j]) = -t[j] + y[j]
    Lowered from derive/derivations/route2.deriv, step 11 (line 27): Derivative(E, z[j]) = -t[j] + y[j]
    Checker: proved, assumptions used: index_range, targets_sum_to_one
    """
    rows, K = y.shape[0], y.shape[1]
    for r in range(rows):
        for k in range(K):
            out[r, k] = (y[r, k] - (t[r, k]))


@_jit
def _softmax_vjp(y, v, out):
    r"""Sum(Derivative(y[i], z[k])*v[i], (i, 1, K)) = (v[k] - Sum(v[i]*y[i], (i, 1, K)))*y[k]

    Lowered from derive/derivations/softmax_vjp.deriv, step 2 (line 9): Sum(Derivative(y[k], z[j])*v[k], (k, 1, K)) = (v[j] - Sum(v[k]*y[k], (k, 1, K)))*y[j]
    Checker: proved, assumptions used: index_range
    """
    rows, K = y.shape[0], y.shape[1]
    buffer0 = np.empty(K)
    for r in range(rows):
        for i in range(K):  # the terms of v[_i1]*y[_i1]
            buffer0[i] = v[r, i] * y[r, i]
        s0 = _sum_compensated(buffer0, -1)  # sum over i
        for k in range(K):
            out[r, k] = (v[r, k] - (s0)) * y[r, k]


@_jit
def _softmax_jacobian(y, out):
    r"""Derivative(y[k], z[j]) = (KroneckerDelta(j, k) - y[j])*y[k]

    Lowered from derive/derivations/jacobian.deriv, step 7 (line 27): Derivative(y[k], z[j]) = (KroneckerDelta(j, k) - y[j])*y[k]
    Checker: proved, assumptions used: index_range
    """
    rows, K = y.shape[0], y.shape[1]
    for r in range(rows):
        for j in range(K):
            for k in range(K):
                out[r, j, k] = ((1.0 if j == k else 0.0) - (y[r, j])) * y[r, k]


@_jit
def _softmax_shifted_lanes(z, out):
    r"""y[k] = exp(-m + z[k])/Sum(exp(-m + z[i]), (i, 1, K))

    Lowered from derive/derivations/shift_invariance.deriv, step 2 (line 10): y[k] = exp(-c + z[k])/Sum(exp(-c + z[i]), (i, 1, K)), with c = m
    Checker: proved, assumptions used: none
    """
    rows, K = z.shape[0], z.shape[1]
    lanes = _lanes(K)
    split = _split_point(K)
    zt = np.empty((K, lanes))
    buffer0 = np.empty((K, lanes))
    result = np.empty((K, lanes))
    m = np.empty(lanes)
    mu = np.empty(lanes, np.int64)
    usable = np.empty(lanes, np.bool_)
    g = np.empty(lanes, np.int64)
    total = np.empty(lanes)
    error = np.empty(lanes)
    sigma = np.empty(lanes)
    high = np.empty(lanes)
    low = np.empty(lanes)
    s0 = np.empty(lanes)
    inverse0 = np.empty(lanes)
    for start in range(0, rows, lanes):
        n = min(lanes, rows - start)
        for l in range(n):
            for i in range(K):
                zt[i, l] = z[start + l, i]
        for l in range(n):
            m[l] = -math.inf
        for i in range(K):  # the row maxima, a NaN carried into them
            for l in range(n):
                m[l] = _maximum(m[l], zt[i, l])
        for l in range(n):  # a row without a softmax computes on harmless values, then is NaN
            usable[l] = -math.inf < m[l] < math.inf
            m[l] = m[l] if usable[l] else 0.0
        for l in range(n):
            high[l] = 0.0
            low[l] = 0.0
        for i in range(K):  # the terms of exp(-m + z[_i1])
            for l in range(n):
                buffer0[i, l] = _exp_shifted(zt[i, l], m[l])
                part = (buffer0[i, l] + split) - split  # exact
                high[l] += part
                low[l] += buffer0[i, l] - part
        for l in range(n):
            s0[l] = high[l] + low[l]
        for l in range(n):
            inverse0[l] = 1.0 / s0[l]
        for k in range(K):
            for l in range(n):
                result[k, l] = _quotient_by(buffer0[k, l], s0[l], inverse0[l])
        for l in range(n):
            for k in range(K):
                out[start + l, k] = result[k, l]
        for l in range(n):
            if not usable[l]:  # NaN, +inf or no finite logit: no softmax
                out[start + l] = np.nan


@_jit
def _log_softmax_lanes(z, out):
    r"""log(y[k]) = -m - log(Sum((1 - KroneckerDelta(i, mu))*exp(-m + z[i]), (i, 1, K)) + 1) + z[k]

    Lowered from derive/derivations/log_softmax.deriv, step 3 (line 11): log(y[k]) = -m - log(Sum(exp(-m + z[i]), (i, 1, K))) + z[k]
    Lowered from derive/derivations/log1p_partition.deriv, step 1 (line 9): log(Sum(exp(-m + z[i]), (i, 1, K))) = log(Sum((1 - KroneckerDelta(i, mu))*exp(-m + z[i]), (i, 1, K)) + 1)
    Checker: proved, assumptions used: max_at_mu
    """
    rows, K = z.shape[0], z.shape[1]
    lanes = _lanes(K)
    zt = np.empty((K, lanes))
    buffer0 = np.empty((K, lanes))
    result = np.empty((K, lanes))
    m = np.empty(lanes)
    mu = np.empty(lanes, np.int64)
    usable = np.empty(lanes, np.bool_)
    g = np.empty(lanes, np.int64)
    total = np.empty(lanes)
    error = np.empty(lanes)
    sigma = np.empty(lanes)
    high = np.empty(lanes)
    low = np.empty(lanes)
    s0 = np.empty(lanes)
    h0 = np.empty(lanes)
    for start in range(0, rows, lanes):
        n = min(lanes, rows - start)
        for l in range(n):
            for i in range(K):
                zt[i, l] = z[start + l, i]
        for l in range(n):
            m[l] = -math.inf
        for i in range(K):  # the row maxima, a NaN carried into them
            for l in range(n):
                m[l] = _maximum(m[l], zt[i, l])
        for l in range(n):  # a row without a softmax computes on harmless values, then is NaN
            usable[l] = -math.inf < m[l] < math.inf
            m[l] = m[l] if usable[l] else 0.0
        for l in range(n):
            mu[l] = K
        for i in range(K):  # the least index holding the maximum
            for l in range(n):
                mu[l] = min(mu[l], i if zt[i, l] == m[l] else K)
        for l in range(n):
            mu[l] = mu[l] if mu[l] < K else 0
        for l in range(n):
            total[l] = 0.0
            error[l] = 0.0
        for i in range(K):  # the terms of exp(-m + z[_i1])
            for l in range(n):
                buffer0[i, l] = _exp_shifted(zt[i, l], m[l])
                total[l] += buffer0[i, l] if i != mu[l] else 0.0
        for l in range(n):
            sigma[l] = _pow2(min(_exponent(max(total[l], 2.2250738585072014e-308)) + 2, 1023))
            high[l] = 0.0
            low[l] = 0.0
        for i in range(K):
            for l in range(n):
                v = buffer0[i, l] if i != mu[l] else 0.0
                h = (v + sigma[l]) - sigma[l]  # exact, and the high parts add exactly
                high[l] += h
                low[l] += v - h
        for l in range(n):
            s0[l] = high[l] + low[l] if 2.2250738585072014e-308 <= total[l] < 1e300 else total[l]
        for l in range(n):
            h0[l] = math.log1p(s0[l])  # log(Sum((1 - KroneckerDelta(_i1, mu))*exp(-m + z[_i1]), (_i1, 1, K)) + 1)
        for k in range(K):
            for l in range(n):
                result[k, l] = ((zt[k, l] - (m[l])) - (h0[l]))
        for l in range(n):
            for k in range(K):
                out[start + l, k] = result[k, l]
        for l in range(n):
            if not usable[l]:  # NaN, +inf or no finite logit: no softmax
                out[start + l] = np.nan


@_jit
def _cross_entropy_soft_lanes(z, t, out):
    r"""E = Sum((m + log(Sum((1 - KroneckerDelta(i, mu))*exp(-m + z[i]), (i, 1, K)) + 1) - z[k])*t[k], (k, 1, K))

    Lowered from derive/derivations/cross_entropy_soft.deriv, step 3 (line 11): E = Sum((m + log(Sum(exp(-m + z[i]), (i, 1, K))) - z[k])*t[k], (k, 1, K))
    Lowered from derive/derivations/log1p_partition.deriv, step 1 (line 9): log(Sum(exp(-m + z[i]), (i, 1, K))) = log(Sum((1 - KroneckerDelta(i, mu))*exp(-m + z[i]), (i, 1, K)) + 1)
    Checker: proved, assumptions used: max_at_mu
    """
    rows, K = z.shape[0], z.shape[1]
    lanes = _lanes(K)
    zt = np.empty((K, lanes))
    tt = np.empty((K, lanes))
    buffer0 = np.empty((K, lanes))
    buffer1 = np.empty((K, lanes))
    m = np.empty(lanes)
    mu = np.empty(lanes, np.int64)
    usable = np.empty(lanes, np.bool_)
    g = np.empty(lanes, np.int64)
    total = np.empty(lanes)
    error = np.empty(lanes)
    sigma = np.empty(lanes)
    high = np.empty(lanes)
    low = np.empty(lanes)
    s0 = np.empty(lanes)
    s1 = np.empty(lanes)
    h0 = np.empty(lanes)
    for start in range(0, rows, lanes):
        n = min(lanes, rows - start)
        for l in range(n):
            for i in range(K):
                zt[i, l] = z[start + l, i]
        for l in range(n):
            for i in range(K):
                tt[i, l] = t[start + l, i]
        for l in range(n):
            m[l] = -math.inf
        for i in range(K):  # the row maxima, a NaN carried into them
            for l in range(n):
                m[l] = _maximum(m[l], zt[i, l])
        for l in range(n):  # a row without a softmax computes on harmless values, then is NaN
            usable[l] = -math.inf < m[l] < math.inf
            m[l] = m[l] if usable[l] else 0.0
        for l in range(n):
            mu[l] = K
        for i in range(K):  # the least index holding the maximum
            for l in range(n):
                mu[l] = min(mu[l], i if zt[i, l] == m[l] else K)
        for l in range(n):
            mu[l] = mu[l] if mu[l] < K else 0
        for l in range(n):
            total[l] = 0.0
            error[l] = 0.0
        for i in range(K):  # the terms of exp(-m + z[_i1])
            for l in range(n):
                buffer0[i, l] = _exp_shifted(zt[i, l], m[l])
                total[l] += buffer0[i, l] if i != mu[l] else 0.0
        for l in range(n):
            sigma[l] = _pow2(min(_exponent(max(total[l], 2.2250738585072014e-308)) + 2, 1023))
            high[l] = 0.0
            low[l] = 0.0
        for i in range(K):
            for l in range(n):
                v = buffer0[i, l] if i != mu[l] else 0.0
                h = (v + sigma[l]) - sigma[l]  # exact, and the high parts add exactly
                high[l] += h
                low[l] += v - h
        for l in range(n):
            s0[l] = high[l] + low[l] if 2.2250738585072014e-308 <= total[l] < 1e300 else total[l]
        for l in range(n):
            h0[l] = math.log1p(s0[l])  # log(Sum((1 - KroneckerDelta(_i1, mu))*exp(-m + z[_i1]), (_i1, 1, K)) + 1)
        for l in range(n):
            total[l] = 0.0
            error[l] = 0.0
        for i in range(K):  # the terms of (m + log(Sum((1 - KroneckerDelta(_i1, mu))*exp(-m + z[_i1]), (_i1, 1, K)) + 1...
            for l in range(n):
                buffer1[i, l] = ((m[l] - (zt[i, l])) + h0[l]) * tt[i, l]
                v = buffer1[i, l]
                new = total[l] + v
                if abs(total[l]) >= abs(v):
                    error[l] += (total[l] - new) + v
                else:
                    error[l] += (v - new) + total[l]
                total[l] = new
        for l in range(n):
            s1[l] = total[l] + error[l]
        for l in range(n):
            out[start + l, 0] = s1[l]
        for l in range(n):
            if not usable[l]:  # NaN, +inf or no finite logit: no softmax
                out[start + l] = np.nan


@_jit
def _cross_entropy_label_lanes(z, gamma, out):
    r"""E = m + log(Sum((1 - KroneckerDelta(i, mu))*exp(-m + z[i]), (i, 1, K)) + 1) - z[gamma]

    Lowered from derive/derivations/cross_entropy_label.deriv, step 2 (line 10): E = m + log(Sum(exp(-m + z[i]), (i, 1, K))) - z[gamma]
    Lowered from derive/derivations/log1p_partition.deriv, step 1 (line 9): log(Sum(exp(-m + z[i]), (i, 1, K))) = log(Sum((1 - KroneckerDelta(i, mu))*exp(-m + z[i]), (i, 1, K)) + 1)
    Checker: proved, assumptions used: one_hot, max_at_mu
    """
    rows, K = z.shape[0], z.shape[1]
    lanes = _lanes(K)
    zt = np.empty((K, lanes))
    buffer0 = np.empty((K, lanes))
    m = np.empty(lanes)
    mu = np.empty(lanes, np.int64)
    usable = np.empty(lanes, np.bool_)
    g = np.empty(lanes, np.int64)
    total = np.empty(lanes)
    error = np.empty(lanes)
    sigma = np.empty(lanes)
    high = np.empty(lanes)
    low = np.empty(lanes)
    s0 = np.empty(lanes)
    for start in range(0, rows, lanes):
        n = min(lanes, rows - start)
        for l in range(n):
            for i in range(K):
                zt[i, l] = z[start + l, i]
        for l in range(n):
            g[l] = gamma[start + l]
            if not 0 <= g[l] < K:  # a label out of range: no entry of the row is read with it
                return start + l
        for l in range(n):
            m[l] = -math.inf
        for i in range(K):  # the row maxima, a NaN carried into them
            for l in range(n):
                m[l] = _maximum(m[l], zt[i, l])
        for l in range(n):  # a row without a softmax computes on harmless values, then is NaN
            usable[l] = -math.inf < m[l] < math.inf
            m[l] = m[l] if usable[l] else 0.0
        for l in range(n):
            mu[l] = K
        for i in range(K):  # the least index holding the maximum
            for l in range(n):
                mu[l] = min(mu[l], i if zt[i, l] == m[l] else K)
        for l in range(n):
            mu[l] = mu[l] if mu[l] < K else 0
        for l in range(n):
            total[l] = 0.0
            error[l] = 0.0
        for i in range(K):  # the terms of exp(-m + z[_i1])
            for l in range(n):
                buffer0[i, l] = _exp_shifted(zt[i, l], m[l])
                total[l] += buffer0[i, l] if i != mu[l] else 0.0
        for l in range(n):
            sigma[l] = _pow2(min(_exponent(max(total[l], 2.2250738585072014e-308)) + 2, 1023))
            high[l] = 0.0
            low[l] = 0.0
        for i in range(K):
            for l in range(n):
                v = buffer0[i, l] if i != mu[l] else 0.0
                h = (v + sigma[l]) - sigma[l]  # exact, and the high parts add exactly
                high[l] += h
                low[l] += v - h
        for l in range(n):
            s0[l] = high[l] + low[l] if 2.2250738585072014e-308 <= total[l] < 1e300 else total[l]
        for l in range(n):
            out[start + l, 0] = ((m[l] - (zt[g[l], l])) + math.log1p(s0[l]))
        for l in range(n):
            if not usable[l]:  # NaN, +inf or no finite logit: no softmax
                out[start + l] = np.nan
    return -1  # every label in range


@_jit
def _gradient_label_shifted_lanes(z, gamma, out):
    r"""Derivative(E, z[k]) = exp(-m + z[k])/(exp(-m + z[gamma]) + Sum((1 - KroneckerDelta(gamma, i))*exp(-m + z[i]), (i, 1, K))); at the label: -Sum((1 - KroneckerDelta(gamma, k))*exp(-m + z[k]), (k, 1, K))/(exp(-m + z[gamma]) + Sum((1 - KroneckerDelta(gamma, i))*exp(-m + z[i]), (i, 1, K)))

    Lowered from derive/derivations/gradient_label.deriv, step 3 (line 11): Derivative(E, z[j]) = -KroneckerDelta(gamma, j) + y[j]
    Lowered from derive/derivations/sum_split_at_label.deriv, step 1 (line 9): Sum(exp(-c + z[i]), (i, 1, K)) = exp(-c + z[gamma]) + Sum((1 - KroneckerDelta(gamma, i))*exp(-c + z[i]), (i, 1, K)), with c = m
    Checker: proved, assumptions used: one_hot
    """
    rows, K = z.shape[0], z.shape[1]
    lanes = _lanes(K)
    zt = np.empty((K, lanes))
    buffer0 = np.empty((K, lanes))
    result = np.empty((K, lanes))
    m = np.empty(lanes)
    mu = np.empty(lanes, np.int64)
    usable = np.empty(lanes, np.bool_)
    g = np.empty(lanes, np.int64)
    total = np.empty(lanes)
    error = np.empty(lanes)
    sigma = np.empty(lanes)
    high = np.empty(lanes)
    low = np.empty(lanes)
    s0 = np.empty(lanes)
    h0 = np.empty(lanes)
    inverse0 = np.empty(lanes)
    for start in range(0, rows, lanes):
        n = min(lanes, rows - start)
        for l in range(n):
            for i in range(K):
                zt[i, l] = z[start + l, i]
        for l in range(n):
            g[l] = gamma[start + l]
            if not 0 <= g[l] < K:  # a label out of range: no entry of the row is read with it
                return start + l
        for l in range(n):
            m[l] = -math.inf
        for i in range(K):  # the row maxima, a NaN carried into them
            for l in range(n):
                m[l] = _maximum(m[l], zt[i, l])
        for l in range(n):  # a row without a softmax computes on harmless values, then is NaN
            usable[l] = -math.inf < m[l] < math.inf
            m[l] = m[l] if usable[l] else 0.0
        for l in range(n):
            total[l] = 0.0
            error[l] = 0.0
        for i in range(K):  # the terms of exp(-m + z[_i1])
            for l in range(n):
                buffer0[i, l] = _exp_shifted(zt[i, l], m[l])
                total[l] += buffer0[i, l] if i != g[l] else 0.0
        for l in range(n):
            sigma[l] = _pow2(min(_exponent(max(total[l], 2.2250738585072014e-308)) + 2, 1023))
            high[l] = 0.0
            low[l] = 0.0
        for i in range(K):
            for l in range(n):
                v = buffer0[i, l] if i != g[l] else 0.0
                h = (v + sigma[l]) - sigma[l]  # exact, and the high parts add exactly
                high[l] += h
                low[l] += v - h
        for l in range(n):
            s0[l] = high[l] + low[l] if 2.2250738585072014e-308 <= total[l] < 1e300 else total[l]
        for l in range(n):
            h0[l] = (buffer0[g[l], l] + s0[l])  # exp(-m + z[gamma]) + Sum((1 - KroneckerDelta(_i1, gamma))*exp(-m + z[_i1]), (...
        for l in range(n):
            inverse0[l] = 1.0 / h0[l]
        for k in range(K):
            for l in range(n):
                result[k, l] = _quotient_by(buffer0[k, l], h0[l], inverse0[l])
        for l in range(n):
            for k in range(K):
                out[start + l, k] = result[k, l]
        for l in range(n):
            out[start + l, g[l]] = -_quotient_by(s0[l], h0[l], inverse0[l])  # the label
        for l in range(n):
            if not usable[l]:  # NaN, +inf or no finite logit: no softmax
                out[start + l] = np.nan
    return -1  # every label in range


@_jit
def _softmax_shifted_single(z, out):
    r"""y[k] = exp(-m + z[k])/Sum(exp(-m + z[i]), (i, 1, K))

    Lowered from derive/derivations/shift_invariance.deriv, step 2 (line 10): y[k] = exp(-c + z[k])/Sum(exp(-c + z[i]), (i, 1, K)), with c = m
    Checker: proved, assumptions used: none
    """
    rows, K = z.shape[0], z.shape[1]
    known = False  # whether m_ahead, usable_ahead hold row r's maximum
    m_ahead, usable_ahead = 0.0, False
    for r in range(rows):
        if known:  # found while the previous row was computed
            m, usable = m_ahead, usable_ahead
        else:
            m, usable = _row_max_value(z, r)  # m = max_k z_k
        known = False
        if not usable:  # NaN, +inf or no finite logit: the row has no softmax
            out[r] = np.nan
            continue
        following = min(r + 1, rows - 1)  # the last row reads itself again: harmless
        top = z[following, 0]
        for i in range(K):  # the terms of exp(-m + z[_i1]), in float32
            out[r, i] = _exp_shifted_float32(z[r, i], m)
            top = _maximum(top, z[following, i])  # the next row's maximum, a NaN carried into it
        estimate0 = 0.0
        for i in range(K):  # their plain sum, in float64
            estimate0 = _add_reassoc(estimate0, float(out[r, i]))
        s0 = estimate0  # the plain sum over i
        m_ahead = float(top)
        usable_ahead = -math.inf < m_ahead < math.inf
        known = r + 1 < rows
        for k in range(K):
            out[r, k] = _quotient_single(out[r, k], s0)


@_jit
def _log_softmax_single(z, out):
    r"""log(y[k]) = -m - log(Sum((1 - KroneckerDelta(i, mu))*exp(-m + z[i]), (i, 1, K)) + 1) + z[k]

    Lowered from derive/derivations/log_softmax.deriv, step 3 (line 11): log(y[k]) = -m - log(Sum(exp(-m + z[i]), (i, 1, K))) + z[k]
    Lowered from derive/derivations/log1p_partition.deriv, step 1 (line 9): log(Sum(exp(-m + z[i]), (i, 1, K))) = log(Sum((1 - KroneckerDelta(i, mu))*exp(-m + z[i]), (i, 1, K)) + 1)
    Checker: proved, assumptions used: max_at_mu
    """
    rows, K = z.shape[0], z.shape[1]
    for r in range(rows):
        m, mu, usable = _row_max(z, r)  # m = z_mu = max_k z_k
        if not usable:  # NaN, +inf or no finite logit: the row has no softmax
            out[r] = np.nan
            continue
        for i in range(K):  # the terms of exp(-m + z[_i1]), in float32
            out[r, i] = _exp_shifted_float32(z[r, i], m)
        estimate0 = 0.0
        for i in range(K):  # their plain sum, in float64
            estimate0 = _add_reassoc(estimate0, float(out[r, i]) if i != mu else 0.0)
        s0 = estimate0  # the plain sum over i, skipping i = mu
        h0 = math.log1p(s0)  # log(Sum((1 - KroneckerDelta(_i1, mu))*exp(-m + z[_i1]), (_i1, 1, K)) + 1)
        for k in range(K):
            out[r, k] = ((z[r, k] - (m)) - (h0))


@_jit
def _cross_entropy_soft_single(z, t, out):
    r"""E = Sum((m + log(Sum((1 - KroneckerDelta(i, mu))*exp(-m + z[i]), (i, 1, K)) + 1) - z[k])*t[k], (k, 1, K))

    Lowered from derive/derivations/cross_entropy_soft.deriv, step 3 (line 11): E = Sum((m + log(Sum(exp(-m + z[i]), (i, 1, K))) - z[k])*t[k], (k, 1, K))
    Lowered from derive/derivations/log1p_partition.deriv, step 1 (line 9): log(Sum(exp(-m + z[i]), (i, 1, K))) = log(Sum((1 - KroneckerDelta(i, mu))*exp(-m + z[i]), (i, 1, K)) + 1)
    Checker: proved, assumptions used: max_at_mu
    """
    rows, K = z.shape[0], z.shape[1]
    buffer0 = np.empty(K, np.float32)
    buffer1 = np.empty(K)
    for r in range(rows):
        m, mu, usable = _row_max(z, r)  # m = z_mu = max_k z_k
        if not usable:  # NaN, +inf or no finite logit: the row has no softmax
            out[r] = np.nan
            continue
        for i in range(K):  # the terms of exp(-m + z[_i1]), in float32
            buffer0[i] = _exp_shifted_float32(z[r, i], m)
        estimate0 = 0.0
        for i in range(K):  # their plain sum, in float64
            estimate0 = _add_reassoc(estimate0, float(buffer0[i]) if i != mu else 0.0)
        s0 = estimate0  # the plain sum over i, skipping i = mu
        h0 = math.log1p(s0)  # log(Sum((1 - KroneckerDelta(_i1, mu))*exp(-m + z[_i1]), (_i1, 1, K)) + 1)
        for i in range(K):  # the terms of (m + log(Sum((1 - KroneckerDelta(_i1, mu))*exp(-m + z[_i1]), (_i1, 1, K)) + 1...
            buffer1[i] = ((m - (z[r, i])) + h0) * t[r, i]
        s1 = _sum_compensated(buffer1, -1)  # sum over i
        out[r, 0] = s1


@_jit
def _cross_entropy_label_single(z, gamma, out):
    r"""E = m + log(Sum((1 - KroneckerDelta(i, mu))*exp(-m + z[i]), (i, 1, K)) + 1) - z[gamma]

    Lowered from derive/derivations/cross_entropy_label.deriv, step 2 (line 10): E = m + log(Sum(exp(-m + z[i]), (i, 1, K))) - z[gamma]
    Lowered from derive/derivations/log1p_partition.deriv, step 1 (line 9): log(Sum(exp(-m + z[i]), (i, 1, K))) = log(Sum((1 - KroneckerDelta(i, mu))*exp(-m + z[i]), (i, 1, K)) + 1)
    Checker: proved, assumptions used: one_hot, max_at_mu
    """
    rows, K = z.shape[0], z.shape[1]
    buffer0 = np.empty(K, np.float32)
    for r in range(rows):
        g = gamma[r]
        if not 0 <= g < K:  # a label out of range: no entry of the row is read with it
            return r
        m, mu, usable = _row_max(z, r)  # m = z_mu = max_k z_k
        if not usable:  # NaN, +inf or no finite logit: the row has no softmax
            out[r] = np.nan
            continue
        for i in range(K):  # the terms of exp(-m + z[_i1]), in float32
            buffer0[i] = _exp_shifted_float32(z[r, i], m)
        estimate0 = 0.0
        for i in range(K):  # their plain sum, in float64
            estimate0 = _add_reassoc(estimate0, float(buffer0[i]) if i != mu else 0.0)
        s0 = estimate0  # the plain sum over i, skipping i = mu
        out[r, 0] = ((m - (z[r, g])) + math.log1p(s0))
    return -1  # every label in range


@_jit
def _gradient_label_shifted_single(z, gamma, out):
    r"""Derivative(E, z[k]) = exp(-m + z[k])/(exp(-m + z[gamma]) + Sum((1 - KroneckerDelta(gamma, i))*exp(-m + z[i]), (i, 1, K))); at the label: -Sum((1 - KroneckerDelta(gamma, k))*exp(-m + z[k]), (k, 1, K))/(exp(-m + z[gamma]) + Sum((1 - KroneckerDelta(gamma, i))*exp(-m + z[i]), (i, 1, K)))

    Lowered from derive/derivations/gradient_label.deriv, step 3 (line 11): Derivative(E, z[j]) = -KroneckerDelta(gamma, j) + y[j]
    Lowered from derive/derivations/sum_split_at_label.deriv, step 1 (line 9): Sum(exp(-c + z[i]), (i, 1, K)) = exp(-c + z[gamma]) + Sum((1 - KroneckerDelta(gamma, i))*exp(-c + z[i]), (i, 1, K)), with c = m
    Checker: proved, assumptions used: one_hot
    """
    rows, K = z.shape[0], z.shape[1]
    known = False  # whether m_ahead, usable_ahead hold row r's maximum
    m_ahead, usable_ahead = 0.0, False
    for r in range(rows):
        g = gamma[r]
        if not 0 <= g < K:  # a label out of range: no entry of the row is read with it
            return r
        if known:  # found while the previous row was computed
            m, usable = m_ahead, usable_ahead
        else:
            m, usable = _row_max_value(z, r)  # m = max_k z_k
        known = False
        if not usable:  # NaN, +inf or no finite logit: the row has no softmax
            out[r] = np.nan
            continue
        following = min(r + 1, rows - 1)  # the last row reads itself again: harmless
        top = z[following, 0]
        for i in range(K):  # the terms of exp(-m + z[_i1]), in float32
            out[r, i] = _exp_shifted_float32(z[r, i], m)
            top = _maximum(top, z[following, i])  # the next row's maximum, a NaN carried into it
        if z[r, g] < m:  # the maximum is among the others: their sum >= 1 >= the label's
            estimate0 = 0.0
            for i in range(K):  # their plain sum, in float64
                estimate0 = _add_reassoc(estimate0, float(out[r, i]))
            estimate0 = estimate0 - float(out[r, g])
        else:  # the label holds the maximum: the others are summed without it
            estimate0 = 0.0
            for i in range(K):  # their plain sum, in float64
                estimate0 = _add_reassoc(estimate0, float(out[r, i]) if i != g else 0.0)
        s0 = estimate0  # the plain sum over i, skipping i = g
        m_ahead = float(top)
        usable_ahead = -math.inf < m_ahead < math.inf
        known = r + 1 < rows
        h0 = (out[r, g] + s0)  # exp(-m + z[gamma]) + Sum((1 - KroneckerDelta(_i1, gamma))*exp(-m + z[_i1]), (...
        for k in range(K):
            out[r, k] = _quotient_single(out[r, k], h0)
        out[r, g] = -_quotient_single(s0, h0)  # the label entry
    return -1  # every label in range


@_jit
def _softmax_shifted_lanes_single(z, out):
    r"""y[k] = exp(-m + z[k])/Sum(exp(-m + z[i]), (i, 1, K))

    Lowered from derive/derivations/shift_invariance.deriv, step 2 (line 10): y[k] = exp(-c + z[k])/Sum(exp(-c + z[i]), (i, 1, K)), with c = m
    Checker: proved, assumptions used: none
    """
    rows, K = z.shape[0], z.shape[1]
    lanes = _lanes(K)
    zt = np.empty((K, lanes))
    buffer0 = np.empty((K, lanes))
    result = np.empty((K, lanes))
    m = np.empty(lanes)
    mu = np.empty(lanes, np.int64)
    usable = np.empty(lanes, np.bool_)
    g = np.empty(lanes, np.int64)
    total = np.empty(lanes)
    error = np.empty(lanes)
    sigma = np.empty(lanes)
    high = np.empty(lanes)
    low = np.empty(lanes)
    s0 = np.empty(lanes)
    inverse0 = np.empty(lanes)
    for start in range(0, rows, lanes):
        n = min(lanes, rows - start)
        for l in range(n):
            for i in range(K):
                zt[i, l] = z[start + l, i]
        for l in range(n):
            m[l] = -math.inf
        for i in range(K):  # the row maxima, a NaN carried into them
            for l in range(n):
                m[l] = _maximum(m[l], zt[i, l])
        for l in range(n):  # a row without a softmax computes on harmless values, then is NaN
            usable[l] = -math.inf < m[l] < math.inf
            m[l] = m[l] if usable[l] else 0.0
        for l in range(n):
            total[l] = 0.0
            error[l] = 0.0
        for i in range(K):  # the terms of exp(-m + z[_i1])
            for l in range(n):
                buffer0[i, l] = _exp_shifted_single(zt[i, l], m[l])
                total[l] += buffer0[i, l]
        for l in range(n):
            s0[l] = total[l]
        for l in range(n):
            inverse0[l] = 1.0 / s0[l]
        for k in range(K):
            for l in range(n):
                result[k, l] = _quotient_single_by(buffer0[k, l], s0[l], inverse0[l])
        for l in range(n):
            for k in range(K):
                out[start + l, k] = result[k, l]
        for l in range(n):
            if not usable[l]:  # NaN, +inf or no finite logit: no softmax
                out[start + l] = np.nan


@_jit
def _log_softmax_lanes_single(z, out):
    r"""log(y[k]) = -m - log(Sum((1 - KroneckerDelta(i, mu))*exp(-m + z[i]), (i, 1, K)) + 1) + z[k]

    Lowered from derive/derivations/log_softmax.deriv, step 3 (line 11): log(y[k]) = -m - log(Sum(exp(-m + z[i]), (i, 1, K))) + z[k]
    Lowered from derive/derivations/log1p_partition.deriv, step 1 (line 9): log(Sum(exp(-m + z[i]), (i, 1, K))) = log(Sum((1 - KroneckerDelta(i, mu))*exp(-m + z[i]), (i, 1, K)) + 1)
    Checker: proved, assumptions used: max_at_mu
    """
    rows, K = z.shape[0], z.shape[1]
    lanes = _lanes(K)
    zt = np.empty((K, lanes))
    buffer0 = np.empty((K, lanes))
    result = np.empty((K, lanes))
    m = np.empty(lanes)
    mu = np.empty(lanes, np.int64)
    usable = np.empty(lanes, np.bool_)
    g = np.empty(lanes, np.int64)
    total = np.empty(lanes)
    error = np.empty(lanes)
    sigma = np.empty(lanes)
    high = np.empty(lanes)
    low = np.empty(lanes)
    s0 = np.empty(lanes)
    h0 = np.empty(lanes)
    for start in range(0, rows, lanes):
        n = min(lanes, rows - start)
        for l in range(n):
            for i in range(K):
                zt[i, l] = z[start + l, i]
        for l in range(n):
            m[l] = -math.inf
        for i in range(K):  # the row maxima, a NaN carried into them
            for l in range(n):
                m[l] = _maximum(m[l], zt[i, l])
        for l in range(n):  # a row without a softmax computes on harmless values, then is NaN
            usable[l] = -math.inf < m[l] < math.inf
            m[l] = m[l] if usable[l] else 0.0
        for l in range(n):
            mu[l] = K
        for i in range(K):  # the least index holding the maximum
            for l in range(n):
                mu[l] = min(mu[l], i if zt[i, l] == m[l] else K)
        for l in range(n):
            mu[l] = mu[l] if mu[l] < K else 0
        for l in range(n):
            total[l] = 0.0
            error[l] = 0.0
        for i in range(K):  # the terms of exp(-m + z[_i1])
            for l in range(n):
                buffer0[i, l] = _exp_shifted_single(zt[i, l], m[l])
                total[l] += buffer0[i, l] if i != mu[l] else 0.0
        for l in range(n):
            s0[l] = total[l]
        for l in range(n):
            h0[l] = math.log1p(s0[l])  # log(Sum((1 - KroneckerDelta(_i1, mu))*exp(-m + z[_i1]), (_i1, 1, K)) + 1)
        for k in range(K):
            for l in range(n):
                result[k, l] = ((zt[k, l] - (m[l])) - (h0[l]))
        for l in range(n):
            for k in range(K):
                out[start + l, k] = result[k, l]
        for l in range(n):
            if not usable[l]:  # NaN, +inf or no finite logit: no softmax
                out[start + l] = np.nan


@_jit
def _cross_entropy_soft_lanes_single(z, t, out):
    r"""E = Sum((m + log(Sum((1 - KroneckerDelta(i, mu))*exp(-m + z[i]), (i, 1, K)) + 1) - z[k])*t[k], (k, 1, K))

    Lowered from derive/derivations/cross_entropy_soft.deriv, step 3 (line 11): E = Sum((m + log(Sum(exp(-m + z[i]), (i, 1, K))) - z[k])*t[k], (k, 1, K))
    Lowered from derive/derivations/log1p_partition.deriv, step 1 (line 9): log(Sum(exp(-m + z[i]), (i, 1, K))) = log(Sum((1 - KroneckerDelta(i, mu))*exp(-m + z[i]), (i, 1, K)) + 1)
    Checker: proved, assumptions used: max_at_mu
    """
    rows, K = z.shape[0], z.shape[1]
    lanes = _lanes(K)
    zt = np.empty((K, lanes))
    tt = np.empty((K, lanes))
    buffer0 = np.empty((K, lanes))
    buffer1 = np.empty((K, lanes))
    m = np.empty(lanes)
    mu = np.empty(lanes, np.int64)
    usable = np.empty(lanes, np.bool_)
    g = np.empty(lanes, np.int64)
    total = np.empty(lanes)
    error = np.empty(lanes)
    sigma = np.empty(lanes)
    high = np.empty(lanes)
    low = np.empty(lanes)
    s0 = np.empty(lanes)
    s1 = np.empty(lanes)
    h0 = np.empty(lanes)
    for start in range(0, rows, lanes):
        n = min(lanes, rows - start)
        for l in range(n):
            for i in range(K):
                zt[i, l] = z[start + l, i]
        for l in range(n):
            for i in range(K):
                tt[i, l] = t[start + l, i]
        for l in range(n):
            m[l] = -math.inf
        for i in range(K):  # the row maxima, a NaN carried into them
            for l in range(n):
                m[l] = _maximum(m[l], zt[i, l])
        for l in range(n):  # a row without a softmax computes on harmless values, then is NaN
            usable[l] = -math.inf < m[l] < math.inf
            m[l] = m[l] if usable[l] else 0.0
        for l in range(n):
            mu[l] = K
        for i in range(K):  # the least index holding the maximum
            for l in range(n):
                mu[l] = min(mu[l], i if zt[i, l] == m[l] else K)
        for l in range(n):
            mu[l] = mu[l] if mu[l] < K else 0
        for l in range(n):
            total[l] = 0.0
            error[l] = 0.0
        for i in range(K):  # the terms of exp(-m + z[_i1])
            for l in range(n):
                buffer0[i, l] = _exp_shifted_single(zt[i, l], m[l])
                total[l] += buffer0[i, l] if i != mu[l] else 0.0
        for l in range(n):
            s0[l] = total[l]
        for l in range(n):
            h0[l] = math.log1p(s0[l])  # log(Sum((1 - KroneckerDelta(_i1, mu))*exp(-m + z[_i1]), (_i1, 1, K)) + 1)
        for l in range(n):
            total[l] = 0.0
            error[l] = 0.0
        for i in range(K):  # the terms of (m + log(Sum((1 - KroneckerDelta(_i1, mu))*exp(-m + z[_i1]), (_i1, 1, K)) + 1...
            for l in range(n):
                buffer1[i, l] = ((m[l] - (zt[i, l])) + h0[l]) * tt[i, l]
                v = buffer1[i, l]
                new = total[l] + v
                if abs(total[l]) >= abs(v):
                    error[l] += (total[l] - new) + v
                else:
                    error[l] += (v - new) + total[l]
                total[l] = new
        for l in range(n):
            s1[l] = total[l] + error[l]
        for l in range(n):
            out[start + l, 0] = s1[l]
        for l in range(n):
            if not usable[l]:  # NaN, +inf or no finite logit: no softmax
                out[start + l] = np.nan


@_jit
def _cross_entropy_label_lanes_single(z, gamma, out):
    r"""E = m + log(Sum((1 - KroneckerDelta(i, mu))*exp(-m + z[i]), (i, 1, K)) + 1) - z[gamma]

    Lowered from derive/derivations/cross_entropy_label.deriv, step 2 (line 10): E = m + log(Sum(exp(-m + z[i]), (i, 1, K))) - z[gamma]
    Lowered from derive/derivations/log1p_partition.deriv, step 1 (line 9): log(Sum(exp(-m + z[i]), (i, 1, K))) = log(Sum((1 - KroneckerDelta(i, mu))*exp(-m + z[i]), (i, 1, K)) + 1)
    Checker: proved, assumptions used: one_hot, max_at_mu
    """
    rows, K = z.shape[0], z.shape[1]
    lanes = _lanes(K)
    zt = np.empty((K, lanes))
    buffer0 = np.empty((K, lanes))
    m = np.empty(lanes)
    mu = np.empty(lanes, np.int64)
    usable = np.empty(lanes, np.bool_)
    g = np.empty(lanes, np.int64)
    total = np.empty(lanes)
    error = np.empty(lanes)
    sigma = np.empty(lanes)
    high = np.empty(lanes)
    low = np.empty(lanes)
    s0 = np.empty(lanes)
    for start in range(0, rows, lanes):
        n = min(lanes, rows - start)
        for l in range(n):
            for i in range(K):
                zt[i, l] = z[start + l, i]
        for l in range(n):
            g[l] = gamma[start + l]
            if not 0 <= g[l] < K:  # a label out of range: no entry of the row is read with it
                return start + l
        for l in range(n):
            m[l] = -math.inf
        for i in range(K):  # the row maxima, a NaN carried into them
            for l in range(n):
                m[l] = _maximum(m[l], zt[i, l])
        for l in range(n):  # a row without a softmax computes on harmless values, then is NaN
            usable[l] = -math.inf < m[l] < math.inf
            m[l] = m[l] if usable[l] else 0.0
        for l in range(n):
            mu[l] = K
        for i in range(K):  # the least index holding the maximum
            for l in range(n):
                mu[l] = min(mu[l], i if zt[i, l] == m[l] else K)
        for l in range(n):
            mu[l] = mu[l] if mu[l] < K else 0
        for l in range(n):
            total[l] = 0.0
            error[l] = 0.0
        for i in range(K):  # the terms of exp(-m + z[_i1])
            for l in range(n):
                buffer0[i, l] = _exp_shifted_single(zt[i, l], m[l])
                total[l] += buffer0[i, l] if i != mu[l] else 0.0
        for l in range(n):
            s0[l] = total[l]
        for l in range(n):
            out[start + l, 0] = ((m[l] - (zt[g[l], l])) + math.log1p(s0[l]))
        for l in range(n):
            if not usable[l]:  # NaN, +inf or no finite logit: no softmax
                out[start + l] = np.nan
    return -1  # every label in range


@_jit
def _gradient_label_shifted_lanes_single(z, gamma, out):
    r"""Derivative(E, z[k]) = exp(-m + z[k])/(exp(-m + z[gamma]) + Sum((1 - KroneckerDelta(gamma, i))*exp(-m + z[i]), (i, 1, K))); at the label: -Sum((1 - KroneckerDelta(gamma, k))*exp(-m + z[k]), (k, 1, K))/(exp(-m + z[gamma]) + Sum((1 - KroneckerDelta(gamma, i))*exp(-m + z[i]), (i, 1, K)))

    Lowered from derive/derivations/gradient_label.deriv, step 3 (line 11): Derivative(E, z[j]) = -KroneckerDelta(gamma, j) + y[j]
    Lowered from derive/derivations/sum_split_at_label.deriv, step 1 (line 9): Sum(exp(-c + z[i]), (i, 1, K)) = exp(-c + z[gamma]) + Sum((1 - KroneckerDelta(gamma, i))*exp(-c + z[i]), (i, 1, K)), with c = m
    Checker: proved, assumptions used: one_hot
    """
    rows, K = z.shape[0], z.shape[1]
    lanes = _lanes(K)
    zt = np.empty((K, lanes))
    buffer0 = np.empty((K, lanes))
    result = np.empty((K, lanes))
    m = np.empty(lanes)
    mu = np.empty(lanes, np.int64)
    usable = np.empty(lanes, np.bool_)
    g = np.empty(lanes, np.int64)
    total = np.empty(lanes)
    error = np.empty(lanes)
    sigma = np.empty(lanes)
    high = np.empty(lanes)
    low = np.empty(lanes)
    s0 = np.empty(lanes)
    h0 = np.empty(lanes)
    inverse0 = np.empty(lanes)
    for start in range(0, rows, lanes):
        n = min(lanes, rows - start)
        for l in range(n):
            for i in range(K):
                zt[i, l] = z[start + l, i]
        for l in range(n):
            g[l] = gamma[start + l]
            if not 0 <= g[l] < K:  # a label out of range: no entry of the row is read with it
                return start + l
        for l in range(n):
            m[l] = -math.inf
        for i in range(K):  # the row maxima, a NaN carried into them
            for l in range(n):
                m[l] = _maximum(m[l], zt[i, l])
        for l in range(n):  # a row without a softmax computes on harmless values, then is NaN
            usable[l] = -math.inf < m[l] < math.inf
            m[l] = m[l] if usable[l] else 0.0
        for l in range(n):
            total[l] = 0.0
            error[l] = 0.0
        for i in range(K):  # the terms of exp(-m + z[_i1])
            for l in range(n):
                buffer0[i, l] = _exp_shifted_single(zt[i, l], m[l])
                total[l] += buffer0[i, l] if i != g[l] else 0.0
        for l in range(n):
            s0[l] = total[l]
        for l in range(n):
            h0[l] = (buffer0[g[l], l] + s0[l])  # exp(-m + z[gamma]) + Sum((1 - KroneckerDelta(_i1, gamma))*exp(-m + z[_i1]), (...
        for l in range(n):
            inverse0[l] = 1.0 / h0[l]
        for k in range(K):
            for l in range(n):
                result[k, l] = _quotient_single_by(buffer0[k, l], h0[l], inverse0[l])
        for l in range(n):
            for k in range(K):
                out[start + l, k] = result[k, l]
        for l in range(n):
            out[start + l, g[l]] = -_quotient_single_by(s0[l], h0[l], inverse0[l])  # the label
        for l in range(n):
            if not usable[l]:  # NaN, +inf or no finite logit: no softmax
                out[start + l] = np.nan
    return -1  # every label in range


# ---------------------------------------------------------------------------
# public functions


_FLOAT64 = np.dtype(np.float64)
_FLOAT32 = np.dtype(np.float32)
_INT64 = np.dtype(np.int64)


def _direct(z, axis, out, kernel, lanes):
    """The kernel (row by row or rows as lanes, as _layout chooses; for float32, its float32 version) to run z
    through directly when z is already what _rows would make of it (2-D float64 or float32, C-contiguous,
    classes last, not empty) and no out is given, else None: then the checks and copies, which cost more than
    a softmax of a few rows, are skipped, and the result is the same.  One call, not two, and `is` for the
    dtype (built-in dtypes are singletons): measured at 1 x 10, softmax 0.82 -> 0.69 us."""
    if out is None and type(z) is np.ndarray and z.ndim == 2 and z.flags.c_contiguous \
            and type(axis) is int and (axis == -1 or axis == 1):
        rows, K = z.shape
        if K > 0 and z.dtype is _FLOAT64:
            return lanes if K < _LANES_K and rows >= _LANES_ROWS else kernel
        if K > 0 and z.dtype is _FLOAT32:
            return _SINGLE[lanes if K < _LANES_K and rows >= _LANES_ROWS else kernel]
    return None


def _direct_labels(z, target, axis, out, kernel, lanes):
    """_direct for a kernel that takes labels, given as a C-contiguous int64 vector of one label per row: the
    kernel checks each label itself (it returns the first row whose label is out of range, else -1), which
    saves the module's own pass over them (measured: 2 of the 7 us of a 64 x 10 gradient)."""
    chosen = _direct(z, axis, out, kernel, lanes)  # first: it makes sure z is a 2-D array
    if chosen is not None and type(target) is np.ndarray and target.dtype is _INT64 and target.ndim == 1 \
            and target.flags.c_contiguous and target.shape[0] == z.shape[0]:
        return chosen
    return None


def _layout(kernel, lanes, flat, out=None):
    """The kernel for this input: rows as lanes for many short rows, else row by row; for float32 results
    (out float32), the version that computes just enough for them (looked up by name: kernel + "_single")."""
    rows, K = flat.shape
    chosen = lanes if K < _LANES_K and rows >= _LANES_ROWS else kernel
    return _SINGLE[chosen] if out is not None and out.dtype is _FLOAT32 else chosen


def softmax(z, axis=-1, out=None):
    r"""Softmax along `axis`: y_k = e^{z_k - m} / sum_i e^{z_i - m}, m = max_i z_i.

        derive/derivations/shift_invariance.deriv, step 2 (line 10): y[k] = exp(-c + z[k])/Sum(exp(-c + z[i]), (i, 1, K)), with c = m
    """
    direct = _direct(z, axis, out, _softmax_shifted, _softmax_shifted_lanes)
    if direct is not None:
        result = np.empty(z.shape, z.dtype)
        direct(z, result)
        return result
    flat, dtype, batch = _rows("z", z, axis)
    result, finish = _output(out, flat.shape, dtype, batch, axis, np.ndim(z), flat)
    _layout(_softmax_shifted, _softmax_shifted_lanes, flat, result)(flat, result)
    return finish()


def log_softmax(z, axis=-1, out=None):
    r"""log-softmax along `axis`: ln y_k = (z_k - m) - log1p(sum_{i != mu} e^{z_i - m}), m = z_mu = max_i z_i.

        derive/derivations/log_softmax.deriv, step 3 (line 11): log(y[k]) = -m - log(Sum(exp(-m + z[i]), (i, 1, K))) + z[k]
        derive/derivations/log1p_partition.deriv, step 1 (line 9): log(Sum(exp(-m + z[i]), (i, 1, K))) = log(Sum((1 - KroneckerDelta(i, mu))*exp(-m + z[i]), (i, 1, K)) + 1)
    """
    direct = _direct(z, axis, out, _log_softmax, _log_softmax_lanes)
    if direct is not None:
        result = np.empty(z.shape, z.dtype)
        direct(z, result)
        return result
    flat, dtype, batch = _rows("z", z, axis)
    result, finish = _output(out, flat.shape, dtype, batch, axis, np.ndim(z), flat)
    _layout(_log_softmax, _log_softmax_lanes, flat, result)(flat, result)
    return finish()


def softmax_jacobian(z, axis=-1):
    r"""Jacobian J[..., j, k] = dy_k/dz_j = y_k (delta_jk - y_j); the two class axes are the last two.

        derive/derivations/jacobian.deriv, step 7 (line 27): Derivative(y[k], z[j]) = (KroneckerDelta(j, k) - y[j])*y[k]
    """
    flat, dtype, batch = _rows("z", z, axis)
    y = np.empty(flat.shape, np.float64)
    _layout(_softmax_shifted, _softmax_shifted_lanes, flat)(flat, y)
    out = np.empty(flat.shape + flat.shape[-1:], dtype)
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
    _layout(_softmax_shifted, _softmax_shifted_lanes, flat)(flat, y)
    _softmax_vjp(y, vv, result)
    return finish()


def cross_entropy(z, target, axis=-1):
    r"""Cross-entropy E = -sum_k t_k ln y_k per row, from logits (never log(softmax)).

    `target` is either integer class labels of the batch shape (0..K-1) or soft
    targets shaped like z whose rows sum to 1.  Returns the batch shape.
        derive/derivations/cross_entropy_label.deriv, step 2 (line 10): E = m + log(Sum(exp(-m + z[i]), (i, 1, K))) - z[gamma]
        derive/derivations/log1p_partition.deriv, step 1 (line 9): log(Sum(exp(-m + z[i]), (i, 1, K))) = log(Sum((1 - KroneckerDelta(i, mu))*exp(-m + z[i]), (i, 1, K)) + 1)
        derive/derivations/cross_entropy_soft.deriv, step 3 (line 11): E = Sum((m + log(Sum(exp(-m + z[i]), (i, 1, K))) - z[k])*t[k], (k, 1, K))
        derive/derivations/log1p_partition.deriv, step 1 (line 9): log(Sum(exp(-m + z[i]), (i, 1, K))) = log(Sum((1 - KroneckerDelta(i, mu))*exp(-m + z[i]), (i, 1, K)) + 1)
    """
    direct = _direct_labels(z, target, axis, None, _cross_entropy_label, _cross_entropy_label_lanes)
    if direct is not None:
        result = np.empty((z.shape[0], 1), z.dtype)
        if direct(z, target, result) < 0:
            return result.reshape(z.shape[0])
    flat, dtype, batch = _rows("z", z, axis)  # and a label out of range is reported as the checks report it
    out = np.empty((flat.shape[0], 1), dtype)
    if _is_labels(target, batch):
        _layout(_cross_entropy_label, _cross_entropy_label_lanes, flat, out)(flat, _labels(target, batch, flat.shape[1]),
                                                                         out)
    else:
        given = _targets(target, flat, batch, axis)
        _layout(_cross_entropy_soft, _cross_entropy_soft_lanes, flat, out)(flat, given, out)
        with np.errstate(all="ignore"):
            _zero_weight_on_masked_classes(flat, given, out, log_softmax)
    return out.reshape(batch)


def cross_entropy_grad(z, target, axis=-1, out=None):
    r"""Gradient dE/dz_j = y_j - t_j of the cross-entropy, from logits.

    Integer labels (batch shape): y_j - delta_{j gamma}, with the label entry
    computed as -sum_{k != gamma} y_k (no cancellation when y_gamma is near 1).
    Soft targets (shaped like z): y_j - t_j, proved under sum_k t_k = 1 only.
        derive/derivations/gradient_label.deriv, step 3 (line 11): Derivative(E, z[j]) = -KroneckerDelta(gamma, j) + y[j]
        derive/derivations/sum_split_at_label.deriv, step 1 (line 9): Sum(exp(-c + z[i]), (i, 1, K)) = exp(-c + z[gamma]) + Sum((1 - KroneckerDelta(gamma, i))*exp(-c + z[i]), (i, 1, K)), with c = m
        derive/derivations/gradient_soft.deriv, step 1 (line 8): Derivative(E, z[j]) = -t[j] + y[j]
        derive/derivations/route1.deriv, step 6 (line 22): Derivative(E, z[j]) = -t[j] + y[j]
        derive/derivations/route2.deriv, step 11 (line 27): Derivative(E, z[j]) = -t[j] + y[j]
    """
    direct = _direct_labels(z, target, axis, out, _gradient_label_shifted, _gradient_label_shifted_lanes)
    if direct is not None:
        result = np.empty(z.shape, z.dtype)
        if direct(z, target, result) < 0:
            return result
    flat, dtype, batch = _rows("z", z, axis)  # and a label out of range is reported as the checks report it
    labels = _is_labels(target, batch)
    given = _labels(target, batch, flat.shape[1]) if labels else _targets(target, flat, batch, axis)
    result, finish = _output(out, flat.shape, dtype, batch, axis, np.ndim(z), flat, given if not labels else flat)
    if labels:
        _layout(_gradient_label_shifted, _gradient_label_shifted_lanes, flat, result)(flat, given, result)
    else:
        y = np.empty(flat.shape, np.float64)
        _layout(_softmax_shifted, _softmax_shifted_lanes, flat)(flat, y)
        _gradient_soft(y, given, result)
    return finish()


#: row-by-row and rows-as-lanes kernels -> their versions for float32 results
_SINGLE = {
    _softmax_shifted: _softmax_shifted_single,
    _log_softmax: _log_softmax_single,
    _cross_entropy_soft: _cross_entropy_soft_single,
    _cross_entropy_label: _cross_entropy_label_single,
    _gradient_label_shifted: _gradient_label_shifted_single,
    _softmax_shifted_lanes: _softmax_shifted_lanes_single,
    _log_softmax_lanes: _log_softmax_lanes_single,
    _cross_entropy_soft_lanes: _cross_entropy_soft_lanes_single,
    _cross_entropy_label_lanes: _cross_entropy_label_lanes_single,
    _gradient_label_shifted_lanes: _gradient_label_shifted_lanes_single,
}


def warm():
    r"""Compile (or load from numba's cache) every kernel for float32 and float64 input, so that no later
    call pays for compilation.  Returns the number of kernel signatures made ready."""
    ready = 0
    for dtype, rows in ((np.float64, 2), (np.float32, 2), (np.float64, _LANES_ROWS), (np.float32, _LANES_ROWS)):
        z = np.zeros((rows, 3), dtype)  # a few rows: row by row; _LANES_ROWS rows: the rows-as-lanes kernels
        labels = np.zeros(rows, np.int64)
        soft = np.full((rows, 3), 1.0 / 3.0)
        for call in (lambda: softmax(z), lambda: log_softmax(z), lambda: softmax_jacobian(z),
                     lambda: softmax_vjp(z, z), lambda: cross_entropy(z, labels), lambda: cross_entropy(z, soft),
                     lambda: cross_entropy_grad(z, labels), lambda: cross_entropy_grad(z, soft)):
            call()
            ready += 1
    return ready
