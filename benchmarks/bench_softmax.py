"""Time both generated backends against hand-written NumPy, SciPy, PyTorch and JAX, with two floors.

For each shape (B, K) and dtype, every implementation is timed in interleaved
rounds (machine load hits all alike) and the median time per call is reported,
with ratios against the fastest peer and against one `np.exp` pass over the
input.  Floors: `np.copyto` of the input (memory bandwidth) and one `np.exp`
pass.  Peers: hand-written stable NumPy, SciPy, PyTorch on one thread, JAX (jit).

Multi-threaded code is timed in its own process: JAX's XLA runtime keeps worker
threads spinning after a call, which take the second core of a 2-core machine
and halve the speed of whatever is timed next.  So the main process times the
single-threaded implementations, then runs this script again with `--jax-only`
(XLA told to use one thread, the process pinned to one core: the targets compare
one thread with one thread) and merges its medians.

Every implementation is timed with the C library's allocator in a steady state: glibc returns freed
blocks of a few MB to the system and page-faults them back on the next call, and whether it does depends on
what the process allocated before (measured: hand-written NumPy softmax at 256 x 1000 took 2.1 ms in a fresh
process, 0.42 ms after one larger array had come and gone).  So the script runs itself with glibc's mmap and
trim thresholds raised (MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_): the peers that allocate
temporaries are measured at their best, not at the allocator's whim.

    python benchmarks/bench_softmax.py [--quick] [--rounds 7]

Targets (issue 15):
* numba backend: gradient with labels <= 0.9x the fastest peer at every shape and dtype; softmax the same in
  float64, float32 softmax at K >= 1000 at most 1.0x PyTorch; <= 1.8x one np.exp pass at K >= 1000;
* NumPy backend: at 1x10 faster than SciPy for softmax and the gradient; at >= 256 rows never slower than SciPy.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SHAPES = [(1, 10), (64, 10), (4096, 10), (256, 1000), (4096, 1000), (64, 50000)]
TASKS = ("softmax", "log_softmax", "grad")
PEERS = ("hand numpy", "scipy", "torch (1 thread)", "jax (jit, 1 thread)")
#: XLA's CPU runtime on one thread (the targets compare one thread with one thread)
JAX_ONE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def load(name: str):
    path = ROOT / "generated" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # numba's cache records the module by name
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


def serial_implementations(z, labels) -> dict:
    """name -> {task: callable} for everything that runs on one thread."""
    out = {}
    numpy_module = load("softmax_ce")
    out["generated numpy"] = {"softmax": lambda: numpy_module.softmax(z),
                              "log_softmax": lambda: numpy_module.log_softmax(z),
                              "grad": lambda: numpy_module.cross_entropy_grad(z, labels)}
    if importlib.util.find_spec("numba") is not None:
        numba_module = load("softmax_ce_numba")
        out["generated numba"] = {"softmax": lambda: numba_module.softmax(z),
                                  "log_softmax": lambda: numba_module.log_softmax(z),
                                  "grad": lambda: numba_module.cross_entropy_grad(z, labels)}
    out["hand numpy"] = {"softmax": lambda: hand_softmax(z), "log_softmax": lambda: hand_log_softmax(z),
                         "grad": lambda: hand_grad(z, labels)}
    try:
        import scipy.special as sps

        def scipy_grad():
            y = sps.softmax(z, axis=-1)
            y[np.arange(z.shape[0]), labels] -= 1
            return y

        out["scipy"] = {"softmax": lambda: sps.softmax(z, axis=-1),
                        "log_softmax": lambda: sps.log_softmax(z, axis=-1), "grad": scipy_grad}
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
    return out


def floors(z) -> dict:
    buffer = np.empty_like(z)
    return {"floor: copyto": {"floor": lambda: np.copyto(buffer, z)},
            "floor: one exp": {"floor": lambda: np.exp(z, out=buffer)}}


def jax_implementations(z, labels) -> dict:
    import jax

    jax.config.update("jax_enable_x64", True)
    zj, lj = jax.device_put(z), jax.device_put(labels)
    soft = jax.jit(lambda x: jax.nn.softmax(x, axis=-1))
    logsoft = jax.jit(lambda x: jax.nn.log_softmax(x, axis=-1))
    grad = jax.jit(lambda x, labels: jax.nn.softmax(x, axis=-1) - jax.nn.one_hot(labels, x.shape[-1], dtype=x.dtype))
    return {"jax (jit, 1 thread)": {"softmax": lambda: soft(zj).block_until_ready(),
                          "log_softmax": lambda: logsoft(zj).block_until_ready(),
                          "grad": lambda: grad(zj, lj).block_until_ready()}}


def time_all(impls: dict, rounds: int) -> dict:
    """Median seconds per call for each (name, task), interleaving the implementations."""
    calls = {(name, task): fn for name, tasks in impls.items() for task, fn in tasks.items()}
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


def data(shape, dtype):
    rng = np.random.default_rng(0)
    z = rng.standard_normal(shape).astype(dtype)
    labels = rng.integers(0, shape[1], shape[0])
    return z, labels


def jax_in_its_own_process(shapes, dtypes, rounds) -> dict:
    """{(dtype, shape): {task: median}} from a separate process (JAX's threads spin after each call)."""
    if importlib.util.find_spec("jax") is None:
        return {}
    env = {**os.environ, "XLA_FLAGS": JAX_ONE_THREAD}
    run = subprocess.run([sys.executable, __file__, "--jax-only", "--rounds", str(rounds),
                          "--shapes", json.dumps(shapes), "--dtypes", json.dumps(dtypes)],
                         capture_output=True, text=True, timeout=1800, env=env)
    if run.returncode != 0:
        print(f"(JAX not timed: {run.stderr.strip().splitlines()[-1:]})")
        return {}
    return {(d, tuple(s)): v for d, s, v in json.loads(run.stdout)}


def fmt(seconds: float) -> str:
    return f"{seconds * 1e6:9.1f} us" if seconds < 1e-3 else f"{seconds * 1e3:9.2f} ms"


#: glibc's allocator kept in a steady state (see the module doc); the mmap threshold's largest allowed value
STEADY_ALLOCATOR = {"MALLOC_MMAP_THRESHOLD_": str(32 * 2**20), "MALLOC_TRIM_THRESHOLD_": str(2**31)}


def main() -> None:
    if sys.platform.startswith("linux") and any(os.environ.get(k) != v for k, v in STEADY_ALLOCATOR.items()):
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **STEADY_ALLOCATOR})
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="only 4096x1000 and 1x10, float64")
    parser.add_argument("--jax-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--shapes", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--dtypes", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    shapes = [tuple(s) for s in json.loads(args.shapes)] if args.shapes else \
        ([(1, 10), (4096, 1000)] if args.quick else SHAPES)
    dtypes = json.loads(args.dtypes) if args.dtypes else (["float64"] if args.quick else ["float64", "float32"])
    if args.jax_only:
        if hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # and on one core, whatever XLA starts
        results = []
        for dtype in dtypes:
            for shape in shapes:
                medians = time_all(jax_implementations(*data(shape, dtype)), args.rounds)
                results.append((dtype, list(shape), {task: medians[("jax (jit, 1 thread)", task)] for task in TASKS}))
        print(json.dumps(results))
        return
    print(f"numpy {np.__version__}; medians of {args.rounds} interleaved rounds; JAX in its own process")
    table = {}
    for dtype in dtypes:
        for shape in shapes:
            impls = {**serial_implementations(*data(shape, dtype)), **floors(data(shape, dtype)[0])}
            medians = time_all(impls, args.rounds)
            table[(dtype, shape)] = medians
    for (dtype, shape), tasks in jax_in_its_own_process([list(s) for s in shapes], dtypes, args.rounds).items():
        for task, seconds in tasks.items():
            table[(dtype, shape)][("jax (jit, 1 thread)", task)] = seconds
    verdicts = report(table)
    print("\ntargets:")
    for what, ratio, limit in verdicts:
        print(f"  {what:<58} {ratio:6.2f}x  (target <= {limit}x)  {'met' if ratio <= limit else 'NOT met'}")


def report(table: dict) -> list:
    verdicts = []
    for (dtype, shape), medians in table.items():
        exp_floor = medians[("floor: one exp", "floor")]
        names = sorted({name for name, task in medians if task != "floor"},
                       key=lambda n: (n not in ("generated numba", "generated numpy"), n))
        print(f"\n{dtype} B={shape[0]} K={shape[1]}   (one exp pass {fmt(exp_floor)}, "
              f"copyto {fmt(medians[('floor: copyto', 'floor')])})")
        print(f"  {'implementation':<18}" + "".join(f"{t:>13}" for t in TASKS) + f"{'grad/peer':>11}{'grad/exp':>10}")
        best = {task: min(medians[(p, task)] for p in PEERS if (p, task) in medians) for task in TASKS}
        for name in names:
            row = [medians[(name, t)] for t in TASKS]
            print(f"  {name:<18}" + "".join(f"{fmt(x):>13}" for x in row)
                  + f"{row[2] / best['grad']:>10.2f}x{row[2] / exp_floor:>9.2f}x")
        label = f"{dtype} {shape[0]}x{shape[1]}"
        if ("generated numba", "grad") in medians:
            verdicts.append((f"numba {label} grad / fastest peer", medians[("generated numba", "grad")]
                             / best["grad"], 0.9))
            if dtype == "float64":
                verdicts.append((f"numba {label} softmax / fastest peer",
                                 medians[("generated numba", "softmax")] / best["softmax"], 0.9))
            elif shape[1] >= 1000 and ("torch (1 thread)", "softmax") in medians:
                verdicts.append((f"numba {label} softmax / PyTorch",
                                 medians[("generated numba", "softmax")] / medians[("torch (1 thread)", "softmax")],
                                 1.0))
            if shape[1] >= 1000:
                verdicts.append((f"numba {label} grad / one exp pass",
                                 medians[("generated numba", "grad")] / exp_floor, 1.8))
        if ("scipy", "grad") in medians and (shape == (1, 10) or shape[0] >= 256):
            for task in ("softmax", "grad"):
                verdicts.append((f"numpy {label} {task} / scipy",
                                 medians[("generated numpy", task)] / medians[("scipy", task)], 1.0))
    return verdicts


if __name__ == "__main__":
    sys.exit(main())
