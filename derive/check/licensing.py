"""Does a step follow from the line before it by the reason it cites?

A step is checked twice.  Whether it is *true* is the checker's business
(checker.py).  Whether it *follows by its reason* is decided here: each named
justification licenses a few rewrite rules (justifications.py says which); the
previous line and the step are both rewritten with the cited rules, the
bookkeeping every step may do (the derivative of a sum is the sum of the
derivatives, dz_k/dz_j = delta_jk, constants have derivative 0, an ``=`` case
is substituted) and algebra (ring and field identities, a sum split over ``+``
and a numeric factor out of a sum), until nothing changes; the step follows
when the two results are equal as rational functions of their atoms (sums,
derivatives, exponentials, logarithms, entries).  Exponent laws, sifting a
delta, a symbolic factor leaving a sum, the definitions of softmax and
cross-entropy and every derivative rule are *not* algebra: a step that uses
them must cite them.

When the cited rules do not suffice, the rules that would are found: every
rule is tried, and those that fired are removed one by one while the step
still follows, which leaves a minimal set to name.  A step with no reason
at all is "unjustified", reported with the rules it bundles.  None of this
changes whether a step is true; it is a second, separate verdict.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..derivation import Case
from ..justifications import REGISTRY as JUSTIFICATIONS
from ..notation import E, K, cross_entropy_of_y, is_index, m, mu, rebuild, t, v, y, z
from .normal_form import Context, apply_equal_case, piecewise_to_deltas, rename_bound

MAX_PASSES = 10

#: the rule each rewrite belongs to, when a step needs it without citing it (the justification named)
RULE_JUSTIFICATION = {
    "unfold_softmax": "definition_of_softmax",
    "unfold_cross_entropy": "definition_of_cross_entropy",
    "chain_rule": "chain_rule",
    "quotient": "quotient_rule",
    "product": "product_rule",
    "derivative_ln": "derivative_of_ln",
    "derivative_exp": "derivative_of_exp",
    "derivative_power": "power_rule",
    "sift": "kronecker_delta_sifts",
    "factor_out": "factor_leaves_sum",
    "sum_targets": "sum_of_targets_is_one",
    "one_hot": "one_hot_target",
    "log_split": "log_of_quotient",
    "exp_laws": "shift_logits",
    "max_term": "max_term_is_one",
    "softmax_sum": "softmax_sums_to_one",
    "substitute": "substitution",
}
#: the order rewrites are tried in within a pass (definitions, then calculus, then sums)
ORDER = ("substitute", "chain_rule", "unfold_cross_entropy", "unfold_softmax", "quotient", "product",
         "derivative_ln", "derivative_exp", "derivative_power", "log_split", "exp_laws", "max_term", "one_hot",
         "sift", "factor_out", "sum_targets", "softmax_sum")


@dataclass(frozen=True)
class License:
    """The second verdict of a step: does it follow by its cited reason?"""

    status: str                     # "licensed", "not licensed", "unjustified", "not reconstructed"
    cited: tuple[str, ...] = ()     # the justifications the step cites
    needs: tuple[str, ...] = ()     # justifications it also needs (not licensed) or bundles (unjustified)

    @property
    def warning(self) -> bool:
        return self.status in ("not licensed", "unjustified")

    def sentence(self) -> str:
        names = ", ".join(_spoken(n) for n in self.needs)
        cited = " and ".join(f"'{_spoken(n)}'" for n in self.cited)
        if self.status == "licensed":
            return f"follows by {cited}" if cited else "follows by algebra"
        if self.status == "not licensed":
            return f"proved, but not by {cited} alone: it also needs {names}"
        if self.status == "unjustified":
            return f"no reason given; the step uses {names}" if names else "no reason given; algebra suffices"
        return "the checker could not reconstruct this step from its rules"

    def as_dict(self) -> dict:
        return {"status": self.status, "cited": list(self.cited), "needs": list(self.needs),
                "sentence": self.sentence()}


def _spoken(name: str) -> str:
    return name.replace("_", " ")


def rules_of(justifications) -> frozenset[str]:
    out = set()
    for name in justifications:
        out |= set(JUSTIFICATIONS[name].licenses)
    return frozenset(out)


#: rewrites valid only under an assumption: never used where the derivation does not state it
NEEDS_ASSUMPTION = {"one_hot": "one_hot", "sum_targets": "targets_sum_to_one", "max_term": "max_at_mu"}


def check_license(previous: sp.Expr, this: sp.Expr, cited: tuple[str, ...], case: Case | None,
                  known: tuple = (), assumed: frozenset = frozenset()) -> License:
    """Whether previous = this follows by the rules of the cited justifications (see the module docstring)."""
    usable = frozenset(r for r in ORDER if NEEDS_ASSUMPTION.get(r, "") in assumed | {""})
    allowed = rules_of(cited) & usable
    if follows(previous, this, allowed, case, known):
        return License("licensed" if cited else "unjustified", cited, ())
    fired: set[str] = set()
    primitive = usable - {"substitute"} | (allowed & {"substitute"})
    if not follows(previous, this, primitive, case, known, fired):  # earlier results only when needed
        fired = set()
        if not follows(previous, this, usable, case, known, fired):
            return License("not reconstructed", cited, ())
    candidates = [r for r in ORDER if r in fired and r not in allowed]
    single = next((r for r in candidates if follows(previous, this, allowed | {r}, case, known)), None)
    needed = [single] if single is not None else list(candidates)  # one rule that does it is the best answer
    for rule in candidates if single is None else ():
        trial = [r for r in needed if r != rule]
        if follows(previous, this, allowed | frozenset(trial), case, known):
            needed = trial
    names = tuple(dict.fromkeys(RULE_JUSTIFICATION[r] for r in needed))
    return License("not licensed" if cited else "unjustified", cited, names)


def follows(previous, this, rules: frozenset, case: Case | None, known=(), fired: set | None = None) -> bool:
    try:
        left = saturate(previous, rules, case, known, fired)
        right = saturate(this, rules, case, known, fired)
        return algebra_equal(left, right)
    except (TypeError, ValueError, AttributeError, RecursionError, NotImplementedError):
        return False


# -- the rewrites ----------------------------------------------------------------------------------

_SATURATED: dict = {}


def saturate(expr: sp.Expr, rules: frozenset, case: Case | None, known=(), fired: set | None = None) -> sp.Expr:
    """expr rewritten by the rules (and bookkeeping) until nothing changes; remembered, with the rules that
    fired, since a step's line is the next step's previous line and the search repeats rule sets."""
    key = (expr, rules, case, known)
    if key in _SATURATED:
        result, used = _SATURATED[key]
        if fired is not None:
            fired |= used
        return result
    used: set = set()
    e = apply_equal_case(rename_bound(rebuild(expr)), case)
    e = piecewise_to_deltas(e, Context(frozenset(), case))  # a case split written as cases is a delta
    for _ in range(MAX_PASSES):
        before = e
        for rule in ORDER:
            if rule in rules and APPLIES[rule](e):
                after = _rewrite(rule, e, known)
                if after != e:
                    used.add(rule)
                e = after
        e = _rewrite("bookkeeping", e, case)
        if e == before:
            break
    if len(_SATURATED) > 5000:
        _SATURATED.clear()
    _SATURATED[key] = (e, frozenset(used))
    if fired is not None:
        fired |= used
    return e


def _derivatives(expr, fn):
    """expr with fn applied to every Derivative node, innermost first (fn returns the node or its rewrite)."""
    return expr.replace(lambda n: isinstance(n, sp.Derivative), fn)


def _variable(node: sp.Derivative):
    variables = node.variables
    return variables[0] if len(variables) == 1 and node.variable_count[0][1] == 1 else None


def _depends(expr, var) -> bool:
    """Whether expr may depend on var (a logit, probability or target entry): conservative."""
    if expr.has(var):
        return True
    base = var.base if isinstance(var, sp.Indexed) else None
    if base == z:
        return any(isinstance(a, sp.Indexed) and a.base in (z, y) for a in expr.atoms(sp.Indexed)) or expr.has(E, m)
    if base == y:
        return any(isinstance(a, sp.Indexed) and a.base == y for a in expr.atoms(sp.Indexed)) or expr.has(E)
    if base in (t, v):
        return any(isinstance(a, sp.Indexed) and a.base == base for a in expr.atoms(sp.Indexed)) or expr.has(E)
    return True


def _bookkeeping(expr: sp.Expr, case: Case | None) -> sp.Expr:
    """What every step may do: derivatives distribute over sums and constant factors, the derivative of
    an entry by an entry is a delta, a case's deltas are decided, sums split over + and numeric factors."""
    def linear(node: sp.Derivative):
        var = _variable(node)
        if var is None:
            return node
        body = node.expr
        if isinstance(body, sp.Add):
            return sp.Add(*[sp.Derivative(a, var) for a in body.args])
        if isinstance(body, sp.Mul):
            const = [f for f in body.args if not _depends(f, var)]
            if const:
                rest = [f for f in body.args if _depends(f, var)]
                return sp.Mul(*const) * sp.Derivative(sp.Mul(*rest), var)
        if isinstance(body, sp.Sum) and not any(var.has(limit[0]) for limit in body.limits):
            return sp.Sum(sp.Derivative(body.function, var), *body.limits)
        if isinstance(body, sp.Indexed) and isinstance(var, sp.Indexed):
            if body.base == var.base:
                return sp.KroneckerDelta(body.indices[0], var.indices[0])
            if body.base in (z, t, v) or (body.base == y and var.base in (t, v)):
                return sp.Integer(0)
        if not _depends(body, var):
            return sp.Integer(0)
        return node

    e = _derivatives(expr, linear) if expr.has(sp.Derivative) else expr
    if case is not None and not case.equal:
        e = e.replace(lambda n: isinstance(n, sp.KroneckerDelta) and set(n.args[:2]) == {case.left, case.right},
                      lambda n: sp.Integer(0))
    return _sums(e, factor_out=False, sift=False) if e.has(sp.Sum) else e


