"""Import generated/softmax_ce.py by path (generated/ holds only what `derive codegen` writes)."""

import importlib.util
from pathlib import Path

PATH = Path(__file__).resolve().parent.parent / "generated" / "softmax_ce.py"


def load(path=PATH):
    spec = importlib.util.spec_from_file_location("softmax_ce_generated", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
