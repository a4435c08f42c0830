"""Lowering: index-form SymPy expressions -> straight-line NumPy statements.

SymPy's own NumPy printer prints ``Sum`` as a Python loop and a Kronecker delta
as ``1 if i == j else 0``.  Here the index form is mapped to array axes on
purpose:

* the free class index is the last axis of a ``(rows, K)`` block ("vec");
* a sum over the class index is a reduction along it, giving a ``(rows, 1)``
  column ("row");
* ``z_gamma``, ``e_mu``: a class-indexed value at a per-row label is a gather;
* ``sum_i (1 - delta_{i gamma}) f_i`` is the sum of f with the label entry left
  out (never ``sum - f_gamma``, which cancels);
* ``e^{a - b}`` with a vector a and a row b is evaluated from the exact
  difference: ``d = fl(a - b)`` and the remainder ``r`` with ``d + r = a - b``
  exactly (TwoSum), then ``e^d (1 + r)`` -- the rounding of ``d`` would
  otherwise be amplified by exp;
* ``ln(1 + x)`` is ``log1p(x)``.

Every operation writes into a preallocated buffer (``out=``); a buffer is
reused once the value in it is dead.  An expression the rules do not cover
raises :class:`LoweringError` instead of producing half code.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import sympy as sp

from ..errors import LoweringError
from ..notation import K, z


@dataclass
class Operand:
    code: str
    kind: str  # "vec" (rows, K), "row" (rows, 1) or "const"
    buffer: str | None = None  # set when the value lives in a reusable temporary


@dataclass
class Emitter:
    """Emits the statements of one kernel; see the module docstring for the rules."""

    class_index: sp.Symbol
    bindings: dict  # SymPy atom -> Operand (inputs and earlier assignments)
    labels: dict  # label index symbol (gamma, mu) -> name of its flat-index array
    shift: sp.Symbol | None = None  # the row shift m: a difference with it is computed first
    head: str = "z"  # the kernel's first (rows, K) argument, which gives buffer shapes
    lines: list = field(default_factory=list)
    allocations: list = field(default_factory=list)
    _free: dict = field(default_factory=lambda: {"vec": [], "row": []})
    _count: Counter = field(default_factory=Counter)
    _uses: Counter = field(default_factory=Counter)
    _cache: dict = field(default_factory=dict)
    #: the vector the final operation reads and then no one else: it may live in `out` itself
    output_alias: str | None = None

    # -- buffers --------------------------------------------------------------
    def _forget(self, buffer: str) -> None:
        """A buffer is about to be overwritten: cached values that live in it are gone."""
        for key in [key for key, op in self._cache.items() if op.buffer == buffer]:
            del self._cache[key]

    def _alloc(self, kind: str) -> str:
        if self._free[kind]:
            name = self._free[kind].pop()
            self._forget(name)
            return name
        name = f"{kind[0]}{self._count[kind]}"
        self._count[kind] += 1
        # all work in float64: float32 input is converted per block, results rounded once
        shape = f"{self.head}.shape" if kind == "vec" else f"({self.head}.shape[0], 1)"
        self.allocations.append(f"{name} = np.empty({shape})")
        return name

    def _release(self, op: Operand, node=None) -> None:
        if node is not None:
            self._uses[node] -= 1
            if self._uses[node] > 0:
                return
        if op.buffer is not None and op.buffer != self.output_alias \
                and op.buffer not in self._free["vec"] + self._free["row"]:
            self._free[op.kind].append(op.buffer)

    def count_uses(self, exprs) -> None:
        """How often each subexpression is read, as the lowering will see it (sum bodies on the class axis)."""

        def visit(node):
            self._uses[node] += 1
            for child in self._children(node):
                visit(child)

        for e in exprs:
            visit(e)

    def _target(self, kind: str, reusable: list[tuple[Operand, object]]) -> str:
        """An output buffer: a dying temporary operand of the same kind if any, else a new one."""
        for op, node in reusable:
            if op.buffer is not None and op.kind == kind and self._uses[node] <= 1:
                self._forget(op.buffer)
                return op.buffer
        return self._alloc(kind)

    # -- lowering -------------------------------------------------------------
    def lower(self, expr: sp.Expr, into: str | None = None) -> Operand:
        """Emit statements computing expr; return where its value is."""
        if expr in self._cache:
            cached = self._cache[expr]
            self._consume_inside(expr)  # this occurrence's subexpressions will not be read
            if into is not None:
                self.lines.append(f"np.copyto({into}, {cached.code})")
            return cached
        op = self._lower(expr, into)
        if into is None:
            self._cache[expr] = op
        return op

    def _children(self, node):
        if isinstance(node, sp.Sum) and len(node.limits) == 1:
            return [node.function.xreplace({node.limits[0][0]: self.class_index})]
        if isinstance(node, sp.Expr) and not isinstance(node, sp.Indexed):
            return list(node.args)
        return []

    def _consume_inside(self, node) -> None:
        """A reused value: the reads count_uses expected inside this occurrence will not happen."""
        for child in self._children(node):
            self._uses[child] -= 1
            cached = self._cache.get(child)
            if cached is not None and self._uses[child] <= 0:
                self._release(cached)
            self._consume_inside(child)

    def _operand(self, expr, into=None):
        return self.lower(expr, into)

    def _lower(self, expr, into):
        if expr in self.bindings:
            return self.bindings[expr]
        gathered = self._gather_cached(expr)
        if gathered is not None:
            return gathered
        if expr.is_Number:
            return Operand(repr(float(expr)), "const")
        for kind, rule in _RULES.items():
            if isinstance(expr, kind):
                return getattr(self, rule)(expr, into)
        raise LoweringError(f"no lowering rule for {type(expr).__name__}: {expr}")

    def _gather_cached(self, expr):
        """f(z_gamma) when f(z_k) is already a computed vector: read its gamma entry, do not recompute."""
        for label, flat in self.labels.items():
            if label in expr.free_symbols and not isinstance(expr, sp.Indexed):
                as_vector = expr.xreplace({label: self.class_index})
                cached = self._cache.get(as_vector)
                if cached is not None and cached.kind == "vec" and cached.buffer is not None:
                    name = self._alloc("row")
                    self.lines.append(f"{name}[:, 0] = {cached.code}.reshape(-1)[{flat}]  # {sp.sstr(expr)}")
                    return Operand(name, "row", name)
        return None

    def _indexed(self, expr: sp.Indexed, into=None) -> Operand:
        base, (index,) = expr.base, expr.indices
        vec = self.bindings.get(base)
        if vec is None:
            raise LoweringError(f"'{base}' is not an input or an earlier result of this kernel")
        if index == self.class_index:
            return vec
        if index in self.labels:
            name = self._alloc("row")
            self.lines.append(f"{name}[:, 0] = {vec.code}.reshape(-1)[{self.labels[index]}]  # {sp.sstr(expr)}")
            return Operand(name, "row", name)
        raise LoweringError(f"index '{index}' of {expr} is neither the class axis nor a label")

    def _binary(self, ufunc, a: Operand, b: Operand, nodes, into, comment=""):
        kind = "vec" if "vec" in (a.kind, b.kind) else "row"
        target = into or self._target(kind, [(a, nodes[0]), (b, nodes[1])])
        note = f"  # {comment}" if comment else ""
        if into is not None and a.kind == "vec" and a.buffer is not None and self._uses[nodes[0]] <= 1 \
                and a.buffer not in self._free["vec"]:
            self.output_alias = a.buffer  # read for the last time here, elementwise: it can be `out`
        if ufunc == "divide" and into is not None and a.kind == "vec" and b.kind == "row":
            # into a float32 output, a float64 reciprocal (rounded to 2^-53) is far below a float32
            # ulp, and a multiplication is cheaper than a division; when a is read for the last time,
            # in place and then one cast copy, which beats a ufunc casting as it writes (15% at 4096x1000)
            in_place = self.output_alias == a.buffer
            self.lines += [
                f"if {into}.dtype == np.float32:",
                f"    np.multiply({a.code}, 1.0 / {b.code}, out={a.code if in_place else into}){note}",
            ] + ([f"    np.copyto({into}, {a.code}, casting='same_kind')"] if in_place else []) + [
                "else:",
                f"    np.divide({a.code}, {b.code}, out={into}){note}",
            ]
        else:
            self.lines.append(f"np.{ufunc}({a.code}, {b.code}, out={target}){note}")
        for op, node in ((a, nodes[0]), (b, nodes[1])):
            if op.buffer != target:
                self._release(op, node)
        return Operand(target, kind, None if into else target)

    def _difference_vec_row(self, expr):
        """expr = a - b with a a vector and b a row (or constant)?  Returns (a, b) or None."""
        if not isinstance(expr, sp.Add) or len(expr.args) != 2:
            return None
        pos = [x for x in expr.args if not _is_negated(x)]
        neg = [(-x) for x in expr.args if _is_negated(x)]
        if len(pos) == 1 and len(neg) == 1 and self.class_index in pos[0].free_symbols \
                and self.class_index not in neg[0].free_symbols:
            return pos[0], neg[0]
        return None

    def _add(self, expr, into):
        terms = [x for x in expr.args if not _is_negated(x)] + [x for x in expr.args if _is_negated(x)]
        if self.shift is not None and len(terms) > 2:
            # (m - z) + L, never (L + m) - z: the shift and a logit cancel, so they meet first
            for term in terms:
                if term in (self.shift, -self.shift):
                    partner = next((x for x in terms if x is not term and _is_negated(x) != _is_negated(term)
                                    and x.has(z)), None)
                    if partner is not None:
                        first = sp.Add(term, partner)
                        self._uses[first] += 1
                        rest = [x for x in terms if x is not term and x is not partner]
                        return self._add(sp.Add(first, *rest, evaluate=False), into)
        acc_node = terms[0]
        acc = self._operand(acc_node)
        for n, term in enumerate(terms[1:], start=1):
            last = n == len(terms) - 1
            if _is_negated(term):
                value = self._operand(-term)
                acc = self._binary("subtract", acc, value, (acc_node, -term), into if last else None)
            else:
                value = self._operand(term)
                acc = self._binary("add", acc, value, (acc_node, term), into if last else None)
            acc_node = None
        return acc

    def _mul(self, expr, into):
        coeff, rest = expr.as_coeff_Mul()
        if coeff == -1:
            value = self._operand(rest)
            kind = value.kind
            target = into or self._target(kind, [(value, rest)])
            self.lines.append(f"np.negative({value.code}, out={target})")
            if value.buffer != target:
                self._release(value, rest)
            return Operand(target, kind, None if into else target)
        factors = list(sp.Mul.make_args(expr))
        numer = [f for f in factors if not (isinstance(f, sp.Pow) and f.exp == -1)]
        denom = [f.base for f in factors if isinstance(f, sp.Pow) and f.exp == -1]
        if not numer:
            numer = [sp.Integer(1)]
        acc_node = numer[0]
        acc = self._operand(acc_node)
        steps = [("multiply", f) for f in numer[1:]] + [("divide", f) for f in denom]
        for n, (ufunc, f) in enumerate(steps):
            value = self._operand(f)
            acc = self._binary(ufunc, acc, value, (acc_node, f), into if n == len(steps) - 1 else None)
            acc_node = None
        return acc

    def _pow(self, expr, into):
        if expr.exp == -1:
            return self._mul(sp.Mul(1, expr, evaluate=False), into)
        base = self._operand(expr.base)
        target = into or self._target(base.kind, [(base, expr.base)])
        if expr.exp == 2:
            self.lines.append(f"np.square({base.code}, out={target})")
        else:
            self.lines.append(f"np.power({base.code}, {float(expr.exp)!r}, out={target})")
        return Operand(target, base.kind, None if into else target)

    def _exp(self, expr, into):
        pair = self._difference_vec_row(expr.args[0])
        if pair is not None and _is_input(pair[0], self) and pair[1] in self.bindings:
            return self._exp_of_difference(expr, pair, into)
        value = self.lower(expr.args[0])
        target = into or self._target(value.kind, [(value, expr.args[0])])
        self.lines.append(f"np.exp({value.code}, out={target})")
        if value.buffer != target:
            self._release(value, expr.args[0])
        return Operand(target, value.kind, None if into else target)

    def _exp_of_difference(self, expr, pair, into):
        """e^{a - b} = e^d (1 + r) with d = fl(a - b) and r its exact remainder (TwoSum)."""
        arg = expr.args[0]
        a, b = self._operand(pair[0]).code, self.bindings[pair[1]].code
        d = self._operand(arg)
        q, r = self._alloc("vec"), self._alloc("vec")
        self.lines += [
            f"# TwoSum: {r} is the exact remainder of {d.code} = fl({a} - {b}): {d.code} + {r} == {a} - {b}",
            f"np.subtract({d.code}, {a}, out={q})",
            f"np.subtract({d.code}, {q}, out={r})",
            f"np.subtract({a}, {r}, out={r})",
            f"np.add({q}, {b}, out={q})",
            f"np.subtract({r}, {q}, out={r})",
            f"np.copyto({r}, 0.0, where=np.isnan({r}))  # infinite logits: no remainder",
        ]
        target = into or self._target("vec", [(d, arg)])
        self.lines += [
            f"np.exp({d.code}, out={target})  # {sp.sstr(expr)} = e^d e^r, and e^r = 1 + r in double precision",
            f"np.multiply({target}, {r}, out={q})",
            f"np.add({target}, {q}, out={target})",
        ]
        self._free["vec"] += [q, r]
        if d.buffer != target:
            self._release(d, arg)
        return Operand(target, "vec", None if into else target)

    def _log(self, expr, into):
        arg = expr.args[0]
        if isinstance(arg, sp.Add) and sp.Integer(1) in arg.args:
            inner = arg - 1
            value = self._operand(inner)
            fn = "log1p"
        else:
            inner, value, fn = arg, self._operand(arg), "log"
        target = into or self._target(value.kind, [(value, inner)])
        self.lines.append(f"np.{fn}({value.code}, out={target})")
        if value.buffer != target:
            self._release(value, inner)
        return Operand(target, value.kind, None if into else target)

    def _sum(self, expr, into):
        if len(expr.limits) != 1 or expr.limits[0][1:] != (1, K):
            raise LoweringError(f"only sums over 1..K lower to a reduction: {expr}")
        var = expr.limits[0][0]
        body = expr.function.xreplace({var: self.class_index})
        leave_out = None
        factors = sp.Mul.make_args(body)
        for f in factors:
            label = _one_minus_delta(f, self.class_index)
            if label is not None and label in self.labels:
                leave_out = label
                body = sp.Mul(*[g for g in factors if g is not f])
                break
        value = self._operand(body)
        if value.kind != "vec":
            raise LoweringError(f"sum of a term free of the summation index: {expr}")
        target = into or self._alloc("row")
        reduce = self._reduction(body, value.code, target)
        if leave_out is None:
            self.lines.append(f"{reduce}  # {sp.sstr(expr)}")
        else:
            flat = self.labels[leave_out]
            saved = self._alloc("row")
            self.lines += [
                f"# {sp.sstr(expr)}: the sum without the {leave_out} entry, not sum - entry (no cancellation)",
                f"{saved}[:, 0] = {value.code}.reshape(-1)[{flat}]",
                f"{value.code}.reshape(-1)[{flat}] = 0.0",
                reduce,
            ]
            if self._uses[body] > 1:  # the vector is read again later: put the entry back
                self.lines.append(f"{value.code}.reshape(-1)[{flat}] = {saved}[:, 0]")
            # the saved entry is the body at the label: a later f(z_label) reads it instead of gathering again
            self._cache[body.xreplace({self.class_index: leave_out})] = Operand(saved, "row", saved)
        self._release(value, body)
        return Operand(target, "row", None if into else target)

    def _reduction(self, body, vec: str, target: str) -> str:
        """The statement summing vec along the class axis into target.

        A sum of exponentials (a partition sum) divides or is the log of every
        result, so for a float64 result it is summed faithfully (``_row_sums``,
        error < 1 ulp); a plain pairwise ``np.add.reduce`` can be off by several
        ulp.  For a float32 result a plain float64 sum is already thousands of
        times finer than needed.  Other sums (mixed signs, e.g. <v, y>) are pairwise.
        """
        if isinstance(body, sp.exp) or (isinstance(body, sp.Mul) and all(
                isinstance(f, sp.exp) for f in sp.Mul.make_args(body))):
            scratch = self._alloc("vec")
            self._free["vec"].append(scratch)
            return f"_row_sums({vec}, {target}, {scratch}, faithful=out.dtype == np.float64)"
        return f"np.add.reduce({vec}, axis=-1, keepdims=True, out={target})"


#: node type -> the Emitter method that lowers it (the rules of the module docstring)
_RULES = {sp.Indexed: "_indexed", sp.Add: "_add", sp.Mul: "_mul", sp.Pow: "_pow", sp.exp: "_exp",
          sp.log: "_log", sp.Sum: "_sum"}


def _is_input(expr, emitter) -> bool:
    """An input vector along the class axis (z_k, t_k, ...), as opposed to a computed one."""
    return (isinstance(expr, sp.Indexed) and expr.base in emitter.bindings
            and expr.indices == (emitter.class_index,))


def _is_negated(term) -> bool:
    return term.could_extract_minus_sign()


def _one_minus_delta(factor, index):
    """The label L if factor is 1 - delta(index, L), else None."""
    if isinstance(factor, sp.Add) and len(factor.args) == 2 and sp.Integer(1) in factor.args:
        other = [a for a in factor.args if a != 1][0]
        if _is_negated(other) and isinstance(-other, sp.KroneckerDelta):
            a, b = (-other).args[:2]
            if a == index:
                return b
            if b == index:
                return a
    return None


def canonical_sums(expr: sp.Expr) -> sp.Expr:
    """Rename every sum's bound index by nesting depth, so equal sums are one node (computed once)."""

    def height(e):
        if isinstance(e, sp.Sum):
            return 1 + height(e.function)
        return max((height(a) for a in e.args if isinstance(a, sp.Expr)), default=0)

    def walk(e):
        if not isinstance(e, sp.Expr) or not e.args or isinstance(e, sp.Indexed):
            return e
        if isinstance(e, sp.Sum) and len(e.limits) == 1:
            body = walk(e.function)
            var, lower, upper = e.limits[0]
            new = sp.Symbol(f"_i{height(body) + 1}", integer=True, positive=True)
            return sp.Sum(body.xreplace({var: new}), (new, lower, upper))
        return e.func(*[walk(a) for a in e.args])

    return walk(expr)