def _sums(expr, factor_out: bool, sift: bool):
    """Sums split over +, numeric factors out; with factor_out, any factor free of the index; with sift,
    a delta in the summand picks its term (when its other index is a free or known index)."""
    def one(node: sp.Sum):
        if len(node.limits) != 1:
            return node
        var, low, high = node.limits[0]
        out = sp.Integer(0)
        for term in sp.Add.make_args(sp.expand(node.function)):
            coeff, rest = term.as_coeff_Mul()
            factors = sp.Mul.make_args(rest)
            outside = [f for f in factors if factor_out and not f.has(var)]
            inside = [f for f in factors if f not in outside]
            if sift and (low, high) == (1, K):
                delta = next((f for f in inside if isinstance(f, sp.KroneckerDelta) and var in f.args[:2]
                              and not (set(f.args[:2]) - {var}).pop().has(var)
                              and _in_range((set(f.args[:2]) - {var}).pop())), None)
                if delta is not None:
                    other = (set(delta.args[:2]) - {var}).pop()
                    picked = sp.Mul(*[f for f in inside if f is not delta]).xreplace({var: other})
                    out += coeff * sp.Mul(*outside) * picked
                    continue
            body = sp.Mul(*inside)
            out += coeff * sp.Mul(*outside) * (sp.Sum(body, (var, low, high)) if body.has(var) or inside
                                               else (high - low + 1))
        return out

    return expr.replace(lambda n: isinstance(n, sp.Sum), one)


