"""Time `derive report FILE.deriv` of a small user file as a whole process.

The report of one user file covers that file only: no generated code, no numeric measurements of it, so it
should cost about as much as checking the file plus one TeX run.  Measured against `python -c "import
sympy"` in the same run, interleaved, so machine load affects them alike.  Each run writes into a fresh
directory (no cache to lean on).  Target: the PDF report of tests/derivations/wrong_step.deriv under 3 s
(median); the HTML page beside it is timed too.

    python benchmarks/bench_report.py [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FILE = ROOT / "tests" / "derivations" / "wrong_step.deriv"


def commands(out: Path) -> dict[str, list[str]]:
    derive = [sys.executable, "-m", "derive", "report", str(FILE)]
    return {
        "import sympy": [sys.executable, "-c", "import sympy"],
        "report (PDF)": [*derive, "-o", str(out / "pdf")],
        "report (PDF + HTML)": [*derive, "--html", "-o", str(out / "html")],
    }


def run_once(cmd: list[str], expect: Path | None) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    elapsed = time.perf_counter() - start
    if done.returncode != 0 or (expect is not None and not expect.exists()):
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr[-500:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    times: dict[str, list[float]] = {}
    for run in range(args.runs + 1):  # the first round warms the file cache and is not counted
        with tempfile.TemporaryDirectory() as scratch:
            for name, cmd in commands(Path(scratch)).items():
                expect = None if name == "import sympy" else Path(cmd[-1]) / "report.pdf"
                elapsed = run_once(cmd, expect)
                if run:
                    times.setdefault(name, []).append(elapsed)
    medians = {name: statistics.median(v) for name, v in times.items()}
    for name, m in medians.items():
        print(f"{name:<20} median {m:.3f} s  (min {min(times[name]):.3f}, max {max(times[name]):.3f}, "
              f"n={args.runs})")
    target = 3.0
    for name, m in medians.items():
        if name != "import sympy":
            print(f"ratio {name} / import sympy: {m / medians['import sympy']:.2f}x; "
                  f"target < {target:.1f} s median -> {'met' if m < target else 'NOT met'}")


if __name__ == "__main__":
    main()
