"""Lowering: index-form SymPy expressions -> straight-line NumPy statements.

SymPy's own NumPy printer prints ``Sum`` as a Python loop and a Kronecker delta
as ``1 if i == j else 0``.  Here the index form is mapped to array axes on
purpose, by one rule per node type (``_RULES``):

* the free class index is the last axis of a ``(rows, K)`` block ("vec");
* a sum over the class index is a reduction along it, giving a ``(rows, 1)``
  column ("row");
* ``z_gamma``, ``e_mu``: a class-indexed value at a per-row label is a gather;
* ``sum_i (1 - delta_{i gamma}) f_i`` is the sum of f with the label entry left
  out (never ``sum - f_gamma``, which cancels);
* ``e^{a - b}`` with a vector a and a row b is evaluated from the exact
  difference: ``d = fl(a - b)`` and the remainder ``r`` with ``d + r = a - b``
  exactly (TwoSum), then ``e^d (1 + r)`` -- the rounding of ``d`` would
  otherwise be amplified by exp (runtime helpers ``_two_sum_remainder`` and
  ``_exp_with_remainder``);
* ``ln(1 + x)`` is ``log1p(x)``.

Every operation writes into a preallocated buffer (``out=``); which buffer, and
what it is called, is the buffer pool's job (``buffers.py``); where speed is
traded for accuracy is ``precision.py``'s.  A value computed once is read from
its buffer wherever it recurs.  An expression the rules do not cover raises
:class:`LoweringError` instead of producing half code.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import sympy as sp

from ..errors import LoweringError
from ..notation import K, z
from . import precision
from .buffers import Buffer, BufferPool
from .naming import name_of

#: the runtime helpers the lowered statements call (render checks that the runtime defines them)
HELPERS = ("_row_sums", "_two_sum_remainder", "_exp_with_remainder")


@dataclass
class Operand:
    code: str
    kind: str  # "vec" (rows, K), "row" (rows, 1) or "const"
    buffer: Buffer | None = None  # set when the value lives in a reusable temporary


@dataclass
class Emitter:
    """Emits the statements of one kernel; see the module docstring for the rules."""

    class_index: sp.Symbol
    bindings: dict  # SymPy atom -> Operand (inputs and earlier assignments)
    labels: dict  # label index symbol (gamma, mu) -> name of its flat-index array
    shift: sp.Symbol | None = None  # the row shift m: a difference with it is computed first
    head: str = "z"  # the kernel's first (rows, K) argument, which gives buffer shapes
    lines: list = field(default_factory=list)
    _uses: Counter = field(default_factory=Counter)
    _cache: dict = field(default_factory=dict)

    def __post_init__(self):
        self.pool = BufferPool(self.head, emit=self.lines.append, forget=self._forget)

    # -- buffers --------------------------------------------------------------
    def _forget(self, buffer: Buffer) -> None:
        """A buffer is about to be overwritten: cached values that live in it are gone."""
        for key in [key for key, op in self._cache.items() if op.buffer is buffer]:
            del self._cache[key]

    def _name(self, expr) -> str:
        return name_of(expr, self.class_index, self.shift)

    def _new(self, kind: str, expr=None, hint: str = "") -> Buffer:
        return self.pool.take(kind, hint or self._name(expr))

    def _release(self, op: Operand, node=None) -> None:
        if node is not None:
            self._uses[node] -= 1
            if self._uses[node] > 0:
                return
        if op.buffer is not None:
            self.pool.give_back(op.buffer)

    def count_uses(self, exprs) -> None:
        """How often each subexpression is read, as the lowering will see it (sum bodies on the class axis)."""

        def visit(node):
            self._uses[node] += 1
            for child in self._children(node):
                visit(child)

        for e in exprs:
            visit(e)

    def _target(self, kind: str, reusable: list[tuple[Operand, object]], expr) -> Buffer:
        """An output buffer for expr: a dying temporary operand of the same kind if any, else another one."""
        for op, node in reusable:
            if op.buffer is not None and op.kind == kind and self._uses[node] <= 1:
                return self.pool.reuse(op.buffer, self._name(expr))
        return self._new(kind, expr)

    def _result(self, kind: str, into: str | None, buffer: Buffer | None) -> Operand:
        if into is not None:
            return Operand(into, kind, None)
        return Operand(buffer.name, kind, buffer)

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
                    row = self._new("row", expr)
                    self.lines.append(f"{row.name}[:, 0] = {cached.code}.reshape(-1)[{flat}]  # {sp.sstr(expr)}")
                    return Operand(row.name, "row", row)
        return None

    def _indexed(self, expr: sp.Indexed, into=None) -> Operand:
        base, (index,) = expr.base, expr.indices
        vec = self.bindings.get(base)
        if vec is None:
            raise LoweringError(f"'{base}' is not an input or an earlier result of this kernel")
        if index == self.class_index:
            return vec
        if index in self.labels:
            row = self._new("row", expr)
            self.lines.append(f"{row.name}[:, 0] = {vec.code}.reshape(-1)[{self.labels[index]}]  # {sp.sstr(expr)}")
            return Operand(row.name, "row", row)
        raise LoweringError(f"index '{index}' of {expr} is neither the class axis nor a label")

    def _binary(self, ufunc, a: Operand, b: Operand, nodes, into, expr, comment=""):
        kind = "vec" if "vec" in (a.kind, b.kind) else "row"
        buffer = None if into else self._target(kind, [(a, nodes[0]), (b, nodes[1])], expr)
        target = into or buffer.name
        note = f"  # {comment}" if comment else ""
        if into is not None and a.kind == "vec" and a.buffer is not None and self._uses[nodes[0]] <= 1 \
                and not self.pool.is_free(a.buffer):
            self.pool.output_alias = a.buffer  # read for the last time here, elementwise: it can be `out`
        if ufunc == "divide" and into is not None and a.kind == "vec" and b.kind == "row":
            self.lines += precision.divide_into_output(a.code, b.code, into, self.pool.output_alias is a.buffer, note)
        else:
            self.lines.append(f"np.{ufunc}({a.code}, {b.code}, out={target}){note}")
        for op, node in ((a, nodes[0]), (b, nodes[1])):
            if op.buffer is None or op.buffer is not buffer:
                self._release(op, node)
        return self._result(kind, into, buffer)

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
        acc = self.lower(acc_node)
        so_far = acc_node
        for n, term in enumerate(terms[1:], start=1):
            last = n == len(terms) - 1
            so_far = sp.Add(so_far, term, evaluate=False)
            if _is_negated(term):
                value = self.lower(-term)
                acc = self._binary("subtract", acc, value, (acc_node, -term), into if last else None, so_far)
            else:
                value = self.lower(term)
                acc = self._binary("add", acc, value, (acc_node, term), into if last else None, so_far)
            acc_node = None
        return acc

    def _mul(self, expr, into):
        coeff, rest = expr.as_coeff_Mul()
        if coeff == -1:
            value = self.lower(rest)
            kind = value.kind
            buffer = None if into else self._target(kind, [(value, rest)], expr)
            self.lines.append(f"np.negative({value.code}, out={into or buffer.name})")
            if value.buffer is None or value.buffer is not buffer:
                self._release(value, rest)
            return self._result(kind, into, buffer)
        factors = list(sp.Mul.make_args(expr))
        numer = [f for f in factors if not (isinstance(f, sp.Pow) and f.exp == -1)]
        denom = [f.base for f in factors if isinstance(f, sp.Pow) and f.exp == -1]
        if not numer:
            numer = [sp.Integer(1)]
        acc_node = numer[0]
        acc = self.lower(acc_node)
        steps = [("multiply", f) for f in numer[1:]] + [("divide", f) for f in denom]
        for n, (ufunc, f) in enumerate(steps):
            value = self.lower(f)
            acc = self._binary(ufunc, acc, value, (acc_node, f), into if n == len(steps) - 1 else None, expr)
            acc_node = None
        return acc

    def _pow(self, expr, into):
        if expr.exp == -1:
            return self._mul(sp.Mul(1, expr, evaluate=False), into)
        base = self.lower(expr.base)
        buffer = None if into else self._target(base.kind, [(base, expr.base)], expr)
        target = into or buffer.name
        if expr.exp == 2:
            self.lines.append(f"np.square({base.code}, out={target})")
        else:
            self.lines.append(f"np.power({base.code}, {float(expr.exp)!r}, out={target})")
        return self._result(base.kind, into, buffer)

    def _exp(self, expr, into):
        pair = self._difference_vec_row(expr.args[0])
        if pair is not None and _is_input(pair[0], self) and pair[1] in self.bindings:
            return self._exp_of_difference(expr, pair, into)
        value = self.lower(expr.args[0])
        buffer = None if into else self._target(value.kind, [(value, expr.args[0])], expr)
        self.lines.append(f"np.exp({value.code}, out={into or buffer.name})")
        if value.buffer is None or value.buffer is not buffer:
            self._release(value, expr.args[0])
        return self._result(value.kind, into, buffer)

    def _exp_of_difference(self, expr, pair, into):
        """e^{a - b} = e^d (1 + r) with d = fl(a - b) and r its exact remainder (TwoSum)."""
        arg = expr.args[0]
        a, b = self.lower(pair[0]).code, self.bindings[pair[1]].code
        d = self.lower(arg)
        remainder, scratch = self._new("vec", hint="remainder"), self._new("vec", hint="scratch")
        self.lines.append(f"_two_sum_remainder({a}, {b}, {d.code}, {remainder.name}, {scratch.name})"
                          f"  # {d.code} + {remainder.name} == {a} - {b} exactly")
        buffer = None if into else self._target("vec", [(d, arg)], expr)
        self.lines.append(f"_exp_with_remainder({d.code}, {remainder.name}, {into or buffer.name}, {scratch.name})"
                          f"  # {sp.sstr(expr)}")
        self.pool.give_back(scratch)
        self.pool.give_back(remainder)
        if d.buffer is None or d.buffer is not buffer:
            self._release(d, arg)
        return self._result("vec", into, buffer)

    def _log(self, expr, into):
        arg = expr.args[0]
        if isinstance(arg, sp.Add) and sp.Integer(1) in arg.args:
            inner = arg - 1
            value = self.lower(inner)
            fn = "log1p"
        else:
            inner, value, fn = arg, self.lower(arg), "log"
        buffer = None if into else self._target(value.kind, [(value, inner)], expr)
        self.lines.append(f"np.{fn}({value.code}, out={into or buffer.name})")
        if value.buffer is None or value.buffer is not buffer:
            self._release(value, inner)
        return self._result(value.kind, into, buffer)

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
        value = self.lower(body)
        if value.kind != "vec":
            raise LoweringError(f"sum of a term free of the summation index: {expr}")
        buffer = None if into else self._new("row", expr)
        target = into or buffer.name
        scratch = None
        if precision.is_partition(body):  # scratch for the faithful sum, free again right after it
            scratch = self._new("vec", hint="scratch")
            self.pool.give_back(scratch)
        reduce = precision.reduction(body, value.code, target, scratch.name if scratch else None)
        if leave_out is None:
            self.lines.append(f"{reduce}  # {sp.sstr(expr)}")
        else:
            flat = self.labels[leave_out]
            at_label = body.xreplace({self.class_index: leave_out})
            saved = self._new("row", at_label)
            self.lines += [
                f"# {sp.sstr(expr)}: the sum without the {leave_out} entry, not sum - entry (no cancellation)",
                f"{saved.name}[:, 0] = {value.code}.reshape(-1)[{flat}]",
                f"{value.code}.reshape(-1)[{flat}] = 0.0",
                reduce,
            ]
            if self._uses[body] > 1:  # the vector is read again later: put the entry back
                self.lines.append(f"{value.code}.reshape(-1)[{flat}] = {saved.name}[:, 0]")
            # the saved entry is the body at the label: a later f(z_label) reads it instead of gathering again
            self._cache[at_label] = Operand(saved.name, "row", saved)
        self._release(value, body)
        return self._result("row", into, buffer)


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
