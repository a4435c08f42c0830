"""Compile report.tex to PDF with the system's TeX Live, safely and atomically.

The only module that runs latexmk.  What it guarantees:

* TeX runs with ``-no-shell-escape`` and kpathsea's paranoid file access
  (``openin_any=p``, ``openout_any=p``: no reading or writing outside the build
  directory and TeX's own tree, no dot files), in a fresh temporary directory;
* a time limit on the whole process group (latexmk *and* every pdflatex it
  started), which is also killed when derive is interrupted (SIGINT, SIGTERM);
* outputs appear whole or not at all: each file is staged under a unique name
  in the output directory and renamed into place, and an exclusive lock on the
  directory makes report.tex and report.pdf come from the same run when two
  runs write into one directory at once;
* a failed compile leaves the previous report intact, keeps the TeX log next
  to it (``report.log``) and returns the relevant lines, naming the derivation
  file and line when the failing part of the document came from one.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from ..errors import OutputError, TexError
from .files import write_atomically

INSTALL_HINT = ("install TeX Live: apt-get install texlive-latex-base texlive-latex-recommended lmodern latexmk "
                "(Debian/Ubuntu; about 30 s)")
#: the whole build (all passes) must finish within this many seconds
COMPILE_SECONDS = 120
_FILE_LINE_ERROR = re.compile(r"^\S*\.(tex|sty|cls|aux|toc):(\d+): ")
#: written into report.tex before material taken from a derivation file
SOURCE_MARKER = "% derive-source: "
#: kpathsea settings: TeX may read and write only below the build directory (and read its own tree)
PARANOID = {"openin_any": "p", "openout_any": "p", "shell_escape": "f"}


def tex_tools() -> dict:
    return {name: shutil.which(name) for name in ("latexmk", "pdflatex")}


def log_excerpt(log: str, tex: str = "", limit: int = 25) -> str:
    """The error lines of a TeX log ('! ...' and file:line: errors) with a little context.

    When the error is at a line of report.tex that came from a derivation file,
    the excerpt starts by naming that file and line.
    """
    lines = log.splitlines()
    picked: list[str] = []
    origin = ""
    for n, line in enumerate(lines):
        match = _FILE_LINE_ERROR.match(line)
        if (line.startswith("!") or match) and len(picked) < limit:
            picked.extend(lines[n:n + 4])
        if match and not origin and match.group(1) == "tex":
            origin = source_of(tex, int(match.group(2)))
    excerpt = "\n".join(picked[:limit]) if picked else "\n".join(lines[-limit:])
    return (f"the failing part comes from {origin}\n" if origin else "") + excerpt


def source_of(tex: str, line: int) -> str:
    """The 'file:line' of the nearest source marker at or before a line of the document ('' if none)."""
    for text in reversed(tex.splitlines()[:line]):
        if text.startswith(SOURCE_MARKER):
            return text[len(SOURCE_MARKER):].strip()
    return ""


def write_tex(directory: Path, tex: str) -> Path:
    target = directory / "report.tex"
    with directory_lock(directory):
        write_atomically(target, tex)
    return target


@contextlib.contextmanager
def directory_lock(directory: Path):
    """An exclusive lock on an output directory (a .derive.lock file in it), held while outputs are published."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        handle = open(directory / ".derive.lock", "a")
    except OSError as exc:
        raise OutputError(f"cannot write into {directory}: {exc.strerror or exc}") from None
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run(command, cwd: Path, deadline: float) -> subprocess.CompletedProcess:
    """Run a TeX command in its own process group; kill the whole group at the deadline or on interruption."""
    env = dict(os.environ, SOURCE_DATE_EPOCH="0", FORCE_SOURCE_DATE="1", **PARANOID)
    process = subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, errors="replace", start_new_session=True)
    try:
        output, _ = process.communicate(timeout=max(0.1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        _kill_group(process)
        raise TexError(f"TeX did not finish within {COMPILE_SECONDS} s and was stopped; "
                       "the previous report is unchanged") from None
    except BaseException:  # KeyboardInterrupt, SIGTERM: no TeX process may outlive derive
        _kill_group(process)
        raise
    return subprocess.CompletedProcess(command, process.returncode, output, "")


def _kill_group(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        process.communicate(timeout=10)


def _commands(tools: dict) -> list[list[str]]:
    flags = ["-interaction=nonstopmode", "-halt-on-error", "-file-line-error", "-no-shell-escape"]
    if tools["latexmk"]:  # -norc: no latexmkrc from anywhere changes how the build runs
        return [[tools["latexmk"], "-norc", "-pdf", *flags, "report.tex"]]
    single = [tools["pdflatex"], *flags, "report.tex"]
    return [single, single]  # two passes for references


def compile_pdf(directory: Path, tex: str) -> Path:
    """Compile tex into directory/report.pdf (and report.tex); raise TexError with the log excerpt."""
    tools = tex_tools()
    if not tools["pdflatex"]:
        write_tex(directory, tex)
        raise TexError(f"pdflatex was not found, so only {directory / 'report.tex'} was written; {INSTALL_HINT}")
    deadline = time.monotonic() + COMPILE_SECONDS
    with tempfile.TemporaryDirectory(prefix="derive-report-") as tmp:
        work = Path(tmp)
        (work / "report.tex").write_text(tex, encoding="utf-8")
        for command in _commands(tools):
            done = _run(command, work, deadline)
            if done.returncode != 0 or not (work / "report.pdf").exists():
                log_path = work / "report.log"
                log = log_path.read_text(errors="replace") if log_path.exists() else done.stdout
                kept = directory / "report.log"
                with directory_lock(directory):
                    write_atomically(kept, log)
                raise TexError("the report did not compile; the previous report is unchanged "
                               f"(TeX log: {kept}). From the log:\n" + log_excerpt(log, tex))
        pdf = directory / "report.pdf"
        with directory_lock(directory):
            write_atomically(pdf, (work / "report.pdf").read_bytes())
            _publish_hook()
            write_atomically(directory / "report.tex", tex)
            log_path = work / "report.log"
            if log_path.exists():
                write_atomically(directory / "report.log", log_path.read_text(errors="replace"))
        return pdf


def _publish_hook() -> None:
    """Tests widen the window between publishing the PDF and the .tex (DERIVE_TEST_PUBLISH_DELAY, seconds)."""
    delay = os.environ.get("DERIVE_TEST_PUBLISH_DELAY")
    if delay:
        time.sleep(float(delay))
