"""The layout shows the flow, and it stays that way: imports point one way, every derivation has one source.

Layers, lowest first: the base (errors, notation, resources, assumptions, justifications, derivation,
verdicts), read, check, then codegen and output side by side, then the CLI.  A module may import
from its own layer or below, never from above; codegen and output do not import each other.
"""

import ast
import hashlib
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "derive"

BASE = ("errors", "notation", "resources", "assumptions", "justifications", "derivation", "verdicts")
LAYER = {**{f"derive.{name}": 0 for name in BASE}, "derive.read": 1, "derive.check": 2, "derive": 2,
         "derive.codegen": 3, "derive.output": 3, "derive.cli": 4, "derive.__main__": 4}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> tuple[int, str]:
    """(layer, group) of a module of the package: the longest prefix in LAYER decides."""
    name = module
    while name not in LAYER:
        name = name.rsplit(".", 1)[0]
    return LAYER[name], name


def _imports(path: Path) -> set[str]:
    """Every derive module a file imports (anywhere in it, also inside functions)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "derive"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "derive":
                continue
            for alias in node.names:  # 'from .. import assumptions' imports the module derive.assumptions
                candidate = f"{target}.{alias.name}"
                as_path = ROOT / Path(*candidate.split("."))
                found.add(candidate if as_path.with_suffix(".py").exists() or as_path.is_dir() else target)
    return found


MODULES = sorted(p for p in PACKAGE.rglob("*.py"))


def import_graph() -> dict[str, set[str]]:
    return {_module_name(p): _imports(p) - {_module_name(p)} for p in MODULES}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_imports_from_a_higher_layer(path):
    mine, group = _layer(_module_name(path))
    for target in _imports(path):
        theirs, other = _layer(target)
        assert theirs <= mine, f"{_module_name(path)} (layer {mine}) imports {target} (layer {theirs})"
        if mine == theirs == 3:
            assert group == other, f"{_module_name(path)} imports {target}: codegen and output stay apart"


def test_loading_never_proves():
    for path in (PACKAGE / "read").glob("*.py"):
        assert not any(t.startswith("derive.check") for t in _imports(path)), path.name


DERIVATIONS = sorted((PACKAGE / "derivations").glob("*.deriv"))


def test_the_generated_header_hashes_the_derivation_files():
    header = (ROOT / "generated" / "softmax_ce.py").read_text().split('r"""', 1)[0]
    listed = dict(re.findall(r"^#   (\w+): \S+ ([0-9a-f]{16})$", header, flags=re.M))
    assert listed, header
    for name, digest in listed.items():
        text = (PACKAGE / "derivations" / f"{name}.deriv").read_text(encoding="utf-8")
        assert hashlib.sha256(text.encode("utf-8")).hexdigest()[:16] == digest, name


@pytest.mark.parametrize("path", DERIVATIONS, ids=lambda p: p.stem)
def test_each_derivation_is_written_in_one_place_only(path):
    """No other tracked file holds most of its formulas (single lines such as the chain rule may recur:
    tests/derivations/wrong_step.deriv is route 1 with a slip, the README shows it)."""
    lines = [line for line in path.read_text().splitlines() if line.startswith("$$") and len(line) > 30]
    assert lines
    found = {}
    for line in lines:
        run = subprocess.run(["git", "grep", "-l", "-F", "-e", line], cwd=ROOT, capture_output=True, text=True)
        for other in run.stdout.split():
            found[other] = found.get(other, 0) + 1
    mine = str(path.relative_to(ROOT))
    assert found.get(mine) == len(lines)
    copies = {other: n for other, n in found.items() if other != mine and n >= max(2, len(lines) / 2)}
    assert not copies, copies


def test_no_derivation_is_built_in_python():
    """Derivations come from files: only the loaders construct them (notes.py and stability.py are gone)."""
    builders = [p.relative_to(ROOT).as_posix() for p in MODULES
                if re.search(r"\bDerivation\(\s*\n?\s*name=", p.read_text())]
    assert builders == ["derive/read/derivation_file.py", "derive/read/documents.py"], builders


if __name__ == "__main__":  # print the import graph (quoted in issue notes)
    for module, targets in import_graph().items():
        print(f"{module} -> {', '.join(sorted(targets)) or '-'}")
