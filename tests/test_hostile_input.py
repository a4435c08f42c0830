"""Issue 10: a derivation file is data.  Injection, runaway TeX, torn outputs, CLI edges.

The payloads are in injection_corpus.py.  Each is put into every prose field of a derivation
and after a '%' in every formula line; the file must still check, and neither the generated
module nor the PDF may carry it: no file outside the input is read into the PDF, no marker
file is created, the verdict marks are not redefined.
"""

import ast
import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from derive import cli
from derive.output import latex_build
from derive.output import files as output_files
from derive.read.derivation_file import parse
from derive.errors import ParseError

from injection_corpus import (AWKWARD_PROSE, FORMULA_PAYLOADS, PYTHON_PAYLOADS, TEX_PAYLOADS, everywhere, fill,
                              with_formula)

needs_tex = pytest.mark.skipif(not shutil.which("pdflatex") or not shutil.which("pdftotext"),
                               reason="TeX Live / poppler-utils not installed (.ci/run installs them)")
ALL = TEX_PAYLOADS + PYTHON_PAYLOADS + AWKWARD_PROSE
SECRET_TEXT = "SECRET-7f3a9c-do-not-leak"


@pytest.fixture
def secret(tmp_path):
    path = tmp_path / "outside" / "secret.txt"
    path.parent.mkdir()
    path.write_text(SECRET_TEXT + "\n")
    return path


def _main(*args):
    """derive's CLI in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(list(args))
    return code, out.getvalue(), err.getvalue()


def _derive(*args, env=None, timeout=600):
    return subprocess.run([sys.executable, "-m", "derive", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


# --- injection ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("payload", ALL)
def test_every_payload_in_every_field_still_checks(tmp_path, secret, payload):
    path = tmp_path / "hostile.deriv"
    path.write_text(fill(everywhere(payload), secret, tmp_path / "marker"))
    code, out, err = _main("check", str(path))
    assert code == 0, out + err
    assert "\x1b" not in out + err


@pytest.mark.parametrize("formula", FORMULA_PAYLOADS)
def test_payloads_inside_formulas_are_refused_at_their_position(tmp_path, secret, formula):
    path = tmp_path / "formula.deriv"
    path.write_text(fill(with_formula(formula), secret, tmp_path / "marker"))
    code, out, err = _main("report", str(path), "-o", str(tmp_path / "out"), "--no-pdf")
    assert code == 3 and err.startswith(f"error: {path}:5:"), err
    assert not (tmp_path / "out").exists()


def _kitchen_sink(tmp_path, secret) -> Path:
    """Every payload at once, in every field."""
    path = tmp_path / "route1.deriv"
    path.write_text(fill(everywhere(" ".join(ALL)), secret, tmp_path / "marker"))
    return path


def test_generated_module_carries_no_payload_and_runs_nothing(tmp_path, secret):
    path = _kitchen_sink(tmp_path, secret)
    run = _derive("codegen", str(path), "-o", str(tmp_path / "gen"))
    assert run.returncode == 0, run.stdout + run.stderr
    text = (tmp_path / "gen" / "softmax_ce.py").read_text()
    ast.parse(text)
    for needle in ("__import__", "touch", "marker", "secret", r"\input", "FORGED", "system(", "open("):
        assert needle not in text, needle
    module = str(tmp_path / "gen" / "softmax_ce.py")
    check = subprocess.run([sys.executable, "-c", "import importlib.util, numpy as np;"
                            f"s = importlib.util.spec_from_file_location('g', {module!r});"
                            "m = importlib.util.module_from_spec(s); s.loader.exec_module(m);"
                            "print(m.cross_entropy_grad(np.zeros((2, 3)), np.array([0, 2])).sum())"],
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stderr
    assert not (tmp_path / "marker").exists()


@needs_tex
def test_no_secret_reaches_the_pdf_and_no_mark_is_forged(tmp_path, secret):
    path = _kitchen_sink(tmp_path, secret)
    run = _derive("report", str(path), "-o", str(tmp_path / "report"))
    assert run.returncode == 0, run.stdout + run.stderr
    pdf_text = subprocess.run(["pdftotext", "-layout", str(tmp_path / "report" / "report.pdf"), "-"],
                              capture_output=True, text=True, check=True).stdout
    assert SECRET_TEXT not in pdf_text
    # the payload is printed as text; a forged mark would print FORGED on its own, where a verdict mark stands
    flat = "".join(pdf_text.split())
    assert flat.count("FORGED") == flat.count("checkmark{FORGED}") > 0
    assert not (tmp_path / "marker").exists()
    assert "proved" in pdf_text and "[U+05E2]" in pdf_text  # the report is there; Hebrew shown as code points
    tex = (tmp_path / "report" / "report.tex").read_text()
    assert "\\input{" not in tex and "\\gdef" not in tex and "\\csname" not in tex


# --- runaway TeX ---------------------------------------------------------------------------------------

LOOP_TEX = "\\documentclass{article}\\begin{document}\\def\\x{\\x}\\x\\end{document}\n"


def _tex_processes() -> list[str]:
    """Running TeX processes (a <defunct> entry is already dead, waiting for PID 1 to reap it)."""
    ps = subprocess.run(["ps", "-eww", "-o", "pid,stat,args"], capture_output=True, text=True).stdout
    return [line for line in ps.splitlines()
            if ("pdflatex" in line or "latexmk" in line) and "<defunct>" not in line and " Z" not in line]


@needs_tex
def test_a_tex_loop_stops_at_the_time_limit_and_leaves_no_tex_running(tmp_path, monkeypatch):
    monkeypatch.setattr(latex_build, "COMPILE_SECONDS", 4)
    before = _tex_processes()
    started = time.monotonic()
    with pytest.raises(latex_build.TexError, match="did not finish within 4 s"):
        latex_build.compile_pdf(tmp_path / "out", LOOP_TEX)
    assert time.monotonic() - started < 15
    assert _tex_processes() == before


INTERRUPTED = """
import signal, sys
from pathlib import Path
from derive import cli
from derive.output import latex_build
signal.signal(signal.SIGTERM, cli._terminate)
# as an interactive derive would: a shell starts background jobs with SIGINT ignored, and Python then
# installs no KeyboardInterrupt handler (this test failed when the suite ran as a background job)
signal.signal(signal.SIGINT, signal.default_int_handler)
try:
    latex_build.compile_pdf(Path(sys.argv[1]), {tex!r})
