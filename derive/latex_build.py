"""Compile report.tex to PDF with the system's TeX Live, atomically.

The only module that runs latexmk.  The build happens in a fresh temporary
directory; only when it succeeds are ``report.tex`` and ``report.pdf`` moved
into the output directory, so a failed compile leaves the previous report
intact.  On failure the relevant lines of the TeX log are returned, not the
whole log.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from .codegen import write_atomically
from .errors import DeriveError, OutputError

INSTALL_HINT = ("install TeX Live: apt-get install texlive-latex-base texlive-latex-recommended lmodern latexmk "
                "(Debian/Ubuntu; about 30 s)")
COMPILE_SECONDS = 300
_FILE_LINE_ERROR = re.compile(r"^\S*\.(tex|sty|cls|aux|toc):\d+: ")


class TexError(DeriveError):
    """TeX is missing, or the document did not compile (the message holds the log excerpt)."""


def tex_tools() -> dict:
    return {name: shutil.which(name) for name in ("latexmk", "pdflatex")}


def log_excerpt(log: str, limit: int = 25) -> str:
    """The error lines of a TeX log ('! ...' and file:line: errors) with a little context."""
    lines = log.splitlines()
    picked: list[str] = []
    for n, line in enumerate(lines):
        if line.startswith("!") or _FILE_LINE_ERROR.match(line):
            picked.extend(lines[n:n + 4])
        if len(picked) >= limit:
            break
    return "\n".join(picked[:limit]) if picked else "\n".join(lines[-limit:])


def write_tex(directory: Path, tex: str) -> Path:
    target = directory / "report.tex"
    write_atomically(target, tex)
    return target


def compile_pdf(directory: Path, tex: str) -> Path:
    """Compile tex into directory/report.pdf (and report.tex); raise TexError with the log excerpt."""
    tools = tex_tools()
    if not tools["pdflatex"]:
        write_tex(directory, tex)
        raise TexError(f"pdflatex was not found, so only {directory / 'report.tex'} was written; {INSTALL_HINT}")
    env = dict(os.environ, SOURCE_DATE_EPOCH="0", FORCE_SOURCE_DATE="1")
    with tempfile.TemporaryDirectory(prefix="derive-report-") as tmp:
        work = Path(tmp)
        (work / "report.tex").write_text(tex, encoding="utf-8")
        if tools["latexmk"]:
            cmd = [tools["latexmk"], "-pdf", "-interaction=nonstopmode", "-halt-on-error", "-file-line-error",
                   "report.tex"]
            runs = [cmd]
        else:  # two passes for references
            cmd = [tools["pdflatex"], "-interaction=nonstopmode", "-halt-on-error", "-file-line-error", "report.tex"]
            runs = [cmd, cmd]
        for run in runs:
            try:
                done = subprocess.run(run, cwd=work, env=env, capture_output=True, text=True,
                                      timeout=COMPILE_SECONDS, stdin=subprocess.DEVNULL)
            except subprocess.TimeoutExpired:
                raise TexError(f"TeX did not finish within {COMPILE_SECONDS} s; the previous report is unchanged") from None
            if done.returncode != 0 or not (work / "report.pdf").exists():
                log_path = work / "report.log"
                log = log_path.read_text(errors="replace") if log_path.exists() else done.stdout + done.stderr
                raise TexError("the report did not compile; the previous report is unchanged. From the TeX log:\n"
                               + log_excerpt(log))
        pdf = directory / "report.pdf"
        staged = directory / ".report.pdf.tmp"
        try:
            directory.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(work / "report.pdf", staged)
            os.replace(staged, pdf)
        except OSError as exc:
            raise OutputError(f"cannot write {pdf}: {exc}") from None
        write_tex(directory, tex)
        return pdf
