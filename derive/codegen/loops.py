"""Lowering for the numba backend: index-form SymPy expressions -> one fused loop nest per kernel.

The NumPy lowering (``lowering.py``) maps the class index to an array axis and
every operation to a ufunc pass.  Here the same proved expressions become
scalar code inside a loop over rows, which numba compiles and LLVM vectorises;
one rule per node type (``_Printer``):

* the free class index k is a loop over the row (``for k in range(K)``), the
  kernel's output ``out[r, k] = ...`` ("vec"), a row value ``out[r, 0]``
  ("row"), or a K x K block ``out[r, j, k]`` ("matrix");
* a sum is computed before the loop that reads it: its terms into a row buffer
  (one vectorised pass), then a faithful split sum when the terms are
  exponentials (non-negative) or ``_sum_compensated`` otherwise.  The split
  point comes from the plain sum formed in that pass (``_sum_split``), or, when
  the terms are e^{z_i - m} and include the maximum's 1 (all of them, or all but
  a label that is not the maximum), from K alone (``_split_point``): then the
  split happens as the terms are written, and the second pass is saved;
* in float64 kernels whose out is always float64, a sum's terms are written into
  the row of out itself when the loop that fills out reads each only in its own
  place (no K-long buffer for a long row to push out of the cache);
* ``sum_i (1 - delta_{i gamma}) f_i`` skips i = gamma (never sum - f_gamma,
  which cancels); the buffer keeps f_gamma, so ``f_gamma`` and ``f_k`` elsewhere
  in the kernel are read from it, computed once;
* ``e^{z_i - m}`` is ``_exp_shifted``: the rounding of z_i - m carried (TwoSum);
* ``ln(1 + x)`` is ``log1p(x)``; a subexpression free of the loop index is
  computed once, before the loop; a division by one is ``_quotient`` (a
  reciprocal hoisted out of the loop and Markstein's correction: the
  correctly rounded quotient without a divide per entry);
* a row that has no softmax (NaN, +inf, or every entry -inf) is NaN in every
  result, the NumPy module's non-finite policy; the row maximum is one
  ``_maximum`` reduction (llvm.maximum), which carries a NaN into it; kernels
  that need only its value find it for the next row in the loop that computes
  this row's exps (a pass fewer, and the next row is fetched meanwhile).

Many short rows (``lower_lanes``): blocks of rows are transposed so that rows are
the SIMD lanes, the same steps run element-wise over the lanes, and the results
are computed in lanes and transposed back.

Inputs are read as float64 (float32 rows are widened) and results rounded once
when stored, but for the exps of float32 kernels (``NUMBA_SINGLE``): float32
logits give e^{z_i - m} in float32 arithmetic (``_exp_shifted_float32``, 16 SIMD
lanes instead of 8), summed and divided in float64.  An expression outside these
rules raises :class:`LoweringError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import sympy as sp

from ..errors import LoweringError
from ..notation import gamma, j, m, mu, t, v, y, z

#: the runtime helpers the loops call (render checks that the runtime defines them)
HELPERS = ("_exp_shifted", "_exp_plus", "_row_max", "_row_max_value", "_sum_faithful", "_sum_compensated",
           "_sum_split", "_add_reassoc", "_exp_shifted_single", "_exp_shifted_float32", "_quotient",
           "_quotient_single", "_quotient_by", "_quotient_single_by", "_maximum", "_lanes", "_split_point",
           "_py_exp_shifted", "_py_row_max", "_py_sum_faithful", "_py_sum_compensated",
           "_py_exp_shifted_row")

#: the inputs a kernel reads entry by entry, as 2-D arrays indexed [r, i] (a row view z[r] would cost a
#: reference count per row: 60 ns, more than a row of 10 classes takes to compute)
_INPUTS = {str(base) for base in (z, t, v, y)}
_LABELS = {gamma: "g", mu: "mu", j: "j"}


@dataclass
class _Sum:
    name: str
    buffer: str
    var: sp.Symbol
    term: sp.Expr
    skip: str
    faithful: bool
    in_out: bool = False  # the terms are written into the row of out that the kernel fills last

    @property
    def array(self) -> str:
        """The 1-D array holding the row's terms."""
        return "out[r]" if self.in_out else self.buffer

    def at(self, index: str) -> str:
        """The term at `index` (row-by-row kernels)."""
        return f"out[r, {index}]" if self.in_out else f"{self.buffer}[{index}]"


@dataclass
class LoopKernel:
    """What the template needs for one kernel: its arguments, row-level set-up and loop body."""

    name: str
    signature: str
    body: list = field(default_factory=list)