def _in_range(index) -> bool:
    """A free index of the notation, or a number 1..K: the other index of a delta a sum may sift."""
    return is_index(index) or index == K or (index.is_Integer and 1 <= int(index))


def _unfold_softmax(expr, known):
    def softmax(entry):
        bound = sp.Dummy("s", integer=True, positive=True)
        return sp.exp(z[entry]) / sp.Sum(sp.exp(z[bound]), (bound, 1, K))

    def inside(node):
        if isinstance(node, sp.Derivative):
            var = _variable(node)
            if isinstance(var, sp.Indexed) and var.base == y:
                return node  # E as a function of y: y stays a variable
            return sp.Derivative(inside(node.expr), *node.variable_count)
        if isinstance(node, sp.Indexed) and node.base == y:
            return softmax(node.indices[0])
        if not node.args or isinstance(node, sp.Indexed):
            return node
        return node.func(*[inside(a) for a in node.args])

    return inside(expr)


def _unfold_cross_entropy(expr, known):
    def inside(node):
        if isinstance(node, sp.Derivative):
            return sp.Derivative(inside(node.expr), *node.variable_count)
        if node == E:
            return cross_entropy_of_y(sp.Dummy("k", integer=True, positive=True))
        if not node.args or isinstance(node, sp.Indexed):
            return node
        return node.func(*[inside(a) for a in node.args])

    return inside(expr)