except (KeyboardInterrupt, cli.Terminated):
    print("cleaned up")
"""


@needs_tex
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_build_kills_tex_and_removes_its_directory(tmp_path, sig):
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    env = dict(os.environ, TMPDIR=str(tmpdir))
    before = _tex_processes()
    process = subprocess.Popen([sys.executable, "-c", INTERRUPTED.format(tex=LOOP_TEX), str(tmp_path / "out")],
                               env=env, stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not [line for line in _tex_processes() if line not in before]:
        assert time.monotonic() < deadline, "pdflatex never started"
        time.sleep(0.1)
    time.sleep(0.5)
    process.send_signal(sig)
    out, _ = process.communicate(timeout=30)
    assert "cleaned up" in out
    time.sleep(0.5)
    assert _tex_processes() == before
    assert list(tmpdir.iterdir()) == []


def test_an_interrupted_write_leaves_no_temporary(tmp_path, monkeypatch):
    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(output_files.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        output_files.write_atomically(tmp_path / "softmax_ce.py", "text")
    assert list(tmp_path.iterdir()) == []


def test_temporaries_are_ignored_by_git():
    root = Path(__file__).resolve().parent.parent
    for name in ("generated/.softmax_ce.py.x1y2z3.tmp", "generated/report/.report.pdf.abc.tmp", "out/.derive.lock"):
        run = subprocess.run(["git", "check-ignore", "-q", name], cwd=root)
        assert run.returncode == 0, name


# --- torn outputs ------------------------------------------------------------------------------------------

FAKE_TEX = """#!{python}
# stands in for latexmk / pdflatex: a large PDF that names the run, written slowly
import sys, time
tex = open("report.tex", "rb").read()
with open("report.pdf", "wb") as fh:
    fh.write(b"%PDF-1.4 fake\\n" + tex)
    for _ in range(20):
        fh.write(tex[-40:] * 5000)
        time.sleep(0.005)
    fh.write(b"\\n%%EOF\\n")