@dataclass(frozen=True)
class Dialect:
    """How the loops are spelled: compiled by numba over arrays, or run by Python over lists of floats.

    The NumPy module uses the Python dialect for tiny inputs (a row or two of a few classes), where a
    dozen ufunc calls cost more than the arithmetic: the same proved expressions, the same algorithm
    (shift by the maximum with the remainder carried, the label entry as minus the others), with
    math.exp and math.fsum (correctly rounded) as its helpers.
    """

    name: str
    entry: str          # an input entry: "{base}[r, {index}]" or "{base}r[{index}]"
    helper: str         # prefix of the runtime helpers: "" or "_py"
    row_max: str        # the call giving m, mu, usable
    nan_row: str        # a row without a softmax
    buffer: str         # a buffer's allocation, once per kernel
    python: bool
    lane: str = ""      # appended to a per-row value (m, mu, a sum): "[l]" when rows are lanes
    single: bool = False  # float32 results: exp to 1e-9 and plain float64 sums are exact enough
    float64_out: bool = False  # out is always float64: a sum's terms may be kept in out's row
    float32_exp: bool = False  # float32 logits and results: e^(z_i - m) in float32 arithmetic, kept in float32


NUMBA = Dialect("numba", "{base}[r, {index}]", "", "_row_max(z, r)", "out[r] = np.nan", "np.empty(K)", False)
PYTHON = Dialect("python", "{base}r[{index}]", "_py", "_py_row_max(zr)", "out[r] = [math.nan] * {width}",
                 "[0.0] * K", True)
#: many short rows: a block of rows is transposed so that rows are SIMD lanes (the loop over a row of 10
#: classes is too short to vectorise; the loop over 64 rows is not); every per-row value is an array over lanes
LANES = Dialect("lanes", "{base}t[{index}, l]", "", "", "", "np.empty((K, lanes))", False, "[l]")
#: the same for float32 logits and results, which are rounded to 24 bits: e^(z_i - m) computed in float32
#: arithmetic (``_exp_shifted_float32``, within 0.82 ulp of float32: twice the SIMD lanes of float64) and kept
#: in float32 (in out's row where it can hold them), in a loop of its own so that it vectorises at full
#: width, then a plain float64 sum (error K 2^-53, a hundredth of an ulp of float32) and the quotients in
#: float64, rounded once: within 2 ulp (measured 1.5), where float64 arithmetic gave 0.5 at 1.2-1.5x the time
NUMBA_SINGLE = replace(NUMBA, name="numba, float32 results", single=True, float32_exp=True)
#: kernels that have a float32-results twin are called with a float64 out only
NUMBA_DOUBLE = replace(NUMBA, name="numba, float64 results", float64_out=True)
LANES_SINGLE = replace(LANES, name="lanes, float32 results", single=True)