def _chain_rule(expr, known):
    """dE/dz_j = sum_k dE/dy_k dy_k/dz_j: a function of the probabilities, differentiated by a logit."""
    def rule(node):
        var = _variable(node)
        if not (isinstance(var, sp.Indexed) and var.base == z) or node.expr != E:
            return node
        bound = sp.Dummy("k", integer=True, positive=True)
        return sp.Sum(sp.Derivative(E, y[bound]) * sp.Derivative(y[bound], var), (bound, 1, K))

    return _derivatives(expr, rule)


def _quotient(expr, known):
    def rule(node):
        var = _variable(node)
        if var is None:
            return node
        numerator, denominator = node.expr.as_numer_denom()
        if denominator == 1 or not _depends(denominator, var):
            return node
        return (sp.Derivative(numerator, var) * denominator - numerator * sp.Derivative(denominator, var)) \
            / denominator ** 2

    return _derivatives(expr, rule)


def _product(expr, known):
    def rule(node):
        var = _variable(node)
        if var is None or not isinstance(node.expr, sp.Mul):
            return node
        factors = [f for f in node.expr.args if _depends(f, var)]
        if len(factors) < 2:
            return node
        const = sp.Mul(*[f for f in node.expr.args if not _depends(f, var)])
        return const * sp.Add(*[sp.Mul(*[sp.Derivative(f, var) if n == at else f for at, f in enumerate(factors)])
                                for n in range(len(factors))])

    return _derivatives(expr, rule)


def _derivative_ln(expr, known):
    def rule(node):
        var = _variable(node)
        if var is None or not isinstance(node.expr, sp.log):
            return node
        inner = node.expr.args[0]
        return sp.Derivative(inner, var) / inner

    return _derivatives(expr, rule)


def _derivative_exp(expr, known):
    def rule(node):
        var = _variable(node)
        if var is None or not isinstance(node.expr, sp.exp):
            return node
        return node.expr * sp.Derivative(node.expr.args[0], var)

    return _derivatives(expr, rule)


def _derivative_power(expr, known):
    def rule(node):
        var = _variable(node)
        if var is None or not isinstance(node.expr, sp.Pow) or _depends(node.expr.exp, var):
            return node
        base, exponent = node.expr.args
        return exponent * base ** (exponent - 1) * sp.Derivative(base, var)

    return _derivatives(expr, rule)


