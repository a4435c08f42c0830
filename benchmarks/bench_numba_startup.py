"""What the first call of the numba module costs in a new process: with numba's cache warm, and cold.

Each run is a fresh Python process that imports generated/softmax_ce_numba.py and
calls cross_entropy_grad once on a 4x10 float64 block: timed from starting the
process to the end of that call (the start of Python and the import of NumPy and
numba included, the interpreter's exit not).  Warm: after `derive warm`, the kernels load from
numba's on-disk cache.  Cold: a copy of the module in a fresh directory, so no
cache exists and the kernel is compiled on that call (what a user pays without
`derive warm`).  Baseline in the same run: a process that imports NumPy only.
Target (issue 15): warm first call <= 0.5 s, median.  numba imports scipy.linalg on that call when SciPy is
installed (about 85 ms); derive does not need SciPy, so the warm call is timed both ways.

    python benchmarks/bench_numba_startup.py [--runs 7]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODULE = ROOT / "generated" / "softmax_ce_numba.py"
FIRST_CALL = ("import sys, numpy as np; sys.path.insert(0, {directory!r}); import softmax_ce_numba as s; "
              "s.cross_entropy_grad(np.zeros((4, 10)), np.zeros(4, np.int64))")
#: numba's first call imports scipy.linalg when SciPy is installed (about 85 ms); derive does not need SciPy,
#: so the first call is also timed as it is where SciPy is absent
WITHOUT_SCIPY = "import sys; sys.modules['scipy'] = None; "


def seconds(code: str) -> float:
    """From starting the process to the end of `code` in it (wall clock, read in both): what a user waits for
    before the first result.  The interpreter's exit afterwards is not counted (measured: 0.1-0.3 s of
    numba and LLVM teardown, which varies from machine to machine)."""
    start = time.time()
    done = subprocess.run([sys.executable, "-c", code + "; import time; print(repr(time.time()))"],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(done.stderr[-600:])
    return float(done.stdout.split()[-1]) - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    subprocess.run([sys.executable, "-m", "derive", "warm", str(MODULE)], check=True, capture_output=True)
    times = {"import numpy": [], "warm first call": [], "warm, no SciPy": [], "cold first call": []}
    for _ in range(args.runs):
        times["import numpy"].append(seconds("import numpy"))
        times["warm first call"].append(seconds(FIRST_CALL.format(directory=str(MODULE.parent))))
        times["warm, no SciPy"].append(seconds(WITHOUT_SCIPY + FIRST_CALL.format(directory=str(MODULE.parent))))
        with tempfile.TemporaryDirectory() as scratch:
            shutil.copy(MODULE, Path(scratch) / MODULE.name)
            times["cold first call"].append(seconds(FIRST_CALL.format(directory=scratch)))
    for name, values in times.items():
        print(f"{name:<16} median {statistics.median(values):.3f} s  (min {min(values):.3f}, "
              f"max {max(values):.3f}, n={args.runs})")
    for name in ("warm first call", "warm, no SciPy"):
        warm = statistics.median(times[name])
        print(f"target: {name} <= 0.5 s -> {'met' if warm <= 0.5 else 'NOT met'} ({warm:.3f} s)")


if __name__ == "__main__":
    main()
