"""The lowering on its own: index form -> array statements, rule by rule (not only through the generated file)."""

import numpy as np
import pytest
import sympy as sp

from derive.codegen import runtime
from derive.codegen.lowering import Emitter, Operand, canonical_sums
from derive.codegen.matrix import matrix_code
from derive.errors import LoweringError
from derive.notation import K, Sum, delta, gamma, i, j, k, m, t, y, z


def _kernel(expr, inputs=("z",), labels=(), shift=None, into="out"):
    """Lower expr along k, run the statements on concrete arrays, return the result and the code."""
    bindings = {{"z": z, "t": t, "y": y}[name]: Operand(name, "vec") for name in inputs}
    flat = {}
    code = []
    if gamma in labels:
        code.append("gamma_flat = gamma + np.arange(z.shape[0]) * z.shape[1]")
        flat[gamma] = "gamma_flat"
    if shift is not None:
        bindings[m] = Operand("m", "row")
    emitter = Emitter(k, bindings, flat, shift=shift, head="z")
    expr = canonical_sums(expr)
    emitter.count_uses([expr])
    result = emitter.lower(expr, into=into)
    code += emitter.pool.allocation_lines() + emitter.lines
    return code, result


def _run(code, **arrays):
    space = {"np": np, **{name: getattr(runtime, name) for name in dir(runtime) if name.startswith("_")}, **arrays}
    exec("\n".join(code), space)  # noqa: S102 - test-only: runs statements the lowering produced from our own expr
    return space


Z = np.random.default_rng(0).standard_normal((3, 5))


def test_a_free_index_is_the_class_axis():
    code, _ = _kernel(sp.exp(z[k]))
    out = np.empty_like(Z)
    _run(code, z=Z, out=out)
    np.testing.assert_allclose(out, np.exp(Z))
    assert any("np.exp(z, out=" in line for line in code)


def test_a_sum_over_the_class_index_is_a_reduction():
    code, result = _kernel(Sum(z[i] ** 2, i), into=None)
    assert result.kind == "row"
    space = _run(code + [f"result = {result.code}"], z=Z, out=np.empty_like(Z))
    np.testing.assert_allclose(space["result"][:, 0], (Z ** 2).sum(axis=-1))
    assert any("np.add.reduce(" in line for line in code)


def test_a_sum_of_exponentials_is_summed_faithfully():
    code, _ = _kernel(sp.exp(z[k]) / Sum(sp.exp(z[i]), i))
    assert any("_row_sums(" in line for line in code)
    out = np.empty_like(Z)
    _run(code, z=Z, out=out)
    np.testing.assert_allclose(out, np.exp(Z) / np.exp(Z).sum(axis=-1, keepdims=True))


def test_a_value_at_the_label_is_a_gather_and_a_sum_leaving_it_out_a_scatter():
    labels = np.array([0, 4, 2])
    code, result = _kernel(z[gamma] + Sum((1 - delta(i, gamma)) * sp.exp(z[i]), i), labels=(gamma,), into=None)
    assert any(".reshape(-1)[gamma_flat]" in line for line in code)
    assert any("= 0.0" in line for line in code)  # the label's entry is set aside, not subtracted
    space = _run(code + [f"result = {result.code}"], z=Z, gamma=labels, out=np.empty_like(Z))
    expected = [Z[r, g] + np.exp(np.delete(Z[r], g)).sum() for r, g in enumerate(labels)]
    np.testing.assert_allclose(space["result"][:, 0], expected)


def test_exp_of_a_shifted_logit_carries_the_remainder():
    code, _ = _kernel(sp.exp(z[k] - m), shift=m)
    assert any(line.startswith("_two_sum_remainder(") for line in code)
    assert any(line.startswith("_exp_with_remainder(") for line in code)


def test_temporaries_are_named_after_what_they_hold():
    code, _ = _kernel(z[k] - m - sp.log(1 + Sum((1 - delta(i, gamma)) * sp.exp(z[i] - m), i)),
                      labels=(gamma,), shift=m)
    text = "\n".join(code)
    for name in ("shifted", "remainder", "exp_shifted", "partition_rest", "log1p_partition_rest"):
        assert name in text, name
    assert "v0" not in text and "r0" not in text


def test_what_no_rule_covers_is_refused_not_half_lowered():
    with pytest.raises(LoweringError, match="no lowering rule for sin"):
        _kernel(sp.sin(z[k]))
    with pytest.raises(LoweringError, match="only sums over 1..K"):
        _kernel(sp.Sum(z[i], (i, 2, K)))


def test_the_jacobian_is_a_rank_one_product_and_its_diagonal():
    code = matrix_code(y[k] * (delta(j, k) - y[j]), j, k, {y: "y"})
    yv = np.random.default_rng(1).dirichlet(np.ones(4), size=2)
    out = np.empty((2, 4, 4))
    _run(code, y=yv, out=out)
    np.testing.assert_allclose(out, yv[:, None, :] * (np.eye(4) - yv[:, :, None]))
    with pytest.raises(LoweringError, match="not a product"):
        matrix_code(y[k] + y[j], j, k, {y: "y"})
