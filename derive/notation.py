"""The notation of the notes, defined once.

Every other module builds its expressions from these objects, so that a
derivation, the checker, the code generator and the report all agree on what
``z_k``, ``y_k`` and ``E`` mean.

* ``K`` is a symbolic positive integer: the number of classes is never fixed.
* ``i, j, k`` (and ``gamma``, the correct class) are indices in ``1..K``.
* ``z_1..z_K`` are real logits, ``t_1..t_K`` real targets.
* ``y_k = e^{z_k} / sum_{i=1}^K e^{z_i}`` (softmax), ``E = -sum_k t_k ln y_k``
  (cross-entropy).  ``y`` and ``E`` are *defined* symbols: the checker unfolds
  them to their definitions, except that ``dE/dy_k`` treats ``y`` as free (the
  chain rule needs E as a function of y).
"""

from __future__ import annotations

import re

import sympy as sp
from sympy.printing.latex import LatexPrinter

K = sp.Symbol("K", integer=True, positive=True)

i, j, k = sp.symbols("i j k", integer=True, positive=True)
gamma = sp.Symbol("gamma", integer=True, positive=True)
#: where the row maximum is attained (the stability derivations)
mu = sp.Symbol("mu", integer=True, positive=True)

#: the indices a derivation may leave free; each ranges over 1..K.
INDICES = (i, j, k, gamma, mu)

z = sp.IndexedBase("z", real=True)
t = sp.IndexedBase("t", real=True)
y = sp.IndexedBase("y", positive=True)
#: a cotangent vector, for the vector-Jacobian product
v = sp.IndexedBase("v", real=True)
E = sp.Symbol("E", real=True)
#: a shift applied to every logit, and the row maximum m = max_k z_k
c = sp.Symbol("c", real=True)
m = sp.Symbol("m", real=True)

#: bases a derivation may index, and the scalar names it may use.
INDEXED_BASES = (z, t, y, v)
SCALARS = (E, K, c, m)


class Constant(sp.Symbol):
    """A positive constant a derivation introduces (C with log C = -max z, a temperature T).

    Positive, because that is what such constants are (a normalising factor, a
    temperature) and what their steps use (log C, division by T); the checker
    samples positive values for them and the report says they were read so.
    """

    def __new__(cls, name: str):
        return super().__new__(cls, name, positive=True)


class Variable(sp.IndexedBase):
    """A further quantity of a derivation: the weights w_{ij}, inputs x_i and biases b_j of a linear layer
    before the softmax.  Real, with as many indices as the derivation writes; the checker treats an entry
    as an independent real number and samples values for it."""

    def __new__(cls, name: str):
        return super().__new__(cls, name if name not in ("z", "t", "y", "v", "E", "K") else f"{name}_",
                               real=True)


class InputSize(sp.Symbol):
    """The size of a layer's input (the D of sum_{i=1}^D w_{ij} x_i): a positive integer, like K."""

    def __new__(cls, name: str):
        return super().__new__(cls, name, integer=True, positive=True)


def index(name: str) -> sp.Symbol:
    """The index symbol a derivation calls `name` (i, j, k, gamma and mu are the notation's own)."""
    standard = {"i": i, "j": j, "k": k, "gamma": gamma, "mu": mu}
    return standard.get(name) or sp.Symbol(name, integer=True, positive=True)


def delta(a, b) -> sp.Expr:
    """Kronecker delta delta_{ab}."""
    return sp.KroneckerDelta(a, b)


def Sum(summand, index, lower=1, upper=K) -> sp.Sum:
    """A sum over ``index`` from 1 to K (the notes' default range)."""
    return sp.Sum(summand, (index, lower, upper))


def partition(index=i) -> sp.Sum:
    """sum_{index=1}^K e^{z_index}: the softmax denominator (the notes call it z)."""
    return Sum(sp.exp(z[index]), index)


def softmax(at, index=i) -> sp.Expr:
    """y_at written out: e^{z_at} / sum_index e^{z_index}."""
    return sp.exp(z[at]) / partition(index)


def cross_entropy_of_y(index=k) -> sp.Expr:
    """E as a function of y: -sum_index t_index ln y_index."""
    return -Sum(t[index] * sp.log(y[index]), index)


def d(expr, var) -> sp.Derivative:
    """An unevaluated partial derivative, as the notes write it."""
    return sp.Derivative(expr, var, evaluate=False)