def matrix_code(expr: sp.Expr, row, col, names: dict, out: str = "out") -> list[str]:
    """Statements writing a two-index expression into ``out[..., row, col]`` with no K x K temporary.

    The Jacobian is quadratic in K, so its temporaries are what costs memory: a
    broadcast expression such as y_k (delta_jk - y_j) builds three K x K arrays
    besides the output.  Instead the expression is split on delta_{row col}:

    * off the diagonal (delta = 0) it must be c f(row) g(col), a rank-one product:
      one ``np.multiply`` of a column and a row vector straight into ``out``
      (and a sign or scale in place);
    * on the diagonal (delta = 1, row = col) it is a vector expression of its own,
      evaluated as written (y_k (1 - y_k), without the cancellation of y_k - y_k^2)
      and assigned to the diagonal view.

    Anything else raises LoweringError rather than falling back to a broadcast.
    """
    delta = sp.KroneckerDelta(row, col)
    off = sp.expand(expr).xreplace({delta: 0})
    diagonal = expr.xreplace({delta: 1}).xreplace({row: col})
    coeff, factors = off.as_coeff_mul()
    by_row = [f for f in factors if row in f.free_symbols and col not in f.free_symbols]
    by_col = [f for f in factors if col in f.free_symbols and row not in f.free_symbols]
    if len(by_row) + len(by_col) != len(factors) or not by_row or not by_col:
        raise LoweringError(f"off the diagonal, {expr} is not a product of a {row} factor and a {col} factor")
    left = vector_code(sp.Mul(*by_row), row, names)
    right = vector_code(sp.Mul(*by_col), col, names)
    lines = [f"np.multiply({left}[..., :, None], {right}[..., None, :], out={out})  # {sp.sstr(off)} off the diagonal"]
    if coeff == -1:
        lines.append(f"np.negative({out}, out={out})")
    elif coeff != 1:
        lines.append(f"np.multiply({out}, {float(coeff)!r}, out={out})")
    lines.append(f"_diagonal({out})[...] = {vector_code(diagonal, col, names)}  # {sp.sstr(diagonal)} on it")
    return lines


def vector_code(expr: sp.Expr, index, names: dict) -> str:
    """An expression in one class index as elementwise NumPy code on the (rows, K) inputs in `names`."""
    if expr.is_Number:
        return repr(float(expr))
    if isinstance(expr, sp.Indexed):
        base, (at,) = expr.base, expr.indices
        if base not in names or at != index:
            raise LoweringError(f"{expr} is not an input of this kernel indexed by {index}")
        return names[base]
    if isinstance(expr, sp.Add):
        return "(" + " + ".join(vector_code(a, index, names) for a in expr.args).replace("+ -", "- ") + ")"
    if isinstance(expr, sp.Mul):
        coeff, rest = expr.as_coeff_Mul()
        body = " * ".join(vector_code(a, index, names) for a in sp.Mul.make_args(rest))
        return body if coeff == 1 else f"-{body}" if coeff == -1 else f"{float(coeff)!r} * {body}"
    raise LoweringError(f"no elementwise rule for {type(expr).__name__}: {expr}")