class _Printer:
    """Scalar code for one kernel; every node type has one rule in ``code``."""

    def __init__(self, class_index: sp.Symbol, dialect: Dialect = NUMBA, out_sum: int | None = None):
        self.dialect = dialect
        self.out_sum = out_sum  # the number of the sum whose terms go into out's row, if any
        self.class_index = class_index
        self.sums: list[_Sum] = []
        self.reads: dict = {}  # expression -> code that already holds its value
        self.hoisted: list[tuple[str, str]] = []
        self.inverses: dict[str, str] = {}  # rows as lanes: a divisor's code -> the array of its inverses
        self.ahead = False  # the first sum's terms loop also finds the next row's maximum (top)

    # -- sums -----------------------------------------------------------------
    def collect_sums(self, expr: sp.Expr) -> None:
        """Every sum in expr, innermost first, each once, with a buffer for its terms."""
        for node in sp.postorder_traversal(expr):
            if isinstance(node, sp.Sum) and node not in self.reads:
                self._add_sum(node)

    def _add_sum(self, node: sp.Sum) -> None:
        if len(node.limits) != 1:
            raise LoweringError(f"a sum over several indices ({node}) has no loop rule")
        var, lower, upper = node.limits[0]
        if lower != 1 or str(upper) != "K":
            raise LoweringError(f"the sum {node} is not over 1..K")
        term, skip = node.function, "-1"
        for factor in sp.Mul.make_args(node.function):
            label = _skipped_label(factor, var)
            if label is not None:
                term, skip = sp.Mul(*[f for f in sp.Mul.make_args(node.function) if f is not factor]), label
                break
        number = len(self.sums)
        faithful = all(isinstance(f, sp.exp) for f in sp.Mul.make_args(term))
        entry = _Sum(f"s{number}", f"buffer{number}", var, term, skip, faithful, number == self.out_sum)
        self.sums.append(entry)
        self.reads[node] = entry.name + self.dialect.lane
        # the buffer holds every term, the skipped one too: f_k and f_gamma are read from it
        for index, code in ((self.class_index, "k"), (gamma, "g"), (mu, "mu")):
            if self.dialect.lane:
                at = code if code == "k" else code + self.dialect.lane
                self.reads.setdefault(term.xreplace({var: index}), f"{entry.buffer}[{at}, l]")
            else:
                self.reads.setdefault(term.xreplace({var: index}), entry.at(code))

    # -- expressions ----------------------------------------------------------
    def code(self, e: sp.Expr, loop: dict) -> str:
        """Python code for e; `loop` maps the index symbols in scope to their loop variables."""
        if e in self.reads:
            return self.reads[e]
        if isinstance(e, sp.Indexed):
            if str(e.base) not in _INPUTS:
                raise LoweringError(f"no input holds {e}")
            return self.dialect.entry.format(base=e.base, index=self._index(e.indices[0], loop))
        if e.is_Integer or e.is_Float:
            return repr(float(e))
        if e.is_Rational:
            return f"({float(e.p)!r} / {float(e.q)!r})"
        if e == m:
            return "m" + self.dialect.lane
        if isinstance(e, sp.exp):
            difference = _shifted_operand(e.args[0])
            if difference is not None:
                helper = "_exp_shifted_float32" if self.dialect.float32_exp \
                    else "_exp_shifted_single" if self.dialect.single else f"{self.dialect.helper}_exp_shifted"
                return f"{helper}({self.code(difference, loop)}, m{self.dialect.lane})"
            if self.dialect.python:
                return f"math.exp({self.code(e.args[0], loop)})"
            return f"_exp_plus({self.code(e.args[0], loop)}, 0.0)"
        if isinstance(e, sp.log):
            arg = e.args[0]
            rest = arg - 1
            if sp.Add.make_args(arg).count(sp.Integer(1)):
                return f"math.log1p({self.code(rest, loop)})"
            return f"math.log({self.code(arg, loop)})"
        if isinstance(e, sp.KroneckerDelta):
            a, b = (self._index(x, loop) for x in e.args)
            return f"(1.0 if {a} == {b} else 0.0)"
        if isinstance(e, sp.Add):
            return self._sum_of_terms(e, loop)
        if isinstance(e, sp.Mul):
            return self._product(e, loop)
        if isinstance(e, sp.Pow):
            if e.exp == -1:
                return f"(1.0 / {self.code(e.base, loop)})"
            if e.exp == 2:
                base = self.code(e.base, loop)
                return f"({base} * {base})"
            raise LoweringError(f"no loop rule for the power {e}")
        raise LoweringError(f"no loop rule for {type(e).__name__}: {e}")

    def _sum_of_terms(self, e: sp.Add, loop: dict) -> str:
        """Terms added left to right, positive ones first; a logit and the shift m of opposite signs are
        paired first, (z_k - m) or (m - z_gamma), so the difference of two large numbers is formed before
        anything small is added to either (-m - h + z_k would lose h to the rounding of -m - h)."""
        args = list(_ordered(e.args))
        pair = []
        for sign in (1, -1):
            shift = sign * m
            logit = next((a for a in args if isinstance(-sign * a, sp.Indexed) and str((-sign * a).base) == "z"),
                         None)
            if shift in args and logit is not None:
                pair = [shift, logit] if sign == 1 else [logit, shift]
                pair = sorted(pair, key=lambda a: _negative(a))
                break
        rest = sorted([a for a in args if a not in pair], key=_negative)
        codes = [self.code(a, loop) for a in pair + rest]
        text = codes[0]
        for code in codes[1:]:
            text += f" - {code[1:]}" if code.startswith("-") else f" + {code}"
            if pair and code == self.code(pair[-1], loop) and len(codes) > 2:
                text = f"({text})"
        return f"({text})"

    def _product(self, e: sp.Mul, loop: dict) -> str:
        numerator, denominator, sign = [], [], ""
        for factor in _ordered(e.args):
            if factor == -1:
                sign = "-"
            elif isinstance(factor, sp.Pow) and factor.exp == -1:
                denominator.append(self.code(factor.base, loop))
            else:
                numerator.append(self.code(factor, loop))
        top = " * ".join(numerator) or "1.0"
        bottom = " * ".join(denominator)
        invariant = not any(factor.base.free_symbols & set(loop) for factor in e.args
                            if isinstance(factor, sp.Pow) and factor.exp == -1)
        if denominator and invariant and self.dialect.lane:  # each row's inverse computed once, in lanes
            inverse = self.inverses.setdefault(bottom, f"inverse{len(self.inverses)}") + self.dialect.lane
            helper = "_quotient_single_by" if self.dialect.single else "_quotient_by"
            return f"{sign}{helper}({top}, {bottom}, {inverse})"
        if denominator and invariant and not self.dialect.python:  # the same divisor for the whole loop
            helper = "_quotient_single" if self.dialect.single else "_quotient"
            return f"{sign}{helper}({top}, {bottom})"
        text = f"{top} / ({bottom})" if denominator else top
        return f"{sign}({text})" if sign or denominator else text

    def _index(self, index, loop: dict) -> str:
        if index in loop:
            return loop[index]
        if index in _LABELS:
            return _LABELS[index] + self.dialect.lane
        raise LoweringError(f"the index {index} is neither a loop index nor a label")

    # -- statements -----------------------------------------------------------
    def sum_lines(self) -> list[str]:
        lines = []
        for entry in self.sums:
            lines += self.hoist(entry.term, entry.var)
            term = self.code(entry.term, {entry.var: 'i'})
            skipped = f", skipping i = {entry.skip}" if entry.skip != "-1" else ""
            if self.dialect.python and _shifted_operand(entry.term.args[0] if isinstance(entry.term, sp.exp)
                                                        else sp.S.Zero) is not None:
                lines.append(f"{entry.buffer} = _py_exp_shifted_row(zr, m)  # the terms of {_comment(entry.term)}")
            elif self.dialect.python:
                lines.append(f"{entry.buffer} = [{term} for i in range(K)]  # the terms of {_comment(entry.term)}")
            elif entry.faithful and self.dialect.single:  # the plain sum, exact enough for float32 results
                lines += self._terms_and_estimate(entry, term)
                lines.append(f"{entry.name} = estimate{entry.name[1:]}  # the plain sum over i{skipped}")
                continue
            elif _whole_softmax_sum(entry):  # terms <= 1, one of them 1
                lines += self._split_as_written(entry, term)
                continue
            elif entry.faithful and entry.skip == "g" and _shifted_operand(entry.term.args[0]) is not None:
                label_logit = self.code(_shifted_operand(entry.term.args[0]).xreplace({entry.var: gamma}), {})
                lines.append(f"if {label_logit} < m:  # the maximum is among the terms summed: s in [1, K]")
                lines += ["    " + line for line in self._split_as_written(entry, term)]
                lines.append("else:  # the label holds the maximum: the sum may be tiny, its split point found from it")
                lines += ["    " + line for line in self._terms_and_estimate(entry, term)]
                lines.append(f"    {entry.name} = _sum_split({entry.array}, {entry.skip}, estimate{entry.name[1:]})"
                             f"  # faithful sum over i{skipped}")
                continue
            elif entry.faithful:  # the plain sum, for the split, formed while the terms are written
                lines += self._terms_and_estimate(entry, term)
                lines.append(f"{entry.name} = _sum_split({entry.array}, {entry.skip}, estimate{entry.name[1:]})"
                             f"  # faithful sum over i{skipped}")
                continue
            else:
                lines.append(f"for i in range(K):  # the terms of {_comment(entry.term)}")
                lines += self._term_lines(entry, term)
            helper = self.dialect.helper + ("_sum_faithful" if entry.faithful else "_sum_compensated")
            lines.append(f"{entry.name} = {helper}({entry.array}, {entry.skip})  # sum over i{skipped}")
        return lines

    def inverse_lines(self) -> list[str]:
        """Rows as lanes: each divisor's inverse, once per row, for the divisions the printed code made."""
        return _in_lanes([f"{name}[l] = 1.0 / {bottom}" for bottom, name in self.inverses.items()])

    def _term_lines(self, entry: _Sum, term: str) -> list[str]:
        """The line in a terms loop that writes term i; in the first one of a kernel that looks ahead, also the
        next row's maximum: that row streams in while this one's exps are computed, and its own pass is saved."""
        lines = [f"    {entry.at('i')} = {term}"]
        if self.ahead and entry is self.sums[0]:
            lines.append("    top = _maximum(top, z[following, i])  # the next row's maximum, a NaN carried into it")
        return lines

    @staticmethod
    def _kept(entry: _Sum, at: str) -> str:
        """The term at `at` as it enters the sum: 0 at the skipped index."""
        return at + (f" if i != {entry.skip} else 0.0" if entry.skip != "-1" else "")

    def _terms_and_estimate(self, entry: _Sum, term: str) -> list[str]:
        """The loop that writes the terms and forms their plain sum (the estimate that places the split)."""
        number = entry.name[1:]
        if _float32_terms(entry, self.dialect):
            return self._float32_terms_and_sum(entry, term)
        return [f"estimate{number} = 0.0",
                f"for i in range(K):  # the terms of {_comment(entry.term)}",
                *self._term_lines(entry, term),
                f"    estimate{number} = _add_reassoc(estimate{number}, {self._kept(entry, entry.at('i'))})"]

    def _float32_terms_and_sum(self, entry: _Sum, term: str) -> list[str]:
        """float32 exps in a loop of their own (it vectorises at 16 lanes; a float64 sum in it would halve
        that), then their plain sum in float64.  A sum that leaves out a label which is not the maximum is the
        sum of all minus the label's term: the others hold the maximum's 1, so their sum s >= 1 >= that term
        and the difference loses nothing (error 2K 2^-53 s), without a select in the loop."""
        estimate = f"estimate{entry.name[1:]}"
        written = f"float({entry.at('i')})"
        lines = [f"for i in range(K):  # the terms of {_comment(entry.term)}, in float32",
                 *self._term_lines(entry, term)]
        if entry.skip != "g":
            return lines + self._float64_sum(estimate, self._kept(entry, written))
        label_logit = self.code(_shifted_operand(entry.term.args[0]).xreplace({entry.var: gamma}), {})
        return lines + [f"if {label_logit} < m:  # the maximum is among the others: their sum >= 1 >= the label's"] \
            + _indented(self._float64_sum(estimate, written)) \
            + [f"    {estimate} = {estimate} - float({entry.at('g')})",
               "else:  # the label holds the maximum: the others are summed without it"] \
            + _indented(self._float64_sum(estimate, self._kept(entry, written)))

    @staticmethod
    def _float64_sum(name: str, kept: str) -> list[str]:
        """The plain float64 sum of float32 terms, in a loop of its own."""
        return [f"{name} = 0.0", "for i in range(K):  # their plain sum, in float64",
                f"    {name} = _add_reassoc({name}, {kept})"]

    def _split_as_written(self, entry: _Sum, term: str) -> list[str]:
        """The faithful sum of terms in [0, 1] that include a 1, split in the loop that writes them: the
        split point is known before it (``_split_point``), so no estimate and no second pass are needed."""
        number = entry.name[1:]
        lines = [f"sigma{number} = _split_point(K)", f"high{number} = 0.0", f"low{number} = 0.0",
                 f"for i in range(K):  # the terms of {_comment(entry.term)}, split as they are written",
                 *self._term_lines(entry, term),
                 f"    kept = {entry.at('i')}",
                 f"    part = (kept + sigma{number}) - sigma{number}  # exact",
                 f"    high{number} = _add_reassoc(high{number}, part)  # exact, in any order",
                 f"    low{number} = _add_reassoc(low{number}, kept - part)"]
        if entry.skip != "-1":  # its parts taken out again after the loop, not a select in it: the high sum
            skipped = entry.at(entry.skip)  # stays exact, the low one gains one rounding far below ulp(s)
            lines += [f"part = ({skipped} + sigma{number}) - sigma{number}  # the skipped term's, as in the loop",
                      f"high{number} = high{number} - part  # exact",
                      f"low{number} = low{number} - ({skipped} - part)"]
        return lines + [f"{entry.name} = high{number} + low{number}  # faithful sum over i"]

    def hoist(self, expr: sp.Expr, loop_index: sp.Symbol) -> list[str]:
        """Assign every largest subexpression free of the loop index (and not already a name) before the loop."""
        lines = []

        def visit(e):
            if e in self.reads or isinstance(e, sp.Sum):
                return  # computed already (sums are computed before any loop that reads them)
            if isinstance(e, sp.Pow) and e.exp == -1:
                return visit(e.base)  # divide by it in the loop: a division is correctly rounded, x * (1/d) not
            if loop_index not in e.free_symbols and not e.is_Atom \
                    and not isinstance(e, sp.Indexed) and not (e.is_Mul and e.args[0] == -1 and len(e.args) == 2):
                name = f"h{len(self.hoisted)}" + self.dialect.lane
                code = self.code(e, {})
                self.hoisted.append((name, code))
                self.reads[e] = name
                lines.append(f"{name} = {code}  # {_comment(e)}")
                return
            for a in e.args:
                if isinstance(a, sp.Expr):
                    visit(a)

        if loop_index in expr.free_symbols:
            visit(expr)
        return lines


