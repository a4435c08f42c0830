"""The report as a reader sees it: what it contains, how it is set, and the HTML page in a real browser.

* a report of a user's file covers that file: no generated code unless --code; the measurements of the
  generated code are cached by the file's hash;
* no overfull box beyond 1 pt, no hyperref warning, bookmarks free of TeX commands, a title block with the
  tool's version and the verdict, a table of contents when there is more than one derivation, PDF metadata;
* the HTML page: self-contained (no script, no external resource), no markup from user text, every MathML
  formula laid out with a non-zero size in headless Chromium, and a screenshot to look at.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from derive import __version__
from derive.check.checker import check_derivation
from derive.output.html import build_html, mathml
from derive.output.report import Meta
from derive.read.derivation_file import parse

ROOT = Path(__file__).resolve().parent.parent
WRONG = ROOT / "tests" / "derivations" / "wrong_step.deriv"
DOCUMENT = ROOT / "tests" / "documents" / "blog_jacobian_matrix.md"
needs_tex = pytest.mark.skipif(not shutil.which("pdflatex") or not shutil.which("pdfinfo"),
                               reason="TeX Live / poppler-utils not installed (.ci/run installs them)")
BROWSER = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
needs_browser = pytest.mark.skipif(not BROWSER and not os.environ.get("DERIVE_REQUIRE_BROWSER"),
                                   reason="no Chromium (.ci/run installs it and requires it)")


def report(tmp_path: Path, *args: str, cwd: Path = ROOT) -> Path:
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "derive", "report", *args, "-o", str(out)], cwd=cwd,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    return out


def overfull(log: str) -> list[float]:
    return [float(x) for x in re.findall(r"Overfull \\hbox \(([\d.]+)pt too wide\)", log)]


def info(pdf: Path) -> dict:
    text = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


@needs_tex
@pytest.mark.parametrize("what", [(), (str(WRONG),), (str(DOCUMENT),)], ids=["built-ins", "wrong", "document"])
def test_no_overfull_box_no_warning_clean_bookmarks(what, tmp_path):
    out = report(tmp_path, *what)
    log = (out / "report.log").read_text(errors="replace")
    assert [w for w in overfull(log) if w > 1.0] == [], "overfull boxes"
    assert "hyperref Warning" not in log
    bookmarks = (out / "report.out").read_text(errors="replace") if (out / "report.out").exists() else ""
    assert "ensuremath" not in bookmarks and "\\partial" not in bookmarks
    meta = info(out / "report.pdf")
    assert meta["Title"].strip() and meta["Subject"].strip() and meta["Keywords"].strip()
    assert __version__ in meta["Author"]


@needs_tex
def test_a_users_file_gets_a_report_of_that_file(tmp_path):
    out = report(tmp_path, str(WRONG))
    tex = (out / "report.tex").read_text()
    assert "Generated NumPy code" not in tex and "lstlisting" not in tex
    assert int(info(out / "report.pdf")["Pages"]) <= 4
    assert "Route 1 with a lost sign" in tex and "Why:" in tex and __version__ in tex
    assert "tableofcontents" not in tex  # one derivation: nothing to list
    with_code = report(tmp_path / "code", str(WRONG), "--code")
    assert "Generated NumPy code" in (with_code / "report.tex").read_text()


@needs_tex
def test_measurements_are_cached_by_the_generated_files_hash(tmp_path):
    out = report(tmp_path, str(WRONG), "--code")
    cache = json.loads((out / "measurements.json").read_text())
    assert len(cache["generated_sha256"]) == 64 and cache["accuracy"]
    cache["finite_differences"] = {"marker": 0.125}  # what a second build reads instead of measuring
    (out / "measurements.json").write_text(json.dumps(cache))
    again = report(tmp_path, str(WRONG), "--code")
    assert "marker" in (again / "report.tex").read_text()


def _attributes_named_on(page):
    """Event-handler attributes (onerror=, onclick=...) on any element of the page."""
    from html.parser import HTMLParser

    found = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.extend(name for name, _ in attrs if name.lower().startswith("on"))

    Collect().feed(page)
    return found


def test_the_html_page_is_self_contained_and_has_no_markup_from_user_text():
    hostile = (r"indices: i, j, k" "\n" r"range: 1..K" "\n"
               r"title: <script>alert(1)</script> $\text{<img src=x onerror=alert(1)>}$" "\n"
               r"finding: notation: <b>bold</b> & $x<y$" "\n"
               r"result: \frac{\partial E}{\partial z_j} = y_j - t_j" "\n\n"
               r"$$\frac{\partial E}{\partial z_j} = y_j - t_j$$ [by: algebra]" "\n")
    page = build_html([check_derivation(parse(hostile, "hostile.deriv"))], None, Meta(version=__version__))
    assert "<script" not in page.lower() and "<img" not in page.lower() and "<b>" not in page
    assert not _attributes_named_on(page)  # "onerror" may appear only as text, never as an attribute
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", page)  # nothing from the network
    assert page.count("<math") >= 3


def test_mathml_keeps_only_mathml():
    assert "<script" not in mathml(r"\text{<script>}")
    assert mathml(r"\frac{a}{b}").startswith("<math")


def test_operator_names_get_a_thin_space_and_scripts_keep_their_arity():
    import xml.etree.ElementTree as ET

    root = ET.fromstring(mathml(r"t_k \ln y_k + \log(x) + \max_k z_k"))
    row = [child.tag.split("}")[-1] + ":" + (child.text or "") for child in root.iter()
           if child.tag.split("}")[-1] in ("mi", "mo", "mspace", "msub")]
    text = " ".join(row)
    assert "mspace: mi:ln mspace:" in text  # t_k ln y_k, not t_klny_k
    assert "mi:log mo:(" in text  # no space before a parenthesis
    for script in root.iter("{http://www.w3.org/1998/Math/MathML}msub"):
        assert len(script) == 2


SIZES = """<script>
window.addEventListener('load', () => {
  const boxes = [...document.querySelectorAll('math')].map(m => {
    const r = m.getBoundingClientRect(); return [r.width, r.height]; });
  const out = document.createElement('pre'); out.id = 'math-sizes'; out.textContent = JSON.stringify(boxes);
  document.body.appendChild(out);
});
</script>"""


@needs_browser
def test_the_html_report_lays_out_its_math_in_chromium(tmp_path):
    assert BROWSER, "DERIVE_REQUIRE_BROWSER is set but there is no Chromium"
    out = report(tmp_path, str(WRONG), str(DOCUMENT), "--html", "--no-pdf")
    page = (out / "report.html").read_text()
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", SIZES + "</body>"))  # the test's own script, not the report's
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files"]
    dom = subprocess.run([BROWSER, *flags, "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    found = re.search(r'<pre id="math-sizes">(.*?)</pre>', dom, re.DOTALL)
    assert found, dom[-2000:]
    sizes = json.loads(found.group(1))
    assert len(sizes) == page.count("<math")
    assert sizes and all(width > 0 and height > 0 for width, height in sizes)
    shot = tmp_path / "report.png"
    subprocess.run([BROWSER, *flags, f"--screenshot={shot}", "--window-size=1280,2000", (out / "report.html").as_uri()],
                   capture_output=True, text=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 10_000
