"""The checkout's generated module, found from the tests' own location (not the current directory)."""

from pathlib import Path

from derive.output.measure import load_generated

PATH = Path(__file__).resolve().parent.parent / "generated" / "softmax_ce.py"


def load():
    return load_generated(PATH)