def _indented(lines: list[str]) -> list[str]:
    return ["    " + line for line in lines]


def _negative(e) -> bool:
    return e.could_extract_minus_sign()


def _ordered(args):
    return sorted(args, key=sp.default_sort_key)


def _comment(e) -> str:
    text = sp.sstr(e)
    return text if len(text) <= 80 else text[:77] + "..."


def _whole_softmax_sum(entry: _Sum) -> bool:
    """Whether a sum is sum_i e^(z_i - m) over every i: terms in [0, 1], one of them 1 (``_split_point``); such a
    sum is always a faithful one (its terms are exponentials)."""
    return entry.skip == "-1" and isinstance(entry.term, sp.exp) and _shifted_operand(entry.term.args[0]) is not None


def _float32_terms(entry: _Sum, dialect: Dialect) -> bool:
    """Whether a sum's terms are e^(z_i - m) computed and kept in float32 (the float32_exp dialect)."""
    return dialect.float32_exp and isinstance(entry.term, sp.exp) and _shifted_operand(entry.term.args[0]) is not None


def _skipped_label(factor, var):
    """The label code if factor is 1 - delta(var, label) (the sum leaves that entry out), else None."""
    if isinstance(factor, sp.Add) and len(factor.args) == 2 and sp.Integer(1) in factor.args:
        other = next(a for a in factor.args if a != 1)
        if other.is_Mul and other.args[0] == -1 and len(other.args) == 2 \
                and isinstance(other.args[1], sp.KroneckerDelta):
            a, b = other.args[1].args
            label = b if a == var else a if b == var else None
            if label in _LABELS and label is not j:
                return _LABELS[label]
    return None