def unfold_y(expr: sp.Expr) -> sp.Expr:
    """Replace every y_x by its softmax definition."""
    return expr.replace(
        lambda e: isinstance(e, sp.Indexed) and e.base == y,
        lambda e: softmax(e.indices[0], _fresh_sum_index(e.indices[0])),
    )


def unfold_E(expr: sp.Expr) -> sp.Expr:
    """Replace E by -sum_k t_k ln y_k (y left as is)."""
    return expr.xreplace({E: cross_entropy_of_y(_BOUND_E)})


def unfold_all(expr: sp.Expr) -> sp.Expr:
    """E and y replaced by definitions: the expression in terms of z and t only."""
    return unfold_y(unfold_E(expr))


# Bound indices used when a definition is unfolded.  They are distinct from the
# indices a derivation may leave free, so unfolding never captures a free index.
_BOUND_E = sp.Symbol("kappa", integer=True, positive=True)
_BOUND_Y = sp.Symbol("iota", integer=True, positive=True)
_BOUND_Y2 = sp.Symbol("iota2", integer=True, positive=True)


def _fresh_sum_index(at) -> sp.Symbol:
    return _BOUND_Y2 if _BOUND_Y in getattr(at, "free_symbols", ()) else _BOUND_Y


def is_index(sym) -> bool:
    """True for a symbol that denotes an index in 1..K (free or bound)."""
    return isinstance(sym, sp.Symbol) and bool(sym.is_integer) and sym != K and not isinstance(sym, InputSize)


def free_indices(*exprs) -> list:
    """Index symbols that occur free (not bound by a sum), sorted by name.

    SymPy's own ``free_symbols`` is no help here: a Derivative drops its
    variable's index (d/dz_j hides j) and a Sum keeps z_i with i bound.
    """

    def walk(node, bound):
        if isinstance(node, sp.Symbol):
            return {node} if is_index(node) and node not in bound else set()
        if isinstance(node, sp.Sum):
            inner = bound | {limit[0] for limit in node.limits}
            out = walk(node.function, inner)
            for limit in node.limits:
                for part in limit[1:]:
                    out |= walk(part, bound)
            return out
        out = set()
        for arg in node.args:
            if isinstance(arg, sp.Basic):
                out |= walk(arg, bound)
        return out

    found = set()
    for e in exprs:
        found |= walk(e, frozenset())
    return sorted(found, key=str)


def rewrite_outside_derivatives(expr: sp.Basic, query, value) -> sp.Basic:
    """expr with every node matching query replaced by value(node), top down, except inside a Derivative.

    An assumption such as t_k = delta_{k gamma} says something about values,
    not about the variable a derivative is taken with respect to: rewriting
    d/dt_j into d/d delta_{j gamma} is meaningless (SymPy raises ValueError).
    """
    if isinstance(expr, sp.Derivative):
        return expr
    if query(expr):
        return value(expr)
    if not isinstance(expr, sp.Basic) or not expr.args:
        return expr
    args = [rewrite_outside_derivatives(a, query, value) for a in expr.args]
    if all(new is old for new, old in zip(args, expr.args)):
        return expr
    return expr.func(*args)


_GREEK_NAMES = frozenset("""alpha beta gamma delta epsilon varepsilon eta theta iota kappa lambda mu nu xi pi rho
sigma varsigma tau upsilon phi varphi chi psi omega ell Sigma Phi Psi Omega Theta Lambda""".split())


def rendered_name(name: str) -> str | None:
    """A display name as LaTeX, when it is a letter, a Greek name or a short word; else None."""
    if re.fullmatch(r"[A-Za-z]", name):
        return name
    if name in _GREEK_NAMES:
        return "\\" + name
    if re.fullmatch(r"[A-Za-z]{2,4}", name):
        return r"\mathrm{" + name + "}"
    decorated = re.fullmatch(r"(hat|tilde|bar|mathcal)\{([A-Za-z])\}", name)
    if decorated:
        return "\\" + decorated.group(1) + "{" + decorated.group(2) + "}"
    return None


def latex(expr, names: dict | None = None) -> str:
    """SymPy's LaTeX of expr, with every derivative written as a partial one.

    SymPy writes d/dz for a derivative of a plain symbol such as E; here every
    derivative is a partial one (E depends on z_1..z_K), as the notes write it.
    With `names` (a derivation's display names, {"z": "a", "y": "S", ...}) the
    logits, probabilities, targets, loss and class count are printed in the
    derivation's own letters, where those are plain letters or Greek names.
    Printed from the expression, so it holds nothing a user typed.
    """
    expr = readable_bound(expr)
    if names:
        expr = _in_own_letters(expr, names)
    return _Printer().doprint(expr)


