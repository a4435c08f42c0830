"""What diagnosis and justification checks cost: `derive check` work with and without them, same run.

Checks the notes (their three built-in derivations, and the notes file read as a document) plus
tests/derivations/wrong_step.deriv (a refuted step, so a diagnosis is made), in one process, alternating
'without' and 'with' and clearing every cache before each run, so each is measured from cold.  Prints the
medians and the ratio.  Target: with <= 1.5 x without.

    python benchmarks/bench_diagnosis.py [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import sympy as sp

from derive.check import licensing, numeric
from derive.check.checker import check_derivation
from derive.read.builtin import notes
from derive.read.derivation_file import load
from derive.read.documents import load_document

ROOT = Path(__file__).resolve().parents[1]
NOTES = ROOT.parent / "shared" / "notes" / "softmax-cross-entropy-notes.md"


def derivations() -> list:
    out = list(notes().values()) + [load(str(ROOT / "tests" / "derivations" / "wrong_step.deriv"))]
    if NOTES.exists():
        out += load_document(str(NOTES)).derivations
    return out


def clear_caches() -> None:
    sp.core.cache.clear_cache()
    for table in (numeric._VALUES, numeric._COMPILED, licensing._SATURATED, licensing._REWRITTEN):
        table.clear()


def run(items, extras: bool) -> float:
    clear_caches()
    start = time.perf_counter()
    for derivation in items:
        check_derivation(derivation, licenses=extras, diagnoses=extras)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    items = derivations()
    run(items, True)  # warm imports and code paths
    without, with_ = [], []
    for _ in range(args.runs):
        without.append(run(items, False))
        with_.append(run(items, True))
    a, b = statistics.median(without), statistics.median(with_)
    print(f"{len(items)} derivations; without diagnosis and reason checks: median {a:.3f} s; "
          f"with: median {b:.3f} s (n={args.runs})")
    print(f"ratio with / without: {b / a:.2f}x; target <= 1.50x -> {'met' if b / a <= 1.5 else 'NOT met'}")


if __name__ == "__main__":
    main()
