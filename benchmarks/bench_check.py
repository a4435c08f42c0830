"""Time `derive check` as a whole process against `python -c "import sympy"`.

Two checks: the built-in derivations (the notes' transcriptions and the numerics
ones), and the user's notes file read as a document
(../shared/notes/softmax-cross-entropy-notes.md, skipped when absent).  All are
measured in the same run, interleaved, so machine load affects them alike.
Prints the medians and their ratios to importing SymPy.  Target: each median
under 2 s.

    python benchmarks/bench_check.py [--runs 9]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

NOTES = Path(__file__).resolve().parents[2] / "shared" / "notes" / "softmax-cross-entropy-notes.md"
COMMANDS = {
    "import sympy": [sys.executable, "-c", "import sympy"],
    "derive check": [sys.executable, "-m", "derive", "check"],
}
if NOTES.exists():
    COMMANDS["check notes.md"] = [sys.executable, "-m", "derive", "check", str(NOTES)]


def run_once(cmd) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr[-500:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    times = {name: [] for name in COMMANDS}
    for cmd in COMMANDS.values():
        run_once(cmd)  # warm the file cache
    for _ in range(args.runs):
        for name, cmd in COMMANDS.items():
            times[name].append(run_once(cmd))
    medians = {name: statistics.median(v) for name, v in times.items()}
    for name, m in medians.items():
        print(f"{name:<15} median {m:.3f} s  (min {min(times[name]):.3f}, max {max(times[name]):.3f}, n={args.runs})")
    target = 2.0
    for name, m in medians.items():
        if name == "import sympy":
            continue
        print(f"ratio {name} / import sympy: {m / medians['import sympy']:.2f}x; "
              f"target < {target:.1f} s median -> {'met' if m < target else 'NOT met'}")


if __name__ == "__main__":
    main()
