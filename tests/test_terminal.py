"""The terminal output as a person reads it.

* wrapped to the terminal's width, wrapped lines keep their indentation;
* verdicts in colour only on a TTY, never with NO_COLOR, never when piped (a script reads plain whole lines);
* --unicode writes formulas as ∂E/∂z_j = y_j − t_j instead of LaTeX;
* `derive list` shows plain titles and counts ("1 step", not "$...$" or "(1 steps)");
* a user's file is headed "findings", not "findings about the notes"; a refuted step does not list "uses".
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

from derive.check.checker import check_derivation
from derive.output.text import Style, terminal_style, to_text
from derive.read import builtin
from derive.read.derivation_file import parse

ROOT = Path(__file__).resolve().parent.parent
WRONG = ROOT / "tests" / "derivations" / "wrong_step.deriv"
ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


def derive(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "derive", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=300, env=env)


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def wrong_report():
    return [check_derivation(parse(WRONG.read_text(), str(WRONG)))]


def test_lines_wrap_to_the_width_and_keep_their_indentation():
    unwrapped = to_text(wrong_report()).splitlines()
    assert max(map(len, unwrapped)) > 60  # there is something to wrap
    wrapped = to_text(wrong_report(), style=Style(width=60)).splitlines()
    assert max(map(len, wrapped)) <= 60
    assert len(wrapped) > len(unwrapped)
    long_line = next(line for line in unwrapped if len(line) > 60 and line.startswith("       "))
    first = next(i for i, line in enumerate(wrapped) if line.strip() and long_line.startswith(line))
    assert wrapped[first + 1].startswith("       ")  # the continuation is indented at least as deep
    # no word is lost or invented by wrapping
    assert " ".join(to_text(wrong_report(), style=Style(width=60)).split()) == " ".join(
        to_text(wrong_report()).split())


def test_colour_only_on_a_terminal_and_never_with_no_color(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    tty = terminal_style(stream=FakeTerminal())
    assert tty.colour and tty.width
    coloured = to_text(wrong_report(), style=tty)
    assert "\x1b[31m✗ refuted\x1b[0m" in coloured and "\x1b[32m✓ proved\x1b[0m" in coloured
    assert ESCAPE.sub("", coloured).count("refuted") == coloured.count("refuted")

    assert not terminal_style(stream=io.StringIO()).colour  # piped
    assert terminal_style(stream=io.StringIO()).width is None
    monkeypatch.setenv("NO_COLOR", "1")
    assert not terminal_style(stream=FakeTerminal()).colour
    assert "\x1b[" not in to_text(wrong_report(), style=terminal_style(stream=FakeTerminal()))


def test_piped_cli_output_has_no_escape_codes():
    run = derive("check", str(WRONG))
    assert run.returncode == 1
    assert "\x1b" not in run.stdout and "✗ refuted" in run.stdout


def test_unicode_formulas():
    run = derive("check", "route1", "--unicode")
    assert run.returncode == 0, run.stderr
    assert "∂E/∂z_j = y_j − t_j" in run.stdout
    assert "\\frac" not in run.stdout and "\\partial" not in run.stdout
    assert "\\frac{\\partial E}{\\partial z_j}" in derive("check", "route1").stdout  # LaTeX unless asked


def test_list_shows_plain_titles_and_counts():
    run = derive("list")
    assert run.returncode == 0, run.stderr
    assert "$" not in run.stdout and "\\" not in run.stdout
    assert "(1 steps)" not in run.stdout
    one_step = [d for d in [*builtin.notes().values(), *builtin.numerics().values()] if len(d.steps) == 1]
    assert one_step and all(re.search(rf"{d.name}\s.*\(1 step\)", run.stdout) for d in one_step)
    assert "∂y_k/∂z_j" in run.stdout


def test_a_users_file_gets_findings_and_refuted_steps_no_uses():
    text = to_text(wrong_report())
    assert "findings about the notes" not in text
    refuted = next(line for line in text.splitlines() if "✗ refuted" in line)
    assert "uses" not in refuted
    proved = next(line for line in text.splitlines() if "✓ proved" in line)
    assert "uses:" in proved
    notes = to_text([check_derivation(builtin.load("route2"))])
    assert "findings about the notes:" in notes  # the notes keep their heading
