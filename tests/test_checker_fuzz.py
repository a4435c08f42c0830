"""Random derivations through the whole pipeline: no crash, and nothing false is ever 'proved'.

Each random step is checked; whenever the checker says proved, the independent
SymPy reference (concrete K, its own sums and derivatives) must agree at random points.
"""

import random

import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from derive.checker import check_derivation
from derive.derivation_file import parse
from derive.errors import DeriveError
from derive.notation import j, k
from derive.numeric import Point
from derive.verdicts import Status

from reference import differ, value

ATOMS = ["y_j", "t_j", "z_j", "y_k", "t_k", "1", "0", "2", r"\delta_{jk}", "e^{z_j}", r"\ln y_j", r"\ln 0",
         r"\frac{1}{0}", r"\sum_{k=1}^K t_k", r"\sum_k y_k", r"\frac{\partial E}{\partial z_j}",
         r"\frac{\partial y_k}{\partial z_j}", r"\frac{\partial}{\partial z_j} \ln y_k", "(y_j - t_j)", r"e^{e^{z_j}}",
         "y_j^{y_j}", r"\mathbb{1}[j = k]", r"\sum_{k \neq j} y_k", r"\exp(z_k - z_j)",
         r"\begin{cases} y_j & \text{if } j = k \\ 0 & \text{otherwise} \end{cases}"]
OPS = [" + ", " - ", " ", r" \cdot ", "/"]
HEADER = "indices: i, j, k\nrange: 1..K\nresult: \\frac{\\partial E}{\\partial z_j} = y_j - t_j\n"


@st.composite
def formulas(draw, depth=0):
    if depth > 2 or draw(st.booleans()):
        return draw(st.sampled_from(ATOMS))
    return "(" + draw(formulas(depth + 1)) + draw(st.sampled_from(OPS)) + draw(formulas(depth + 1)) + ")"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(formulas(), formulas(), st.integers(0, 10**6))
def test_no_crash_and_no_false_proof(first, second, seed):
    text = HEADER + f"$$\\frac{{\\partial E}}{{\\partial z_j}} = {first}$$\n$$= {second}$$\n"
    try:
        report = check_derivation(parse(text, "fuzz.deriv"))
    except DeriveError:
        return
    rng = random.Random(seed)
    for step in report.steps:
        if step.verdict.status is not Status.PROVED:
            continue
        for _ in range(2):
            size = rng.randint(2, 4)
            point = Point(size, {j: rng.randint(1, size), k: rng.randint(1, size)},
                          tuple(rng.uniform(-2, 2) for _ in range(size)),
                          tuple(rng.uniform(-1, 2) for _ in range(size)))
            try:
                a, b = value(step.previous[0], point), value(step.step.expr, point)
            except (ZeroDivisionError, ValueError, TypeError):
                continue
            if not (a.is_finite and b.is_finite) or a.has(sp.zoo, sp.nan) or b.has(sp.zoo, sp.nan):
                continue  # the reference itself is undefined here
            assert not differ(a, b, tol=1e-9), (text, step.index, a, b)
