"""A linear layer before the softmax: z_j = sum_i w_{ij} x_i + b_j.

The checker's variables are the logits; a layer's weights, inputs and biases
are further variables (notation.Variable) the logits depend on.  A derivative
with respect to one of them is read by the chain rule through the logits, the
way the authors derive it:

    d f / d w_{ab} = sum_l (d f / d z_l) (d z_l / d w_{ab})  +  (f's own dependence on w_{ab}),

with d z_l / d w_{ab} computed from the layer's definition and its sum over
the input index collapsed at the entry differentiated by (an input index, so
in range by assumption, as every index is).  What is left is an expression in
the logits (and the layer's variables as independent reals), which the checker
decides as usual.
"""

from __future__ import annotations

import sympy as sp

from ..notation import K, Variable, d, z


def is_layer_variable(variable) -> bool:
    return isinstance(variable, sp.Indexed) and isinstance(variable.base, Variable)


def derivative(body: sp.Expr, variable, layer) -> sp.Expr:
    """d body / d variable: unevaluated for the logits and the rest, by the chain rule for a layer variable."""
    if not is_layer_variable(variable) or layer is None:
        return d(body, variable)
    entry, definition = layer
    definition = _fresh_bound(definition)  # its sum over i must not capture the i of d/dw_{ij}
    bound = sp.Dummy("l", integer=True, positive=True)
    through = collapse(sp.diff(definition.xreplace({entry: bound}), variable))
    chain = sp.Sum(d(body, z[bound]) * through, (bound, 1, K))
    own = collapse(sp.diff(body, variable))
    return chain + own if own != 0 else chain


def _fresh_bound(expr: sp.Expr) -> sp.Expr:
    def fresh(node: sp.Sum) -> sp.Sum:
        for limit in node.limits:
            dummy = sp.Dummy(str(limit[0]), integer=True, positive=True)
            node = node.xreplace({limit[0]: dummy})
        return node

    return expr.replace(lambda e: isinstance(e, sp.Sum), fresh)


def collapse(expr: sp.Expr) -> sp.Expr:
    """sum_i delta_{ia} g(i) = g(a): the sums a derivative with respect to one entry leaves behind."""
    def one(node: sp.Sum) -> sp.Expr:
        if len(node.limits) != 1:
            return node
        var = node.limits[0][0]
        terms = sp.Add.make_args(sp.expand(node.function))
        out = []
        for term in terms:
            deltas = [f for f in sp.Mul.make_args(term) if isinstance(f, sp.KroneckerDelta) and var in f.free_symbols]
            hit = next((delta for delta in deltas if (set(delta.args) - {var}) and
                        var not in (set(delta.args) - {var}).pop().free_symbols), None)
            if hit is None:
                out.append(sp.Sum(term, node.limits[0]))
                continue
            other = (set(hit.args) - {var}).pop()
            out.append((term / hit).xreplace({var: other}))
        return sp.Add(*out)

    return expr.replace(lambda e: isinstance(e, sp.Sum), one)