def _shifted_operand(arg):
    """z_i where arg is z_i - m (the shifted exponent), else None."""
    parts = sp.Add.make_args(arg)
    if len(parts) == 2 and -m in parts:
        other = next(p for p in parts if p != -m)
        if isinstance(other, sp.Indexed) and str(other.base) == "z":
            return other
    return None


def lower(kernel, expr, scatter=None, dialect: Dialect = NUMBA) -> LoopKernel:
    """The loop code for one kernel (an expression the checker proved, with canonical sums).

    NUMBA: arguments are 2-D arrays and ``out`` is filled in place.  PYTHON: arguments are lists of
    rows of floats (``z.tolist()``), labels a list of ints, and ``out`` a list whose entry r receives
    the row's results as a list.  LANES: as NUMBA, rows transposed into lanes (``lower_lanes``)."""
    if dialect.lane:
        return lower_lanes(kernel, expr, scatter, dialect)
    lowered = _lower_rows(kernel, expr, scatter, dialect)
    if (dialect.float64_out or dialect.float32_exp) and kernel.output == "vec":
        number = _sum_out_can_hold(lowered, _FLOAT32_BUFFER if dialect.float32_exp else NUMBA.buffer)
        if number is not None:
            lowered = _lower_rows(kernel, expr, scatter, dialect, out_sum=number)
    return lowered