def _log_split(expr, known):
    def split(node):
        arg = node.args[0]
        if isinstance(arg, sp.exp):
            return arg.args[0]
        if isinstance(arg, sp.Mul):
            return sp.Add(*[sp.log(f) for f in arg.args])
        if isinstance(arg, sp.Pow):
            return arg.exp * sp.log(arg.base)
        return node

    return expr.replace(lambda n: isinstance(n, sp.log), split)


def _exp_laws(expr, known):
    return expr.replace(lambda n: isinstance(n, sp.exp) and isinstance(n.args[0], sp.Add),
                        lambda n: sp.Mul(*[sp.exp(a) for a in n.args[0].args]))


def _max_term(expr, known):
    return expr.xreplace({sp.exp(z[mu] - m): sp.Integer(1)})


def _one_hot(expr, known):
    from ..notation import gamma

    def inside(node):
        if isinstance(node, sp.Derivative):
            return node
        if isinstance(node, sp.Indexed) and node.base == t:
            return sp.KroneckerDelta(node.indices[0], gamma)
        if not node.args or isinstance(node, sp.Indexed):
            return node
        return node.func(*[inside(a) for a in node.args])

    return inside(expr)


def _sift(expr, known):
    return _sums(expr, factor_out=False, sift=True)


def _factor_out(expr, known):
    return _sums(expr, factor_out=True, sift=False)


def _sum_targets(expr, known):
    return expr.replace(lambda n: isinstance(n, sp.Sum) and len(n.limits) == 1 and n.limits[0][1:] == (1, K)
                        and n.function == t[n.limits[0][0]], lambda n: sp.Integer(1))


def _softmax_sum(expr, known):
    return expr.replace(lambda n: isinstance(n, sp.Sum) and len(n.limits) == 1 and n.limits[0][1:] == (1, K)
                        and n.function == y[n.limits[0][0]], lambda n: sp.Integer(1))


def _substitute(expr, known):
    """Earlier results: the derivation's own lemmas, and the notes' standard ones (the softmax Jacobian,
    dE/dy_k = -t_k/y_k)."""
    table = {rebuild(lhs): rhs for lhs, rhs in known}

    def rule(node):
        found = table.get(rebuild(node))
        if found is not None:
            return found
        var = _variable(node)
        if isinstance(var, sp.Indexed) and var.base == z and isinstance(node.expr, sp.Indexed) \
                and node.expr.base == y:
            k, j = node.expr.indices[0], var.indices[0]
            return y[k] * (sp.KroneckerDelta(k, j) - y[j])
        if isinstance(var, sp.Indexed) and var.base == y and node.expr == E:
            return -t[var.indices[0]] / y[var.indices[0]]
        return node

    return _derivatives(expr, rule)


_REWRITTEN: dict = {}


def _rewrite(rule: str, e: sp.Expr, extra):
    """One rewrite of one expression, remembered: the search for a step's missing rules repeats them."""
    key = (rule, e, extra)
    found = _REWRITTEN.get(key)
    if found is None:
        found = _bookkeeping(e, extra) if rule == "bookkeeping" else REWRITES[rule](e, extra)
        if len(_REWRITTEN) > 20000:
            _REWRITTEN.clear()
        _REWRITTEN[key] = found
    return found


def _has_derivative(e) -> bool:
    return e.has(sp.Derivative)


def _has_sum(e) -> bool:
    return e.has(sp.Sum)


#: cheap tests of whether a rewrite can change an expression at all (most cannot, most of the time)
APPLIES = {
    "unfold_softmax": lambda e: e.has(y), "unfold_cross_entropy": lambda e: e.has(E), "chain_rule": _has_derivative,
    "quotient": _has_derivative, "product": _has_derivative, "derivative_ln": _has_derivative,
    "derivative_exp": _has_derivative, "derivative_power": _has_derivative, "log_split": lambda e: e.has(sp.log),
    "exp_laws": lambda e: e.has(sp.exp), "max_term": lambda e: e.has(mu), "one_hot": lambda e: e.has(t),
    "sift": lambda e: e.has(sp.Sum) and e.has(sp.KroneckerDelta), "factor_out": _has_sum,
    "sum_targets": _has_sum, "softmax_sum": _has_sum, "substitute": _has_derivative,
}

