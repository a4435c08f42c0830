"""Count the checker's verdicts on many true identities and false statements.

    python tests/soundness_counts.py [--identities 240] [--seed 0]

True identities come from tests/statements.py (one valid rewrite each);
false statements are the hand-written FALSE_CLAIMS plus mutations of the true
identities that the independent reference (tests/reference.py) shows to be
false at some point.  A proved false statement or a refuted true identity is
a soundness failure and is listed.  Not collected by pytest (a measurement,
quoted in issue notes); the property tests in test_soundness.py assert the
same on a smaller sample.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from derive import check_equal  # noqa: E402
from derive.verdicts import Status  # noqa: E402

from statements import FALSE_CLAIMS, mutations, true_identities  # noqa: E402
from test_soundness import _really_differ  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--identities", type=int, default=240)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    started = time.monotonic()
    true_counts, false_counts, bad = Counter(), Counter(), []
    false_statements = list(FALSE_CLAIMS)
    for name, lhs, rhs, assumptions in true_identities(rng, args.identities):
        verdict = check_equal(lhs, rhs, assumptions)
        true_counts[verdict.status.value] += 1
        if verdict.status is Status.REFUTED:
            bad.append(("true identity refuted", name, lhs, rhs, verdict.message))
        for label, mutant in mutations(rhs):
            if _really_differ(lhs, mutant, assumptions, rng):
                false_statements.append((f"{name} / {label}", lhs, mutant, assumptions))
    for name, lhs, rhs, assumptions in false_statements:
        verdict = check_equal(lhs, rhs, assumptions)
        false_counts[verdict.status.value] += 1
        if verdict.status is Status.PROVED:
            bad.append(("false statement proved", name, lhs, rhs, verdict.message))
    order = [s.value for s in Status]
    print(f"true identities: {sum(true_counts.values())}: " + ", ".join(f"{true_counts[s]} {s}" for s in order))
    print(f"false statements: {sum(false_counts.values())}: " + ", ".join(f"{false_counts[s]} {s}" for s in order))
    print(f"({time.monotonic() - started:.0f} s)")
    for what, name, lhs, rhs, message in bad:
        print(f"SOUNDNESS FAILURE: {what}: {name}: {lhs} = {rhs}: {message}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
