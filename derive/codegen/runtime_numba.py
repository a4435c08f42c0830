"""The runtime of the generated numba module: scalar helpers its fused row loops call.

An ordinary module, tested on its own (tests/test_numba_backend.py, skipped without numba): each
helper is a plain Python function wrapped by numba, so ``helper.py_func`` runs the same arithmetic
in Python.  ``derive codegen --backend numba`` copies everything below the marker line verbatim into
``generated/softmax_ce_numba.py``, after the NumPy runtime's input checks.

Why these helpers rather than ``math.exp`` and ``sum``: a fused kernel is only faster than NumPy's
ufunc passes if its loops vectorise, and the accuracy of the NumPy module (<= 4 ulp on every entry)
must be kept.  So:

* ``_exp_plus`` is an exp of its own, written so LLVM vectorises it (no call, no branch): Cody-Waite
  reduction x = n ln2 + r with the rounding of r carried, a fitted degree-12 polynomial (by Estrin's
  scheme, whose short dependency chains keep the vector units busy), the leading
  1 + r added as a pair, and the scaling by 2^n rounded once (``_scale``: AVX-512's vscalefpd, else
  2^n from exponent bits in two halves, so subnormal results and n down to -1076 need no branch).
  It takes the TwoSum remainder of z - m as a second argument: e^(d + rem) without forming d + rem.
  Max error 0.661 ulp on 175 000 points (np.exp: 0.661).  ``_exp_shifted`` clamps only below (z - m <= 0):
  the upper clamp and its test cost 5-9% of a 256 x 1000 float64 softmax.
* ``_exp_shifted_float32`` is the same idea in float32 arithmetic for float32 kernels (twice the SIMD lanes):
  the TwoSum remainder of z - m, a degree-7 polynomial, 1 + r as a pair; 0.82 ulp of float32.
* ``_sum_faithful`` adds non-negative terms faithfully (Rump, Ogita and Oishi's split at a power of
  two above the row sum, like the NumPy runtime's ``_row_sums``); only its accumulating additions
  may be reassociated (``_add_reassoc`` carries the fast-math flag on that one instruction), which
  lets LLVM vectorise the reduction without touching the split.
* ``_sum_compensated`` is Neumaier's sum for terms of any sign.
"""

# --- copied into the generated module from here ---
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
