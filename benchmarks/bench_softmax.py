"""Time the generated functions against hand-written NumPy, SciPy, PyTorch and JAX, plus two floors.

For each shape (B, K) and dtype, every implementation is timed in interleaved
rounds (so machine load hits all alike) and the median time per call is
reported, with ratios against the careful hand-written stable NumPy version and
against one `np.exp` pass over the input (every softmax evaluates K
exponentials).  Floors: `np.copyto` of the input (memory bandwidth) and one
`np.exp` pass.  PyTorch runs on the CPU with 1 thread; PyTorch and JAX are
skipped when not installed.

    python benchmarks/bench_softmax.py [--quick] [--rounds 7]

Targets (issue 3): cross_entropy_grad with labels <= 0.9x hand-written and
<= 2.5x one exp pass at 4096x1000, and no slower than SciPy on any shape.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SHAPES = [(1, 10), (64, 10), (4096, 10), (256, 1000), (4096, 1000), (64, 50000)]


def load_generated():
    spec = importlib.util.spec_from_file_location("softmax_ce", ROOT / "generated" / "softmax_ce.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- hand-written, careful and stable ----------------------------------------------------------
def hand_softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def hand_log_softmax(z):
    s = z - z.max(axis=-1, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=-1, keepdims=True))


def hand_grad(z, labels):
    y = hand_softmax(z)
    y[np.arange(z.shape[0]), labels] -= 1
    return y


def peers(z, labels):
    """name -> {task: callable} for every implementation available here."""
    gen = load_generated()
    given = np.empty_like(z)
    out = {
        "generated": {"softmax": lambda: gen.softmax(z), "log_softmax": lambda: gen.log_softmax(z),
                      "grad": lambda: gen.cross_entropy_grad(z, labels)},
        "generated, out=": {"softmax": lambda: gen.softmax(z, out=given),
                            "log_softmax": lambda: gen.log_softmax(z, out=given),
                            "grad": lambda: gen.cross_entropy_grad(z, labels, out=given)},
        "hand numpy": {"softmax": lambda: hand_softmax(z), "log_softmax": lambda: hand_log_softmax(z),
                       "grad": lambda: hand_grad(z, labels)},
    }
    try:
        import scipy.special as sps

        def scipy_grad():
            y = sps.softmax(z, axis=-1)
            y[np.arange(z.shape[0]), labels] -= 1
            return y

        out["scipy"] = {"softmax": lambda: sps.softmax(z, axis=-1), "log_softmax": lambda: sps.log_softmax(z, axis=-1),
                        "grad": scipy_grad}
    except ImportError:
        pass
    try:
        import torch

        torch.set_num_threads(1)
        zt, lt = torch.from_numpy(z), torch.from_numpy(labels)
        rows = torch.arange(z.shape[0])

        def torch_grad():
            y = torch.softmax(zt, -1)
            y[rows, lt] -= 1
            return y

        out["torch (1 thread)"] = {"softmax": lambda: torch.softmax(zt, -1),
                                   "log_softmax": lambda: torch.log_softmax(zt, -1), "grad": torch_grad}
    except ImportError:
        pass
    try:
        import jax

        zj, lj = jax.device_put(z), jax.device_put(labels)
        soft = jax.jit(lambda x: jax.nn.softmax(x, axis=-1))
        logsoft = jax.jit(lambda x: jax.nn.log_softmax(x, axis=-1))
        grad = jax.jit(lambda x, labels: jax.nn.softmax(x, axis=-1)
                       - jax.nn.one_hot(labels, x.shape[-1], dtype=x.dtype))
        out["jax (jit)"] = {"softmax": lambda: soft(zj).block_until_ready(),
                            "log_softmax": lambda: logsoft(zj).block_until_ready(),
                            "grad": lambda: grad(zj, lj).block_until_ready()}
    except ImportError:
        pass
    buffer = np.empty_like(z)
    out["floor: copyto"] = {"floor": lambda: np.copyto(buffer, z)}
    out["floor: one exp"] = {"floor": lambda: np.exp(z, out=buffer)}
    return out


def time_all(calls: dict, rounds: int) -> dict:
    """Median seconds per call for each (name, task), interleaving the implementations."""
    numbers = {}
    for key, fn in calls.items():
        fn()  # warm up (JIT compilation, caches)
        start = time.perf_counter()
        fn()
        once = max(time.perf_counter() - start, 1e-7)
        numbers[key] = max(1, int(0.02 / once))
    samples = {key: [] for key in calls}
    for _ in range(rounds):
        for key, fn in calls.items():
            n = numbers[key]
            start = time.perf_counter()
            for _ in range(n):
                fn()
            samples[key].append((time.perf_counter() - start) / n)
    return {key: statistics.median(v) for key, v in samples.items()}


def fmt(seconds: float) -> str:
    return f"{seconds * 1e6:9.1f} us" if seconds < 1e-3 else f"{seconds * 1e3:9.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="only 4096x1000 float64")
    args = parser.parse_args()
    shapes = [(4096, 1000)] if args.quick else SHAPES
    dtypes = [np.float64] if args.quick else [np.float64, np.float32]
    rng = np.random.default_rng(0)
    verdicts = []
    for dtype in dtypes:
        for shape in shapes:
            z = rng.standard_normal(shape).astype(dtype)
            labels = rng.integers(0, shape[1], shape[0])
            impls = peers(z, labels)
            calls = {(name, task): fn for name, tasks in impls.items() for task, fn in tasks.items()}
            medians = time_all(calls, args.rounds)
            exp_floor = medians[("floor: one exp", "floor")]
            print(f"\n{np.dtype(dtype).name} B={shape[0]} K={shape[1]}   (one exp pass {fmt(exp_floor)}, "
                  f"copyto {fmt(medians[('floor: copyto', 'floor')])})")
            print(f"  {'implementation':<18}{'softmax':>13}{'log_softmax':>13}{'grad(labels)':>13}"
                  f"{'grad/hand':>11}{'grad/exp':>10}")
            hand = medians[("hand numpy", "grad")]
            for name, tasks in impls.items():
                if "floor" in tasks:
                    continue
                row = [medians[(name, t)] for t in ("softmax", "log_softmax", "grad")]
                print(f"  {name:<18}" + "".join(f"{fmt(x):>13}" for x in row)
                      + f"{row[2] / hand:>10.2f}x{row[2] / exp_floor:>9.2f}x")
            if "scipy" in impls:
                for task in ("softmax", "log_softmax", "grad"):
                    ratio = medians[("generated", task)] / medians[("scipy", task)]
                    verdicts.append((f"{np.dtype(dtype).name} {shape} {task} vs scipy", ratio, 1.0))
            if shape == (4096, 1000):
                name = np.dtype(dtype).name
                verdicts.append((f"{name} {shape} grad vs hand numpy", medians[("generated", "grad")] / hand, 0.9))
                verdicts.append((f"{name} {shape} grad vs one exp pass",
                                 medians[("generated", "grad")] / exp_floor, 2.5))
                verdicts.append((f"{name} {shape} grad(out=) vs one exp pass",
                                 medians[("generated, out=", "grad")] / exp_floor, 2.5))
    print("\ntargets:")
    for what, ratio, limit in verdicts:
        print(f"  {what:<48} {ratio:6.2f}x  (target <= {limit}x)  {'met' if ratio <= limit else 'NOT met'}")


if __name__ == "__main__":
    sys.exit(main())
