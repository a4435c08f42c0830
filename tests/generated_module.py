"""The checkout's generated modules, found from the tests' own location (not the current directory).

Both backends are tested by the same tests: a test that takes the fixture ``g`` (tests/conftest.py) runs
once on the NumPy module and once on the numba module.  The numba module needs numba (the extra
derive[fast]); without it its runs are skipped with that message, unless DERIVE_REQUIRE_NUMBA is set
(CI installs numba and sets it, so there a missing numba fails instead of skipping).
"""

import ast
import importlib.util
import os
import sys
from pathlib import Path

import pytest

from derive.output.measure import load_generated

GENERATED = Path(__file__).resolve().parent.parent / "generated"
PATH = GENERATED / "softmax_ce.py"
NUMBA_PATH = GENERATED / "softmax_ce_numba.py"
BACKENDS = ("numpy", "numba")


def load():
    return load_generated(PATH)


def load_numba():
    """The numba module, imported under its file name (numba's on-disk cache records the module by name)."""
    if importlib.util.find_spec("numba") is None:
        if os.environ.get("DERIVE_REQUIRE_NUMBA"):
            pytest.fail("DERIVE_REQUIRE_NUMBA is set but numba is not installed")
        pytest.skip("numba is not installed (pip install 'derive[fast]'): the numba module is not tested")
    if NUMBA_PATH.stem in sys.modules:
        return sys.modules[NUMBA_PATH.stem]
    spec = importlib.util.spec_from_file_location(NUMBA_PATH.stem, NUMBA_PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def load_backend(name):
    return load() if name == "numpy" else load_numba()


def top_level_imports(source: str) -> set[str]:
    """The top-level packages a module's source imports (what it needs installed)."""
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    return imported
