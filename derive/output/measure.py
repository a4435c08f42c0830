"""Numeric checks of the generated module against independent references.

Used by the tests and by the report (which measures when it is built, never
pastes numbers).  The references share nothing with the generated code: a
high-precision mpmath evaluation of the textbook formulas (400 digits, so that
1 + R keeps R even when R ~ e^-745 and no log1p trick is needed), and central
finite differences.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import mpmath
import numpy as np

REFERENCE_DIGITS = 400
#: where `derive codegen` writes by default, relative to the current directory
GENERATED = Path("generated") / "softmax_ce.py"


def load_generated(path: Path = GENERATED):
    """Import the generated module from its file (generated/ is not a package)."""
    spec = importlib.util.spec_from_file_location("softmax_ce_generated", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def reference(z, labels, t) -> dict:
    """Row-wise mpmath values of softmax, log-softmax, cross-entropy and gradients (lists of rows)."""
    out = {"softmax": [], "log_softmax": [], "ce_label": [], "grad_label": [], "ce_soft": [], "grad_soft": []}
    with mpmath.workdps(REFERENCE_DIGITS):
        for row, label, trow in zip(z, labels, t):
            r = [mpmath.mpf(float(x)) for x in row]
            top = max(r)
            total = mpmath.fsum(mpmath.exp(x - top) for x in r)
            log_total = mpmath.log(total)
            y = [mpmath.exp(x - top) / total for x in r]
            logy = [x - top - log_total for x in r]
            tm = [mpmath.mpf(float(x)) for x in trow]
            out["softmax"].append(y)
            out["log_softmax"].append(logy)
            out["ce_label"].append([-logy[label]])
            out["grad_label"].append([y[n] - (1 if n == label else 0) for n in range(len(y))])
            out["ce_soft"].append([-mpmath.fsum(a * b for a, b in zip(tm, logy))])
            out["grad_soft"].append([a - b for a, b in zip(y, tm)])
    return out


def max_ulps(got, ref, dtype, scale=None) -> float:
    """Largest error in units in the last place of the reference value (or of `scale`, per entry).

    Results below the smallest normal number are allowed to round to the
    nearest subnormal or to 0; they must not exceed twice that number.
    """
    tiny = np.finfo(dtype).tiny
    flat_ref = [x for row in ref for x in row]
    worst = 0.0
    for n, (value, exact) in enumerate(zip(np.ravel(got), flat_ref)):
        size = abs(float(exact)) if scale is None else float(scale[n])
        if size < tiny:
            if abs(float(value)) > 2 * tiny:
                return float("inf")
            continue
        unit = float(np.spacing(dtype(size)))
        with mpmath.workdps(REFERENCE_DIGITS):
            worst = max(worst, float(abs(mpmath.mpf(float(value)) - exact)) / unit)
    return worst


@dataclass(frozen=True)
class AccuracyRow:
    dtype: str
    scale: float
    classes: int
    ulps: dict


def accuracy(module, dtype, scale, classes, rows=None, seed=None) -> AccuracyRow:
    """Max ulp error of each function on random logits N(0, scale^2), K = classes."""
    rng = np.random.default_rng(int(scale) * 31 + classes if seed is None else seed)
    rows = rows or (6 if classes < 1000 else 2)
    z = (rng.standard_normal((rows, classes)) * scale).astype(dtype)
    labels = rng.integers(0, classes, rows)
    t = rng.random((rows, classes)) + 0.01
    t /= t.sum(axis=-1, keepdims=True)
    ref = reference(z, labels, t)
    results = {
        "softmax": module.softmax(z),
        "log_softmax": module.log_softmax(z),
        "ce_label": module.cross_entropy(z, labels),
        "grad_label": module.cross_entropy_grad(z, labels),
        "ce_soft": module.cross_entropy(z, t),
    }
    ulps = {name: max_ulps(value, ref[name], dtype) for name, value in results.items()}
    # y - t cancels when y_j ~ t_j: measured in ulps of max(|y_j|, |t_j|), the best possible
    y = np.array([[float(x) for x in row] for row in ref["softmax"]])
    ulps["grad_soft"] = max_ulps(module.cross_entropy_grad(z, t), ref["grad_soft"], dtype,
                                 np.maximum(np.abs(y), np.abs(t)).ravel())
    finite = all(np.all(np.isfinite(v)) for v in results.values())
    ulps["all_finite"] = finite
    return AccuracyRow(np.dtype(dtype).name, scale, classes, ulps)


def central_difference(f, z, h=1e-6):
    """d f(z) / d z_n along the last axis, stacked last: f may return the batch shape or more."""
    grads = []
    for n in range(z.shape[-1]):
        step = np.zeros_like(z)
        step[..., n] = h
        grads.append((f(z + step) - f(z - step)) / (2 * h))
    return np.stack(grads, axis=-1)


def relative_error(analytic, numeric) -> float:
    """Max |analytic - numeric| over each row's largest |numeric| (no division by a + b)."""
    scale = np.max(np.abs(numeric), axis=-1, keepdims=True) + 1e-300
    return float(np.max(np.abs(analytic - numeric) / scale))


def finite_differences(module, seed=0) -> dict:
    """Max relative disagreement of the derivatives with central differences, on random inputs."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((4, 3, 17)) * 2
    labels = rng.integers(0, 17, (4, 3))
    t = rng.random(z.shape)
    t /= t.sum(axis=-1, keepdims=True)
    v = rng.standard_normal(z.shape)
    return {
        "cross_entropy_grad (labels)": relative_error(
            module.cross_entropy_grad(z, labels), central_difference(lambda x: module.cross_entropy(x, labels), z)),
        "cross_entropy_grad (soft)": relative_error(
            module.cross_entropy_grad(z, t), central_difference(lambda x: module.cross_entropy(x, t), z)),
        "softmax_jacobian": relative_error(
            np.swapaxes(module.softmax_jacobian(z), -1, -2), central_difference(module.softmax, z)),
        "softmax_vjp": relative_error(
            module.softmax_vjp(z, v), central_difference(lambda x: np.sum(v * module.softmax(x), axis=-1), z)),
    }


def measurements(path: Path = GENERATED, cache: Path | None = None) -> tuple[list, dict]:
    """(accuracy rows, finite-difference errors) of the generated module, remembered in `cache` (a JSON file)
    under the module's content hash: a report rebuilt for the same generated file does not measure again."""
    import hashlib
    import json

    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if cache is not None and cache.exists():
        try:
            stored = json.loads(cache.read_text())
            if stored.get("generated_sha256") == digest:
                return [AccuracyRow(**row) for row in stored["accuracy"]], stored["finite_differences"]
        except (ValueError, KeyError, TypeError):
            pass  # a damaged cache is measured again
    module = load_generated(path)
    rows = [accuracy(module, dtype, scale, classes)
            for dtype in (np.float64, np.float32) for scale in (1, 100, 1e4) for classes in (2, 10, 1000)]
    fd = finite_differences(module)
    if cache is not None:
        from .files import write_atomically

        cache.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(cache, json.dumps({"generated_sha256": digest,
                                            "accuracy": [dataclasses.asdict(r) for r in rows],
                                            "finite_differences": fd}, indent=1, default=float))
    return rows, fd