class _Printer(LatexPrinter):
    """SymPy's LaTeX, with derivatives as the notes write them: \\frac{\\partial E}{\\partial z_j}, and
    \\frac{\\partial}{\\partial z_j}\\left(...\\right) around anything longer than a name."""

    def _print_Indexed(self, expr):
        """t_j, y_{jk}: as people write them (SymPy writes {t}_{j})."""
        base = self._print(expr.base.label)
        indices = " ".join(self._print(i) for i in expr.indices)
        return f"{base}_{indices}" if len(indices) == 1 else f"{base}_{{{indices}}}"

    def _print_KroneckerDelta(self, expr, exp=None):
        first, second = (self._print(a) for a in expr.args[:2])
        out = rf"\delta_{{{first}{second}}}" if len(first) == len(second) == 1 else rf"\delta_{{{first},{second}}}"
        return f"{out}^{{{exp}}}" if exp else out

    def _print_Derivative(self, expr):
        order = sum(int(n) for _, n in expr.variable_count)
        below = " ".join(rf"\partial {self._print(v)}" + (f"^{{{int(n)}}}" if int(n) > 1 else "")
                         for v, n in expr.variable_count)
        top = r"\partial" + (f"^{{{order}}}" if order > 1 else "")
        body = expr.expr
        if isinstance(body, (sp.Symbol, sp.Indexed)):
            return rf"\frac{{{top} {self._print(body)}}}{{{below}}}"
        return rf"\frac{{{top}}}{{{below}}} \left({self._print(body)}\right)"


_BOUND_LETTERS = ("k", "l", "m", "n", "i", "j", "r", "s", "u")


def readable_bound(expr):
    """Sums over internal indices (_s1, kappa, a Dummy) renamed to letters the expression does not use."""
    if not isinstance(expr, sp.Basic) or not expr.has(sp.Sum):
        return expr
    used = {str(x) for x in expr.free_symbols}
    mapping = {}
    for node in sp.preorder_traversal(expr):
        if isinstance(node, (sp.Sum, sp.Product)):
            for limit in node.limits:
                var = limit[0]
                name = str(var)
                if var in mapping or not (isinstance(var, sp.Dummy) or name.startswith("_")
                                          or name in ("kappa", "iota", "iota2", "kappa_num", "n_s", "dots")):
                    continue
                letter = next((x for x in _BOUND_LETTERS if x not in used), None)
                if letter is not None:
                    used.add(letter)
                    mapping[var] = sp.Symbol(letter, integer=True, positive=True)
    return expr.xreplace(mapping) if mapping else expr


def _in_own_letters(expr, names: dict):
    mapping = {}
    for base in (z, t, y):
        shown = names.get(str(base.label))
        shown = rendered_name(shown) if shown and shown != str(base.label) else None
        if shown is not None:
            mapping[base] = sp.IndexedBase(sp.Symbol(shown))
    for scalar in (E, K):
        shown = names.get(str(scalar))
        shown = rendered_name(shown) if shown and shown != str(scalar) else None
        if shown is not None:
            mapping[scalar] = sp.Symbol(shown)
    printed = [str(mapping.get(b, b).label) for b in (z, t, y)] + [str(mapping.get(s, s)) for s in (E, K)]
    if len(set(printed)) < len(printed):
        return expr  # two quantities would print alike (targets y, probabilities \hat y unreadable): keep z, t, y
    return expr.xreplace(mapping) if mapping else expr



def rebuild(expr: sp.Basic) -> sp.Basic:
    """Re-evaluate a tree built with ``evaluate=False`` (keeps Sum/Derivative unevaluated)."""
    if not expr.args or isinstance(expr, (sp.Indexed, sp.IndexedBase)):
        return expr
    args = [rebuild(a) if isinstance(a, sp.Basic) else a for a in expr.args]
    if isinstance(expr, sp.Derivative):
        return sp.Derivative(*args, evaluate=False)
    if isinstance(expr, sp.Sum):
        return sp.Sum(*args)
    if isinstance(expr, sp.Piecewise):
        return sp.Piecewise(*args)
    if isinstance(expr, (sp.Tuple,)):
        return sp.Tuple(*args)
    return expr.func(*args)
