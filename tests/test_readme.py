"""The README says what is true.

* Every block of sample output is preceded by ``<!-- sample: derive ARGS -->``; the test runs that command
  from the checkout and compares its output, line by line, with the block.  ``UPDATE_README=1 pytest
  tests/test_readme.py`` rewrites the blocks from the real output instead.
* The Python API example runs, and prints what the block after it (``<!-- output of the example above -->``)
  says.
* Every path of the checkout the README names exists; it names no path outside the checkout.
* It starts with exactly two set-up commands, the first in a virtual environment.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
SAMPLE = re.compile(r"<!-- sample: derive (?P<args>[^>]*?) -->\n```[a-z]*\n(?P<body>.*?)```", re.DOTALL)
EXAMPLE = re.compile(r"```python\n(?P<code>.*?)```\n<!-- output of the example above -->\n```\n(?P<out>.*?)```",
                     re.DOTALL)


def run_derive(args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "NO_COLOR")}
    done = subprocess.run([sys.executable, "-m", "derive", *shlex.split(args)], cwd=ROOT, capture_output=True,
                          text=True, env=env, timeout=600)
    return done.stdout + done.stderr


def samples(text: str):
    return list(SAMPLE.finditer(text))


def test_there_are_samples():
    assert len(samples(README.read_text())) >= 3


@pytest.mark.parametrize("match", samples(README.read_text()), ids=lambda m: m.group("args"))
def test_each_sample_is_the_real_output(match):
    real = run_derive(match.group("args"))
    if os.environ.get("UPDATE_README"):
        text = README.read_text()
        current = next(m for m in samples(text) if m.group("args") == match.group("args"))
        start, end = current.span("body")
        README.write_text(text[:start] + real + text[end:])
        pytest.skip("README updated")
    assert match.group("body") == real


def test_the_api_example_prints_what_it_says():
    match = EXAMPLE.search(README.read_text())
    assert match is not None
    done = subprocess.run([sys.executable, "-c", match.group("code")], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stdout == match.group("out")


def test_paths_the_readme_names_exist_in_the_checkout():
    text = README.read_text()
    named = set(re.findall(r"`((?:derive|tests|templates|generated|benchmarks|\.ci)/[\w./{},*-]*)`", text))
    assert named
    for path in named:
        if path.startswith("generated/report"):
            continue  # what `derive report` writes, not part of the checkout
        for expanded in _expand(path.split()[0]):
            assert list(ROOT.glob(expanded)) or (ROOT / expanded).exists(), expanded
    assert "shared/" not in text.replace("../shared/corpus", "")  # nothing a user of the checkout lacks


def _expand(path: str) -> list[str]:
    """derive/derivations/{a,b}.deriv -> the two paths."""
    found = re.search(r"\{([^}]*)\}", path)
    if not found:
        return [path]
    return [path[:found.start()] + part + path[found.end():] for part in found.group(1).split(",")]


def test_it_starts_with_two_commands_in_a_virtual_environment():
    text = README.read_text()
    first_block = text.split("```sh\n", 1)[1].split("```", 1)[0]
    commands = [line for line in first_block.splitlines() if line.strip()]
    assert len(commands) == 2
    assert "python3 -m venv" in commands[0] and "pip install" in commands[0]
    assert "pytest" in commands[1]
