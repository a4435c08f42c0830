"""A normal form for expressions in the notation, for symbolic K.

SymPy's ``simplify`` is neither fast nor safe on ``Sum`` (it raises
StopIteration on some, sympy issue 14570) and knows nothing about our index
ranges, so the checker normalises with a small set of rules it controls:

0. give every sum its own bound index, so no substitution captures one;
1. apply an ``=`` case (j = k becomes k everywhere);
2. evaluate derivatives (``diff``), unfolding y and E first where they depend
   on the variable;
3. unfold the remaining definitions, turn index-valued Piecewise into deltas;
4. ``ln`` of products of positive factors splits, ``ln e^x = x`` (the argument of
   a ``ln`` is expanded first, so cancelling terms meet);
5. sums: expand the summand, split over +, move factors free of the index
   out, sift Kronecker deltas whose other index is known to lie in 1..K, and
   rename the bound index canonically so alpha-equivalent sums compare equal;
6. assumption rewrites (one-hot targets, sum of targets is one, the maximum
   at mu) and the ``!=`` case; steps 4-6 repeat until nothing changes;
7. the difference of the two sides is decided exactly: free Kronecker deltas
   split it into cases (a = b, a != b), sums, logs, exponentials and indexed
   names become atoms, and the numerator of the rational function that is left
   must expand to zero.

Each rule is an identity valid under the stated assumptions, so two
expressions with equal normal forms are equal; the converse need not hold.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from .. import assumptions as assumption_registry
from ..derivation import Case
from ..notation import K, is_index, m, mu, rebuild, t, unfold_all, unfold_E, v, y, z

MAX_PASSES = 8


@dataclass(frozen=True)
class Context:
    assumptions: frozenset[str] = frozenset()
    case: Case | None = None
    #: index pairs known to differ (from the case, or from branching on a delta)
    unequal: frozenset[frozenset] = frozenset()

    def with_unequal(self, a, b) -> "Context":
        return Context(self.assumptions, self.case, self.unequal | {frozenset((a, b))})


def rename_bound(expr: sp.Basic) -> sp.Basic:
    """Give every sum its own fresh bound index, so no substitution can capture one.

    The notes write z = sum_j e^{z_j} next to a free j; after this, the bound j
    is a different symbol and ``j -> k`` or ``d/dz_j`` cannot touch it.
    """
    counter = iter(range(10**9))

    def walk(node):
        if not isinstance(node, sp.Basic) or not node.args or isinstance(node, sp.Indexed):
            return node
        args = [walk(a) for a in node.args]
        if isinstance(node, sp.Sum):
            body, limits = args[0], list(args[1:])
            for n, (var, lower, upper) in enumerate(limits):
                fresh = sp.Symbol(f"_b{next(counter)}", integer=True, positive=True)
                body = body.xreplace({var: fresh})
                limits[n] = (fresh, lower, upper)
            return sp.Sum(body, *limits)
        return node.func(*args, evaluate=False) if isinstance(node, (sp.Add, sp.Mul, sp.Pow)) else node.func(*args)

    return walk(expr)


def apply_equal_case(expr: sp.Expr, case: Case | None) -> sp.Expr:
    if case is None or not case.equal:
        return expr
    return expr.xreplace({case.left: case.right})


def evaluate_derivatives(expr: sp.Expr, ctx: Context) -> sp.Expr:
    """Evaluate every Derivative whose variables are logits, probabilities, targets or cotangents.

    What depends on the variable is unfolded first: y and E for a logit, E for
    a probability (E as a function of y) or a target.  The row maximum m is
    max_k z_k, so it is not a constant for a logit: under ``max_at_mu`` it is
    z_mu (almost everywhere), otherwise the derivative is left unevaluated,
    which blocks a proof.  Any other variable (K, an index, a constant) also
    leaves the derivative as it is.
    """

    def evaluate(node: sp.Derivative) -> sp.Expr:
        result = node.expr
        for var, count in node.variable_count:
            if not (isinstance(var, sp.Indexed) and var.base in (z, y, t, v)):
                return node
            if var.base == z:
                result = unfold_all(result)
                if m in result.free_symbols:
                    if "max_at_mu" not in ctx.assumptions:
                        return node
                    result = result.xreplace({m: z[mu]})
            elif var.base in (y, t):
                result = unfold_E(result)
            result = sp.diff(result, var, count)
        return result

    return expr.replace(lambda e: isinstance(e, sp.Derivative), evaluate)


def _indicator(cond, ctx: Context):
    """1/0 expression (in Kronecker deltas) for an index condition, or None."""
    if cond is sp.true:
        return sp.Integer(1)
    if cond is sp.false:
        return sp.Integer(0)
    if isinstance(cond, (sp.Eq, sp.Ne)) and all(isinstance(a, sp.Symbol) for a in cond.args):
        d = sp.KroneckerDelta(*cond.args)
        return d if isinstance(cond, sp.Eq) else 1 - d
    if isinstance(cond, sp.And):
        parts = [_indicator(c, ctx) for c in cond.args]
        return None if None in parts else sp.Mul(*parts)
    if isinstance(cond, sp.Not):
        inner = _indicator(cond.args[0], ctx)
        return None if inner is None else 1 - inner
    return None


def piecewise_to_deltas(expr: sp.Expr, ctx: Context) -> sp.Expr:
    """{a if j != g; b otherwise} becomes a(1 - delta_jg) + b delta_jg."""

    def convert(pw: sp.Piecewise):
        total, remaining = sp.Integer(0), sp.Integer(1)
        for value, cond in pw.args:
            ind = _indicator(cond, ctx)
            if ind is None:
                return pw
            total += value * remaining * ind
            remaining = remaining * (1 - ind)
        return total

    return expr.replace(lambda e: isinstance(e, sp.Piecewise), convert)


def is_positive(expr: sp.Expr) -> bool:
    """A sufficient test for positivity that also knows sums of positive terms over 1..K are positive."""
    if expr.is_positive:
        return True
    if isinstance(expr, sp.Sum):
        return all(lim[1:] == (1, K) for lim in expr.limits) and is_positive(expr.function)
    if isinstance(expr, sp.Product):
        return is_positive(expr.function)
    if isinstance(expr, sp.Mul):
        return all(is_positive(f) for f in expr.args)
    if isinstance(expr, sp.Pow):
        return is_positive(expr.base) and bool(expr.exp.is_real)
    if isinstance(expr, sp.exp):
        return bool(expr.args[0].is_real)
    return False


def split_logs(expr: sp.Expr) -> sp.Expr:
    """ln(ab) = ln a + ln b and ln(a^n) = n ln a for positive a, b; ln e^x = x for real x."""

    def split(node: sp.log):
        arg = node.args[0]
        if isinstance(arg, sp.Add):  # (S - e) e^{-z} + 1 is S e^{-z}: let terms cancel before splitting
            arg = sp.expand(arg)
        if isinstance(arg, sp.exp) and arg.args[0].is_real:
            return arg.args[0]
        if isinstance(arg, sp.Mul) and all(is_positive(f) for f in arg.args):
            return sp.Add(*[split(sp.log(f, evaluate=False)) for f in arg.args])
        if isinstance(arg, sp.Pow) and is_positive(arg.base) and arg.exp.is_real:
            return arg.exp * split(sp.log(arg.base, evaluate=False))
        if isinstance(arg, sp.Product) and is_positive(arg.function):  # ln prod_c a_c = sum_c ln a_c
            return sp.Sum(split(sp.log(arg.function, evaluate=False)), *arg.limits)
        return sp.log(arg)

    return expr.replace(lambda e: isinstance(e, sp.log), split)


def apply_unequal(expr: sp.Expr, ctx: Context) -> sp.Expr:
    pairs = set(ctx.unequal)
    if ctx.case is not None and not ctx.case.equal:
        pairs.add(frozenset((ctx.case.left, ctx.case.right)))
    if not pairs:
        return expr
    return expr.replace(
        lambda e: isinstance(e, sp.KroneckerDelta) and frozenset(e.args[:2]) in pairs,
        lambda e: sp.Integer(0),
    )


def _height(expr: sp.Expr) -> int:
    """Nesting depth of sums inside expr (0 when there is none)."""
    if isinstance(expr, sp.Sum):
        return len(expr.limits) + _height(expr.function)
    return max((_height(a) for a in expr.args if isinstance(a, sp.Expr)), default=0)


def canonical_index(summand: sp.Expr, var: sp.Symbol) -> sp.Symbol:
    """_s1 for a sum with no sum inside, _s2 for one around those, ...; never a name in use."""
    level = _height(summand) + 1
    taken = summand.free_symbols - {var}
    while True:
        name = sp.Symbol(f"_s{level}", integer=True, positive=True)
        if name not in taken:
            return name
        level += 1


def provably_at_most(a: sp.Expr, b: sp.Expr) -> bool:
    """True when a <= b for every number of classes K >= 1 (a and b polynomials in K only).

    Writing K = 1 + s, b - a is a polynomial in s >= 0; nonnegative coefficients
    prove it nonnegative.  Anything else (another symbol, a non-polynomial) is
    not proved, which only ever blocks a rewrite.
    """
    gap = sp.expand(sp.sympify(b) - sp.sympify(a))
    if gap.free_symbols - {K}:
        return False
    s = sp.Dummy("s", integer=True, nonnegative=True)
    try:
        poly = sp.Poly(sp.expand(gap.xreplace({K: 1 + s})), s)
    except sp.PolynomialError:
        return False
    return all(coeff >= 0 for coeff in poly.all_coeffs())


def in_class_range(index, ctx: Context, bound: dict) -> bool:
    """Whether ``index`` provably lies in 1..K.

    A bound index lies in its own summation range, so it qualifies when that
    range is inside 1..K; a free index qualifies only under ``index_range`` and
    only if it denotes an index (an integer symbol: c, m or E never do); the
    number 1 always does (K >= 1).  Nothing else is assumed.
    """
    if index in bound:
        lower, upper = bound[index]
        return provably_at_most(1, lower) and provably_at_most(upper, K)
    if is_index(index):
        return "index_range" in ctx.assumptions
    return index == 1


#: at most this many boundary terms are split off a sum over a range other than 1..K
MAX_BOUNDARY_TERMS = 3


def split_range(summand: sp.Expr, var: sp.Symbol, lower, upper):
    """sum_{var=lower}^{upper} f as sum_{var=1}^{K} f plus or minus boundary terms, or None.

    Valid when both limits are 1 or K shifted by a small integer and the range
    can never be reversed by more than one (an empty sum is 0; a reversed
    range is empty, whereas the splitting identity follows Karr's convention,
    which differs from "empty" only when a range is reversed by two or more).
    """
    low, high = sp.expand(lower - 1), sp.expand(upper - K)
    if not (low.is_Integer and high.is_Integer):
        return None
    low, high = int(low), int(high)
    if low - high > 1 or abs(low) > MAX_BOUNDARY_TERMS or abs(high) > MAX_BOUNDARY_TERMS:
        return None

    def at(n):
        return summand.xreplace({var: n})

    extra = sp.Integer(0)
    extra -= sp.Add(*[at(sp.Integer(n)) for n in range(1, low + 1)])       # 1..low left out
    extra += sp.Add(*[at(sp.Integer(n)) for n in range(low + 1, 1)])       # low+1..0 added
    extra += sp.Add(*[at(K + n) for n in range(1, high + 1)])              # K+1..K+high added
    extra -= sp.Add(*[at(K + n) for n in range(high + 1, 1)])              # K+high+1..K left out
    return extra


def _normalise_sum(summand: sp.Expr, var: sp.Symbol, lower, upper, ctx: Context, bound: dict) -> sp.Expr:
    if (lower, upper) != (1, K):
        extra = split_range(summand, var, lower, upper)
        if extra is None:  # kept whole: only its bound index is made canonical
            new = canonical_index(summand, var)
            return sp.Sum(summand.xreplace({var: new}), (new, lower, upper))
        return _normalise_sum(summand, var, 1, K, ctx, bound) + extra
    total = sp.Integer(0)
    for term in sp.Add.make_args(sp.expand(summand)):
        free, dependent = [], []
        for factor in sp.Mul.make_args(term):
            (dependent if var in factor.free_symbols else free).append(factor)
        outside = sp.Mul(*free)
        sifted = None
        for factor in dependent:
            if isinstance(factor, sp.KroneckerDelta):
                a, b = factor.args[:2]
                other = b if a == var else a if b == var else None
                if other is not None and var not in other.free_symbols and in_class_range(other, ctx, bound):
                    rest = [f for f in dependent if f is not factor]
                    sifted = sp.Mul(*rest).xreplace({var: other})
                    break
        if sifted is not None:
            total += outside * sifted
        elif not dependent:
            total += outside * K
        else:
            inside = sp.Mul(*dependent)
            new = canonical_index(inside, var)
            total += outside * sp.Sum(inside.xreplace({var: new}), (new, 1, K))
    return total


def normalise_sums(expr: sp.Expr, ctx: Context, bound: dict | None = None) -> sp.Expr:
    """Sums split over +, free factors out, deltas sifted, bound index renamed canonically.

    ``bound`` maps each enclosing sum's index to its range.  A sum with several
    limits (SymPy merges directly nested sums into one) is normalised one limit
    at a time, innermost first, without building nested ``Sum`` objects again
    (which SymPy would merge back: the recursion would never end).
    """
    bound = bound or {}
    if not isinstance(expr, sp.Expr) or not expr.args or isinstance(expr, sp.Indexed):
        return expr
    if isinstance(expr, sp.Sum):
        limits = list(expr.limits)
        scope = {**bound, **{var: (lower, upper) for var, lower, upper in limits}}
        result = normalise_sums(expr.function, ctx, scope)
        for n, (var, lower, upper) in enumerate(limits):
            outer = {**bound, **{v: (lo, hi) for v, lo, hi in limits[n + 1:]}}
            result = _normalise_sum(result, var, lower, upper, ctx, outer)
        return result
    if isinstance(expr, sp.Derivative):
        return expr
    if isinstance(expr, sp.KroneckerDelta) and _outside_class_range(expr, ctx, bound):
        return sp.Integer(0)
    return expr.func(*[normalise_sums(a, ctx, bound) for a in expr.args])


def _outside_class_range(delta: sp.KroneckerDelta, ctx: Context, bound: dict) -> bool:
    """delta_{ab} is 0 when a lies in 1..K and b provably does not (b >= K + 1 or b <= 0)."""
    a, b = delta.args[:2]
    for inside, other in ((a, b), (b, a)):
        if in_class_range(inside, ctx, bound) and (provably_at_most(K + 1, other) or provably_at_most(other, 0)):
            return True
    return False


def apply_assumptions(expr: sp.Expr, ctx: Context) -> sp.Expr:
    for name in assumption_registry.ordered(ctx.assumptions):
        rewrite = assumption_registry.REGISTRY[name].rewrite
        if rewrite is not None:
            expr = rewrite(expr)
    return expr


def normal_form(expr: sp.Expr, ctx: Context) -> sp.Expr:
    """The normal form of expr under ctx (see the module docstring for the rules)."""
    e = apply_equal_case(rename_bound(rebuild(expr)), ctx.case)
    e = evaluate_derivatives(e, ctx)
    e = unfold_all(e)
    e = piecewise_to_deltas(e, ctx)
    for _ in range(MAX_PASSES):
        before = e
        e = split_logs(e)
        e = apply_assumptions(e, ctx)
        e = apply_unequal(e, ctx)
        e = normalise_sums(e, ctx)
        e = apply_assumptions(e, ctx)
        e = apply_unequal(e, ctx)
        if e == before:
            break
    return e


def free_index_deltas(expr: sp.Expr) -> list[sp.KroneckerDelta]:
    """Kronecker deltas whose indices are both free (not bound by a sum)."""
    out = []
    for node in expr.atoms(sp.KroneckerDelta):
        if all(isinstance(a, sp.Symbol) for a in node.args[:2]) and set(node.args[:2]) <= expr.free_symbols:
            out.append(node)
    return sorted(out, key=str)


def atomise(expr: sp.Expr) -> sp.Expr:
    """Replace sums, logs, exponentials and indexed names by plain symbols.

    What remains is a rational function; deciding whether it is zero is then
    exact.  Treating related atoms (z_k and e^{z_k}) as independent can only
    miss identities, never invent them.
    """
    table: dict[sp.Basic, sp.Symbol] = {}

    def symbol_for(node, positive=False):
        if node not in table:
            table[node] = sp.Symbol(f"_a{len(table)}", positive=positive or None)
        return table[node]

    def exp_atom(node: sp.exp):
        out = sp.Integer(1)
        for term in sp.Add.make_args(sp.expand(node.args[0])):
            coeff, rest = term.as_coeff_Mul()
            out *= symbol_for(sp.exp(rest), positive=True) ** coeff
        return out

    e = expr.replace(lambda n: isinstance(n, sp.Sum), lambda n: symbol_for(n, is_positive(n)))
    e = e.replace(lambda n: isinstance(n, sp.exp), exp_atom)
    e = e.replace(lambda n: isinstance(n, sp.log), lambda n: symbol_for(n))
    e = e.replace(lambda n: isinstance(n, sp.Indexed), lambda n: symbol_for(n, n.base == y))
    return e


def is_zero(expr: sp.Expr) -> bool:
    """Exact zero test for an atomised rational function."""
    numerator, _ = sp.fraction(sp.together(atomise(expr)))
    return sp.expand(numerator) == 0


def proves_equal(lhs: sp.Expr, rhs: sp.Expr, ctx: Context) -> tuple[bool, sp.Expr]:
    """(True, 0) when lhs = rhs is proved under ctx, else (False, what is left)."""
    return _decide(normal_form(lhs, ctx) - normal_form(rhs, ctx), ctx)


def _decide(diff: sp.Expr, ctx: Context) -> tuple[bool, sp.Expr]:
    deltas = free_index_deltas(diff)
    if not deltas:
        return (True, sp.Integer(0)) if is_zero(diff) else (False, diff)
    a, b = deltas[0].args[:2]
    # branch a = b: b becomes a everywhere, then normalise again
    ok, rest = _decide(normal_form(diff.xreplace({b: a}), ctx), ctx)
    if not ok:
        return False, rest
    differ = ctx.with_unequal(a, b)
    return _decide(normal_form(diff, differ), differ)