"""

PUBLISH = """
import sys
from pathlib import Path
from derive.output import latex_build
latex_build.compile_pdf(Path(sys.argv[1]), sys.argv[2])
"""


def _expected_pdf(tex: str) -> bytes:
    data = tex.encode()
    return b"%PDF-1.4 fake\n" + data + data[-40:] * 5000 * 20 + b"\n%%EOF\n"


def test_concurrent_reports_into_one_directory_never_tear_a_file(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("latexmk", "pdflatex"):
        script = bin_dir / tool
        script.write_text(FAKE_TEX.format(python=sys.executable))
        script.chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", DERIVE_TEST_PUBLISH_DELAY="0.05")
    out = tmp_path / "report"
    for round_ in range(20):
        texs = [f"% run {name} of round {round_}\n" + "x" * (1000 + 37 * n) + "\n" for n, name in enumerate("AB")]
        runs = [subprocess.Popen([sys.executable, "-c", PUBLISH, str(out), tex], env=env) for tex in texs]
        assert [r.wait(timeout=120) for r in runs] == [0, 0]
        pdf, tex = (out / "report.pdf").read_bytes(), (out / "report.tex").read_text()
        assert tex in texs, round_
        assert pdf == _expected_pdf(tex), f"round {round_}: report.pdf is not from the run that wrote report.tex"
        assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]


# --- CLI edges ------------------------------------------------------------------------------------------

GOOD = ("indices: i, j, k\nrange: 1..K\nassume: \\sum_k t_k = 1\n"
        "result: \\frac{\\partial E}{\\partial z_j} = y_j - t_j\n"
        "$$\\frac{\\partial E}{\\partial z_j} = -\\sum_{k=1}^K t_k (\\delta_{jk} - y_j)$$\n$$= y_j - t_j$$\n")


def test_a_symlink_to_dev_zero_is_refused(tmp_path):
    link = tmp_path / "zero.deriv"
    link.symlink_to("/dev/zero")
    code, _, err = _main("check", str(link))
    assert code == 3 and "is a device" in err


def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.deriv"
    os.mkfifo(fifo)
    run = _derive("check", str(fifo), timeout=60)
    assert run.returncode == 3 and "is a FIFO" in run.stderr


def test_a_byte_order_mark_is_dropped(tmp_path):
    path = tmp_path / "bom.deriv"
    path.write_bytes(b"\xef\xbb\xbf" + ("name: bom\n" + GOOD).encode())
    assert _main("check", str(path))[0] == 0


def test_a_huge_file_is_refused_and_a_long_line_not_echoed_whole(tmp_path):
    huge = tmp_path / "huge.deriv"
    huge.write_text("x" * (10 * 2**20))
    code, _, err = _main("check", str(huge))
    assert code == 3 and "at most 5 MB" in err and len(err) < 500
    long_line = tmp_path / "long.deriv"
    long_line.write_text(GOOD + "$$= y_j - t_j" + " + q_j" * 200_000 + "$$\n")
    code, _, err = _main("check", str(long_line))
    assert code == 3 and "unknown name 'q'" in err and len(err) < 1000


def test_control_characters_are_refused_at_their_position(tmp_path):
    path = tmp_path / "esc.deriv"
    path.write_text("title: red \x1b[31mtitle\n" + GOOD)
    code, out, err = _main("check", str(path))
    assert code == 3 and f"{path}:1:12: control character U+001B" in err
    assert "\x1b" not in out + err


def test_non_printable_characters_never_reach_the_terminal():
    assert cli.printable("a\x1b[2Jb\u202ec\n") == "a\\x1b[2Jb\\u202ec\n"


def test_exit_codes_are_distinct(tmp_path):
    assert _main("check", str(tmp_path / "missing.deriv"))[0] == 3
    bad = tmp_path / "bad.deriv"
    bad.write_text(GOOD.replace("y_j - t_j$$\n", "y_j - q_j$$\n"))
    assert _main("check", str(bad))[0] == 3
    wrong = tmp_path / "wrong.deriv"
    wrong.write_text(GOOD.replace("$$= y_j - t_j$$", "$$= t_j - y_j$$"))
    assert _main("check", str(wrong))[0] == 1
    assert _main("check", "no_such_derivation")[0] == 2
    code, _, err = _main("--bogus")
    assert code == 2 and "'--bogus'" in err
    code, _, err = _main("check", "--bogus")
    assert code == 2 and "--bogus" in err


def test_json_reports_bad_files_beside_good_results(tmp_path):
    good, bad = tmp_path / "good.deriv", tmp_path / "bad.deriv"
    good.write_text(GOOD)
    bad.write_text(GOOD.replace("y_j - t_j$$\n", "y_j - q_j$$\n"))
    code, out, _ = _main("check", "--json", str(bad), str(good), str(tmp_path / "missing.deriv"))
    data = json.loads(out)
    assert code == 3
    assert [d["name"] for d in data["derivations"]] == ["good"] and data["derivations"][0]["passed"]
    errors = {Path(e["file"]).name: e for e in data["errors"]}
    assert set(errors) == {"bad.deriv", "missing.deriv"}
    assert errors["bad.deriv"]["line"] == 6 and "unknown name 'q'" in errors["bad.deriv"]["message"]


@pytest.mark.parametrize("text,message", [
    ("name: evil\"\"\"name\n" + GOOD, "a name starts with a letter"),
    ("title: " + "t" * 300_000 + "\n" + GOOD, "at most 300"),
])
def test_header_values_that_broke_outputs_are_refused_at_load(text, message):
    with pytest.raises(ParseError, match=message):
        parse(text, "x.deriv")


@needs_tex
@pytest.mark.parametrize("title", ["α Σ ∂ é ü — עברית 😀", "50% & #1 {x} $y_k$ ~ ^ \\ | <a>", "t" * 300])
def test_titles_check_accepts_compile(tmp_path, title):
    path = tmp_path / "titled.deriv"
    path.write_text(f"title: {title}\n" + GOOD + "$$= y_j - t_j % a comment after a formula\n$$\n")
    code, out, err = _main("report", str(path), "-o", str(tmp_path / "out"))
    assert code == 0, out + err


def test_a_tex_error_in_material_from_a_file_names_that_file_and_line():
    tex = "\\documentclass{article}\n\\begin{document}\n% derive-source: notes/mine.deriv:12\nStep 1\n\\bad\n"
    log = "report.tex:5: Undefined control sequence.\nl.5 \\bad\n"
    assert latex_build.log_excerpt(log, tex).startswith("the failing part comes from notes/mine.deriv:12")
    assert latex_build.source_of(tex, 2) == ""


@needs_tex
def test_every_character_of_the_first_planes_escapes_to_tex_that_compiles(tmp_path):
    from derive.output.tex_safe import tex_escape

    text = "".join(chr(c) for c in range(0x20, 0x3000)) + "😀🎉\U0010ffff"
    doc = ("\\documentclass{article}\\usepackage[T1]{fontenc}\\usepackage{lmodern}\\usepackage{amsmath,amssymb}"
           "\\begin{document}" + tex_escape(text) + "\\end{document}\n")
    (tmp_path / "chars.tex").write_text(doc)
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "chars.tex"], cwd=tmp_path,
                         capture_output=True, text=True, errors="replace", timeout=120)
    assert run.returncode == 0, "\n".join(line for line in run.stdout.splitlines() if line.startswith("!"))