REWRITES = {
    "unfold_softmax": _unfold_softmax, "unfold_cross_entropy": _unfold_cross_entropy, "chain_rule": _chain_rule,
    "quotient": _quotient, "product": _product, "derivative_ln": _derivative_ln,
    "derivative_exp": _derivative_exp, "derivative_power": _derivative_power, "log_split": _log_split,
    "exp_laws": _exp_laws, "max_term": _max_term, "one_hot": _one_hot, "sift": _sift, "factor_out": _factor_out,
    "sum_targets": _sum_targets, "softmax_sum": _softmax_sum, "substitute": _substitute,
}


# -- algebra -----------------------------------------------------------------------------------------

def algebra_equal(left: sp.Expr, right: sp.Expr, depth: int = 0) -> bool:
    """Equal as rational functions of their atoms (sums up to renaming their index, derivatives,
    exponentials, logarithms, entries), a free delta_ab decided by its two cases (a = b, a != b)."""
    difference = _canonical(left) - _canonical(right)
    if _zero(difference):
        return True
    deltas = sorted((d for d in difference.atoms(sp.KroneckerDelta)
                     if all(isinstance(a, sp.Symbol) and not str(a).startswith("_c") for a in d.args[:2])), key=str)
    if not deltas or depth > 3:
        return False
    a, b = deltas[0].args[:2]
    same = difference.xreplace({b: a})
    apart = difference.replace(lambda n: isinstance(n, sp.KroneckerDelta) and set(n.args[:2]) == {a, b},
                               lambda n: sp.Integer(0))
    return algebra_equal(same, 0, depth + 1) and algebra_equal(apart, 0, depth + 1)


def _zero(difference: sp.Expr) -> bool:
    table: dict = {}

    def atom(node):
        key = node
        if key not in table:
            table[key] = sp.Symbol(f"_x{len(table)}")
        return table[key]

    def exp_atom(node: sp.exp):  # e^{2a - b} is (e^a)^2 / e^b: powers and exponent laws are algebra
        out = sp.Integer(1)
        for term in sp.Add.make_args(sp.expand(node.args[0])):
            coeff, rest = term.as_coeff_Mul()
            out *= atom(sp.exp(rest)) ** coeff
        return out

    e = difference.replace(lambda n: isinstance(n, (sp.Sum, sp.Derivative)), atom)
    e = e.replace(lambda n: isinstance(n, sp.exp), exp_atom)
    e = e.replace(lambda n: isinstance(n, (sp.log, sp.Indexed, sp.KroneckerDelta)), atom)
    numerator, _ = sp.fraction(sp.together(e))
    return sp.expand(numerator) == 0


def _canonical(expr: sp.Expr) -> sp.Expr:
    """Bound indices renamed by nesting depth, so alpha-equivalent sums are one atom; bodies expanded."""
    def walk(node, depth):
        if not isinstance(node, sp.Basic) or not node.args or isinstance(node, sp.Indexed):
            return node
        if isinstance(node, sp.Sum):
            body, limits = node.function, []
            for n, (var, low, high) in enumerate(node.limits):
                fresh = sp.Symbol(f"_c{depth + n}", integer=True, positive=True)
                body = body.xreplace({var: fresh})
                limits.append((fresh, walk(low, depth), walk(high, depth)))
            return sp.Sum(sp.expand(walk(body, depth + len(limits))), *limits)
        if isinstance(node, sp.Derivative):
            return sp.Derivative(sp.expand(walk(node.expr, depth)), *node.variable_count)
        return node.func(*[walk(a, depth) for a in node.args])

    return walk(rebuild(expr), 0)
