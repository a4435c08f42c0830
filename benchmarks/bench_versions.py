"""Time two versions of the generated module against each other, in one run (interleaved rounds, medians).

    python benchmarks/bench_versions.py OLD.py [NEW.py] [--rounds 7] [--quick]

NEW defaults to generated/softmax_ce.py.  Prints the median time of every public function at every shape
and dtype of bench_softmax.py for both versions, and NEW / OLD.  Used to show that a change to the code
generator kept the generated code's speed (e.g. the restructuring of issue 11: within 5%).
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_softmax import ROOT, SHAPES, fmt, time_all  # noqa: E402


def load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tasks(module, z, labels, soft):
    out = np.empty_like(z)
    return {"softmax": lambda: module.softmax(z), "log_softmax": lambda: module.log_softmax(z),
            "cross_entropy": lambda: module.cross_entropy(z, labels),
            "grad(labels)": lambda: module.cross_entropy_grad(z, labels),
            "grad(soft)": lambda: module.cross_entropy_grad(z, soft),
            "grad(labels, out=)": lambda: module.cross_entropy_grad(z, labels, out=out),
            "softmax_vjp": lambda: module.softmax_vjp(z, soft)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path, nargs="?", default=ROOT / "generated" / "softmax_ce.py")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="only 4096x1000 float64")
    args = parser.parse_args()
    versions = {"old": load(args.old, "old_module"), "new": load(args.new, "new_module")}
    rng = np.random.default_rng(0)
    ratios = []
    shapes = [(4096, 1000)] if args.quick else SHAPES
    for dtype in [np.float64] if args.quick else [np.float64, np.float32]:
        for shape in shapes:
            z = rng.standard_normal(shape).astype(dtype)
            labels = rng.integers(0, shape[1], shape[0])
            soft = rng.random(shape).astype(dtype)
            soft /= soft.sum(axis=-1, keepdims=True)
            calls = {(version, task): fn for version, module in versions.items()
                     for task, fn in tasks(module, z, labels, soft).items()}
            medians = time_all(calls, args.rounds)
            print(f"\n{np.dtype(dtype).name} {shape[0]}x{shape[1]}")
            for task in tasks(versions["old"], z, labels, soft):
                old, new = medians[("old", task)], medians[("new", task)]
                ratios.append(new / old)
                print(f"  {task:<20} old {fmt(old)}  new {fmt(new)}  new/old {new / old:5.2f}")
    print(f"\nnew/old over all {len(ratios)}: median {statistics.median(ratios):.3f}, "
          f"min {min(ratios):.3f}, max {max(ratios):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
