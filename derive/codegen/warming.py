"""Compiling the generated numba module ahead of its first use.

numba compiles a kernel on its first call, about 0.3-2 s each, 4-30 s for the
module; with ``cache=True`` it keeps the machine code on disk (``__pycache__``
beside the module, keyed by the file's path and modification time), so a later
process loads it in milliseconds.  ``derive codegen --backend numba`` and
``derive warm`` call the module's own ``warm()``, which runs every kernel once
for float32 and float64 input, so no user call pays for compilation.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

from ..errors import CodegenError, InputError


def numba_available() -> bool:
    """Whether numba can be imported (the optional extra derive[fast])."""
    return importlib.util.find_spec("numba") is not None


def warm(path: Path) -> tuple[float, int]:
    """(seconds, kernel signatures made ready) for the numba module at `path`."""
    if not numba_available():
        raise CodegenError("numba is not installed: pip install 'derive[fast]' (the numba module needs it)")
    if not Path(path).is_file():
        raise InputError(f"{path} does not exist: run 'derive codegen --backend numba' first")
    start = time.perf_counter()
    # under its file name, as `import softmax_ce_numba` would: numba's cache records the module by name
    spec = importlib.util.spec_from_file_location(Path(path).stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        count = module.warm()
    except Exception as exc:  # noqa: BLE001 (a broken or foreign file: say which, never a traceback)
        raise CodegenError(f"{path} could not be compiled: {type(exc).__name__}: {exc}") from None
    return time.perf_counter() - start, count