#: numba kernels that take labels check them before reading with them and return the first bad row (else -1):
#: the module's fast path then skips its own pass over the labels and reports the bad one as that pass would
_LABEL_CHECK = "if not 0 <= {label} < K:  # a label out of range: no entry of the row is read with it"

#: a buffer for terms computed in float32
_FLOAT32_BUFFER = "np.empty(K, np.float32)"


def _sum_out_can_hold(lowered: LoopKernel, allocation: str) -> int | None:
    """The first sum whose terms can be written into the row of out itself, saving a K-long buffer that large
    rows push out of the cache (measured, gradient: 4096 x 1000 5.22 -> 4.66 ms, 64 x 50 000 3.96 -> 3.23
    ms): the loop that fills out may read that buffer only at its own entry k, which it reads before it
    writes, and nothing after that loop may read it.  Only a buffer allocated as `allocation`: float64 terms
    in a float64 out, float32 terms in a float32 out (an out of another type would round or widen them);
    out never shares memory with an input (the module's _output)."""
    rows = lowered.body.index("for r in range(rows):")
    loop = next(n for n, line in enumerate(lowered.body) if line.strip() == "for k in range(K):")
    after = "\n".join(lowered.body[loop + 1:])
    for number, line in enumerate(lowered.body[1:rows]):  # the buffers' allocations, in order
        buffer = f"buffer{number}"
        if line == f"{buffer} = {allocation}" and after.count(f"{buffer}[k]") == after.count(buffer):
            return number
    return None


def _lower_rows(kernel, expr, scatter, dialect: Dialect, out_sum: int | None = None) -> LoopKernel:
    """``lower`` for the row-by-row dialects, with sum number `out_sum` kept in out's row."""
    inputs = list(kernel.inputs)
    printer = _Printer(kernel.class_index, dialect, out_sum)
    for e in (expr, scatter):
        if e is not None:
            printer.collect_sums(e)
    head = "z" if "z" in inputs else "y"
    if dialect.python:
        body = [f"rows, K = len({head}), len({head}[0])"]
    else:
        body = [f"rows, K = {head}.shape[0], {head}.shape[1]"]
        body += [f"{entry.buffer} = {_FLOAT32_BUFFER if _float32_terms(entry, dialect) else dialect.buffer}"
                 for entry in printer.sums if not entry.in_out]
    # the next row's maximum found in the loop that computes this row's exps: one pass over the row fewer, and
    # that loop, compute-bound, hides the next row's stream from memory (measured against finding it in the
    # last loop instead: faster at 17 of 20 shapes, up to 5x where that way hit a pathological case, 1.14x
    # slower at 4096 x 1000 float64)
    ahead = _looks_ahead(kernel, printer, expr, scatter, dialect)
    if ahead:
        printer.ahead = True
        body += ["known = False  # whether m_ahead, usable_ahead hold row r's maximum",
                 "m_ahead, usable_ahead = 0.0, False"]
    body.append("for r in range(rows):")
    row = [f"{name}r = {name}[r]" for name in inputs if name in _INPUTS] if dialect.python else []
    if "gamma" in inputs:
        row.append("g = gamma[r]")
        if not dialect.python:  # the Python dialect gets labels that _labels checked
            row += [_LABEL_CHECK.format(label="g"), "    return r"]
    if ahead:
        row += ["if known:  # found while the previous row was computed",
                "    m, usable = m_ahead, usable_ahead",
                "else:",
                "    m, usable = _row_max_value(z, r)  # m = max_k z_k",
                "known = False"]
    elif "z" in inputs:
        if _uses_mu(printer, expr, scatter) or dialect.python:
            row.append(f"m, mu, usable = {dialect.row_max}  # m = z_mu = max_k z_k")
        else:  # the index of the maximum is not read: not looked for
            row.append("m, usable = _row_max_value(z, r)  # m = max_k z_k")
    if "z" in inputs:
        row.append("if not usable:  # NaN, +inf or no finite logit: the row has no softmax")
        width = "K" if kernel.output == "vec" else "1"
        row.append(f"    {dialect.nan_row.format(width=width)}")
        row.append("    continue")
    if ahead:
        row += ["following = min(r + 1, rows - 1)  # the last row reads itself again: harmless",
                "top = z[following, 0]"]
    row += printer.sum_lines()
    if ahead:
        row += ["m_ahead = float(top)",
                "usable_ahead = -math.inf < m_ahead < math.inf",
                "known = r + 1 < rows"]
    k = kernel.class_index
    if kernel.output == "row" and dialect.python:
        row += [f"out[r] = [{printer.code(expr, {})}]"]
    elif kernel.output == "row":
        row += [f"out[r, 0] = {printer.code(expr, {})}"]
    elif kernel.output == "vec" and dialect.python:
        row += printer.hoist(expr, k)
        row.append(f"out[r] = [{printer.code(expr, {k: 'k'})} for k in range(K)]")
        if scatter is not None:
            row.append(f"out[r][g] = {printer.code(scatter, {})}  # the label entry")
    elif kernel.output == "vec":
        row += printer.hoist(expr, k)
        row.append("for k in range(K):")
        row.append(f"    out[r, k] = {printer.code(expr, {k: 'k'})}")
        if scatter is not None:
            row.append(f"out[r, g] = {printer.code(scatter, {})}  # the label entry")
    elif kernel.output == "matrix" and not dialect.python:
        row.append("for j in range(K):")
        row.append("    for k in range(K):")
        row.append(f"        out[r, j, k] = {printer.code(expr, {k: 'k', j: 'j'})}")
    else:
        raise LoweringError(f"kernel {kernel.name}: unknown output kind {kernel.output}")
    if ahead and not any(line.strip().startswith("top = _maximum(top, z[following, i])") for line in row):
        raise LoweringError(f"kernel {kernel.name}: no loop found the next row's maximum")  # never a wrong m
    body += ["    " + line for line in row]
    if "gamma" in inputs and not dialect.python:
        body.append("return -1  # every label in range")
    return LoopKernel(kernel.name, ", ".join(inputs + ["out"]), body)


