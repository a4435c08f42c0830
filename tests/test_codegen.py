"""derive codegen: reproducible, checked for staleness, lowered from the proved expressions."""

import ast
import shutil
import subprocess
import sys

import pytest
import sympy as sp

from derive.codegen import render as codegen
from derive.codegen import kernels
from derive.notation import i, m, z
from derive.verdicts import Status

from generated_module import PATH, top_level_imports


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "derive", *args], capture_output=True, text=True, timeout=300)


def test_check_passes_on_the_committed_file():
    run = _cli("codegen", "--check")
    assert run.returncode == 0, run.stdout + run.stderr


def test_check_fails_after_a_hand_edit(tmp_path):
    copy = tmp_path / "generated"
    copy.mkdir()
    shutil.copy(PATH, copy / PATH.name)
    text = (copy / PATH.name).read_text()
    (copy / PATH.name).write_text(text.replace("np.log1p(", "np.log(1 + ", 1))
    run = _cli("codegen", "--check", "-o", str(copy))
    assert run.returncode == 1
    assert "stale or was edited by hand" in run.stdout and "log1p" in run.stdout


def test_output_is_reproducible_and_has_a_header(tmp_path):
    first = codegen.render()
    assert codegen.render() == first
    run = _cli("codegen", "-o", str(tmp_path))
    assert run.returncode == 0
    assert (tmp_path / PATH.name).read_text() == first
    head = first.splitlines()[:12]
    assert head[0].startswith("# GENERATED FILE -- DO NOT EDIT")
    assert any("derive codegen" in line for line in head)
    assert any("log_softmax:" in line for line in head)  # derivation names with content hashes


def test_generated_module_imports_only_numpy():
    # NumPy-only: math is the standard library (the tiny-input path)
    assert top_level_imports(PATH.read_text()) == {"numpy", "math"}


def test_kernels_are_vectorised_not_loops():
    tree = ast.parse(PATH.read_text())
    for fn in [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("_") and
               n.name in {k.name for k in kernels.build_kernels()}]:
        assert not any(isinstance(n, (ast.For, ast.While, ast.comprehension)) for n in ast.walk(fn)), fn.name
        # the only branches a kernel may hold are on the output's dtype
        for node in ast.walk(fn):
            if isinstance(node, (ast.If, ast.IfExp)):
                assert ast.unparse(node.test) in ("out.dtype == np.float32", "out.dtype == np.float64"), fn.name


def test_every_kernel_is_proved_before_it_is_written():
    for kernel in kernels.build_kernels():
        assert kernels.prove(kernel).status is Status.PROVED, kernel.name


def test_changing_a_proved_expression_changes_the_code(monkeypatch):
    before = codegen.render()
    derivations = dict(kernels._derivations())
    # a different (still true) form of log-softmax: no shift, so no log1p and no max
    k_, K_ = sp.Symbol("k", integer=True, positive=True), sp.Symbol("K", integer=True, positive=True)
    unshifted = z[k_] - sp.log(sp.Sum(sp.exp(z[i]), (i, 1, K_)))
    import dataclasses
    derivations["log_softmax"] = dataclasses.replace(derivations["log_softmax"], result=unshifted)
    monkeypatch.setattr(kernels, "_derivations", lambda: derivations)
    after = codegen.render()
    assert after != before
    body = after.split("def _log_softmax(z")[1].split("\ndef ")[0].split('"""')[-1]  # the code, not the docstring
    assert "np.log1p(" not in body and "argmax" not in body and "np.log(" in body


def test_an_unproved_kernel_stops_codegen(monkeypatch):
    derivations = dict(kernels._derivations())
    import dataclasses
    wrong = derivations["log_softmax"].result + m * 0 + sp.Rational(1, 10**6)
    derivations["log_softmax"] = dataclasses.replace(derivations["log_softmax"], result=wrong)
    monkeypatch.setattr(kernels, "_derivations", lambda: derivations)
    with pytest.raises(kernels.CodegenError, match=r"_log_softmax(_unshifted)? is not proved"):
        codegen.render()


def test_atomic_write_leaves_no_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "out.py"
    target.write_text("old")

    def broken_replace(src, dst):
        raise OSError("disk full")

    from derive.output import files as output_files
    monkeypatch.setattr(output_files.os, "replace", broken_replace)
    from derive.errors import OutputError
    with pytest.raises(OutputError, match="disk full"):
        output_files.write_atomically(target, "new text")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.py"]


def test_unwritable_output_is_a_clear_error_not_a_traceback(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where a directory should be")
    for args in (("codegen", "-o", str(blocker / "sub")),
                 ("report", "jacobian", "--no-pdf", "-o", str(blocker / "sub"))):
        run = _cli(*args)
        assert run.returncode == 1, run.stderr
        assert run.stderr.startswith("error: cannot write") and "Traceback" not in run.stderr
