"""Time `derive check` (all three derivations, whole process) against `python -c "import sympy"`.

Both are measured in the same run, interleaved, so machine load affects them
alike.  Prints both medians and their ratio.  Target: `derive check` median
under 2 s.

    python benchmarks/bench_check.py [--runs 9]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "import sympy": [sys.executable, "-c", "import sympy"],
    "derive check": [sys.executable, "-m", "derive", "check"],
}


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
        print(f"{name:<14} median {m:.3f} s  (min {min(times[name]):.3f}, max {max(times[name]):.3f}, n={args.runs})")
    ratio = medians["derive check"] / medians["import sympy"]
    print(f"ratio derive check / import sympy: {ratio:.2f}x")
    target = 2.0
    print(f"target: derive check < {target:.1f} s median -> {'met' if medians['derive check'] < target else 'NOT met'}")


if __name__ == "__main__":
    main()
