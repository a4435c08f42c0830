"""Random derivations through the whole pipeline: no crash, and nothing false is ever 'proved'.

Each random step is checked; whenever the checker says proved, the independent
SymPy reference (concrete K, its own sums and derivatives) must agree at random points.
"""

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from derive.check.checker import check_derivation
from derive.read.derivation_file import parse
from derive.errors import DeriveError
from derive.notation import j, k
from derive.check.numeric import Point
from derive.verdicts import Status

from reference import defined, differ, value

ATOMS = ["y_j", "t_j", "z_j", "y_k", "t_k", "1", "0", "2", r"\delta_{jk}", "e^{z_j}", r"\ln y_j", r"\ln 0",
         r"\frac{1}{0}", r"\sum_{k=1}^K t_k", r"\sum_k y_k", r"\frac{\partial E}{\partial z_j}",
         r"\frac{\partial y_k}{\partial z_j}", r"\frac{\partial}{\partial z_j} \ln y_k", "(y_j - t_j)", r"e^{e^{z_j}}",
         "y_j^{y_j}", r"\mathbb{1}[j = k]", r"\sum_{k \neq j} y_k", r"\exp(z_k - z_j)",
         r"\begin{cases} y_j & \text{if } j = k \\ 0 & \text{otherwise} \end{cases}",
         # nested sums, sums over other ranges, deltas at numbers
         r"\sum_j \sum_k y_j y_k", r"\sum_{i=1}^K \sum_{k=1}^K \delta_{ik}", r"\sum_{i=2}^K y_i",
         r"\sum_{i=0}^K \delta_{ij}", r"\sum_{i=1}^{K+1} \delta_{ik}", r"\sum_{i=1}^{K-1} z_i",
         r"\sum_{i=1}^{2K-7} 1", r"\sum_{k=1}^K \delta_{k2} y_k", r"\delta_{j1}", r"\delta_{jK}",
         # derivatives with respect to every kind of symbol, and of derivatives
         r"\frac{\partial E}{\partial t_j}", r"\frac{\partial y_j}{\partial t_k}", r"\frac{\partial E}{\partial y_j}",
         r"\frac{\partial}{\partial z_k} \frac{\partial E}{\partial z_j}", r"\frac{\partial z_j}{\partial z_k}",
         r"\frac{\partial t_j}{\partial z_k}", r"\frac{\partial K}{\partial z_j}", r"\frac{\partial y_j}{\partial y_1}",
         # singular points
         r"\frac{1}{1 - y_j}", r"\ln(1 - y_j)", r"\frac{1}{y_j - y_k}", r"(1 - y_j) \ln(1 - y_j)", r"|z_j - z_k|"]
OPS = [" + ", " - ", " ", r" \cdot ", "/"]
HEADER = "indices: i, j, k\nrange: 1..K\nresult: \\frac{\\partial E}{\\partial z_j} = y_j - t_j\n"


@st.composite
def formulas(draw, depth=0):
    if depth > 2 or draw(st.booleans()):
        return draw(st.sampled_from(ATOMS))
    return "(" + draw(formulas(depth + 1)) + draw(st.sampled_from(OPS)) + draw(formulas(depth + 1)) + ")"


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
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
            size = rng.choice([1, 2, 3, 4, 8, 9])
            point = Point(size, {j: rng.randint(1, size), k: rng.randint(1, size)},
                          tuple(rng.uniform(-2, 2) for _ in range(size)),
                          tuple(rng.uniform(-1, 2) for _ in range(size)))
            try:
                a, b = value(step.previous[0], point), value(step.step.expr, point)
            except (ZeroDivisionError, ValueError, TypeError, IndexError):
                continue
            if not (defined(a) and defined(b)):
                continue  # the reference itself is undefined here
            assert not differ(a, b, tol=1e-9), (text, step.index, a, b)
