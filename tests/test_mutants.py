"""The checker catches wrong steps: every mutant of every step of the notes is refuted there.

Equivalent mutants (swapping j and k in a symmetric expression, say) are
recognised with the independent SymPy reference at concrete K and skipped;
every other mutant must come out refuted at exactly that step, with a
counterexample that the reference reproduces.  No mutant is ever proved.
"""

import dataclasses
import itertools
import random

import pytest

from derive import assumptions as assumption_registry
from derive.check.checker import check_step, derivation_claims
from derive.read.builtin import notes as all_derivations
from derive.check.numeric import Point
from derive.verdicts import Status

from mutants import mutants
from reference import differ, value

DERIVATIONS = all_derivations()


def _points(derivation, claim, mutant, rng, sizes=(2, 3)):
    stated = assumption_registry.closure(derivation.stated_assumptions(claim.step))
    from derive.notation import free_indices
    from derive.notation import gamma
    for size in sizes:
        exprs = [claim.step.expr, mutant] + [prev for prev, _ in claim.against]
        names = free_indices(*exprs)
        for _, case in claim.against:
            if case is not None:
                names = sorted(set(names) | {case.left, case.right}, key=str)
        if "one_hot" in stated and gamma not in names:
            names.append(gamma)
        for values in itertools.product(range(1, size + 1), repeat=len(names)):
            idx = dict(zip(names, values))
            _, case = claim.against[0]
            if len(claim.against) == 1 and case is not None and case.left in idx and case.right in idx:
                if (idx[case.left] == idx[case.right]) != case.equal:
                    continue
            zs = tuple(round(rng.uniform(-2, 2), 4) for _ in range(size))
            ts = tuple(assumption_registry.draw_targets(stated, size, idx.get(gamma), rng))
            yield Point(size, idx, zs, ts)


def _cases():
    for name, derivation in DERIVATIONS.items():
        for claim in derivation_claims(derivation):
            for op, mutant in mutants(claim.step.expr):
                yield pytest.param(name, claim.index, op, mutant, id=f"{name}-step{claim.index}-{op}")


@pytest.mark.parametrize("name,index,op,mutant", list(_cases()))
def test_mutant_is_refuted_at_its_step(name, index, op, mutant):
    rng = random.Random(index * 7919 + len(op))
    derivation = DERIVATIONS[name]
    claim = derivation_claims(derivation)[index - 1]
    original = claim.step.expr
    if not any(differ(value(original, p), value(mutant, p)) for p in _points(derivation, claim, mutant, rng)):
        pytest.skip("mutant is equivalent to the original step at concrete K")
    steps = list(derivation.steps)
    steps[index - 1] = dataclasses.replace(steps[index - 1], expr=mutant)
    broken = dataclasses.replace(derivation, steps=tuple(steps))
    report = check_step(broken, index)
    assert report.verdict.status is Status.REFUTED, report.verdict.message
    cex = report.verdict.counterexample
    assert cex is not None
    # re-evaluate the counterexample independently: it really breaks the step
    assert any(differ(value(prev, cex.point), value(mutant, cex.point)) for prev in report.previous)