def lower_lanes(kernel, expr, scatter=None, dialect: Dialect = LANES) -> LoopKernel:
    """The numba function for many short rows: blocks of _lanes(K) rows transposed, every loop over the rows of
    the block (the lanes), so it vectorises however few classes a row has.  The same proved expression and
    the same algorithm as ``lower`` (row maximum, carried remainder, the faithful split sum per row, the label
    left out of its sum); kernels that read logits and give a vector or a row value only."""
    inputs = list(kernel.inputs)
    if "z" not in inputs or kernel.output not in ("vec", "row"):
        raise LoweringError(f"kernel {kernel.name}: the lanes layout needs logits and a vector or row result")
    printer = _Printer(kernel.class_index, dialect)
    for e in (expr, scatter):
        if e is not None:
            printer.collect_sums(e)
    transposed = [name for name in inputs if name in _INPUTS]
    block: list[str] = ["n = min(lanes, rows - start)"]
    for name in transposed:
        block += ["for l in range(n):", "    for i in range(K):", f"        {name}t[i, l] = {name}[start + l, i]"]
    if "gamma" in inputs:
        block += ["for l in range(n):", "    g[l] = gamma[start + l]",
                  f"    {_LABEL_CHECK.format(label='g[l]')}", "        return start + l"]
    block += ["for l in range(n):", "    m[l] = -math.inf",
              "for i in range(K):  # the row maxima, a NaN carried into them",
              "    for l in range(n):", "        m[l] = _maximum(m[l], zt[i, l])",
              "for l in range(n):  # a row without a softmax computes on harmless values, then is NaN",
              "    usable[l] = -math.inf < m[l] < math.inf",
              "    m[l] = m[l] if usable[l] else 0.0",
              ]
    if _uses_mu(printer, expr, scatter):
        block += ["for l in range(n):", "    mu[l] = K",
                  "for i in range(K):  # the least index holding the maximum",
                  "    for l in range(n):", "        mu[l] = min(mu[l], i if zt[i, l] == m[l] else K)",
                  "for l in range(n):", "    mu[l] = mu[l] if mu[l] < K else 0"]
    for entry in printer.sums:
        number = entry.name[1:]
        block += _in_lanes(printer.hoist(entry.term, entry.var))
        term = printer.code(entry.term, {entry.var: "i"})
        skip = "-1" if entry.skip == "-1" else entry.skip + "[l]"
        kept = f"{entry.buffer}[i, l]" + (f" if i != {skip} else 0.0" if skip != "-1" else "")
        split_as_written = _whole_softmax_sum(entry) and not printer.dialect.single
        accumulators = ("high", "low") if split_as_written else ("total", "error")
        block += ["for l in range(n):", *(f"    {name}[l] = 0.0" for name in accumulators),
                  f"for i in range(K):  # the terms of {_comment(entry.term)}", "    for l in range(n):",
                  f"        {entry.buffer}[i, l] = {term}"]
        if entry.faithful and printer.dialect.single:  # the plain sum
            block += [f"        total[l] += {kept}", "for l in range(n):", f"    s{number}[l] = total[l]"]
        elif split_as_written:  # the split at a point known before the loop
            block += [f"        part = ({entry.buffer}[i, l] + split) - split  # exact",
                      "        high[l] += part", f"        low[l] += {entry.buffer}[i, l] - part",
                      "for l in range(n):", f"    s{number}[l] = high[l] + low[l]"]
        elif entry.faithful:  # the split sum of _sum_split, row by row in lanes: total is the estimate
            block += [f"        total[l] += {kept}",
                      "for l in range(n):",
                      "    sigma[l] = _pow2(min(_exponent(max(total[l], 2.2250738585072014e-308)) + 2, 1023))",
                      "    high[l] = 0.0",
                      "    low[l] = 0.0",
                      "for i in range(K):", "    for l in range(n):", f"        v = {kept}",
                      "        h = (v + sigma[l]) - sigma[l]  # exact, and the high parts add exactly",
                      "        high[l] += h", "        low[l] += v - h",
                      "for l in range(n):",
                      f"    s{number}[l] = high[l] + low[l] if 2.2250738585072014e-308 <= total[l] < 1e300 "
                      "else total[l]"]
        else:  # Neumaier's compensated sum, row by row in lanes
            block += [f"        v = {kept}", "        new = total[l] + v",
                      "        if abs(total[l]) >= abs(v):", "            error[l] += (total[l] - new) + v",
                      "        else:", "            error[l] += (v - new) + total[l]", "        total[l] = new",
                      "for l in range(n):", f"    s{number}[l] = total[l] + error[l]"]
    k = kernel.class_index
    if kernel.output == "vec":  # computed in lanes, then transposed back into the rows of out
        block += _in_lanes(printer.hoist(expr, k))
        entry = printer.code(expr, {k: 'k'})
        label = printer.code(scatter, {}) if scatter is not None else None
        block += printer.inverse_lines()
        block += ["for k in range(K):", "    for l in range(n):", f"        result[k, l] = {entry}",
                  "for l in range(n):", "    for k in range(K):", "        out[start + l, k] = result[k, l]"]
        if label is not None:
            block += ["for l in range(n):", f"    out[start + l, g[l]] = {label}  # the label"]
    else:
        value = printer.code(expr, {})
        block += printer.inverse_lines()
        block += ["for l in range(n):", f"    out[start + l, 0] = {value}"]
    block += ["for l in range(n):", "    if not usable[l]:  # NaN, +inf or no finite logit: no softmax",
              "        out[start + l] = np.nan"]
    body = ["rows, K = z.shape[0], z.shape[1]", "lanes = _lanes(K)"]
    if any(_whole_softmax_sum(entry) for entry in printer.sums) and not dialect.single:
        body.append("split = _split_point(K)")
    body += [f"{name}t = np.empty((K, lanes))" for name in transposed]
    body += [f"{entry.buffer} = np.empty((K, lanes))" for entry in printer.sums]
    if kernel.output == "vec":
        body.append("result = np.empty((K, lanes))")
    body += ["m = np.empty(lanes)", "mu = np.empty(lanes, np.int64)",
             "usable = np.empty(lanes, np.bool_)", "g = np.empty(lanes, np.int64)",
             "total = np.empty(lanes)", "error = np.empty(lanes)", "sigma = np.empty(lanes)",
             "high = np.empty(lanes)", "low = np.empty(lanes)"]
    body += [f"{entry.name} = np.empty(lanes)" for entry in printer.sums]
    body += [f"{name[:-3]} = np.empty(lanes)" for name, _ in printer.hoisted]
    body += [f"{name} = np.empty(lanes)" for name in printer.inverses.values()]
    body.append("for start in range(0, rows, lanes):")
    body += ["    " + line for line in block]
    if "gamma" in inputs:
        body.append("return -1  # every label in range")
    return LoopKernel(kernel.name, ", ".join(inputs + ["out"]), body)


def _looks_ahead(kernel, printer: _Printer, expr, scatter, dialect: Dialect) -> bool:
    """Whether a row-by-row numba kernel finds the next row's maximum while it computes this row: kernels that
    read logits, write a vector, need only the maximum's value (not its index) and whose first sum is over
    e^(z_i - m), the loop every row with a softmax runs."""
    return not dialect.python and not dialect.lane and "z" in kernel.inputs and kernel.output == "vec" \
        and not _uses_mu(printer, expr, scatter) and bool(printer.sums) \
        and isinstance(printer.sums[0].term, sp.exp) and _shifted_operand(printer.sums[0].term.args[0]) is not None


def _uses_mu(printer: _Printer, expr, scatter) -> bool:
    """Whether the kernel reads the index of the row maximum (in a sum that leaves it out, or as z_mu)."""
    return any(e is not None and mu in e.free_symbols for e in (expr, scatter)) \
        or any(entry.skip == _LABELS[mu] for entry in printer.sums)


def _in_lanes(lines: list[str]) -> list[str]:
    """Row-level assignments, done for every row of the block."""
    return ["for l in range(n):"] + ["    " + line for line in lines] if lines else []
